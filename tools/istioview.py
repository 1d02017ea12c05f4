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
from clusters import EGRESS_GATEWAY, KUBECTL, WAYPOINT, WAYPOINT_NAME, WAYPOINT_NAMESPACE

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
# The gateway's Pod (never scheduled): a gateway proxy presents itself with its name.
GATEWAY_POD = _fixture("Pod")["metadata"]["name"]
GATEWAY_SERVICE_ACCOUNT = _fixture("Pod")["spec"]["serviceAccountName"]
# The waypoint's Pod (never scheduled): the probe's waypoint presents itself with its name.
WAYPOINT_POD = yaml.safe_load((WAYPOINT / "pod.yaml").read_text())["metadata"]["name"]
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


def targets(service: dict, resolver) -> list[tuple[str, Optional[str]]]:
    """(address, host name or None) a client of the service dials: the first and
    last address of each block, and what each name resolves to."""
    out: list[tuple[str, Optional[str]]] = []
    for h in service["hosts"]:
        try:
            out += [(a, None) for a in first_last(h)]
        except ValueError:
            out += [(a, h) for a in resolve(h, resolver)]
    return out


def calls_for(
    services: list[dict], groups: set[str], host: str, resolver, gateway: set[str] = frozenset()
) -> list[str]:
    """The declared calls of the services that apply to this cluster (routed),
    an undeclared address and port of each, and the other clusters' services
    (denied). For the services in `gateway` only the denied calls: their
    declared calls go to the gateway (gateway_view)."""
    out = []
    for service in services:
        expect = "routed" if applies(service, groups, host) else "denied"
        dialled = targets(service, resolver)
        for port in service["ports"]:
            protocol, number = port["protocol"].upper(), port["number"]
            if service["name"] not in gateway:
                for address, name in dialled:
                    out.append(call_url(client_call(address, number, protocol, name, service["name"]), expect))
            families = {ipaddress.ip_address(a).version for a, _name in dialled}
            for family in sorted(families):
                name = next((n for a, n in dialled if n and ipaddress.ip_address(a).version == family), None)
                out.append(call_url(client_call(UNDECLARED[family], number, protocol, name, "undeclared"), "denied"))
            out.append(call_url({"protocol": "tcp", "address": dialled[0][0], "port": UNDECLARED_PORT}, "denied"))
    return out


def sidecar_sees(service: dict, namespace: str) -> bool:
    """Whether a sidecar of the set's namespace sees an ambient service's ServiceEntries: the
    namespaces of its export_to, else those its allowed_sources admit whole (docs/rendering.md)."""
    own = service.get("namespace", namespace)
    names = service.get("export_to") or [s for s in service.get("allowed_sources") or [own] if "/" not in s]
    return "*" in names or namespace in {own if n == "." else n for n in names}


def ambient_calls_from_sidecar(
    services: list[dict], namespace: str, groups: set[str], host: str, resolver
) -> list[str]:
    """A sidecar does not go through the waypoint: it is routed to an ambient
    service's addresses where its ServiceEntries are exported to the sidecar's
    namespace; elsewhere they are unknown to it (denied under REGISTRY_ONLY)."""
    out = []
    for service in services:
        expect = "routed" if applies(service, groups, host) and sidecar_sees(service, namespace) else "denied"
        dialled = targets(service, resolver)
        for port in service["ports"]:
            for address, name in dialled:
                call = client_call(address, port["number"], port["protocol"], name, service["name"])
                out.append(call_url(call, expect))
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


def kubectl_json(kubeconfig: Path, *args: str) -> dict:
    res = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", *args, "-o", "json"], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SystemExit(f"istioview: kubectl {' '.join(args)} failed: {res.stderr.strip()}")
    return json.loads(res.stdout)


def set_service_entries(kubeconfig: Path, namespace: str, set_name: str) -> list[dict]:
    """The set's ServiceEntries in a namespace, as the cluster holds them."""
    selector = f"{_library('_names').SET_LABEL}={set_name}"
    return kubectl_json(kubeconfig, "-n", namespace, "get", "serviceentries", "-l", selector)["items"]


def gateway_units(kubeconfig: Path, namespace: str, set_name: str, services: set[str]) -> dict[tuple[str, int], dict]:
    """The units of the services through the gateway, as the cluster holds them: one ServiceEntry each, with
    one endpoint and one port; its host is the SNI the sidecar sends to the gateway."""
    units = {}
    for item in set_service_entries(kubeconfig, namespace, set_name):
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
    """The probe's workload for the egress gateway's proxy: a router in
    istio-system with the gateway's labels, named as the gateway's Pod. With
    the gateway Service loaded, Istio 1.31 derives its ServiceTargets from
    these labels alone; 1.30 binds the Gateway's servers to the Service's
    targetPorts (8443) only for a proxy named as a Pod of the Service (seen
    live: otherwise to the Service port, 443), as a real gateway pod is."""
    return {
        "namespace": GATEWAY_NAMESPACE,
        "labels": dict(GATEWAY_LABELS),
        "proxy": "router",
        "name": GATEWAY_POD,
        **extra,
    }


def mtls_call(
    sni: str, name: str = "", *, port: int = GATEWAY_MTLS_PORT, address: str = GATEWAY_POD_IP, **extra
) -> dict:
    """A sidecar's connection to the gateway: Istio mutual TLS (ALPN istio)
    with the SNI its DestinationRule subset sets."""
    return {"name": name or f"mtls {sni}", "address": address, "port": port, "protocol": "mtls", "sni": sni, **extra}


# --------------------------------------------------------------------------- ambient: ztunnel and the waypoint

# The waypoint the local clusters can make ready (tools/istio/waypoint: its
# Service and one instance; the Gateway is the rule set's).
WAYPOINT_HOST = f"{WAYPOINT_NAME}.{WAYPOINT_NAMESPACE}.svc.cluster.local"
# The HBONE port istiod names for every waypoint (getGatewayAddress).
HBONE_PORT = 15008
BOUND = "istio.io/WaypointBound"


def ztunnel_workload() -> dict:
    """The probe as a ztunnel (in istio-system, as Istio installs it): its
    answer is the WDS resources istiod sends, in the result's "wds"."""
    return {"namespace": "istio-system", "proxy": "ztunnel", "name": "ztunnel-probe"}


def waypoint_workload() -> dict:
    """The probe as the waypoint's proxy: a waypoint node in the waypoint's
    namespace with the labels its Deployment's pods carry (without
    gateway-name no targetRef policy attaches, ShouldAttachPolicy); its
    services come from the waypoint Service these labels select."""
    labels = {
        "gateway.networking.k8s.io/gateway-name": WAYPOINT_NAME,
        "gateway.istio.io/managed": "istio.io-mesh-controller",
    }
    # Named as the platform's waypoint Pod (tools/istio/waypoint/pod.yaml): Istio 1.30 needs it.
    return {"namespace": WAYPOINT_NAMESPACE, "proxy": "waypoint", "name": WAYPOINT_POD, "labels": labels}


def inbound_vip_cluster(port: int, host: str) -> str:
    """A waypoint's chain and cluster of a service port (buildWaypointInternal)."""
    return f"inbound-vip|{port}|tcp|{host}"


def ambient_namespaces(kubeconfig: Path, dataplane: str, namespaces: set[str]) -> set[str]:
    """The namespaces the module treats as ambient: all with dataplane
    ambient, those labelled istio.io/dataplane-mode=ambient with auto."""
    if dataplane == "ambient":
        return set(namespaces)
    if dataplane != "auto":
        return set()
    out = set()
    for ns in namespaces:
        labels = kubectl_json(kubeconfig, "get", "namespace", ns)["metadata"].get("labels") or {}
        if labels.get("istio.io/dataplane-mode") == "ambient":
            out.add(ns)
    return out


def ambient_entries(kubeconfig: Path, services: list[dict], set_name: str, default_ns: str) -> list[dict]:
    """Per ServiceEntry object of the ambient services (one per address or
    block): its service, namespace, host, addresses, ports and WaypointBound."""
    by_name = {s["name"]: s for s in services}
    out = []
    for ns in sorted({s.get("namespace", default_ns) for s in services}):
        for item in set_service_entries(kubeconfig, ns, set_name):
            service = (item["metadata"].get("annotations") or {}).get(_library("_render").SERVICE_ANNOTATION)
            if service not in by_name:
                continue
            spec = item["spec"]
            conditions = {c["type"]: c for c in (item.get("status") or {}).get("conditions") or []}
            out.append(
                {
                    "service": by_name[service],
                    "name": item["metadata"]["name"],
                    "namespace": ns,
                    "host": spec["hosts"][0],
                    "addresses": spec.get("addresses") or [],
                    "ports": spec["ports"],
                    "labels": item["metadata"].get("labels") or {},
                    "bound": conditions.get(BOUND),
                }
            )
    return out


def allowed_sources(service: dict, ns: str) -> tuple[list[str], list[str]]:
    """(namespaces, service accounts) the waypoint must admit: the service's
    allowed_sources, by default its own namespace."""
    sources = service.get("allowed_sources") or [ns]
    return sorted(s for s in sources if "/" not in s), sorted(s for s in sources if "/" in s)


def _waypoint_line(
    service: str, host: str, call: dict, got: dict, *, namespaces: list[str], accounts: list[str]
) -> str:
    """One declared address:port at the waypoint: routed to the address
    dialled, under one ALLOW policy admitting exactly the allowed sources."""
    want = inbound_vip_cluster(call["port"], host)
    policies = [p for f in got.get("rbac") or [] for p in f["policies"] if f["action"] == "ALLOW"]
    admits = [(sorted(p.get("namespaces") or []), sorted(p.get("service_accounts") or [])) for p in policies]
    routed = got["verdict"] == "routed" and got.get("cluster") == want and got.get("dialled_only") is True
    guarded = admits == [(namespaces, accounts)]
    who = " ".join(namespaces + accounts) if guarded else f"{admits or 'anyone'}"
    out = f"{call['address']}:{call['port']}" if routed else got.get("cluster") or got["verdict"]
    return (
        f"  {service} waypoint {call['address']}:{call['port']} -> {out}, only from {who}  {_mark(routed and guarded)}"
    )


def ambient_view(probe: list[str], istiod: Path, entries: list[dict], declared: set[tuple[str, int]]) -> list[str]:
    """Each ServiceEntry of the ambient services as istiod programs it: what
    ztunnel gets (each address sent to the waypoint), what the waypoint does
    (each declared address:port routed under the policy admitting only the
    allowed sources; an undeclared address refused), and WaypointBound.
    Returns the lines to print, each ending in its verdict."""
    calls = []
    for e in entries:
        for block in e["addresses"]:
            for port in e["ports"]:
                for address in first_last(block):
                    call = client_call(address, port["number"], port["protocol"], None, f"{address}:{port['number']}")
                    calls.append({**call, "name": f"{e['name']} {call['name']}"})
    undeclared = []
    for e in entries:
        family = ipaddress.ip_network(e["addresses"][0], strict=False).version
        port = e["ports"][0]
        call = client_call(UNDECLARED[family], port["number"], port["protocol"], None, f"undeclared {e['name']}")
        if (UNDECLARED[family], port["number"]) not in declared:
            undeclared.append(call)
    cases = [
        {"id": "ztunnel", "istiod": str(istiod), "workload": ztunnel_workload()},
        {"id": "waypoint", "istiod": str(istiod), "workload": waypoint_workload(), "calls": calls + undeclared},
    ]
    res = subprocess.run(
        [*probe, "batch"], input=json.dumps({"cases": cases}), capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SystemExit(f"istioview: the probe failed: {res.stderr[-2000:]}")
    results = {r["id"]: r for r in map(json.loads, res.stdout.splitlines())}
    for r in results.values():
        if r.get("error"):
            return [f"  the probe as {r['id']}: {r['error']}  {_mark(False)}"]
    wds = {s["resource"]: s for s in results["ztunnel"]["wds"]["services"]}
    judged = {c["call"]["name"]: c for c in results["waypoint"]["calls"]}
    lines = []
    for e in entries:
        svc = wds.get(f"{e['namespace']}/{e['host']}") or {}
        waypoint = svc.get("waypoint") or {}
        sent = sorted(a.split("/", 1)[1] for a in svc.get("addresses") or [])
        to_waypoint = waypoint.get("hostname") == WAYPOINT_HOST and sent == sorted(e["addresses"])
        via = f"waypoint {waypoint.get('namespace')}/{WAYPOINT_NAME}" if to_waypoint else (waypoint or "direct")
        service = e["service"]["name"]
        lines.append(f"  {service} {', '.join(e['addresses'])} -> ztunnel -> {via}  {_mark(to_waypoint)}")
        namespaces, accounts = allowed_sources(e["service"], e["namespace"])
        ours = [c for c in calls if c["name"].startswith(f"{e['name']} ")]
        lines += [
            _waypoint_line(service, e["host"], c, judged[c["name"]], namespaces=namespaces, accounts=accounts)
            for c in ours
        ]
        bound = e["bound"] or {}
        is_bound = bound.get("status") == "True"
        lines.append(
            f"  {service} {e['name']}: {BOUND} {bound.get('status')} ({bound.get('message')})  {_mark(is_bound)}"
        )
    for call in undeclared:
        got = judged[call["name"]]
        lines.append(
            f"  waypoint, an undeclared address {call['address']}:{call['port']}: {got['verdict']}  "
            f"{_mark(got['verdict'] == 'denied')}"
        )
    return lines


def show_ambient(args, host: str, ruleset: dict, here: list[dict], *, ambient_ns: list[str], resolver) -> bool:
    """Prints the ambient view of one cluster (ambient_view), asked again
    for a few seconds: istiod binds, pushes and writes the status a moment
    after the API server stored the objects. True when all as expected."""
    print(
        f"{host}: ambient ({', '.join(ambient_ns)}: {', '.join(s['name'] for s in here)}), as istiod programs "
        "ztunnel and the waypoint:"
    )
    kubeconfig = args.state / host / "admin.kubeconfig"
    probe = [str(ROOT / "tools" / "probe"), "--state", str(args.state)]
    declared = set().union(*(expanded(s, resolver) for s in ruleset["meshguard_egress_services"]))
    namespace = ruleset.get("meshguard_egress_namespace", "default")
    deadline = time.monotonic() + args.settle
    while True:
        entries = ambient_entries(kubeconfig, here, ruleset["meshguard_egress_set"], namespace)
        lines = ambient_view(probe, args.state / host / "istiod.json", entries, declared) if entries else []
        good = bool(entries) and all(line.endswith(_mark(True)) for line in lines)
        if good or time.monotonic() > deadline:
            break
        time.sleep(1)
    print("\n".join(lines) if entries else f"  no ServiceEntry of {', '.join(s['name'] for s in here)}")
    return good


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
    dataplane = ruleset.get("meshguard_egress_dataplane", "sidecar")
    for host, groups in sorted(inventory_clusters(inventory).items()):
        kubeconfig = args.state / host / "admin.kubeconfig"
        ambient_ns = ambient_namespaces(kubeconfig, dataplane, {s.get("namespace", namespace) for s in services})
        # The ambient namespaces' services have no sidecar: shown as ztunnel and the waypoint see them.
        ambient = [s for s in services if s.get("namespace", namespace) in ambient_ns]
        sidecar = [s for s in services if s not in ambient]
        through = [s for s in sidecar if via_gateway(ruleset, s) and applies(s, groups, host)]
        calls = calls_for(sidecar, groups, host, resolver, {s["name"] for s in through})
        calls += ambient_calls_from_sidecar(ambient, namespace, groups, host, resolver)
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
        here = [s for s in ambient if applies(s, groups, host)]
        if here:
            ok = show_ambient(args, host, ruleset, here, ambient_ns=sorted(ambient_ns), resolver=resolver) and ok
        print(f"{host}: {'every call as expected' if ok else 'NOT as expected'}\n", flush=True)
        status = status or (0 if ok else 1)
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
