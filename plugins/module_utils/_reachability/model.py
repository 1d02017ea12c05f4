# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reachability: who may reach which address:port, by which way out, as a set's objects grant it.

``grants(objects)`` reads the objects of one rule set (live ones read from a cluster, or the ones
a run renders: the same function for both, so their difference is exactly the change) and returns
the grants they make. A grant is: the namespace of the objects, the sources that may use it (the
namespaces the ServiceEntry is exported to, Istio's default being every namespace, narrowed to
pods by the service's NetworkPolicy, or to namespaces and service accounts by the
AuthorizationPolicy of the egress gateway or the waypoint), the destination (an address or CIDR
block, never expanded), the port and its declared protocol, the service, the host names it was
resolved from, the way out, and ``retained_until`` when address retention alone keeps it.

``change(before, after)`` is block arithmetic per (namespace, source, service, port, protocol, way):
a /28 that grows to a /27 is the new half added, not a block removed and another added; a source
that stops being admitted is removed, and the sources that keep the grant are not in the change.
"""

from __future__ import annotations

import bisect
import datetime
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Optional

from .._addresses import _require_netaddr
from .._ambient.spec import USE_WAYPOINT_LABEL
from .._kinds import AUTHORIZATION_POLICY, EGRESS_RULE, GATEWAY, NETWORK_POLICY, SERVICE_ENTRY
from .._names import SET_LABEL
from .._retain import LAST_SEEN_ANNOTATION
from .._scripts import shown

try:
    import netaddr
except ImportError:  # pragma: no cover - reported by _require_netaddr
    netaddr = None

DIRECT = "direct"
EGRESS_GATEWAY = "egress_gateway"
AMBIENT = "ambient"
WAYS = (DIRECT, EGRESS_GATEWAY, AMBIENT)
# How a reviewer reads a way out.
WAY_TEXT = {DIRECT: "direct", EGRESS_GATEWAY: "via egress gateway", AMBIENT: "via waypoint"}
EVERY_NAMESPACE = "*"
# The keys of one reachability item, in the order they are shown.
ITEM_KEYS = ("namespace", "sources", "service", "destination", "port", "protocol", "way", "hosts", "retained_until")

_SERVICE = "meshguard.egress/service"
_SOURCES = "meshguard.egress/sources"
_PROTOCOLS = "meshguard.egress/declared-protocols"


@dataclass(frozen=True)
class Grant:
    """Who may reach one destination on one port, by which way out."""

    namespace: str
    sources: tuple[str, ...]
    service: str
    destination: str
    port: int
    protocol: str
    way: str
    hosts: tuple[str, ...] = ()
    retained_until: Optional[str] = None

    @property
    def group(self) -> tuple:
        """What two grants must share for their destinations to be compared as blocks."""
        return (self.namespace, self.sources, self.service, self.port, self.protocol, self.way)

    def as_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "sources": list(self.sources),
            "service": self.service,
            "destination": self.destination,
            "port": self.port,
            "protocol": self.protocol,
            "way": self.way,
            # A reviewer reads these: an internationalised name in both forms
            # (docs/docsite/rst/resolve.rst, "Look-alike names").
            "hosts": [shown(host) for host in self.hosts],
            "retained_until": self.retained_until,
        }


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return _meta(obj).get("annotations") or {}


def _service(obj: Mapping[str, Any]) -> str:
    return _annotations(obj).get(_SERVICE, "")


def _exported(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The namespaces a ServiceEntry is exported to, as Istio reads exportTo (``*``: every namespace)."""
    values = (obj.get("spec") or {}).get("exportTo") or []
    if not values or EVERY_NAMESPACE in values:
        return (EVERY_NAMESPACE,)
    own = _meta(obj).get("namespace", "")
    return tuple(sorted({own if v == "." else v for v in values if v != "~"}))


def _declared(obj: Mapping[str, Any]) -> dict[int, str]:
    """Each port's protocol as declared (the annotation keeps what Istio is told otherwise)."""
    ports = {
        int(p["number"]): str(p.get("protocol", "TCP")).upper() for p in (obj.get("spec") or {}).get("ports") or []
    }
    for item in filter(None, _annotations(obj).get(_PROTOCOLS, "").split(",")):
        number, _sep, protocol = item.partition("=")
        if number.isdigit():
            ports[int(number)] = protocol
    return ports


def _record(obj: Mapping[str, Any]) -> dict[str, str]:
    try:
        found = json.loads(_annotations(obj).get(LAST_SEEN_ANNOTATION) or "{}")
    except ValueError:
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, str)} if isinstance(found, dict) else {}


def _until(since: str, window: int) -> Optional[str]:
    try:
        start = datetime.datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return (start + datetime.timedelta(seconds=window)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pods(policies: Sequence[Mapping[str, Any]], namespace: str, service: str) -> Optional[str]:
    """The pods the service's NetworkPolicy selects in its namespace (None: no policy, or every pod)."""
    for policy in policies:
        if _service(policy) != service or _meta(policy).get("namespace") != namespace:
            continue
        labels = ((policy.get("spec") or {}).get("podSelector") or {}).get("matchLabels") or {}
        if labels:
            return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return None


def _principals(policy: Mapping[str, Any]) -> tuple[str, ...]:
    """The namespaces and namespace/service-account pairs an ALLOW AuthorizationPolicy admits."""
    found: set[str] = set()
    for rule in (policy.get("spec") or {}).get("rules") or []:
        for source in rule.get("from") or [{"source": {"namespaces": [EVERY_NAMESPACE]}}]:
            entry = source.get("source") or {}
            found.update(entry.get("namespaces") or [])
            found.update(entry.get("serviceAccounts") or [])
    return tuple(sorted(found))


def _narrowed(
    exported: tuple[str, ...], admitted: Optional[tuple[str, ...]], pods: Optional[str], namespace: str
) -> tuple[str, ...]:
    """The sources of a grant: the exported namespaces, narrowed by a policy's principals (a namespace or a
    service account in one of them), and the service's own namespace qualified by the pods its NetworkPolicy
    selects (a NetworkPolicy selects pods of its own namespace only)."""
    sources = exported
    if admitted is not None and EVERY_NAMESPACE not in admitted:
        every = EVERY_NAMESPACE in exported
        sources = tuple(a for a in admitted if every or a.split("/")[0] in exported)
    if pods:
        sources = tuple(f"{s} ({pods})" if s == namespace else s for s in sources)
    return tuple(sorted(sources))


def grants(
    objects: Iterable[Mapping[str, Any]],
    *,
    retain: int = 0,
    hosts_of: Optional[Mapping[str, Sequence[str]]] = None,
) -> list[Grant]:
    """The grants a set's objects make, one per (sources, destination block, port).

    ``retain``: the retention window in seconds, for ``retained_until``. ``hosts_of``: the host names
    that answered each address (this run's answers); without it, every host name of the service.
    """
    _require_netaddr()
    answered = None if hosts_of is None else _Answered.of(hosts_of)
    objects = list(objects)
    policies = [o for o in objects if o.get("kind") == NETWORK_POLICY.kind]
    authorizations = {
        (_meta(o).get("namespace"), _meta(o).get("name")): o
        for o in objects
        if o.get("kind") == AUTHORIZATION_POLICY.kind
    }
    gateways = {
        (_service(o), _meta(o).get("labels", {}).get(SET_LABEL)): o for o in objects if o.get("kind") == GATEWAY.kind
    }
    # Retention's record: on the ServiceEntry (direct, ambient), on the service's Gateway (egress gateway).
    records: dict[str, dict[str, str]] = {}
    for obj in objects:
        if obj.get("kind") in (SERVICE_ENTRY.kind, GATEWAY.kind, EGRESS_RULE.kind):
            records.setdefault(_service(obj), {}).update(_record(obj))
    found: list[Grant] = []
    for obj in objects:
        kind = obj.get("kind")
        if kind not in (SERVICE_ENTRY.kind, EGRESS_RULE.kind):
            continue
        meta, spec = _meta(obj), obj.get("spec") or {}
        namespace, service = meta.get("namespace", ""), _service(obj)
        hosts = tuple(filter(None, _annotations(obj).get(_SOURCES, "").split(",")))
        pods = _pods(policies, namespace, service)
        if kind == EGRESS_RULE.kind:
            # Istio 0.x: no exportTo, every namespace; a destination per rule.
            destination = (spec.get("destination") or {}).get("service", "")
            ports = {int(p["port"]): str(p.get("protocol", "tcp")).upper() for p in spec.get("ports") or []}
            way = EGRESS_GATEWAY if spec.get("use_egress_proxy") else DIRECT
            blocks, sources = [destination], _narrowed((EVERY_NAMESPACE,), None, pods, namespace)
        else:
            ports = _declared(obj)
            blocks = list(spec.get("addresses") or [])
            labels = meta.get("labels") or {}
            exported = _exported(obj)
            if USE_WAYPOINT_LABEL in labels:
                way = AMBIENT
                policy = authorizations.get((namespace, meta.get("name")))
                # The waypoint admits the policy's sources only; ztunnel ignores exportTo.
                sources = _narrowed((EVERY_NAMESPACE,), _principals(policy) if policy else None, pods, namespace)
            elif (service, labels.get(SET_LABEL)) in gateways:
                way = EGRESS_GATEWAY
                gateway = gateways[(service, labels.get(SET_LABEL))]
                policy = authorizations.get((_meta(gateway).get("namespace"), _meta(gateway).get("name")))
                sources = _narrowed(exported, _principals(policy) if policy else None, pods, namespace)
                # A unit's one endpoint is its one address.
                blocks = [e["address"] for e in spec.get("endpoints") or [] if e.get("address")] or blocks
            else:
                way = DIRECT
                sources = _narrowed(exported, None, pods, namespace)
        record = records.get(service, {})
        for block in blocks:
            for port, protocol in sorted(ports.items()):
                found += _split(
                    Grant(namespace, sources, service, block, port, protocol, way, hosts), record, retain, answered
                )
    return _merged(found)


def _merged(found: Iterable[Grant]) -> list[Grant]:
    """Neighbouring destinations of the same grant merged into blocks (the egress gateway renders one
    object per address), so that a block is shown as a block."""
    alike: dict[tuple, list[str]] = {}
    for grant in found:
        alike.setdefault((*grant.group, grant.hosts, grant.retained_until), []).append(grant.destination)
    out = []
    for (namespace, sources, service, port, protocol, way, hosts, until), addresses in alike.items():
        base = Grant(namespace, sources, service, "", port, protocol, way, hosts, until)
        # One IPSet of them all: adding one by one compacts the set again at each step.
        out += _pieces(netaddr.IPSet(addresses), base)
    return sorted(out, key=_key)


@dataclass(frozen=True)
class _Answered:
    """The host names that answered each address, found by block: sorted (version, integer) keys,
    so that a block's addresses are one bisection, not a pass over every answer per grant (a rule set of
    500 services made that the largest part of a cluster's cost)."""

    keys: tuple[tuple[int, int], ...]
    names: tuple[Sequence[str], ...]

    @classmethod
    def of(cls, hosts_of: Mapping[str, Sequence[str]]) -> _Answered:
        parsed = sorted(
            ((address.version, int(address)), names)
            for address, names in ((_ip(a), n) for a, n in hosts_of.items())
            if address is not None
        )
        return cls(tuple(key for key, names in parsed), tuple(names for key, names in parsed))

    def within(self, network: Any) -> set[str]:
        low = bisect.bisect_left(self.keys, (network.version, network.first))
        high = bisect.bisect_right(self.keys, (network.version, network.last))
        return {h for names in self.names[low:high] for h in names}


def _ip(text: str) -> Any:
    try:
        return netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None


def _split(grant: Grant, record: Mapping[str, str], retain: int, answered: Optional[_Answered]) -> list[Grant]:
    """One grant per block, the addresses that retention alone keeps as grants of their own
    (``retained_until``), each with the host names that answered it."""
    block = netaddr.IPSet([netaddr.IPNetwork(grant.destination).cidr])
    kept = {a: _until(since, retain) for a, since in record.items() if since and _is_ip(a) and a in block}
    out = []
    for address, until in sorted(kept.items()):
        out.append(_with(grant, address, until, answered))
    rest = block - netaddr.IPSet(kept)
    for cidr in rest.iter_cidrs():
        out.append(_with(grant, str(cidr), None, answered))
    return out


def _is_ip(text: str) -> bool:
    try:
        netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False
    return True


def _with(grant: Grant, destination: str, until: Optional[str], answered: Optional[_Answered]) -> Grant:
    network = netaddr.IPNetwork(destination)
    named = tuple(sorted(answered.within(network))) if answered is not None else ()
    hosts = named or grant.hosts
    text = str(network.ip) if network.size == 1 else str(network.cidr)
    return Grant(
        grant.namespace, grant.sources, grant.service, text, grant.port, grant.protocol, grant.way, hosts, until
    )


def _key(grant: Grant) -> tuple:
    network = netaddr.IPNetwork(grant.destination)
    return (*grant.group, network.version, int(network.first), network.prefixlen, grant.retained_until or "")


@dataclass(frozen=True)
class Change:
    added: tuple[Grant, ...]
    removed: tuple[Grant, ...]
    unchanged: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": [g.as_dict() for g in self.added],
            "removed": [g.as_dict() for g in self.removed],
            "unchanged": self.unchanged,
        }


def change(before: Iterable[Grant], after: Iterable[Grant]) -> Change:
    """What goes from ``before`` to ``after``, per group and per source, in blocks: the addresses added
    (and those whose retention changed, with their new state), the addresses removed, and how many grants
    of ``after`` stay exactly as they were. Per source: a grant whose sources narrow from ``shop, billing``
    to ``shop`` is ``billing`` removed, not the grant removed and another added (shop keeps it throughout);
    the sources that gain or lose the same block in the same way are one item again."""
    _require_netaddr()
    after = list(after)
    before = list(before)
    if before == after:
        # Nothing added, nothing removed: the common case of a run that changes nothing, without the sets.
        return Change((), (), len(after))
    old: dict[tuple, list[Grant]] = {}
    new: dict[tuple, list[tuple[int, Grant]]] = {}
    for grant in before:
        for one in _each_source(grant):
            old.setdefault(one.group, []).append(one)
    for index, grant in enumerate(after):
        for one in _each_source(grant):
            new.setdefault(one.group, []).append((index, one))
    added: list[Grant] = []
    removed: list[Grant] = []
    changed: set[int] = set()
    for group in set(old) | set(new):
        was, now = old.get(group, []), new.get(group, [])
        was_all = netaddr.IPSet(g.destination for g in was)
        now_all = netaddr.IPSet(g.destination for _i, g in now)
        states: dict[Optional[str], list[str]] = {}
        for grant in was:
            states.setdefault(grant.retained_until, []).append(grant.destination)
        by_state = {state: netaddr.IPSet(blocks) for state, blocks in states.items()}
        nothing = netaddr.IPSet()
        for index, grant in now:
            block = netaddr.IPSet([grant.destination])
            fresh = block - was_all
            restated = (block & was_all) - by_state.get(grant.retained_until, nothing)
            added += _pieces(fresh, grant) + _pieces(restated, grant)
            if fresh or restated:
                changed.add(index)
        for grant in was:
            removed += _pieces(netaddr.IPSet([grant.destination]) - now_all, grant)
    return Change(_joined(added), _joined(removed), len(after) - len(changed))


def _each_source(grant: Grant) -> list[Grant]:
    """The grant once per source (a grant that admits nobody stays as it is)."""
    return [replace(grant, sources=(source,)) for source in grant.sources] or [grant]


def _joined(pieces: Iterable[Grant]) -> tuple[Grant, ...]:
    """Pieces that differ in their source only, as one item with every such source."""
    sources: dict[Grant, set[str]] = {}
    for piece in pieces:
        sources.setdefault(replace(piece, sources=()), set()).update(piece.sources)
    return tuple(sorted((replace(g, sources=tuple(sorted(s))) for g, s in sources.items()), key=_key))


def _pieces(addresses: Any, grant: Grant) -> list[Grant]:
    """The blocks of ``addresses`` (a part of the grant's destination), each with the grant's details."""
    out = []
    for cidr in addresses.iter_cidrs():
        text = str(cidr.ip) if cidr.size == 1 else str(cidr)
        out.append(
            Grant(
                grant.namespace,
                grant.sources,
                grant.service,
                text,
                grant.port,
                grant.protocol,
                grant.way,
                grant.hosts,
                grant.retained_until,
            )
        )
    return out
