# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The address ranges a cluster reports as its own: Service CIDRs and pod CIDRs.

Read once per run, before anything is rendered: ``networking.k8s.io/v1``
ServiceCIDR objects (served since Kubernetes 1.33; the apiserver creates
``kubernetes`` from its --service-cluster-ip-range) and the nodes'
``spec.podCIDRs``. A range that cannot be read is named in a warning, never
skipped in silence: internal_ranges then has to say it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .._cluster.client import KubeClient, KubeError
from .._terms import ip_text
from .judge import CLUSTER, Range

SERVICE_CIDR_VERSION = "networking.k8s.io/v1"


@dataclass(frozen=True)
class ClusterRanges:
    ranges: tuple[Range, ...] = ()
    warnings: tuple[str, ...] = ()


def read_cluster_ranges(client: KubeClient, internal_given: bool = False) -> ClusterRanges:
    """The cluster's Service and pod ranges, with a warning for each source it could not read.

    ``internal_given``: internal_ranges are set, so nodes without spec.podCIDRs
    (network plugins that allocate pod addresses themselves) need no warning.
    """
    ranges: dict[str, Range] = {}
    warnings: list[str] = []
    where = client.where
    cidrs = client.resource(SERVICE_CIDR_VERSION, "ServiceCIDR")
    if cidrs is None:
        warnings.append(
            f"{where}: ServiceCIDR {SERVICE_CIDR_VERSION} is not served (Kubernetes 1.33 or later), so DNS answers "
            "were not checked against the cluster's Service range: list it in internal_ranges"
        )
    else:
        for item in _listed(client, cidrs, "the cluster's Service range", warnings):
            for cidr in (item.get("spec") or {}).get("cidrs") or ():
                _add(ranges, cidr, "the cluster's Service range", f"ServiceCIDR {item['metadata']['name']} on {where}")
    nodes = client.resource("v1", "Node")
    listed = _listed(client, nodes, "the pod ranges", warnings) if nodes is not None else []
    for node in listed:
        spec = node.get("spec") or {}
        for cidr in spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []):
            _add(ranges, cidr, "a pod range", f"spec.podCIDRs of node {node['metadata']['name']} on {where}")
    if (
        listed
        and not internal_given
        and not any((n.get("spec") or {}).get("podCIDRs") or (n.get("spec") or {}).get("podCIDR") for n in listed)
    ):
        warnings.append(
            f"{where}: no node reports spec.podCIDRs (the network plugin allocates pod addresses itself), so DNS "
            "answers were not checked against the pod network: list it in internal_ranges"
        )
    return ClusterRanges(tuple(ranges.values()), tuple(warnings))


def _listed(client: KubeClient, resource, what: str, warnings: list[str]) -> list[dict]:
    try:
        return client.list(resource)
    except KubeError as e:
        if e.status != 403:
            raise
    warnings.append(
        f"{client.where}: user {client.user} may not list {resource.full_name}, so DNS answers were not checked "
        f"against {what}: list it in internal_ranges, or grant list on {resource.full_name}"
    )
    return []


def _add(ranges: dict[str, Range], cidr: str, name: str, source: str) -> None:
    try:
        text = ip_text(ipaddress.ip_network(cidr, strict=False))
    except ValueError:
        text = None
    if text is None:
        raise KubeError(f"{source}: {cidr!r} is not a CIDR block; the address policy cannot judge against it")
    ranges.setdefault(text, Range(text, name, source, CLUSTER))
