# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The egress gateway as one cluster has it, checked before anything is written.

Read once per run, when a service of the set goes through the gateway: the
gateway's namespace and Service (its ports and their targetPorts, which the
NetworkPolicies need), and in plain mode every Gateway on the cluster (the
server ports other Gateways of the gateway's pods already use) and the set's
own port assignment (``_gateway.ports``). Every problem is reported in one
error: the namespace or Service missing, a port the Service does not expose,
a port clash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Optional

from .._cluster.client import KubeClient, KubeError, Resource
from .._errors import MeshguardError
from .._kinds import GATEWAY, identity, key, owned_by
from .._render import service_of
from .._spec import RuleSet
from .ports import GATEWAY_PORTS_ANNOTATION, Unit, assign, parse_annotation
from .render import GatewayView, TargetPort, needs_authorization, plain_units
from .spec import MTLS_PORT, PLAIN, EgressGateway


class GatewayCheckError(MeshguardError):
    """The cluster's egress gateway cannot carry the rule set; ``problems`` lists why."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"- {problem}" for problem in problems)
        super().__init__(f"{where}: the egress gateway cannot carry the rule set, nothing was changed:\n{lines}")


def needs_gateway(ruleset: RuleSet) -> bool:
    """Whether a run must read and check the cluster's egress gateway."""
    return not ruleset.legacy and any(ruleset.via_gateway(s) for s in ruleset.services)


def previous_ports(owned: Iterable[Mapping[str, Any]]) -> dict[Unit, int]:
    """The port assignment recorded on the set's live Gateways (one annotation per service)."""
    found: dict[Unit, int] = {}
    for obj in owned:
        if identity(dict(obj))[:2] != GATEWAY.key:
            continue
        service = service_of(dict(obj))
        text = ((obj.get("metadata") or {}).get("annotations") or {}).get(GATEWAY_PORTS_ANNOTATION)
        if service:
            found.update({(service, port): gateway_port for port, gateway_port in parse_annotation(text).items()})
    return found


def read_gateway(
    client: KubeClient, ruleset: RuleSet, resources: Mapping[tuple[str, str], Resource], owned: Iterable[dict]
) -> GatewayView:
    """The gateway's view for rendering; raises GatewayCheckError listing every problem."""
    gateway = ruleset.egress_gateway
    if gateway is None:
        raise ValueError("read_gateway: the rule set has no egress_gateway")
    problems: list[str] = []
    service = _service(client, gateway, problems)
    ports = _ports_of(service)
    target_ports = {port: target for port, (target, _name) in ports.items()}
    assignment = assign((), {}, {}, gateway.free_ports())
    if gateway.mode == PLAIN:
        owned = list(owned)
        units = plain_units(ruleset)
        taken = _taken(
            client, ruleset, gateway=gateway, service=service, resources=resources, units=units, problems=problems
        )
        assignment = assign(units, previous_ports(owned), taken, gateway.free_ports())
        problems.extend(assignment.problems)
        if service is not None:
            for (name, port), gateway_port in assignment.ports.items():
                if gateway_port not in ports:
                    problems.append(
                        f"service {name!r} port {port}: gateway port {gateway_port} is not exposed by Service "
                        f"{gateway.where} (exposes {_listed(ports)}); add it to the Service (targetPort the same "
                        "number), or change egress_gateway.ports"
                    )
    elif service is not None and MTLS_PORT not in ports:
        problems.append(
            f"Service {gateway.where} does not expose port {MTLS_PORT}, which mtls mode sends every service through "
            f"(exposes {_listed(ports)})"
        )
    if problems:
        raise GatewayCheckError(client.where, problems)
    return GatewayView(gateway, assignment, target_ports, checked=True, authorize=needs_authorization(ruleset))


def _service(client: KubeClient, gateway: EgressGateway, problems: list[str]) -> Optional[dict]:
    """The gateway Service, or None with the problem noted (its namespace missing, or itself)."""
    namespaces = client.resource("v1", "Namespace")
    services = client.resource("v1", "Service")
    if namespaces is None or services is None:
        problems.append("the API server serves no core v1 Namespaces or Services")
        return None
    try:
        if client.get(namespaces, None, gateway.namespace) is None:
            problems.append(
                f"the egress gateway's namespace {gateway.namespace!r} (egress_gateway.namespace) does not exist"
            )
            return None
        found = client.get(services, gateway.namespace, gateway.service)
    except KubeError as e:
        problems.append(f"cannot read the egress gateway's Service {gateway.where}: {e}")
        return None
    if found is None:
        problems.append(
            f"the egress gateway's Service {gateway.where} (egress_gateway.namespace, egress_gateway.service) does not "
            "exist: is the egress gateway installed?"
        )
    return found


def _ports_of(service: Optional[dict]) -> dict[int, tuple[TargetPort, str]]:
    """Service port -> (targetPort, protocol); a missing targetPort is the port itself (Kubernetes' default)."""
    found: dict[int, tuple[TargetPort, str]] = {}
    for port in ((service or {}).get("spec") or {}).get("ports") or ():
        if isinstance(port.get("port"), int):
            found[port["port"]] = (port.get("targetPort", port["port"]), port.get("protocol", "TCP"))
    return found


def _listed(ports: Mapping[int, Any]) -> str:
    return ", ".join(map(str, sorted(ports))) or "no port"


def _taken(
    client: KubeClient,
    ruleset: RuleSet,
    *,
    gateway: EgressGateway,
    service: Optional[dict],
    resources: Mapping[tuple[str, str], Resource],
    units: list[Unit],
    problems: list[str],
) -> dict[int, str]:
    """Server ports of every other Gateway that selects the gateway's pods, each with its owner.

    Istio merges every Gateway whose selector is a subset of the pods' labels,
    from every namespace (``mergeGateways``). The pods' labels are taken as the
    configured selector plus the Service's selector (the chart's pods carry both).
    """
    res = resources.get(GATEWAY.key)
    if res is None:
        return {}
    try:
        gateways = client.list(res, None)
    except KubeError as e:
        problems.append(
            f"cannot list Gateways in every namespace ({e}); plain mode needs it to find the gateway ports other "
            "Gateways already use"
        )
        return {}
    labels = dict(gateway.selector)
    labels.update(((service or {}).get("spec") or {}).get("selector") or {})
    mine = {name for name, _port in units}
    taken: dict[int, str] = {}
    for obj in sorted(gateways, key=identity):
        # This set's Gateways of its services through the gateway are rendered anew; their ports are in `units`.
        if owned_by(obj, ruleset.name) and service_of(obj) in mine:
            continue
        selector = (obj.get("spec") or {}).get("selector") or {}
        if not all(labels.get(k) == v for k, v in selector.items()):
            continue
        for server in (obj.get("spec") or {}).get("servers") or ():
            number = (server.get("port") or {}).get("number")
            if isinstance(number, int):
                taken.setdefault(number, key(obj))
    return taken
