# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meshguard.egress.rules in ambient mode, judged live by the cluster's istiod
on the module's own objects (issue 14): one set through the local platform's
waypoint egress-waypoint of istio-egress, which the set manages.

- istiod binds every ServiceEntry of the set (istio.io/WaypointBound), accepts
  every AuthorizationPolicy (WaypointAccepted), programs the Gateway;
- as ztunnel (WDS): each ServiceEntry names the waypoint, with its one block;
- as the waypoint: the first and last address of each block on each declared
  port routed (ORIGINAL_DST, dialled only) under the policy's RBAC (the
  declared sources and ports); an undeclared address or port has no chain;
- as sidecars, which do not go through the waypoint: one of a namespace that
  allowed_sources admits whole is routed to the address, one of a namespace
  named only by a service account does not see the ServiceEntries (exportTo;
  ~ for a service of service accounts only, still bound and routed);
- istioctl analyze on the live cluster says nothing about the set;
- a rerun writes nothing; check mode with diff previews a prune and writes
  nothing; the prune deletes the dropped service's objects only; dataplane
  auto follows the namespace label both ways, each switch in one run;
  state absent leaves nothing of the set.
"""

from __future__ import annotations

import ipaddress
import json
import uuid

import istiolib
import pytest
from clusterlib import GATEWAY_KINDS, owned, run_module, writes
from istiolib import (
    HBONE_PORT,
    WAYPOINT_HOST,
    WAYPOINT_NAME,
    WAYPOINT_NAMESPACE,
    client_pod,
    wait_condition,
)

pytestmark = pytest.mark.integration

AMBIENT_KINDS = (*GATEWAY_KINDS, "gateways.gateway.networking.k8s.io")
# The kinds the collection writes (istiod writes their /status, and its own leases and events).
OURS = {"serviceentries", "authorizationpolicies", "gateways", "networkpolicies", "sidecars"}
SE_KIND = "serviceentries.networking.istio.io"
AP_KIND = "authorizationpolicies.security.istio.io"

PAYMENTS = {
    "name": "payments-db",
    "hosts": ["198.51.100.64/28"],
    "ports": [{"number": 5432, "protocol": "TCP"}],
}
MONGO = {
    "name": "orders-mongo",
    "hosts": ["203.0.113.30"],
    "ports": [{"number": 27017, "protocol": "MONGO"}, {"number": 27018, "protocol": "TCP"}],
}
# A second set using the first one's waypoint (manage false).
MYSQL = {"name": "mysql", "hosts": ["192.0.2.50"], "ports": [{"number": 3306, "protocol": "TCP"}]}
V6 = {"name": "v6-db", "hosts": ["2001:db8:1::/120"], "ports": [{"number": 5434, "protocol": "TCP"}]}


def our_writes(local_clusters, ctx: str, before, *, dry_run: bool = False) -> dict:
    found = writes(before, local_clusters.requests(ctx), dry_run=dry_run)
    return {k: n for k, n in found.items() if k[1] in OURS}


def entries(local_clusters, ctx: str, ns: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in local_clusters.get(ctx, SE_KIND, ns)}


def versions(local_clusters, ctx: str, ns: str) -> dict[tuple[str, str], str]:
    out = {}
    for kind in (SE_KIND, AP_KIND):
        for o in local_clusters.get(ctx, kind, ns):
            out[(o["kind"], o["metadata"]["name"])] = o["metadata"]["resourceVersion"]
    return out


def tcp(name: str, address: str, port: int) -> dict:
    return {"name": name, "address": address, "port": port, "protocol": "tcp"}


def first_last(block: str) -> list[str]:
    net = ipaddress.ip_network(block)
    return [str(net[0]), str(net[-1])]


def after(block: str) -> str:
    return str(ipaddress.ip_network(block)[-1] + 1)


def run(args: dict, **kw) -> dict:
    result = run_module("rules", args, **kw)[0]
    assert not result.get("failed"), result.get("msg")
    return result


def test_ambient_set_is_routed_as_declared_and_converges(live):
    # On each Istio release, the set rendered for it (istio_version): from 1.30 a block stays a CIDR
    # in ztunnel's view (_istio_versions.AMBIENT_CIDRS), shown below by the WDS addresses.
    local_clusters, namespace, release = live.clusters, live.namespace, live.release
    ctx = local_clusters.contexts[0]
    member = local_clusters.by_context(ctx)
    ns = namespace
    set_name = f"amb{uuid.uuid4().hex[:6]}"
    # reports: a whole namespace, whose sidecars see the entry; billing only by a service account.
    reports = f"{ns}-reports"
    payments = {**PAYMENTS, "allowed_sources": [ns, reports, "billing/api"]}
    # v6-db: a service account only, so no sidecar sees its entry (exportTo ~).
    v6 = {**V6, "allowed_sources": [f"{ns}/meshguard-client"]}
    services = [payments, MONGO, v6]
    args = {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": ctx,
        "set": set_name,
        "namespace": ns,
        "dataplane": "ambient",
        "waypoint": {"name": WAYPOINT_NAME, "namespace": WAYPOINT_NAMESPACE, "manage": True},
        "network_policy": True,
        "services": services,
        "istio_version": release,
    }
    pod = client_pod(ns)
    local_clusters.kubectl(ctx, "label", "namespace", ns, "istio.io/dataplane-mode=ambient")
    local_clusters.kubectl(ctx, "apply", "-f", "-", stdin=json.dumps(pod))
    # It must exist: istioctl analyze reports a policy naming a namespace that does not (IST0101).
    local_clusters.kubectl(ctx, "create", "namespace", reports)
    # A namespace of sidecars (istioctl analyze asks for the label, IST0102).
    local_clusters.kubectl(ctx, "label", "namespace", reports, "istio-injection=enabled")
    try:
        first = run(args)
        assert first["changed"] is True
        live = entries(local_clusters, ctx, ns)
        # One ServiceEntry per block, each with its AuthorizationPolicy of the same name.
        blocks = {
            (o["metadata"]["annotations"]["meshguard.egress/service"], tuple(o["spec"]["addresses"])): name
            for name, o in live.items()
        }
        assert sorted(blocks) == [
            ("orders-mongo", ("203.0.113.30/32",)),
            ("payments-db", ("198.51.100.64/28",)),
            ("v6-db", ("2001:db8:1::/120",)),
        ], blocks
        have = owned(local_clusters, ctx, set_name, kinds=AMBIENT_KINDS)
        assert have["ServiceEntry"] == have["AuthorizationPolicy"] == sorted(f"{ns}/{n}" for n in live)
        assert have["Gateway"] == [f"{WAYPOINT_NAMESPACE}/{WAYPOINT_NAME}"]
        assert have["NetworkPolicy"], have
        service_of = {name: o["metadata"]["annotations"]["meshguard.egress/service"] for name, o in live.items()}
        exported = {service_of[name]: o["spec"]["exportTo"] for name, o in live.items()}
        assert exported == {"payments-db": [".", reports], "orders-mongo": ["."], "v6-db": ["~"]}, exported
        for o in live.values():
            labels = o["metadata"]["labels"]
            assert labels["istio.io/use-waypoint"] == WAYPOINT_NAME
            assert labels["istio.io/use-waypoint-namespace"] == WAYPOINT_NAMESPACE

        # A second set on the same waypoint, which it does not manage.
        user = {**args, "set": f"{set_name}-b", "services": [MYSQL], "network_policy": False}
        user["waypoint"] = {**args["waypoint"], "manage": False}
        assert run(user)["changed"] is True
        (mysql,) = [o for o in local_clusters.get(ctx, SE_KIND, ns) if o["metadata"]["name"] not in live]
        assert "Gateway" not in owned(local_clusters, ctx, f"{set_name}-b", kinds=AMBIENT_KINDS)

        # 1. istiod's own verdicts.
        gateway = {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": WAYPOINT_NAME, "namespace": WAYPOINT_NAMESPACE},
        }
        wait_condition(local_clusters, ctx, gateway, "Programmed", want=("True", "Programmed"))
        for o in [*live.values(), mysql]:
            bound = wait_condition(local_clusters, ctx, o, "istio.io/WaypointBound", want=("True", "WaypointAccepted"))
            assert bound["message"] == f"Successfully attached to waypoint {WAYPOINT_NAMESPACE}/{WAYPOINT_NAME}"
            policy = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": o["metadata"]}
            wait_condition(local_clusters, ctx, policy, "WaypointAccepted", want=("True", "Accepted"))

        # 2 and 3. As ztunnel and as the waypoint, one judgement.
        by_service = {svc: (name, live[name]["spec"]["hosts"][0]) for (svc, _block), name in blocks.items()}
        calls, routed, denied = [], {}, []
        for svc in services:
            se, host = by_service[svc["name"]]
            (block,) = live[se]["spec"]["addresses"]
            for port in (p["number"] for p in svc["ports"]):
                for i, address in enumerate(first_last(block)):
                    call = f"{svc['name']} {address} {port} {i}"
                    calls.append(tcp(call, address, port))
                    routed[call] = (svc, host, port)
            calls.append(tcp(f"{svc['name']} outside", after(block), svc["ports"][0]["number"]))
            denied.append(f"{svc['name']} outside")
        calls.append(tcp("payments other port", "198.51.100.65", 5433))
        calls.append(tcp("mysql", "192.0.2.50", 3306))
        denied.append("payments other port")
        istiod = {"istiod": str(member.dir / "istiod.json")}
        payments_first = tcp("payments first", "198.51.100.64", 5432)
        mongo = tcp("mongo", "203.0.113.30", 27018)
        cases = [
            {"id": "ztunnel", **istiod, "workload": istiolib.ztunnel_workload()},
            {"id": "waypoint", **istiod, "workload": istiolib.waypoint_workload(), "calls": calls, "detail": True},
            # Sidecars, which route what they see straight to the address.
            {"id": "reports", **istiod, "workload": {"namespace": reports}, "calls": [payments_first, mongo]},
            {"id": "billing", **istiod, "workload": {"namespace": "billing"}, "calls": [payments_first]},
        ]

        def check(results: dict[str, dict]) -> None:
            wds = istiolib.wds_services(results["ztunnel"])
            waypoint = {"namespace": WAYPOINT_NAMESPACE, "hostname": WAYPOINT_HOST, "hbone_mtls_port": HBONE_PORT}
            for (_svc, (block,)), name in blocks.items():
                svc = wds[f"{ns}/{live[name]['spec']['hosts'][0]}"]
                assert svc["waypoint"] == waypoint, svc
                # A CIDR with its prefix length, a /32 as a host address.
                want = block.removesuffix("/32")
                assert svc["addresses"] == [f"/{want}"], svc
            result = results["waypoint"]
            assert not result.get("error"), result.get("error")
            by_call = {c["call"]["name"]: c for c in result["calls"]}
            clusters = {c["name"]: c for c in result["clusters"]}
            for call_name, (svc, host, port) in routed.items():
                call = by_call[call_name]
                want = istiolib.inbound_vip_cluster(port, host)
                assert (call["verdict"], call["filter_chain"], call["cluster"]) == ("routed", want, want), (
                    istiolib.describe(call)
                )
                assert clusters[want]["type"] == "ORIGINAL_DST"
                assert (call["upstream"], call["dialled_only"]) == ("original_dst", True), istiolib.describe(call)
                (policy,) = istiolib.rbac_policies(call)
                sas = [s for s in svc.get("allowed_sources", []) if "/" in s]
                namespaces = [s for s in svc.get("allowed_sources", [ns]) if "/" not in s]
                assert policy["action"] == "ALLOW", policy
                assert sorted(policy.get("namespaces") or []) == sorted(namespaces), policy
                assert (policy.get("service_accounts") or []) == sas, policy
                ports = sorted(f"destination_port:{p['number']}" for p in svc["ports"])
                assert sorted(policy["permissions"]) == ports, policy
            for call_name in denied:
                call = by_call[call_name]
                assert (call["verdict"], call.get("filter_chain")) == ("denied", None), istiolib.describe(call)
            want = istiolib.inbound_vip_cluster(3306, mysql["spec"]["hosts"][0])
            call = by_call["mysql"]
            assert (call["verdict"], call["cluster"]) == ("routed", want), istiolib.describe(call)
            assert [(p["namespaces"], p["permissions"]) for p in istiolib.rbac_policies(call)] == [
                ([ns], ["destination_port:3306"])
            ]
            # A sidecar of reports is routed to payments-db (allowed whole), not to orders-mongo
            # (its own namespace only); billing's sidecars see neither (a service account only).
            pg_host = by_service["payments-db"][1]
            seen = {c["call"]["name"]: c for c in results["reports"]["calls"]}
            call = seen["payments first"]
            want = ("routed", f"outbound|5432||{pg_host}")
            assert (call["verdict"], call["cluster"]) == want, istiolib.describe(call)
            for call in (seen["mongo"], *results["billing"]["calls"]):
                assert call["verdict"] == "passthrough", istiolib.describe(call)

        istiolib.judge_until(cases, check, release=release)

        # 4. istioctl analyze on the live cluster: nothing about the set.
        messages = istiolib.analyze_cluster(local_clusters.kubeconfig, ctx, release=release)
        ours = [m for m in messages if ns in m.get("origin", "") or WAYPOINT_NAME in m.get("origin", "")]
        assert ours == [], [istiolib.analyze_message(m) for m in ours]
        assert not run({**user, "state": "absent"}).get("failed")
        assert owned(local_clusters, ctx, f"{set_name}-b", kinds=AMBIENT_KINDS) == {}

        # 5. A rerun changes and writes nothing.
        before = local_clusters.requests(ctx)
        again = run(args)
        assert again["changed"] is False, again.get("plan")
        assert our_writes(local_clusters, ctx, before) == {}
        assert our_writes(local_clusters, ctx, before, dry_run=True) == {}

        # Check mode with diff previews dropping v6-db and writes nothing.
        smaller = {**args, "services": [payments, MONGO]}
        kept = versions(local_clusters, ctx, ns)
        v6_name = by_service["v6-db"][0]
        before = local_clusters.requests(ctx)
        preview, shown = run_module("rules", smaller, check=True, diff=True)
        assert not preview.get("failed") and preview["changed"] is True, preview.get("msg")
        assert our_writes(local_clusters, ctx, before) == {}, "check mode wrote to the API server"
        assert versions(local_clusters, ctx, ns) == kept
        deleted = [e for e in preview["diff"] if v6_name in e["before_header"]]
        assert len(deleted) == 2, preview["diff"]  # its ServiceEntry and AuthorizationPolicy
        assert all(v6_name not in e["after"] for e in deleted), deleted
        assert v6_name in shown

        # 6. The prune: v6-db's objects go, the others are untouched.
        pruned = run(smaller)
        assert pruned["changed"] is True
        left = versions(local_clusters, ctx, ns)
        assert left == {k: v for k, v in kept.items() if k[1] != v6_name}

        # 7. dataplane auto, the namespace not ambient: the sidecar rendering, in one run.
        # (allowed_sources dropped: a sidecar namespace without the egress gateway cannot enforce them,
        # an input error; in ambient the policy then allows the service's own namespace.)
        auto = {**smaller, "dataplane": "auto", "services": [PAYMENTS, MONGO]}
        local_clusters.kubectl(ctx, "label", "namespace", ns, "istio.io/dataplane-mode=none", "--overwrite")
        switched = run(auto)
        assert switched["changed"] is True
        assert run(auto)["changed"] is False
        sidecar = entries(local_clusters, ctx, ns)
        assert sidecar and all("istio.io/use-waypoint" not in o["metadata"]["labels"] for o in sidecar.values())
        assert local_clusters.get(ctx, AP_KIND, ns) == []
        (pg,) = [
            o for o in sidecar.values() if o["metadata"]["annotations"]["meshguard.egress/service"] == "payments-db"
        ]
        pg_host = pg["spec"]["hosts"][0]
        sidecar_case = {"id": "sidecar", **istiod, "workload": {"namespace": ns}}
        sidecar_case["calls"] = [
            tcp("payments first", "198.51.100.64", 5432),
            tcp("payments last", "198.51.100.79", 5432),
        ]

        def check_sidecar(results: dict[str, dict]) -> None:
            for call in results["sidecar"]["calls"]:
                assert call["cluster"] == f"outbound|5432||{pg_host}", istiolib.describe(call)
                assert (call["upstream"], call["dialled_only"]) == ("original_dst", True), istiolib.describe(call)

        istiolib.judge_until([sidecar_case], check_sidecar, release=release)

        # Labelled ambient again: the ambient rendering, in one run.
        local_clusters.kubectl(ctx, "label", "namespace", ns, "istio.io/dataplane-mode=ambient", "--overwrite")
        back = run(auto)
        assert back["changed"] is True
        assert run(auto)["changed"] is False
        ambient = entries(local_clusters, ctx, ns)
        assert sorted(ambient) == sorted(n for n in live if n != v6_name)
        assert all(o["metadata"]["labels"]["istio.io/use-waypoint"] == WAYPOINT_NAME for o in ambient.values())
        assert sorted(o["metadata"]["name"] for o in local_clusters.get(ctx, AP_KIND, ns)) == sorted(ambient)
    finally:
        # state absent: nothing of the set left, of any kind.
        gone = run_module("rules", {**args, "state": "absent"})[0]
        run_module("rules", {**args, "set": f"{set_name}-b", "state": "absent"})
        local_clusters.kubectl(ctx, "delete", "pod", pod["metadata"]["name"], "-n", ns, "--wait=false", check=False)
        local_clusters.kubectl(ctx, "delete", "namespace", reports, "--wait=false", check=False)
    assert not gone.get("failed"), gone.get("msg")
    assert owned(local_clusters, ctx, set_name, kinds=AMBIENT_KINDS) == {}
