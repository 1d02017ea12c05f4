# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe's ambient cases, proved live on hand-written objects of the
issue 14 design note (section 1): an ambient namespace's ServiceEntries
labelled istio.io/use-waypoint, the waypoint Gateway egress-waypoint of
istio-egress (its Service and instance are the local platform's,
tools/istio/waypoint), and an AuthorizationPolicy per ServiceEntry by
targetRef. Everything is decided by the cluster's own istiod:

- it marks the waypoint ready itself (the Gateway's status.addresses and
  Programmed) and binds the ServiceEntries (istio.io/WaypointBound True),
  the policies WaypointAccepted;
- what it sends a ztunnel (delta ADS, WDS) names the waypoint for each
  bound ServiceEntry, with its addresses (a CIDR with its prefix length)
  and PASSTHROUGH load balancing for resolution NONE, and does not carry
  the targetRef policies (they are the waypoint's);
- the waypoint's own configuration (LDS/CDS for a waypoint node, its
  main_internal filter_chain_matcher walked by the probe) routes each
  declared address:port to an ORIGINAL_DST cluster under the policy's
  network RBAC, and has no chain for an undeclared address or port;
- a policy in another namespace than its ServiceEntry's attaches to nothing;
- `istioctl analyze` reports nothing about these objects once the waypoint
  is ready (but the misplaced policy), and reports the waypoint that cannot be.
"""

from __future__ import annotations

import json

import istiolib
import pytest
from istiolib import (
    HBONE_PORT,
    WAYPOINT_HOST,
    WAYPOINT_NAME,
    WAYPOINT_NAMESPACE,
    client_pod,
    conditions,
    wait_condition,
)

pytestmark = pytest.mark.integration

NET = "networking.istio.io/v1"
GATEWAY_API = "gateway.networking.k8s.io/v1"
SECURITY = "security.istio.io/v1"

PAYMENTS_BLOCK = "198.51.100.0/28"
PAYMENTS_PORT = 5432
V6_BLOCK = "2001:db8::/120"
V6_PORT = 5434
MONGO_ADDRESS = "203.0.113.10"
MONGO_PORT = 27017
# Two single addresses in one ServiceEntry: ztunnel gets both, the waypoint one.
PAIR = ["203.0.113.20", "203.0.113.21"]
PAIR_PORT = 6379
DIRECT_BLOCK = "192.0.2.0/30"
DIRECT_PORT = 3306


def host(name: str, ns: str) -> str:
    return f"{name}.{ns}.meshguard-egress.invalid"


def service_entry(name: str, ns: str, addresses: list[str], port: int, protocol: str, *, waypoint: str | None) -> dict:
    """Design note §1: resolution NONE, MESH_EXTERNAL, bound to a waypoint
    of istio-egress by label (or not bound when waypoint is None)."""
    labels = {}
    if waypoint:
        labels = {"istio.io/use-waypoint": waypoint, "istio.io/use-waypoint-namespace": WAYPOINT_NAMESPACE}
    spec = {
        "hosts": [host(name, ns)],
        "addresses": addresses,
        "ports": [{"name": f"{protocol.lower()}-{port}", "number": port, "protocol": protocol}],
        "location": "MESH_EXTERNAL",
        "resolution": "NONE",
    }
    meta = {"name": name, "namespace": ns, "labels": labels}
    return {"apiVersion": NET, "kind": "ServiceEntry", "metadata": meta, "spec": spec}


def waypoint_gateway(name: str, admitted: list[str]) -> dict:
    """The waypoint of §1, admitting ServiceEntries of these namespaces."""
    selector = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": admitted}]}
    listener = {
        "name": "mesh",
        "port": HBONE_PORT,
        "protocol": "HBONE",
        "allowedRoutes": {"namespaces": {"from": "Selector", "selector": selector}},
    }
    meta = {"name": name, "namespace": WAYPOINT_NAMESPACE, "labels": {"istio.io/waypoint-for": "service"}}
    spec = {"gatewayClassName": "istio-waypoint", "listeners": [listener]}
    return {"apiVersion": GATEWAY_API, "kind": "Gateway", "metadata": meta, "spec": spec}


def target_policy(se: str, ns: str, namespaces: list[str], service_accounts: list[str], port: int) -> dict:
    """§1: allow only these sources, on the service's port; attached to the
    ServiceEntry by name, in its namespace."""
    sources = []
    if namespaces:
        sources.append({"source": {"namespaces": namespaces}})
    if service_accounts:
        sources.append({"source": {"serviceAccounts": service_accounts}})
    spec = {
        "targetRefs": [{"group": "networking.istio.io", "kind": "ServiceEntry", "name": se}],
        "action": "ALLOW",
        "rules": [{"from": sources, "to": [{"operation": {"ports": [str(port)]}}]}],
    }
    return {
        "apiVersion": SECURITY,
        "kind": "AuthorizationPolicy",
        "metadata": {"name": se, "namespace": ns},
        "spec": spec,
    }


def text(objects: list[dict]) -> str:
    return "\n---\n".join(json.dumps(o) for o in objects)


def apply(local_clusters, ctx: str, objects: list[dict]) -> None:
    local_clusters.kubectl(
        ctx, "apply", "--server-side", "--field-manager=meshguard-tests", "-f", "-", stdin=text(objects)
    )


def delete(local_clusters, ctx: str, objects: list[dict]) -> None:
    """One by one: a deleted namespace stays Terminating with its objects here
    (no controller manager), and istiod keeps seeing them."""
    for o in objects:
        group = o["apiVersion"].split("/", maxsplit=1)[0] if "/" in o["apiVersion"] else ""
        kind = f"{o['kind'].lower()}.{group}" if group else o["kind"].lower()
        meta = o["metadata"]
        local_clusters.kubectl(ctx, "delete", kind, meta["name"], "-n", meta["namespace"], "--wait=false", check=False)


def tcp(name: str, address: str, port: int) -> dict:
    return {"name": name, "address": address, "port": port, "protocol": "tcp"}


# --------------------------------------------------------------------------- the ready waypoint


def test_live_waypoint_ready_bound_judged_as_ztunnel_and_waypoint(live):
    local_clusters, namespace, release = live.clusters, live.namespace, live.release
    ctx = local_clusters.contexts[0]
    member = local_clusters.by_context(ctx)
    ns = namespace
    payments = service_entry("egress--payments-db", ns, [PAYMENTS_BLOCK], PAYMENTS_PORT, "TCP", waypoint=WAYPOINT_NAME)
    mongo = service_entry(
        "egress--orders-mongo", ns, [f"{MONGO_ADDRESS}/32"], MONGO_PORT, "MONGO", waypoint=WAYPOINT_NAME
    )
    pair = service_entry("egress--pair", ns, PAIR, PAIR_PORT, "TCP", waypoint=WAYPOINT_NAME)
    v6 = service_entry("egress--v6", ns, [V6_BLOCK], V6_PORT, "TCP", waypoint=WAYPOINT_NAME)
    direct = service_entry("direct", ns, [DIRECT_BLOCK], DIRECT_PORT, "TCP", waypoint=None)
    gateway = waypoint_gateway(WAYPOINT_NAME, [ns])
    payments_policy = target_policy("egress--payments-db", ns, [ns], ["billing/api"], PAYMENTS_PORT)
    mongo_policy = target_policy("egress--orders-mongo", ns, [ns], [], MONGO_PORT)
    # A policy for the pair in the waypoint's namespace: a targetRef names an
    # object of the policy's own namespace (ShouldAttachPolicy), so it
    # attaches to nothing, and the pair stays open to every source.
    misplaced = target_policy("egress--pair", WAYPOINT_NAMESPACE, [ns], [], PAIR_PORT)
    misplaced["metadata"]["name"] = f"{ns}-misplaced"
    objects = [client_pod(ns), gateway, payments_policy, mongo_policy, misplaced, payments, mongo, pair, v6, direct]
    local_clusters.kubectl(ctx, "label", "namespace", ns, "istio.io/dataplane-mode=ambient")
    try:
        apply(local_clusters, ctx, objects)
        # istiod marks the waypoint ready itself: the platform gave its Service an endpoint on 15008.
        wait_condition(local_clusters, ctx, gateway, "Programmed", want=("True", "Programmed"))
        (live,) = local_clusters.get(ctx, "gateways.gateway.networking.k8s.io", WAYPOINT_NAMESPACE, WAYPOINT_NAME)
        assert {"type": "Hostname", "value": WAYPOINT_HOST} in live["status"]["addresses"], live["status"]
        for se in (payments, mongo, pair, v6):
            bound = wait_condition(local_clusters, ctx, se, "istio.io/WaypointBound", want=("True", "WaypointAccepted"))
            assert bound["message"] == f"Successfully attached to waypoint {WAYPOINT_NAMESPACE}/{WAYPOINT_NAME}"
        assert "istio.io/WaypointBound" not in conditions(local_clusters, ctx, direct)
        for policy in (payments_policy, mongo_policy):
            accepted = wait_condition(local_clusters, ctx, policy, "WaypointAccepted", want=("True", "Accepted"))
            assert accepted["message"] == f"bound to {WAYPOINT_NAMESPACE}/{WAYPOINT_NAME}"
        refused = wait_condition(local_clusters, ctx, misplaced, "WaypointAccepted", want=("False", "TargetNotFound"))
        assert refused["message"] == f"ServiceEntry {WAYPOINT_NAMESPACE}/egress--pair was not found"

        istiod = {"istiod": str(member.dir / "istiod.json")}
        calls = [
            tcp("payments first", "198.51.100.0", PAYMENTS_PORT),
            tcp("payments last", "198.51.100.15", PAYMENTS_PORT),
            tcp("payments outside", "198.51.100.16", PAYMENTS_PORT),
            tcp("payments other port", "198.51.100.1", PAYMENTS_PORT + 1),
            tcp("mongo", MONGO_ADDRESS, MONGO_PORT),
            tcp("mongo neighbour", "203.0.113.11", MONGO_PORT),
            tcp("pair first", PAIR[0], PAIR_PORT),
            tcp("pair second", PAIR[1], PAIR_PORT),
            tcp("direct", "192.0.2.1", DIRECT_PORT),
            tcp("v6 first", "2001:db8::", V6_PORT),
            tcp("v6 last", "2001:db8::ff", V6_PORT),
            tcp("v6 outside", "2001:db8::100", V6_PORT),
        ]
        cases = [
            {"id": "ztunnel", **istiod, "workload": istiolib.ztunnel_workload()},
            {"id": "waypoint", **istiod, "workload": istiolib.waypoint_workload(), "calls": calls, "detail": True},
            # A sidecar client of the same ServiceEntry is not sent to the waypoint (§8).
            {"id": "sidecar", **istiod, "workload": {"namespace": ns}, "calls": calls[:1]},
        ]

        def check(results: dict[str, dict]) -> None:
            check_ztunnel(results["ztunnel"], ns)
            check_waypoint(results["waypoint"], ns)
            check_sidecar(results["sidecar"], ns)

        istiolib.judge_until(cases, check, release=release)

        # istioctl analyze on the live state: nothing about these objects but the misplaced policy.
        messages = istiolib.analyze_cluster(local_clusters.kubeconfig, ctx, release=release)
        ours = [m for m in messages if ns in m.get("origin", "") or WAYPOINT_NAME in m.get("origin", "")]
        found = sorted((m["code"], m["origin"]) for m in ours)
        # (No IST0127 "No matching workloads": the waypoint's namespace, the policy's, has the waypoint's Pod.)
        misplaced_origin = f"AuthorizationPolicy {WAYPOINT_NAMESPACE}/{ns}-misplaced"
        assert found == [("IST0171", misplaced_origin)], [istiolib.analyze_message(m) for m in ours]
    finally:
        delete(local_clusters, ctx, objects)


def check_ztunnel(result: dict, ns: str) -> None:
    services = istiolib.wds_services(result)
    waypoint = {"namespace": WAYPOINT_NAMESPACE, "hostname": WAYPOINT_HOST, "hbone_mtls_port": HBONE_PORT}
    want = {
        # A CIDR keeps its prefix length (NetworkAddress.length); a /32 is a host address.
        "egress--payments-db": (["/198.51.100.0/28"], PAYMENTS_PORT, "TCP"),
        "egress--orders-mongo": ([f"/{MONGO_ADDRESS}"], MONGO_PORT, None),
        "egress--pair": ([f"/{PAIR[0]}", f"/{PAIR[1]}"], PAIR_PORT, "TCP"),
        "egress--v6": ([f"/{V6_BLOCK}"], V6_PORT, "TCP"),
    }
    for name, (addresses, port, app_protocol) in want.items():
        svc = services[f"{ns}/{host(name, ns)}"]
        assert svc["waypoint"] == waypoint, svc
        assert sorted(svc["addresses"]) == addresses, svc
        assert svc["ports"] == [
            {"service_port": port, "target_port": port, **({"app_protocol": app_protocol} if app_protocol else {})}
        ], svc
        # Resolution NONE: to the address the client dialled.
        assert svc["load_balancing_mode"] == "PASSTHROUGH", svc
    direct = services[f"{ns}/{host('direct', ns)}"]
    assert "waypoint" not in direct, direct
    # The targetRef policies are the waypoint's: ztunnel gets none of this namespace's.
    assert [p for p in result["wds"]["authorizations"] if p["namespace"] == ns] == []


def check_waypoint(result: dict, ns: str) -> None:
    assert not result.get("error"), result.get("error")
    names = {lst["name"] for lst in result["listeners"]}
    assert {"connect_terminate", "main_internal"} <= names, names
    calls = {c["call"]["name"]: c for c in result["calls"]}
    clusters = {c["name"]: c for c in result["clusters"]}
    routed = {
        "payments first": ("egress--payments-db", PAYMENTS_PORT),
        "payments last": ("egress--payments-db", PAYMENTS_PORT),
        "mongo": ("egress--orders-mongo", MONGO_PORT),
        # An IPv6 block, on a waypoint with an IPv4 address: a ServiceEntry's address is its
        # DefaultAddress, kept whatever the proxy's family (getAllAddressesForProxy).
        "v6 first": ("egress--v6", V6_PORT),
        "v6 last": ("egress--v6", V6_PORT),
    }
    for call_name, (se, port) in routed.items():
        call = calls[call_name]
        want = istiolib.inbound_vip_cluster(port, host(se, ns))
        assert (call["verdict"], call["filter_chain"], call["cluster"]) == ("routed", want, want), istiolib.describe(
            call
        )
        # NONE at the waypoint: ORIGINAL_DST, to the address dialled only.
        assert clusters[want]["type"] == "ORIGINAL_DST"
        assert (call["upstream"], call["dialled_only"]) == ("original_dst", True), istiolib.describe(call)
    (policy,) = istiolib.rbac_policies(calls["payments first"])
    assert (policy["action"], policy["namespaces"], policy["service_accounts"]) == ("ALLOW", [ns], ["billing/api"])
    assert policy["permissions"] == [f"destination_port:{PAYMENTS_PORT}"]
    (policy,) = istiolib.rbac_policies(calls["mongo"])
    assert (policy["action"], policy["namespaces"], policy.get("service_accounts")) == ("ALLOW", [ns], None)
    for call_name in ("payments outside", "payments other port", "mongo neighbour", "direct", "v6 outside"):
        call = calls[call_name]
        assert (call["verdict"], call.get("filter_chain")) == ("denied", None), istiolib.describe(call)
    # Istio's waypoint serves one address of a ServiceEntry with several
    # (the ServiceEntry gives istiod one model.Service per address, and
    # findWaypointResources keeps the oldest per host and namespace): ztunnel
    # sends both addresses to the waypoint (above), which has a chain for one
    # of them only. So an ambient rendering writes one address or block per
    # ServiceEntry.
    pair = [calls["pair first"], calls["pair second"]]
    assert sorted(c["verdict"] for c in pair) == ["denied", "routed"], [istiolib.describe(c) for c in pair]
    (served,) = [c for c in pair if c["verdict"] == "routed"]
    assert served["cluster"] == istiolib.inbound_vip_cluster(PAIR_PORT, host("egress--pair", ns))
    # No policy on the pair: the waypoint allows every source there.
    assert istiolib.rbac_policies(served) == []


def check_sidecar(result: dict, ns: str) -> None:
    (call,) = result["calls"]
    assert call["cluster"] == f"outbound|{PAYMENTS_PORT}||{host('egress--payments-db', ns)}", istiolib.describe(call)
    assert (call["upstream"], call["dialled_only"]) == ("original_dst", True), istiolib.describe(call)


# --------------------------------------------------------------------------- a waypoint that is not ready, or refuses


def test_live_unready_or_refusing_waypoint_binds_nothing(live):
    local_clusters, namespace, release = live.clusters, live.namespace, live.release
    ctx = local_clusters.contexts[0]
    member = local_clusters.by_context(ctx)
    ns = namespace
    # No Service of that name: istiod never marks this Gateway ready.
    nowhere = waypoint_gateway(f"{ns}-nowhere", [ns])
    # The platform's waypoint, admitting another namespace only.
    refusing = waypoint_gateway(WAYPOINT_NAME, [WAYPOINT_NAMESPACE])
    unready = service_entry("unready", ns, ["192.0.2.8/30"], DIRECT_PORT, "TCP", waypoint=f"{ns}-nowhere")
    denied = service_entry("denied", ns, ["192.0.2.12/30"], DIRECT_PORT, "TCP", waypoint=WAYPOINT_NAME)
    objects = [client_pod(ns), nowhere, refusing, unready, denied]
    local_clusters.kubectl(ctx, "label", "namespace", ns, "istio.io/dataplane-mode=ambient")
    try:
        apply(local_clusters, ctx, objects)
        programmed = wait_condition(local_clusters, ctx, nowhere, "Programmed", want=("False", "AddressNotUsable"))
        assert f"{ns}-nowhere.{WAYPOINT_NAMESPACE}.svc.cluster.local" in programmed["message"]
        wait_condition(local_clusters, ctx, unready, "istio.io/WaypointBound", want=("False", "WaypointIsNotReady"))
        wait_condition(local_clusters, ctx, denied, "istio.io/WaypointBound", want=("False", "AttachmentDenied"))

        istiod = {"istiod": str(member.dir / "istiod.json")}
        cases = [
            {"id": "ztunnel", **istiod, "workload": istiolib.ztunnel_workload()},
            {
                "id": "waypoint",
                **istiod,
                "workload": istiolib.waypoint_workload(),
                "calls": [tcp("unready", "192.0.2.9", DIRECT_PORT), tcp("denied", "192.0.2.13", DIRECT_PORT)],
            },
        ]

        def check(results: dict[str, dict]) -> None:
            services = istiolib.wds_services(results["ztunnel"])
            for name in ("unready", "denied"):
                # Not bound: ztunnel sends such traffic directly (enrolment is not enforcement).
                assert "waypoint" not in services[f"{ns}/{host(name, ns)}"], services[f"{ns}/{host(name, ns)}"]
            for call in results["waypoint"]["calls"]:
                assert call["verdict"] == "denied", istiolib.describe(call)

        istiolib.judge_until(cases, check, release=release)

        messages = istiolib.analyze_cluster(local_clusters.kubeconfig, ctx, release=release)
        found = sorted((m["code"], m["origin"]) for m in messages if ns in m.get("origin", ""))
        assert found == [
            ("IST0171", f"Gateway {WAYPOINT_NAMESPACE}/{ns}-nowhere"),
            ("IST0171", f"ServiceEntry {ns}/denied"),
            ("IST0171", f"ServiceEntry {ns}/unready"),
        ], [istiolib.analyze_message(m) for m in messages if ns in m.get("origin", "")]
    finally:
        delete(local_clusters, ctx, objects)
