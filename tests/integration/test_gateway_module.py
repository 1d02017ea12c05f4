# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meshguard.egress.rules with egress_gateway against a real kube-apiserver, Istio's CRDs and istiod's webhook.

Each test brings its own gateway: a namespace holding a Service shaped as
Istio's egress chart makes it (no pods: no kubelet runs), and a selector of
its own, so tests never share a gateway. What was written is read back with
kubectl, and write requests are counted with the API server's own metrics.
What Istio routes is the probe's part (the issue's proof, after the probe
work): here the API server, istiod's validation, dry runs, idempotence,
prune, mode switches and the cluster checks.
"""

from __future__ import annotations

import json
import uuid

import pytest
from clusterlib import GATEWAY_KINDS, owned, run_module, writes

pytestmark = pytest.mark.integration

CTX = "local-2"
OUR_RESOURCES = {kind.split(".", maxsplit=1)[0] for kind in GATEWAY_KINDS}

PG = {"name": "payments-db", "hosts": ["198.51.100.40/31"], "ports": [{"number": 5432, "protocol": "TCP"}]}
MONGO = {"name": "orders-mongo", "hosts": ["203.0.113.40"], "ports": [{"number": 27017, "protocol": "MONGO"}]}
REDIS = {"name": "cache", "hosts": ["2001:db8::40"], "ports": [{"number": 6379, "protocol": "REDIS"}]}


def service_yaml(namespace: str, name: str, selector: dict, extra_ports=()) -> str:
    ports = [
        {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
        *({"name": f"tcp-{p}", "port": p, "targetPort": p, "protocol": "TCP"} for p in extra_ports),
    ]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "ports": ports},
    }
    return json.dumps(service)


class Gateway:
    """A gateway namespace and Service of this test's own."""

    def __init__(self, local_clusters, namespace: str) -> None:
        self.clusters = local_clusters
        self.namespace = namespace
        self.service = "egw"
        self.selector = {"istio": f"egw-{uuid.uuid4().hex[:6]}"}

    def expose(self, *ports: int) -> None:
        self.clusters.kubectl(
            CTX,
            "apply",
            "--server-side",
            "--field-manager=meshguard-tests",
            "-f",
            "-",
            stdin=service_yaml(self.namespace, self.service, self.selector, ports),
        )

    def option(self, **extra) -> dict:
        return {"namespace": self.namespace, "service": self.service, "selector": self.selector, **extra}


@pytest.fixture
def gateway(local_clusters):
    name = f"g-{uuid.uuid4().hex[:10]}"
    local_clusters.kubectl(CTX, "create", "namespace", name)
    gw = Gateway(local_clusters, name)
    gw.expose()
    yield gw
    local_clusters.kubectl(CTX, "delete", "namespace", name, "--wait=false", check=False)


def args(local_clusters, namespace, services, gateway, set_name, **extra) -> dict:
    return {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": CTX,
        "set": set_name,
        "namespace": namespace,
        "services": services,
        "egress_gateway": gateway,
        **extra,
    }


@pytest.fixture
def set_name(local_clusters, namespace):
    name = f"gw{uuid.uuid4().hex[:8]}"
    yield name
    # No controller deletes a namespace's objects here, and istiod keeps seeing them: remove the set.
    run_module(
        "rules",
        {"kubeconfig": str(local_clusters.kubeconfig), "context": CTX, "set": name, "state": "absent"},
    )


def our_writes(local_clusters, before, *, dry_run=False):
    after = local_clusters.requests(CTX)
    return {k: n for k, n in writes(before, after, dry_run=dry_run).items() if k[1] in OUR_RESOURCES}


def test_mtls_create_check_mode_rerun_and_absent(local_clusters, namespace, gateway, set_name):
    a = args(local_clusters, namespace, [PG, MONGO, REDIS], gateway.option(), set_name, network_policy=True)
    before = local_clusters.requests(CTX)
    preview = run_module("rules", a, check=True, diff=True)[0]
    assert not preview.get("failed"), preview.get("msg")
    assert our_writes(local_clusters, before) == {}, "check mode wrote to the API server"
    assert owned(local_clusters, CTX, set_name) == {}
    real = run_module("rules", a, diff=True)[0]
    assert not real.get("failed"), real.get("msg")
    assert preview["plan"] == real["plan"] and preview["diff"] == real["diff"]
    assert real["egress_gateway"] == {
        "service": f"{gateway.namespace}/egw",
        "mode": "mtls",
        "checked": True,
        "ports": {},
    }
    g, s = gateway.namespace, set_name
    assert owned(local_clusters, CTX, set_name) == {
        "DestinationRule": [f"{g}/{s}--cache", f"{g}/{s}--orders-mongo", f"{g}/{s}--payments-db"],
        "Gateway": [f"{g}/{s}--cache", f"{g}/{s}--orders-mongo", f"{g}/{s}--payments-db"],
        "NetworkPolicy": sorted(
            [f"{g}/{s}--meshguard-egress--gateway"]
            + [f"{g}/{s}--{svc}--gateway" for svc in ("cache", "orders-mongo", "payments-db")]
            + [f"{namespace}/{s}--{svc}" for svc in ("cache", "orders-mongo", "payments-db")]
        ),
        "ServiceEntry": [
            f"{namespace}/{s}--cache--2001-db8--40--6379",
            f"{namespace}/{s}--orders-mongo--203-0-113-40--27017",
            f"{namespace}/{s}--payments-db--198-51-100-40--5432",
            f"{namespace}/{s}--payments-db--198-51-100-41--5432",
        ],
        "VirtualService": [
            f"{namespace}/{s}--cache--2001-db8--40--6379",
            f"{namespace}/{s}--orders-mongo--203-0-113-40--27017",
            f"{namespace}/{s}--payments-db--198-51-100-40--5432",
            f"{namespace}/{s}--payments-db--198-51-100-41--5432",
        ],
    }
    # The client policy names the pods' port behind the Service's 443, read from the cluster.
    client = local_clusters.get(CTX, "networkpolicies.networking.k8s.io", namespace, f"{s}--payments-db")[0]
    assert client["spec"]["egress"][0]["ports"] == [{"port": 8443, "protocol": "TCP"}]
    assert client["spec"]["egress"][0]["to"][0]["podSelector"] == {"matchLabels": gateway.selector}

    before = local_clusters.requests(CTX)
    again = run_module("rules", a)[0]
    assert again["changed"] is False, again["plan"]
    assert our_writes(local_clusters, before) == {}
    assert our_writes(local_clusters, before, dry_run=True) == {}

    gone = run_module("rules", {**a, "state": "absent"})[0]
    assert gone["changed"] is True and not gone.get("failed")
    assert owned(local_clusters, CTX, set_name) == {}


def test_allowed_sources_are_accepted_by_istiod(local_clusters, namespace, gateway, set_name):
    limited = dict(PG, allowed_sources=[namespace, "billing/api"])
    result = run_module("rules", args(local_clusters, namespace, [limited, MONGO], gateway.option(), set_name))[0]
    assert not result.get("failed"), result.get("msg")
    policies = {
        p["metadata"]["name"]: p["spec"]
        for p in local_clusters.get(CTX, "authorizationpolicies.security.istio.io", gateway.namespace)
    }
    assert sorted(policies) == [f"{set_name}--orders-mongo", f"{set_name}--payments-db"]
    rule = policies[f"{set_name}--payments-db"]["rules"][0]
    assert rule["from"] == [{"source": {"namespaces": [namespace]}}, {"source": {"serviceAccounts": ["billing/api"]}}]
    assert rule["when"][0]["key"] == "connection.sni"


def test_plain_ports_are_stable_checked_against_the_service_and_freed(local_clusters, namespace, gateway, set_name):
    option = gateway.option(mode="plain", ports={"start": 40000, "end": 40009})
    a = args(local_clusters, namespace, [MONGO], option, set_name)
    # The Service does not expose the gateway port yet: an error naming service, port and Service, nothing written.
    before = local_clusters.requests(CTX)
    refused = run_module("rules", a)[0]
    assert refused.get("failed")
    assert (
        f"service 'orders-mongo' port 27017: gateway port 40000 is not exposed by Service {gateway.namespace}/egw "
        "(exposes 80, 443)"
    ) in refused["msg"]
    assert our_writes(local_clusters, before) == {}
    assert owned(local_clusters, CTX, set_name) == {}

    gateway.expose(40000, 40001, 40002)
    first = run_module("rules", a)[0]
    assert not first.get("failed"), first.get("msg")
    assert first["egress_gateway"]["ports"] == {"orders-mongo": {"27017": 40000}}
    live = local_clusters.get(CTX, "gateways.networking.istio.io", gateway.namespace, f"{set_name}--orders-mongo")[0]
    assert live["metadata"]["annotations"]["meshguard.egress/gateway-ports"] == '{"27017":40000}'

    # A service that sorts first comes in: the kept one is not renumbered.
    billing = dict(PG, name="billing-db", hosts=["198.51.100.40"])
    second = run_module("rules", args(local_clusters, namespace, [billing, MONGO], option, set_name))[0]
    assert second["egress_gateway"]["ports"] == {"billing-db": {"5432": 40001}, "orders-mongo": {"27017": 40000}}
    # Removing it frees its port; a rerun writes nothing.
    third = run_module("rules", a)[0]
    assert third["plan"]["delete"] and third["egress_gateway"]["ports"] == {"orders-mongo": {"27017": 40000}}
    before = local_clusters.requests(CTX)
    assert run_module("rules", a)[0]["changed"] is False
    assert our_writes(local_clusters, before) == {}


def test_a_port_another_gateway_serves_is_skipped(local_clusters, namespace, gateway, set_name):
    gateway.expose(40000, 40001)
    foreign = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "hand-made", "namespace": namespace},
        "spec": {
            "selector": gateway.selector,
            "servers": [{"port": {"number": 40000, "name": "tcp", "protocol": "TCP"}, "hosts": ["*/x.example.com"]}],
        },
    }
    local_clusters.kubectl(CTX, "apply", "-f", "-", stdin=json.dumps(foreign))
    try:
        option = gateway.option(mode="plain", ports={"start": 40000, "end": 40001})
        result = run_module("rules", args(local_clusters, namespace, [MONGO], option, set_name))[0]
        assert not result.get("failed"), result.get("msg")
        assert result["egress_gateway"]["ports"] == {"orders-mongo": {"27017": 40001}}
    finally:
        local_clusters.kubectl(CTX, "delete", "gateway.networking.istio.io", "hand-made", "-n", namespace)


def test_a_missing_gateway_namespace_or_service_fails_before_anything_is_written(
    local_clusters, namespace, gateway, set_name
):
    missing = f"nowhere-{uuid.uuid4().hex[:6]}"
    before = local_clusters.requests(CTX)
    result = run_module("rules", args(local_clusters, namespace, [PG], {"namespace": missing}, set_name))[0]
    assert result.get("failed")
    assert f"the egress gateway's namespace '{missing}' (egress_gateway.namespace) does not exist" in result["msg"]
    result = run_module("rules", args(local_clusters, namespace, [PG], gateway.option(service="nope"), set_name))[0]
    assert f"the egress gateway's Service {gateway.namespace}/nope" in result["msg"]
    assert our_writes(local_clusters, before) == {}
    assert our_writes(local_clusters, before, dry_run=True) == {}


def test_switching_direct_mtls_plain_and_back_converges_in_one_run_each(local_clusters, namespace, gateway, set_name):
    services = [dict(PG, hosts=["198.51.100.40"]), MONGO]
    direct_args = args(local_clusters, namespace, services, None, set_name, network_policy=True)
    del direct_args["egress_gateway"]
    modes = {
        "direct": direct_args,
        "mtls": args(local_clusters, namespace, services, gateway.option(), set_name, network_policy=True),
        "plain": args(
            local_clusters,
            namespace,
            services,
            gateway.option(mode="plain", ports={"start": 40000, "end": 40001}),
            set_name,
            network_policy=True,
        ),
    }
    gateway.expose(40000, 40001)
    seen = {}
    for mode in ("direct", "mtls", "plain", "mtls", "direct"):
        result = run_module("rules", modes[mode])[0]
        assert not result.get("failed"), (mode, result.get("msg"))
        rerun = run_module("rules", modes[mode])[0]
        assert rerun["changed"] is False, (mode, rerun["plan"])
        state = owned(local_clusters, CTX, set_name)
        assert seen.setdefault(mode, state) == state, mode  # the same objects, whatever came before
    assert sorted(seen["direct"]) == ["NetworkPolicy", "ServiceEntry"]
    assert seen["direct"]["ServiceEntry"] == [
        f"{namespace}/{set_name}--orders-mongo",
        f"{namespace}/{set_name}--payments-db",
    ]
    assert f"{namespace}/{set_name}--orders-mongo--p27017" in seen["plain"]["VirtualService"]
    assert f"{namespace}/{set_name}--orders-mongo--p27017" not in seen["mtls"]["VirtualService"]
