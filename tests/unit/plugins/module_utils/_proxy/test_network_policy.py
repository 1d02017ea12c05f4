# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The NetworkPolicies of every way out keep DNS, istiod and the cluster; what each allows, for people."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._proxy.network_policy import allowances
from ansible_collections.meshguard.egress.plugins.module_utils._render import ServiceAddresses, render
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset

MYSQL = {"name": "mysql", "hosts": ["192.0.2.10"], "ports": [{"number": 3306, "protocol": "MYSQL"}]}
WAYS = {
    "direct": {},
    "gateway": {"egress_gateway": {}},
    "ambient": {"dataplane": "ambient", "waypoint": {"name": "wp", "namespace": "istio-egress"}},
}
KEEP = [
    "kube-system/k8s-app=kube-dns on UDP 53, TCP 53",
    "istio-system/app=istiod on TCP 15012",
    "every pod of the cluster (all ports)",
]


def policies(way, **options):
    spec = {"set": "s", "namespace": "shop", "services": [MYSQL], "network_policy": True, **WAYS[way], **options}
    objects = render(validate_ruleset(spec), {"mysql": ServiceAddresses(cidrs=("192.0.2.10/32",), ips=("192.0.2.10",))})
    return {
        (o["metadata"]["namespace"], o["metadata"]["name"]): allowances(o)
        for o in objects
        if o["kind"] == "NetworkPolicy"
    }


@pytest.mark.parametrize("way", sorted(WAYS))
def test_every_policy_keeps_dns_istiod_and_the_cluster(way):
    found = policies(way)
    assert found
    for key, policy in found.items():
        exit_policy = policy["allows"] == ["192.0.2.10/32 on TCP 3306"]
        # A proxy's exit policy adds the blocks to pods that its base policy already lets keep the rest.
        assert exit_policy or policy["allows"][-3:] == KEEP, key


@pytest.mark.parametrize("way", sorted(WAYS))
def test_a_lockdown_leaves_the_cluster_out_and_keeps_dns_and_istiod(way):
    for key, policy in policies(way, network_policy_lockdown=True).items():
        assert "every pod of the cluster (all ports)" not in policy["allows"], key
        exit_policy = policy["allows"] == ["192.0.2.10/32 on TCP 3306"]
        assert exit_policy or policy["allows"][-2:] == KEEP[:2], key


def test_the_client_pods_reach_external_addresses_only_through_the_proxy():
    client = policies("gateway")[("shop", "s--mysql")]
    assert client["pods"] == "all pods"
    assert client["allows"][0] == "istio-system/istio=egressgateway on TCP 443"
    assert not any("192.0.2.10" in line for line in client["allows"])


def test_allowances_read_hand_written_policies_too():
    anything = {
        "metadata": {"name": "x", "namespace": "n"},
        "spec": {"podSelector": {"matchLabels": {"a": "b"}}, "egress": [{}]},
    }
    assert allowances(anything) == {
        "namespace": "n",
        "name": "x",
        "pods": "a=b",
        "allows": ["every destination (all ports)"],
    }
    block = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}
    spec = {"podSelector": {}, "egress": [{"to": [block], "ports": [{"port": 443}]}]}
    assert allowances({"metadata": {}, "spec": spec})["allows"] == ["0.0.0.0/0 except 10.0.0.0/8 on TCP 443"]
