# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a validated rule set and its addresses into Kubernetes objects.

``render(ruleset, addresses_by_service)`` is a pure function: the same input
gives the same list of plain dicts, sorted by kind, namespace and name, with
nothing in it that changes between runs. See docs/docsite/rst/rendering.rst.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Optional, Union

from ._ambient.render import (
    ambient_export_to,
    authorization_policy,
    service_network_policies,
    waypoint_labels,
    waypoint_objects,
)
from ._errors import MeshguardError
from ._expand import TooManyAddresses, expand
from ._gateway.render import GatewayView, gateway_base_objects, gateway_objects, needs_authorization, unchecked_view
from ._gateway.spec import MAX_GATEWAY_ADDRESSES, PLAIN
from ._istio_versions import AMBIENT_CIDRS, MAX_EXPANDED_ADDRESSES, expands_cidrs
from ._istio_versions import text as version_text
from ._kinds import (
    ADMISSION_BINDING,
    ADMISSION_POLICY,
    AUTHORIZATION_POLICY,
    DESTINATION_RULE,
    EGRESS_RULE,
    GATEWAY,
    NETWORK_POLICY,
    SERVICE_ENTRY,
    SIDECAR,
    VIRTUAL_SERVICE,
    WAYPOINT,
    Kind,
    api_version,
    identity,
    sort_key,
)
from ._names import OWNER_LABEL, OWNER_VALUE, SET_LABEL, address_slug, object_name
from ._policy.guardrail import guardrail_objects
from ._policy.judge import Range
from ._proxy.network_policy import direct_policy
from ._retain import LAST_SEEN_ANNOTATION
from ._spec import RuleSet, Service
from ._terms import ip_text

SERVICE_ANNOTATION = "meshguard.egress/service"
SOURCES_ANNOTATION = "meshguard.egress/sources"
# Ports rendered with another protocol than declared (``_port_protocol``): "80=HTTP,3306=MYSQL".
PROTOCOLS_ANNOTATION = "meshguard.egress/declared-protocols"
# Istio allows one namespace-wide Sidecar per namespace; a fixed name makes a
# second one (another set, or a hand-made "default") a name conflict that the
# apply engine reports instead of a silent second Sidecar.
SIDECAR_NAME = "default"
# Synthetic hosts live under a reserved top-level domain (RFC 2606): they can
# never be resolved, nor collide with a real name or a Kubernetes Service.
SYNTHETIC_HOST_DOMAIN = "meshguard-egress.invalid"
# Istio's CRD limits per ServiceEntry.
MAX_ADDRESSES = 256
TLS_PROTOCOLS = ("TLS", "HTTPS")

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class RenderError(MeshguardError):
    """The addresses given cannot be rendered for a service."""


@dataclass(frozen=True)
class ServiceAddresses:
    """What resolution and aggregation produced for one service.

    ``cidrs``: the merged CIDR blocks that go into ``addresses``; ``ips``: the
    individual addresses (STATIC endpoints); ``sources``: the host names they
    were resolved from (provenance only); ``last_seen``: address retention's
    annotation value (``_retain``), empty when retention is off.
    """

    cidrs: tuple[str, ...]
    ips: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    last_seen: str = ""


def rendered_kinds(ruleset: RuleSet) -> list[Kind]:
    """The kinds of every object ``render`` produces for the rule set (none when it renders nothing)."""
    if not ruleset.services and not ruleset.registry_only:
        return []
    kinds = [EGRESS_RULE if ruleset.legacy else SERVICE_ENTRY]
    if not ruleset.legacy and any(ruleset.via_gateway(s) for s in ruleset.services):
        kinds += [GATEWAY, DESTINATION_RULE, VIRTUAL_SERVICE]
        if needs_authorization(ruleset):
            kinds.append(AUTHORIZATION_POLICY)
    if not ruleset.legacy and ruleset.has_ambient:
        if AUTHORIZATION_POLICY not in kinds:
            kinds.append(AUTHORIZATION_POLICY)
        if ruleset.waypoint is not None and ruleset.waypoint.manage:
            kinds.append(WAYPOINT)
    if ruleset.network_policy:
        kinds.append(NETWORK_POLICY)
    if ruleset.registry_only:
        kinds.append(SIDECAR)
    if ruleset.guardrail:
        kinds += [ADMISSION_POLICY, ADMISSION_BINDING]
    return kinds


def render(
    ruleset: RuleSet,
    addresses_by_service: Mapping[str, ServiceAddresses],
    guardrail_ranges: Sequence[Range] = (),
    gateway: Optional[GatewayView] = None,
    ambient_in_use: bool = False,
) -> list[dict[str, Any]]:
    """Every object of ``ruleset``, as plain dicts sorted by (kind, namespace, name).

    ``guardrail_ranges``: what the guardrail's admission policy denies (``_guardrail``).
    ``gateway``: what the cluster says about the egress gateway (``_gateway.cluster``);
    without it, ports are assigned from scratch and targetPorts taken as the ports.
    ``ambient_in_use``: a service of the whole set is in an ambient namespace (those that
    did not resolve included): the set's waypoint objects stay then.
    """
    # A view given means a service of the whole set goes through the gateway (those that did not
    # resolve included): the set's gateway-wide objects stay then.
    gateway_in_use = gateway is not None
    if gateway is None and ruleset.egress_gateway is not None and not ruleset.legacy:
        gateway = unchecked_view(ruleset)
    objects: list[dict[str, Any]] = []
    for service in ruleset.services:
        given = addresses_by_service.get(service.name)
        if given is None:
            raise RenderError(f"service {service.name!r}: no addresses were given to render")
        networks, ips = _addresses(service, given)
        meta = _Meta(ruleset, service, sorted(set(given.sources)), given.last_seen)
        via = ruleset.via_gateway(service)
        if ruleset.legacy:
            objects.extend(_egress_rules(ruleset, service, networks, meta, via))
        elif via and gateway is not None:
            addresses = _gateway_addresses(service, networks, ips, gateway)
            objects.extend(
                gateway_objects(
                    ruleset,
                    service,
                    addresses=addresses,
                    networks=networks,
                    ports=[(port, _declared_protocols(service, [port])) for port in _ports(service, False)],
                    metadata=meta.of,
                    view=gateway,
                    host_of=_synthetic_host,
                )
            )
            continue
        elif ruleset.is_ambient(service) and ruleset.waypoint is not None:
            objects.extend(_ambient(ruleset, service, networks, ips, meta))
            continue
        else:
            objects.extend(_service_entries(ruleset, service, networks, ips, meta))
        if ruleset.network_policy:
            objects.append(_network_policy(ruleset, service, networks, meta))
    objects.extend(
        gateway_base_objects(ruleset, lambda name, namespace: _metadata(name, namespace, ruleset), gateway_in_use)
    )
    objects.extend(
        waypoint_objects(
            ruleset, lambda name, namespace, labels: _metadata(name, namespace, ruleset, labels=labels), ambient_in_use
        )
    )
    objects.extend(_sidecar(ruleset, namespace) for namespace in ruleset.registry_only)
    objects.extend(guardrail_objects(ruleset, guardrail_ranges))
    objects.sort(key=sort_key)
    for before, after in zip(objects, objects[1:]):
        if identity(before) == identity(after):
            # Only a hash collision of two long names can get here.
            _group, kind, namespace, name = identity(after)
            raise RenderError(f"two rendered objects share the name {kind} {namespace}/{name}")
    return objects


def _ambient(
    ruleset: RuleSet, service: Service, networks: list[Network], ips: list[Address], meta: _Meta
) -> list[dict[str, Any]]:
    """A service in an ambient namespace: its ServiceEntries bound to the waypoint, a policy on each."""
    waypoint = ruleset.waypoint
    if waypoint is None:
        raise RenderError(f"service {service.name!r}: in an ambient namespace without a waypoint")
    listed = networks
    if expands_cidrs(ruleset.istio_version):
        listed = [ipaddress.ip_network(address) for address in _expanded(ruleset, service, networks)]
    # One address or block per object, whatever the layout: the waypoint keeps a
    # filter chain for one address of a ServiceEntry only (docs/docsite/rst/rendering.rst, "Ambient mode").
    entries = _service_entries(
        ruleset,
        service,
        listed,
        ips,
        meta,
        labels=waypoint_labels(service, waypoint),
        layout="per_address",
        export_to=ambient_export_to(service),
    )
    objects = [
        *entries,
        *(authorization_policy(ruleset, service, e, meta.of(e["metadata"]["name"], last_seen=False)) for e in entries),
    ]
    if ruleset.network_policy:
        objects += service_network_policies(ruleset, service, networks, meta.of)
    return objects


def _expanded(ruleset: RuleSet, service: Service, networks: list[Network]) -> list[Address]:
    """Below Istio 1.30 ztunnel drops a ServiceEntry with a CIDR block: every address listed on its own."""
    try:
        return expand(networks, MAX_EXPANDED_ADDRESSES)
    except TooManyAddresses as exc:
        raise RenderError(
            f"service {service.name!r}: hosts: {exc.count} addresses after resolution and aggregation; below Istio "
            f"{version_text(AMBIENT_CIDRS)} ztunnel takes no CIDR blocks, so in ambient mode each address is listed "
            f"on its own, at most {exc.limit} per service (istio_version {version_text(ruleset.istio_version)}): "
            "split the service, narrow the aggregation (ipv4_prefix, ipv6_prefix), or target Istio "
            f"{version_text(AMBIENT_CIDRS)} or later"
        ) from None


def _addresses(service: Service, given: ServiceAddresses) -> tuple[list[Network], list[Address]]:
    """The service's addresses parsed, de-duplicated and sorted, whatever order they came in."""
    try:
        networks = sorted(set(map(ipaddress.ip_network, given.cidrs)), key=_network_key)
        ips = sorted(set(map(ipaddress.ip_address, given.ips)), key=lambda ip: (ip.version, ip))
    except ValueError as exc:
        raise RenderError(f"service {service.name!r}: {exc}") from None
    if not networks:
        # An entry without addresses would match every destination IP on its ports.
        raise RenderError(f"service {service.name!r}: no addresses to render (refusing to allow every IP)")
    if service.resolution == "STATIC":
        if not ips:
            raise RenderError(f"service {service.name!r}: STATIC resolution needs individual IP addresses")
        stray = [ip_text(ip) for ip in ips if not any(ip in network for network in networks)]
        if stray:
            raise RenderError(f"service {service.name!r}: endpoint addresses outside its CIDRs: {', '.join(stray)}")
    return networks, ips


def _gateway_addresses(
    service: Service, networks: list[Network], ips: list[Address], gateway: GatewayView
) -> list[Address]:
    """Every single address of the service: the gateway forwards to endpoints, never to "the address dialled"."""
    if gateway.gateway.mode == PLAIN:
        # A block is fine when every address in it was given or resolved one
        # by one (aggregation merges neighbours such as .40 and .41 into a /31).
        known = set(ips)
        blocks = [
            ip_text(network)
            for network in networks
            if network.num_addresses > 1
            and (network.num_addresses > len(known) or any(a not in known for a in network))
        ]
        if blocks:
            # Widened by aggregation (ipv4_prefix, ipv6_prefix) or given as blocks.
            raise RenderError(
                f"service {service.name!r}: hosts: {', '.join(blocks)} are CIDR blocks; in plain mode the gateway load "
                "balances over the service's addresses, so every address of a block would get connections: list "
                "the addresses (and leave ipv4_prefix/ipv6_prefix at their defaults)"
            )
    try:
        return expand(networks, MAX_GATEWAY_ADDRESSES)
    except TooManyAddresses as exc:
        raise RenderError(
            f"service {service.name!r}: hosts: {exc.count} addresses after resolution and aggregation; through the "
            f"egress gateway each address is a ServiceEntry of its own, at most {exc.limit} per service: split the "
            "service, or send it direct (egress_gateway: false)"
        ) from None


def _network_key(network: Network) -> tuple[int, Any, int]:
    return network.version, network.network_address, network.prefixlen


@dataclass(frozen=True)
class _Meta:
    """What the metadata of a service's objects is made of."""

    ruleset: RuleSet
    service: Service
    sources: Sequence[str] = ()
    last_seen: str = ""

    def of(
        self,
        name: str,
        namespace: Optional[str] = None,
        extra: Optional[dict[str, str]] = None,
        last_seen: bool = True,
        labels: Optional[dict[str, str]] = None,
    ) -> dict[str, Any]:
        """The metadata of one of the service's objects (in its namespace unless another is given).

        ``last_seen``: whether this object carries retention's annotation (through the
        gateway only the per-service Gateway does, so a DNS change rewrites one object).
        """
        meta = self if last_seen else replace(self, last_seen="")
        return _metadata(name, namespace or self.service.namespace, self.ruleset, meta, extra, labels=labels)


def _metadata(
    name: str,
    namespace: str,
    ruleset: RuleSet,
    meta: Optional[_Meta] = None,
    extra: Optional[dict[str, str]] = None,
    *,
    labels: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    """Labels and annotations: the service's own, then the collection's (which win).

    ``extra``: the collection's annotations of this one object; ``labels``: its labels
    that Istio reads (the waypoint's binding).
    """
    service = meta.service if meta else None
    given = labels or {}
    labels = dict(service.labels) if service else {}
    labels.update(given)
    labels.update({OWNER_LABEL: OWNER_VALUE, SET_LABEL: ruleset.name})
    annotations = dict(service.annotations) if service else {}
    if service:
        annotations[SERVICE_ANNOTATION] = service.name
    if meta and meta.sources:
        annotations[SOURCES_ANNOTATION] = ",".join(meta.sources)
    if meta and meta.last_seen:
        annotations[LAST_SEEN_ANNOTATION] = meta.last_seen
    annotations.update(extra or {})
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(sorted(labels.items()))}
    if annotations:
        metadata["annotations"] = dict(sorted(annotations.items()))
    return metadata


def _synthetic_host(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.{SYNTHETIC_HOST_DOMAIN}"


def _groups(
    ruleset: RuleSet, service: Service, networks: list[Network], layout: str
) -> list[tuple[str, list[Network]]]:
    """(object name, CIDRs) for each object of a service: one per CIDR, or chunks of at most 256."""
    if layout == "per_address":
        return [(_address_name(ruleset, service, net), [net]) for net in networks]
    chunks = [networks[start : start + MAX_ADDRESSES] for start in range(0, len(networks), MAX_ADDRESSES)]
    # The first object keeps the plain name, so crossing 256 addresses only adds objects.
    return [
        (object_name(ruleset.name, service.name, *([str(index + 1)] if index else [])), chunk)
        for index, chunk in enumerate(chunks)
    ]


def _address_name(ruleset: RuleSet, service: Service, network: Network) -> str:
    return object_name(ruleset.name, service.name, address_slug(ip_text(network)))


def _static_groups(
    ruleset: RuleSet, service: Service, ips: list[Address]
) -> list[tuple[str, list[Network], list[Address]]]:
    """STATIC: one object per endpoint address, whatever the layout.

    Istio builds one service per entry of ``addresses``, each with every
    endpoint of the object, all in the one cluster of the host
    (``convertServices`` in pilot/pkg/serviceregistry/serviceentry/conversion.go):
    n addresses give n^2 endpoints, and a connection to one address is load
    balanced onto any other. With one address and its own endpoint per object,
    a connection reaches the address dialled, and a cluster holds one endpoint.
    """
    return [(_address_name(ruleset, service, net), [net], [ip]) for ip in ips for net in [ipaddress.ip_network(ip)]]


def _real_host(service: Service, layout: str) -> Optional[str]:
    """The one host name an object of the service may carry, or None (a synthetic host).

    Istio builds one service per host and address of a ServiceEntry, each with
    every port (``convertServices``): with two hosts, every address:port has two
    services, and for a port matched by address istiod keeps one of them and
    records a conflict (``pilot_conflict_outbound_listener_tcp_over_current_tcp``).
    So an object carries one host. A real name only when every address of the
    service is that name's (no IP or CIDR literal beside it) and the traffic goes
    to the address dialled (NONE): then a TLS port may also check the client's
    SNI against it (see ``_port_protocol``).
    """
    if layout != "per_service" or service.resolution != "NONE":
        return None
    names = service.host_names
    if len(names) != 1 or service.literal_addresses:
        return None
    return names[0]


def _port_protocol(declared: str, named: bool) -> str:
    """The protocol a port is rendered with, so that Istio matches it by destination address:port.

    - TLS, HTTPS: Istio matches a TLS port of a CIDR block on the SNI too, and
      the SNI it matches is the host (``buildSidecarOutboundTLSFilterChainOpts``
      in pilot/pkg/networking/core/tls.go). Kept only on an object whose host
      is the real name its clients send; elsewhere no client's SNI can match.
    - HTTP, HTTP2, GRPC: Istio routes them by Host header on a 0.0.0.0:<port>
      listener (``buildSidecarOutboundListener``, listener.go; domains from
      ``generateVirtualHostDomains``, httproute.go). With resolution NONE
      the cluster is ORIGINAL_DST: a declared Host sent to any address is
      forwarded, and a block has no Host a client sends. Matched as TCP, only
      the declared addresses are.
    - MONGO, MYSQL: istiod drops a listener of these protocols that shares a
      port with another protocol (``isConflictWithWellKnownPort``, listener.go),
      a log line and no record. Their filters bring an egress rule nothing
      (mysql_proxy is off by default, PILOT_ENABLE_MYSQL_FILTER; mongo_proxy
      adds statistics), so they are rendered as TCP.
    - TCP, REDIS: as declared (Redis is TCP proxying unless PILOT_ENABLE_REDIS_FILTER).
    """
    if declared in ("TCP", "REDIS") or (declared in TLS_PROTOCOLS and named):
        return declared
    return "TCP"


def _ports(service: Service, named: bool) -> list[dict[str, Any]]:
    # Built per object: objects must not share lists that a caller might edit.
    return [
        {"name": port.name, "number": port.number, "protocol": _port_protocol(port.protocol, named)}
        for port in sorted(service.ports, key=lambda port: port.number)
    ]


def _declared_protocols(service: Service, ports: list[dict[str, Any]]) -> dict[str, str]:
    """The annotation naming the ports rendered with another protocol than declared (none if no such port)."""
    declared = {port.number: port.protocol for port in service.ports}
    changed = [f"{p['number']}={declared[p['number']]}" for p in ports if p["protocol"] != declared[p["number"]]]
    return {PROTOCOLS_ANNOTATION: ",".join(changed)} if changed else {}


def _service_entries(
    ruleset: RuleSet,
    service: Service,
    networks: list[Network],
    ips: list[Address],
    meta: _Meta,
    *,
    labels: Optional[dict[str, str]] = None,
    layout: Optional[str] = None,
    export_to: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """``layout``: the set's unless given (ambient services are always per_address);
    ``export_to``: the service's unless given."""
    layout = layout or ruleset.layout
    if service.resolution == "STATIC":
        groups = _static_groups(ruleset, service, ips)
    else:
        groups = [(name, group, []) for name, group in _groups(ruleset, service, networks, layout)]
    host = _real_host(service, layout)
    entries = []
    for index, (name, group, endpoints) in enumerate(groups):
        # Istio keeps one service per host name and namespace, so only the first
        # object may carry the real name; the others get a synthetic host of their own.
        named = host is not None and index == 0
        ports = _ports(service, named)
        spec: dict[str, Any] = {
            "hosts": [host if named else _synthetic_host(name, service.namespace)],
            "addresses": [ip_text(network) for network in group],
            "ports": ports,
            "location": "MESH_EXTERNAL",
            "resolution": service.resolution,
        }
        if service.resolution == "STATIC":
            spec["endpoints"] = [{"address": ip_text(ip)} for ip in endpoints]
        spec["exportTo"] = list(export_to or direct_export_to(service))
        entries.append(
            {
                "apiVersion": api_version(SERVICE_ENTRY, ruleset.api),
                "kind": SERVICE_ENTRY.kind,
                "metadata": meta.of(name, extra=_declared_protocols(service, ports), labels=labels),
                "spec": spec,
            }
        )
    return entries


def direct_export_to(service: Service) -> list[str]:
    """A direct service's ``exportTo``: as given, else its own namespace only.

    Istio's default is every namespace (``exportTo`` left out, or ``*``), which would let
    every namespace of the mesh reach what one set grants; a set grants its own namespace
    unless the user writes more.
    """
    return sorted(service.export_to) or ["."]


def _egress_rules(
    ruleset: RuleSet, service: Service, networks: list[Network], meta: _Meta, via_gateway: bool = False
) -> list[dict[str, Any]]:
    rules = []
    for name, (network,) in _groups(ruleset, service, networks, ruleset.layout):
        # One address is written as a plain IP, as in the original examples.
        destination = ip_text(network.network_address) if network.num_addresses == 1 else ip_text(network)
        rules.append(
            {
                "apiVersion": api_version(EGRESS_RULE, ruleset.api),
                "kind": EGRESS_RULE.kind,
                "metadata": meta.of(name),
                "spec": {
                    "destination": {"service": destination},
                    # Lower case, as in Istio 0.x's "Consuming External TCP Services".
                    "ports": [
                        {"port": port.number, "protocol": port.protocol.lower()}
                        for port in sorted(service.ports, key=lambda port: port.number)
                    ],
                    # Field 3 of EgressRule (istio/api routing/v1alpha1/egress_rule.proto):
                    # "Forward all the external traffic through a dedicated egress proxy".
                    **({"use_egress_proxy": True} if via_gateway else {}),
                },
            }
        )
    return rules


def _network_policy(ruleset: RuleSet, service: Service, networks: list[Network], meta: _Meta) -> dict[str, Any]:
    spec = direct_policy(
        service.pod_selector, networks, [port.number for port in service.ports], ruleset.network_policy_lockdown
    )
    return {
        "apiVersion": api_version(NETWORK_POLICY, ruleset.api),
        "kind": NETWORK_POLICY.kind,
        "metadata": meta.of(object_name(ruleset.name, service.name)),
        "spec": spec,
    }


def _sidecar(ruleset: RuleSet, namespace: str) -> dict[str, Any]:
    # Only the outbound policy changes: "*/*" keeps every service of the mesh
    # (and every ServiceEntry exported here) visible, as without a Sidecar, so
    # what gets dropped is exactly what nobody declared.
    hosts = ["*/*"]
    return {
        "apiVersion": api_version(SIDECAR, ruleset.api),
        "kind": SIDECAR.kind,
        "metadata": _metadata(SIDECAR_NAME, namespace, ruleset),
        "spec": {"egress": [{"hosts": hosts}], "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}},
    }


def service_of(obj: dict[str, Any]) -> Optional[str]:
    """The service of the rule set an object was rendered for (None for a namespace's Sidecar)."""
    return (obj.get("metadata", {}).get("annotations") or {}).get(SERVICE_ANNOTATION)
