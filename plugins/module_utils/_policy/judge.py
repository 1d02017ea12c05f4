# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which destinations an egress rule never allows, and the judge of one address.

DNS answers become allow rules for every pod of a namespace, so an answer that
points inside the node (loopback, the cloud metadata endpoint), the cluster or
its network would open exactly what egress rules are meant to close. This is
the one list of refused ranges, each with its source; the judge, the
messages and the guardrail's admission policy (``_guardrail``) all read it.

The reference is IANA's IPv4 and IPv6 Special-Purpose Address Registries
(RFC 6890 and its updates). Kinds of range:

- ``special-purpose``: not an external destination, refused for DNS
  answers and for the rule set's own literals alike.
- ``private``: RFC 1918, shared address space, unique local. Where legacy
  databases live, where a SaaS partner never does: refused for DNS answers
  unless the service's ``allow_ranges`` open them; a literal written in the
  rule set is the user's own word and is not refused for being private.
- ``cluster``: the Service and pod ranges the cluster reports (``_policy.internal``).
- ``internal``: the ``internal_ranges`` option, what the cluster cannot tell.

An IPv6 address that carries an IPv4 address in fixed bits (NAT64's
well-known prefix, 6to4) is judged by the IPv4 address it carries: every
IPv4 range is refused in those forms too. The forms that cannot be judged
that way are refused as a whole: IPv4-mapped (never a destination on the
wire, and Kubernetes' CEL refuses to parse it), IPv4-compatible (deprecated),
Teredo (the client address is obfuscated and split from its server, so no
CIDR block can describe a refused one), local-use NAT64 (its IPv4 bits depend
on the operator's prefix length, RFC 6052 §2.2).

``allow_ranges`` open a refused range only with a block inside that range,
so allowing a private network never opens the cluster's Service range or a
metadata address inside it. With the guardrail on, special-purpose and
cluster ranges cannot be opened at all: the admission policy denies them for
everyone, this run included. See docs/docsite/rst/address-policy.rst.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

from .._terms import KIND_NAME, TermError, ip_text, parse_term

SPECIAL = "special-purpose"
PRIVATE = "private"
CLUSTER = "cluster"
INTERNAL = "internal"

# Why each kind is refused, as the messages say it.
KIND_WHY = {
    SPECIAL: "not an external destination",
    PRIVATE: "a private address",
    CLUSTER: "inside the cluster",
    INTERNAL: "declared internal",
}
# Kinds the guardrail's admission policy denies for everyone (private and
# internal ranges hold legacy databases that services open with allow_ranges).
GUARDRAIL_KINDS = (SPECIAL, CLUSTER)

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True)
class Range:
    """One refused range: the block, what it is, where that is written, and its kind."""

    cidr: str
    name: str
    source: str
    kind: str = SPECIAL

    def __str__(self) -> str:
        return f"{self.cidr}, {self.name} ({self.source})"


# IANA IPv4 Special-Purpose Address Registry entries that are not external
# destinations, plus the metadata endpoints inside them (their own entries,
# so that opening a wider block never opens them).
SPECIAL_IPV4 = (
    Range("0.0.0.0/8", '"this network", with the unspecified address 0.0.0.0', "RFC 791 §3.2, RFC 1122 §3.2.1.3"),
    Range("127.0.0.0/8", "loopback", "RFC 1122 §3.2.1.3"),
    Range("169.254.0.0/16", "link-local", "RFC 3927"),
    Range(
        "169.254.169.254/32",
        "cloud instance metadata endpoint (AWS, Azure, Google Cloud, Oracle Cloud, OpenStack)",
        "the providers' documentation; link-local, RFC 3927",
    ),
    Range(
        "100.100.100.200/32",
        "Alibaba Cloud instance metadata endpoint",
        "Alibaba Cloud ECS documentation; shared address space, RFC 6598",
    ),
    # DS-Lite tunnel ends, the IPv4 dummy address and NAT64 discovery are
    # host- or network-internal; its two global anycast /32s (PCP, TURN) are
    # protocol services, never a rule set's destination.
    Range(
        "192.0.0.0/24", "IETF protocol assignments (DS-Lite, NAT64 discovery, PCP and TURN anycast)", "RFC 6890 §2.1"
    ),
    Range("224.0.0.0/4", "multicast", "RFC 5771"),
    Range("240.0.0.0/4", "reserved", "RFC 1112 §4"),
    Range("255.255.255.255/32", "limited broadcast", "RFC 919 §7, RFC 8190"),
)

PRIVATE_IPV4 = (
    Range("10.0.0.0/8", "private-use", "RFC 1918", PRIVATE),
    Range("172.16.0.0/12", "private-use", "RFC 1918", PRIVATE),
    Range("192.168.0.0/16", "private-use", "RFC 1918", PRIVATE),
    Range("100.64.0.0/10", "shared address space (carrier-grade NAT)", "RFC 6598", PRIVATE),
)

SPECIAL_IPV6 = (
    Range("::/128", "unspecified", "RFC 4291 §2.5.2"),
    Range("::1/128", "loopback", "RFC 4291 §2.5.3"),
    Range("::/96", "IPv4-compatible (deprecated), with the unspecified and loopback addresses", "RFC 4291 §2.5.5.1"),
    Range("::ffff:0:0/96", "IPv4-mapped", "RFC 4291 §2.5.5.2"),
    Range("64:ff9b:1::/48", "local-use IPv4/IPv6 translation", "RFC 8215"),
    # Discarded by design; operators may sink it to a monitoring host of their own.
    Range("100::/64", "discard-only", "RFC 6666"),
    Range("2001::/32", "Teredo, its client address obfuscated", "RFC 4380 §4"),
    Range("fe80::/10", "link-local", "RFC 4291 §2.5.6"),
    Range("fec0::/10", "site-local (deprecated)", "RFC 3879"),
    Range("ff00::/8", "multicast", "RFC 4291 §2.7"),
    # Outside global unicast (2000::/3), what IANA's IPv6 address space registry keeps reserved by the IETF, as
    # 240.0.0.0/4 for IPv4. ::/8 is reserved too but holds the NAT64 well-known prefix: only its parts above count.
    *(
        Range(cidr, "reserved by the IETF (outside global unicast)", "RFC 4291 §2.4; IANA IPv6 Address Space")
        for cidr in (
            "100::/8",
            "200::/7",
            "400::/6",
            "800::/5",
            "1000::/4",
            "4000::/2",
            "8000::/2",
            "c000::/3",
            "e000::/4",
            "f000::/5",
            "f800::/6",
            "fe00::/9",
        )
    ),
    Range("fd00:ec2::254/128", "AWS instance metadata endpoint (IPv6)", "Amazon EC2 documentation; unique local"),
    Range(
        "fd20:ce::254/128", "Google Cloud metadata server (IPv6)", "Google Compute Engine documentation; unique local"
    ),
)

PRIVATE_IPV6 = (Range("fc00::/7", "unique local", "RFC 4193", PRIVATE),)

# IPv6 forms with an IPv4 address in fixed bits: (prefix, first bit of the IPv4 address, name, source).
EMBEDDINGS = (
    ("64:ff9b::/96", 96, "NAT64 well-known prefix", "RFC 6052 §2.1"),
    ("2002::/16", 16, "6to4", "RFC 3056 §2"),
)

# Special-purpose ranges that stay allowed: they route nowhere, and examples
# and tests use them. Listed for the documentation and the tests.
KEPT = (
    Range("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
    Range("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
    Range("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
    Range("198.18.0.0/15", "benchmarking", "RFC 2544"),
    Range("2001:db8::/32", "documentation", "RFC 3849"),
    Range("3fff::/20", "documentation", "RFC 9637"),
    Range("2001:2::/48", "benchmarking", "RFC 5180"),
)

BUILT_IN = SPECIAL_IPV4 + PRIVATE_IPV4 + SPECIAL_IPV6 + PRIVATE_IPV6


def network(value: str) -> Network:
    """An address (as a /32 or /128) or CIDR block; raise ValueError when it is neither."""
    return ipaddress.ip_network(value, strict=True)


def parse_blocks(values: Any, field: str) -> tuple[tuple[str, ...], list[str]]:
    """A list of IP addresses and CIDR blocks (allow_ranges, internal_ranges) in normal CIDR form,
    and one problem per entry that is not one, each naming ``field[index]``."""
    blocks, problems = parse_blocks_at(values, field)
    return blocks, [f"{where}: {message}" for where, message in problems]


def parse_blocks_at(values: Any, field: str) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    """As ``parse_blocks``, each problem as (``field[index]``, message)."""
    if values is None:
        return (), []
    if not isinstance(values, (list, tuple)):
        return (), [(field, f"must be a list of CIDR blocks, got {type(values).__name__}")]
    blocks: list[str] = []
    problems: list[tuple[str, str]] = []
    for index, value in enumerate(values):
        try:
            term = parse_term(value, allow_mixed_scripts=True)
            if term.kind == KIND_NAME:
                raise TermError([(value, "a host name; give IP addresses or CIDR blocks")])
        except TermError as exc:
            problems.append((f"{field}[{index}]", str(exc)))
            continue
        cidr = ip_text(network(term.value))
        if cidr in blocks:
            problems.append((f"{field}[{index}]", f"{cidr} is listed twice"))
        else:
            blocks.append(cidr)
    return tuple(blocks), problems


def internal(blocks: Iterable[str]) -> tuple[Range, ...]:
    """The internal_ranges option as ranges, each naming its place in the option."""
    return tuple(Range(cidr, "internal range", f"internal_ranges[{i}]", INTERNAL) for i, cidr in enumerate(blocks))


def images(refused: Range) -> list[Range]:
    """An IPv4 range in the IPv6 forms that carry an IPv4 address (none for an IPv6 range)."""
    net = network(refused.cidr)
    if net.version != 4:
        return []
    out = []
    for prefix, offset, form, source in EMBEDDINGS:
        base = int(ipaddress.IPv6Network(prefix).network_address)
        value = base | (int(net.network_address) << (128 - offset - 32))
        cidr = ipaddress.IPv6Network((value, offset + net.prefixlen))
        out.append(
            Range(
                ip_text(cidr),
                f"{refused.cidr} ({refused.name}) in {form} form",
                f"{refused.source}; {source}",
                refused.kind,
            )
        )
    return out


def with_images(ranges: Iterable[Range]) -> list[Range]:
    """Every range, followed by its IPv4-embedding images."""
    return [item for refused in ranges for item in (refused, *images(refused))]


def ranges_in_play(ranges: Iterable[Range], values: Iterable[str]) -> tuple[Range, ...]:
    """The ranges (or their IPv4-embedding images) that overlap one of ``values`` (addresses and blocks, as
    they are judged): only these can refuse one of them, so only these can change what is rendered."""
    nets = [_Net.parse(v) for v in set(values)]
    found = []
    for given in ranges:
        images_of = [_Net.of(network(r.cidr)) for r in (given, *images(given))]
        if any(net.overlaps(image) for image in images_of for net in nets):
            found.append(given)
    return tuple(found)


@dataclass(frozen=True)
class Refusal:
    """Why one address or block is refused: the range it falls in (or contains), explained."""

    value: str
    range: Range
    why: str

    def __str__(self) -> str:
        return self.why


@dataclass(frozen=True)
class _Net:
    version: int
    first: int
    last: int
    prefixlen: int

    @classmethod
    def of(cls, net: Network) -> _Net:
        return cls(net.version, int(net.network_address), int(net.broadcast_address), net.prefixlen)

    @classmethod
    @functools.lru_cache(maxsize=1 << 16)
    def parse(cls, value: str) -> _Net:
        """An address or CIDR block; an address is parsed as one (faster than a network: DNS answers are many).
        Cached per process: every cluster of a run judges the same answers."""
        if "/" in value:
            return cls.of(network(value))
        address = ipaddress.ip_address(value)
        return cls(address.version, int(address), int(address), address.max_prefixlen)

    def within(self, other: _Net) -> bool:
        return self.version == other.version and other.first <= self.first and self.last <= other.last

    def overlaps(self, other: _Net) -> bool:
        # Two CIDR blocks overlap only when one contains the other.
        return self.version == other.version and self.first <= other.last and other.first <= self.last


class AddressPolicy:
    """The refused ranges of one run: the built-in ones, the cluster's, the internal ones.

    ``locked`` (the guardrail is on): special-purpose and cluster ranges
    cannot be opened by allow_ranges.
    """

    def __init__(self, extra: Iterable[Range] = (), locked: bool = False) -> None:
        self.locked = locked
        ranges = with_images([*BUILT_IN, *extra])
        # Most specific first, so that a message names the narrowest range (the metadata endpoint, not link-local).
        self.ranges = tuple(sorted(ranges, key=lambda r: -network(r.cidr).prefixlen))
        nets = [(_Net.of(network(r.cidr)), r) for r in self.ranges]
        self._nets = {version: tuple(item for item in nets if item[0].version == version) for version in (4, 6)}

    def of_kind(self, *kinds: str) -> list[Range]:
        return [r for r in self.ranges if r.kind in kinds]

    def judge(self, value: str, *, literal: bool = False, allow: Sequence[str] = ()) -> Optional[Refusal]:
        """The refusal of an address or CIDR block, or None when it may be allowed.

        ``literal``: written in the rule set (private ranges do not refuse it).
        ``allow``: the service's allow_ranges, CIDR blocks in normal form.
        """
        target = _Net.parse(value)
        first, last = target.first, target.last
        candidates = [
            (n, r)
            for n, r in self._nets[target.version]
            if n.first <= last and first <= n.last and not (literal and r.kind == PRIVATE)
        ]
        if not candidates:
            return None
        opened = _opened(tuple(allow))
        # The narrowest range the value lies in explains it best; else the broadest range inside it.
        inside = [(n, r) for n, r in candidates if target.prefixlen >= n.prefixlen]
        holds = sorted(((n, r) for n, r in candidates if target.prefixlen < n.prefixlen), key=lambda i: i[0].prefixlen)
        for net, refused in inside + holds:
            why = KIND_WHY[refused.kind]
            if target.prefixlen < net.prefixlen:
                return Refusal(value, refused, f"{value} contains {refused}: {why}; list blocks that leave it out")
            if self.locked and refused.kind in GUARDRAIL_KINDS:
                why += "; the guardrail denies it for everyone, so allow_ranges cannot open it"
                return Refusal(value, refused, f"{value} is in {refused}: {why}")
            if any(target.within(block) and block.within(net) for _cidr, block in opened):
                continue
            # One sentence: what the range is, then the one way a service opens it.
            why += f", refused unless an allow_ranges block inside {refused.cidr} accepts it knowingly"
            broader = [cidr for cidr, block in opened if target.within(block)]
            if broader:
                why += f" (allow_ranges {broader[0]} is broader than {refused.cidr}, so it does not open it)"
            return Refusal(value, refused, f"{value} is in {refused}: {why}")
        return None

    def guardrail_ranges(self) -> list[Range]:
        """What the guardrail denies for everyone: the special-purpose and cluster ranges, less
        those inside another one, and less IPv4-mapped blocks, which Kubernetes' CEL does not
        parse (the policy denies every address it cannot parse instead)."""
        outer: list[tuple[_Net, Range]] = []
        for refused in sorted(self.of_kind(*GUARDRAIL_KINDS), key=lambda r: network(r.cidr).prefixlen):
            net = _Net.of(network(refused.cidr))
            if not _mapped(refused.cidr) and not any(net.within(other) for other, _r in outer):
                outer.append((net, refused))
        return sorted((r for _net, r in outer), key=lambda r: (r.kind != SPECIAL, _sort_key(network(r.cidr))))


@functools.lru_cache(maxsize=256)
def _opened(allow: tuple[str, ...]) -> tuple[tuple[str, _Net], ...]:
    """allow_ranges with their IPv4-embedding images: an IPv4 block opens its NAT64 and 6to4 forms too."""
    return tuple((cidr, _Net.of(network(r.cidr))) for cidr in allow for r in with_images([Range(cidr, "", "")]))


def _mapped(cidr: str) -> bool:
    net = network(cidr)
    return isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None


def _sort_key(net: Network) -> tuple[int, int, int]:
    return net.version, int(net.network_address), net.prefixlen
