# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address snapshots: every host name of a rule set resolved once, written to
one file that a merge request reviews, and read back by the rollout, which
then applies exactly those addresses without asking DNS.

The file (YAML, deterministic: the same answers at the same time give the
same bytes)::

    version: 1
    time: '2026-12-01T10:00:00Z'          # when it was resolved (UTC, RFC 3339)
    services:                             # which service reaches which host names
      orders-mongo: [mongo-0.db.example.com, mongo-1.db.example.com]
    hosts:
      mongo-0.db.example.com:
        addresses: [192.0.2.10, 2001:db8::10]
        cname_chain: []
        ttl: 300                          # the smallest TTL of the records used
        nameservers: ['10.0.0.53:53']     # the nameservers it was asked of
        dnssec: secure                    # validated: secure, insecure or bogus
        dnssec_reason: signed by db.example.com

A host that did not resolve (only with on_error=keep) has ``error`` ({type,
message}) and no addresses; the rollout then treats it as not resolved. A
host is validated by DNSSEC when a service that reaches it (or the
snapshot's ``dnssec``) asks for it; without ``dnssec`` in the file, a
rollout whose mode is require refuses the host.

Plain data, no Ansible: the ``snapshot`` module writes it, the ``snapshot``
lookup and the ``rules`` module read it.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from ._dns.detail import results_from_detail, results_to_detail
from ._dns.options import ResolverOptions, system_nameservers
from ._dns.resolve import resolve_names
from ._dns.results import HostResult, ResolveError
from ._dnssec.anchors import parse_trust_anchors
from ._dnssec.policy import OFF, judge_all, parse_mode, strongest
from ._errors import MeshguardError, OptionError
from ._prepare import ON_ERROR
from ._problems import Problem, ProblemsError
from ._retain import parse_duration, parse_time, timestamp
from ._scripts import shown
from ._terms import KIND_NAME, TermError, parse_term
from ._values import choice
from ._yaml import require_yaml

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    yaml = None

VERSION = 1
# The variable that carries a snapshot as data (set_stats of the snapshot playbook, a workflow's extra variable).
DATA_VAR = "meshguard_egress_snapshot_data"
DEFAULT_MAX_AGE = "24h"
HEADER = (
    "# meshguard.egress address snapshot, written by meshguard.egress.snapshot.\n"
    "# A rollout with meshguard_egress_snapshot applies exactly these addresses and asks no DNS server.\n"
)


class SnapshotError(MeshguardError):
    """A snapshot file cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class HostEntry:
    """What one host name resolved to when the snapshot was taken."""

    addresses: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    ttl: Optional[int] = None
    nameservers: tuple[str, ...] = ()
    error: Optional[ResolveError] = None
    # DNSSEC's verdict (_dnssec) and why; None when the host was not validated.
    dnssec: Optional[str] = None
    dnssec_reason: str = ""


@dataclass(frozen=True)
class Snapshot:
    time: datetime.datetime
    # host name (normal form) -> entry
    hosts: Mapping[str, HostEntry] = field(default_factory=dict)
    # service name -> its host names (the union over every cluster that has the service)
    services: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def stamp(self) -> str:
        return timestamp(self.time)

    def results(self) -> dict[str, HostResult]:
        """The snapshot as the resolver's results, by host name."""
        return {
            host: HostResult(
                host=host,
                kind=KIND_NAME,
                addresses=entry.addresses,
                cname_chain=entry.cname_chain,
                ttl=entry.ttl,
                error=entry.error,
                dnssec=entry.dnssec,
                dnssec_reason=entry.dnssec_reason,
            )
            for host, entry in self.hosts.items()
        }


@dataclass(frozen=True)
class Change:
    """The addresses of one host of one service, before and after (and its DNSSEC status, when that changed)."""

    service: str
    host: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    # The CNAME chain, when it changed (None: it did not): where the name now leads, and where it led.
    cname_chain: Optional[tuple[str, ...]] = None
    cname_chain_before: Optional[tuple[str, ...]] = None
    # (before, after) when the host's DNSSEC status changed; None values: not validated.
    dnssec: Optional[tuple[Optional[str], Optional[str]]] = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "service": self.service,
            "host": self.host,
            "added": list(self.added),
            "removed": list(self.removed),
        }
        if self.cname_chain is not None:
            out.update(cname_chain=list(self.cname_chain), cname_chain_before=list(self.cname_chain_before or ()))
        if self.dnssec is not None:
            out["dnssec"] = {"before": self.dnssec[0], "after": self.dnssec[1]}
        return out

    def __str__(self) -> str:
        parts = [f"+{a}" for a in self.added] + [f"-{a}" for a in self.removed]
        if self.cname_chain is not None:
            now = " -> ".join(self.cname_chain) or "no CNAME"
            was = " -> ".join(self.cname_chain_before or ()) or "no CNAME"
            parts.append(f"CNAME {now} (was {was})")
        if self.dnssec is not None:
            before, after = (status or "not validated" for status in self.dnssec)
            parts.append(f"(DNSSEC {before} -> {after})")
        return f"service {self.service!r}: {shown(self.host)}: {' '.join(parts)}"


def _address_key(text: str) -> tuple[int, int]:
    address = ipaddress.ip_address(text)
    return address.version, int(address)


def sorted_addresses(addresses: Iterable[str]) -> tuple[str, ...]:
    """Deduplicated, IPv4 before IPv6, numeric order: the order of the file."""
    return tuple(sorted(set(addresses), key=_address_key))


# --------------------------------------------------------------------------- taking one


def service_modes(services: Any, dnssec: Any = None) -> dict[str, str]:
    """Service name -> its dnssec mode (its own, else ``dnssec``); the strongest when a name repeats.

    ``services`` are checked by service_hosts; only the modes are read here.
    """
    default = parse_mode(dnssec)
    found: dict[str, list[str]] = {}
    problems = []
    for index, service in enumerate(services if isinstance(services, (list, tuple)) else ()):
        if not isinstance(service, Mapping) or not isinstance(service.get("name"), str):
            continue
        try:
            mode = parse_mode(service.get("dnssec"), f"services[{index}] {service['name']!r}: dnssec")
        except MeshguardError as exc:
            problems.append(str(exc))
            continue
        found.setdefault(service["name"], []).append(default if service.get("dnssec") is None else mode)
    if problems:
        raise OptionError("; ".join(problems))
    return {name: strongest(modes) for name, modes in found.items()}


def service_hosts(services: Any) -> dict[str, tuple[str, ...]]:
    """Service name -> its host names in normal form (literals and ``addresses`` need no DNS).

    ``services`` are the services of every cluster, as the rules module takes
    them; a name that appears on several clusters gets the union of their
    host names. Every problem is reported at once, naming the service and field.
    """
    if isinstance(services, (str, bytes, Mapping)) or not isinstance(services, (list, tuple)):
        raise ProblemsError([Problem(f"expected a list of services, got {type(services).__name__}", "services")])
    found: dict[str, set[str]] = {}
    problems: list[Problem] = []
    for index, service in enumerate(services):
        if not isinstance(service, Mapping):
            problems.append(Problem(f"expected a dict with name and hosts, got {type(service).__name__}", index=index))
            continue
        name = service.get("name")
        if not isinstance(name, str) or not name:
            problems.append(Problem("is required", "name", index=index))
            continue
        names = found.setdefault(name, set())
        if service.get("addresses") is not None:
            continue  # given addresses: nothing to resolve
        hosts = service.get("hosts")
        if isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple)) or not hosts:
            problems.append(
                Problem("must be a non-empty list of host names, IP addresses or CIDR blocks", "hosts", name, index)
            )
            continue
        for position, text in enumerate(hosts):
            try:
                term = parse_term(text, allow_mixed_scripts=True)  # judged by each run, with its allowance
            except TermError as exc:
                problems.append(Problem(str(exc), f"hosts[{position}]", name, index))
                continue
            if term.is_name:
                names.add(term.value)
    if problems:
        raise ProblemsError(problems)
    return {name: tuple(sorted(hosts)) for name, hosts in sorted(found.items())}


def take(
    services: Mapping[str, Sequence[str]],
    results: Iterable[HostResult],
    nameservers: Sequence[str],
    now: datetime.datetime,
) -> Snapshot:
    """A snapshot of ``results`` (one per host name of ``services``), taken at ``now``."""
    hosts = {
        r.host: HostEntry(
            addresses=() if r.error else sorted_addresses(r.addresses),
            cname_chain=tuple(r.cname_chain),
            ttl=r.ttl,
            nameservers=tuple(nameservers),
            error=r.error,
            dnssec=r.dnssec,
            dnssec_reason=r.dnssec_reason,
        )
        for r in results
    }
    # Whole seconds: the file's resolution, so that a snapshot read back is the one written.
    moment = now.astimezone(datetime.timezone.utc).replace(microsecond=0)
    return Snapshot(moment, dict(sorted(hosts.items())), {k: tuple(v) for k, v in sorted(services.items())})


# --------------------------------------------------------------------------- the file


def to_data(snapshot: Snapshot) -> dict[str, Any]:
    """Plain data in the file's order (every mapping sorted)."""
    hosts: dict[str, Any] = {}
    for host, entry in sorted(snapshot.hosts.items()):
        item: dict[str, Any] = {
            "addresses": list(entry.addresses),
            "cname_chain": list(entry.cname_chain),
            "nameservers": list(entry.nameservers),
            "ttl": entry.ttl,
        }
        if entry.error is not None:
            item["error"] = {"message": entry.error.message, "type": entry.error.type}
        if entry.dnssec is not None:
            item["dnssec"] = entry.dnssec
            item["dnssec_reason"] = entry.dnssec_reason
        hosts[host] = item
    return {
        "version": VERSION,
        "time": snapshot.stamp,
        "services": {name: list(names) for name, names in sorted(snapshot.services.items())},
        "hosts": hosts,
    }


def dump(snapshot: Snapshot) -> str:
    """The file's text: the same snapshot always gives the same bytes (pure-Python emitter, fixed order)."""
    require_yaml("to write a snapshot")
    body = yaml.dump(to_data(snapshot), Dumper=yaml.SafeDumper, default_flow_style=False, sort_keys=False, width=120)
    return HEADER + body


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse(text: str, source: str = "snapshot") -> Snapshot:
    """Read a snapshot's text; every problem is named with ``source`` and the field."""
    require_yaml("to read a snapshot")
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise SnapshotError(f"{source}: not YAML: {exc}") from None
    return _from_mapping(data, source)


def from_data(data: Any, source: str = DATA_VAR) -> Snapshot:
    """A snapshot given as data: the mapping ``to_data`` gives (as set_stats publishes it), or the file's text.
    Every problem is named with ``source`` and the field, as for a file."""
    if isinstance(data, str):
        return parse(data, source)
    return _from_mapping(data, source)


def _from_mapping(data: Any, source: str) -> Snapshot:
    if not isinstance(data, Mapping):
        raise SnapshotError(f"{source}: not a meshguard.egress snapshot (expected a mapping with version, time, hosts)")
    problems: list[str] = []
    if data.get("version") != VERSION:
        raise SnapshotError(f"{source}: version: expected {VERSION}, got {data.get('version')!r}")
    unknown = sorted(set(map(str, data)) - {"version", "time", "services", "hosts"})
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}")
    moment = _time(data.get("time"), problems)
    services = _services(data.get("services"), problems)
    hosts = _hosts(data.get("hosts"), problems)
    for name, names in services.items():
        missing = [h for h in names if h not in hosts]
        if missing:
            problems.append(f"services: {name}: {', '.join(missing)} not under hosts")
    if problems or moment is None:
        raise SnapshotError(f"{source}: " + "; ".join(problems))
    return Snapshot(moment, hosts, services)


def read(path: str) -> tuple[Snapshot, str]:
    """The snapshot in ``path``, and its text."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise SnapshotError(f"snapshot {path}: cannot read it ({exc.strerror})") from None
    return parse(text, f"snapshot {path}"), text


def _time(value: Any, problems: list[str]) -> Optional[datetime.datetime]:
    if isinstance(value, datetime.datetime):  # a YAML timestamp someone left unquoted
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    try:
        return parse_time(value, "time")
    except MeshguardError as exc:
        problems.append(str(exc))
        return None


def _services(value: Any, problems: list[str]) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append("services: expected a mapping of service name to host names")
        return {}
    out = {}
    for name, hosts in value.items():
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            problems.append(f"services: {name}: expected a list of host names")
            continue
        out[str(name)] = tuple(hosts)
    return out


def _hosts(value: Any, problems: list[str]) -> dict[str, HostEntry]:
    if not isinstance(value, Mapping):
        problems.append("hosts: expected a mapping of host name to its addresses")
        return {}
    out: dict[str, HostEntry] = {}
    for host, entry in value.items():
        name = str(host)
        if not isinstance(entry, Mapping):
            problems.append(f"hosts: {name}: expected a mapping with addresses")
            continue
        keys = {"addresses", "cname_chain", "ttl", "nameservers", "error", "dnssec", "dnssec_reason"}
        unknown = sorted(set(map(str, entry)) - keys)
        if unknown:
            problems.append(f"hosts: {name}: unknown key(s) {', '.join(unknown)}")
            continue
        item = {k: entry.get(k) for k in ("addresses", "cname_chain", "ttl", "error", "dnssec", "dnssec_reason")}
        try:
            (result,) = results_from_detail([{"host": name, **item}])
        except MeshguardError as exc:
            problems.append(f"hosts: {name}: {str(exc).partition(': ')[2]}")
            continue
        if result.kind != KIND_NAME or result.host != name:
            problems.append(f"hosts: {name}: not a host name in normal form (lower-case, no trailing dot)")
            continue
        servers = entry.get("nameservers") or []
        if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
            problems.append(f"hosts: {name}: nameservers: expected a list")
            continue
        if result.error is None and not result.addresses:
            problems.append(f"hosts: {name}: addresses: empty without an error")
            continue
        out[name] = HostEntry(
            sorted_addresses(result.addresses),
            result.cname_chain,
            result.ttl,
            tuple(servers),
            result.error,
            result.dnssec,
            result.dnssec_reason,
        )
    return out


# --------------------------------------------------------------------------- using one


def check(
    snapshot: Snapshot,
    names: Iterable[str],
    max_age: Any,
    now: Optional[datetime.datetime] = None,
    source: str = "snapshot",
) -> None:
    """The snapshot can serve ``names`` (host names in normal form) now: none
    is missing, and it is not older than ``max_age`` (a duration; 0: any age)."""
    window = parse_duration(max_age, "max_age")
    problems = []
    missing = sorted(set(names) - set(snapshot.hosts))
    if missing:
        problems.append(
            f"{len(missing)} host name(s) of the rule set are not in it: {', '.join(missing)}; "
            "take a new snapshot (playbook meshguard.egress.snapshot)"
        )
    now = now or datetime.datetime.now(datetime.timezone.utc)
    age = (now - snapshot.time).total_seconds()
    if window and age > window:
        problems.append(
            f"taken at {snapshot.stamp}, {_duration(age)} ago, older than the maximum age {max_age}; "
            "take a new snapshot, or raise meshguard_egress_snapshot_max_age"
        )
    if age < -300:
        problems.append(f"taken at {snapshot.stamp}, in the future: check the clocks")
    if problems:
        raise SnapshotError(f"{source}: " + "; ".join(problems))


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def changes(before: Optional[Snapshot], after: Snapshot) -> list[Change]:
    """The addresses that changed, per service and host, sorted by service then host.

    A host new to a service has all its addresses added; a host (or service)
    gone has them all removed. A CNAME chain that leads elsewhere is shown with
    the host (the provider behind a name changed), and so is a DNSSEC status that
    changed. TTLs and the time are not changes.
    """
    old_services = dict(before.services) if before else {}
    old_hosts = dict(before.hosts) if before else {}
    out = []
    for service in sorted(set(old_services) | set(after.services)):
        was, now = set(old_services.get(service, ())), set(after.services.get(service, ()))
        for host in sorted(was | now):
            before_entry = old_hosts.get(host) if host in was else None
            after_entry = after.hosts.get(host) if host in now else None
            old = set(before_entry.addresses) if before_entry else set()
            new = set(after_entry.addresses) if after_entry else set()
            both = before_entry is not None and after_entry is not None
            chains = (
                (after_entry.cname_chain, before_entry.cname_chain)
                if both and before_entry.cname_chain != after_entry.cname_chain
                else (None, None)
            )
            status = None
            if both and before_entry.dnssec != after_entry.dnssec:
                status = (before_entry.dnssec, after_entry.dnssec)
            if old != new or chains[0] is not None or status is not None:
                added, removed = sorted_addresses(new - old), sorted_addresses(old - new)
                out.append(Change(service, host, added, removed, *chains, status))
    return out


# --------------------------------------------------------------------------- the snapshot module's run


def write_snapshot(
    path: Optional[str],
    services: Any,
    resolver: Optional[Mapping[str, Any]] = None,
    on_error: str = "fail",
    *,
    check_mode: bool = False,
    diff: bool = False,
    now: Optional[datetime.datetime] = None,
    dnssec: Any = None,
    trust_anchors: Any = None,
    return_data: bool = False,
) -> dict[str, Any]:
    """Resolve every host name of ``services`` and write the snapshot to ``path``
    (None: write no file; ``return_data`` then gives the snapshot as data).

    ``changed`` only when addresses (or DNSSEC statuses) changed (per service
    and host); the file is rewritten on every run that is not in check mode,
    so that its time says when its addresses were last confirmed. A host that
    does not resolve fails the run and leaves the file as it is, unless
    ``on_error`` is ``keep``: then it is written with its error. Hosts are
    validated by DNSSEC when ``dnssec`` (the rule set's mode) or a service's
    own ``dnssec`` asks for it; the file records each verdict, and the rollout
    judges it by each service's mode (a warning here names what it will refuse).
    """
    options = ResolverOptions.from_dict(resolver)
    wanted = service_hosts(services)
    modes = service_modes(services, dnssec)
    anchors = parse_trust_anchors(trust_anchors) if strongest(modes.values()) != OFF else None
    policy = choice("on_error", on_error, ON_ERROR)
    if not path and not return_data:
        raise OptionError("path: is required unless return_data is true (the snapshot returned as data)")
    before, before_text = None, None
    if path and os.path.exists(path):
        before, before_text = read(path)  # a broken file is an error, not something to overwrite silently
    names = sorted({h for hosts in wanted.values() for h in hosts})
    results = resolve_names(names, options, anchors) if names else []
    failed = [r for r in results if r.error is not None]
    if failed and policy == "fail":
        lines = "\n".join(f"- {r.error}" for r in failed)
        unwritten = f"{path} was not written" if path else "no snapshot was taken"
        raise SnapshotError(f"{len(failed)} host name(s) did not resolve, {unwritten}:\n{lines}")
    warnings = [f"{r.error}; written with its error, the rollout keeps the live rules of its services" for r in failed]
    by_host = {r.host: r for r in results}
    for service, hosts in wanted.items():
        refused, insecure = judge_all(service, [by_host[h] for h in hosts], modes[service])
        warnings += [f"{r.message}; a rollout from this snapshot refuses it" for r in refused] + insecure
    servers = (options.nameservers or system_nameservers()) if names else ()
    asked = [server.label(options.port) for server in servers]
    snapshot = take(wanted, results, asked, now or datetime.datetime.now(datetime.timezone.utc))
    text = dump(snapshot)
    found = changes(before, snapshot)
    if path and not check_mode and text != before_text:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        # Atomic: a reader (a rollout starting now) sees the old file or the new one, never half of one.
        fd, temporary = tempfile.mkstemp(prefix=".snapshot-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise
    result: dict[str, Any] = {
        # Without a file nothing is kept between runs: the data is new each time, and nothing was written.
        "changed": bool(path) and (bool(found) or before is None),
        "path": path or "",
        "time": snapshot.stamp,
        "hosts": len(snapshot.hosts),
        "changes": [c.as_dict() for c in found],
        "summary": [str(c) for c in found] or ["no address changed"],
        "warnings": warnings,
    }
    if return_data:
        result["snapshot"] = to_data(snapshot)
        result["digest"] = digest(text)
    if diff and path:
        result["diff"] = {
            "before": before_text or "",
            "after": text,
            "before_header": path if before_text is not None else "(no snapshot)",
            "after_header": path,
        }
    return result


def for_rollout(
    path: str, names: Iterable[str], max_age: Any = DEFAULT_MAX_AGE, now: Optional[datetime.datetime] = None
) -> dict[str, Any]:
    """What a rollout takes from a snapshot file, checked: every host of ``names``
    is in it and it is not too old (the ``snapshot`` lookup's answer)."""
    snapshot, text = read(path)
    return {"path": path, **_serving(snapshot, text, names, max_age=max_age, now=now, source=f"snapshot {path}")}


def for_rollout_data(
    data: Any, names: Iterable[str], max_age: Any = DEFAULT_MAX_AGE, now: Optional[datetime.datetime] = None
) -> dict[str, Any]:
    """What a rollout takes from a snapshot given as data (``DATA_VAR``), with the checks of a file. Its
    digest is that of the file the same snapshot makes, so a file and its data can be told to agree."""
    snapshot = from_data(data, DATA_VAR)
    return {"source": DATA_VAR, **_serving(snapshot, dump(snapshot), names, max_age=max_age, now=now, source=DATA_VAR)}


def _serving(
    snapshot: Snapshot, text: str, names: Iterable[str], *, max_age: Any, now: Optional[datetime.datetime], source: str
) -> dict[str, Any]:
    wanted = sorted(set(names))
    check(snapshot, wanted, max_age, now, source=source)
    results = snapshot.results()
    return {
        "time": snapshot.stamp,
        "digest": digest(text),
        "results": results_to_detail([results[name] for name in wanted]),
    }
