# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aggregation: examples, option validation, the blocks of a resolved host, and properties checked with
hypothesis."""

from __future__ import annotations

import netaddr
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.meshguard.egress.plugins.module_utils._addresses import (
    AggregateOptions,
    AggregationError,
    Block,
    aggregate,
    blocks_of,
    cidrs_of,
    merged_cidrs,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.results import HostResult
from ansible_collections.meshguard.egress.plugins.module_utils._errors import OptionError
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import DNS_NX as NX
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import DNS_OK as OK


def blocks(*cidrs, widen=False):
    return [Block(c, f"test {c}", widen=widen) for c in cidrs]


# --------------------------------------------------------------------------- examples


def test_merge_dedupes_merges_and_sorts_ipv4_before_ipv6():
    result = aggregate(
        blocks("2001:db8::1", "192.0.2.2", "192.0.2.3", "10.0.0.0/24", "192.0.2.3", "10.0.1.0/24", "10.0.0.7")
    )
    assert result == ["10.0.0.0/23", "192.0.2.2/31", "2001:db8::1/128"]


def test_numeric_not_textual_order():
    assert aggregate(blocks("192.0.2.10", "192.0.2.9", "9.0.0.1"), AggregateOptions(collapse="none")) == [
        "9.0.0.1/32",
        "192.0.2.9/32",
        "192.0.2.10/32",
    ]


def test_collapse_none_keeps_single_addresses():
    result = aggregate(blocks("192.0.2.3", "192.0.2.2", "192.0.2.2", "2001:db8::1"), AggregateOptions(collapse="none"))
    assert result == ["192.0.2.2/32", "192.0.2.3/32", "2001:db8::1/128"]


def test_widening_applies_to_resolved_addresses_only():
    options = AggregateOptions.from_dict({"ipv4_prefix": 24, "ipv6_prefix": 64})
    result = aggregate(blocks("192.0.2.7", "2001:db8::7", widen=True) + blocks("198.51.100.7"), options)
    assert result == ["192.0.2.0/24", "198.51.100.7/32", "2001:db8::/64"]


def test_ipv4_mapped_ipv6_stays_ipv6_and_prints_the_same_everywhere():
    assert aggregate(blocks("::ffff:192.0.2.1")) == ["::ffff:192.0.2.1/128"]


def test_empty_input_gives_empty_list():
    assert aggregate([]) == []


def test_guard_names_the_block_and_its_source():
    with pytest.raises(AggregationError) as caught:
        aggregate([Block("10.0.0.0/8", "literal 10.0.0.0/8"), Block("2001:db8::/32", "literal 2001:db8::/32")])
    message = str(caught.value)
    assert "10.0.0.0/8 (from literal 10.0.0.0/8) is broader than broadest_prefix.ipv4 /16" in message
    assert "2001:db8::/32 (from literal 2001:db8::/32) is broader than broadest_prefix.ipv6 /48" in message
    assert len(caught.value.problems) == 2


def test_guard_fires_on_a_widening_and_says_so():
    options = AggregateOptions.from_dict({"ipv4_prefix": 12, "broadest_prefix": {"ipv4": 12}})
    aggregate([Block("10.1.2.3", "10.1.2.3 of db.example.com", widen=True)], options)
    narrow = AggregateOptions(ipv4_prefix=12, broadest_ipv4=16)  # bypasses from_dict's early check
    with pytest.raises(AggregationError, match=r"10\.0\.0\.0/12 \(from 10\.1\.2\.3 of db\.example\.com, widened by"):
        aggregate([Block("10.1.2.3", "10.1.2.3 of db.example.com", widen=True)], narrow)


def test_any_needs_allow_any_even_with_a_permissive_guard():
    for cidr in ("0.0.0.0/0", "::/0"):
        with pytest.raises(AggregationError, match="allow_any"):
            aggregate(blocks(cidr), AggregateOptions(broadest_ipv4=1, broadest_ipv6=1))
    assert aggregate(blocks("0.0.0.0/0", "::/0", "10.0.0.0/8"), AggregateOptions(allow_any=True, broadest_ipv4=8)) == [
        "0.0.0.0/0",
        "::/0",
    ]


def test_allow_any_does_not_open_the_guard_for_other_broad_blocks():
    with pytest.raises(AggregationError, match=r"10\.0\.0\.0/8"):
        aggregate(blocks("10.0.0.0/8"), AggregateOptions(allow_any=True))


def test_invalid_block_names_its_source():
    with pytest.raises(OptionError, match=r"'nonsense' \(from test nonsense\) is not an IP address"):
        aggregate(blocks("nonsense"))


# --------------------------------------------------------------------------- options


def test_defaults():
    options = AggregateOptions.from_dict({})
    assert options == AggregateOptions()
    assert options.to_dict() == {
        "collapse": "merge",
        "ipv4_prefix": 32,
        "ipv6_prefix": 128,
        "broadest_prefix": {"ipv4": 16, "ipv6": 48},
        "allow_any": False,
    }


def test_none_values_mean_default_and_partial_broadest_prefix_keeps_the_other():
    options = AggregateOptions.from_dict({"collapse": None, "broadest_prefix": {"ipv4": 8}})
    assert (options.collapse, options.broadest_ipv4, options.broadest_ipv6) == ("merge", 8, 48)
    assert AggregateOptions.from_dict(options.to_dict()) == options


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"collapse": "span"}, "collapse must be one of merge, none, got 'span'"),
        ({"ipv4_prefix": 33}, "ipv4_prefix must be between 0 and 32, got 33"),
        ({"ipv6_prefix": "x"}, "ipv6_prefix must be an integer, got 'x'"),
        ({"broadest_prefix": 16}, "broadest_prefix must be a dict"),
        ({"broadest_prefix": {"ipv5": 8}}, "broadest_prefix: unknown key(s) ipv5"),
        ({"broadest_prefix": {"ipv4": 0}}, "broadest_prefix.ipv4 must be between 1 and 32, got 0"),
        ({"allow_any": "yes"}, "allow_any must be true or false"),
        ({"ipv4_prefix": 8}, "ipv4_prefix /8 is broader than broadest_prefix.ipv4 /16"),
        ({"colapse": "merge"}, "unknown aggregation option(s): colapse"),
    ],
)
def test_bad_options_are_named(data, message):
    with pytest.raises(OptionError) as caught:
        AggregateOptions.from_dict(data)
    assert message in str(caught.value)


# --------------------------------------------------------------------------- properties

ipv4 = st.integers(0, 2**32 - 1).map(lambda n: netaddr.IPAddress(n, 4))
ipv6 = st.integers(0, 2**128 - 1).map(lambda n: netaddr.IPAddress(n, 6))


@st.composite
def networks(draw, min_v4=16, min_v6=48):
    """A network within the default guard (prefix >= /16 or /48), or a single address."""
    if draw(st.booleans()):
        address, prefix = draw(ipv4), draw(st.integers(min_v4, 32))
    else:
        address, prefix = draw(ipv6), draw(st.integers(min_v6, 128))
    return str(netaddr.IPNetwork(f"{address}/{prefix}").cidr)


inputs = st.lists(networks(), max_size=40)
# Neighbouring addresses make merges likely.
dense = st.lists(st.integers(0, 300).map(lambda n: str(netaddr.IPAddress(0xC0000200 + n))), max_size=60)


def covered(cidrs):
    return netaddr.IPSet(cidrs)


@settings(max_examples=200, deadline=None)
@given(st.one_of(inputs, dense))
def test_merge_covers_exactly_the_input_addresses(cidrs):
    result = aggregate(blocks(*cidrs))
    assert covered(result) == covered(cidrs)


@settings(max_examples=200, deadline=None)
@given(st.one_of(inputs, dense), st.sampled_from(["merge", "none"]))
def test_output_is_sorted_unique_and_idempotent(cidrs, collapse):
    options = AggregateOptions(collapse=collapse)
    result = aggregate(blocks(*cidrs), options)
    parsed = [netaddr.IPNetwork(c) for c in result]
    assert parsed == sorted(parsed, key=lambda n: (n.version, n.first, n.prefixlen))
    assert len(set(result)) == len(result)
    assert aggregate(blocks(*result), options) == result
    assert aggregate(blocks(*reversed(cidrs)), options) == result  # input order does not matter


@settings(max_examples=200, deadline=None)
@given(st.one_of(inputs, dense))
def test_merged_blocks_never_overlap(cidrs):
    result = [netaddr.IPNetwork(c) for c in aggregate(blocks(*cidrs))]
    total = sum(n.size for n in result)
    assert total == covered(result).size


@settings(max_examples=200, deadline=None)
@given(inputs, st.integers(1, 32), st.integers(1, 128))
def test_guard_always_fires_on_too_broad_blocks(cidrs, v4_limit, v6_limit):
    options = AggregateOptions(broadest_ipv4=v4_limit, broadest_ipv6=v6_limit)
    too_broad = [
        c
        for c in cidrs
        if netaddr.IPNetwork(c).prefixlen < (v4_limit if netaddr.IPNetwork(c).version == 4 else v6_limit)
        or netaddr.IPNetwork(c).prefixlen == 0
    ]
    if too_broad:
        with pytest.raises(AggregationError) as caught:
            aggregate(blocks(*cidrs), options)
        for cidr in too_broad:
            assert cidr in str(caught.value)
    else:
        aggregate(blocks(*cidrs), options)


@settings(max_examples=100, deadline=None)
@given(st.lists(ipv4.map(str), min_size=1, max_size=20), st.integers(16, 32))
def test_widening_covers_every_address_and_is_never_narrower_than_asked(addresses, prefix):
    options = AggregateOptions(ipv4_prefix=prefix)
    result = aggregate(blocks(*addresses, widen=True), options)
    assert all(netaddr.IPAddress(a) in covered(result) for a in addresses)
    assert covered(result) == covered(str(netaddr.IPNetwork(f"{a}/{prefix}").cidr) for a in addresses)


def test_merge_stops_at_the_guard():
    assert aggregate(blocks("10.0.0.0/16", "10.1.0.0/16")) == ["10.0.0.0/16", "10.1.0.0/16"]
    assert aggregate(blocks("10.0.0.0/16", "10.1.0.0/16"), AggregateOptions(broadest_ipv4=15)) == ["10.0.0.0/15"]
    halves = blocks("0.0.0.0/1", "128.0.0.0/1")
    assert aggregate(halves, AggregateOptions(broadest_ipv4=1)) == ["0.0.0.0/1", "128.0.0.0/1"]
    assert aggregate(halves, AggregateOptions(broadest_ipv4=1, allow_any=True)) == ["0.0.0.0/0"]


@settings(max_examples=200, deadline=None)
@given(st.one_of(inputs, dense), st.integers(16, 32), st.integers(48, 128))
def test_no_output_block_is_broader_than_the_guard(cidrs, v4_limit, v6_limit):
    options = AggregateOptions(broadest_ipv4=v4_limit, broadest_ipv6=v6_limit)
    fine = [c for c in cidrs if netaddr.IPNetwork(c).prefixlen >= (v4_limit if ":" not in c else v6_limit)]
    result = aggregate(blocks(*fine), options)
    assert covered(result) == covered(fine)
    assert all(netaddr.IPNetwork(c).prefixlen >= (v4_limit if ":" not in c else v6_limit) for c in result)
    assert aggregate(blocks(*result), options) == result


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
