# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reachability: the grants a set's objects make, on every way out, and their change in blocks (the
report of those changes is in test_report.py)."""

from __future__ import annotations

import json

import netaddr
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.meshguard.egress.plugins.module_utils._reachability.model import (
    Grant,
    _Answered,
    change,
    grants,
)
from ansible_collections.meshguard.egress.plugins.module_utils._render import ServiceAddresses, render
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import reachability_grant as grant

PG = {"name": "pg", "hosts": ["198.51.100.0/28"], "ports": [{"number": 5432, "protocol": "TCP"}]}
MONGO = {"name": "mongo", "hosts": ["mongo.example.test"], "ports": [{"number": 27017, "protocol": "MONGO"}]}


def objects(*services, addresses, **options):
    spec = {"set": "s", "namespace": "shop", "services": list(services), **options}
    return render(validate_ruleset(spec), addresses)


def blocks(*cidrs, **extra):
    return ServiceAddresses(cidrs=tuple(cidrs), ips=(), **extra)


def test_a_direct_service_grants_its_namespace_its_blocks_and_declared_protocol():
    (grant,) = grants(objects(PG, addresses={"pg": blocks("198.51.100.0/28")}))
    assert grant == Grant("shop", ("shop",), "pg", "198.51.100.0/28", 5432, "TCP", "direct")
    (mongo,) = grants(objects(MONGO, addresses={"mongo": blocks("192.0.2.10/32", sources=("mongo.example.test",))}))
    # Rendered as TCP for Istio; the grant says what was declared.
    assert (mongo.protocol, mongo.destination, mongo.hosts) == ("MONGO", "192.0.2.10", ("mongo.example.test",))


def test_sources_follow_export_to_pod_selectors_and_allowed_sources():
    wide = grants(objects(PG, addresses={"pg": blocks("198.51.100.0/28")}, export_to=["*"]))
    assert wide[0].sources == ("*",)
    selected = dict(PG, network_policy={"pod_selector": {"app": "orders"}})
    narrowed = grants(objects(selected, addresses={"pg": blocks("198.51.100.0/28")}, network_policy=True))
    assert narrowed[0].sources == ("shop (app=orders)",)
    limited = dict(PG, allowed_sources=["shop/api", "billing"])
    through = grants(objects(limited, addresses={"pg": blocks("198.51.100.0/30")}, egress_gateway={}))
    # The gateway renders one object per address; the grant is the block, admitted to what the policy admits.
    assert [(g.way, g.destination, g.sources) for g in through] == [
        ("egress_gateway", "198.51.100.0/30", ("billing", "shop/api"))
    ]
    ambient = grants(
        objects(limited, addresses={"pg": blocks("198.51.100.0/28")}, dataplane="ambient", waypoint={"name": "wp"})
    )
    assert [(g.way, g.sources) for g in ambient] == [("ambient", ("billing", "shop/api"))]


def test_a_retained_address_is_a_grant_of_its_own_with_its_expiry():
    record = json.dumps({"192.0.2.10": "", "192.0.2.11": "2026-12-06T10:00:00Z"})
    found = grants(
        objects(MONGO, addresses={"mongo": blocks("192.0.2.10/31", last_seen=record)}),
        retain=3600,
        hosts_of={"192.0.2.10": ["mongo.example.test"]},
    )
    assert [(g.destination, g.retained_until, g.hosts) for g in found] == [
        ("192.0.2.10", None, ("mongo.example.test",)),
        ("192.0.2.11", "2026-12-06T11:00:00Z", ()),
    ]


def test_a_growing_block_adds_the_new_half_and_a_shrinking_one_removes_it():
    grown = change([grant("198.51.100.0/28")], [grant("198.51.100.0/27")])
    assert ([g.destination for g in grown.added], grown.removed, grown.unchanged) == (["198.51.100.16/28"], (), 0)
    shrunk = change([grant("198.51.100.0/27")], [grant("198.51.100.0/28")])
    assert ([g.destination for g in shrunk.removed], shrunk.added) == (["198.51.100.16/28"], ())
    split = change([grant("198.51.100.0/27")], [grant("198.51.100.0/28"), grant("198.51.100.24/29")])
    assert [g.destination for g in split.removed] == ["198.51.100.16/29"] and split.added == ()
    same = change([grant("198.51.100.0/28")], [grant("198.51.100.0/29"), grant("198.51.100.8/29")])
    assert (same.added, same.removed, same.unchanged) == ((), (), 2)


def test_another_port_way_or_source_is_another_grant():
    other_port = Grant("shop", ("shop",), "pg", "198.51.100.0/28", 5433, "TCP", "direct")
    moved = Grant("shop", ("shop",), "pg", "198.51.100.0/28", 5432, "TCP", "egress_gateway")
    result = change([grant("198.51.100.0/28")], [other_port, moved])
    assert sorted((g.port, g.way) for g in result.added) == [(5432, "egress_gateway"), (5433, "direct")]
    assert [(g.port, g.way) for g in result.removed] == [(5432, "direct")]


def test_an_address_that_becomes_retained_is_shown_with_its_new_state():
    result = change([grant("192.0.2.10/31")], [grant("192.0.2.10"), grant("192.0.2.11", retained_until="T")])
    assert [(g.destination, g.retained_until) for g in result.added] == [("192.0.2.11", "T")]
    assert (result.removed, result.unchanged) == ((), 1)


def test_the_host_names_of_a_block_are_those_whose_answers_fall_in_it():
    """The index by block (_Answered) finds what a pass over every answer finds, IPv4 and IPv6 apart."""
    addresses = st.one_of(
        st.integers(0, 2**32 - 1).map(lambda i: str(netaddr.IPAddress(i, 4))),
        st.integers(0, 2**128 - 1).map(lambda i: str(netaddr.IPAddress(i, 6))),
        st.sampled_from(["::ffff:192.0.2.1", "192.0.2.1", "not-an-address", ""]),
    )
    answers = st.dictionaries(addresses, st.lists(st.sampled_from(["a.test", "b.test", "c.test"]), min_size=1))
    blocks = st.one_of(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(lambda t: netaddr.IPNetwork((t[0], t[1]), 4)),
        st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)).map(lambda t: netaddr.IPNetwork((t[0], t[1]), 6)),
    )

    def linear(hosts_of, network):
        found = set()
        for text, names in hosts_of.items():
            try:
                address = netaddr.IPAddress(text)
            except (netaddr.AddrFormatError, ValueError):
                continue
            if address in network:
                found.update(names)
        return found

    @given(answers, st.lists(blocks, min_size=1, max_size=5))
    def check(hosts_of, networks):
        index = _Answered.of(hosts_of)
        for network in networks:
            assert index.within(network) == linear(hosts_of, network)
        for text in hosts_of:  # every address's own block finds it
            if text and text != "not-an-address":
                assert set(hosts_of[text]) <= index.within(netaddr.IPNetwork(text))

    check()


def test_sources_that_narrow_lose_the_grant_and_those_that_stay_keep_it():
    wide = Grant("shop", ("billing/api", "shop"), "pg", "198.51.100.0/28", 5432, "TCP", "egress_gateway")
    narrow = Grant("shop", ("shop",), "pg", "198.51.100.0/29", 5432, "TCP", "egress_gateway")
    result = change([wide], [narrow])
    # shop keeps the first half throughout: it loses the second half; billing/api loses the block.
    assert [(g.sources, g.destination) for g in result.removed] == [
        (("billing/api",), "198.51.100.0/28"),
        (("shop",), "198.51.100.8/29"),
    ]
    assert (result.added, result.unchanged) == ((), 1)
    wider = change([narrow], [wide])
    assert [(g.sources, g.destination) for g in wider.added] == [
        (("billing/api",), "198.51.100.0/28"),
        (("shop",), "198.51.100.8/29"),
    ]
    # The same block for two sources is one item.
    both = change([], [wide])
    assert [(g.sources, g.destination) for g in both.added] == [(("billing/api", "shop"), "198.51.100.0/28")]


def test_the_same_grants_before_and_after_are_no_change_as_the_full_comparison_finds():
    # The shortcut a run that changes nothing takes must say what comparing block by block says.
    same = [
        grant("198.51.100.0/28"),
        grant("192.0.2.11", retained_until="T"),
        Grant("shop", ("billing", "shop"), "pg", "203.0.113.0/30", 5433, "TCP", "direct"),
        Grant("shop", (), "pg", "203.0.113.8/30", 5432, "TCP", "egress_gateway"),
    ]
    shortcut = change(same, list(same))
    full = change(same, list(reversed(same)))  # not equal as lists: compared block by block
    assert (shortcut.added, shortcut.removed, shortcut.unchanged) == ((), (), len(same))
    assert (full.added, full.removed, full.unchanged) == ((), (), len(same))
