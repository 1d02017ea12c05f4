# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe defaults, judged by the programs that decide them.

- exportTo: a set grants its own namespace and no other. A set applied to a
  real cluster, one service direct and one through the egress gateway; the
  cluster's istiod, asked over xDS as a sidecar of the set's namespace and of
  another REGISTRY_ONLY namespace, routes the first and blackholes the
  second. An object edited back to Istio's default (every namespace) opens
  the other namespace, as istiod shows, rules_info reports it and the next
  run closes it; `export_to` naming the other namespace opens it on purpose.
  (Ambient: tests/integration/test_ambient_istio.py shows a sidecar of a
  namespace outside allowed_sources sees none of the set's entries, and the
  waypoint's RBAC admits the declared sources only.)
- NetworkPolicy: the local clusters enforce none, so network-config-analyzer
  (NCA) computes what the rendered policies let a pod of the set's namespace
  reach, on every way out: DNS on UDP and TCP 53, istiod, a pod of another
  namespace, and no undeclared external address; with network_policy_lockdown
  only DNS and istiod in the cluster.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import istiolib
import pytest
import yaml
from clusterlib import ROOT, run_module

pytestmark = pytest.mark.integration

MYSQL = {
    "name": "billing-mysql",
    "hosts": ["192.0.2.230"],
    "ports": [{"number": 3306, "protocol": "MYSQL"}],
    "egress_gateway": False,
}
MONGO = {"name": "orders-mongo", "hosts": ["203.0.113.230"], "ports": [{"number": 27020, "protocol": "MONGO"}]}
NCA = ROOT / ".venv-nca" / "bin" / "nca"


# --------------------------------------------------------------------------- exportTo, as istiod programs it


def sidecar_case(case_id: str, namespace: str, istiod: dict) -> dict:
    calls = [
        istiolib.tcp("192.0.2.230", 3306, "mysql"),
        istiolib.tcp("203.0.113.230", 27020, "mongo"),
    ]
    workload = {"namespace": namespace, "labels": {"app": "client"}}
    return {"id": case_id, **istiod, "workload": workload, "calls": calls}


def granted(result: dict) -> dict[str, bool]:
    """Per call: whether the sidecar is routed to the set's service (mysql, direct) or to the gateway
    (mongo); a call not granted must be blackholed (the namespace is REGISTRY_ONLY)."""
    calls = istiolib.by_name(result)
    mysql, mongo = calls["mysql"], calls["mongo"]
    out = {}
    out["mysql"] = mysql["verdict"] == "routed" and "billing-mysql" in (mysql.get("cluster") or "")
    cluster, _mode, _sni, _addresses = istiolib.via_gateway(mongo)
    out["mongo"] = cluster is not None and cluster.endswith(istiolib.GATEWAY_HOST)
    for name, call in (("mysql", mysql), ("mongo", mongo)):
        if not out[name]:
            assert call["verdict"] == "denied", istiolib.describe(call)
    return out


def expect(cases: list[dict], want: dict[str, dict[str, bool]]) -> None:
    def check(results):
        got = {case_id: granted(results[case_id]) for case_id in want}
        assert got == want, got

    istiolib.judge_until(cases, check, timeout=60)


def test_a_set_grants_its_own_namespace_only_as_istiod_programs_it(local_clusters, namespace):
    ctx = local_clusters.contexts[0]
    other = f"{namespace}-other"
    local_clusters.kubectl(ctx, "create", "namespace", other)
    set_name = f"sd{uuid.uuid4().hex[:8]}"
    args = {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": ctx,
        "set": set_name,
        "namespace": namespace,
        "registry_only": [namespace, other],
        "egress_gateway": {"mode": "mtls"},
        "services": [MYSQL, MONGO],
    }
    istiod = {"istiod": str(local_clusters.by_context(ctx).dir / "istiod.json")}
    cases = [sidecar_case("own", namespace, istiod), sidecar_case("other", other, istiod)]
    try:
        result = run_module("rules", args)[0]
        assert not result.get("failed"), result.get("msg")
        exported = {
            (o["kind"], tuple(o["spec"]["exportTo"]))
            for o in result["resources"]
            if o["kind"] in ("ServiceEntry", "VirtualService")
        }
        assert exported == {
            ("ServiceEntry", (".",)),
            ("ServiceEntry", (".", "istio-system")),
            ("VirtualService", (".", "istio-system")),
        }
        expect(cases, {"own": {"mysql": True, "mongo": True}, "other": {"mysql": False, "mongo": False}})
        info = run_module("rules_info", dict(args))[0]
        assert (info["in_sync"], info["exported_wider"]) == (True, [])

        # Someone takes exportTo off the direct service's ServiceEntry: Istio's default, every namespace.
        (entry,) = [
            o for o in result["resources"] if o["kind"] == "ServiceEntry" and "billing-mysql" in o["metadata"]["name"]
        ]
        name = entry["metadata"]["name"]
        patch = '[{"op": "remove", "path": "/spec/exportTo"}]'
        local_clusters.kubectl(
            ctx, "-n", namespace, "patch", "serviceentries.networking.istio.io", name, "--type=json", "-p", patch
        )
        expect(cases, {"own": {"mysql": True, "mongo": True}, "other": {"mysql": True, "mongo": False}})
        info, printed = run_module("rules_info", args)
        assert info["in_sync"] is False
        assert info["exported_wider"] == [
            {
                "kind": "ServiceEntry",
                "namespace": namespace,
                "name": name,
                "exported_to": ["*"],
                "wanted": ["."],
                "wider": ["*"],
            }
        ]
        assert (
            f"ServiceEntry {namespace}/{name} is exported to every namespace beyond what the rule set says" in printed
        )
        assert run_module("rules", args)[0]["changed"] is True
        expect(cases, {"own": {"mysql": True, "mongo": True}, "other": {"mysql": False, "mongo": False}})

        # Written on purpose: the other namespace may use both services.
        shared = {**args, "export_to": [".", other]}
        assert run_module("rules", shared)[0]["changed"] is True
        expect(cases, {"own": {"mysql": True, "mongo": True}, "other": {"mysql": True, "mongo": True}})
    finally:
        run_module("rules", {**args, "state": "absent"})
        local_clusters.kubectl(ctx, "delete", "namespace", other, "--wait=false", check=False)


# --------------------------------------------------------------------------- NetworkPolicies, as NCA reads them

SHOP = "shop"
PG = {"name": "payments-db", "hosts": ["198.51.100.0/28"], "ports": [{"number": 5432, "protocol": "TCP"}]}
WAYS = {
    "direct": {},
    "gateway": {"egress_gateway": {"mode": "mtls"}},
    "ambient": {
        "dataplane": "ambient",
        "waypoint": {"name": "egress-waypoint", "namespace": "istio-egress", "manage": True},
        "istio_version": "1.31",
    },
}
POD_IPS = iter(f"10.244.{i}.5" for i in range(1, 50))


def _namespace(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
    }


def _pod(namespace: str, name: str, labels: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "none"}]},
        "status": {"podIP": next(POD_IPS), "hostIP": "10.0.0.1"},
    }


def cluster_resources() -> list[dict]:
    """The pods that matter: the set's workload, kube-dns, istiod, the egress gateway and the waypoint
    (with the labels Istio and Kubernetes give them), and a service of another namespace."""
    names = [SHOP, "kube-system", "istio-system", "istio-egress", "other"]
    return [
        *map(_namespace, names),
        _pod(SHOP, "client", {"app": "client"}),
        _pod("kube-system", "coredns", {"k8s-app": "kube-dns"}),
        _pod("istio-system", "istiod", {"app": "istiod"}),
        _pod("istio-system", "egressgateway", dict(istiolib.GATEWAY_LABELS)),
        _pod("istio-egress", "waypoint", {"gateway.networking.k8s.io/gateway-name": "egress-waypoint"}),
        _pod("other", "web", {"app": "web"}),
    ]


_LINE = re.compile(r"^(\S+) => (\S+) : (.+)$")


def connectivity(policies: list[dict], tmp_path: Path) -> dict[tuple[str, str], str]:
    """NCA's connectivity map of the policies over cluster_resources(): (source, destination) -> connections."""
    np_file = tmp_path / "policies.yaml"
    np_file.write_text(yaml.safe_dump_all(policies))
    res_file = tmp_path / "resources.yaml"
    res_file.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": cluster_resources()}))
    assert NCA.exists(), f"{NCA} is missing: run `make setup`"
    cmd = [str(NCA), "--connectivity", str(np_file), "-r", str(res_file), "-o", "txt_no_fw_rules"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    found = {}
    for line in res.stdout.splitlines():
        match = _LINE.match(line.strip())
        if match:
            found[(match.group(1), match.group(2))] = match.group(3)
    assert found, res.stdout
    return found


_GROUP = re.compile(r"\{protocols:([A-Z, ]+),dst_ports:([0-9,\- ]+)\}")


def allows(connections: str, protocol: str, port: int) -> bool:
    """Whether NCA's connections (``All connections`` or ``{protocols:TCP, UDP,dst_ports:53}`` groups)
    include protocol and port."""
    if connections == "All connections":
        return True
    for protocols, ports in _GROUP.findall(connections):
        if protocol not in [p.strip() for p in protocols.split(",")]:
            continue
        for item in ports.replace(" ", "").split(","):
            low, _dash, high = item.partition("-")
            if int(low) <= port <= int(high or low):
                return True
    return False


def external(found: dict[tuple[str, str], str], source: str) -> dict[str, str]:
    """What `source` reaches outside the pods: address ranges (NCA writes them first-last)."""
    return {dst: conn for (src, dst), conn in found.items() if src == source and "[" not in dst}


def rendered_policies(tmp_path: Path, way: str, lockdown: bool) -> list[dict]:
    args = {
        "state": "rendered",
        "set": "sd",
        "namespace": SHOP,
        "network_policy": True,
        "network_policy_lockdown": lockdown,
        "services": [PG],
        "dest": str(tmp_path / "rendered"),
        **WAYS[way],
    }
    result = run_module("rules", args)[0]
    assert not result.get("failed"), result.get("msg")
    return [o for o in result["resources"] if o["kind"] == "NetworkPolicy"]


@pytest.mark.parametrize("lockdown", [False, True], ids=["default", "lockdown"])
@pytest.mark.parametrize("way", sorted(WAYS))
def test_the_rendered_network_policies_keep_dns_istiod_and_the_cluster_and_open_nothing_undeclared(
    tmp_path, way, lockdown
):
    found = connectivity(rendered_policies(tmp_path, way, lockdown), tmp_path)
    client = f"{SHOP}/client[Pod]"
    dns = found[(client, "kube-system/coredns[Pod]")]
    istiod = found[(client, "istio-system/istiod[Pod]")]
    if lockdown:
        assert dns != "All connections" and allows(dns, "UDP", 53) and allows(dns, "TCP", 53), dns
        assert istiod != "All connections" and allows(istiod, "TCP", 15012), istiod
        assert (client, "other/web[Pod]") not in found
    else:
        assert (dns, istiod) == ("All connections", "All connections")
        assert found[(client, "other/web[Pod]")] == "All connections"
    declared = {"198.51.100.0-198.51.100.15": "{protocols:TCP,dst_ports:5432}"}
    if way == "direct":
        assert external(found, client) == declared
    else:
        # Only the proxy (gateway, waypoint) leaves the cluster, for the declared block and port.
        assert external(found, client) == {}
        proxy = "istio-system/egressgateway[Pod]" if way == "gateway" else "istio-egress/waypoint[Pod]"
        assert external(found, proxy) == declared
        proxy_dns = found[(proxy, "kube-system/coredns[Pod]")]
        assert allows(proxy_dns, "UDP", 53) and allows(proxy_dns, "TCP", 53), proxy_dns
        assert allows(found[(proxy, "istio-system/istiod[Pod]")], "TCP", 15012)
        # The client reaches the proxy's port: the gateway's 443 (rendered without a cluster, the Service's
        # targetPort was not read) or the waypoint's HBONE 15008.
        assert allows(found[(client, proxy)], "TCP", 443 if way == "gateway" else 15008), found[(client, proxy)]
    # Pods the set does not select are not touched.
    assert external(found, "other/web[Pod]") == {"0.0.0.0-255.255.255.255": "All connections"}
