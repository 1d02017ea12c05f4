# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``dataplane`` and ``waypoint`` options of a rule set (ambient mode).

``parse_waypoint(value)`` returns the normalised option (or None when it is
not given) and a list of (field, message) problems; the rule-set validation
(``_spec``) reports them with the rest. See docs/docsite/rst/rendering.rst, "Ambient mode".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .._names import dns1123_label_problem

SIDECAR = "sidecar"
AMBIENT = "ambient"
AUTO = "auto"
DATAPLANES = (SIDECAR, AMBIENT, AUTO)

# The namespace label that puts a namespace's pods in ambient mode (istio.io/api
# label/labels.gen.go: IoIstioDataplaneMode; istio.io docs/ambient/usage/add-workloads).
DATAPLANE_LABEL = "istio.io/dataplane-mode"
DATAPLANE_AMBIENT = "ambient"

# What binds a ServiceEntry to a waypoint (GetUseWaypoint / fetchWaypointForService,
# pilot/pkg/serviceregistry/ambient/waypoints.go); the namespace label is only
# written when the waypoint lives in another namespace than the ServiceEntry.
USE_WAYPOINT_LABEL = "istio.io/use-waypoint"
USE_WAYPOINT_NAMESPACE_LABEL = "istio.io/use-waypoint-namespace"
# On the waypoint Gateway: which traffic it handles (gatewayToWaypointTransform, same file).
WAYPOINT_FOR_LABEL = "istio.io/waypoint-for"
# Values of it under which a waypoint takes service traffic ("service" is the default).
WAYPOINT_FOR_SERVICE = ("service", "all")
# The Gateway class of Istio's waypoints (GetBuiltinGatewayClasses,
# pilot/pkg/config/kube/gatewaycommon/classinfo.go), and its HBONE listener,
# found by protocol and port (makeAllowedRoutes, waypoints.go).
WAYPOINT_CLASS = "istio-waypoint"
HBONE_LISTENER = {"name": "mesh", "port": 15008, "protocol": "HBONE"}
# The label Istio's deployment controller puts on a waypoint's pods and Service
# (pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go; the pod template of
# manifests/charts/istio-control/istio-discovery/files/waypoint.yaml): how NetworkPolicies find them.
WAYPOINT_POD_LABEL = "gateway.networking.k8s.io/gateway-name"

# Labels Istio reads to enrol or bind objects: the collection writes them, never the user.
OWNED_LABELS = (
    USE_WAYPOINT_LABEL,
    USE_WAYPOINT_NAMESPACE_LABEL,
    WAYPOINT_FOR_LABEL,
    "istio.io/ingress-use-waypoint",
    DATAPLANE_LABEL,
)
# Makes only one revision's istiod see an object (LabelsInRevision, pkg/config/model.go).
REVISION_LABEL = "istio.io/rev"

WAYPOINT_KEYS = ("name", "namespace", "manage", "allowed_namespaces")

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class Waypoint:
    """The waypoint the set's ambient ServiceEntries are bound to."""

    name: str
    namespace: str
    # Whether the set renders the waypoint's Gateway itself (else it must exist, and is checked).
    manage: bool = False
    # Namespaces of other sets that use the waypoint too (its allowedRoutes, with manage).
    allowed_namespaces: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"


def owned_label_problem(key: str) -> Optional[str]:
    """Why a user label of a service is refused because Istio reads it to bind or enrol, or None."""
    if key in OWNED_LABELS:
        return (
            f"{key!r} is set by meshguard.egress (it binds ServiceEntries to the waypoint or enrols workloads in "
            "ambient mode): use the rule set's dataplane and waypoint options"
        )
    return None


def parse_waypoint(value: Any, default_namespace: str) -> tuple[Optional[Waypoint], Problems]:
    """The rule set's ``waypoint`` option (None: not given), and its problems.

    Options set to None count as not given, as Ansible passes them.
    """
    if value is None:
        return None, []
    field = "waypoint"
    if not isinstance(value, dict):
        return None, [(field, f"must be a dict with name (and namespace, manage), got {type(value).__name__}")]
    problems: Problems = []
    for key in sorted((k for k in value if k not in WAYPOINT_KEYS), key=str):
        problems.append((field, f"unknown key {key!r}; allowed: {', '.join(WAYPOINT_KEYS)}"))
    name = value.get("name")
    problem = "is required: the waypoint's Gateway name" if name is None else dns1123_label_problem(name)
    if problem:
        problems.append((f"{field}.name", problem))
    namespace = value.get("namespace")
    if namespace is None:
        namespace = default_namespace
    elif dns1123_label_problem(namespace):
        problems.append((f"{field}.namespace", str(dns1123_label_problem(namespace))))
    manage = value.get("manage")
    if manage is None:
        manage = False
    elif not isinstance(manage, bool):
        problems.append((f"{field}.manage", f"must be true or false, got {manage!r}"))
    allowed = _namespaces(value.get("allowed_namespaces"), f"{field}.allowed_namespaces", problems)
    if allowed and manage is not True:
        problems.append(
            (
                f"{field}.allowed_namespaces",
                "is the managed waypoint's allowedRoutes: only with manage: true (the set that manages the waypoint "
                "lists the namespaces of every set that uses it)",
            )
        )
    if problems:
        return None, problems
    return Waypoint(name, namespace, manage is True, tuple(sorted(allowed))), []


def _namespaces(given: Any, field: str, problems: Problems) -> list[str]:
    if given is None:
        return []
    if not isinstance(given, list):
        problems.append((field, f"must be a list, got {type(given).__name__}"))
        return []
    found: list[str] = []
    for index, item in enumerate(given):
        problem = dns1123_label_problem(item)
        if problem is None and item in found:
            problem = f"{item!r} is listed twice"
        if problem:
            problems.append((f"{field}[{index}]", problem))
        else:
            found.append(item)
    return found
