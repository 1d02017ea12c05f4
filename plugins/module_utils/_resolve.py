# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve destination terms to addresses with dnspython.

Queries go straight to the configured nameservers (dnspython messages over
our own sockets), not through dns.resolver.Resolver, because every failure
must name the nameserver that caused it and CNAME targets outside the answer
must be chased explicitly.

The resolution of one name is a generator that yields the queries it needs
(_Engine); drivers do the I/O. Many names are resolved by _Pipeline: up to
``concurrency`` names in flight from one thread, so the time taken is the
time to build and parse the messages, not the sum of the round trips. Each
name's queries share one time budget (``lifetime``).
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import itertools
import re
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import Any, Optional, Union

from ._addresses import AggregateOptions, AggregationError, Block, aggregate
from ._errors import MeshguardError, MissingLibraryError, OptionError
from ._terms import KIND_ADDRESS, KIND_NAME, KIND_NETWORK, Term, parse_term, parse_terms
from ._values import boolean, choice, integer, seconds

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.resolver

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - exercised only where dnspython is missing
    HAS_DNSPYTHON = False

MAX_CNAME_DEPTH = 16
# Fits the EDNS buffer size recommended since DNS flag day 2020; larger answers come truncated and go to TCP.
EDNS_PAYLOAD = 1232

FAMILY_CHOICES = ("both", "ipv4", "ipv6")
ON_ERROR_CHOICES = ("fail", "warn", "omit")

NXDOMAIN = "NXDOMAIN"
NODATA = "NODATA"
TIMEOUT = "TIMEOUT"
SERVFAIL = "SERVFAIL"
REFUSED = "REFUSED"
CNAME_LOOP = "CNAME_LOOP"
CNAME_DEPTH = "CNAME_DEPTH"
NETWORK = "NETWORK"
BAD_RESPONSE = "BAD_RESPONSE"
ERROR_TYPES = (NXDOMAIN, NODATA, TIMEOUT, SERVFAIL, REFUSED, CNAME_LOOP, CNAME_DEPTH, NETWORK, BAD_RESPONSE)
# The name does not exist or has no addresses: an answer, not a failure of the servers.
NEGATIVE_TYPES = (NXDOMAIN, NODATA)

_RCODE_FAILURES = {
    SERVFAIL: "server failure",
    REFUSED: "query refused: the server is not authoritative or recursive for it",
}
_BRACKETED_RE = re.compile(r"^\[([^\]]+)\](?::([0-9]+))?$")


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Nameserver:
    """A nameserver as an IP literal and a port (None: the ``port`` option)."""

    address: str
    port: Optional[int] = None

    def endpoint(self, default_port: int) -> tuple[str, int]:
        return self.address, self.port if self.port is not None else default_port

    def label(self, default_port: int) -> str:
        address, port = self.endpoint(default_port)
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def parse_nameserver(text: Any) -> Nameserver:
    """Parse ``192.0.2.1``, ``192.0.2.1:5353``, ``2001:db8::1``, ``[2001:db8::1]`` or ``[2001:db8::1]:5353``."""
    if not isinstance(text, str) or not text.strip():
        raise OptionError(f"nameservers: expected an IP address, got {text!r}")
    value = text.strip()
    port_text = None
    bracketed = _BRACKETED_RE.match(value)
    if bracketed:
        address, port_text = bracketed.group(1), bracketed.group(2)
        valid_versions = (6,)
    elif value.count(":") == 1:
        address, port_text = value.split(":")
        valid_versions = (4,)
    else:
        address = value
        valid_versions = (4, 6)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        parsed = None
    if parsed is None or parsed.version not in valid_versions:
        raise OptionError(
            f"nameservers: {text!r} is not an IP address (use 192.0.2.1, 192.0.2.1:5353, 2001:db8::1 "
            "or [2001:db8::1]:5353; host names are not accepted)"
        )
    port = None
    if port_text is not None:
        port = integer(f"nameservers: port of {text!r}", port_text, 1, 65535)
    return Nameserver(str(parsed), port)


@dataclass(frozen=True)
class ResolverOptions:
    """How to resolve. ``nameservers`` empty means the system resolver configuration."""

    nameservers: tuple[Nameserver, ...] = ()
    port: int = 53
    families: str = "both"
    timeout: float = 2.0
    lifetime: float = 10.0
    retries: int = 2
    tcp: bool = False
    rounds: int = 1
    all_nameservers: bool = False
    concurrency: int = 32
    on_error: str = "fail"

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]] = None) -> ResolverOptions:
        """Validate user-facing options; None values mean the default. Errors name the option."""
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.option_names()))
        if unknown:
            raise OptionError(f"unknown resolver option(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        servers = data.get("nameservers")
        if servers is not None:
            if isinstance(servers, str):
                servers = [part for part in servers.split(",") if part.strip()]
            if not isinstance(servers, (list, tuple)):
                raise OptionError(f"nameservers must be a list of IP addresses, got {servers!r}")
            values["nameservers"] = tuple(parse_nameserver(server) for server in servers)
        checks = {
            "port": lambda v: integer("port", v, 1, 65535),
            "families": lambda v: choice("families", v, FAMILY_CHOICES),
            "timeout": lambda v: seconds("timeout", v, 0.001, 3600),
            "lifetime": lambda v: seconds("lifetime", v, 0.001, 86400),
            "retries": lambda v: integer("retries", v, 0, 10),
            "tcp": lambda v: boolean("tcp", v),
            "rounds": lambda v: integer("rounds", v, 1, 100),
            "all_nameservers": lambda v: boolean("all_nameservers", v),
            "concurrency": lambda v: integer("concurrency", v, 1, 256),
            "on_error": lambda v: choice("on_error", v, ON_ERROR_CHOICES),
        }
        for name, check in checks.items():
            if data.get(name) is not None:
                values[name] = check(data[name])
        return cls(**values)

    @property
    def rdtypes(self) -> tuple[str, ...]:
        return {"both": ("A", "AAAA"), "ipv4": ("A",), "ipv6": ("AAAA",)}[self.families]


def system_nameservers() -> tuple[Nameserver, ...]:
    """Nameservers of the system resolver configuration (resolv.conf on POSIX)."""
    _require_dnspython()
    try:
        resolver = dns.resolver.Resolver(configure=True)
    except dns.exception.DNSException as exc:
        raise MeshguardError(f"cannot read the system resolver configuration ({exc}); set nameservers") from None
    servers = []
    for entry in resolver.nameservers:
        # dnspython lists plain nameservers as strings and others (DoH, DoT) as objects: keep plain DNS only.
        address = entry if isinstance(entry, str) else getattr(entry, "address", None)
        port = resolver.nameserver_ports.get(address) if isinstance(entry, str) else getattr(entry, "port", None)
        try:
            ipaddress.ip_address((address or "").split("%")[0])
        except ValueError:
            continue
        servers.append(Nameserver(address, port if port not in (None, 53) else None))
    if not servers:
        raise MeshguardError("the system resolver configuration lists no nameserver; set nameservers")
    return tuple(servers)


def _require_dnspython() -> None:
    if not HAS_DNSPYTHON:
        raise MissingLibraryError("dnspython", "to resolve host names")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ResolveError:
    """A typed failure: ``type`` is one of ERROR_TYPES; ``message`` names the host and the nameserver."""

    type: str
    message: str


@dataclass(frozen=True)
class HostResult:
    """The outcome for one term. A result with an error contributes no address."""

    host: str
    kind: str = KIND_NAME
    addresses: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    ttl: Optional[int] = None
    error: Optional[ResolveError] = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ResolutionFailed(MeshguardError):
    """Raised by apply_on_error with on_error=fail; ``results`` are the failed ones."""

    def __init__(self, results: Sequence[HostResult]) -> None:
        self.results = list(results)
        messages = [f"{r.error.type}: {r.error.message}" for r in self.results if r.error]
        super().__init__(f"DNS resolution failed for {len(messages)} host(s): " + "; ".join(messages))


def blocks_of(result: HostResult) -> list[Block]:
    """The blocks a result contributes to aggregation (none when it has an error)."""
    if result.error is not None:
        return []
    if result.kind == KIND_NETWORK:
        return [Block(result.host, f"literal {result.host}")]
    if result.kind == KIND_ADDRESS:
        return [Block(result.host, f"literal {result.host}")]
    return [Block(address, f"{address} of {result.host}", widen=True) for address in result.addresses]


def with_cidrs(results: Sequence[HostResult], aggregation: Optional[AggregateOptions] = None) -> list[HostResult]:
    """Recompute each result's ``cidrs`` with these aggregation options (guard errors reported at once)."""
    aggregation = aggregation or AggregateOptions()
    updated = []
    problems: list[str] = []
    for result in results:
        try:
            cidrs = tuple(aggregate(blocks_of(result), aggregation))
        except AggregationError as exc:
            problems.extend(exc.problems)
            cidrs = ()
        updated.append(replace(result, cidrs=cidrs))
    if problems:
        raise AggregationError(problems)
    return updated


def merged_cidrs(results: Sequence[HostResult], aggregation: Optional[AggregateOptions] = None) -> list[str]:
    """All error-free results aggregated into one sorted CIDR list."""
    blocks: list[Block] = []
    for result in results:
        blocks.extend(blocks_of(result))
    return aggregate(blocks, aggregation or AggregateOptions())


def apply_on_error(results: Sequence[HostResult], on_error: str) -> list[str]:
    """Apply the on_error policy: raise ResolutionFailed (fail), return warnings (warn) or nothing (omit)."""
    failed = [r for r in results if r.error is not None]
    if not failed:
        return []
    if on_error == "fail":
        raise ResolutionFailed(failed)
    if on_error == "warn":
        return [f"{r.error.type}: {r.error.message}; it contributes no address" for r in failed if r.error]
    return []


# --------------------------------------------------------------------------- detail form

DETAIL_KEYS = ("host", "addresses", "cidrs", "cname_chain", "ttl", "error")


def results_to_detail(results: Sequence[HostResult]) -> list[dict[str, Any]]:
    """Plain dicts, one per result: the lookup's ``detail=true`` output."""
    return [
        {
            "host": r.host,
            "addresses": list(r.addresses),
            "cidrs": list(r.cidrs),
            "cname_chain": list(r.cname_chain),
            "ttl": r.ttl,
            "error": None if r.error is None else {"type": r.error.type, "message": r.error.message},
        }
        for r in results
    ]


def results_from_detail(items: Any) -> list[HostResult]:
    """Read the ``detail=true`` form back (e.g. a module's ``resolved`` input); errors name the entry and field."""
    if not isinstance(items, (list, tuple)):
        raise OptionError(f"resolved: expected a list of results, got {type(items).__name__}")
    results = []
    problems = []
    for index, item in enumerate(items):
        try:
            results.append(_result_from_dict(item))
        except (MeshguardError, ValueError) as exc:
            problems.append(f"resolved[{index}]: {exc}")
    if problems:
        raise OptionError("; ".join(problems))
    return results


def _result_from_dict(item: Any) -> HostResult:
    if not isinstance(item, Mapping):
        raise ValueError(f"expected a dict with keys {', '.join(DETAIL_KEYS)}, got {type(item).__name__}")
    unknown = sorted(set(item) - set(DETAIL_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(str, unknown))}")
    if "host" not in item:
        raise ValueError("host is missing")
    term = parse_term(item["host"])

    def strings(key: str) -> tuple[str, ...]:
        value = item.get(key) or []
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of strings")
        return tuple(value)

    addresses = strings("addresses")
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"addresses: {address!r} is not an IP address") from None
    cidrs = strings("cidrs")
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            raise ValueError(f"cidrs: {cidr!r} is not a CIDR block") from None
    ttl = item.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0):
        raise ValueError(f"ttl must be a non-negative integer or null, got {ttl!r}")
    error = item.get("error")
    if error is not None:
        if not isinstance(error, Mapping) or error.get("type") not in ERROR_TYPES:
            raise ValueError(f"error must be null or {{type, message}} with type one of {', '.join(ERROR_TYPES)}")
        error = ResolveError(error["type"], str(error.get("message", "")))
    return HostResult(
        host=term.value,
        kind=term.kind,
        addresses=addresses,
        cidrs=cidrs,
        cname_chain=strings("cname_chain"),
        ttl=ttl,
        error=error,
    )


# --------------------------------------------------------------------------- resolution


def resolve(
    terms: Iterable[Union[str, Term]],
    options: Optional[ResolverOptions] = None,
    aggregation: Optional[AggregateOptions] = None,
) -> list[HostResult]:
    """Resolve terms to one HostResult each, in input order.

    Invalid terms raise TermError (all of them at once) before any query.
    Literals pass through without DNS. DNS failures are returned in the
    results' ``error``; apply the policy with apply_on_error. Guard violations
    raise AggregationError.
    """
    options = options or ResolverOptions()
    parsed = parse_terms([terms] if isinstance(terms, str) else terms)
    # Literals that break the guard fail before any query is sent.
    with_cidrs([_literal_result(t) for t in parsed if t.kind != KIND_NAME], aggregation)
    names = sorted({t.value for t in parsed if t.kind == KIND_NAME})
    by_name: dict[str, HostResult] = {}
    if names:
        _require_dnspython()
        engine = _Engine(options)
        by_name = dict(zip(names, engine.resolve_all(names)))
    results = [by_name[t.value] if t.kind == KIND_NAME else _literal_result(t) for t in parsed]
    return with_cidrs(results, aggregation)


def _literal_result(term: Term) -> HostResult:
    addresses = (term.value,) if term.kind == KIND_ADDRESS else ()
    return HostResult(host=term.value, kind=term.kind, addresses=addresses)


@dataclass
class _Outcome:
    """What one query chain (one name, one type, one group of nameservers) produced."""

    addresses: list[str] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    ttl: Optional[int] = None
    error: Optional[ResolveError] = None
    server: str = ""


@dataclass
class _Failure:
    type: str
    detail: str
    attempts: int = 1


@dataclass
class _Send:
    """Request to a driver: send ``query`` and return the answer (or raise into the resolution)."""

    query: Any
    address: str
    port: int
    wait: float
    tcp: bool
    deadline: float  # the name's lifetime, which bounds the TCP retry of a truncated answer too


@dataclass
class _Pause:
    """Request to a driver: resume after ``seconds``."""

    seconds: float


class _Engine:
    """Resolution logic as generators that yield _Send/_Pause requests; drivers do the I/O.

    _run_blocking performs one name's requests in turn. _Pipeline keeps
    ``concurrency`` names in flight from one thread: there is no lock to fight
    over, so the only cost per query is building and parsing the messages.
    """

    def __init__(self, options: ResolverOptions) -> None:
        self.options = options
        servers = options.nameservers or system_nameservers()
        self.servers = servers
        # all_nameservers: each server answers on its own (its own CNAME chain, its own view).
        self.groups = [(server,) for server in servers] if options.all_nameservers else [servers]
        self.perform = _perform

    def resolve_all(self, names: Sequence[str]) -> list[HostResult]:
        workers = min(self.options.concurrency, len(names))
        if workers <= 1:
            return [self.resolve_name(name) for name in names]
        if self.options.tcp:
            # TCP exchanges block, so they run in threads.
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="meshguard-dns") as pool:
                return list(pool.map(self.resolve_name, names))
        return _Pipeline([self._resolve_name(name) for name in names], workers).run()

    def resolve_name(self, host: str) -> HostResult:
        return _run_blocking(self._resolve_name(host), self.perform)

    def _resolve_name(self, host: str) -> Generator[Any, Any, HostResult]:
        deadline = time.monotonic() + self.options.lifetime
        outcomes: list[_Outcome] = []
        hard_error = None
        for _round in range(self.options.rounds):
            for group in self.groups:
                for rdtype in self.options.rdtypes:
                    outcome = yield from self._chase(host, rdtype, group, deadline)
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
        self, host: str, rdtype_text: str, group: Sequence[Nameserver], deadline: float
    ) -> Generator[Any, Any, _Outcome]:
        """Ask for host/rdtype, following CNAMEs; ask again for a target the answer did not include."""
        rdtype = dns.rdatatype.from_text(rdtype_text)
        origin = dns.name.from_text(host)
        outcome = _Outcome()
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
                    outcome.addresses = [rdata.address for rdata in rrset]
                    outcome.ttl = _min_ttl(outcome.ttl, rrset.ttl)
                    return outcome
                cname = records.get((owner, dns.rdatatype.CNAME))
                if cname is None:
                    break
                target = cname[0].target
                outcome.ttl = _min_ttl(outcome.ttl, cname.ttl)
                if target in seen or len(outcome.chain) >= MAX_CNAME_DEPTH:
                    outcome.error = _chain_error(host, outcome.chain, target, target in seen, server)
                    return outcome
                outcome.chain.append(_text(target))
                seen.add(target)
                owner = target
            if response.rcode() == dns.rcode.NXDOMAIN:
                what = "does not exist" if owner == origin else f"is a CNAME to {_text(owner)}, which does not exist"
                outcome.error = ResolveError(NXDOMAIN, f"{host}: {what} (NXDOMAIN from {server})")
                return outcome
            if owner != current:
                current = owner  # the answer stopped at a CNAME target: ask for it separately
                continue
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
            yield _Pause(max(0.0, min(0.05 * attempts, deadline - time.monotonic())))

    def _exchange(
        self, server: Nameserver, qname: Any, rdtype: Any, deadline: float
    ) -> Generator[Any, Any, tuple[Any, Optional[_Failure]]]:
        """One query and its answer: UDP, then TCP when truncated (or TCP only with tcp=true)."""
        address, port = server.endpoint(self.options.port)
        wait = min(self.options.timeout, deadline - time.monotonic())
        query = dns.message.make_query(qname, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
        try:
            response = yield _Send(query, address, port, wait, self.options.tcp, deadline)
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


def _combine(
    host: str, outcomes: list[_Outcome], hard_error: Optional[ResolveError], rdtypes: Sequence[str]
) -> HostResult:
    """One result from every family, group and round: any failure fails; any address wins over NODATA."""
    chain = tuple(_ordered_union(o.chain for o in outcomes))
    if hard_error:
        return HostResult(host=host, cname_chain=chain, error=hard_error)
    addresses = sorted({a for o in outcomes for a in o.addresses}, key=lambda a: _address_key(ipaddress.ip_address(a)))
    if not addresses:
        nxdomain = [o.error for o in outcomes if o.error and o.error.type == NXDOMAIN]
        if nxdomain:
            return HostResult(host=host, cname_chain=chain, error=nxdomain[0])
        servers = ", ".join(_ordered_union([o.server] for o in outcomes))
        where = f" (CNAME target {chain[-1]})" if chain else ""
        error = ResolveError(NODATA, f"{host}: no {' or '.join(rdtypes)} record{where} (NODATA from {servers})")
        return HostResult(host=host, cname_chain=chain, error=error)
    ttls = [o.ttl for o in outcomes if o.ttl is not None]
    return HostResult(host=host, addresses=tuple(addresses), cname_chain=chain, ttl=min(ttls) if ttls else None)


# --------------------------------------------------------------------------- I/O drivers


def _run_blocking(resolution: Generator[Any, Any, Any], perform: Callable[[Any], Any]) -> Any:
    """Drive one resolution, performing each request as it comes."""
    value: Any = None
    error: Optional[BaseException] = None
    while True:
        try:
            request = resolution.throw(error) if error is not None else resolution.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            value = perform(request)
        except (OSError, dns.exception.DNSException) as exc:
            error = exc


def _perform(request: Any) -> Any:
    if isinstance(request, _Pause):
        time.sleep(request.seconds)
        return None
    if request.tcp:
        return _tcp(request)
    response = _udp(request.query, request.address, request.port, request.wait)
    if response is None or response.flags & dns.flags.TC:
        return _tcp(request)
    return response


def _tcp(request: _Send) -> Any:
    # The answer does not fit a UDP datagram (or tcp=true): the full answer comes over TCP.
    wait = max(0.001, min(request.wait, request.deadline - time.monotonic()))
    return dns.query.tcp(request.query, request.address, timeout=wait, port=request.port)


def _udp(query: Any, address: str, port: int, wait: float) -> Any:
    """One UDP exchange; None when the answer was truncated beyond parsing.

    One connected socket per query: a fresh source port each time (harder to
    spoof), and a closed port fails at once. Datagrams that are not the answer
    to this query are ignored until the timeout.
    """
    wire = query.to_wire()
    deadline = time.monotonic() + wait
    with _udp_socket(address, port) as sock:
        sock.send(wire)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise dns.exception.Timeout(timeout=wait)
            sock.settimeout(remaining)
            try:
                data = sock.recv(65535)
            except socket.timeout:
                raise dns.exception.Timeout(timeout=wait) from None
            answered, response = _answer_of(query, wire, data)
            if answered:
                return response


def _udp_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.connect((address, port))
    except OSError:
        sock.close()
        raise
    return sock


def _answer_of(query: Any, wire: bytes, data: bytes) -> tuple[bool, Any]:
    """(True, response) when data answers query; (True, None) when it is truncated beyond parsing."""
    if data[:2] != wire[:2]:
        return False, None  # another query's answer or noise
    try:
        response = dns.message.from_wire(data, ignore_trailing=True)
    except dns.message.Truncated:
        return True, None
    return query.is_response(response), response


class _Task:
    """One name being resolved by the pipeline; ``token`` tells a live timer from a stale one."""

    def __init__(self, index: int, resolution: Generator[Any, Any, Any]) -> None:
        self.index = index
        self.resolution = resolution
        self.request: Any = None
        self.sock: Optional[socket.socket] = None
        self.wire = b""
        self.token = 0


class _Pipeline:
    """Resolve many names from one thread: up to ``concurrency`` in flight, UDP sockets multiplexed.

    TCP (the rare retry of a truncated answer) is done in line.
    """

    def __init__(self, resolutions: Sequence[Generator[Any, Any, Any]], concurrency: int) -> None:
        self.waiting = deque(_Task(i, r) for i, r in enumerate(resolutions))
        self.results: list[Any] = [None] * len(resolutions)
        self.concurrency = concurrency
        self.active = 0
        self.timers: list[tuple[float, int, _Task]] = []
        self.tokens = itertools.count(1)
        self.selector = selectors.DefaultSelector()

    def run(self) -> list[Any]:
        try:
            while self.waiting or self.active:
                while self.waiting and self.active < self.concurrency:
                    self.active += 1
                    self._step(self.waiting.popleft(), None, None)
                timeout = max(0.0, self.timers[0][0] - time.monotonic()) if self.timers else None
                if self.active:
                    for key, _events in self.selector.select(timeout):
                        self._readable(key.data)
                self._expire()
        finally:
            self.selector.close()
        return self.results

    def _step(self, task: _Task, value: Any, error: Optional[BaseException]) -> None:
        """Resume a resolution until it waits for the network or a pause, or finishes."""
        while True:
            try:
                request = task.resolution.throw(error) if error is not None else task.resolution.send(value)
            except StopIteration as stop:
                self.results[task.index] = stop.value
                self.active -= 1
                return
            value, error = None, None
            task.request = request
            task.token = next(self.tokens)
            if isinstance(request, _Pause):
                heapq.heappush(self.timers, (time.monotonic() + request.seconds, task.token, task))
                return
            try:
                if request.tcp:
                    value = _tcp(request)
                    continue
                task.wire = request.query.to_wire()
                task.sock = _udp_socket(request.address, request.port)
                task.sock.setblocking(False)
                task.sock.send(task.wire)
            except (OSError, dns.exception.DNSException) as exc:
                self._close(task)
                error = exc
                continue
            self.selector.register(task.sock, selectors.EVENT_READ, task)
            heapq.heappush(self.timers, (time.monotonic() + request.wait, task.token, task))
            return

    def _readable(self, task: _Task) -> None:
        answered, response, error = False, None, None
        while not answered:
            try:
                data = task.sock.recv(65535)
                answered, response = _answer_of(task.request.query, task.wire, data)
            except BlockingIOError:
                return  # only noise so far: keep waiting
            except (OSError, dns.exception.DNSException) as exc:
                answered, error = True, exc
        self._close(task)
        if error is None and (response is None or response.flags & dns.flags.TC):
            try:
                response = _tcp(task.request)
            except (OSError, dns.exception.DNSException) as exc:
                error = exc
        self._step(task, None if error else response, error)

    def _expire(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _when, token, task = heapq.heappop(self.timers)
            if token != task.token:
                continue  # answered before its timeout
            if isinstance(task.request, _Pause):
                self._step(task, None, None)
            else:
                self._close(task)
                self._step(task, None, dns.exception.Timeout(timeout=task.request.wait))

    def _close(self, task: _Task) -> None:
        task.token = 0
        if task.sock is not None:
            with contextlib.suppress(KeyError, ValueError):  # never registered when the send failed
                self.selector.unregister(task.sock)
            task.sock.close()
            task.sock = None


def _answer_records(response: Any) -> dict[tuple[Any, Any], Any]:
    """The answer section by (owner, type); dnspython names compare case-insensitively."""
    return {(rrset.name, rrset.rdtype): rrset for rrset in response.answer if rrset.rdclass == dns.rdataclass.IN}


def _chain_error(host: str, chain: list[str], target: Any, loop: bool, server: str) -> ResolveError:
    path = " -> ".join([host, *chain, _text(target)])
    if loop:
        return ResolveError(CNAME_LOOP, f"{host}: CNAME loop {path} (answers from {server})")
    return ResolveError(
        CNAME_DEPTH, f"{host}: CNAME chain longer than {MAX_CNAME_DEPTH} ({path}) (answers from {server})"
    )


def _failure_error(host: str, qname: Any, rdtype: str, failures: dict[str, _Failure]) -> ResolveError:
    """One typed error from per-server failures: the type of the first server's failure; all are listed."""
    first = next(iter(failures.values()))
    parts = []
    for label, failure in failures.items():
        times = f", {failure.attempts} attempts" if failure.attempts > 1 else ""
        parts.append(f"{failure.type} from {label} ({failure.detail}{times})")
    name = _text(qname)
    subject = host if name == host else f"{host} (CNAME target {name})"
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


__all__ = [
    "ERROR_TYPES",
    "FAMILY_CHOICES",
    "MAX_CNAME_DEPTH",
    "ON_ERROR_CHOICES",
    "HostResult",
    "Nameserver",
    "ResolutionFailed",
    "ResolveError",
    "ResolverOptions",
    "apply_on_error",
    "blocks_of",
    "merged_cidrs",
    "parse_nameserver",
    "resolve",
    "results_from_detail",
    "results_to_detail",
    "system_nameservers",
    "with_cidrs",
]
