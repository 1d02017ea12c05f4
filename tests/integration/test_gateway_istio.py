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

import istiolib
import pytest
from clusterlib import run_module

pytestmark = pytest.mark.integration

NS = "shop"
PG = {"name": "payments-db", "hosts": ["198.51.100.40/31"], "ports": [{"number": 5432, "protocol": "TCP"}]}
MONGO = {"name": "orders-mongo", "hosts": ["203.0.113.40"], "ports": [{"number": 27017, "protocol": "MONGO"}]}
REDIS = {"name": "cache", "hosts": ["2001:db8::40"], "ports": [{"number": 6379, "protocol": "REDIS"}]}
UNKNOWN_SNI = "nobody.shop.meshguard-egress.invalid"


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


def units(resources: list[dict]) -> list[tuple[str, str, int]]:
    """(address, unit host, port) of every ServiceEntry: one per declared address and port."""
    out = []
    for o in resources:
        if o["kind"] == "ServiceEntry":
            spec = o["spec"]
            (endpoint,) = spec["endpoints"]
            (port,) = spec["ports"]
            out.append((endpoint["address"], spec["hosts"][0], port["number"]))
    return sorted(out)


def tcp(address: str, port: int, name: str) -> dict:
    return {"name": name, "address": address, "port": port, "protocol": "tcp"}


def test_mtls_every_declared_address_goes_through_the_gateway_with_its_own_sni(tmp_path):
    folder, resources = render(tmp_path, "mtls", [PG, MONGO, REDIS])
    declared = units(resources)
    # 198.51.100.40/31 is two addresses; one each for the other services.
    assert [(a, p) for a, _h, p in declared] == [
        ("198.51.100.40", 5432),
        ("198.51.100.41", 5432),
        ("2001:db8::40", 6379),
        ("203.0.113.40", 27017),
    ]
    subsets = {
        o["metadata"]["name"]: o for o in resources if o["kind"] == "DestinationRule" for _s in o["spec"]["subsets"]
    }
    assert subsets, "a DestinationRule per service in the gateway namespace"
    sidecar_calls = [tcp(a, p, f"declared {a}:{p}") for a, _h, p in declared]
    sidecar_calls += [tcp("198.51.100.42", 5432, "undeclared address"), tcp("203.0.113.40", 9, "undeclared port")]
    router_calls = [istiolib.mtls_call(h, f"sni {h}") for _a, h, _p in declared]
    router_calls.append(istiolib.mtls_call(UNKNOWN_SNI, "unknown sni"))
    judged = istiolib.probe(
        [
            {
                "id": "sidecar",
                "manifests": istiolib.with_gateway(folder),
                "workload": {"namespace": NS, "ip_family": "dual"},
                "calls": sidecar_calls,
            },
            {
                "id": "router",
                "manifests": istiolib.with_gateway(folder),
                "workload": istiolib.router_workload(),
                "calls": router_calls,
            },
        ],
        shards=1,
    )
    sidecar = {c["call"]["name"]: c for c in judged["sidecar"]["calls"]}
    for address, host, port in declared:
        cluster, mode, sni, addresses = istiolib.via_gateway(sidecar[f"declared {address}:{port}"])
        assert cluster is not None and cluster.startswith("outbound|443|") and cluster.endswith(istiolib.GATEWAY_HOST)
        assert (mode, sni, addresses) == ("ISTIO_MUTUAL", host, [istiolib.GATEWAY_POD_IP]), (address, port)
    assert sidecar["undeclared address"]["verdict"] == "denied", sidecar["undeclared address"]
    assert sidecar["undeclared port"]["verdict"] == "denied", sidecar["undeclared port"]
    assert istiolib.conflicts(judged["sidecar"]) == []
    router = {c["call"]["name"]: c for c in judged["router"]["calls"]}
    for address, host, port in declared:
        assert istiolib.forwarded(router[f"sni {host}"]) == [(istiolib.service_cluster(port, host), [address])]
    assert router["unknown sni"]["verdict"] == "denied", router["unknown sni"]
    assert istiolib.conflicts(judged["router"]) == []


def test_plain_each_gateway_port_forwards_only_to_its_own_service(tmp_path):
    # Plain mode balances over a service's addresses, so it takes addresses, not blocks.
    pg = {**PG, "hosts": ["198.51.100.40", "198.51.100.41"]}
    folder, resources = render(tmp_path, "plain", [pg, MONGO, REDIS])
    declared = units(resources)
    gateways = [o for o in resources if o["kind"] == "Gateway"]
    ports = sorted(s["port"]["number"] for g in gateways for s in g["spec"]["servers"])
    # One gateway port per (service, port), the lowest of the range first.
    assert ports == istiolib.GATEWAY_PLAIN_PORTS[:3], ports
    sidecar_calls = [tcp(a, p, f"declared {a}:{p}") for a, _h, p in declared]
    sidecar_calls.append(tcp("198.51.100.42", 5432, "undeclared address"))
    router_calls = [tcp(istiolib.GATEWAY_POD_IP, g, f"port {g}") for g in ports]
    unused = istiolib.GATEWAY_PLAIN_PORTS[3]
    router_calls.append(tcp(istiolib.GATEWAY_POD_IP, unused, "unused port"))
    judged = istiolib.probe(
        [
            {
                "id": "sidecar",
                "manifests": istiolib.with_gateway(folder),
                "workload": {"namespace": NS, "ip_family": "dual"},
                "calls": sidecar_calls,
            },
            {
                "id": "router",
                "manifests": istiolib.with_gateway(folder),
                "workload": istiolib.router_workload(),
                "calls": router_calls,
            },
        ],
        shards=1,
    )
    sidecar = {c["call"]["name"]: c for c in judged["sidecar"]["calls"]}
    to_port = {}
    for address, host, port in declared:
        cluster, mode, _sni, addresses = istiolib.via_gateway(sidecar[f"declared {address}:{port}"])
        assert cluster is not None and cluster.endswith(istiolib.GATEWAY_HOST), (address, cluster)
        assert mode in (None, ""), (address, mode)
        assert addresses == [istiolib.GATEWAY_POD_IP]
        to_port.setdefault(int(cluster.split("|")[1]), set()).add((address, host, port))
    assert sorted(to_port) == ports
    assert sidecar["undeclared address"]["verdict"] == "denied", sidecar["undeclared address"]
    router = {c["call"]["name"]: c for c in judged["router"]["calls"]}
    for gport, behind in to_port.items():
        got = sorted(istiolib.forwarded(router[f"port {gport}"]))
        want = sorted((istiolib.service_cluster(port, host), [address]) for address, host, port in behind)
        assert got == want, gport
    assert router["unused port"]["verdict"] == "denied", router["unused port"]
