# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ambient mode as one cluster has it, read and checked before anything is written.

Read once per run when the rule set's dataplane is ambient or auto: each
namespace of the set (its ``istio.io/dataplane-mode`` label decides with
auto, and its labels are what a waypoint's allowedRoutes selects on) and,
when the set does not manage the waypoint, the waypoint's Gateway. Every
problem is reported in one error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from .._cluster.client import KubeClient, KubeError, Resource
from .._errors import MeshguardError
from .._kinds import WAYPOINT
from .._proxy.network_policy import NAMESPACE_NAME_LABEL
from .._spec import RuleSet
from .spec import (
    AUTO,
    DATAPLANE_AMBIENT,
    DATAPLANE_LABEL,
    HBONE_LISTENER,
    WAYPOINT_CLASS,
    WAYPOINT_FOR_LABEL,
    WAYPOINT_FOR_SERVICE,
    Waypoint,
    with_dataplanes,
)

Labels = Mapping[str, str]


class AmbientCheckError(MeshguardError):
    """The cluster cannot carry the rule set in ambient mode; ``problems`` lists why."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"- {problem}" for problem in problems)
        super().__init__(f"{where}: ambient mode cannot carry the rule set, nothing was changed:\n{lines}")


@dataclass(frozen=True)
class Dataplanes:
    """The rule set with its ambient namespaces known, and the namespaces' labels (None: no such namespace)."""

    ruleset: RuleSet
    labels: Mapping[str, Optional[Labels]]
    warnings: tuple[str, ...] = ()


def read_dataplanes(client: KubeClient, ruleset: RuleSet) -> Dataplanes:
    """Each namespace of the set, read once; with dataplane auto, the ambient ones are those labelled so.

    Raises AmbientCheckError (a namespace cannot be read, or is missing with auto)
    or SpecError (what ambient mode refuses, with_dataplanes), before any write.
    """
    names = ruleset.dataplane_namespaces
    labels: dict[str, Optional[Labels]] = {}
    problems: list[str] = []
    namespaces = client.resource("v1", "Namespace")
    if namespaces is None:
        raise AmbientCheckError(client.where, ["the API server serves no core v1 Namespaces"])
    warnings: list[str] = []
    unread: set[str] = set()
    for name in names:
        try:
            found = client.get(namespaces, None, name)
        except KubeError as e:
            if ruleset.dataplane == AUTO:
                problems.append(
                    f"cannot read namespace {name!r} ({e}): with dataplane auto its labels decide ambient mode"
                )
            else:
                # The API server sets this label on every namespace: enough for a waypoint's usual selector.
                warnings.append(f"{client.where}: cannot read namespace {name!r} ({e}); its labels were not checked")
                labels[name] = {NAMESPACE_NAME_LABEL: name}
                unread.add(name)
            continue
        labels[name] = None if found is None else dict((found.get("metadata") or {}).get("labels") or {})
    if ruleset.dataplane == AUTO:
        problems += [
            f"namespace {name!r} does not exist: dataplane auto reads its label {DATAPLANE_LABEL}"
            for name in names
            if name in labels and labels[name] is None
        ]
    if problems:
        raise AmbientCheckError(client.where, problems)
    if ruleset.dataplane == AUTO:
        ambient = {name for name, found in labels.items() if (found or {}).get(DATAPLANE_LABEL) == DATAPLANE_AMBIENT}
        found_set = with_dataplanes(ruleset, ambient)
    else:
        found_set = ruleset
        warnings += [
            f"{client.where}: namespace {name!r} is not labelled {DATAPLANE_LABEL}={DATAPLANE_AMBIENT}: its pods are "
            "not in ambient mode, so ztunnel does not send their traffic to the waypoint"
            for name, found in sorted(labels.items())
            if found is not None and name not in unread and found.get(DATAPLANE_LABEL) != DATAPLANE_AMBIENT
        ]
    return Dataplanes(found_set, labels, tuple(warnings))


def check_waypoint(
    client: KubeClient,
    ruleset: RuleSet,
    resources: Mapping[tuple[str, str], Resource],
    labels: Mapping[str, Optional[Labels]],
) -> list[str]:
    """The waypoint the set's ambient ServiceEntries are bound to; returns warnings.

    Not managed by the set: it must exist with class istio-waypoint, take service
    traffic, have the HBONE listener, and admit every ambient namespace of the set.
    Managed or not: a waypoint without ``status.addresses`` is not ready yet, and
    until it is istiod binds nothing to it (``gatewayToWaypointTransform``).
    Raises AmbientCheckError listing every problem.
    """
    waypoint = ruleset.waypoint
    if waypoint is None or not ruleset.has_ambient:
        return []
    res = resources.get(WAYPOINT.key)
    if res is None:
        raise AmbientCheckError(client.where, [f"{WAYPOINT.kind} {WAYPOINT.api_version()}: {WAYPOINT.missing_hint}"])
    try:
        live = client.get(res, waypoint.namespace, waypoint.name)
    except KubeError as e:
        raise AmbientCheckError(client.where, [f"cannot read the waypoint {waypoint.where}: {e}"]) from None
    problems: list[str] = []
    if not waypoint.manage:
        namespaces = sorted({s.namespace for s in ruleset.services if ruleset.is_ambient(s)})
        problems = waypoint_problems(waypoint, live, {n: labels.get(n) or {} for n in namespaces})
    if problems:
        raise AmbientCheckError(client.where, problems)
    if live is not None and not ((live.get("status") or {}).get("addresses")):
        return [
            f"{client.where}: the waypoint {waypoint.where} is not ready (istiod has written no status.addresses): "
            "until it is, ServiceEntries are not bound to it and ztunnel sends their traffic direct"
        ]
    return []


def waypoint_problems(waypoint: Waypoint, live: Optional[dict], namespaces: Mapping[str, Labels]) -> list[str]:
    """Why an existing (unmanaged) waypoint cannot carry the set's ServiceEntries from ``namespaces``."""
    if live is None:
        return [
            f"the waypoint {waypoint.where} (waypoint.name, waypoint.namespace) does not exist: create it "
            "(istioctl waypoint apply), or let this set manage it (waypoint.manage: true)"
        ]
    spec = live.get("spec") or {}
    problems = []
    if spec.get("gatewayClassName") != WAYPOINT_CLASS:
        problems.append(
            f"the waypoint {waypoint.where} has gatewayClassName {spec.get('gatewayClassName')!r}, "
            f"not {WAYPOINT_CLASS!r}"
        )
    # istiod's default for a Gateway without the label is "service" (gatewayToWaypointTransform).
    traffic = ((live.get("metadata") or {}).get("labels") or {}).get(WAYPOINT_FOR_LABEL, "service")
    if traffic not in WAYPOINT_FOR_SERVICE:
        problems.append(
            f"the waypoint {waypoint.where} is labelled {WAYPOINT_FOR_LABEL}={traffic}: it takes no service traffic "
            f"(istiod wants {' or '.join(WAYPOINT_FOR_SERVICE)})"
        )
    listener = next(
        (
            item
            for item in spec.get("listeners") or ()
            if item.get("protocol") == HBONE_LISTENER["protocol"] and item.get("port") == HBONE_LISTENER["port"]
        ),
        None,
    )
    if listener is None:
        problems.append(f"the waypoint {waypoint.where} has no HBONE listener on port {HBONE_LISTENER['port']}")
        return problems
    for namespace, labels in sorted(namespaces.items()):
        if not admits(listener, waypoint.namespace, namespace, labels):
            problems.append(
                f"the waypoint {waypoint.where} does not admit ServiceEntries from namespace {namespace!r} "
                "(its HBONE listener's allowedRoutes): add the namespace to waypoint.allowed_namespaces of the set "
                "that manages it"
            )
    return problems


def admits(listener: Mapping[str, Any], own: str, namespace: str, labels: Labels) -> bool:
    """Whether a listener's allowedRoutes admits ``namespace`` (``AllowsAttachmentFromNamespaceOrLookup``)."""
    allowed = (listener.get("allowedRoutes") or {}).get("namespaces") or {}
    origin = allowed.get("from", "Same")
    if origin == "All":
        return True
    if origin == "Selector":
        return selects(allowed.get("selector") or {}, labels)
    return namespace == own


def selects(selector: Mapping[str, Any], labels: Labels) -> bool:
    """A metav1.LabelSelector against a namespace's labels (an empty selector selects everything)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_matches(expression, labels) for expression in selector.get("matchExpressions") or ())


def _matches(expression: Mapping[str, Any], labels: Labels) -> bool:
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or ()
    present = key in labels
    checks = {
        "In": lambda: present and labels[key] in values,
        "NotIn": lambda: not (present and labels[key] in values),
        "Exists": lambda: present,
        "DoesNotExist": lambda: not present,
    }
    # An operator the API server does not take admits nothing.
    return operator in checks and bool(checks[operator]())
