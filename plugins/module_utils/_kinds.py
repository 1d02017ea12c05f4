# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kinds of object this collection writes, and how objects are named and selected.

Every fact about a kind is stated here once: its API group, the versions it
is written in, its place in the write order, and what to tell a user whose
cluster does not serve it. Rendering, discovery, planning and applying read
them from here, so a new kind is one more entry in ``KINDS`` (and its
renderer in ``_render``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ._names import OWNER_LABEL, OWNER_VALUE, SET_LABEL

ISTIO_NETWORKING = "networking.istio.io"
ISTIO_CONFIG = "config.istio.io"
ISTIO_SECURITY = "security.istio.io"
KUBERNETES_NETWORKING = "networking.k8s.io"
KUBERNETES_ADMISSION = "admissionregistration.k8s.io"
GATEWAY_API = "gateway.networking.k8s.io"

# networking.istio.io serves one schema under all three versions; v1 since Istio 1.22.
ISTIO_VERSIONS = ("v1", "v1beta1", "v1alpha3")
_ISTIO_MISSING = "is Istio installed?"


@dataclass(frozen=True)
class Kind:
    """One kind of object the collection writes.

    ``versions``: the versions it may be written in, the default first.
    ``write_order``: lower numbers are written first and deleted last.
    ``plural``: the resource name, for the guardrail's admission policy (``_guardrail``).
    """

    group: str
    kind: str
    versions: tuple[str, ...]
    write_order: int
    missing_hint: str
    plural: str

    def api_version(self, version: Optional[str] = None) -> str:
        return f"{self.group}/{version or self.versions[0]}"

    @property
    def key(self) -> tuple[str, str]:
        return self.group, self.kind


SERVICE_ENTRY = Kind(ISTIO_NETWORKING, "ServiceEntry", ISTIO_VERSIONS, 0, _ISTIO_MISSING, "serviceentries")
# Istio 0.x, as in the original "Consuming External TCP Services" write-up.
EGRESS_RULE = Kind(
    ISTIO_CONFIG,
    "EgressRule",
    ("v1alpha2",),
    0,
    "the legacy EgressRule API needs Istio 0.x (or its CRD) on the cluster",
    "egressrules",
)
# The egress gateway's objects (_gateway.render). Everything a VirtualService
# routes to (the unit's ServiceEntry, the gateway's subset and server, the
# authorization policy) is live before the route that uses it.
GATEWAY = Kind(ISTIO_NETWORKING, "Gateway", ISTIO_VERSIONS, 0, _ISTIO_MISSING, "gateways")
DESTINATION_RULE = Kind(ISTIO_NETWORKING, "DestinationRule", ISTIO_VERSIONS, 0, _ISTIO_MISSING, "destinationrules")
# Before the ServiceEntries: in ambient mode a ServiceEntry bound to the waypoint
# before its policy exists is open to every source; a policy whose target does
# not exist yet is harmless. Deleted after them, for the same reason.
AUTHORIZATION_POLICY = Kind(
    ISTIO_SECURITY, "AuthorizationPolicy", ("v1", "v1beta1"), -1, _ISTIO_MISSING, "authorizationpolicies"
)
# The ambient waypoint (_ambient.render): a Gateway API Gateway, live before the
# ServiceEntries that name it (istio.io/use-waypoint).
WAYPOINT = Kind(
    GATEWAY_API,
    "Gateway",
    ("v1",),
    -2,
    "the Gateway API CRDs are not installed (ambient mode's waypoint is a gateway.networking.k8s.io Gateway; "
    "install the standard channel of sigs.k8s.io/gateway-api)",
    "gateways",
)
VIRTUAL_SERVICE = Kind(ISTIO_NETWORKING, "VirtualService", ISTIO_VERSIONS, 1, _ISTIO_MISSING, "virtualservices")
# After the routes: a client NetworkPolicy that allows only the gateway must
# not go live while the sidecars still send the traffic direct.
NETWORK_POLICY = Kind(
    KUBERNETES_NETWORKING, "NetworkPolicy", ("v1",), 2, "is this a Kubernetes API server?", "networkpolicies"
)
# Last: a REGISTRY_ONLY Sidecar must never go live before the egress rules
# that keep the allowed traffic flowing.
SIDECAR = Kind(ISTIO_NETWORKING, "Sidecar", ISTIO_VERSIONS, 3, _ISTIO_MISSING, "sidecars")
# The guardrail (cluster-wide): live before the rules it guards, and removed after them.
_ADMISSION_MISSING = "the guardrail needs ValidatingAdmissionPolicy, Kubernetes 1.30 or later"
ADMISSION_POLICY = Kind(
    KUBERNETES_ADMISSION, "ValidatingAdmissionPolicy", ("v1",), -4, _ADMISSION_MISSING, "validatingadmissionpolicies"
)
ADMISSION_BINDING = Kind(
    KUBERNETES_ADMISSION,
    "ValidatingAdmissionPolicyBinding",
    ("v1",),
    -3,
    _ADMISSION_MISSING,
    "validatingadmissionpolicybindings",
)

# Everything the collection may have written: what discovery looks up and a prune lists.
KINDS = (
    SERVICE_ENTRY,
    EGRESS_RULE,
    GATEWAY,
    DESTINATION_RULE,
    AUTHORIZATION_POLICY,
    VIRTUAL_SERVICE,
    NETWORK_POLICY,
    SIDECAR,
    WAYPOINT,
    ADMISSION_POLICY,
    ADMISSION_BINDING,
)
BY_KEY = {kind.key: kind for kind in KINDS}

# The choices of the ``api`` option: the API of the egress rules.
LEGACY_API = EGRESS_RULE.api_version()
APIS = (*(SERVICE_ENTRY.api_version(version) for version in SERVICE_ENTRY.versions), LEGACY_API)
DEFAULT_API = APIS[0]


def api_version(kind: Kind, api: str) -> str:
    """The group/version objects of ``kind`` are written and read in, for a rule set on ``api``.

    Kinds of the ``api``'s group follow it; the others keep their default. So
    with the legacy API a Sidecar stays on networking.istio.io/v1: EgressRule's
    group has no Sidecar of its own.
    """
    group, _slash, version = api.rpartition("/")
    return kind.api_version(version if group == kind.group else None)


def kind_of(obj: dict[str, Any]) -> Kind:
    return BY_KEY[identity(obj)[:2]]


def identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """(group, kind, namespace, name): the same object whatever its API version."""
    meta = obj["metadata"]
    group = obj["apiVersion"].rpartition("/")[0]
    return group, obj["kind"], meta.get("namespace", ""), meta["name"]


def key(obj: dict[str, Any]) -> str:
    """How plans, diffs and messages name an object: Kind/namespace/name (Kind/name when cluster-wide)."""
    _group, kind, namespace, name = identity(obj)
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def sort_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """The order of rendered objects: by kind, namespace and name."""
    group, kind, namespace, name = identity(obj)
    return kind, namespace, name, group


def selector(set_name: Optional[str] = None) -> str:
    """Label selector for what the collection owns: one rule set, or every set."""
    return f"{OWNER_LABEL}={OWNER_VALUE}" + (f",{SET_LABEL}={set_name}" if set_name else "")


def owned_by(obj: dict[str, Any], set_name: Optional[str] = None) -> bool:
    """Whether the object carries the collection's labels (of ``set_name``, or of any set)."""
    labels = obj.get("metadata", {}).get("labels") or {}
    if labels.get(OWNER_LABEL) != OWNER_VALUE:
        return False
    return set_name is None or labels.get(SET_LABEL) == set_name
