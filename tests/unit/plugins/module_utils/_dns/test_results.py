# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What resolving one term gives: the addresses of a literal without DNS, and a typed error a user reads."""

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._dns.results import (
    ERROR_TYPES,
    NEGATIVE_TYPES,
    POLICY_TYPES,
    HostResult,
    ResolveError,
    literal_result,
)
from ansible_collections.meshguard.egress.plugins.module_utils._terms import KIND_ADDRESS, KIND_NETWORK, parse_term


def test_an_ip_literal_stands_for_itself_and_a_block_has_no_single_address():
    address = literal_result(parse_term("192.0.2.7"))
    assert (address.host, address.kind, address.addresses, address.ok) == (
        "192.0.2.7",
        KIND_ADDRESS,
        ("192.0.2.7",),
        True,
    )
    block = literal_result(parse_term("2001:db8::/64"))
    assert (block.host, block.kind, block.addresses) == ("2001:db8::/64", KIND_NETWORK, ())


def test_an_error_reads_type_then_message_and_the_result_is_not_ok():
    error = ResolveError("NXDOMAIN", "gone.example.com: does not exist")
    assert str(error) == "NXDOMAIN: gone.example.com: does not exist"
    assert not HostResult(host="gone.example.com", error=error).ok


def test_policy_and_negative_types_are_error_types():
    assert set(POLICY_TYPES) | set(NEGATIVE_TYPES) <= set(ERROR_TYPES)
    assert len(set(ERROR_TYPES)) == len(ERROR_TYPES)
