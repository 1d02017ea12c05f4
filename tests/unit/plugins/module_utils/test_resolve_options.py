# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolver options, nameserver literals, results, the detail form and the on_error policy (no network)."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._addresses import (
    AggregateOptions,
    AggregationError,
    blocks_of,
    cidrs_of,
    merged_cidrs,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.detail import results_from_detail, results_to_detail
from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import (
    ResolutionFailed,
    apply_on_error,
    lookup,
    on_error_policy,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.options import (
    Nameserver,
    ResolverOptions,
    parse_nameserver,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.resolve import resolve
from ansible_collections.meshguard.egress.plugins.module_utils._dns.results import ERROR_TYPES, HostResult, ResolveError
from ansible_collections.meshguard.egress.plugins.module_utils._errors import OptionError
from ansible_collections.meshguard.egress.plugins.module_utils._terms import TermError

# --------------------------------------------------------------------------- nameservers


@pytest.mark.parametrize(
    ("text", "address", "port", "label"),
    [
        ("127.0.0.1", "127.0.0.1", None, "127.0.0.1:53"),
        ("127.0.0.1:5353", "127.0.0.1", 5353, "127.0.0.1:5353"),
        ("::1", "::1", None, "[::1]:53"),
        ("2001:DB8::53", "2001:db8::53", None, "[2001:db8::53]:53"),
        ("[::1]", "::1", None, "[::1]:53"),
        ("[::1]:5353", "::1", 5353, "[::1]:5353"),
        (" 192.0.2.53 ", "192.0.2.53", None, "192.0.2.53:53"),
    ],
)
def test_nameserver_literals(text, address, port, label):
    server = parse_nameserver(text)
    assert server == Nameserver(address, port)
    assert server.label(53) == label


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ns1.example.com", "is not an IP address"),
        ("999.1.1.1", "is not an IP address"),
        ("[127.0.0.1]:53", "is not an IP address"),
        ("::1:5353x", "is not an IP address"),
        ("127.0.0.1:0", "port of '127.0.0.1:0' must be between 1 and 65535, got 0"),
        ("[::1]:70000", "must be between 1 and 65535, got 70000"),
        ("127.0.0.1:dns", "port of '127.0.0.1:dns' must be an integer, got 'dns'"),
        ("", "expected an IP address"),
        (53, "expected an IP address"),
    ],
)
def test_bad_nameservers_are_named(text, message):
    with pytest.raises(OptionError) as caught:
        parse_nameserver(text)
    assert message in str(caught.value)
    assert "nameservers" in str(caught.value)


def test_port_applies_to_servers_without_their_own():
    options = ResolverOptions.from_dict({"nameservers": ["127.0.0.1", "[::1]:5300"], "port": 5353})
    assert [s.label(options.port) for s in options.nameservers] == ["127.0.0.1:5353", "[::1]:5300"]


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


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"port": 0}, "port must be between 1 and 65535, got 0"),
        ({"port": "x"}, "port must be an integer, got 'x'"),
        ({"port": 53.5}, "port must be an integer, got 53.5"),
        ({"port": True}, "port must be an integer"),
        ({"families": "ipv5"}, "families must be one of both, ipv4, ipv6, got 'ipv5'"),
        ({"timeout": 0}, "timeout must be between"),
        ({"timeout": "soon"}, "timeout must be a number of seconds, got 'soon'"),
        ({"lifetime": -1}, "lifetime must be between"),
        ({"retries": -1}, "retries must be between 0 and 10, got -1"),
        ({"rounds": 0}, "rounds must be between 1 and 100, got 0"),
        ({"concurrency": 1000}, "concurrency must be between 1 and 256, got 1000"),
        ({"tcp": "yes"}, "tcp must be true or false, got 'yes'"),
        ({"all_nameservers": 1}, "all_nameservers must be true or false"),
        ({"on_error": "fail"}, "unknown resolver option(s): on_error"),
        ({"nameservers": {"a": 1}}, "nameservers must be a list of IP addresses"),
        ({"nameservers": ["ns1.example.com"]}, "'ns1.example.com' is not an IP address"),
        ({"nameserver": ["127.0.0.1"]}, "unknown resolver option(s): nameserver"),
    ],
)
def test_bad_options_are_named(data, message):
    with pytest.raises(OptionError) as caught:
        ResolverOptions.from_dict(data)
    assert message in str(caught.value)


def test_the_lookups_on_error_is_checked():
    with pytest.raises(OptionError) as caught:
        on_error_policy("ignore")
    assert "on_error must be one of fail, warn, omit, got 'ignore'" in str(caught.value)


def test_options_are_frozen():
    with pytest.raises(AttributeError):
        ResolverOptions().port = 5353  # type: ignore[misc]


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


def test_broad_literals_fail_before_any_query():
    options = {"nameservers": ["192.0.2.254"], "timeout": 5, "lifetime": 5}
    with pytest.raises(AggregationError, match=r"10\.0\.0\.0/8 \(from literal 10\.0\.0\.0/8\)"):
        lookup(["db.example.com", "10.0.0.0/8"], options)


# --------------------------------------------------------------------------- results, policy, detail

OK = HostResult(host="db.example.com", addresses=("192.0.2.7", "2001:db8::7"), cname_chain=("x.example.net",), ttl=60)
NX = HostResult(host="gone.example.com", error=ResolveError("NXDOMAIN", "gone.example.com: does not exist"))


def test_blocks_of_each_kind():
    assert [b.cidr for b in blocks_of(OK)] == ["192.0.2.7", "2001:db8::7"]
    assert all(b.widen and "db.example.com" in b.source for b in blocks_of(OK))
    assert blocks_of(NX) == []
    assert [(b.cidr, b.widen) for b in blocks_of(HostResult("10.0.0.0/24", kind="network"))] == [("10.0.0.0/24", False)]


def test_cidrs_of_and_merged_cidrs_leave_failed_hosts_out():
    cidrs = cidrs_of([OK, NX], AggregateOptions(ipv4_prefix=24))
    assert cidrs[0] == ("192.0.2.0/24", "2001:db8::7/128")
    assert cidrs[1] == ()
    assert merged_cidrs([OK, NX], AggregateOptions(ipv4_prefix=24)) == ["192.0.2.0/24", "2001:db8::7/128"]


def test_cidrs_of_reports_every_guard_violation():
    wide = AggregateOptions(ipv4_prefix=8, broadest_ipv4=16)
    other = HostResult(host="b.example.com", addresses=("198.51.100.1",))
    with pytest.raises(AggregationError) as caught:
        cidrs_of([OK, other], wide)
    assert len(caught.value.problems) == 2
    assert "192.0.0.0/8 (from 192.0.2.7 of db.example.com, widened by ipv4_prefix)" in str(caught.value)


def test_on_error_policies():
    assert apply_on_error([OK], "fail") == []
    with pytest.raises(ResolutionFailed) as caught:
        apply_on_error([OK, NX, NX], "fail")
    assert str(caught.value).startswith("DNS resolution failed for 2 host(s): NXDOMAIN: gone.example.com")
    assert caught.value.results == [NX, NX]
    assert apply_on_error([OK, NX], "warn") == ["NXDOMAIN: gone.example.com: does not exist; it contributes no address"]
    assert apply_on_error([OK, NX], "omit") == []


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
