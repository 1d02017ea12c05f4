# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The NetworkPolicies of every way out (direct, egress gateway, ambient): their specs, and
what they allow as plain lines for people.

A NetworkPolicy that selects a pod for egress drops everything no policy of the pod allows.
So every policy the collection renders for workloads (and for the gateway and waypoint pods)
also allows what those pods need to keep working: DNS, istiod (configuration and certificate
rotation) and, unless the rule set asks for a lockdown, every pod of the cluster (in-cluster
calls). What leaves the cluster is limited to the declared blocks and ports. See
docs/docsite/rst/rendering.rst ("NetworkPolicy").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

from .._terms import ip_text

# Where the pods every sidecar needs run (Istio's and Kubernetes' defaults).
ISTIOD = {"namespace": "istio-system", "labels": {"app": "istiod"}, "ports": [("TCP", 15012)]}
DNS = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ports": [("UDP", 53), ("TCP", 53)]}
# The label the API server sets on every namespace (Kubernetes 1.22 and later).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
TargetPort = Union[int, str]


def peer(namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """The pods with ``labels`` in ``namespace``."""
    return {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
        "podSelector": {"matchLabels": dict(labels)},
    }


def rule(to: list[dict[str, Any]], ports: Sequence[tuple[str, TargetPort]]) -> dict[str, Any]:
    # protocol written out, as the API server stores it: the comparison with the live object must match.
    return {"to": to, "ports": [{"protocol": protocol, "port": port} for protocol, port in ports]}


def block_rule(networks: Sequence[Any], numbers: Sequence[int]) -> dict[str, Any]:
    """The declared blocks on the declared TCP ports."""
    return rule([{"ipBlock": {"cidr": ip_text(n)}} for n in networks], [("TCP", n) for n in sorted(set(numbers))])


def infrastructure(lockdown: bool) -> list[dict[str, Any]]:
    """What every selected pod keeps: DNS and istiod, and every pod of the cluster unless ``lockdown``."""
    rules = [rule([peer(p["namespace"], p["labels"])], p["ports"]) for p in (DNS, ISTIOD)]  # type: ignore[arg-type]
    if not lockdown:
        # Every pod of every namespace, on every port (no ports): pods only, never an address
        # outside the cluster; in-cluster calls stay as they were before the set selected the pods.
        rules.append({"to": [{"namespaceSelector": {}}]})
    return rules


def pod_selector(labels: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """A service's pod_selector (default: every pod of its namespace)."""
    return {"matchLabels": dict(labels)} if labels else {}


def direct_policy(
    selector: Sequence[tuple[str, str]], networks: Sequence[Any], numbers: Sequence[int], lockdown: bool
) -> dict[str, Any]:
    """The spec of a direct service's policy: its pods reach its blocks and ports, and keep the rest."""
    return {
        "podSelector": pod_selector(selector),
        "policyTypes": ["Egress"],
        "egress": [block_rule(networks, numbers), *infrastructure(lockdown)],
    }


def proxy_policies(
    selector: Sequence[tuple[str, str]],
    *,
    proxy_namespace: str,
    proxy_labels: Mapping[str, str],
    proxy_ports: Sequence[TargetPort],
    networks: Sequence[Any],
    numbers: Sequence[int],
    lockdown: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The NetworkPolicy pair (specs) of a service whose traffic leaves through a proxy's pods
    (the egress gateway, or ambient mode's waypoint): the service's pods reach the proxy pods on
    ``proxy_ports`` and keep the rest, but no external address; the proxy pods reach the blocks."""
    targets = sorted(set(proxy_ports), key=lambda p: (isinstance(p, str), p))
    client = {
        "podSelector": pod_selector(selector),
        "policyTypes": ["Egress"],
        "egress": [
            rule([peer(proxy_namespace, proxy_labels)], [("TCP", t) for t in targets]),
            *infrastructure(lockdown),
        ],
    }
    exit_policy = {
        "podSelector": {"matchLabels": dict(proxy_labels)},
        "policyTypes": ["Egress"],
        "egress": [block_rule(networks, numbers)],
    }
    return client, exit_policy


def proxy_base_policy(proxy_labels: Mapping[str, str], lockdown: bool) -> dict[str, Any]:
    """The spec of a proxy's own egress to istiod and DNS (and the cluster), which the per-service
    exit policies would otherwise cut."""
    return {
        "podSelector": {"matchLabels": dict(proxy_labels)},
        "policyTypes": ["Egress"],
        "egress": infrastructure(lockdown),
    }


# --- for people -------------------------------------------------------------------------------


def allowances(policy: Mapping[str, Any]) -> dict[str, Any]:
    """What one NetworkPolicy allows, as a reviewer reads it: ``{"namespace", "name", "pods",
    "allows": [lines]}``. Pods are ``all pods`` or their labels; each line names a peer and ports."""
    meta = policy.get("metadata") or {}
    spec = policy.get("spec") or {}
    labels = (spec.get("podSelector") or {}).get("matchLabels") or {}
    pods = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "all pods"
    lines = [f"{_peers(r.get('to'))} {_ports(r.get('ports'))}".rstrip() for r in spec.get("egress") or []]
    return {"namespace": meta.get("namespace", ""), "name": meta.get("name", ""), "pods": pods, "allows": lines}


def _peers(to: Any) -> str:
    if not to:
        return "every destination"
    names = []
    for item in to:
        if "ipBlock" in item:
            block = item["ipBlock"]
            except_ = block.get("except") or []
            names.append(block["cidr"] + (f" except {', '.join(except_)}" if except_ else ""))
        elif item.get("namespaceSelector") == {} and "podSelector" not in item:
            names.append("every pod of the cluster")
        else:
            ns = ((item.get("namespaceSelector") or {}).get("matchLabels") or {}).get(NAMESPACE_NAME_LABEL, "?")
            pod_labels = (item.get("podSelector") or {}).get("matchLabels") or {}
            names.append(f"{ns}/" + (",".join(f"{k}={v}" for k, v in sorted(pod_labels.items())) or "*"))
    return ", ".join(names)


def _ports(ports: Any) -> str:
    if not ports:
        return "(all ports)"
    return "on " + ", ".join(f"{p.get('protocol', 'TCP')} {p.get('port', 'any')}" for p in ports)
