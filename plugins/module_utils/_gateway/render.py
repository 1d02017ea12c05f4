# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The objects of a service whose traffic goes through the egress gateway (sidecar mode, TCP).

Pure functions, called by ``_render.render``. The unit is one (address,
port) of a service: its own ServiceEntry (STATIC, that address its only
endpoint) and VirtualService in the service's namespace, and its own
gateway server (mtls: its own SNI) and DestinationRule subset. Per service,
one Gateway and one DestinationRule in the gateway's namespace. Why each
field is what it is, with the Istio source that forces it, is in
docs/docsite/rst/rendering.rst ("Through the egress gateway").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .._kinds import (
    AUTHORIZATION_POLICY,
    DESTINATION_RULE,
    GATEWAY,
    NETWORK_POLICY,
    SERVICE_ENTRY,
    VIRTUAL_SERVICE,
    Kind,
    api_version,
)
from .._names import address_slug, object_name, set_object_name
from .._proxy.authorization import source_rules
from .._proxy.network_policy import TargetPort, proxy_base_policy, proxy_policies
from .._spec import RuleSet, Service
from .._terms import ip_text
from .ports import GATEWAY_PORTS_ANNOTATION, Assignment, Unit, annotation_value, assign
from .spec import MTLS_PORT, PLAIN, EgressGateway

# The mesh's own "gateway": a VirtualService bound to it applies to sidecars.
MESH = "mesh"
# metadata(name, namespace, extra=None, last_seen=False): the metadata of one of the service's objects
MetadataOf = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class GatewayView:
    """What the cluster says about the gateway (or, without a cluster, what is assumed).

    ``assignment``: plain mode's gateway ports. ``target_ports``: the gateway
    Service's targetPort of each of its ports (the pods' ports, which
    NetworkPolicies name). ``checked``: read from a cluster and checked there.
    ``authorize``: the gateway gets AuthorizationPolicies (``needs_authorization`` of the
    whole rule set, services that did not resolve included).
    """

    gateway: EgressGateway
    assignment: Assignment = field(default_factory=Assignment)
    target_ports: Mapping[int, TargetPort] = field(default_factory=dict)
    checked: bool = False
    authorize: bool = False

    def target_port(self, port: int) -> TargetPort:
        return self.target_ports.get(port, port)

    def summary(self) -> dict[str, Any]:
        """The modules' ``egress_gateway`` result."""
        ports: dict[str, dict[str, int]] = {}
        for (service, port), gateway_port in sorted(self.assignment.ports.items()):
            ports.setdefault(service, {})[str(port)] = gateway_port
        return {
            "service": self.gateway.where,
            "mode": self.gateway.mode,
            "checked": self.checked,
            "ports": ports,
        }


def plain_units(ruleset: RuleSet) -> list[Unit]:
    """Plain mode's gateway units, (service, service port): each gets a gateway port of its own."""
    gateway = ruleset.egress_gateway
    if gateway is None or gateway.mode != PLAIN or ruleset.legacy:
        return []
    return sorted((s.name, p.number) for s in ruleset.services if ruleset.via_gateway(s) for p in s.ports)


def unchecked_view(ruleset: RuleSet, previous: Optional[Mapping[Unit, int]] = None) -> GatewayView:
    """Without a cluster (state=rendered): ports kept from ``previous`` (the files rendered before)
    or assigned afresh, nothing checked, targetPorts taken as the ports."""
    gateway = ruleset.egress_gateway
    if gateway is None:
        raise ValueError("unchecked_view: the rule set has no egress_gateway")
    assignment = assign(plain_units(ruleset), previous or {}, {}, gateway.free_ports())
    return GatewayView(gateway, assignment, authorize=needs_authorization(ruleset))


def needs_authorization(ruleset: RuleSet) -> bool:
    """Whether the gateway gets AuthorizationPolicies: once one ALLOW policy selects it,
    Istio denies what no ALLOW policy admits, so every service of the set then needs one."""
    return any(ruleset.via_gateway(s) and s.allowed_sources for s in ruleset.services)


@dataclass(frozen=True)
class _Unit:
    name: str
    host: str
    address: Any
    port: dict[str, Any]  # the ServiceEntry port: name, number, protocol
    declared: dict[str, str]  # its declared-protocols annotation, if any


@dataclass(frozen=True)
class _Service:
    """One service through the gateway, with what rendering it needs."""

    ruleset: RuleSet
    service: Service
    gateway: EgressGateway
    view: GatewayView
    metadata: MetadataOf
    host_of: Callable[[str, str], str]
    units: tuple[_Unit, ...]

    @property
    def name(self) -> str:
        """The per-service objects' name (Gateway, DestinationRule, NetworkPolicy, AuthorizationPolicy)."""
        return object_name(self.ruleset.name, self.service.name)

    @property
    def gateway_ref(self) -> str:
        # A short name would be read in the VirtualService's own namespace.
        return f"{self.gateway.namespace}/{self.name}"

    @property
    def export_to(self) -> list[str]:
        return gateway_export_to(self.service, self.gateway)

    def port_name(self, port: int) -> str:
        """Plain mode's per-(service, port) name: subset, VirtualService, gateway server host."""
        return object_name(self.ruleset.name, self.service.name, f"p{port}")

    def obj(
        self,
        kind: Kind,
        name: str,
        namespace: str,
        spec: dict[str, Any],
        *,
        extra: Optional[dict[str, str]] = None,
        last_seen: bool = False,
    ) -> dict[str, Any]:
        return {
            "apiVersion": api_version(kind, self.ruleset.api),
            "kind": kind.kind,
            "metadata": self.metadata(name, namespace, extra=extra, last_seen=last_seen),
            "spec": spec,
        }


def gateway_objects(
    ruleset: RuleSet,
    service: Service,
    *,
    addresses: Sequence[Any],
    networks: Sequence[Any],
    ports: Sequence[tuple[dict[str, Any], dict[str, str]]],
    metadata: MetadataOf,
    view: GatewayView,
    host_of: Callable[[str, str], str],
) -> list[dict[str, Any]]:
    """Every object of one service through the gateway.

    ``addresses``: every single address (blocks expanded); ``networks``: the
    blocks (NetworkPolicy ipBlocks); ``ports``: the ServiceEntry ports as
    ``_render`` writes them, each with its declared-protocols annotation;
    ``metadata(name, namespace, extra=None, last_seen=False)``: the service's
    metadata; ``host_of(name, namespace)``: a synthetic host.
    """
    gateway = view.gateway
    units = []
    for address in addresses:
        for port, declared in ports:
            name = object_name(ruleset.name, service.name, address_slug(ip_text(address)), str(port["number"]))
            units.append(_Unit(name, host_of(name, service.namespace), address, dict(port), declared))
    svc = _Service(ruleset, service, gateway, view, metadata, host_of, tuple(units))
    objects = [_service_entry(svc, unit) for unit in units]
    if gateway.mode == PLAIN:
        objects += _plain(svc)
    else:
        objects += _mtls(svc)
        if view.authorize:
            objects.append(_authorization_policy(svc))
    if ruleset.network_policy:
        objects += _network_policies(svc, networks)
    return objects


def _service_entry(svc: _Service, unit: _Unit) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "hosts": [unit.host],
        "addresses": [ip_text(unit.address) + ("/32" if unit.address.version == 4 else "/128")],
        "ports": [unit.port],
        "location": "MESH_EXTERNAL",
        # A gateway cannot forward to "the address dialled" (convertResolution, cluster.go):
        # the address is the unit's one endpoint.
        "resolution": "STATIC",
        "endpoints": [{"address": ip_text(unit.address)}],
    }
    spec["exportTo"] = svc.export_to
    return svc.obj(SERVICE_ENTRY, unit.name, svc.service.namespace, spec, extra=unit.declared)


def gateway_export_to(service: Service, gateway: EgressGateway) -> list[str]:
    """The ``exportTo`` of a service's ServiceEntries and VirtualServices through the gateway:
    as given (default its own namespace and the namespaces of its ``allowed_sources``, whose
    sidecars must see the units to send them to the gateway), plus the gateway's namespace.

    Istio's default (every namespace) would route every namespace's sidecars to the gateway for
    the set's addresses. The gateway reads both kinds from its own namespace's view
    (``DefaultSidecarScopeForGateway``, pilot/pkg/model/sidecar.go, for the ServiceEntry;
    ``VirtualServicesForGateway`` takes a VirtualService exported to the gateway's namespace):
    without it the gateway's route has no cluster.
    """
    named = {"." if s.split("/")[0] == service.namespace else s.split("/")[0] for s in service.allowed_sources}
    export_to = set(service.export_to) or {".", *named}
    own = gateway.namespace == service.namespace and "." in export_to
    if "*" not in export_to and not own:
        export_to.add(gateway.namespace)
    return sorted(export_to)


def _virtual_service(svc: _Service, name: str, host: str, gateways: list[str], tcp: list[dict]) -> dict[str, Any]:
    # No destinationSubnets in any match: Istio already binds a unit's route to its address.
    spec = {"hosts": [host], "gateways": gateways, "tcp": tcp, "exportTo": svc.export_to}
    return svc.obj(VIRTUAL_SERVICE, name, svc.service.namespace, spec)


def _to_gateway(svc: _Service, port: int, gateway_port: int, subset: str) -> dict[str, Any]:
    """The mesh's tcp route of a unit: its port, to the gateway Service's subset and port."""
    destination = {"host": svc.gateway.host, "subset": subset, "port": {"number": gateway_port}}
    return {"match": [{"gateways": [MESH], "port": port}], "route": [{"destination": destination}]}


def _mtls(svc: _Service) -> list[dict[str, Any]]:
    objects = []
    for unit in svc.units:
        number = unit.port["number"]
        at_gateway = {
            "match": [{"gateways": [svc.gateway_ref], "port": MTLS_PORT}],
            "route": [{"destination": {"host": unit.host, "port": {"number": number}}}],
        }
        tcp = [_to_gateway(svc, number, MTLS_PORT, unit.name), at_gateway]
        objects.append(_virtual_service(svc, unit.name, unit.host, [MESH, svc.gateway_ref], tcp))
    servers = [
        {
            "hosts": [f"{svc.service.namespace}/{unit.host}"],
            "port": {"name": unit.name, "number": MTLS_PORT, "protocol": "TLS"},
            "tls": {"mode": "ISTIO_MUTUAL"},
        }
        for unit in svc.units
    ]
    subsets = [
        {
            "name": unit.name,
            "trafficPolicy": {
                "portLevelSettings": [
                    {"port": {"number": MTLS_PORT}, "tls": {"mode": "ISTIO_MUTUAL", "sni": unit.host}}
                ]
            },
        }
        for unit in svc.units
    ]
    return [*objects, _gateway(svc, servers, {}), _destination_rule(svc, subsets)]


def _plain(svc: _Service) -> list[dict[str, Any]]:
    assigned = svc.view.assignment.of(svc.service.name)
    objects = []
    for unit in svc.units:
        number = unit.port["number"]
        tcp = [_to_gateway(svc, number, assigned[number], svc.port_name(number))]
        objects.append(_virtual_service(svc, unit.name, unit.host, [MESH], tcp))
    servers, subsets = [], []
    for port in sorted(assigned):
        gateway_port = assigned[port]
        name = svc.port_name(port)
        host = svc.host_of(name, svc.service.namespace)
        units = [unit for unit in svc.units if unit.port["number"] == port]
        # The gateway tells plain connections apart by port only: it load balances over the service's addresses.
        route = [{"destination": {"host": u.host, "port": {"number": port}}} for u in units]
        if len(route) > 1:
            for destination in route:
                destination["weight"] = 1
        tcp = [{"match": [{"gateways": [svc.gateway_ref], "port": gateway_port}], "route": route}]
        objects.append(_virtual_service(svc, name, host, [svc.gateway_ref], tcp))
        servers.append(
            {
                "hosts": [f"{svc.service.namespace}/{host}"],
                "port": {"name": f"tcp-{gateway_port}", "number": gateway_port, "protocol": "TCP"},
            }
        )
        subsets.append(
            {
                "name": name,
                # Explicit: without it auto-mTLS would decide from labels the gateway pods do not carry.
                "trafficPolicy": {
                    "portLevelSettings": [{"port": {"number": gateway_port}, "tls": {"mode": "DISABLE"}}]
                },
            }
        )
    extra = {GATEWAY_PORTS_ANNOTATION: annotation_value(assigned)}
    return [*objects, _gateway(svc, servers, extra), _destination_rule(svc, subsets)]


def _gateway(svc: _Service, servers: list[dict[str, Any]], extra: dict[str, str]) -> dict[str, Any]:
    # The service-level annotations (last-seen, the port assignment) live here, once per service.
    spec = {"selector": dict(svc.gateway.selector), "servers": servers}
    return svc.obj(GATEWAY, svc.name, svc.gateway.namespace, spec, extra=extra, last_seen=True)


def _destination_rule(svc: _Service, subsets: list[dict[str, Any]]) -> dict[str, Any]:
    # Settings only in subsets: Istio merges the DestinationRules of one host per namespace by subsets.
    return svc.obj(DESTINATION_RULE, svc.name, svc.gateway.namespace, {"host": svc.gateway.host, "subsets": subsets})


def _authorization_policy(svc: _Service) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    sources = source_rules(svc.service.allowed_sources)
    if sources:
        rule["from"] = sources
    # By SNI: at the gateway the port is the listener's (8443 on an Istio chart install), never 443.
    rule["when"] = [{"key": "connection.sni", "values": [unit.host for unit in svc.units]}]
    spec = {"selector": {"matchLabels": dict(svc.gateway.selector)}, "action": "ALLOW", "rules": [rule]}
    return svc.obj(AUTHORIZATION_POLICY, svc.name, svc.gateway.namespace, spec)


def _network_policies(svc: _Service, networks: Sequence[Any]) -> list[dict[str, Any]]:
    gateway = svc.gateway
    if gateway.mode == PLAIN:
        service_ports = sorted(set(svc.view.assignment.of(svc.service.name).values()))
    else:
        service_ports = [MTLS_PORT]
    client, exit_policy = proxy_policies(
        svc.service.pod_selector,
        proxy_namespace=gateway.namespace,
        proxy_labels=dict(gateway.selector),
        # The pods' port after the Service's translation: NetworkPolicies see pod ports.
        proxy_ports=[svc.view.target_port(p) for p in service_ports],
        networks=networks,
        numbers=[p.number for p in svc.service.ports],
        lockdown=svc.ruleset.network_policy_lockdown,
    )
    exit_name = object_name(svc.ruleset.name, svc.service.name, "gateway")
    return [
        svc.obj(NETWORK_POLICY, svc.name, svc.service.namespace, client),
        svc.obj(NETWORK_POLICY, exit_name, gateway.namespace, exit_policy),
    ]


def base_network_policy_name(set_name: str) -> str:
    return set_object_name(set_name, "gateway")


def gateway_base_objects(ruleset: RuleSet, metadata: MetadataOf, in_use: bool = False) -> list[dict[str, Any]]:
    """Once per set, with NetworkPolicies: the gateway pods' own egress to istiod and DNS,
    which the per-service policies would otherwise cut (no xDS, no certificates).

    ``in_use``: a service of the whole set goes through the gateway, also when the
    services given here (those that resolved) do not.
    """
    gateway = ruleset.egress_gateway
    if gateway is None or ruleset.legacy or not ruleset.network_policy:
        return []
    if not in_use and not any(ruleset.via_gateway(s) for s in ruleset.services):
        return []
    spec = proxy_base_policy(dict(gateway.selector), ruleset.network_policy_lockdown)
    return [
        {
            "apiVersion": api_version(NETWORK_POLICY, ruleset.api),
            "kind": NETWORK_POLICY.kind,
            "metadata": metadata(base_network_policy_name(ruleset.name), gateway.namespace),
            "spec": spec,
        }
    ]
