# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What meshguard.egress.rules renders with egress_gateway, judged by Istio's
own code (the probe, offline: the rendered folder plus the gateway's Service,
Pod and EndpointSlice of tools/istio/egress-gateway):

- the application's sidecar sends each declared address:port to the gateway
  (mtls: the unit's subset on 443 with the unit's SNI; plain: the service
  port's gateway port, no TLS), and blackholes undeclared ones under
  REGISTRY_ONLY;
- the gateway proxy forwards each unit's SNI (mtls) or each gateway port
  (plain) to the declared external addresses only, and denies an unknown SNI
  or port.
"""

from __future__ import annotations

import uuid

import istiolib
import pytest
from clusterlib import RELEASES, owned, run_module

pytestmark = pytest.mark.integration

NS = "shop"
PG = {"name": "payments-db", "hosts": ["198.51.100.40/31"], "ports": [{"number": 5432, "protocol": "TCP"}]}
MONGO = {"name": "orders-mongo", "hosts": ["203.0.113.40"], "ports": [{"number": 27017, "protocol": "MONGO"}]}
REDIS = {"name": "cache", "hosts": ["2001:db8::40"], "ports": [{"number": 6379, "protocol": "REDIS"}]}


def render(tmp_path, mode: str, services: list[dict]) -> tuple[str, list[dict]]:
    folder = tmp_path / mode
    args = {
        "state": "rendered",
        "set": "egw",
        "namespace": NS,
        "registry_only": [NS],
        "egress_gateway": {"mode": mode},
        "services": services,
        "dest": str(folder),
    }
    result = run_module("rules", args)[0]
    assert not result["failed"], result.get("msg")
    return str(folder), result["resources"]


def check_plain_sidecar(result: dict, declared: list[tuple[str, str, int]]) -> dict[int, set]:
    """Each declared address:port goes to a gateway port without TLS; others are denied. Returns the
    units behind each gateway port."""
    calls = istiolib.by_name(result)
    to_port: dict[int, set] = {}
    for address, host, port in declared:
        call = calls[f"declared {address}:{port}"]
        cluster, mode, _sni, addresses = istiolib.via_gateway(call)
        assert cluster is not None and cluster.endswith(istiolib.GATEWAY_HOST), istiolib.describe(call)
        assert mode in (None, ""), istiolib.describe(call)
        assert addresses == [istiolib.GATEWAY_POD_IP], istiolib.describe(call)
        to_port.setdefault(int(cluster.split("|")[1]), set()).add((address, host, port))
    assert calls["undeclared address"]["verdict"] == "denied", istiolib.describe(calls["undeclared address"])
    assert istiolib.own_conflicts(result, {h for _a, h, _p in declared}) == []
    return to_port


def check_plain_router(result: dict, to_port: dict[int, set]) -> None:
    """Each gateway port forwards to its own service's addresses only."""
    calls = istiolib.by_name(result)
    for gport, behind in to_port.items():
        got = sorted(istiolib.forwarded(calls[f"port {gport}"]))
        want = sorted((istiolib.service_cluster(port, host), [address]) for address, host, port in behind)
        assert got == want, istiolib.describe(calls[f"port {gport}"])


def plain_router_calls(ports) -> list[dict]:
    return [istiolib.tcp(istiolib.GATEWAY_POD_IP, g, f"port {g}") for g in ports]


def cases(source: dict, namespace: str, sidecar: list[dict], router: list[dict]) -> list[dict]:
    """The application's sidecar (REGISTRY_ONLY in `namespace`) and the gateway's proxy, on one source of config
    (rendered files with the gateway's fixture, or a cluster's istiod)."""
    return [
        {"id": "sidecar", **source, "workload": {"namespace": namespace, "ip_family": "dual"}, "calls": sidecar},
        {"id": "router", **source, "workload": istiolib.router_workload(), "calls": router},
    ]


def test_mtls_every_declared_address_goes_through_the_gateway_with_its_own_sni(tmp_path):
    folder, resources = render(tmp_path, "mtls", [PG, MONGO, REDIS])
    declared = istiolib.units(resources)
    # 198.51.100.40/31 is two addresses; one each for the other services.
    assert [(a, p) for a, _h, p in declared] == [
        ("198.51.100.40", 5432),
        ("198.51.100.41", 5432),
        ("2001:db8::40", 6379),
        ("203.0.113.40", 27017),
    ]
    source = {"manifests": istiolib.with_gateway(folder)}
    for release in RELEASES:
        judged = istiolib.probe(
            cases(source, NS, istiolib.sidecar_calls(declared, "198.51.100.42"), istiolib.mtls_router_calls(declared)),
            shards=1,
            release=release,
        )
        istiolib.check_mtls_sidecar(judged["sidecar"], declared)
        istiolib.check_mtls_router(judged["router"], declared)


def test_mtls_a_set_of_more_than_256_addresses(tmp_path):
    # Two /24 blocks and a /120: 768 addresses, each a unit (at most 256 per service).
    services = [
        {**PG, "name": "pg-a", "hosts": ["198.51.100.0/24"]},
        {**PG, "name": "pg-b", "hosts": ["203.0.113.0/24"]},
        {**REDIS, "hosts": ["2001:db8::100/120"]},
    ]
    folder, resources = render(tmp_path, "mtls", services)
    declared = istiolib.units(resources)
    assert len(declared) == 768
    assert len({h for _a, h, _p in declared}) == 768, "one SNI per unit"
    source = {"manifests": istiolib.with_gateway(folder)}
    sidecar, router = istiolib.sidecar_calls(declared, "192.0.2.1"), istiolib.mtls_router_calls(declared)
    for release in RELEASES:
        judged = istiolib.probe(cases(source, NS, sidecar, router), shards=1, release=release)
        istiolib.check_mtls_sidecar(judged["sidecar"], declared)
        istiolib.check_mtls_router(judged["router"], declared)


def test_plain_each_gateway_port_forwards_only_to_its_own_service(tmp_path):
    # Plain mode balances over a service's addresses, so it takes addresses, not blocks.
    pg = {**PG, "hosts": ["198.51.100.40", "198.51.100.41"]}
    folder, resources = render(tmp_path, "plain", [pg, MONGO, REDIS])
    declared = istiolib.units(resources)
    ports = gateway_ports(resources)
    # One gateway port per (service, port), the lowest of the range first.
    assert ports == istiolib.GATEWAY_PLAIN_PORTS[:3], ports
    unused = istiolib.GATEWAY_PLAIN_PORTS[3]
    router_calls = [*plain_router_calls(ports), istiolib.tcp(istiolib.GATEWAY_POD_IP, unused, "unused port")]
    source = {"manifests": istiolib.with_gateway(folder)}
    sidecar = istiolib.sidecar_calls(declared, "198.51.100.42")
    for release in RELEASES:
        judged = istiolib.probe(cases(source, NS, sidecar, router_calls), shards=1, release=release)
        to_port = check_plain_sidecar(judged["sidecar"], declared)
        assert sorted(to_port) == ports, release
        check_plain_router(judged["router"], to_port)
        router = istiolib.by_name(judged["router"])
        assert router["unused port"]["verdict"] == "denied", (release, router["unused port"])


def gateway_ports(resources: list[dict]) -> list[int]:
    return sorted(s["port"]["number"] for o in resources if o["kind"] == "Gateway" for s in o["spec"]["servers"])


# --------------------------------------------------------------------------- live

# Addresses and ports no other test on the shared clusters declares; plain ports the probe's live test leaves alone.
LIVE = [
    {
        "name": "payments-db",
        "hosts": ["198.51.100.50", "198.51.100.51"],
        "ports": [{"number": 5432, "protocol": "TCP"}],
    },
    {"name": "orders-mongo", "hosts": ["203.0.113.50"], "ports": [{"number": 27019, "protocol": "MONGO"}]},
    {"name": "cache", "hosts": ["2001:db8::50"], "ports": [{"number": 6379, "protocol": "REDIS"}]},
]
LIVE_PLAIN_PORTS = {"start": istiolib.GATEWAY_PLAIN_PORTS[5], "end": istiolib.GATEWAY_PLAIN_PORTS[-1]}


def live_expectation(mode: str, resources: list[dict], source: dict, namespace: str):
    """The probe's cases for a mode and the check of their results."""
    if mode == "direct":
        declared = [(a, s["ports"][0]["number"]) for s in LIVE for a in s["hosts"]]
        calls = [istiolib.tcp(a, p, f"declared {a}:{p}") for a, p in declared]
        calls.append(istiolib.tcp("198.51.100.52", 5432, "undeclared address"))
        hosts = istiolib.service_hosts(resources)

        def check(results):
            result = results["sidecar"]
            assert istiolib.unreachable(result, hosts) == [], "declared calls not routed to the service"
            assert istiolib.leaks(result, registry_only=True) == [], "undeclared calls not denied"

        return cases(source, namespace, calls, [])[:1], check
    declared = istiolib.units(resources)
    sidecar = istiolib.sidecar_calls(declared, "198.51.100.52")
    if mode == "mtls":

        def check(results):
            istiolib.check_mtls_sidecar(results["sidecar"], declared)
            istiolib.check_mtls_router(results["router"], declared)

        return cases(source, namespace, sidecar, istiolib.mtls_router_calls(declared)), check
    ports = gateway_ports(resources)
    assert len(ports) == 3, ports
    assert all(LIVE_PLAIN_PORTS["start"] <= p <= LIVE_PLAIN_PORTS["end"] for p in ports), ports

    def check(results):
        to_port = check_plain_sidecar(results["sidecar"], declared)
        assert sorted(to_port) == ports
        check_plain_router(results["router"], to_port)

    return cases(source, namespace, sidecar, plain_router_calls(ports)), check


def ours(message: dict, set_name: str, namespace: str) -> bool:
    """An analyzer message about the set's objects (their names start with the set's name), or about
    other objects in its namespace (but for the namespace itself: "not enabled for injection", IST0102)."""
    origin = message.get("origin", "")
    return set_name in origin or (namespace in origin and not origin.startswith("Namespace "))


def test_a_live_set_through_the_gateway_judged_by_istiod_analyzed_and_switched_between_modes(live):
    """The module applies the set to a cluster (its istiod, of each Istio release; the gateway's Service, Pod
    and EndpointSlice); istiod, asked over xDS as the application's sidecar and as the gateway, programs each
    mode as declared; that release's istioctl analyze has nothing to say about the set; each switch converges
    in one run; absent leaves nothing."""
    local_clusters, namespace = live.clusters, live.namespace
    ctx = local_clusters.contexts[0]
    set_name = f"lg{uuid.uuid4().hex[:8]}"
    base = {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": ctx,
        "set": set_name,
        "namespace": namespace,
        "registry_only": [namespace],
        "network_policy": True,
        "services": LIVE,
    }
    modes = {
        "mtls": {**base, "egress_gateway": {"mode": "mtls"}},
        "plain": {**base, "egress_gateway": {"mode": "plain", "ports": LIVE_PLAIN_PORTS}},
        "direct": base,
    }
    istiod = {"istiod": str(local_clusters.by_context(ctx).dir / "istiod.json")}
    try:
        for mode in ("mtls", "plain", "direct", "mtls"):
            result = run_module("rules", modes[mode])[0]
            assert not result.get("failed"), (mode, result.get("msg"))
            rerun = run_module("rules", modes[mode])[0]
            assert rerun["changed"] is False, (mode, rerun["plan"])
            probe_cases, check = live_expectation(mode, result["resources"], istiod, namespace)
            istiolib.judge_until(probe_cases, check, timeout=60, release=live.release)
            messages = istiolib.analyze_cluster(local_clusters.kubeconfig, ctx, release=live.release)
            messages = [m for m in messages if ours(m, set_name, namespace)]
            assert messages == [], (mode, [istiolib.analyze_message(m) for m in messages])
        assert run_module("rules", {**base, "state": "absent"})[0]["changed"] is True
        assert owned(local_clusters, ctx, set_name) == {}
    finally:
        run_module("rules", {**base, "state": "absent"})
