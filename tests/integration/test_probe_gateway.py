# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe's egress gateway cases, proved on hand-written objects for one
TCP service through Istio's egress gateway (the shapes of issue 13's design
note, mtls and plain mode), with the gateway's Service, Pod and EndpointSlice
of tools/istio/egress-gateway:

- a sidecar routes each declared address:port to the gateway subset, over
  Istio mutual TLS with the unit's SNI, and nothing else;
- the gateway proxy (a router with the gateway's labels) routes that SNI to
  the external address:port, its only endpoint, and denies an unknown SNI;
- in plain mode the gateway port lists its weighted clusters;
- an AuthorizationPolicy on the gateway is reported as Istio builds it.

Offline (manifests loaded into Istio's discovery server) and live (the
objects applied to a local cluster: listed from its API server, and the
cluster's istiod asked over ADS, as a sidecar and as the gateway)."""

from __future__ import annotations

import json
import subprocess

import istiolib
import pytest
from istiolib import GATEWAY_HOST, GATEWAY_MTLS_PORT, GATEWAY_NAMESPACE, GATEWAY_PLAIN_PORTS, GATEWAY_POD_IP

pytestmark = pytest.mark.integration

NET = "networking.istio.io/v1"
GATEWAY_SELECTOR = {"istio": "egressgateway"}
PLAIN_PORT = GATEWAY_PLAIN_PORTS[0]


def _meta(name: str, namespace: str) -> dict:
    return {"name": name, "namespace": namespace}


def unit_host(unit: str, ns: str) -> str:
    return f"{unit}.{ns}.meshguard-egress.invalid"


def unit_service_entry(unit: str, ns: str, ip: str, port: int, protocol: str = "TCP") -> dict:
    """One (address, port): STATIC with that one endpoint, exported everywhere
    (the gateway's namespace included)."""
    spec = {
        "hosts": [unit_host(unit, ns)],
        "addresses": [f"{ip}/32"],
        "ports": [{"name": f"{protocol.lower()}-{port}", "number": port, "protocol": protocol}],
        "location": "MESH_EXTERNAL",
        "resolution": "STATIC",
        "endpoints": [{"address": ip}],
    }
    return {"apiVersion": NET, "kind": "ServiceEntry", "metadata": _meta(unit, ns), "spec": spec}


def mtls_objects(
    svc: str, ns: str, ips: list[str], port: int, protocol: str = "TCP"
) -> tuple[list[dict], dict[str, str]]:
    """Design note §1a: per unit a ServiceEntry and a VirtualService (mesh ->
    gateway subset on 443, gateway -> the unit on its port); per service a
    Gateway (one ISTIO_MUTUAL TLS server per unit on 443) and a
    DestinationRule (one subset per unit, its SNI) in the gateway's namespace.
    Returns the objects and {ip: unit name}."""
    objects, units, servers, subsets = [], {}, [], []
    gw = f"{GATEWAY_NAMESPACE}/{svc}"
    for ip in ips:
        unit = f"{svc}--{ip.replace('.', '-')}--{port}"
        units[ip] = unit
        host = unit_host(unit, ns)
        objects.append(unit_service_entry(unit, ns, ip, port, protocol))
        tcp = [
            {
                "match": [{"gateways": ["mesh"], "port": port}],
                "route": [{"destination": {"host": GATEWAY_HOST, "subset": unit, "port": {"number": 443}}}],
            },
            {
                "match": [{"gateways": [gw], "port": 443}],
                "route": [{"destination": {"host": host, "port": {"number": port}}}],
            },
        ]
        vs = {"hosts": [host], "gateways": ["mesh", gw], "tcp": tcp}
        objects.append({"apiVersion": NET, "kind": "VirtualService", "metadata": _meta(unit, ns), "spec": vs})
        servers.append(
            {
                "port": {"number": 443, "name": unit, "protocol": "TLS"},
                "hosts": [f"{ns}/{host}"],
                "tls": {"mode": "ISTIO_MUTUAL"},
            }
        )
        tls = {"mode": "ISTIO_MUTUAL", "sni": host}
        subsets.append({"name": unit, "trafficPolicy": {"portLevelSettings": [{"port": {"number": 443}, "tls": tls}]}})
    gateway = {"selector": GATEWAY_SELECTOR, "servers": servers}
    objects.append({"apiVersion": NET, "kind": "Gateway", "metadata": _meta(svc, GATEWAY_NAMESPACE), "spec": gateway})
    dr = {"host": GATEWAY_HOST, "subsets": subsets}
    objects.append(
        {"apiVersion": NET, "kind": "DestinationRule", "metadata": _meta(svc, GATEWAY_NAMESPACE), "spec": dr}
    )
    return objects, units


def plain_objects(svc: str, ns: str, ips: list[str], port: int, gateway_port: int) -> tuple[list[dict], dict[str, str]]:
    """Design note §2: the same units on the sidecar's side, a mesh-only
    VirtualService each to the service's gateway subset on its gateway port;
    one gateway-side VirtualService weighted over the units; a plain TCP
    Gateway server on that port; a subset with tls DISABLE."""
    objects, units, weighted = [], {}, []
    subset = f"{svc}--p{port}"
    for ip in ips:
        unit = f"{svc}--{ip.replace('.', '-')}--{port}"
        units[ip] = unit
        objects.append(unit_service_entry(unit, ns, ip, port))
        dest = {"host": GATEWAY_HOST, "subset": subset, "port": {"number": gateway_port}}
        vs = {
            "hosts": [unit_host(unit, ns)],
            "gateways": ["mesh"],
            "tcp": [{"match": [{"port": port}], "route": [{"destination": dest}]}],
        }
        objects.append({"apiVersion": NET, "kind": "VirtualService", "metadata": _meta(unit, ns), "spec": vs})
        weighted.append({"destination": {"host": unit_host(unit, ns), "port": {"number": port}}, "weight": 1})
    gw_host = unit_host(subset, ns)
    vs = {
        "hosts": [gw_host],
        "gateways": [f"{GATEWAY_NAMESPACE}/{svc}"],
        "tcp": [{"match": [{"port": gateway_port}], "route": weighted}],
    }
    objects.append({"apiVersion": NET, "kind": "VirtualService", "metadata": _meta(subset, ns), "spec": vs})
    server = {
        "port": {"number": gateway_port, "name": f"tcp-{gateway_port}", "protocol": "TCP"},
        "hosts": [f"{ns}/{gw_host}"],
    }
    gateway = {"selector": GATEWAY_SELECTOR, "servers": [server]}
    objects.append({"apiVersion": NET, "kind": "Gateway", "metadata": _meta(svc, GATEWAY_NAMESPACE), "spec": gateway})
    tls = {"port": {"number": gateway_port}, "tls": {"mode": "DISABLE"}}
    dr = {"host": GATEWAY_HOST, "subsets": [{"name": subset, "trafficPolicy": {"portLevelSettings": [tls]}}]}
    objects.append(
        {"apiVersion": NET, "kind": "DestinationRule", "metadata": _meta(svc, GATEWAY_NAMESPACE), "spec": dr}
    )
    return objects, units


def authorization_policy(name: str, namespaces: list[str], service_accounts: list[str], snis: list[str]) -> dict:
    """Design note §8: admit only these sources, for these SNIs."""
    rule = {
        "from": [{"source": {"namespaces": namespaces}}, {"source": {"serviceAccounts": service_accounts}}],
        "when": [{"key": "connection.sni", "values": snis}],
    }
    spec = {"selector": {"matchLabels": GATEWAY_SELECTOR}, "action": "ALLOW", "rules": [rule]}
    meta = _meta(name, GATEWAY_NAMESPACE)
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": meta, "spec": spec}


def registry_only(ns: str) -> dict:
    spec = {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}, "egress": [{"hosts": ["*/*"]}]}
    return {"apiVersion": NET, "kind": "Sidecar", "metadata": _meta("default", ns), "spec": spec}


def text(objects: list[dict]) -> str:
    return "\n---\n".join(json.dumps(o) for o in objects)


# --------------------------------------------------------------------------- the calls and what they must give

MTLS_IPS = ["198.51.100.0", "198.51.100.1"]  # a /31 expanded: two units
MTLS_PORT = 5432
PLAIN_IPS = ["203.0.113.10", "203.0.113.11"]
PLAIN_SVC_PORT = 27017


def sidecar_calls(ips: list[str], port: int, undeclared: str) -> list[dict]:
    calls = [{"name": f"declared {ip}", "address": ip, "port": port, "protocol": "tcp"} for ip in ips]
    calls.append({"name": "undeclared address", "address": undeclared, "port": port, "protocol": "tcp"})
    calls.append({"name": "undeclared port", "address": ips[0], "port": port + 1, "protocol": "tcp"})
    return calls


def own_conflicts(result: dict, ns: str) -> list[str]:
    """istiod's conflict records about these objects (their names carry the
    namespace; a live cluster holds other tests' objects too)."""
    return [c for c in istiolib.conflicts(result) if ns in c]


def by_name(result: dict) -> dict[str, dict]:
    assert not result.get("error"), result.get("error")
    return {c["call"]["name"]: c for c in result["calls"]}


def check_mtls_sidecar(result: dict, units: dict[str, str], ns: str) -> None:
    calls = by_name(result)
    for ip, unit in units.items():
        got = istiolib.via_gateway(calls[f"declared {ip}"])
        want = (istiolib.gateway_cluster(443, unit), "ISTIO_MUTUAL", unit_host(unit, ns), [GATEWAY_POD_IP])
        assert got == want, istiolib.describe(calls[f"declared {ip}"])
        assert calls[f"declared {ip}"]["upstream_tls"]["certificate_sds"] == ["default"]
    assert calls["undeclared address"]["verdict"] == "denied", istiolib.describe(calls["undeclared address"])
    assert calls["undeclared port"]["verdict"] == "denied", istiolib.describe(calls["undeclared port"])
    assert own_conflicts(result, ns) == []


def router_mtls_calls(units: dict[str, str], ns: str) -> list[dict]:
    calls = [istiolib.mtls_call(unit_host(unit, ns), f"unit {ip}") for ip, unit in units.items()]
    first = unit_host(next(iter(units.values())), ns)
    calls += [
        istiolib.mtls_call(istiolib.UNKNOWN_SNI, "unknown sni"),
        # A TLS client without the mesh's certificate: refused by the handshake.
        {"name": "plain tls", "address": GATEWAY_POD_IP, "port": GATEWAY_MTLS_PORT, "protocol": "tls", "sni": first},
        # The Service's port, not the pod's: the listener binds the targetPort.
        istiolib.mtls_call(first, "service port 443", port=443),
    ]
    return calls


def check_mtls_router(result: dict, units: dict[str, str], ns: str) -> None:
    calls = by_name(result)
    for ip, unit in units.items():
        call = calls[f"unit {ip}"]
        assert call["listener"] == f"0.0.0.0_{GATEWAY_MTLS_PORT}", istiolib.describe(call)
        assert istiolib.forwarded(call) == [(istiolib.service_cluster(MTLS_PORT, unit_host(unit, ns)), [ip])], (
            istiolib.describe(call)
        )
    for name in ("unknown sni", "plain tls", "service port 443"):
        assert calls[name]["verdict"] == "denied", istiolib.describe(calls[name])
    assert "filter chain" in calls["unknown sni"]["error"]
    assert calls["plain tls"]["error"] == "invalid mTLS"
    assert "listener" in calls["service port 443"]["error"]
    assert own_conflicts(result, ns) == []


def check_plain_sidecar(result: dict, units: dict[str, str], ns: str, svc: str) -> None:
    calls = by_name(result)
    subset = f"{svc}--p{PLAIN_SVC_PORT}"
    for ip in units:
        got = istiolib.via_gateway(calls[f"declared {ip}"])
        assert got == (istiolib.gateway_cluster(PLAIN_PORT, subset), None, None, [GATEWAY_POD_IP]), got
    assert calls["undeclared address"]["verdict"] == "denied"
    assert calls["undeclared port"]["verdict"] == "denied"
    assert own_conflicts(result, ns) == []


def check_plain_router(result: dict, units: dict[str, str], ns: str) -> None:
    calls = by_name(result)
    want = sorted((istiolib.service_cluster(PLAIN_SVC_PORT, unit_host(u, ns)), [ip]) for ip, u in units.items())
    assert sorted(istiolib.forwarded(calls["gateway port"])) == want, istiolib.describe(calls["gateway port"])
    assert [w["weight"] for w in calls["gateway port"]["weighted_clusters"]] == [1, 1]
    assert calls["other port"]["verdict"] == "denied"


def plain_router_calls() -> list[dict]:
    return [
        {"name": "gateway port", "address": GATEWAY_POD_IP, "port": PLAIN_PORT, "protocol": "tcp"},
        {"name": "other port", "address": GATEWAY_POD_IP, "port": GATEWAY_PLAIN_PORTS[1], "protocol": "tcp"},
    ]


def check_rbac(result: dict, unit_sni: str, namespace: str, service_account: str) -> None:
    call = by_name(result)["unit"]
    assert call["verdict"] == "routed", istiolib.describe(call)
    (policy,) = istiolib.rbac_policies(call)
    assert (policy["action"], policy["shadow"]) == ("ALLOW", False)
    assert policy["namespaces"] == [namespace]
    assert policy["service_accounts"] == [service_account]
    assert policy["server_names"] == [f"exact:{unit_sni}"]


# --------------------------------------------------------------------------- offline


def test_offline_gateway_cases_in_one_batch():
    ns = "shop"
    mtls, mtls_units = mtls_objects("payments-db", ns, MTLS_IPS, MTLS_PORT)
    plain, plain_units = plain_objects("orders-mongo", ns, PLAIN_IPS, PLAIN_SVC_PORT, PLAIN_PORT)
    first_sni = unit_host(mtls_units[MTLS_IPS[0]], ns)
    policy = authorization_policy("payments-db", ["shop"], ["billing/api"], [first_sni])
    mongo, mongo_units = mtls_objects("orders-mongo", ns, MTLS_IPS, MTLS_PORT, "MONGO")
    fixture = istiolib.with_gateway()
    sidecar = {"namespace": ns}
    cases = [
        {
            "id": "mtls-sidecar",
            "manifests": fixture,
            "objects": text([*mtls, registry_only(ns)]),
            "workload": sidecar,
            "calls": sidecar_calls(MTLS_IPS, MTLS_PORT, "198.51.100.2"),
        },
        {
            "id": "mtls-router",
            "manifests": fixture,
            "objects": text(mtls),
            "workload": istiolib.router_workload(),
            "calls": router_mtls_calls(mtls_units, ns),
        },
        # Without the gateway's Service a router has no ServiceTargets: the
        # listener binds the server's number as written (resolvePorts).
        {
            "id": "mtls-router-no-service",
            "objects": text(mtls),
            "workload": istiolib.router_workload(),
            "calls": [istiolib.mtls_call(first_sni, "443", port=443), istiolib.mtls_call(first_sni, "8443")],
        },
        {
            "id": "plain-sidecar",
            "manifests": fixture,
            "objects": text([*plain, registry_only(ns)]),
            "workload": sidecar,
            "calls": sidecar_calls(PLAIN_IPS, PLAIN_SVC_PORT, "203.0.113.12"),
        },
        {
            "id": "plain-router",
            "manifests": fixture,
            "objects": text(plain),
            "workload": istiolib.router_workload(),
            "calls": plain_router_calls(),
        },
        {
            "id": "rbac-router",
            "manifests": fixture,
            "objects": text([*mtls, policy]),
            "workload": istiolib.router_workload(),
            "calls": [istiolib.mtls_call(first_sni, "unit")],
        },
        {
            "id": "mongo-router",
            "manifests": fixture,
            "objects": text(mongo),
            "workload": istiolib.router_workload(),
            "calls": router_mtls_calls(mongo_units, ns),
            "detail": True,
        },
    ]
    results = istiolib.probe(cases, shards=1)
    check_mtls_sidecar(results["mtls-sidecar"], mtls_units, ns)
    check_mtls_router(results["mtls-router"], mtls_units, ns)
    no_service = by_name(results["mtls-router-no-service"])
    assert (no_service["443"]["verdict"], no_service["8443"]["verdict"]) == ("routed", "denied")
    check_plain_sidecar(results["plain-sidecar"], plain_units, ns, "orders-mongo")
    check_plain_router(results["plain-router"], plain_units, ns)
    check_rbac(results["rbac-router"], first_sni, "shop", "billing/api")
    # MONGO behind the gateway: the gateway's chain is built from its TLS
    # server's protocol (buildGatewayNetworkFiltersFromTCPRoutes), so it is a
    # TCP proxy to the unit with no Mongo filter.
    check_mtls_router(results["mongo-router"], mongo_units, ns)
    (listener,) = [lst for lst in results["mongo-router"]["listeners"] if lst["name"] == f"0.0.0.0_{GATEWAY_MTLS_PORT}"]
    mongo_sni = unit_host(mongo_units[MTLS_IPS[0]], ns)
    (chain,) = [fc for fc in listener["filter_chains"] if fc.get("server_names") == [mongo_sni]]
    assert chain["filters"][-1] == "envoy.filters.network.tcp_proxy"
    assert not [f for f in chain["filters"] if "mongo" in f], chain["filters"]
    # The fixture's objects are read as Istio's registry reads them; the ServiceAccount is not.
    kinds = {(o["kind"], o["name"]) for o in results["mtls-router"]["objects"]}
    assert {("Service", "istio-egressgateway"), ("EndpointSlice", "istio-egressgateway-local")} <= kinds
    assert {
        "kind": "v1/ServiceAccount",
        "namespace": GATEWAY_NAMESPACE,
        "name": "istio-egressgateway-service-account",
    } in (results["mtls-router"]["ignored"])


def test_offline_analysis_cannot_check_the_gateway_even_with_the_fixture(tmp_path):
    # istioctl analyze never reads Services, Pods, Namespaces, Nodes or
    # Secrets from files (kuberesource.DefaultExcludedSchemas, dropped in
    # addReaderKubeSourceInternal), so without a cluster it skips every
    # analyzer that needs them (RemoveSkipped): a Gateway whose selector
    # matches no Pod passes, fixture or not. Only the live analysis checks
    # the gateway (below).
    mtls, _units = mtls_objects("payments-db", "shop", MTLS_IPS, MTLS_PORT)
    nobody = nowhere_gateway("nobody")
    (tmp_path / "rules.yaml").write_text(text([*mtls, nobody]))
    cmd = [str(istiolib.ISTIOCTL), "analyze", "--use-kube=false", "-A", "-o", "json", "-v"]
    cmd += [str(tmp_path), str(istiolib.EGRESS_GATEWAY_FIXTURE)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0 and json.loads(res.stdout) == [], res.stdout + res.stderr
    skipped = res.stderr.split("Skipped analyzers:", 1)[1].split("Executed analyzers:", 1)[0].split()
    assert {"gateway.IngressGatewayPortAnalyzer", "virtualservice.DestinationHostAnalyzer"} <= set(skipped), skipped


def nowhere_gateway(name: str) -> dict:
    """A Gateway whose selector matches no Pod: what istioctl analyze reports as IST0101."""
    server = {"port": {"number": 443, "name": "tls", "protocol": "TLS"}, "hosts": [f"*/{name}.example.test"]}
    server["tls"] = {"mode": "ISTIO_MUTUAL"}
    spec = {"selector": {"istio": "no-such-gateway"}, "servers": [server]}
    return {"apiVersion": NET, "kind": "Gateway", "metadata": _meta(name, GATEWAY_NAMESPACE), "spec": spec}


# --------------------------------------------------------------------------- live


def _apply(local_clusters, ctx: str, objects: list[dict]) -> None:
    local_clusters.kubectl(
        ctx, "apply", "--server-side", "--field-manager=meshguard-tests", "-f", "-", stdin=text(objects)
    )


def test_live_gateway_cases_from_the_cluster_and_from_istiod(local_clusters, namespace):
    ctx = local_clusters.contexts[0]
    member = local_clusters.by_context(ctx)
    ns = namespace
    # Names and SNIs of this test's own: the Gateways of istio-system are shared by every test on the cluster.
    mtls, mtls_units = mtls_objects(f"{ns}-db", ns, ["192.0.2.230", "192.0.2.231"], MTLS_PORT)
    plain, plain_units = plain_objects(f"{ns}-mongo", ns, ["192.0.2.240", "192.0.2.241"], PLAIN_SVC_PORT, PLAIN_PORT)
    first_sni = unit_host(mtls_units["192.0.2.230"], ns)
    # Namespaces that exist: istioctl analyze checks them on a cluster.
    policy = authorization_policy(f"{ns}-db", [ns], [f"{ns}/api"], [first_sni])
    # The live analysis does check selectors: this one matches no Pod.
    nowhere = nowhere_gateway(f"{ns}-nowhere")
    created = [*mtls, *plain, policy, nowhere]
    try:
        _apply(local_clusters, ctx, [*created, registry_only(ns)])
        kube = {"kubeconfig": str(member.dir / "admin.kubeconfig")}
        istiod = {"istiod": str(member.dir / "istiod.json")}
        sidecar = {"namespace": ns}
        router = istiolib.router_workload()
        cases, checks = [], {}
        for source_id, source in (("cluster", kube), ("istiod", istiod)):
            cases += [
                {
                    "id": f"{source_id}-mtls-sidecar",
                    **source,
                    "workload": sidecar,
                    "calls": sidecar_calls(list(mtls_units), MTLS_PORT, "192.0.2.232"),
                },
                {
                    "id": f"{source_id}-router",
                    **source,
                    "workload": router,
                    "calls": [
                        *router_mtls_calls(mtls_units, ns),
                        *plain_router_calls(),
                        istiolib.mtls_call(first_sni, "unit"),
                    ],
                },
                {
                    "id": f"{source_id}-plain-sidecar",
                    **source,
                    "workload": sidecar,
                    "calls": sidecar_calls(list(plain_units), PLAIN_SVC_PORT, "192.0.2.242"),
                },
            ]
            checks[f"{source_id}-mtls-sidecar"] = lambda r: check_mtls_sidecar(r, mtls_units, ns)
            checks[f"{source_id}-router"] = lambda r: (
                check_mtls_router(_only(r, router_mtls_calls(mtls_units, ns)), mtls_units, ns),
                check_plain_router(_only(r, plain_router_calls()), plain_units, ns),
                check_rbac(_only(r, [{"name": "unit"}]), first_sni, ns, f"{ns}/api"),
            )
            checks[f"{source_id}-plain-sidecar"] = lambda r: check_plain_sidecar(r, plain_units, ns, f"{ns}-mongo")
        istiolib.judge_until(cases, lambda results: [check(results[i]) for i, check in checks.items()])
        # istioctl analyze on the live state: the Gateways find the gateway's Pod and their ports on its Service.
        # (Every object of this test has the namespace in its name or namespace.)
        messages = istiolib.analyze_cluster(local_clusters.kubeconfig, ctx)
        # (The test's namespace itself gets IST0102, "not enabled for injection": not ours.)
        messages = [m for m in messages if ns in m.get("origin", "") and not m["origin"].startswith("Namespace ")]
        found = [(m["code"], m["origin"]) for m in messages]
        assert found == [("IST0101", f"Gateway {GATEWAY_NAMESPACE}/{ns}-nowhere")], [
            istiolib.analyze_message(m) for m in messages
        ]
    finally:
        # Deleted one by one: a deleted namespace stays Terminating with its
        # objects here (no controller manager), and istiod keeps seeing them.
        for o in [*created, registry_only(ns)]:
            group = o["apiVersion"].split("/", maxsplit=1)[0]
            kind = f"{o['kind'].lower()}.{group}"
            meta = o["metadata"]
            local_clusters.kubectl(ctx, "delete", kind, meta["name"], "-n", meta["namespace"], check=False)


def _only(result: dict, calls: list[dict]) -> dict:
    """The result with only these calls (by name): one probe case checked in parts."""
    names = {c["name"] for c in calls}
    return {**result, "calls": [c for c in result["calls"] if c["call"]["name"] in names]}
