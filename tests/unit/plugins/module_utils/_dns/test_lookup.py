# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lookup's options and on_error policies, and literals it refuses before any query."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._addresses import (
    AggregationError,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import (
    ResolutionFailed,
    apply_on_error,
    lookup,
    on_error_policy,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.options import (
    Nameserver,
    ResolverOptions,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.results import HostResult, ResolveError
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError, OptionError
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import DNS_NX as NX
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import DNS_OK as OK

# --------------------------------------------------------------------------- options


def test_defaults():
    assert ResolverOptions.from_dict({}) == ResolverOptions()
    assert ResolverOptions.from_dict(dict.fromkeys(ResolverOptions.option_names())) == ResolverOptions()
    options = ResolverOptions()
    assert (options.port, options.families, options.timeout, options.lifetime) == (53, "both", 2.0, 10.0)
    assert (options.retries, options.tcp, options.rounds, options.all_nameservers) == (2, False, 1, False)
    assert (options.concurrency, options.nameservers) == (32, ())
    # on_error is the lookup's policy, not a resolver option (the modules have fail/keep).
    assert on_error_policy(None) == "fail"


def test_all_options():
    options = ResolverOptions.from_dict(
        {
            "nameservers": "127.0.0.1, ::1",
            "port": "5353",
            "families": "ipv6",
            "timeout": 0.5,
            "lifetime": 3,
            "retries": 0,
            "tcp": True,
            "rounds": 3,
            "all_nameservers": True,
            "concurrency": 4,
        }
    )
    assert options.nameservers == (Nameserver("127.0.0.1"), Nameserver("::1"))
    assert options.port == 5353
    assert options.rdtypes == ("AAAA",)
    assert (options.timeout, options.lifetime, options.retries, options.tcp) == (0.5, 3.0, 0, True)
    assert (options.rounds, options.all_nameservers, options.concurrency) == (3, True, 4)
    assert on_error_policy("omit") == "omit"
    assert ResolverOptions(families="both").rdtypes == ("A", "AAAA")
    assert ResolverOptions(families="ipv4").rdtypes == ("A",)


def test_the_lookups_on_error_is_checked():
    with pytest.raises(OptionError) as caught:
        on_error_policy("ignore")
    assert "on_error must be one of fail, warn, omit, got 'ignore'" in str(caught.value)


def test_broad_literals_fail_before_any_query():
    options = {"nameservers": ["192.0.2.254"], "timeout": 5, "lifetime": 5}
    with pytest.raises(AggregationError, match=r"10\.0\.0\.0/8 \(from literal 10\.0\.0\.0/8\)"):
        lookup(["db.example.com", "10.0.0.0/8"], options)


def test_on_error_policies():
    assert apply_on_error([OK], "fail") == []
    with pytest.raises(ResolutionFailed) as caught:
        apply_on_error([OK, NX, NX], "fail")
    assert str(caught.value).startswith("DNS resolution failed for 2 host(s): NXDOMAIN: gone.example.com")
    assert caught.value.results == [NX, NX]
    assert apply_on_error([OK, NX], "warn") == ["NXDOMAIN: gone.example.com: does not exist; it contributes no address"]
    assert apply_on_error([OK, NX], "omit") == []


def test_the_lookup_refuses_literals_before_any_query_and_applies_its_options():
    with pytest.raises(MeshguardError) as caught:
        lookup(["127.0.0.1", "::ffff:10.0.0.1", "192.0.2.1"], resolver={"nameservers": ["192.0.2.53"], "lifetime": 0.1})
    assert str(caught.value).startswith("127.0.0.1 (written as given): 127.0.0.1 is in 127.0.0.0/8, loopback")
    assert "::ffff:10.0.0.1 (written as given): ::ffff:10.0.0.1 is in ::ffff:0:0/96, IPv4-mapped" in str(caught.value)
    with pytest.raises(
        MeshguardError, match=r"192\.0\.2\.1 is in 192\.0\.2\.0/24, internal range \(internal_ranges\[0\]\)"
    ):
        lookup(["192.0.2.1"], internal_ranges=["192.0.2.0/24"])
    assert lookup(["192.0.2.1"], internal_ranges=["192.0.2.0/24"], allow_ranges=["192.0.2.0/28"])[0] == ["192.0.2.1/32"]
    with pytest.raises(MeshguardError, match=r"allow_ranges\[0\]: invalid term"):
        lookup(["192.0.2.1"], allow_ranges=["nope..test"])


def test_resolution_failed_says_which_hosts_were_refused():
    failed = [
        HostResult("a.test", error=ResolveError("NXDOMAIN", "a.test: does not exist")),
        HostResult("b.test", addresses=("127.0.0.1",), error=ResolveError("FORBIDDEN_ADDRESS", "host b.test ...")),
    ]
    assert str(ResolutionFailed(failed)) == (
        "DNS resolution failed for 1 host(s): NXDOMAIN: a.test: does not exist; "
        "1 host(s) answered addresses egress rules never allow: FORBIDDEN_ADDRESS: host b.test ..."
    )
