# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The detail form of resolved answers: it round-trips, carries the DNSSEC verdict, and bad detail is named."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._dns.detail import results_from_detail, results_to_detail
from ansible_collections.meshguard.egress.plugins.module_utils._dns.results import ERROR_TYPES, HostResult, ResolveError
from ansible_collections.meshguard.egress.plugins.module_utils._errors import OptionError
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import DNS_NX as NX
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import DNS_OK as OK


def test_detail_round_trip():
    results = [
        OK,
        NX,
        HostResult("10.0.0.0/24", kind="network"),
        HostResult("192.0.2.1", kind="address", addresses=("192.0.2.1",)),
    ]
    detail = results_to_detail(results)
    assert detail[0] == {
        "host": "db.example.com",
        "unicode": "db.example.com",
        "addresses": ["192.0.2.7", "2001:db8::7"],
        "cidrs": ["192.0.2.7/32", "2001:db8::7/128"],
        "cname_chain": ["x.example.net"],
        "ttl": 60,
        "error": None,
        "dnssec": None,
        "dnssec_reason": "",
    }
    assert detail[1]["error"] == {"type": "NXDOMAIN", "message": "gone.example.com: does not exist"}
    assert results_from_detail(detail) == results
    assert results_to_detail(results_from_detail(detail)) == detail


def test_detail_carries_the_dnssec_verdict_and_checks_it():
    validated = HostResult("db.example.com", addresses=("192.0.2.7",), dnssec="bogus", dnssec_reason="no RRSIG")
    detail = results_to_detail([validated])
    assert (detail[0]["dnssec"], detail[0]["dnssec_reason"]) == ("bogus", "no RRSIG")
    assert results_from_detail(detail) == [validated]
    with pytest.raises(OptionError, match=r"resolved\[0\]: dnssec must be null or one of secure, insecure, bogus"):
        results_from_detail([{**detail[0], "dnssec": "trusted"}])


def test_detail_accepts_a_trailing_dot_and_upper_case_host():
    [result] = results_from_detail([{"host": "DB.example.com.", "addresses": ["192.0.2.7"]}])
    assert (result.host, result.kind, result.addresses, result.error) == (
        "db.example.com",
        "name",
        ("192.0.2.7",),
        None,
    )


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ("db.example.com", "resolved: expected a list of results, got str"),
        (["db.example.com"], "resolved[0]: expected a dict"),
        ([{"addresses": []}], "resolved[0]: host is missing"),
        ([{"host": "a..b"}], "resolved[0]: invalid term 'a..b'"),
        ([{"host": "a.example", "addresses": ["nope"]}], "resolved[0]: addresses: 'nope' is not an IP address"),
        ([{"host": "a.example", "addresses": "192.0.2.1"}], "addresses must be a list of strings"),
        ([{"host": "a.example", "cidrs": ["10.0.0.1/8"]}], "cidrs: '10.0.0.1/8' is not a CIDR block"),
        ([{"host": "a.example", "ttl": -1}], "ttl must be a non-negative integer or null"),
        ([{"host": "a.example", "error": {"type": "OOPS"}}], "error must be null or {type, message}"),
        ([{"host": "a.example", "adresses": []}], "unknown key(s) adresses"),
        ([{"host": "a.example"}, {"host": ""}], "resolved[1]: invalid term ''"),
    ],
)
def test_bad_detail_is_named(items, message):
    with pytest.raises(OptionError) as caught:
        results_from_detail(items)
    assert message in str(caught.value)


def test_every_error_type_survives_the_detail_form():
    for kind in ERROR_TYPES:
        result = HostResult("a.example", error=ResolveError(kind, "m"))
        assert results_from_detail(results_to_detail([result])) == [result]
