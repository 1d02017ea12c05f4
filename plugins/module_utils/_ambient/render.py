# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The objects of a service in an ambient namespace, and the set's waypoint.

Pure functions, called by ``_render.render``. A service in an ambient
namespace keeps its ServiceEntries (resolution as declared; the waypoint's
cluster for NONE is ORIGINAL_DST, the address dialled), labelled so that
istiod binds them to the waypoint; each ServiceEntry object gets an
AuthorizationPolicy attached to it by ``targetRefs``, which the waypoint
enforces. With ``manage``, the waypoint's Gateway itself. Why each field is
what it is, with the Istio source that forces it, is in docs/docsite/rst/rendering.rst
("Ambient mode").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

from .._kinds import AUTHORIZATION_POLICY, ISTIO_NETWORKING, NETWORK_POLICY, SERVICE_ENTRY, WAYPOINT, Kind, api_version
from .._names import object_name, set_object_name
from .._proxy.authorization import source_rules
from .._proxy.network_policy import NAMESPACE_NAME_LABEL, proxy_base_policy, proxy_policies
from .._spec import RuleSet, Service
from .spec import (
    HBONE_LISTENER,
    REVISION_LABEL,
    USE_WAYPOINT_LABEL,
    USE_WAYPOINT_NAMESPACE_LABEL,
    WAYPOINT_CLASS,
    WAYPOINT_FOR_LABEL,
    WAYPOINT_POD_LABEL,
    Waypoint,
)

# metadata(name, namespace, labels): the metadata of a set-level object.
SetMetadata = Callable[[str, str, dict[str, str]], dict[str, Any]]


def waypoint_labels(service: Service, waypoint: Waypoint) -> dict[str, str]:
    """The labels that bind a service's ServiceEntries to the waypoint.

    The namespace label only when the waypoint lives elsewhere: istiod takes the
    ServiceEntry's own namespace by default (``fetchWaypointForService``).
    """
    labels = {USE_WAYPOINT_LABEL: waypoint.name}
    if waypoint.namespace != service.namespace:
        labels[USE_WAYPOINT_NAMESPACE_LABEL] = waypoint.namespace
    return labels


def ambient_export_to(service: Service) -> list[str]:
    """The ``exportTo`` of an ambient service's ServiceEntries: the namespaces allowed_sources admits
    whole (the service's own as "."), ``~`` when it names service accounts only; the user's
    export_to when given.

    It limits sidecars only, and must: ztunnel and the waypoint ignore exportTo (the
    ambient index reads no exportTo, pilot/pkg/serviceregistry/ambient; the waypoint takes
    its services from the mesh-wide index, ``findWaypointResources``), while a sidecar that
    sees the ServiceEntry routes it straight to the address, past the waypoint and its
    policy. Istio's default, every namespace, would open the service to every sidecar of
    the mesh. A sidecar cannot be held to one service account, so a service account's
    namespace is not added.
    """
    if service.export_to:
        return sorted(service.export_to)
    allowed = service.allowed_sources or (service.namespace,)
    namespaces = {"." if s == service.namespace else s for s in allowed if "/" not in s}
    return sorted(namespaces) or ["~"]


def _obj(ruleset: RuleSet, kind: Kind, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version(kind, ruleset.api), "kind": kind.kind, "metadata": metadata, "spec": spec}


def authorization_policy(
    ruleset: RuleSet, service: Service, entry: dict[str, Any], metadata: dict[str, Any]
) -> dict[str, Any]:
    """The policy of one ServiceEntry object: only the service's allowed_sources (default its own
    namespace, never anyone), on its ports.

    In the ServiceEntry's namespace and named like it: istiod attaches a targetRef
    policy only from the target's namespace, by object name (``ShouldAttachPolicy``,
    pilot/pkg/model/policyattachment.go). One target per policy keeps within the
    CRD's 16 targetRefs whatever the number of objects.
    """
    allowed = service.allowed_sources or (service.namespace,)
    ports = sorted({str(port.number) for port in service.ports}, key=int)
    target = {"group": ISTIO_NETWORKING, "kind": SERVICE_ENTRY.kind, "name": entry["metadata"]["name"]}
    rule = {"from": source_rules(allowed), "to": [{"operation": {"ports": ports}}]}
    spec = {"targetRefs": [target], "action": "ALLOW", "rules": [rule]}
    return _obj(ruleset, AUTHORIZATION_POLICY, metadata, spec)


def service_network_policies(
    ruleset: RuleSet, service: Service, networks: Sequence[Any], metadata: Callable[[str, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """With network_policy: the service's pods reach the waypoint pods on HBONE (and DNS, istiod),
    the waypoint pods the service's blocks and ports. Named as in sidecar mode, so that switching
    the namespace's data plane updates the client policy in place."""
    waypoint = ruleset.waypoint
    if waypoint is None:
        raise ValueError("service_network_policies: the rule set has no waypoint")
    client, exit_policy = proxy_policies(
        service.pod_selector,
        proxy_namespace=waypoint.namespace,
        proxy_labels={WAYPOINT_POD_LABEL: waypoint.name},
        proxy_ports=[HBONE_LISTENER["port"]],
        networks=networks,
        numbers=[p.number for p in service.ports],
        lockdown=ruleset.network_policy_lockdown,
    )
    name = object_name(ruleset.name, service.name)
    exit_name = object_name(ruleset.name, service.name, "waypoint")
    return [
        _obj(ruleset, NETWORK_POLICY, metadata(name, service.namespace), client),
        _obj(ruleset, NETWORK_POLICY, metadata(exit_name, waypoint.namespace), exit_policy),
    ]


def base_network_policy_name(set_name: str) -> str:
    return set_object_name(set_name, "waypoint")


def waypoint_objects(ruleset: RuleSet, metadata: SetMetadata, in_use: bool = False) -> list[dict[str, Any]]:
    """Once per set with ambient services: the waypoint's Gateway (with manage) and, with
    network_policy, the waypoint pods' own egress to istiod and DNS.

    ``in_use``: a service of the whole set is ambient, also when the services given here
    (those that resolved) are not.
    """
    waypoint = ruleset.waypoint
    if waypoint is None or ruleset.ambient is None:
        return []
    ambient = [s for s in ruleset.services if ruleset.is_ambient(s)]
    if not ambient and not in_use:
        return []
    objects = []
    if waypoint.manage:
        objects.append(_waypoint_gateway(ruleset, waypoint, ambient, metadata))
    if ruleset.network_policy:
        spec = proxy_base_policy({WAYPOINT_POD_LABEL: waypoint.name}, ruleset.network_policy_lockdown)
        objects.append(
            _obj(
                ruleset, NETWORK_POLICY, metadata(base_network_policy_name(ruleset.name), waypoint.namespace, {}), spec
            )
        )
    return objects


def _waypoint_gateway(
    ruleset: RuleSet, waypoint: Waypoint, ambient: Sequence[Service], metadata: SetMetadata
) -> dict[str, Any]:
    """The waypoint: class istio-waypoint, for service traffic, one HBONE listener on 15008.

    allowedRoutes admits the namespaces of the set's ambient ServiceEntries and
    allowed_namespaces; left out (the default, Same) when that is the waypoint's
    own namespace only. istiod refuses a ServiceEntry from a namespace the listener
    does not admit (``ReportWaypointAttachmentDenied``, waypoints.go).
    """
    listener: dict[str, Any] = dict(HBONE_LISTENER)
    namespaces = sorted({s.namespace for s in ambient} | set(waypoint.allowed_namespaces))
    if namespaces and namespaces != [waypoint.namespace]:
        expression = {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": namespaces}
        listener["allowedRoutes"] = {"namespaces": {"from": "Selector", "selector": {"matchExpressions": [expression]}}}
    labels = {WAYPOINT_FOR_LABEL: "service"}
    revisions = {dict(s.labels).get(REVISION_LABEL) for s in ambient} - {None}
    if revisions:
        # The same istiod revision must see the waypoint and what is bound to it (with_dataplanes checks one).
        labels[REVISION_LABEL] = sorted(revisions)[0]  # type: ignore[type-var]
    spec = {"gatewayClassName": WAYPOINT_CLASS, "listeners": [listener]}
    return _obj(ruleset, WAYPOINT, metadata(waypoint.name, waypoint.namespace, labels), spec)


def ambient_warnings(ruleset: RuleSet) -> list[str]:
    """What a user of an ambient namespace must know that is not an error."""
    if ruleset.ambient is None:
        return []
    return [
        f"service {s.name!r}: in ambient mode export_to limits sidecar clients only, which reach the addresses "
        "directly, past the waypoint and its policy; ztunnel ignores exportTo (istio/istio#55163) and "
        "allowed_sources limits ambient clients. Without export_to the ServiceEntries are exported to the "
        "namespaces allowed_sources admits whole"
        for s in ruleset.services
        if ruleset.is_ambient(s) and s.export_to
    ]
