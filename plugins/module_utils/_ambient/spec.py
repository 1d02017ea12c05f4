# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``dataplane`` and ``waypoint`` options of a rule set (ambient mode).

``parse_waypoint(value)`` returns the normalised option (or None when it is
not given) and a list of (field, message) problems. The rule-set validation
(``_spec``) calls this file's rules, which report into its ``Report``:
``ambient_options`` (dataplane, waypoint, istio_version) and, once the
namespaces in ambient mode are known, ``with_dataplanes`` (the rule set as a
whole). See docs/docsite/rst/rendering.rst, "Ambient mode".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Optional

from .._expand import address_count
from .._istio_versions import (
    AMBIENT_CIDRS,
    MAX_EXPANDED_ADDRESSES,
    NEWEST,
    Version,
    ambient_problem,
    expands_cidrs,
    parse_version,
)
from .._istio_versions import text as version_text
from .._kinds import LEGACY_API
from .._names import dns1123_label_problem
from .._problems import Report, SpecError
from .._proxy.authorization import ALLOWED_SOURCES_ENFORCED
from .._terms import KIND_NETWORK

if TYPE_CHECKING:  # _spec calls this file's rules: its types only, not at run time
    from .._spec import RuleSet, Service

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


# --- the rules of the rule set's validation -----------------------------------


def ambient_options(
    spec: Mapping[str, Any], namespace: str, legacy: bool, report: Report
) -> tuple[str, Optional[Waypoint], Version]:
    """The dataplane, waypoint and istio_version options, checked on their own."""
    dataplane = spec.get("dataplane")
    if dataplane is None:
        dataplane = SIDECAR
    elif dataplane not in DATAPLANES:
        report.error("dataplane", f"must be one of {', '.join(DATAPLANES)}, got {dataplane!r}")
        dataplane = SIDECAR
    waypoint, problems = parse_waypoint(spec.get("waypoint"), namespace)
    for field, problem in problems:
        report.error(field, problem)
    version, problem = parse_version(spec.get("istio_version"))
    if problem:
        report.error("istio_version", problem)
    if legacy and (dataplane != SIDECAR or spec.get("waypoint") is not None):
        report.error(
            "dataplane",
            f"the legacy EgressRule API ({LEGACY_API}) is Istio 0.x, which has no ambient mode: use dataplane sidecar",
        )
    elif dataplane == SIDECAR and spec.get("waypoint") is not None:
        report.error("waypoint", "is ambient mode's: only with dataplane ambient or auto")
    return dataplane, waypoint, version or NEWEST


def with_dataplanes(ruleset: RuleSet, ambient: Any) -> RuleSet:
    """The rule set with the namespaces in ambient mode known, checked as a whole.

    ``ambient``: the namespaces in ambient mode (every namespace of the set with
    dataplane ambient; those labelled so with auto). Raises SpecError naming
    each service and field, before anything is written.
    """
    found = replace(ruleset, ambient=frozenset(ambient))
    report = Report()
    for index, namespace in enumerate(found.registry_only):
        if namespace in found.ambient:  # type: ignore[operator]
            report.error(
                f"registry_only[{index}] {namespace!r}",
                "the namespace is in ambient mode; ztunnel ignores Sidecar and REGISTRY_ONLY (istio/istio#54281). "
                "Bind the services to a waypoint (waypoint: ...) with allowed_sources, and use network_policy to "
                "block direct egress",
            )
    ambient_services = [(i, s) for i, s in enumerate(found.services) if found.is_ambient(s)]
    for index, service in enumerate(found.services):
        scoped = report.scoped(index, service.name)
        if found.is_ambient(service):
            _check_service(found, service, scoped)
        elif service.allowed_sources and not found.via_gateway(service):
            scoped.error(
                "allowed_sources",
                f"{ALLOWED_SOURCES_ENFORCED}, and namespace {service.namespace!r} is not in ambient mode",
            )
    if ambient_services:
        where = ", ".join(sorted({s.namespace for _i, s in ambient_services}))
        if found.waypoint is None:
            report.error(
                "waypoint",
                f"is required for the ambient namespaces ({where}): their ServiceEntries are bound to a waypoint, "
                "which enforces allowed_sources (give name, and namespace, manage)",
            )
        problem = ambient_problem(found.istio_version)
        if problem:
            report.error("istio_version", problem)
        revisions = {dict(s.labels).get(REVISION_LABEL) for _i, s in ambient_services}
        if len(revisions) > 1:
            report.error(
                "labels",
                f"the services in ambient namespaces give different {REVISION_LABEL!r} labels "
                f"({', '.join(sorted(repr(r) if r else 'none' for r in revisions))}): the waypoint and every "
                "ServiceEntry and policy bound to it must be seen by the same istiod revision",
            )
    if report.problems:
        raise SpecError(report.problems)
    return found


def _check_service(ruleset: RuleSet, service: Service, report: Report) -> None:
    """What a service in an ambient namespace must not have; literals are checked before any DNS query."""
    if ruleset.via_gateway(service):
        report.error(
            "egress_gateway",
            f"namespace {service.namespace!r} is in ambient mode, where the waypoint (waypoint) takes the egress "
            "gateway's place: set egress_gateway: false for this service, or leave the rule set's egress_gateway out",
        )
    if not expands_cidrs(ruleset.istio_version):
        return
    given = [(f"hosts[{i}]", h.value) for i, h in enumerate(service.hosts) if h.kind == KIND_NETWORK]
    given += [(f"addresses[{i}]", a) for i, a in enumerate(service.addresses or ())]
    networks = [ipaddress.ip_network(value) for _field, value in given]
    count = address_count(networks)
    if count > MAX_EXPANDED_ADDRESSES:
        fields = ", ".join(
            f"{field} {value}" for field, value in given if ipaddress.ip_network(value).num_addresses > 1
        )
        report.error(
            "hosts",
            f"{fields} hold {count} addresses; below Istio {version_text(AMBIENT_CIDRS)} ztunnel takes no CIDR "
            f"blocks, so in ambient mode each address is listed on its own, at most {MAX_EXPANDED_ADDRESSES} "
            f"per service (istio_version {version_text(ruleset.istio_version)}): list narrower blocks, split the "
            f"service, or target Istio {version_text(AMBIENT_CIDRS)} or later",
        )
