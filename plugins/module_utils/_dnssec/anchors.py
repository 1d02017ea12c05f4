# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNSSEC trust anchors: the IANA root keys shipped with the collection, and
the ``trust_anchors`` option that replaces them.

An anchor is a DS or DNSKEY record in presentation format, as ``dig``,
``keymgr <zone> ds`` or a registrar show it::

    partner.example. 3600 IN DS 12345 13 2 5F2A...
    partner.example. DNSKEY 257 3 13 mdsswUyr3DPW...

TTL and class are optional; the owner is absolute with or without its final
dot. One option item may hold several records, one a line (a file's
content); ``;`` starts a comment. The word ``root`` stands for the root
anchors below, so a partner's key can be pinned next to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional

from .._errors import MissingLibraryError, OptionError

try:
    import dns.dnssec
    import dns.exception
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - exercised only where dnspython is missing
    HAS_DNSPYTHON = False

# The root zone's key-signing keys as IANA publishes them: KSK-2017 (key tag
# 20326) and KSK-2024 (key tag 38696), which signs the root since 2026-10-11;
# 20326 is due to be revoked on 2027-01-11. Both stay here until a release
# after that date drops 20326. Replace them with the option trust_anchors.
ROOT_ANCHORS = (
    ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    ". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
)
ROOT_SOURCE = (
    "https://data.iana.org/root-anchors/root-anchors.xml (the same digests in Debian's dns-root-data "
    "2024071801, /usr/share/dns/root.ds)"
)
ROOT_CHECKED = "2026-12-06"
# The option's word for ROOT_ANCHORS.
ROOT_WORD = "root"

# DS digest types dnspython computes (RFC 3658, 4509, 6605).
DIGESTS = (1, 2, 4)
# DNSKEY algorithms dnspython validates with cryptography (RFC 8624 minus what it deprecates).
ALGORITHMS = (5, 7, 8, 10, 13, 14, 15, 16)
ZONE_FLAG = 0x0100
REVOKE_FLAG = 0x0080


@dataclass(frozen=True)
class Anchor:
    """The anchors of one zone: DS records (digests of its key) and DNSKEY records (the key itself)."""

    zone: Any  # dns.name.Name
    ds: tuple[Any, ...] = ()
    dnskeys: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TrustAnchors:
    """Anchors by zone; ``closest(name)`` is the one a name's chain of trust starts from."""

    anchors: tuple[Anchor, ...]
    # The records as given, for messages and for comparing option values.
    texts: tuple[str, ...] = ()

    def closest(self, name: Any) -> Optional[Anchor]:
        """The anchor of the deepest zone at or above ``name``; None when no anchor covers it."""
        by_zone = {anchor.zone: anchor for anchor in self.anchors}
        while True:
            if name in by_zone:
                return by_zone[name]
            if name == dns.name.root:
                return None
            name = name.parent()

    def describe(self, anchor: Anchor) -> str:
        tags = sorted({r.key_tag for r in anchor.ds} | {dns.dnssec.key_id(k) for k in anchor.dnskeys})
        return f"trust anchor {_text(anchor.zone)} (key tag {', '.join(map(str, tags))})"


def parse_trust_anchors(value: Any, field: str = "trust_anchors") -> TrustAnchors:
    """The option's value (None or an empty list: the root anchors), checked; errors name the item."""
    if not HAS_DNSPYTHON:
        raise MissingLibraryError("dnspython", "to validate DNSSEC")
    if value is None or value == []:
        value = [ROOT_WORD]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise OptionError(f"{field}: expected a list of DS or DNSKEY records, got {type(value).__name__}")
    records: list[tuple[Any, Any]] = []
    texts: list[str] = []
    problems: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            problems.append(f"{field}[{index}]: expected a DS or DNSKEY record as text, got {type(item).__name__}")
            continue
        lines = [line.split(";", 1)[0].strip() for line in item.splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            problems.append(f"{field}[{index}]: empty; give a DS or DNSKEY record, or {ROOT_WORD!r}")
        for line in lines:
            if line == ROOT_WORD:
                records += [_record(text) for text in ROOT_ANCHORS]
                texts += ROOT_ANCHORS
                continue
            try:
                records.append(_record(line))
            except ValueError as exc:
                problems.append(f"{field}[{index}]: {line!r}: {exc}")
                continue
            texts.append(line)
    if problems:
        raise OptionError("; ".join(problems))
    zones: dict[Any, tuple[list[Any], list[Any]]] = {}
    for owner, rdata in records:
        ds, keys = zones.setdefault(owner, ([], []))
        (ds if rdata.rdtype == dns.rdatatype.DS else keys).append(rdata)
    anchors = tuple(Anchor(zone, tuple(ds), tuple(keys)) for zone, (ds, keys) in zones.items())
    return TrustAnchors(anchors, tuple(dict.fromkeys(texts)))


def root_anchors() -> TrustAnchors:
    return parse_trust_anchors(None)


def _record(text: str) -> tuple[Any, Any]:
    """(owner, rdata) of one DS or DNSKEY record; ValueError says what is wrong."""
    tokens = text.split()
    if len(tokens) < 3:
        raise ValueError("expected '<zone> [ttl] [IN] DS|DNSKEY <data>'")
    try:
        owner = dns.name.from_text(tokens[0], origin=dns.name.root)
    except dns.exception.DNSException as exc:
        raise ValueError(f"the zone {tokens[0]!r} is not a domain name ({exc})") from None
    rest = tokens[1:]
    if rest and rest[0].isdigit():
        rest = rest[1:]  # a TTL means nothing for an anchor
    if rest and rest[0].upper() == "IN":
        rest = rest[1:]
    if not rest or rest[0].upper() not in ("DS", "DNSKEY"):
        raise ValueError("only DS and DNSKEY records are trust anchors")
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, rest[0].upper(), " ".join(rest[1:]))
    except (dns.exception.DNSException, ValueError) as exc:
        raise ValueError(f"not a valid {rest[0].upper()} record ({exc})") from None
    if rdata.rdtype == dns.rdatatype.DS:
        if rdata.digest_type not in DIGESTS:
            raise ValueError(f"digest type {rdata.digest_type} is not supported (use one of {_listed(DIGESTS)})")
    else:
        if not rdata.flags & ZONE_FLAG:
            raise ValueError("the DNSKEY is not a zone key (flag 256 is not set)")
        if rdata.flags & REVOKE_FLAG:
            raise ValueError("the DNSKEY is revoked (flag 128 is set)")
    if rdata.algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm {int(rdata.algorithm)} is not supported (use one of {_listed(ALGORITHMS)})")
    return owner, rdata


def _listed(numbers: Iterable[int]) -> str:
    return ", ".join(map(str, numbers))


def _text(name: Any) -> str:
    text = name.to_text(omit_final_dot=True).lower()
    return text or "."
