# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The address policy: which destinations are refused, and what opens them.

Checked three ways: the issue's own cases, every entry of the list (its
first, last and a middle address), and Python's ipaddress module as an
independent reading of the IANA registries (for random addresses, what the
policy allows is global by ipaddress's tables, but for the documented
decisions).
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.meshguard.egress.plugins.module_utils._policy.judge import (
    BUILT_IN,
    CLUSTER,
    INTERNAL,
    KEPT,
    PRIVATE,
    SPECIAL,
    AddressPolicy,
    Range,
    images,
    internal,
    parse_blocks,
    ranges_in_play,
)

POLICY = AddressPolicy()
SERVICE_CIDR = Range("10.96.0.0/12", "the cluster's Service range", "ServiceCIDR kubernetes on context prod", CLUSTER)


def refused_by(value, policy=POLICY, **kwargs):
    refusal = policy.judge(value, **kwargs)
    return refusal.range.cidr if refusal else None


@pytest.mark.parametrize(
    ("address", "cidr"),
    [
        # The hostile zone.
        ("169.254.169.254", "169.254.169.254/32"),
        ("127.0.0.1", "127.0.0.0/8"),
        ("10.96.0.1", "10.0.0.0/8"),
        ("0.0.0.0", "0.0.0.0/8"),
        ("::1", "::1/128"),
        # The rest of the list.
        ("::", "::/128"),
        ("fe80::1", "fe80::/10"),
        ("fd00:ec2::254", "fd00:ec2::254/128"),
        ("224.0.0.251", "224.0.0.0/4"),
        ("ff02::1", "ff00::/8"),
        ("240.0.0.1", "240.0.0.0/4"),
        ("255.255.255.255", "255.255.255.255/32"),
        ("192.168.1.1", "192.168.0.0/16"),
        ("172.31.255.254", "172.16.0.0/12"),
        ("100.64.0.1", "100.64.0.0/10"),
        ("fd12:3456::1", "fc00::/7"),
        ("4000::1", "4000::/2"),
        ("100::1", "100::/64"),
        # The same IPv4 addresses hidden inside IPv6 forms.
        ("::ffff:127.0.0.1", "::ffff:0:0/96"),
        ("::ffff:192.0.2.1", "::ffff:0:0/96"),
        ("::127.0.0.1", "::/96"),
        ("64:ff9b::7f00:1", "64:ff9b::7f00:0/104"),
        ("64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe/128"),
        ("64:ff9b::a00:1", "64:ff9b::a00:0/104"),
        ("64:ff9b:1::c000:201", "64:ff9b:1::/48"),
        ("2002:7f00:1::1", "2002:7f00::/24"),
        ("2002:a9fe:a9fe::1", "2002:a9fe:a9fe::/48"),
        ("2002:c0a8:101::1", "2002:c0a8::/32"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32"),  # Teredo, RFC 4380's own example
    ],
)
def test_refused_addresses_name_their_range(address, cidr):
    assert refused_by(address) == cidr


@pytest.mark.parametrize(
    "address",
    [
        # Documentation and benchmarking ranges route nowhere; examples and tests use them.
        "192.0.2.10",
        "198.51.100.7",
        "203.0.113.5",
        "198.18.0.1",
        "198.19.255.254",
        "2001:db8::10",
        "3fff::1",
        "2001:2::1",
        # Public addresses, also in the forms that carry them.
        "8.8.8.8",
        "2606:4700::1111",
        "64:ff9b::c000:20a",
        "2002:c000:20a::1",
        # Decided, not refused: former 6to4 relay anycast, global protocol anycast.
        "192.88.99.1",
        "2001:4:112::1",
    ],
)
def test_external_and_documentation_addresses_pass(address):
    assert POLICY.judge(address) is None


@pytest.mark.parametrize("entry", [*BUILT_IN, *KEPT], ids=lambda r: r.cidr)
def test_every_entry_names_what_it_is_and_its_source(entry):
    assert entry.name and entry.source
    assert "RFC" in entry.source or "documentation" in entry.source, entry
    assert str(ipaddress.ip_network(entry.cidr)) == entry.cidr or entry.cidr.startswith("::ffff:")


@pytest.mark.parametrize("entry", BUILT_IN, ids=lambda r: r.cidr)
def test_every_address_of_every_entry_is_refused(entry):
    net = ipaddress.ip_network(entry.cidr)
    for address in (net.network_address, net.broadcast_address, net.network_address + net.num_addresses // 2):
        refusal = POLICY.judge(str(address))
        assert refusal is not None, address
        # The narrowest range is named: it is this entry or one inside it.
        assert ipaddress.ip_network(refusal.range.cidr).subnet_of(net), (address, refusal.range)


@pytest.mark.parametrize("entry", KEPT, ids=lambda r: r.cidr)
def test_kept_ranges_overlap_no_refused_range(entry):
    assert POLICY.judge(entry.cidr) is None


def test_every_refused_ipv4_range_is_refused_in_its_nat64_and_6to4_forms():
    for entry in BUILT_IN:
        for image in images(entry):
            assert refused_by(image.cidr) is not None, image
            assert entry.cidr in image.name and entry.source in image.source
    assert [i.cidr for i in images(Range("127.0.0.0/8", "loopback", "RFC 1122"))] == [
        "64:ff9b::7f00:0/104",
        "2002:7f00::/24",
    ]


def test_a_block_is_refused_when_it_holds_a_refused_range_or_lies_in_one():
    assert refused_by("169.254.169.0/24") == "169.254.0.0/16"
    contains = POLICY.judge("0.0.0.0/0")
    assert contains is not None and "0.0.0.0/0 contains " in str(contains)
    assert "list blocks that leave it out" in str(contains)
    assert refused_by("126.0.0.0/7") == "127.0.0.0/8"
    assert POLICY.judge("126.0.0.0/8") is None


def test_the_message_says_what_the_range_is_its_source_and_why():
    refusal = POLICY.judge("169.254.169.254")
    assert str(refusal).startswith(
        "169.254.169.254 is in 169.254.169.254/32, cloud instance metadata endpoint (AWS, Azure, Google Cloud, "
        "Oracle Cloud, OpenStack) (the providers' documentation; link-local, RFC 3927): not an external destination"
    )
    assert "refused unless an allow_ranges block inside 169.254.169.254/32 accepts it knowingly" in str(refusal)


def test_private_addresses_pass_only_inside_allow_ranges():
    assert refused_by("10.20.0.5") == "10.0.0.0/8"
    assert refused_by("10.20.0.5", allow=["10.20.0.0/16"]) is None
    assert refused_by("10.21.0.5", allow=["10.20.0.0/16"]) == "10.0.0.0/8"
    # NAT64 and 6to4 forms of an allowed block are allowed too: judged as the IPv4 address they carry.
    assert refused_by("64:ff9b::a14:5", allow=["10.20.0.0/16"]) is None
    assert refused_by("fd12::1", allow=["fd12::/16"]) is None


def test_literals_may_be_private_but_not_special_purpose():
    assert POLICY.judge("10.20.0.5", literal=True) is None
    assert POLICY.judge("10.0.0.0/8", literal=True) is None
    assert refused_by("127.0.0.1", literal=True) == "127.0.0.0/8"
    assert refused_by("127.0.0.1", literal=True, allow=["127.0.0.1/32"]) is None


def test_a_broad_allow_range_never_opens_a_narrower_refused_range_inside_it():
    policy = AddressPolicy([SERVICE_CIDR])
    refusal = policy.judge("10.96.0.1", allow=["10.0.0.0/8"])
    assert refusal.range == SERVICE_CIDR
    assert "allow_ranges 10.0.0.0/8 is broader than 10.96.0.0/12, so it does not open it" in str(refusal)
    assert policy.judge("10.96.0.1", allow=["10.96.0.0/24"]) is None
    # The metadata endpoints inside private and link-local ranges need their own block.
    assert refused_by("fd00:ec2::254", allow=["fd00::/8"]) == "fd00:ec2::254/128"
    assert refused_by("169.254.169.254", allow=["169.254.0.0/16"]) == "169.254.169.254/32"
    assert refused_by("100.100.100.200", allow=["100.64.0.0/10"]) == "100.100.100.200/32"


def test_cluster_and_internal_ranges_refuse_literals_too():
    policy = AddressPolicy([SERVICE_CIDR, *internal(["192.0.2.128/25"])])
    assert policy.judge("10.96.0.10", literal=True).range == SERVICE_CIDR
    refusal = policy.judge("192.0.2.200", literal=True)
    assert (refusal.range.kind, refusal.range.source) == (INTERNAL, "internal_ranges[0]")
    assert policy.judge("192.0.2.200", literal=True, allow=["192.0.2.192/26"]) is None
    assert policy.judge("192.0.2.1", literal=True) is None
    # A literal block that holds the Service range is refused whatever allow_ranges say.
    assert policy.judge("10.0.0.0/8", literal=True, allow=["10.0.0.0/8"]).range == SERVICE_CIDR


def test_with_the_guardrail_special_and_cluster_ranges_cannot_be_opened():
    locked = AddressPolicy([SERVICE_CIDR, *internal(["192.0.2.128/25"])], locked=True)
    refusal = locked.judge("169.254.169.254", allow=["169.254.169.254/32"])
    assert "the guardrail denies it for everyone, so allow_ranges cannot open it" in str(refusal)
    assert locked.judge("10.96.0.1", allow=["10.96.0.0/24"]).range == SERVICE_CIDR
    # Private and internal ranges are not the guardrail's: allow_ranges still open them.
    assert locked.judge("10.20.0.5", allow=["10.20.0.0/16"]) is None
    assert locked.judge("192.0.2.200", allow=["192.0.2.128/25"]) is None


def test_the_guardrail_ranges_are_the_special_and_cluster_ones_without_repeats():
    ranges = AddressPolicy([SERVICE_CIDR, *internal(["192.0.2.128/25"])]).guardrail_ranges()
    cidrs = [r.cidr for r in ranges]
    assert {r.kind for r in ranges} == {SPECIAL, CLUSTER}
    assert "10.96.0.0/12" in cidrs and "64:ff9b::a60:0/108" in cidrs
    assert "169.254.0.0/16" in cidrs and "169.254.169.254/32" not in cidrs  # inside link-local
    assert "fd00:ec2::254/128" in cidrs  # inside fc00::/7, which is private, not the guardrail's
    assert "::ffff:0:0/96" not in cidrs  # Kubernetes' CEL does not parse IPv4-mapped blocks
    assert not [c for c in cidrs if c.startswith("192.0.2.")]
    assert len(cidrs) == len(set(cidrs))
    nets = [ipaddress.ip_network(c) for c in cidrs]
    assert not [(a, b) for a in nets for b in nets if a != b and a.version == b.version and a.subnet_of(b)]
    # Every refused special-purpose address is still denied by one of them (but IPv4-mapped, see above).
    for entry in BUILT_IN:
        if entry.kind == SPECIAL and entry.cidr != "::ffff:0:0/96":
            net = ipaddress.ip_network(entry.cidr)
            assert any(net.version == n.version and net.subnet_of(n) for n in nets), entry


def test_blocks_are_parsed_and_named_by_index():
    assert parse_blocks(["10.0.0.1", "fd00::/8", " 192.0.2.0/24 "], "allow_ranges") == (
        ("10.0.0.1/32", "fd00::/8", "192.0.2.0/24"),
        [],
    )
    blocks, problems = parse_blocks(["db.example.com", "10.0.0.1/8", "10.0.0.0/8", "10.0.0.0/8"], "allow_ranges")
    assert blocks == ("10.0.0.0/8",)
    assert problems[0].startswith("allow_ranges[0]: invalid term 'db.example.com': a host name")
    assert problems[1].startswith("allow_ranges[1]: invalid term '10.0.0.1/8': not a valid CIDR block: host bits")
    assert problems[2] == "allow_ranges[3]: 10.0.0.0/8 is listed twice"
    assert parse_blocks("10.0.0.0/8", "internal_ranges")[1] == [
        "internal_ranges: must be a list of CIDR blocks, got str"
    ]


# Decisions documented in docs/docsite/rst/address-policy.rst where the policy differs from ipaddress's
# reading of the registries: allowed although ipaddress calls them not global.
DECIDED_ALLOWED = [
    *(ipaddress.ip_network(r.cidr) for r in KEPT),
    ipaddress.ip_network("2001::/23"),  # global anycast and identifiers; Teredo inside it is refused
    ipaddress.ip_network("2002::/16"),  # 6to4: judged by the IPv4 address it carries
    ipaddress.ip_network("192.88.99.0/24"),  # deprecated 6to4 relay anycast
    ipaddress.ip_network("::/8"),  # reserved, but holds NAT64's well-known prefix: only its listed parts are refused
]


def _not_external(ip) -> bool:
    """ipaddress's own reading: a special address, or not global."""
    special = ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved
    return special or not ip.is_global or (ip.version == 6 and ip.is_site_local)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_what_the_policy_allows_ipaddress_calls_global(ip):
    if POLICY.judge(str(ip)) is None and _not_external(ip):
        assert any(ip.version == n.version and ip in n for n in DECIDED_ALLOWED), ip


@settings(max_examples=2000, deadline=None)
@given(st.ip_addresses(v=4))
def test_an_ipv4_address_and_its_nat64_and_6to4_forms_are_judged_alike(ip):
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(ip))
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80) | 1)
    verdict = POLICY.judge(str(ip)) is None
    assert (POLICY.judge(str(nat64)) is None) == verdict, nat64
    assert (POLICY.judge(str(sixtofour)) is None) == verdict, sixtofour


def test_private_kind_is_refused_only_for_answers():
    for entry in BUILT_IN:
        if entry.kind == PRIVATE:
            address = str(ipaddress.ip_network(entry.cidr).network_address + 1)
            assert POLICY.judge(address, literal=True) is None, entry
            assert refused_by(address) == entry.cidr


def test_only_the_ranges_that_overlap_a_judged_value_are_in_play():
    service = Range("10.96.0.0/12", "the cluster's Service range", "ServiceCIDR kubernetes on context prod", CLUSTER)
    pods = Range("10.244.0.0/16", "a pod range", "spec.podCIDRs of node a on context prod", CLUSTER)
    assert ranges_in_play([service, pods], ["192.0.2.1", "198.51.100.0/24"]) == ()
    assert ranges_in_play([service, pods], ["192.0.2.1", "10.96.0.10"]) == (service,)
    # A block that contains a range overlaps it.
    assert ranges_in_play([service, pods], ["10.0.0.0/8"]) == (service, pods)
    # An IPv6 answer inside an IPv4-embedding image of the range (NAT64).
    assert ranges_in_play([service, pods], ["64:ff9b::10.244.1.1"]) == (pods,)
