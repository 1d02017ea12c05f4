# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of the cluster's egress gateway, on objects as an API server returns them.

The client here serves a fixed list of objects (no network); the same checks
against a real kube-apiserver are in tests/integration/test_gateway_module.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._cluster.client import Resource
from ansible_collections.meshguard.egress.plugins.module_utils._gateway.cluster import GatewayCheckError, read_gateway
from ansible_collections.meshguard.egress.plugins.module_utils._kinds import GATEWAY
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset

NAMESPACES = Resource("v1", "Namespace", "namespaces", False)
SERVICES = Resource("v1", "Service", "services", True)
GATEWAYS = Resource("networking.istio.io/v1", "Gateway", "gateways", True)
RESOURCES = {GATEWAY.key: GATEWAYS}


def chart_service(*extra_ports):
    """The Service as Istio's egress chart makes it (manifests/charts/gateways/istio-egress/values.yaml)."""
    ports = [
        {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
        *({"name": f"tcp-{p}", "port": p, "targetPort": p, "protocol": "TCP"} for p in extra_ports),
    ]
    return {
        "metadata": {"name": "istio-egressgateway", "namespace": "istio-system"},
        "spec": {"selector": {"app": "istio-egressgateway", "istio": "egressgateway"}, "ports": ports},
    }


OURS = {"app.kubernetes.io/managed-by": "meshguard.egress", "meshguard.egress/set": "egress"}


def gateway(name, namespace, ports, *, selector=None, labels=None, annotations=None):
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {
            "selector": {"istio": "egressgateway"} if selector is None else selector,
            "servers": [{"port": {"number": p, "name": f"p{p}", "protocol": "TCP"}, "hosts": ["*/x"]} for p in ports],
        },
    }


def our_gateway(port):
    """The set's live Gateway of service pg, its port recorded in the annotation."""
    annotations = {"meshguard.egress/service": "pg", "meshguard.egress/gateway-ports": f'{{"5432":{port}}}'}
    return gateway("egress--pg", "istio-system", [port], labels=OURS, annotations=annotations)


class Cluster:
    """Serves namespaces, Services and Gateways the way KubeClient returns them."""

    where = "context test"

    def __init__(self, namespaces=("istio-system", "shop"), services=(), gateways=()):
        self.namespaces = set(namespaces)
        self.services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in services}
        self.gateways = list(gateways)

    def resource(self, api_version, kind):
        return {"Namespace": NAMESPACES, "Service": SERVICES}.get(kind)

    def get(self, res, namespace, name):
        if res is NAMESPACES:
            return {"metadata": {"name": name}} if name in self.namespaces else None
        return self.services.get((namespace, name))

    def list(self, res, namespace=None, label_selector=""):
        assert res is GATEWAYS and namespace is None  # every namespace: Istio merges Gateways from all of them
        return list(self.gateways)


PG = {"name": "pg", "hosts": ["198.51.100.7"], "ports": [{"number": 5432, "protocol": "TCP"}]}
MONGO = {"name": "mongo", "hosts": ["203.0.113.10"], "ports": [{"number": 27017, "protocol": "TCP"}]}


def ruleset(*services, **gateway):
    return validate_ruleset(
        {"set": "egress", "namespace": "shop", "egress_gateway": gateway, "services": list(services)}
    )


def problems(cluster, rules, owned=()):
    with pytest.raises(GatewayCheckError) as caught:
        read_gateway(cluster, rules, RESOURCES, owned)
    assert str(caught.value).startswith(
        "context test: the egress gateway cannot carry the rule set, nothing was changed"
    )
    return caught.value.problems


def test_mtls_reads_the_target_ports_of_the_chart_service():
    view = read_gateway(Cluster(services=[chart_service()]), ruleset(PG), RESOURCES, ())
    assert view.checked is True
    assert view.target_port(443) == 8443
    assert view.summary() == {
        "service": "istio-system/istio-egressgateway",
        "mode": "mtls",
        "checked": True,
        "ports": {},
    }


def test_a_missing_namespace_or_service_is_named():
    assert problems(Cluster(namespaces=["shop"]), ruleset(PG)) == [
        "the egress gateway's namespace 'istio-system' (egress_gateway.namespace) does not exist"
    ]
    assert problems(Cluster(), ruleset(PG)) == [
        "the egress gateway's Service istio-system/istio-egressgateway (egress_gateway.namespace, "
        "egress_gateway.service) does not exist: is the egress gateway installed?"
    ]


def test_mtls_needs_port_443_on_the_service():
    service = chart_service()
    service["spec"]["ports"] = service["spec"]["ports"][:1]
    assert problems(Cluster(services=[service]), ruleset(PG)) == [
        "Service istio-system/istio-egressgateway does not expose port 443, which mtls mode sends every service "
        "through (exposes 80)"
    ]


def test_plain_ports_must_be_exposed_by_the_service_every_one_named():
    rules = ruleset(PG, MONGO, mode="plain")
    assert problems(Cluster(services=[chart_service()]), rules) == [
        "service 'mongo' port 27017: gateway port 40000 is not exposed by Service istio-system/istio-egressgateway "
        "(exposes 80, 443); add it to the Service (targetPort the same number), or change egress_gateway.ports",
        "service 'pg' port 5432: gateway port 40001 is not exposed by Service istio-system/istio-egressgateway "
        "(exposes 80, 443); add it to the Service (targetPort the same number), or change egress_gateway.ports",
    ]
    view = read_gateway(Cluster(services=[chart_service(40000, 40001)]), rules, RESOURCES, ())
    assert view.assignment.ports == {("mongo", 27017): 40000, ("pg", 5432): 40001}


def test_plain_skips_ports_of_other_gateways_on_the_same_pods_and_keeps_its_own():
    others = [
        gateway("hand-made", "istio-system", [40000]),
        # The chart's pods carry app=istio-egressgateway too: this one selects them as well.
        gateway("team-b", "team-b", [40001], selector={"app": "istio-egressgateway"}),
        # Another workload's gateway: its ports are free here.
        gateway("ingress", "istio-system", [40002], selector={"istio": "ingressgateway"}),
    ]
    mine = our_gateway(40003)
    cluster = Cluster(services=[chart_service(*range(40000, 40005))], gateways=[*others, mine])
    view = read_gateway(cluster, ruleset(PG, MONGO, mode="plain"), RESOURCES, [mine])
    assert view.assignment.ports == {("mongo", 27017): 40002, ("pg", 5432): 40003}


def test_a_clash_and_a_missing_port_come_in_one_error():
    mine = our_gateway(40000)
    cluster = Cluster(services=[chart_service(40000)], gateways=[gateway("hand-made", "istio-system", [40000]), mine])
    assert problems(cluster, ruleset(PG, MONGO, mode="plain"), [mine]) == [
        "service 'pg' port 5432: gateway port 40000 is also a server port of Gateway/istio-system/hand-made on the "
        "same gateway pods; Istio keeps only one of them. Remove that server, or this service's Gateway so that the "
        "next run assigns another port",
        "service 'mongo' port 27017: gateway port 40001 is not exposed by Service istio-system/istio-egressgateway "
        "(exposes 80, 443, 40000); add it to the Service (targetPort the same number), or change egress_gateway.ports",
    ]
