# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNSSEC validation of the resolver's answers, without I/O.

A ``Validator`` judges each RRset the resolver uses (every CNAME hop, every
A and AAAA answer) and each denial (NXDOMAIN, NODATA) along a chain of trust
from an anchor (``_dnssec.anchors``): DNSKEY and DS records are asked for as
needed, through the ``Io`` the resolution hands in (so they go to the same
nameservers, within the same time budget), and kept for the run. A verdict
is one of:

- ``secure``: a valid signature by a key the chain of trust reaches;
- ``insecure``: proven unsigned: a delegation without DS (NSEC or NSEC3 of
  the signed parent say so), an NSEC3 opt-out span, an algorithm this
  validator does not know, or no trust anchor above the name;
- ``bogus``: anything else: no signature where the zone is signed, a
  signature over other data, a key the chain does not reach, an expired or
  not yet valid signature, a revoked key, a wildcard expansion without proof
  that the name itself does not exist, a denial without proof.

``dns.dnssec.validate_rrsig`` checks one signature with one key set; the
rest is done here: which keys are trusted (DS to DNSKEY, revoked keys never),
that the signer's zone owns the name, that the RRSIG covers the RRset's type
(dnspython 2.6 does not check it), wildcard expansions, and the TTL, capped
at the signature's original TTL and its expiry.

Like ``_dns.engine``, every method that needs the network is a generator:
it yields what ``Io.ask`` and ``Io.wait`` yield and returns its result.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

from .._errors import MissingLibraryError
from .anchors import ALGORITHMS, DIGESTS, REVOKE_FLAG, ZONE_FLAG, Anchor, TrustAnchors
from .denial import NOT_A_CUT, UNSIGNED_CUT, Proofs, no_data, no_domain, no_ds, no_name

try:
    import dns.dnssec
    import dns.name
    import dns.rcode
    import dns.rdataclass
    import dns.rdataset
    import dns.rdatatype

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - exercised only where dnspython is missing
    HAS_DNSPYTHON = False

try:
    from cryptography.exceptions import InvalidSignature

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - exercised only where cryptography is missing
    HAS_CRYPTOGRAPHY = False

try:
    import dns.dnssecalgs

    # What validate_rrsig hashes and verifies; called directly with each zone's keys decoded
    # once for the run, it saves a third of the time a signature takes (docs/docsite/rst/performance.rst).
    # Where dnspython has no such function, validate_rrsig does the same, slower.
    _SIGNATURE_DATA = getattr(dns.dnssec, "_make_rrsig_signature_data", None)
except ImportError:  # pragma: no cover - dnspython < 2.5
    _SIGNATURE_DATA = None

SECURE = "secure"
INSECURE = "insecure"
BOGUS = "bogus"
# Strongest first: a chain is as strong as its weakest link.
STATUSES = (SECURE, INSECURE, BOGUS)


@dataclass(frozen=True)
class Verdict:
    """What DNSSEC says about one RRset, one denial, or a host's whole answer."""

    status: str
    reason: str
    # The longest the answer may be trusted, in seconds: the signature's original TTL and
    # the time left before it expires (None: no signature counted).
    ttl: Optional[int] = None
    # False when the verdict comes from a failed query, which a retry may not repeat.
    lasting: bool = True


def secure(zone: _Zone, ttl: Optional[int]) -> Verdict:
    return Verdict(SECURE, zone.name, ttl)


def weakest(verdicts: Iterable[Verdict]) -> Optional[Verdict]:
    """One verdict for several (a CNAME chain, both families): the weakest status, its reasons
    (for secure: the zones that signed), the smallest TTL."""
    found = list(verdicts)
    if not found:
        return None
    status = max((v.status for v in found), key=STATUSES.index)
    reasons = list(dict.fromkeys(v.reason for v in found if v.status == status and v.reason))
    reason = f"signed by {', '.join(reasons)}" if status == SECURE else "; ".join(reasons)
    ttls = [v.ttl for v in found if v.ttl is not None]
    return Verdict(status, reason, min(ttls) if ttls else None, all(v.lasting for v in found))


class Io(Protocol):
    """The network, as a resolution offers it to the validator."""

    def ask(self, qname: Any, rdtype: int) -> Generator[Any, Any, tuple[Any, str]]:
        """(response, "") or (None, why the query failed)."""

    def wait(self) -> Generator[Any, Any, bool]:
        """Let another resolution finish what this one needs; False when the time budget is used up."""


@dataclass(frozen=True)
class _Zone:
    """What the chain of trust says about a name: secure inside ``zone`` (with its trusted
    keys), insecure (below the unsigned cut ``zone``), or bogus."""

    status: str
    zone: Any = None
    keys: Any = None  # the zone's DNSKEY rdataset, revoked keys left out
    reason: str = ""
    lasting: bool = True
    # (key tag, algorithm) -> the keys decoded for cryptography (secure zones, _SIGNATURE_DATA)
    verifiers: Optional[dict[tuple[int, int], list[Any]]] = None

    @functools.cached_property
    def name(self) -> str:
        return _text(self.zone)


_PENDING = object()


class Validator:
    """DNSSEC validation for one group of nameservers, with a cache of the chain for the run."""

    def __init__(self, anchors: TrustAnchors, clock: Callable[[], float] = time.time) -> None:
        if not HAS_DNSPYTHON:
            raise MissingLibraryError("dnspython", "to validate DNSSEC")
        if not HAS_CRYPTOGRAPHY:
            raise MissingLibraryError("cryptography", "to validate DNSSEC signatures")
        self.anchors = anchors
        self.clock = clock
        self._zones: dict[Any, Any] = {}

    # ----------------------------------------------------------------- answers

    def answer(self, io: Io, rrset: Any, response: Any) -> Generator[Any, Any, Verdict]:
        """The verdict on one RRset of a response's answer section (an A, AAAA or CNAME)."""
        sigs = _signatures(response.answer, rrset.name, rrset.rdtype)
        problems = []
        for sig in sigs:
            problem = _sig_problem(rrset, sig)
            if problem:
                problems.append(problem)
                continue
            zone = self._zones.get(sig.signer)
            if zone is None or zone is _PENDING or zone.zone != sig.signer:
                zone = yield from self._keys_of(io, sig.signer)
            if zone.status != SECURE:
                problems.append(zone.reason)
                continue
            failure = self._verify(rrset, sig, zone, checked=True)
            if failure:
                problems.append(failure)
                continue
            ttl = self._ttl(rrset, sig)
            if sig.labels < len(rrset.name) - 1:
                proofs = self._proofs(response.authority, zone)
                missing = no_name(proofs, rrset.name, sig.labels)
                if missing:
                    problems.append(f"{_rrset(rrset)} is a wildcard expansion without proof: {missing}")
                    continue
            return secure(zone, ttl)
        if not sigs:
            problems.append(f"no RRSIG over {_rrset(rrset)}")
        return (yield from self._unproven(io, rrset.name, problems))

    def denial(self, io: Io, qname: Any, rdtype: int, response: Any) -> Generator[Any, Any, Verdict]:
        """The verdict on a response that says ``qname`` does not exist (NXDOMAIN) or has no ``rdtype`` (NODATA)."""
        nxdomain = response.rcode() == dns.rcode.NXDOMAIN
        what = f"NXDOMAIN for {_text(qname)}" if nxdomain else f"NODATA for {_text(qname)} {_type(rdtype)}"
        signers = {
            rdata.signer
            for rrset in response.authority
            if rrset.rdtype == dns.rdatatype.RRSIG and rrset.rdclass == dns.rdataclass.IN
            for rdata in rrset
            if rdata.type_covered in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)
        }
        problems = []
        for signer in sorted(signers):
            if not qname.is_subdomain(signer):
                problems.append(f"{what}: the denial is signed by {_text(signer)}, which does not own the name")
                continue
            zone = yield from self._keys_of(io, signer)
            if zone.status != SECURE:
                problems.append(zone.reason)
                continue
            proofs = self._proofs(response.authority, zone)
            iterations = proofs.high_iterations()
            if iterations is not None:
                return Verdict(INSECURE, f"{what}: NSEC3 with {iterations} iterations (RFC 9276: treated as unsigned)")
            missing = no_domain(proofs, qname) if nxdomain else no_data(proofs, qname, rdtype)
            if missing:
                problems.append(f"{what} is not proven: {missing}")
                continue
            return secure(zone, None)  # a denial bounds no address's lifetime
        if not signers:
            problems.append(f"{what} without signed NSEC or NSEC3 records")
        return (yield from self._unproven(io, qname, problems))

    def _unproven(self, io: Io, name: Any, problems: list[str]) -> Generator[Any, Any, Verdict]:
        """No signature proves it: insecure only where the chain of trust proves the name's zone unsigned."""
        state = yield from self._state(io, name)
        if state.status == INSECURE:
            return Verdict(INSECURE, state.reason)
        # What is wrong with the records themselves comes first; a chain that is broken too, after.
        reasons = [*problems, state.reason] if state.status == BOGUS else problems
        return Verdict(BOGUS, "; ".join(dict.fromkeys(reasons)), lasting=state.lasting)

    # ----------------------------------------------------------------- the chain of trust

    def _keys_of(self, io: Io, signer: Any) -> Generator[Any, Any, _Zone]:
        """The trusted keys of the zone ``signer`` names, or why there are none."""
        state = yield from self._state(io, signer)
        if state.status == SECURE and state.zone != signer:
            return _Zone(BOGUS, reason=f"signer {_text(signer)} is not a zone (it is inside {_text(state.zone)})")
        return state

    def _state(self, io: Io, name: Any) -> Generator[Any, Any, _Zone]:
        """Where ``name`` stands in the chain of trust, walking down from its closest anchor; kept for the run."""
        while True:
            found = self._zones.get(name)
            if found is None:
                break
            if found is not _PENDING:
                return found
            # Another resolution is asking for the same records: its answer will be here shortly.
            if not (yield from io.wait()):
                return _Zone(BOGUS, reason=f"time budget used up waiting for the keys of {_text(name)}", lasting=False)
        self._zones[name] = _PENDING
        try:
            state = yield from self._walk(io, name)
        except BaseException:
            del self._zones[name]
            raise
        if state.lasting:
            self._zones[name] = state
        else:
            del self._zones[name]  # a failed query: the next name asks again
        return state

    def _walk(self, io: Io, name: Any) -> Generator[Any, Any, _Zone]:
        anchor = self.anchors.closest(name)
        if anchor is None:
            return _Zone(INSECURE, name, reason=f"no trust anchor covers {_text(name)}")
        if anchor.zone == name:
            return (yield from self._anchored(io, anchor))
        parent = yield from self._state(io, name.parent())
        if parent.status != SECURE:
            return parent
        response, failure = yield from io.ask(name, dns.rdatatype.DS)
        if response is None:
            return _Zone(BOGUS, reason=f"DS query for {_text(name)} failed: {failure}", lasting=False)
        return (yield from self._below(io, name, parent, response))

    def _below(self, io: Io, name: Any, parent: _Zone, response: Any) -> Generator[Any, Any, _Zone]:
        """Where ``name`` stands, given its secure parent zone and the answer to its DS query."""
        ds = _find(response.answer, name, dns.rdatatype.DS)
        if ds is not None:
            failure = self._signed_by(ds, response.answer, parent)
            if failure:
                return _Zone(BOGUS, reason=failure)
            usable = [d for d in ds if d.algorithm in ALGORITHMS and d.digest_type in DIGESTS]
            if not usable:
                return _Zone(INSECURE, name, reason=f"the DS of {_text(name)} names only algorithms not supported")
            return (yield from self._dnskeys(io, name, usable, ()))
        cname = _find(response.answer, name, dns.rdatatype.CNAME)
        if cname is not None:
            failure = self._signed_by(cname, response.answer, parent)
            return _Zone(BOGUS, reason=failure) if failure else parent
        return self._no_ds(name, parent, response)

    def _no_ds(self, name: Any, parent: _Zone, response: Any) -> _Zone:
        """A DS query's denial: ``name`` is inside the parent's zone, an unsigned delegation, or unproven."""
        proofs = self._proofs(response.authority, parent)
        outcome, how = no_ds(proofs, name)
        if outcome == NOT_A_CUT:
            return parent
        if outcome == UNSIGNED_CUT:
            return _Zone(INSECURE, name, reason=how)
        return _Zone(BOGUS, reason=f"no proof that {_text(name)} has no DS in {_text(parent.zone)}: {how}")

    def _anchored(self, io: Io, anchor: Anchor) -> Generator[Any, Any, _Zone]:
        return (yield from self._dnskeys(io, anchor.zone, anchor.ds, anchor.dnskeys, self.anchors.describe(anchor)))

    def _dnskeys(
        self, io: Io, zone: Any, ds: Iterable[Any], trusted: Iterable[Any], source: str = ""
    ) -> Generator[Any, Any, _Zone]:
        """The zone's DNSKEY set, trusted when a key its DS (or a DNSKEY anchor) names signs it."""
        source = source or f"the DS of {_text(zone)}"
        response, failure = yield from io.ask(zone, dns.rdatatype.DNSKEY)
        if response is None:
            return _Zone(BOGUS, reason=f"DNSKEY query for {_text(zone)} failed: {failure}", lasting=False)
        keys = _find(response.answer, zone, dns.rdatatype.DNSKEY)
        if keys is None:
            return _Zone(BOGUS, reason=f"{_text(zone)} has no DNSKEY, although {source} says it is signed")
        usable = [k for k in keys if k.flags & ZONE_FLAG and not k.flags & REVOKE_FLAG and k.protocol == 3]
        ds = list(ds)
        trusted = list(trusted)
        entry = [k for k in usable if k in trusted or any(_digest_matches(zone, k, d) for d in ds)]
        if not entry:
            revoked = [k for k in keys if k.flags & REVOKE_FLAG and any(_digest_matches(zone, k, d) for d in ds)]
            why = "is revoked" if revoked else "is not in its DNSKEY set"
            return _Zone(BOGUS, reason=f"the key of {_text(zone)} that {source} names {why}")
        entry_set = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.DNSKEY)
        for key in entry:
            entry_set.add(key)
        problems = []
        for sig in _signatures(response.answer, zone, dns.rdatatype.DNSKEY):
            if sig.signer != zone:
                continue
            failure = self._verify(keys, sig, _Zone(SECURE, zone, entry_set))
            if failure is None:
                trusted_set = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.DNSKEY)
                for key in usable:
                    trusted_set.add(key)
                reason = f"{_text(zone)} keys from {source}"
                return _Zone(SECURE, zone, trusted_set, reason=reason, verifiers=_verifiers(usable))
            problems.append(failure)
        why = "; ".join(problems) or "no RRSIG by that key"
        return _Zone(BOGUS, reason=f"the DNSKEY set of {_text(zone)} is not signed by the key {source} names: {why}")

    # ----------------------------------------------------------------- signatures

    def _verify(self, rrset: Any, sig: Any, zone: _Zone, checked: bool = False) -> Optional[str]:
        """None when ``sig`` is a valid signature over ``rrset`` by one of the zone's trusted keys, else why not."""
        problem = None if checked else _sig_problem(rrset, sig)
        now = self.clock()
        if problem is None and sig.expiration < now:
            problem = f"{_sig(rrset, sig)} expired at {_when(sig.expiration)}"
        if problem is None and sig.inception > now:
            problem = f"{_sig(rrset, sig)} is not valid before {_when(sig.inception)}"
        if problem:
            return problem
        if zone.verifiers is not None:
            return _verify_with(rrset, sig, zone.verifiers)
        try:
            dns.dnssec.validate_rrsig(rrset, sig, {sig.signer: zone.keys}, now=now)
        except dns.dnssec.ValidationFailure as exc:
            detail = {"unknown key": "no such key in the trusted DNSKEY set", "verify failure": "does not verify"}
            return f"{_sig(rrset, sig)}: {detail.get(str(exc), str(exc))}"
        except dns.dnssec.UnsupportedAlgorithm as exc:
            return f"{_sig(rrset, sig)}: {exc}"
        return None

    def _signed_by(self, rrset: Any, section: Any, zone: _Zone) -> Optional[str]:
        """None when an RRSIG in ``section`` by ``zone``'s keys validates ``rrset``, else why not."""
        problems = []
        for sig in _signatures(section, rrset.name, rrset.rdtype):
            if sig.signer != zone.zone:
                problems.append(f"RRSIG over {_rrset(rrset)} by {_text(sig.signer)}, not by {_text(zone.zone)}")
                continue
            failure = self._verify(rrset, sig, zone)
            if failure is None:
                return None
            problems.append(failure)
        return "; ".join(problems) or f"no RRSIG over {_rrset(rrset)}"

    def _proofs(self, authority: Any, zone: _Zone) -> Proofs:
        """The NSEC and NSEC3 records of ``authority`` that the zone's keys sign."""
        nsec, nsec3 = [], []
        for rrset in authority:
            if rrset.rdclass != dns.rdataclass.IN or rrset.rdtype not in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3):
                continue
            if not rrset.name.is_subdomain(zone.zone) or self._signed_by(rrset, authority, zone) is not None:
                continue
            target = nsec if rrset.rdtype == dns.rdatatype.NSEC else nsec3
            target.extend((rrset.name, rdata) for rdata in rrset)
        return Proofs(zone.zone, tuple(nsec), tuple(nsec3))

    def _ttl(self, rrset: Any, sig: Any) -> int:
        return max(0, min(rrset.ttl, sig.original_ttl, int(sig.expiration - self.clock())))


# ----------------------------------------------------------------- helpers


def _verifiers(keys: Iterable[Any]) -> Optional[dict[tuple[int, int], list[Any]]]:
    """The keys decoded once, for _verify_with; None where dnspython lacks what that needs."""
    if _SIGNATURE_DATA is None:
        return None
    found: dict[tuple[int, int], list[Any]] = {}
    for key in keys:
        if key.algorithm not in ALGORITHMS:
            continue
        try:
            decoded = dns.dnssecalgs.get_algorithm_cls_from_dnskey(key).public_cls.from_dnskey(key)
        except (dns.dnssec.UnsupportedAlgorithm, ValueError):
            continue
        found.setdefault((dns.dnssec.key_id(key), key.algorithm), []).append(decoded)
    return found


def _verify_with(rrset: Any, sig: Any, verifiers: dict[tuple[int, int], list[Any]]) -> Optional[str]:
    """validate_rrsig's check of one signature (the key chosen by tag and algorithm), with decoded keys."""
    candidates = verifiers.get((sig.key_tag, sig.algorithm))
    if not candidates:
        return f"{_sig(rrset, sig)}: no such key in the trusted DNSKEY set"
    try:
        data = _SIGNATURE_DATA(rrset, sig)
    except dns.dnssec.ValidationFailure as exc:
        return f"{_sig(rrset, sig)}: {exc}"
    for key in candidates:
        try:
            key.verify(sig.signature, data)
            return None
        except (InvalidSignature, dns.dnssec.ValidationFailure):
            continue
    return f"{_sig(rrset, sig)}: does not verify"


def _signatures(section: Any, name: Any, rdtype: int) -> list[Any]:
    """The RRSIGs in ``section`` over (name, rdtype)."""
    return [
        rdata
        for rrset in section
        if rrset.rdtype == dns.rdatatype.RRSIG and rrset.name == name and rrset.rdclass == dns.rdataclass.IN
        for rdata in rrset
        if rdata.type_covered == rdtype
    ]


def _sig_problem(rrset: Any, sig: Any) -> Optional[str]:
    """What makes ``sig`` unusable for ``rrset`` before any cryptography, or None."""
    if sig.type_covered != rrset.rdtype:
        return f"an RRSIG at {_text(rrset.name)} covers {_type(sig.type_covered)}, not {_type(rrset.rdtype)}"
    if not rrset.name.is_subdomain(sig.signer):
        return f"RRSIG over {_rrset(rrset)} by {_text(sig.signer)}, whose zone does not own the name"
    if sig.labels > len(rrset.name) - 1:
        return f"RRSIG over {_rrset(rrset)} counts {sig.labels} labels, more than the name has"
    return None


def _find(section: Any, name: Any, rdtype: int) -> Any:
    for rrset in section:
        if rrset.name == name and rrset.rdtype == rdtype and rrset.rdclass == dns.rdataclass.IN:
            return rrset
    return None


def _digest_matches(zone: Any, key: Any, ds: Any) -> bool:
    if ds.algorithm != key.algorithm or ds.key_tag != dns.dnssec.key_id(key):
        return False
    try:
        made = dns.dnssec.make_ds(zone, key, ds.digest_type, validating=True)
    except (dns.dnssec.UnsupportedAlgorithm, dns.dnssec.DeniedByPolicy, ValueError):
        return False
    return made.digest == ds.digest


def _sig(rrset: Any, sig: Any) -> str:
    return f"RRSIG over {_rrset(rrset)} by {_text(sig.signer)} key {sig.key_tag}"


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _rrset(rrset: Any) -> str:
    return f"{_text(rrset.name)} {_type(rrset.rdtype)}"


def _type(rdtype: int) -> str:
    return dns.rdatatype.to_text(rdtype)


def _text(name: Any) -> str:
    text = name.to_text(omit_final_dot=True).lower()
    return text or "."
