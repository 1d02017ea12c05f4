# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local platform itself: real kube-apiservers with Istio's real CRDs, and
an istiod next to each whose validating webhook the API server calls."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from clusterlib import ROOT
from localclusters.cluster import EGRESS_GATEWAY_SERVICE, WAYPOINT_NAME, WAYPOINT_NAMESPACE
from localclusters.common import ISTIO_NAMESPACE
from localclusters.gateway_api import gateway_api_crds
from localclusters.istiod import WEBHOOK_NAME, webhook_probe_object

pytestmark = pytest.mark.integration


def service_entry(namespace: str, name: str, resolution: str) -> str:
    return json.dumps(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "hosts": ["db.example.test"],
                "addresses": ["192.0.2.0/28"],
                "ports": [{"number": 27017, "name": "tcp-27017", "protocol": "TCP"}],
                "location": "MESH_EXTERNAL",
                "resolution": resolution,
            },
        }
    )


def test_every_cluster_serves_istio_crds(local_clusters):
    for ctx in local_clusters.contexts:
        out = local_clusters.kubectl(ctx, "get", "crd", "serviceentries.networking.istio.io", "-o", "json").stdout
        crd = json.loads(out)
        assert {v["name"] for v in crd["spec"]["versions"] if v["served"]} == {"v1", "v1beta1", "v1alpha3"}


def test_valid_tcp_service_entry_with_cidr_is_accepted(local_clusters, namespace):
    for ctx in local_clusters.contexts:
        local_clusters.kubectl(ctx, "create", "-f", "-", stdin=service_entry(namespace, "db", "NONE"))
        stored = local_clusters.get(ctx, "serviceentries.networking.istio.io", namespace, "db")[0]
        assert stored["spec"]["addresses"] == ["192.0.2.0/28"]


def test_cidr_with_dns_resolution_is_rejected_by_istio_cel_rule(local_clusters, namespace):
    for ctx in local_clusters.contexts:
        res = local_clusters.kubectl(
            ctx, "create", "-f", "-", stdin=service_entry(namespace, "bad", "DNS"), check=False
        )
        assert res.returncode != 0
        assert "CIDR addresses are allowed only for NONE/STATIC resolution types" in res.stderr
        missing = local_clusters.kubectl(ctx, "get", "serviceentry", "bad", "-n", namespace, check=False)
        assert "NotFound" in missing.stderr


def test_readonly_user_can_read_but_gets_403_on_create(local_clusters, namespace):
    ctx = "local-1-readonly"
    listed = local_clusters.kubectl(ctx, "get", "serviceentries", "-n", namespace)
    assert listed.returncode == 0
    res = local_clusters.kubectl(ctx, "create", "-f", "-", stdin=service_entry(namespace, "db", "NONE"), check=False)
    assert res.returncode != 0
    assert "Forbidden" in res.stderr and 'User "local-readonly" cannot create' in res.stderr


def test_admin_reads_request_metrics(local_clusters):
    counts = local_clusters.requests("local-2")
    assert any(key[0] == "LIST" for key in counts), "apiserver_request_total has no LIST samples"


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


def _webhook_probe(namespace: str, name: str) -> str:
    return json.dumps(webhook_probe_object(namespace, name))


@pytest.mark.parametrize("dry_run", [False, True], ids=["write", "dry-run"])
def test_istio_go_validation_refuses_what_cel_accepts(local_clusters, namespace, dry_run):
    # Two hosts, a TCP port, resolution DNS: the CRD schema and its CEL rules
    # accept it, Istio's ValidateServiceEntry does not. Only istiod's webhook
    # can refuse it, so the refusal proves the API server calls it.
    extra = ["--dry-run=server"] if dry_run else []
    obj = _webhook_probe(namespace, "two")
    for ctx in local_clusters.contexts:
        res = local_clusters.kubectl(ctx, "create", *extra, "-f", "-", stdin=obj, check=False)
        assert res.returncode != 0, f"{ctx} accepted it"
        assert 'admission webhook "validation.istio.io" denied the request' in res.stderr, res.stderr
        assert "multiple hosts provided with non-HTTP, non-TLS ports" in res.stderr, res.stderr
        missing = local_clusters.kubectl(ctx, "get", "serviceentry", "two", "-n", namespace, check=False)
        assert "NotFound" in missing.stderr


def test_the_webhook_passes_what_istio_accepts(local_clusters, namespace):
    # The same object with resolution NONE is valid for Istio: the webhook lets it through.
    obj = webhook_probe_object(namespace, "fine")
    obj["spec"]["resolution"] = "NONE"
    obj["spec"]["addresses"] = ["192.0.2.0/28"]
    for ctx in local_clusters.contexts:
        local_clusters.kubectl(ctx, "create", "-f", "-", stdin=json.dumps(obj))
        assert local_clusters.get(ctx, "serviceentries.networking.istio.io", namespace, "fine")[0]["spec"]["hosts"]


def test_istiod_serves_the_clusters_objects(local_clusters, namespace):
    # istiod reads every cluster it runs next to: /debug/configz lists what it sees.
    local_clusters.kubectl("local-2", "create", "-f", "-", stdin=service_entry(namespace, "seen", "NONE"))
    istiod = local_clusters.by_context("local-2").istiod
    url = f"http://{istiod.addresses()['debug']}/debug/configz"
    deadline = time.monotonic() + 30
    while True:
        with urllib.request.urlopen(url, timeout=5) as r:
            configs = json.loads(r.read())
        names = {(c["metadata"]["namespace"], c["metadata"]["name"]) for c in configs if c["kind"] == "ServiceEntry"}
        if (namespace, "seen") in names:
            break
        assert time.monotonic() < deadline, f"istiod of local-2 never saw {namespace}/seen"
        time.sleep(0.3)


GATEWAY_OBJECTS = [
    ("service", EGRESS_GATEWAY_SERVICE),
    ("serviceaccount", "istio-egressgateway-service-account"),
    ("pod", "istio-egressgateway-local"),
    ("endpointslice", "istio-egressgateway-local"),
]


def test_every_cluster_has_the_egress_gateway_as_an_istio_install_creates_it(local_clusters):
    # manifests/charts/gateways/istio-egress: the Service's ports and selector,
    # its ServiceAccount; a Pod with those labels (never scheduled), and an
    # endpoint in the pod range. Applying again writes nothing.
    for ctx in local_clusters.contexts:

        def get(kind: str, name: str, ctx: str = ctx) -> dict:
            return local_clusters.get(ctx, kind, ISTIO_NAMESPACE, name)[0]

        svc = get("service", EGRESS_GATEWAY_SERVICE)
        selector = {"app": "istio-egressgateway", "istio": "egressgateway"}
        assert svc["spec"]["selector"] == selector
        ports = {(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
        assert {("http2", 80, 8080), ("https", 443, 8443)} <= ports
        assert {(f"tcp-{n}", n, n) for n in range(40000, 40010)} <= ports
        pod = get("pod", "istio-egressgateway-local")
        assert selector.items() <= pod["metadata"]["labels"].items()
        assert pod["spec"]["serviceAccountName"] == "istio-egressgateway-service-account"
        assert pod["spec"]["automountServiceAccountToken"] is False
        assert not pod["spec"].get("nodeName"), "nothing schedules pods here"
        assert get("serviceaccount", "istio-egressgateway-service-account")
        eps = get("endpointslice", "istio-egressgateway-local")
        assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == EGRESS_GATEWAY_SERVICE
        assert [e["addresses"] for e in eps["endpoints"]] == [["10.244.0.20"]]
        before = {(k, n): get(k, n)["metadata"]["resourceVersion"] for k, n in GATEWAY_OBJECTS}
        local_clusters.by_context(ctx).apply_egress_gateway()
        assert {(k, n): get(k, n)["metadata"]["resourceVersion"] for k, n in GATEWAY_OBJECTS} == before


WAYPOINT_OBJECTS = [("service", WAYPOINT_NAME), ("endpointslice", f"{WAYPOINT_NAME}-local")]


def test_every_cluster_serves_the_gateway_api_and_runs_istiod_in_ambient_mode(local_clusters):
    # The standard channel of the pinned sigs.k8s.io/gateway-api, every CRD
    # Established; istiod started with PILOT_ENABLE_AMBIENT, so its class
    # controller created the istio-waypoint GatewayClass and accepted it.
    gateway_api = gateway_api_crds()
    assert gateway_api.version == "v1.6.0"
    assert "gateways.gateway.networking.k8s.io" in gateway_api.crds and len(gateway_api.crds) == 10
    for ctx in local_clusters.contexts:
        for name in gateway_api.crds:
            crd = json.loads(local_clusters.kubectl(ctx, "get", "crd", name, "-o", "json").stdout)
            annotations = crd["metadata"]["annotations"]
            assert annotations["gateway.networking.k8s.io/bundle-version"] == gateway_api.version
            assert annotations["gateway.networking.k8s.io/channel"] == "standard"
            established = [c for c in crd["status"]["conditions"] if c["type"] == "Established"]
            assert [c["status"] for c in established] == ["True"], name
        out = local_clusters.kubectl(ctx, "get", "gatewayclass", "istio-waypoint", "-o", "json").stdout
        waypoint_class = json.loads(out)
        assert waypoint_class["spec"]["controllerName"] == "istio.io/mesh-controller"
        accepted = [c for c in waypoint_class["status"]["conditions"] if c["type"] == "Accepted"]
        assert [c["status"] for c in accepted] == ["True"]
        istiod = local_clusters.by_context(ctx).istiod
        environ = Path(f"/proc/{istiod.pid()}/environ").read_bytes().split(b"\0")
        assert b"PILOT_ENABLE_AMBIENT=true" in environ
        assert istiod.env_current()


def test_every_cluster_has_the_waypoints_service_and_instance(local_clusters):
    # What Istio's deployment controller would create for the Gateway
    # egress-waypoint (its Service, selecting the Gateway's pods, port 15008
    # hbone), and one endpoint in the pod range. Applying again writes nothing.
    for ctx in local_clusters.contexts:

        def get(kind: str, name: str, ctx: str = ctx) -> dict:
            return local_clusters.get(ctx, kind, WAYPOINT_NAMESPACE, name)[0]

        svc = get("service", WAYPOINT_NAME)
        assert svc["spec"]["selector"] == {"gateway.networking.k8s.io/gateway-name": WAYPOINT_NAME}
        assert [(p["name"], p["port"], p["appProtocol"]) for p in svc["spec"]["ports"]] == [("mesh", 15008, "hbone")]
        assert svc["spec"]["clusterIP"].startswith("10.0.0.")
        eps = get("endpointslice", f"{WAYPOINT_NAME}-local")
        assert eps["metadata"]["labels"]["kubernetes.io/service-name"] == WAYPOINT_NAME
        assert [e["addresses"] for e in eps["endpoints"]] == [["10.244.0.30"]]
        before = {(k, n): get(k, n)["metadata"]["resourceVersion"] for k, n in WAYPOINT_OBJECTS}
        local_clusters.by_context(ctx).apply_waypoint()
        assert {(k, n): get(k, n)["metadata"]["resourceVersion"] for k, n in WAYPOINT_OBJECTS} == before


def test_clusters_up_twice_changes_nothing_and_down_leaves_no_process(tmp_path):
    # The command behind `make clusters` / `make clusters-down`, on a state
    # directory of its own so the suite's clusters are not touched.
    state, kubeconfig = tmp_path / "state", tmp_path / "kubeconfig"
    tool = [sys.executable, str(ROOT / "tools" / "clusters.py"), "--state", str(state), "--kubeconfig", str(kubeconfig)]
    tool += ["--prefix", "life"]
    kubectl = [str(ROOT / ".venv" / "bin" / "kubectl"), "--kubeconfig", str(kubeconfig), "--context", "life-1"]

    def metadata(*what: str) -> dict:
        out = subprocess.run([*kubectl, "get", *what, "-o", "json"], check=True, capture_output=True, text=True).stdout
        return json.loads(out)["metadata"]

    try:
        subprocess.run([*tool, "up", "--count", "1"], check=True, capture_output=True, text=True)
        pid = (state / "life-1" / "pid").read_text()
        istiod_pid = (state / "life-1" / "istiod.pid").read_text()
        running = _processes_mentioning(str(state))
        assert any(line.startswith(f"{pid.strip()}: ") for line in running)
        assert any(line.startswith(f"{istiod_pid.strip()}: ") and "pilot-discovery" in line for line in running)
        config = kubeconfig.read_bytes()
        installed = metadata("crd", "serviceentries.networking.istio.io")
        webhook = metadata("validatingwebhookconfiguration", WEBHOOK_NAME)
        namespace = metadata("namespace", ISTIO_NAMESPACE)
        gateway = {o: metadata("-n", ISTIO_NAMESPACE, *o)["resourceVersion"] for o in GATEWAY_OBJECTS}
        gateway_api = metadata("crd", "gateways.gateway.networking.k8s.io")["resourceVersion"]
        waypoint = {o: metadata("-n", WAYPOINT_NAMESPACE, *o)["resourceVersion"] for o in WAYPOINT_OBJECTS}
        again = subprocess.run([*tool, "up", "--count", "1"], check=True, capture_output=True, text=True)
        assert "started" not in again.stdout + again.stderr
        assert (state / "life-1" / "pid").read_text() == pid
        assert (state / "life-1" / "istiod.pid").read_text() == istiod_pid
        assert kubeconfig.read_bytes() == config
        assert metadata("crd", "serviceentries.networking.istio.io")["resourceVersion"] == installed["resourceVersion"]
        # istiod's own webhook controller found it complete and left it alone too.
        assert (
            metadata("validatingwebhookconfiguration", WEBHOOK_NAME)["resourceVersion"] == (webhook["resourceVersion"])
        )
        assert metadata("namespace", ISTIO_NAMESPACE)["resourceVersion"] == namespace["resourceVersion"]
        assert {o: metadata("-n", ISTIO_NAMESPACE, *o)["resourceVersion"] for o in GATEWAY_OBJECTS} == gateway
        assert metadata("crd", "gateways.gateway.networking.k8s.io")["resourceVersion"] == gateway_api
        assert {o: metadata("-n", WAYPOINT_NAMESPACE, *o)["resourceVersion"] for o in WAYPOINT_OBJECTS} == waypoint
    finally:
        subprocess.run([*tool, "down"], check=True, capture_output=True)
    assert _processes_mentioning(str(state)) == []
