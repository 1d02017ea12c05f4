# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cluster's own ranges (Service CIDRs, pod CIDRs) as the address policy reads them, and the warning for
each source it could not read.

The client here serves fixed objects the way KubeClient returns them (no network); the same reads against a
real kube-apiserver are in tests/integration/test_hostile_dns.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._cluster.client import KubeError, Resource
from ansible_collections.meshguard.egress.plugins.module_utils._policy.internal import read_cluster_ranges
from ansible_collections.meshguard.egress.plugins.module_utils._policy.judge import CLUSTER, Range

SERVICE_CIDRS = Resource("networking.k8s.io/v1", "ServiceCIDR", "servicecidrs", False)
NODES = Resource("v1", "Node", "nodes", False)


class Cluster:
    """Serves ServiceCIDRs and Nodes; ``forbidden`` kinds answer 403 to a LIST, as RBAC would."""

    where = "context prod"
    user = "ci"

    def __init__(self, cidrs=None, nodes=(), forbidden=(), status=403):
        self.cidrs = cidrs  # None: ServiceCIDR is not served (Kubernetes before 1.33)
        self.nodes = list(nodes)
        self.forbidden = set(forbidden)
        self.status = status

    def resource(self, api_version, kind):
        if kind == "ServiceCIDR":
            return SERVICE_CIDRS if self.cidrs is not None else None
        return NODES if kind == "Node" else None

    def list(self, res, namespace=None, label_selector=""):
        if res.kind in self.forbidden:
            raise KubeError(f"{self.where}: 403 Forbidden", status=self.status)
        if res is SERVICE_CIDRS:
            return [{"metadata": {"name": n}, "spec": {"cidrs": c}} for n, c in self.cidrs.items()]
        return list(self.nodes)


def node(name, *cidrs, legacy=False):
    spec = {"podCIDR": cidrs[0]} if legacy else ({"podCIDRs": list(cidrs)} if cidrs else {})
    return {"metadata": {"name": name}, "spec": spec}


def test_service_and_pod_ranges_are_named_with_where_they_were_read():
    cluster = Cluster({"kubernetes": ["10.96.0.0/12", "fd00:10:96::/112"]}, [node("a", "10.244.0.0/24")])
    found = read_cluster_ranges(cluster)
    assert found.ranges == (
        Range("10.96.0.0/12", "the cluster's Service range", "ServiceCIDR kubernetes on context prod", CLUSTER),
        Range("fd00:10:96::/112", "the cluster's Service range", "ServiceCIDR kubernetes on context prod", CLUSTER),
        Range("10.244.0.0/24", "a pod range", "spec.podCIDRs of node a on context prod", CLUSTER),
    )
    assert found.warnings == ()


def test_a_range_reported_twice_is_one_range_and_the_older_podcidr_field_counts():
    cluster = Cluster({"kubernetes": ["10.96.0.0/12"]}, [node("a", "10.244.0.0/24"), node("b", "10.244.0.0/24")])
    assert [r.cidr for r in read_cluster_ranges(cluster).ranges] == ["10.96.0.0/12", "10.244.0.0/24"]
    legacy = read_cluster_ranges(Cluster({}, [node("old", "10.245.0.0/24", legacy=True)]))
    assert [(r.cidr, r.name) for r in legacy.ranges] == [("10.245.0.0/24", "a pod range")]


def test_an_unserved_service_cidr_is_a_warning_that_says_what_to_do():
    found = read_cluster_ranges(Cluster(None, [node("a", "10.244.0.0/24")]))
    assert [r.cidr for r in found.ranges] == ["10.244.0.0/24"]
    (warning,) = found.warnings
    assert warning.startswith("context prod: ServiceCIDR networking.k8s.io/v1 is not served")
    assert warning.endswith("list it in internal_ranges")


def test_nodes_without_pod_ranges_warn_unless_internal_ranges_are_given():
    cluster = Cluster({"kubernetes": ["10.96.0.0/12"]}, [node("a"), node("b")])
    (warning,) = read_cluster_ranges(cluster).warnings
    assert "no node reports spec.podCIDRs" in warning
    assert read_cluster_ranges(cluster, internal_given=True).warnings == ()


def test_a_forbidden_list_is_a_warning_naming_the_user_and_the_grant_to_give():
    found = read_cluster_ranges(Cluster({"kubernetes": ["10.96.0.0/12"]}, forbidden={"ServiceCIDR", "Node"}))
    assert found.ranges == ()
    assert found.warnings == (
        "context prod: user ci may not list servicecidrs.networking.k8s.io, so DNS answers were not checked "
        "against the cluster's Service range: list it in internal_ranges, or grant list on "
        "servicecidrs.networking.k8s.io",
        "context prod: user ci may not list nodes, so DNS answers were not checked against the pod ranges: "
        "list it in internal_ranges, or grant list on nodes",
    )


def test_other_failures_and_a_range_that_is_no_cidr_stop_the_run():
    with pytest.raises(KubeError):
        read_cluster_ranges(Cluster({"kubernetes": ["10.96.0.0/12"]}, forbidden={"Node"}, status=500))
    with pytest.raises(KubeError, match=r"ServiceCIDR kubernetes on context prod: 'ten/8' is not a CIDR block"):
        read_cluster_ranges(Cluster({"kubernetes": ["ten/8"]}))
