# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The resolver library against real Knot servers: every case of the resolve issue.

Query counts come from Knot's own counters (mod-stats), so retries, rounds,
TCP fallback and separate CNAME queries are checked on the server side.
"""

from __future__ import annotations

import time

import netaddr
import pytest
from dnslib import dnstool

from ansible_collections.meshguard.egress.plugins.module_utils._addresses import (
    AggregateOptions,
    cidrs_of,
    merged_cidrs,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.detail import results_from_detail, results_to_detail
from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import ResolutionFailed, apply_on_error
from ansible_collections.meshguard.egress.plugins.module_utils._dns.options import ResolverOptions
from ansible_collections.meshguard.egress.plugins.module_utils._dns.resolve import resolve

pytestmark = pytest.mark.integration


def options(server, **overrides):
    data = {"nameservers": ["127.0.0.1"], "port": server.port, "timeout": 2, "lifetime": 5}
    data.update(overrides)
    return ResolverOptions.from_dict(data)


def one(server, name, **overrides):
    [result] = resolve([name], options(server, **overrides))
    return result


def delta(server, action):
    """Run action; return (its result, how Knot's counters changed)."""
    before = server.stats()
    result = action()
    after = server.stats()
    return result, {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    ("name", "families", "addresses"),
    [
        ("v4.meshguard.test", "both", ("192.0.2.10",)),
        ("v6.meshguard.test", "both", ("2001:db8::10",)),
        ("dual.meshguard.test", "both", ("192.0.2.20", "2001:db8::20")),
        ("dual.meshguard.test", "ipv4", ("192.0.2.20",)),
        ("dual.meshguard.test", "ipv6", ("2001:db8::20",)),
        ("v4-multi.meshguard.test", "both", ("192.0.2.11", "192.0.2.12")),
        ("Bücher.MeshGuard.test.", "both", ("192.0.2.40",)),
    ],
)
def test_addresses_by_family(dns_server, name, families, addresses):
    result = one(dns_server, name, families=families)
    assert (result.addresses, result.error, result.ttl) == (addresses, None, 300)


def test_one_family_missing_is_not_an_error(dns_server):
    assert one(dns_server, "v4.meshguard.test").error is None
    error = one(dns_server, "v4.meshguard.test", families="ipv6").error
    assert (error.type, error.message) == (
        "NODATA",
        f"v4.meshguard.test: no AAAA record (NODATA from 127.0.0.1:{dns_server.port})",
    )


def test_cname_chain_within_a_zone_and_minimum_ttl(dns_server):
    chain = one(dns_server, "chain1.meshguard.test")
    assert chain.addresses == ("192.0.2.10",)
    assert chain.cname_chain == ("chain2.meshguard.test", "chain3.meshguard.test", "v4.meshguard.test")
    ttl = one(dns_server, "ttl-min.meshguard.test")
    assert (ttl.addresses, ttl.ttl) == (("192.0.2.30",), 60)


def test_cross_zone_cname_target_is_asked_separately(dns_server):
    result, counts = delta(dns_server, lambda: one(dns_server, "cname-out.meshguard.test", families="ipv4"))
    assert result.addresses == ("203.0.113.5",)
    assert result.cname_chain == ("target.other.test",)
    assert counts["server-operation[query]"] == 2  # the CNAME, then its target
    both = one(dns_server, "cname-out.meshguard.test")
    assert both.addresses == ("203.0.113.5", "2001:db8:1::5")


def test_truncated_answer_is_completed_over_tcp(dns_server):
    result, counts = delta(dns_server, lambda: one(dns_server, "big.meshguard.test", families="ipv4"))
    assert len(result.addresses) == 100
    assert set(result.addresses) == {f"198.51.100.{i}" for i in range(1, 101)}
    assert counts["request-protocol[udp4]"] == 1
    assert counts["request-protocol[tcp4]"] == 1
    assert cidrs_of([result]) == [
        (
            "198.51.100.1/32",
            "198.51.100.2/31",
            "198.51.100.4/30",
            "198.51.100.8/29",
            "198.51.100.16/28",
            "198.51.100.32/27",
            "198.51.100.64/27",
            "198.51.100.96/30",
            "198.51.100.100/32",
        )
    ]


def test_tcp_option_uses_tcp_only(dns_server):
    result, counts = delta(dns_server, lambda: one(dns_server, "big.meshguard.test", families="ipv4", tcp=True))
    assert len(result.addresses) == 100
    assert counts.get("request-protocol[udp4]", 0) == 0
    assert counts["request-protocol[tcp4]"] == 1


def test_ipv6_nameserver_literal(dns_server):
    for server in ("::1", f"[::1]:{dns_server.port}"):
        result, counts = delta(dns_server, lambda s=server: one(dns_server, "dual.meshguard.test", nameservers=[s]))
        assert result.addresses == ("192.0.2.20", "2001:db8::20")
        assert counts["request-protocol[udp6]"] == 2


def test_per_server_port_overrides_port(dns_server):
    result = one(dns_server, "v4.meshguard.test", nameservers=[f"127.0.0.1:{dns_server.port}"], port=53)
    assert result.addresses == ("192.0.2.10",)


# --------------------------------------------------------------------------- failures


def test_nxdomain_and_nodata(dns_server):
    port = dns_server.port
    nx = one(dns_server, "missing.meshguard.test").error
    assert (nx.type, nx.message) == (
        "NXDOMAIN",
        f"missing.meshguard.test: does not exist (NXDOMAIN from 127.0.0.1:{port})",
    )
    chained = one(dns_server, "cname-nx.meshguard.test")
    assert chained.error.type == "NXDOMAIN"
    assert "CNAME to missing.meshguard.test, which does not exist" in chained.error.message
    assert chained.cname_chain == ("missing.meshguard.test",)
    nodata = one(dns_server, "nodata.meshguard.test").error
    assert (nodata.type, nodata.message) == (
        "NODATA",
        f"nodata.meshguard.test: no A or AAAA record (NODATA from 127.0.0.1:{port})",
    )


@pytest.mark.parametrize("retries", [0, 2])
def test_servfail_is_retried_the_configured_number_of_times(dns_server, retries):
    result, counts = delta(dns_server, lambda: one(dns_server, "www.broken.test", families="ipv4", retries=retries))
    assert result.error.type == "SERVFAIL"
    assert counts["response-code[SERVFAIL]"] == retries + 1
    assert f"SERVFAIL from 127.0.0.1:{dns_server.port}" in result.error.message
    assert result.error.message.startswith("www.broken.test: A query failed")


def test_servfail_behind_a_cname_names_host_and_target(dns_server):
    error = one(dns_server, "cname-servfail.meshguard.test", retries=0).error
    assert error.type == "SERVFAIL"
    assert error.message.startswith("cname-servfail.meshguard.test (CNAME target www.broken.test): A query failed")


def test_refused(dns_server):
    for name in ("www.nowhere.invalid", "cname-refused.meshguard.test"):
        error = one(dns_server, name).error
        assert error.type == "REFUSED"
        assert f"REFUSED from 127.0.0.1:{dns_server.port}" in error.message


@pytest.mark.parametrize("name", ["loop-a.meshguard.test", "cross-loop.meshguard.test"])
def test_cname_loops(dns_server, name):
    error = one(dns_server, name).error
    assert error.type == "CNAME_LOOP"
    assert error.message.startswith(f"{name}: CNAME loop {name} -> ")


def test_cname_depth_limit(dns_server):
    ok = one(dns_server, "deep-1.meshguard.test", families="ipv4")
    assert (ok.addresses, len(ok.cname_chain)) == (("192.0.2.17",), 16)
    too_deep = one(dns_server, "deep-0.meshguard.test", families="ipv4").error
    assert too_deep.type == "CNAME_DEPTH"


def test_timeout_stays_within_lifetime(blackhole):
    blackhole.drain()
    opts = ResolverOptions.from_dict(
        {"nameservers": [f"127.0.0.1:{blackhole.port}"], "timeout": 0.2, "lifetime": 0.7, "families": "ipv4"}
    )
    started = time.monotonic()
    [result] = resolve(["v4.meshguard.test"], opts)
    elapsed = time.monotonic() - started
    assert result.error.type == "TIMEOUT"
    assert f"TIMEOUT from 127.0.0.1:{blackhole.port}" in result.error.message
    assert 0.6 <= elapsed < 1.2
    assert len(blackhole.drain()) >= 3  # asked again after each timeout, until the lifetime ran out


def test_tcp_timeout(blackhole):
    opts = ResolverOptions.from_dict(
        {"nameservers": [f"127.0.0.1:{blackhole.port}"], "timeout": 0.3, "lifetime": 0.3, "tcp": True}
    )
    started = time.monotonic()
    [result] = resolve(["v4.meshguard.test"], opts)
    assert result.error.type == "TIMEOUT"
    assert time.monotonic() - started < 1.0


def test_silent_first_nameserver_falls_over_to_the_next(dns_server, blackhole):
    opts = ResolverOptions.from_dict(
        {
            "nameservers": [f"127.0.0.1:{blackhole.port}", f"[::1]:{dns_server.port}"],
            "timeout": 0.2,
            "lifetime": 3,
        }
    )
    [result] = resolve(["dual.meshguard.test"], opts)
    assert result.addresses == ("192.0.2.20", "2001:db8::20")


def test_unreachable_tcp_port_is_a_network_error():
    port = dnstool.free_port()
    opts = ResolverOptions.from_dict({"nameservers": [f"127.0.0.1:{port}"], "tcp": True, "timeout": 1, "lifetime": 1})
    [result] = resolve(["v4.meshguard.test"], opts)
    assert result.error.type == "NETWORK"


# --------------------------------------------------------------------------- several answers


def test_all_nameservers_takes_the_union_of_two_servers(dns_server, dns_server_alt):
    servers = [f"127.0.0.1:{dns_server.port}", f"[::1]:{dns_server_alt.port}"]
    first_only = one(dns_server, "split.meshguard.test", nameservers=servers)
    assert first_only.addresses == ("192.0.2.100", "2001:db8::100")
    union = one(dns_server, "split.meshguard.test", nameservers=servers, all_nameservers=True)
    assert union.addresses == ("192.0.2.100", "192.0.2.200", "2001:db8::100", "2001:db8::200")
    # NXDOMAIN from one view is an answer, not a failure, when the other has addresses.
    only_main = one(dns_server, "only-main.meshguard.test", nameservers=servers, all_nameservers=True)
    assert (only_main.addresses, only_main.error) == (("192.0.2.101",), None)


def test_all_nameservers_fails_when_one_server_fails(dns_server, blackhole):
    servers = [f"127.0.0.1:{dns_server.port}", f"127.0.0.1:{blackhole.port}"]
    result = one(dns_server, "v4.meshguard.test", nameservers=servers, all_nameservers=True, timeout=0.2, lifetime=0.5)
    assert result.error.type == "TIMEOUT"
    assert f"127.0.0.1:{blackhole.port}" in result.error.message


def test_rounds_really_ask_again(dns_server):
    result, counts = delta(dns_server, lambda: one(dns_server, "v4-multi.meshguard.test", families="ipv4", rounds=3))
    assert result.addresses == ("192.0.2.11", "192.0.2.12")
    assert counts["server-operation[query]"] == 3


def test_rounds_collect_a_rotating_subset(dns_server_rotating):
    single = one(dns_server_rotating, "rotating.pool.test", families="ipv4")
    assert len(single.addresses) == 1
    # 64 rounds miss one of four equally likely answers with probability about 4 * 0.75**64 (4e-8).
    union = one(dns_server_rotating, "rotating.pool.test", families="ipv4", rounds=64)
    assert union.addresses == ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4")
    assert cidrs_of([union]) == [("192.0.2.1/32", "192.0.2.2/31", "192.0.2.4/32")]
    widened = resolve(["rotating.pool.test"], options(dns_server_rotating, families="ipv4"))
    assert cidrs_of(widened, AggregateOptions.from_dict({"ipv4_prefix": 24})) == [("192.0.2.0/24",)]


# --------------------------------------------------------------------------- many terms


def test_terms_keep_their_order_and_literals_pass_through(dns_server):
    terms = ["v6.meshguard.test", "10.0.0.0/24", "v4.meshguard.test", "missing.meshguard.test", "v6.meshguard.test"]
    results = resolve(terms, options(dns_server))
    assert [r.host for r in results] == [
        "v6.meshguard.test",
        "10.0.0.0/24",
        "v4.meshguard.test",
        "missing.meshguard.test",
        "v6.meshguard.test",
    ]
    assert merged_cidrs(results) == ["10.0.0.0/24", "192.0.2.10/32", "2001:db8::10/128"]
    with pytest.raises(ResolutionFailed, match=r"NXDOMAIN: missing\.meshguard\.test"):
        apply_on_error(results, "fail")
    assert len(apply_on_error(results, "warn")) == 1
    assert results_from_detail(results_to_detail(results)) == results


def test_same_answers_give_identical_output(dns_server):
    terms = ["big.meshguard.test", "dual.meshguard.test", "cname-out.meshguard.test", "198.51.100.0/25"]
    first = merged_cidrs(resolve(terms, options(dns_server)))
    second = merged_cidrs(resolve(list(reversed(terms)), options(dns_server, concurrency=1)))
    assert first == second


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory):
    """2,000 names, each with an A and an AAAA record, in a generated zone."""
    zones = tmp_path_factory.mktemp("bulk-zones")
    lines = ["$ORIGIN bulk.test.", "$TTL 300", "@ SOA ns hm 1 60 60 60 60", "@ NS ns.meshguard.test."]
    for i in range(2000):
        lines.append(f"h{i} A 10.{i // 256}.{i % 256}.1")
        lines.append(f"h{i} AAAA 2001:db8:b::{i:x}")
    (zones / "bulk.test.zone").write_text("\n".join(lines) + "\n")
    server = dnstool.up(zones, dnstool.free_port(), state_dir=tmp_path_factory.mktemp("dns-bulk"))
    yield server
    dnstool.down(server.port, server.state_dir)


def test_two_thousand_names_resolve_concurrently(bulk_server, capsys):
    names = [f"h{i}.bulk.test" for i in range(2000)]
    started = time.monotonic()
    results = resolve(names, options(bulk_server, concurrency=32))
    elapsed = time.monotonic() - started
    assert all(r.error is None and len(r.addresses) == 2 for r in results)
    merged = merged_cidrs(results)
    assert sum(1 for c in merged if ":" not in c) == 2000  # 10.x.y.1: never adjacent
    assert netaddr.IPSet(c for c in merged if ":" in c) == netaddr.IPSet(f"2001:db8:b::{i:x}" for i in range(2000))
    with capsys.disabled():
        # For the record only: speed is measured in bench/, not asserted here.
        print(f"\n2,000 names (4,000 queries) against local Knot, concurrency 32: {elapsed:.2f}s")


# --------------------------------------------------------------------------- the pipeline (many names, one thread)

EVERY_CASE = [
    "big.meshguard.test",
    "cname-out.meshguard.test",
    "chain1.meshguard.test",
    "deep-0.meshguard.test",
    "deep-1.meshguard.test",
    "www.broken.test",
    "cname-servfail.meshguard.test",
    "missing.meshguard.test",
    "cname-nx.meshguard.test",
    "loop-a.meshguard.test",
    "cross-loop.meshguard.test",
    "nodata.meshguard.test",
    "www.nowhere.invalid",
    "dual.meshguard.test",
    "ttl-min.meshguard.test",
]


def test_pipeline_gives_the_same_results_as_one_name_at_a_time(dns_server):
    together = resolve(EVERY_CASE, options(dns_server, concurrency=8, retries=1))
    alone = [one(dns_server, name, concurrency=1, retries=1) for name in EVERY_CASE]
    assert together == alone
    assert {r.error.type for r in together if r.error} == {
        "CNAME_DEPTH",
        "SERVFAIL",
        "NXDOMAIN",
        "CNAME_LOOP",
        "NODATA",
        "REFUSED",
    }


def test_pipeline_with_tcp_option_uses_threads_and_agrees(dns_server):
    assert resolve(EVERY_CASE, options(dns_server, concurrency=8, tcp=True, retries=0)) == resolve(
        EVERY_CASE, options(dns_server, concurrency=1, retries=0)
    )


def test_pipeline_times_out_names_in_parallel(blackhole):
    blackhole.drain()
    opts = ResolverOptions.from_dict(
        {"nameservers": [f"127.0.0.1:{blackhole.port}"], "timeout": 0.2, "lifetime": 0.5, "families": "ipv4"}
    )
    started = time.monotonic()
    results = resolve([f"n{i}.meshguard.test" for i in range(10)], opts)
    elapsed = time.monotonic() - started
    assert [r.error.type for r in results] == ["TIMEOUT"] * 10
    assert elapsed < 1.2  # ten names, one lifetime: they waited together
    assert len(blackhole.drain()) >= 20


def test_pipeline_reports_a_closed_udp_port_at_once():
    port = dnstool.free_port()
    opts = ResolverOptions.from_dict({"nameservers": [f"127.0.0.1:{port}"], "timeout": 2, "lifetime": 2})
    started = time.monotonic()
    results = resolve(["a.meshguard.test", "b.meshguard.test", "c.meshguard.test"], opts)
    assert [r.error.type for r in results] == ["NETWORK"] * 3
    assert "Connection refused" in results[0].error.message
    assert time.monotonic() - started < 1.5
