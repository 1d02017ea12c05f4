# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""resolve(): literals pass through without DNS, terms are checked before any query."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._addresses import (
    cidrs_of,
    merged_cidrs,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.options import (
    Nameserver,
    ResolverOptions,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.resolve import resolve
from ansible_collections.meshguard.egress.plugins.module_utils._terms import TermError

# --------------------------------------------------------------------------- literals only: no DNS


def test_literals_pass_through_without_dns():
    results = resolve(["192.0.2.1", "2001:DB8::1", "10.0.0.0/24", "192.0.2.1"], ResolverOptions(nameservers=()))
    assert [(r.host, r.kind, r.addresses, c) for r, c in zip(results, cidrs_of(results))] == [
        ("192.0.2.1", "address", ("192.0.2.1",), ("192.0.2.1/32",)),
        ("2001:db8::1", "address", ("2001:db8::1",), ("2001:db8::1/128",)),
        ("10.0.0.0/24", "network", (), ("10.0.0.0/24",)),
        ("192.0.2.1", "address", ("192.0.2.1",), ("192.0.2.1/32",)),
    ]
    assert all(r.error is None and r.ttl is None and r.cname_chain == () for r in results)
    assert merged_cidrs(results) == ["10.0.0.0/24", "192.0.2.1/32", "2001:db8::1/128"]


def test_a_single_string_is_one_term():
    assert [r.host for r in resolve("192.0.2.1")] == ["192.0.2.1"]


def test_invalid_terms_fail_before_any_query():
    # The nameserver does not exist: reaching it would time out, so a quick TermError proves no query was sent.
    options = ResolverOptions(nameservers=(Nameserver("192.0.2.254"),), timeout=5, lifetime=5)
    with pytest.raises(TermError) as caught:
        resolve(["db.example.com", "999.1.1.1", "a..b"], options)
    assert [problem[0] for problem in caught.value.problems] == ["999.1.1.1", "a..b"]
