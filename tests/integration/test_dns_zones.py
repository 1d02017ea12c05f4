# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The test zones answer as designed (plain dnspython queries against the real Knot server),
and tools/dnsserver.py starts, reloads and stops Knot as promised."""

from __future__ import annotations

import shutil

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest
from dnslib import ZONES, dnstool

pytestmark = pytest.mark.integration


def ask(server, name, rdtype="A", *, address="127.0.0.1", tcp=False, payload=1232):
    query = dns.message.make_query(name, rdtype, use_edns=0, payload=payload)
    if tcp:
        return dns.query.tcp(query, address, port=server.port, timeout=3)
    return dns.query.udp(query, address, port=server.port, timeout=3)


def answer_of(response, name, rdtype):
    rrset = response.get_rrset(
        response.answer, dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.from_text(rdtype)
    )
    return sorted(r.to_text() for r in rrset) if rrset else []


@pytest.mark.parametrize(
    ("name", "rdtype", "expected"),
    [
        ("v4.meshguard.test", "A", ["192.0.2.10"]),
        ("v4-multi.meshguard.test", "A", ["192.0.2.11", "192.0.2.12"]),
        ("v6.meshguard.test", "AAAA", ["2001:db8::10"]),
        ("dual.meshguard.test", "A", ["192.0.2.20"]),
        ("dual.meshguard.test", "AAAA", ["2001:db8::20"]),
        ("xn--bcher-kva.meshguard.test", "A", ["192.0.2.40"]),
        ("_ldap._tcp.meshguard.test", "A", ["192.0.2.41"]),
        ("split.meshguard.test", "A", ["192.0.2.100"]),
        ("target.other.test", "AAAA", ["2001:db8:1::5"]),
    ],
)
def test_address_records(dns_server, name, rdtype, expected):
    response = ask(dns_server, name, rdtype)
    assert response.rcode() == dns.rcode.NOERROR
    assert answer_of(response, name, rdtype) == expected


@pytest.mark.parametrize(("name", "rdtype"), [("v4.meshguard.test", "AAAA"), ("v6.meshguard.test", "A")])
def test_one_family_only_is_nodata_for_the_other(dns_server, name, rdtype):
    response = ask(dns_server, name, rdtype)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []


def test_nodata(dns_server):
    for rdtype in ("A", "AAAA"):
        response = ask(dns_server, "nodata.meshguard.test", rdtype)
        assert (response.rcode(), response.answer) == (dns.rcode.NOERROR, [])
    assert ask(dns_server, "nodata.meshguard.test", "TXT").answer != []


def test_nxdomain(dns_server):
    assert ask(dns_server, "missing.meshguard.test").rcode() == dns.rcode.NXDOMAIN


def test_cname_inside_the_zone_comes_with_its_target(dns_server):
    response = ask(dns_server, "cname-in.meshguard.test")
    assert answer_of(response, "cname-in.meshguard.test", "CNAME") == ["dual.meshguard.test."]
    assert answer_of(response, "dual.meshguard.test", "A") == ["192.0.2.20"]
    chain = ask(dns_server, "chain1.meshguard.test")
    assert answer_of(chain, "v4.meshguard.test", "A") == ["192.0.2.10"]


def test_cname_across_zones_comes_without_its_target(dns_server):
    """other.test is on the same server, yet Knot answers with the CNAME only: the resolver must ask again."""
    response = ask(dns_server, "cname-out.meshguard.test")
    assert response.rcode() == dns.rcode.NOERROR
    assert answer_of(response, "cname-out.meshguard.test", "CNAME") == ["target.other.test."]
    assert answer_of(response, "target.other.test", "A") == []
    assert len(response.answer) == 1


def test_cname_to_a_missing_name_is_nxdomain(dns_server):
    response = ask(dns_server, "cname-nx.meshguard.test")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert answer_of(response, "cname-nx.meshguard.test", "CNAME") == ["missing.meshguard.test."]


def test_cname_loops(dns_server):
    response = ask(dns_server, "loop-a.meshguard.test")
    assert answer_of(response, "loop-a.meshguard.test", "CNAME") == ["loop-b.meshguard.test."]
    assert answer_of(response, "loop-b.meshguard.test", "CNAME") == ["loop-a.meshguard.test."]
    assert answer_of(ask(dns_server, "cross-loop.meshguard.test"), "cross-loop.meshguard.test", "CNAME") == [
        "loop.other.test."
    ]
    assert answer_of(ask(dns_server, "loop.other.test"), "loop.other.test", "CNAME") == ["cross-loop.meshguard.test."]


def test_deep_chain_is_served_in_pieces(dns_server):
    """Knot follows a few CNAMEs per answer; the rest of deep-0's 17 hops must be asked for."""
    response = ask(dns_server, "deep-0.meshguard.test")
    assert response.rcode() == dns.rcode.NOERROR
    assert 1 <= len(response.answer) < 17
    assert answer_of(ask(dns_server, "deep-17.meshguard.test"), "deep-17.meshguard.test", "A") == ["192.0.2.17"]


def test_ttls(dns_server):
    response = ask(dns_server, "ttl-min.meshguard.test")
    ttls = {rrset.rdtype: rrset.ttl for rrset in response.answer}
    assert ttls == {dns.rdatatype.CNAME: 60, dns.rdatatype.A: 120}


def test_hundred_records_are_truncated_over_udp_even_with_edns(dns_server):
    response = ask(dns_server, "big.meshguard.test", payload=1232)
    assert response.flags & dns.flags.TC
    assert answer_of(response, "big.meshguard.test", "A") == []
    full = ask(dns_server, "big.meshguard.test", tcp=True)
    assert not full.flags & dns.flags.TC
    assert len(answer_of(full, "big.meshguard.test", "A")) == 100
    assert len(full.to_wire()) > 1232


def test_zone_that_cannot_be_loaded_answers_servfail(dns_server):
    assert "broken.test" in dns_server.failed_zones
    assert ask(dns_server, "www.broken.test").rcode() == dns.rcode.SERVFAIL
    assert ask(dns_server, "www.broken.test", "AAAA").rcode() == dns.rcode.SERVFAIL


def test_name_outside_the_served_zones_is_refused(dns_server):
    assert ask(dns_server, "www.nowhere.invalid").rcode() == dns.rcode.REFUSED


def test_server_answers_on_ipv6_loopback(dns_server):
    response = ask(dns_server, "dual.meshguard.test", "AAAA", address="::1")
    assert answer_of(response, "dual.meshguard.test", "AAAA") == ["2001:db8::20"]


def test_second_server_answers_the_same_name_differently(dns_server, dns_server_alt):
    assert dns_server.port != dns_server_alt.port
    assert answer_of(ask(dns_server, "split.meshguard.test"), "split.meshguard.test", "A") == ["192.0.2.100"]
    assert answer_of(ask(dns_server_alt, "split.meshguard.test"), "split.meshguard.test", "A") == ["192.0.2.200"]
    assert ask(dns_server_alt, "only-main.meshguard.test").rcode() == dns.rcode.NXDOMAIN


def test_rotating_pool_answers_one_of_four_addresses_per_query(dns_server_rotating):
    seen = set()
    for _query in range(60):
        answer = answer_of(ask(dns_server_rotating, "rotating.pool.test"), "rotating.pool.test", "A")
        assert len(answer) == 1
        seen.update(answer)
    # 60 draws miss one of four equally likely answers with probability about 4 * 0.75**60, below 1e-7.
    assert seen == {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}


def test_query_counters_are_readable(dns_server):
    before = dns_server.stats()
    ask(dns_server, "www.broken.test")
    after = dns_server.stats()
    assert after.get("response-code[SERVFAIL]", 0) == before.get("response-code[SERVFAIL]", 0) + 1


# --------------------------------------------------------------------------- tools/dnsserver.py


@pytest.fixture
def own_server(tmp_path):
    """A server of its own over a copy of the zones, for tests that edit zone files."""
    zones = tmp_path / "zones"
    shutil.copytree(ZONES, zones)
    server = dnstool.up(zones, dnstool.free_port(), state_dir=tmp_path / "state")
    yield server, zones
    dnstool.down(server.port, server.state_dir)


def test_up_is_idempotent_and_down_leaves_no_process(own_server):
    server, zones = own_server
    again = dnstool.up(zones, server.port, state_dir=server.state_dir)
    assert again.pid == server.pid
    assert dnstool.down(server.port, server.state_dir) is True
    assert dnstool.running_pid(server.state_dir) is None
    assert not dnstool._is_our_knotd(server.pid, server.state_dir)
    assert dnstool.query_rcode("127.0.0.1", server.port, "meshguard.test", timeout=0.3) is None
    assert dnstool.down(server.port, server.state_dir) is False


def test_reload_reads_an_edited_zone_even_with_the_same_serial(own_server):
    server, zones = own_server
    zone = zones / "meshguard.test.zone"
    text = zone.read_text()
    assert "2026010101" in text
    zone.write_text(text.replace("v4              A     192.0.2.10", "v4              A     192.0.2.99"))
    assert answer_of(ask(server, "v4.meshguard.test"), "v4.meshguard.test", "A") == ["192.0.2.10"]
    dnstool.reload(server.port, server.state_dir)
    assert answer_of(ask(server, "v4.meshguard.test"), "v4.meshguard.test", "A") == ["192.0.2.99"]


def test_reload_picks_up_a_new_zone_file_and_up_with_other_zones_restarts(own_server, tmp_path):
    server, zones = own_server
    (zones / "added.test.zone").write_text(
        "$ORIGIN added.test.\n$TTL 60\n@ SOA ns hm 1 60 60 60 60\n@ NS ns.meshguard.test.\nwww A 192.0.2.55\n"
    )
    assert ask(server, "www.added.test").rcode() == dns.rcode.REFUSED
    reloaded = dnstool.reload(server.port, server.state_dir)
    assert "added.test" in reloaded.zones
    assert reloaded.pid == server.pid
    assert answer_of(ask(server, "www.added.test"), "www.added.test", "A") == ["192.0.2.55"]

    other = tmp_path / "other-zones"
    other.mkdir()
    shutil.copy(zones / "added.test.zone", other)
    moved = dnstool.up(other, server.port, state_dir=server.state_dir)
    assert moved.zones == ["added.test"]
    assert ask(server, "v4.meshguard.test").rcode() == dns.rcode.REFUSED
