# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The resolution of one host name, without I/O.

Queries go straight to the configured nameservers (dnspython messages, sent
by ``_dns.transport``), not through dns.resolver.Resolver, because every
failure must name the nameserver that caused it and CNAME targets outside the
answer must be chased explicitly.

``Engine.resolution(host)`` is a generator: it yields a ``Send`` for each
query (and a ``Pause`` between retries) and receives the answer, so the same
logic runs one name at a time, many names from one thread, or against canned
answers in tests. Each name's queries share one time budget (``lifetime``).

Given trust anchors, every answer, CNAME hop and denial is also judged by
DNSSEC (``_dnssec``): queries ask for signatures (DO) and leave validation
to the collection (CD), and the host's result carries the weakest verdict.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .._dnssec.anchors import TrustAnchors
from .._dnssec.validate import Validator, Verdict, weakest
from .._errors import MissingLibraryError
from .._scripts import shown
from .options import Nameserver, ResolverOptions, system_nameservers
from .results import (
    BAD_RESPONSE,
    CNAME_DEPTH,
    CNAME_LOOP,
    NEGATIVE_TYPES,
    NETWORK,
    NODATA,
    NXDOMAIN,
    REFUSED,
    SERVFAIL,
    TIMEOUT,
    HostResult,
    ResolveError,
)

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - exercised only where dnspython is missing
    HAS_DNSPYTHON = False

MAX_CNAME_DEPTH = 16
# How long a resolution waits, at a time, for another one that is asking for the keys both need.
KEY_WAIT = 0.002
# Fits the EDNS buffer size recommended since DNS flag day 2020; larger answers come truncated and go to TCP.
EDNS_PAYLOAD = 1232

_RCODE_FAILURES = {
    SERVFAIL: "server failure",
    REFUSED: "query refused: the server is not authoritative or recursive for it",
}


def require_dnspython() -> None:
    if not HAS_DNSPYTHON:
        raise MissingLibraryError("dnspython", "to resolve host names")


@dataclass
class _Outcome:
    """What one query chain (one name, one type, one group of nameservers) produced."""

    addresses: list[str] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    ttl: Optional[int] = None
    error: Optional[ResolveError] = None
    server: str = ""
    verdicts: list[Verdict] = field(default_factory=list)


@dataclass
class _Failure:
    type: str
    detail: str
    attempts: int = 1


@dataclass
class Send:
    """Request to a driver: send ``query`` and return the answer (or raise into the resolution)."""

    query: Any
    address: str
    port: int
    wait: float
    tcp: bool
    deadline: float  # the name's lifetime, which bounds the TCP retry of a truncated answer too


@dataclass
class Pause:
    """Request to a driver: resume after ``seconds``."""

    seconds: float


class Engine:
    """Resolution logic as generators that yield Send/Pause requests; drivers do the I/O.

    ``resolution(host)`` is the whole resolution of one name: the caller
    sends each request's answer back in (or throws the exception the I/O
    raised) until the generator returns the HostResult. The drivers are in
    ``_dns.transport``; tests drive it with canned answers.
    """

    def __init__(
        self, options: ResolverOptions, anchors: Optional[TrustAnchors] = None, clock: Callable[[], float] = time.time
    ) -> None:
        require_dnspython()
        self.options = options
        servers = options.nameservers or system_nameservers()
        self.servers = servers
        # all_nameservers: each server answers on its own (its own CNAME chain, its own view).
        self.groups = [(server,) for server in servers] if options.all_nameservers else [servers]
        # DNSSEC (anchors given): one validator, and so one cache of keys, per group: views may differ.
        self.validators = [Validator(anchors, clock) for _group in self.groups] if anchors is not None else None

    def resolution(self, host: str, deadline: Optional[float] = None) -> Generator[Any, Any, HostResult]:
        """Resolve one name (lower-case ASCII, no trailing dot) within ``lifetime`` (or until ``deadline``)."""
        deadline = time.monotonic() + self.options.lifetime if deadline is None else deadline
        outcomes: list[_Outcome] = []
        hard_error = None
        for _round in range(self.options.rounds):
            for index, group in enumerate(self.groups):
                validator = self.validators[index] if self.validators else None
                for rdtype in self.options.rdtypes:
                    outcome = yield from self._chase(host, rdtype, group, deadline, validator)
                    outcomes.append(outcome)
                    if outcome.error and outcome.error.type not in NEGATIVE_TYPES:
                        hard_error = outcome.error
                        break
                    if outcome.error and outcome.error.type == NXDOMAIN:
                        break  # the other family would say the same
                if hard_error:
                    break
            if hard_error:
                break
        return _combine(host, outcomes, hard_error, self.options.rdtypes)

    def _chase(
        self,
        host: str,
        rdtype_text: str,
        group: Sequence[Nameserver],
        deadline: float,
        validator: Optional[Validator] = None,
    ) -> Generator[Any, Any, _Outcome]:
        """Ask for host/rdtype, following CNAMEs; ask again for a target the answer did not include.

        With a validator, each RRset used and the final denial get a verdict.
        """
        rdtype = dns.rdatatype.from_text(rdtype_text)
        origin = dns.name.from_text(host)
        outcome = _Outcome()
        io = _Io(self, group, deadline)
        current = origin
        seen = {origin}
        while True:
            response, server, failure = yield from self._query(current, rdtype, group, deadline)
            if failure is not None:
                outcome.error = _failure_error(host, current, rdtype_text, failure)
                return outcome
            outcome.server = server
            records = _answer_records(response)
            owner = current
            while True:
                rrset = records.get((owner, rdtype))
                if rrset is not None:
                    if validator is not None:
                        outcome.verdicts.append((yield from validator.answer(io, rrset, response)))
                    outcome.addresses = [rdata.address for rdata in rrset]
                    outcome.ttl = _min_ttl(outcome.ttl, rrset.ttl)
                    return outcome
                cname = records.get((owner, dns.rdatatype.CNAME))
                if cname is None:
                    break
                if validator is not None:
                    outcome.verdicts.append((yield from validator.answer(io, cname, response)))
                target = cname[0].target
                outcome.ttl = _min_ttl(outcome.ttl, cname.ttl)
                if target in seen or len(outcome.chain) >= MAX_CNAME_DEPTH:
                    outcome.error = _chain_error(host, outcome.chain, target, target in seen, server)
                    return outcome
                outcome.chain.append(_text(target))
                seen.add(target)
                owner = target
            if response.rcode() != dns.rcode.NXDOMAIN and owner != current:
                current = owner  # the answer stopped at a CNAME target: ask for it separately
                continue
            if validator is not None:
                outcome.verdicts.append((yield from validator.denial(io, owner, rdtype, response)))
            if response.rcode() == dns.rcode.NXDOMAIN:
                what = "does not exist" if owner == origin else f"is a CNAME to {_text(owner)}, which does not exist"
                outcome.error = ResolveError(NXDOMAIN, f"{shown(host)}: {what} (NXDOMAIN from {server})")
                return outcome
            # The combined NODATA message is written by _combine, which sees every family.
            outcome.error = ResolveError(NODATA, "")
            return outcome

    def _query(
        self, qname: Any, rdtype: Any, group: Sequence[Nameserver], deadline: float
    ) -> Generator[Any, Any, tuple[Any, str, Optional[dict[str, _Failure]]]]:
        """Ask the group's servers in order until one answers; cycle again over those that timed out.

        Returns (response, server label, None) or (None, "", failures by server label).
        """
        failures: dict[str, _Failure] = {}
        pending = list(group)
        while pending and time.monotonic() < deadline:
            for server in list(pending):
                label = server.label(self.options.port)
                response, failure = yield from self._ask(server, qname, rdtype, deadline)
                if response is not None:
                    return response, label, None
                previous = failures.get(label)
                if previous is not None and previous.type == failure.type:
                    failure.attempts += previous.attempts
                failures[label] = failure
                if failure.type != TIMEOUT:
                    pending.remove(server)  # only a lost packet is worth asking the same server again
                if time.monotonic() >= deadline:
                    break
        if not failures:
            label = group[0].label(self.options.port)
            failures[label] = _Failure(TIMEOUT, f"lifetime of {self.options.lifetime:g}s used up before asking", 0)
        return None, "", failures

    def _ask(
        self, server: Nameserver, qname: Any, rdtype: Any, deadline: float
    ) -> Generator[Any, Any, tuple[Any, Optional[_Failure]]]:
        """One server: retry SERVFAIL up to ``retries`` times; other outcomes return at once."""
        attempts = 0
        while True:
            attempts += 1
            if time.monotonic() >= deadline:
                if attempts > 1:  # lifetime ran out between SERVFAIL retries
                    return None, _Failure(SERVFAIL, "server failure, lifetime used up", attempts - 1)
                return None, _Failure(TIMEOUT, f"lifetime of {self.options.lifetime:g}s used up", 0)
            response, failure = yield from self._exchange(server, qname, rdtype, deadline)
            if failure is None or failure.type != SERVFAIL:
                return response, failure
            if attempts > self.options.retries:
                failure.attempts = attempts
                return None, failure
            # A short pause: a resolver that just failed upstream often fails again at once.
            yield Pause(max(0.0, min(0.05 * attempts, deadline - time.monotonic())))

    def _exchange(
        self, server: Nameserver, qname: Any, rdtype: Any, deadline: float
    ) -> Generator[Any, Any, tuple[Any, Optional[_Failure]]]:
        """One query and its answer: UDP, then TCP when truncated (or TCP only with tcp=true)."""
        address, port = server.endpoint(self.options.port)
        wait = min(self.options.timeout, deadline - time.monotonic())
        query = dns.message.make_query(
            qname, rdtype, use_edns=0, payload=EDNS_PAYLOAD, want_dnssec=self.validators is not None
        )
        if self.validators is not None:
            # Checking Disabled: a validating resolver passes its data on and the collection judges it.
            query.flags |= dns.flags.CD
        try:
            response = yield Send(query, address, port, wait, self.options.tcp, deadline)
        except dns.exception.Timeout:
            return None, _Failure(TIMEOUT, f"no answer within {wait:g}s")
        except OSError as exc:
            return None, _Failure(NETWORK, exc.strerror or str(exc))
        except dns.exception.DNSException as exc:
            return None, _Failure(BAD_RESPONSE, str(exc) or type(exc).__name__)
        rcode = dns.rcode.to_text(response.rcode())
        if rcode in ("NOERROR", "NXDOMAIN"):
            return response, None
        if rcode in _RCODE_FAILURES:
            return None, _Failure(rcode, _RCODE_FAILURES[rcode])
        return None, _Failure(BAD_RESPONSE, f"unexpected response code {rcode}")


class _Io:
    """The network as one name's resolution offers it to the validator: its nameservers, its time budget."""

    def __init__(self, engine: Engine, group: Sequence[Nameserver], deadline: float) -> None:
        self.engine = engine
        self.group = group
        self.deadline = deadline

    def ask(self, qname: Any, rdtype: int) -> Generator[Any, Any, tuple[Any, str]]:
        response, _server, failures = yield from self.engine._query(qname, rdtype, self.group, self.deadline)
        if failures is not None:
            return None, str(_failure_error(_text(qname), qname, dns.rdatatype.to_text(rdtype), failures))
        return response, ""

    def wait(self) -> Generator[Any, Any, bool]:
        if time.monotonic() >= self.deadline:
            return False
        yield Pause(KEY_WAIT)
        return True


def _combine(
    host: str, outcomes: list[_Outcome], hard_error: Optional[ResolveError], rdtypes: Sequence[str]
) -> HostResult:
    """One result from every family, group and round: any failure fails; any address wins over NODATA.

    The DNSSEC status is the weakest verdict of every RRset and denial used.
    """
    chain = tuple(_ordered_union(o.chain for o in outcomes))
    if hard_error:
        return HostResult(host=host, cname_chain=chain, error=hard_error)
    verdict = weakest(v for o in outcomes for v in o.verdicts)
    dnssec = {"dnssec": verdict.status, "dnssec_reason": verdict.reason} if verdict else {}
    addresses = sorted({a for o in outcomes for a in o.addresses}, key=lambda a: _address_key(ipaddress.ip_address(a)))
    if not addresses:
        nxdomain = [o.error for o in outcomes if o.error and o.error.type == NXDOMAIN]
        if nxdomain:
            return HostResult(host=host, cname_chain=chain, error=nxdomain[0], **dnssec)
        servers = ", ".join(_ordered_union([o.server] for o in outcomes))
        where = f" (CNAME target {chain[-1]})" if chain else ""
        error = ResolveError(NODATA, f"{shown(host)}: no {' or '.join(rdtypes)} record{where} (NODATA from {servers})")
        return HostResult(host=host, cname_chain=chain, error=error, **dnssec)
    ttls = [o.ttl for o in outcomes if o.ttl is not None]
    if verdict is not None and verdict.ttl is not None:
        ttls.append(verdict.ttl)  # no longer than the signatures say
    return HostResult(
        host=host, addresses=tuple(addresses), cname_chain=chain, ttl=min(ttls) if ttls else None, **dnssec
    )


def _answer_records(response: Any) -> dict[tuple[Any, Any], Any]:
    """The answer section by (owner, type); dnspython names compare case-insensitively."""
    return {(rrset.name, rrset.rdtype): rrset for rrset in response.answer if rrset.rdclass == dns.rdataclass.IN}


def _chain_error(host: str, chain: list[str], target: Any, loop: bool, server: str) -> ResolveError:
    path = " -> ".join([host, *chain, _text(target)])
    if loop:
        return ResolveError(CNAME_LOOP, f"{shown(host)}: CNAME loop {path} (answers from {server})")
    return ResolveError(
        CNAME_DEPTH, f"{shown(host)}: CNAME chain longer than {MAX_CNAME_DEPTH} ({path}) (answers from {server})"
    )


def _failure_error(host: str, qname: Any, rdtype: str, failures: dict[str, _Failure]) -> ResolveError:
    """One typed error from per-server failures: the type of the first server's failure; all are listed."""
    first = next(iter(failures.values()))
    parts = []
    for label, failure in failures.items():
        times = f", {failure.attempts} attempts" if failure.attempts > 1 else ""
        parts.append(f"{failure.type} from {label} ({failure.detail}{times})")
    name = _text(qname)
    subject = shown(host) if name == host else f"{shown(host)} (CNAME target {shown(name)})"
    return ResolveError(first.type, f"{subject}: {rdtype} query failed: " + "; ".join(parts))


def _text(name: Any) -> str:
    return name.to_text(omit_final_dot=True).lower()


def _min_ttl(current: Optional[int], ttl: int) -> int:
    return ttl if current is None else min(current, ttl)


def _address_key(address: Any) -> tuple[int, int]:
    return (address.version, int(address))


def _ordered_union(lists: Iterable[Iterable[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for items in lists:
        for item in items:
            seen.setdefault(item, None)
    return list(seen)
