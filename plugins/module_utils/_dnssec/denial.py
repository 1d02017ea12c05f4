# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Authenticated denial of existence: what NSEC and NSEC3 records prove.

Pure functions over records whose signatures ``_dnssec`` has already
verified, all from one zone: that a name does not exist (NXDOMAIN), that it
has no record of a type (NODATA), that a wildcard answer stands for a name
that does not exist, and whether a name is an unsigned delegation (no DS).
Each returns None when proven, or why not.

The rules are RFC 4035 section 5.4 and RFC 5155 section 8, with RFC 6840
section 4.1: a record from the parent side of a zone cut (NS without SOA, or
DNAME) says nothing about the names below it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Optional

try:
    import dns.dnssec
    import dns.name
    import dns.rdatatype
except ImportError:  # pragma: no cover - the validator reports a missing dnspython first
    pass

# RFC 9276: validators treat NSEC3 with more iterations than this as insecure (hashing costs them CPU).
MAX_NSEC3_ITERATIONS = 150
_OPT_OUT = 0x01


def types_of(rdata: Any) -> frozenset[int]:
    """The record types of an NSEC or NSEC3 type bitmap."""
    found = set()
    for window, bitmap in rdata.windows:
        for index, byte in enumerate(bitmap):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    found.add(window * 256 + index * 8 + bit)
    return frozenset(found)


@dataclass(frozen=True)
class Proofs:
    """The verified NSEC and NSEC3 records of one zone, as (owner, rdata) pairs."""

    zone: Any
    nsec: tuple[tuple[Any, Any], ...] = ()
    nsec3: tuple[tuple[Any, Any], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.nsec and not self.nsec3

    def high_iterations(self) -> Optional[int]:
        """The iterations of an NSEC3 record above MAX_NSEC3_ITERATIONS, if any (an insecure proof)."""
        counts = [rdata.iterations for _owner, rdata in self.nsec3 if rdata.iterations > MAX_NSEC3_ITERATIONS]
        return max(counts) if counts else None


# --------------------------------------------------------------------------- the proofs

_NO_RECORDS = "no NSEC or NSEC3 record"
# What a DS query's denial says about the name asked.
NOT_A_CUT = "not a zone cut"
UNSIGNED_CUT = "unsigned delegation"


def no_data(proofs: Proofs, qname: Any, rdtype: int) -> Optional[str]:
    """None when the records prove that ``qname`` exists without ``rdtype`` (NODATA), else why not."""
    if proofs.nsec:
        return _nsec_no_data(proofs, qname, rdtype)
    if proofs.nsec3:
        return _nsec3_no_data(proofs, qname, rdtype)
    return _NO_RECORDS


def no_domain(proofs: Proofs, qname: Any) -> Optional[str]:
    """None when the records prove that ``qname`` does not exist, nor a wildcard that would answer for it."""
    if proofs.nsec:
        return _nsec_no_domain(proofs, qname)
    if proofs.nsec3:
        return _nsec3_no_domain(proofs, qname)
    return _NO_RECORDS


def no_name(proofs: Proofs, qname: Any, labels: int) -> Optional[str]:
    """For an answer expanded from a wildcard (its RRSIG counts ``labels`` labels): None when
    the records prove that the name the wildcard answered for does not exist itself."""
    if proofs.nsec:
        if _nsec_covering(proofs, qname) is None:
            return f"no NSEC record proves that {_text(qname)} does not exist"
        return None
    if proofs.nsec3:
        next_closer = qname.split(labels + 2)[1]
        if _nsec3_covering(proofs, next_closer) is None:
            return f"no NSEC3 record proves that {_text(next_closer)} does not exist"
        return None
    return _NO_RECORDS


def no_ds(proofs: Proofs, name: Any) -> tuple[str, str]:
    """(NOT_A_CUT or UNSIGNED_CUT, how it is proven), or ("", why nothing is proven), from the denial
    a DS query for ``name`` got from the zone above it."""
    if proofs.nsec:
        return _nsec_no_ds(proofs, name)
    if proofs.nsec3:
        return _nsec3_no_ds(proofs, name)
    return "", _NO_RECORDS


def _cut(types: frozenset[int], name: Any, proofs: Proofs, kind: str) -> tuple[str, str]:
    """What the parent's record at ``name`` says about a DS there."""
    if dns.rdatatype.DS in types or dns.rdatatype.CNAME in types:
        return "", f"the {kind} record of {_text(name)} lists DS or CNAME"
    if dns.rdatatype.SOA in types:
        return "", f"the {kind} record of {_text(name)} is the child zone's, not its parent's"
    if dns.rdatatype.NS in types:
        return UNSIGNED_CUT, f"{_text(name)} is delegated without DS ({kind} of {_text(proofs.zone)})"
    return NOT_A_CUT, ""


# --------------------------------------------------------------------------- NSEC


def _nsec_no_data(proofs: Proofs, qname: Any, rdtype: int) -> Optional[str]:
    types = _nsec_match(proofs, qname)
    if types is not None:
        return _lacks(types, rdtype, qname, "NSEC")
    if _nsec_empty_non_terminal(proofs, qname):
        return None
    covered = _nsec_covering(proofs, qname)
    if covered is None:
        return f"no NSEC record matches or covers {_text(qname)}"
    # A wildcard's NODATA: the name does not exist, and the wildcard that stands for it lacks the type.
    wildcard = dns.name.from_text("*", _nsec_encloser(qname, covered))
    types = _nsec_match(proofs, wildcard)
    if types is None:
        return f"no NSEC record proves that {_text(qname)} has no {_type(rdtype)} record"
    return _lacks(types, rdtype, wildcard, "NSEC")


def _nsec_no_domain(proofs: Proofs, qname: Any) -> Optional[str]:
    if _nsec_match(proofs, qname) is not None or _nsec_empty_non_terminal(proofs, qname):
        return f"an NSEC record says {_text(qname)} exists"
    covered = _nsec_covering(proofs, qname)
    if covered is None:
        return f"no NSEC record covers {_text(qname)}"
    wildcard = dns.name.from_text("*", _nsec_encloser(qname, covered))
    if _nsec_covering(proofs, wildcard) is None:
        return f"no NSEC record proves that the wildcard {_text(wildcard)} does not exist"
    return None


def _nsec_no_ds(proofs: Proofs, name: Any) -> tuple[str, str]:
    types = _nsec_match(proofs, name, parent_side=True)
    if types is not None:
        return _cut(types, name, proofs, "NSEC")
    if _nsec_empty_non_terminal(proofs, name) or _nsec_no_domain(proofs, name) is None:
        return NOT_A_CUT, ""
    return "", f"no NSEC record of {_text(proofs.zone)} matches or covers {_text(name)}"


def _nsec_match(proofs: Proofs, name: Any, parent_side: bool = False) -> Optional[frozenset[int]]:
    """The types of the NSEC record at ``name``, or None. A record from the parent side of a cut
    only speaks for the DS at that name (``parent_side``)."""
    for owner, rdata in proofs.nsec:
        if owner == name:
            types = types_of(rdata)
            if _is_cut(types) and not parent_side:
                return None
            return types
    return None


def _nsec_covering(proofs: Proofs, name: Any) -> Optional[tuple[Any, Any]]:
    """(owner, next) of an NSEC record proving that ``name`` does not exist, or None."""
    for owner, rdata in proofs.nsec:
        if not _covers(owner, rdata.next, name):
            continue
        if name.is_subdomain(owner) and _is_cut(types_of(rdata)):
            continue  # the parent side of a cut above name: the names below are another zone's
        return owner, rdata.next
    return None


def _nsec_empty_non_terminal(proofs: Proofs, name: Any) -> bool:
    """An NSEC record whose next name is below ``name``: ``name`` exists, with no records (RFC 4035 3.1.3.2)."""
    return any(
        owner < name < rdata.next and rdata.next.is_subdomain(name) and not _is_cut(types_of(rdata))
        for owner, rdata in proofs.nsec
    )


def _nsec_encloser(qname: Any, covering: tuple[Any, Any]) -> Any:
    """The closest encloser of a name an NSEC record covers: the longest ancestor it shares with either end."""
    owner, following = covering
    shared = [qname.fullcompare(owner)[2], qname.fullcompare(following)[2]]
    return qname.split(max(shared))[1]


def _covers(owner: Any, following: Any, name: Any) -> bool:
    if owner < following:
        return owner < name < following
    return owner < name or name < following  # the last record: its next name is the apex


# --------------------------------------------------------------------------- NSEC3


def _nsec3_no_data(proofs: Proofs, qname: Any, rdtype: int) -> Optional[str]:
    types = _nsec3_match(proofs, qname)
    if types is not None:
        return _lacks(types, rdtype, qname, "NSEC3")
    encloser = _nsec3_closest_encloser(proofs, qname)
    if encloser is None:
        return f"no NSEC3 record matches {_text(qname)} or proves its closest encloser"
    wildcard = dns.name.from_text("*", encloser[0])
    types = _nsec3_match(proofs, wildcard)
    if types is None:
        return f"no NSEC3 record proves that {_text(qname)} has no {_type(rdtype)} record"
    return _lacks(types, rdtype, wildcard, "NSEC3")


def _nsec3_no_domain(proofs: Proofs, qname: Any) -> Optional[str]:
    encloser = _nsec3_closest_encloser(proofs, qname)
    if encloser is None or encloser[0] == qname:
        return f"no NSEC3 record proves the closest encloser of {_text(qname)}"
    if _nsec3_covering(proofs, dns.name.from_text("*", encloser[0])) is None:
        return f"no NSEC3 record proves that the wildcard *.{_text(encloser[0])} does not exist"
    return None


def _nsec3_no_ds(proofs: Proofs, name: Any) -> tuple[str, str]:
    types = _nsec3_match(proofs, name, parent_side=True)
    if types is not None:
        return _cut(types, name, proofs, "NSEC3")
    encloser = _nsec3_closest_encloser(proofs, name)
    if encloser is None:
        return "", f"no NSEC3 record of {_text(proofs.zone)} matches {_text(name)} or proves its closest encloser"
    if encloser[2]:
        # RFC 5155 section 6: an opt-out span may hold unsigned delegations.
        return UNSIGNED_CUT, f"{_text(name)} is in an NSEC3 opt-out span of {_text(proofs.zone)}"
    return NOT_A_CUT, ""


def _hash(name: Any, rdata: Any) -> str:
    return dns.dnssec.nsec3_hash(name, rdata.salt, rdata.iterations, rdata.algorithm).lower()


def _next_hash(rdata: Any) -> str:
    return base64.b32encode(rdata.next).decode().translate(_B32_TO_HEX).lower()


_B32_TO_HEX = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHIJKLMNOPQRSTUV")


def _nsec3_match(proofs: Proofs, name: Any, parent_side: bool = False) -> Optional[frozenset[int]]:
    for owner, rdata in proofs.nsec3:
        if owner[0].decode().lower() == _hash(name, rdata):
            types = types_of(rdata)
            if _is_cut(types) and not parent_side:
                return None
            return types
    return None


def _nsec3_covering(proofs: Proofs, name: Any) -> Optional[Any]:
    """The NSEC3 rdata whose span covers the hash of ``name``, or None."""
    for owner, rdata in proofs.nsec3:
        hashed, start, end = _hash(name, rdata), owner[0].decode().lower(), _next_hash(rdata)
        if (start < hashed < end) if start < end else (hashed > start or hashed < end):
            return rdata
    return None


def _nsec3_closest_encloser(proofs: Proofs, qname: Any) -> Optional[tuple[Any, Any, bool]]:
    """(closest encloser, next closer name, opt-out) of ``qname`` (RFC 5155 8.3), or None.

    The closest encloser is the longest ancestor (or the name itself) that a
    record matches; the next closer name, one label longer, must be covered.
    A name that matches is its own closest encloser, with no next closer.
    """
    if _nsec3_match(proofs, qname, parent_side=True) is not None:
        return qname, None, False
    candidate = qname
    while candidate != proofs.zone and candidate.is_subdomain(proofs.zone):
        parent = candidate.parent()
        for owner, rdata in proofs.nsec3:
            if owner[0].decode().lower() != _hash(parent, rdata):
                continue
            types = types_of(rdata)
            if _is_cut(types) and parent != proofs.zone:
                return None  # the parent side of a cut: the names below are another zone's
            covering = _nsec3_covering(proofs, candidate)
            if covering is None:
                return None
            return parent, candidate, bool(covering.flags & _OPT_OUT)
        candidate = parent
    return None


# --------------------------------------------------------------------------- helpers


def _is_cut(types: frozenset[int]) -> bool:
    """A record from the parent side of a zone cut, or a DNAME: not about the names below it."""
    return (dns.rdatatype.NS in types and dns.rdatatype.SOA not in types) or dns.rdatatype.DNAME in types


def _lacks(types: frozenset[int], rdtype: int, owner: Any, kind: str) -> Optional[str]:
    if rdtype in types:
        return f"the {kind} record of {_text(owner)} lists {_type(rdtype)}"
    if dns.rdatatype.CNAME in types:
        return f"the {kind} record of {_text(owner)} lists CNAME"
    return None


def _type(rdtype: int) -> str:
    return dns.rdatatype.to_text(rdtype)


def _text(name: Any) -> str:
    return name.to_text(omit_final_dot=True).lower()
