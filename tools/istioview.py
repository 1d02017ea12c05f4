# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a workload may reach, as each cluster's istiod says: the end of `make demo`.

For every cluster of an inventory, the calls a real client of the rule set
makes (every declared address:port, the first and last address of each
block, with the name it connects to as TLS SNI or HTTP Host), each expected
to be routed to the declared service and to reach the address dialled; and
calls that must be blackholed (an undeclared address and an undeclared port
of each service, the services of other clusters). The probe (tools/probe)
connects to the cluster's istiod as a sidecar of the workload's namespace,
prints Istio's view and the verdict of each call, and exits non-zero when a
call is not as expected; so does this tool.

    .venv/bin/python tools/istioview.py --inventory examples/inventory.yml --dns-port 5353

Host names are resolved through the given DNS server (the demo's). The
tests build their calls with the same functions (tests/integration/istiolib.py).
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlencode

import dns.rdatatype
import dns.resolver
import yaml
from clusters import EGRESS_GATEWAY, KUBECTL

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".cache" / "collections"

# The port a client uses for each protocol the module accepts, and how it
# calls: what the simulator sends (tcp, tls, http, http2, https) and whether
# the name it connects to travels as SNI or as the Host/:authority header.
PROTOCOLS = {
    "TCP": (5432, "tcp"),
    "MONGO": (27017, "tcp"),
    "MYSQL": (3306, "tcp"),
    "REDIS": (6379, "tcp"),
    "TLS": (443, "tls"),
    "HTTPS": (443, "https"),
    "HTTP": (80, "http"),
    "HTTP2": (8080, "http2"),
    "GRPC": (50051, "grpc"),
}
UNDECLARED_PORT = 9
# Addresses no rule set of the tests or the demo declares.
UNDECLARED = {4: "100.64.0.9", 6: "2001:db8:ffff::9"}
# An SNI no unit has: the egress gateway must refuse it.
UNKNOWN_SNI = "nobody.meshguard-egress.invalid"


# --------------------------------------------------------------------------- the egress gateway


# Istio's egress gateway as the local clusters hold it (tools/clusters.py
# applies tools/istio/egress-gateway to istio-system of every cluster).
def _fixture(kind: str) -> dict:
    docs = [yaml.safe_load(f.read_text()) for f in sorted(EGRESS_GATEWAY.glob("*.yaml"))]
    (obj,) = [d for d in docs if d["kind"] == kind]
    return obj


_SERVICE = _fixture("Service")
GATEWAY_NAMESPACE = _SERVICE["metadata"]["namespace"]
GATEWAY_LABELS = dict(_SERVICE["spec"]["selector"])
GATEWAY_HOST = f"{_SERVICE['metadata']['name']}.{GATEWAY_NAMESPACE}.svc.cluster.local"
# The gateway pod's address (the fixture's EndpointSlice) and the port its
# mTLS listener binds: the Service's targetPort of 443 (resolvePorts).
GATEWAY_POD_IP = _fixture("EndpointSlice")["endpoints"][0]["addresses"][0]
GATEWAY_MTLS_PORT = next(p["targetPort"] for p in _SERVICE["spec"]["ports"] if p["port"] == 443)
# The plain-mode ports the Service exposes (targetPort equal).
GATEWAY_PLAIN_PORTS = [p["port"] for p in _SERVICE["spec"]["ports"] if p["port"] not in (80, 443)]


def host_header(name: str, port: int, protocol: str) -> str:
    """What an HTTP client puts in Host (HTTP/1.1) or :authority (HTTP/2,
    gRPC): the name or address it was given, with the port unless it is the
    scheme's default (gRPC always writes it)."""
    if ":" in name:
        name = f"[{name}]"
    default = {"http": 80, "https": 443}.get(protocol)
    return name if port == default else f"{name}:{port}"


def client_call(address: str, port: int, protocol: str, name: Optional[str], tag: str) -> dict:
    """A call as a real client makes it: a TLS client sends the host name it
    connects to as SNI (never an IP: RFC 6066), an HTTP client sends it (or
    the address it dialled) in Host."""
    kind = PROTOCOLS[protocol.upper()][1]
    call = {"name": tag, "address": address, "port": port, "protocol": kind}
    if kind in ("tls", "https") and name:
        call["sni"] = name
    if kind in ("http", "http2", "grpc", "https"):
        call["host"] = host_header(name or address, port, kind)
    return call


def first_last(cidr: str) -> list[str]:
    net = ipaddress.ip_network(cidr, strict=False)
    return sorted({str(net[0]), str(net[-1])}, key=ipaddress.ip_address)


def call_url(call: dict, expect: str) -> str:
    """The probe's --call form: PROTO://ADDRESS:PORT?sni=..&host=..&expect=.."""
    address = f"[{call['address']}]" if ":" in call["address"] else call["address"]
    query = {k: call[k] for k in ("sni", "host") if call.get(k)}
    query["expect"] = expect
    return f"{call['protocol']}://{address}:{call['port']}?{urlencode(query)}"


def resolve(name: str, resolver: dns.resolver.Resolver) -> list[str]:
    """A and AAAA of a name, following CNAMEs across zones (an authoritative
    server answers the CNAME only when the target is in another zone)."""
    out = []
    for rdtype in ("A", "AAAA"):
        target = name
        for _hop in range(8):
            answer = resolver.resolve(target, rdtype, raise_on_no_answer=False)
            if answer.rrset is not None:
                out += [r.address for r in answer.rrset]
                break
            cnames = [rrset for rrset in answer.response.answer if rrset.rdtype == dns.rdatatype.CNAME]
            if not cnames:
                break
            target = str(cnames[-1][0].target)
    if not out:
        raise SystemExit(f"istioview: {name} has no address")
    return out


def inventory_clusters(inventory: dict) -> dict[str, set[str]]:
    """Every host of the inventory and the groups it is in."""
    out: dict[str, set[str]] = {}

    def walk(name: str, group: dict, parents: tuple[str, ...]) -> None:
        for host in (group or {}).get("hosts") or {}:
            out.setdefault(host, set()).update((*parents, name))
        for child, sub in ((group or {}).get("children") or {}).items():
            walk(child, sub, (*parents, name))

    for name, group in inventory.items():
        walk(name, group, ())
    return out


def applies(service: dict, groups: set[str], host: str) -> bool:
    return not service.get("clusters") or bool({host, *groups} & set(service["clusters"]))


def via_gateway(ruleset: dict, service: dict) -> bool:
    """The rule set sends this service through the egress gateway."""
    return ruleset.get("meshguard_egress_egress_gateway") is not None and service.get("egress_gateway") is not False


def calls_for(
    services: list[dict], groups: set[str], host: str, resolver, gateway: set[str] = frozenset()
) -> list[str]:
    """The declared calls of the services that apply to this cluster (routed),
    an undeclared address and port of each, and the other clusters' services
    (denied). For the services in `gateway` only the denied calls: their
    declared calls go to the gateway (gateway_view)."""
    out = []
    for service in services:
        applies_here = applies(service, groups, host)
        for port in service["ports"]:
            protocol, number = port["protocol"].upper(), port["number"]
            targets = []
            for h in service["hosts"]:
                try:
                    targets += [(a, None) for a in first_last(h)]
                except ValueError:
                    targets += [(a, h) for a in resolve(h, resolver)]
            expect = "routed" if applies_here else "denied"
            if service["name"] not in gateway:
                for address, name in targets:
                    out.append(call_url(client_call(address, number, protocol, name, service["name"]), expect))
            families = {ipaddress.ip_address(a).version for a, _name in targets}
            for family in sorted(families):
                name = next((n for a, n in targets if n and ipaddress.ip_address(a).version == family), None)
                out.append(call_url(client_call(UNDECLARED[family], number, protocol, name, "undeclared"), "denied"))
            out.append(call_url({"protocol": "tcp", "address": targets[0][0], "port": UNDECLARED_PORT}, "denied"))
    return out


def expanded(service: dict, resolver) -> set[tuple[str, int]]:
    """Every address:port the service declares: each address of its blocks, and what its names resolve to."""
    addresses: set[str] = set()
    for h in service["hosts"]:
        try:
            addresses.update(str(a) for a in ipaddress.ip_network(h, strict=False))
        except ValueError:
            addresses.update(resolve(h, resolver))
    return {(a, port["number"]) for a in addresses for port in service["ports"]}


def _library(name: str):
    """A module of the collection's library, from the collection tree of `make setup`."""
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    return importlib.import_module(f"ansible_collections.meshguard.egress.plugins.module_utils.{name}")


def gateway_units(kubeconfig: Path, namespace: str, set_name: str, services: set[str]) -> dict[tuple[str, int], dict]:
    """The units of the services through the gateway, as the cluster holds them: one ServiceEntry each, with
    one endpoint and one port; its host is the SNI the sidecar sends to the gateway."""
    cmd = [str(KUBECTL), f"--kubeconfig={kubeconfig}", "-n", namespace, "get", "serviceentries"]
    cmd += ["-l", f"{_library('_names').SET_LABEL}={set_name}", "-o", "json"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"istioview: kubectl get serviceentries failed: {res.stderr.strip()}")
    units = {}
    for item in json.loads(res.stdout)["items"]:
        service = (item["metadata"].get("annotations") or {}).get(_library("_render").SERVICE_ANNOTATION)
        if service in services:
            spec = item["spec"]
            (endpoint,) = spec["endpoints"]
            for port in spec["ports"]:
                units[(endpoint["address"], port["number"])] = {"service": service, "host": spec["hosts"][0]}
    return units


def gateway_declared(services: list[dict], resolver) -> dict[tuple[str, int], str]:
    """Every declared address:port of the services through the gateway, and its protocol."""
    declared = {}
    for service in services:
        protocols = {p["number"]: p["protocol"] for p in service["ports"]}
        for address, port in expanded(service, resolver):
            declared[(address, port)] = protocols[port]
    return dict(
        sorted(
            declared.items(),
            key=lambda item: (ipaddress.ip_address(item[0][0]).version, ipaddress.ip_address(item[0][0]), item[0][1]),
        )
    )


def gateway_view(probe: list[str], istiod: Path, namespace: str, declared: dict, units: dict) -> bool:
    """Each declared address:port of the services through the gateway: the
    sidecar sends it to the gateway over Istio mutual TLS with its unit's SNI,
    and the gateway forwards that SNI to that address:port only; an unknown
    SNI is refused. Prints one line per address:port; True when all hold."""
    if set(units) != set(declared):
        print(f"  gateway: the cluster's units {sorted(units)} are not the declared {sorted(declared)}")
        return False
    sidecar = [client_call(a, p, protocol, None, f"{a}:{p}") for (a, p), protocol in declared.items()]
    router = [mtls_call(units[u]["host"], f"{u[0]}:{u[1]}") for u in declared]
    router.append(mtls_call(UNKNOWN_SNI, "unknown sni"))
    workloads = {"sidecar": {"namespace": namespace, "ip_family": "dual"}, "router": router_workload()}
    calls = {"sidecar": sidecar, "router": router}
    cases = [{"id": i, "istiod": str(istiod), "workload": workloads[i], "calls": calls[i]} for i in workloads]
    res = subprocess.run(
        [*probe, "batch"], input=json.dumps({"cases": cases}), capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SystemExit(f"istioview: the probe failed: {res.stderr[-2000:]}")
    results = {r["id"]: {c["call"]["name"]: c for c in r["calls"]} for r in map(json.loads, res.stdout.splitlines())}
    ok = True
    for address, port in declared:
        name = f"{address}:{port}"
        ok = _unit_view(name, units[(address, port)], results["sidecar"][name], results["router"][name]) and ok
    refused = results["router"]["unknown sni"]["verdict"] == "denied"
    print(f"  gateway, an unknown SNI: {results['router']['unknown sni']['verdict']}  {_mark(refused)}")
    return ok and refused


def _unit_view(name: str, unit: dict, side: dict, gate: dict) -> bool:
    """Prints where the sidecar and then the gateway send one address:port; True when as declared."""
    address, port = name.rsplit(":", 1)
    tls = side.get("upstream_tls") or {}
    to_gateway = (
        side["verdict"] == "routed"
        and (side.get("cluster") or "").endswith(GATEWAY_HOST)
        and tls.get("mode") == "ISTIO_MUTUAL"
        and tls.get("sni") == unit["host"]
    )
    forwarded = (
        gate["verdict"] == "routed"
        and gate.get("cluster") == f"outbound|{port}||{unit['host']}"
        and (gate.get("addresses") or []) == [address]
    )
    # The sidecar's cluster is outbound|<the gateway Service's port>|<subset>|<gateway host>.
    via = (
        f"gateway port {side['cluster'].split('|')[1]}, mTLS, SNI {tls.get('sni')}"
        if to_gateway
        else side.get("cluster")
    )
    out = name if forwarded else gate.get("cluster") or gate["verdict"]
    print(f"  {unit['service']} {name} -> {via} -> {out}  {_mark(to_gateway and forwarded)}")
    return to_gateway and forwarded


def _mark(ok: bool) -> str:
    return "as expected" if ok else "NOT as expected"


def router_workload(**extra) -> dict:
    """The probe's workload for the egress gateway's proxy (a router in
    istio-system with the gateway's labels): with the gateway Service loaded,
    Istio derives its ServiceTargets from these labels (no Pod needed)."""
    return {"namespace": GATEWAY_NAMESPACE, "labels": dict(GATEWAY_LABELS), "proxy": "router", **extra}


def mtls_call(
    sni: str, name: str = "", *, port: int = GATEWAY_MTLS_PORT, address: str = GATEWAY_POD_IP, **extra
) -> dict:
    """A sidecar's connection to the gateway: Istio mutual TLS (ALPN istio)
    with the SNI its DestinationRule subset sets."""
    return {"name": name or f"mtls {sni}", "address": address, "port": port, "protocol": "mtls", "sni": sni, **extra}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, required=True, help="inventory with group_vars/ beside it")
    parser.add_argument("--group", default="egress_clusters", help="the group whose group_vars hold the rule set")
    parser.add_argument("--dns-port", type=int, default=53)
    parser.add_argument("--dns-server", default="127.0.0.1")
    parser.add_argument("--state", type=Path, default=ROOT / ".cache" / "clusters")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds istiod may take to catch up")
    args = parser.parse_args(argv)
    inventory = yaml.safe_load(args.inventory.read_text())
    ruleset = yaml.safe_load((args.inventory.parent / "group_vars" / f"{args.group}.yml").read_text())
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [args.dns_server]
    resolver.port = args.dns_port
    namespace = ruleset.get("meshguard_egress_namespace", "default")
    status = 0
    services = ruleset["meshguard_egress_services"]
    gateway = ruleset.get("meshguard_egress_egress_gateway")
    if gateway is not None and (gateway or {}).get("mode", "mtls") != "mtls":
        raise SystemExit("istioview: only the egress gateway's mtls mode is shown (the tests judge plain mode)")
    for host, groups in sorted(inventory_clusters(inventory).items()):
        through = [s for s in services if via_gateway(ruleset, s) and applies(s, groups, host)]
        calls = calls_for(services, groups, host, resolver, {s["name"] for s in through})
        cmd = [str(ROOT / "tools" / "probe"), "--state", str(args.state), "--cluster", host]
        cmd += ["--namespace", namespace, "--ip-family", "dual", "--summary"]
        cmd += [arg for call in calls for arg in ("--call", call)]
        # istiod pushes a change a moment after the API server stored it: a
        # result that is not as expected is asked again for a few seconds.
        deadline = time.monotonic() + args.settle
        while True:
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if res.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        sys.stdout.write(res.stdout)
        sys.stderr.write(res.stderr)
        ok = res.returncode == 0
        if through:
            print(
                f"{host}: through the egress gateway ({', '.join(s['name'] for s in through)}), as istiod programs "
                "the sidecar and the gateway:"
            )
            units = gateway_units(
                args.state / host / "admin.kubeconfig",
                namespace,
                ruleset["meshguard_egress_set"],
                {s["name"] for s in through},
            )
            probe = [str(ROOT / "tools" / "probe"), "--state", str(args.state)]
            declared = gateway_declared(through, resolver)
            ok = gateway_view(probe, args.state / host / "istiod.json", namespace, declared, units) and ok
        print(f"{host}: {'every call as expected' if ok else 'NOT as expected'}\n", flush=True)
        status = status or (0 if ok else 1)
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
