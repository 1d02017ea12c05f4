# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a workload may reach, as each local cluster's istiod says: a development tool.

The end of `make demo`, and a way to look at a rollout to the local clusters
of tools/clusters.py; not part of the collection (docs/docsite/rst/istio-in-the-loop.rst,
"The reachability view"). For every cluster host of an inventory, whatever
its name: the host is mapped to the local cluster its kubeconfig and context
(meshguard_egress_kubeconfig, meshguard_egress_context, or the K8S_AUTH_*
variables, as the rollout reads them) reach, and the tool stops at once,
before asking anything, when a host reaches no local cluster with a running
istiod, saying which host and why.

It judges against what the rule set applied, read from the cluster: the
set's ServiceEntries (addresses, ports, exportTo), its Sidecars and the
namespaces' data plane labels. No name is resolved. Each address:port of a
ServiceEntry (the first and last address of each block), called as a real
client calls it, must be routed to that ServiceEntry's service and reach the
address dialled from the namespaces it is exported to, and not be routed
from the others; an undeclared address and port of each service, and the
services applied to other clusters only, must not be routed (denied under
REGISTRY_ONLY, passed through otherwise). Through the egress gateway and in
ambient namespaces, the gateway's and the waypoint's view as well. The probe
(tools/probe) connects to the cluster's istiod as each of those proxies;
every call prints its verdict, and one that is not as expected says why.
Exits 1 when a call is not as expected.

    .venv/bin/python tools/istioview.py --inventory examples/inventory.yml

The tests build their calls with the same functions (tests/integration/istiolib.py).
"""

from __future__ import annotations

import argparse
import importlib
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.vars.manager import VariableManager
from localclusters.cluster import EGRESS_GATEWAY, WAYPOINT, WAYPOINT_NAME, WAYPOINT_NAMESPACE, Cluster
from localclusters.common import KUBECTL

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


def _library(name: str):
    """A module of the collection's library, from the collection tree of `make setup`."""
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    return importlib.import_module(f"ansible_collections.meshguard.egress.plugins.module_utils.{name}")


def _mark(ok: bool) -> str:
    return "as expected" if ok else "NOT as expected"


# --------------------------------------------------------------------------- the inventory and the local clusters


@dataclass
class Host:
    """One cluster host of the inventory: its rule set variables, templated as Ansible templates them."""

    name: str
    vars: dict[str, Any]
    services: list[dict] = field(default_factory=list)

    @property
    def set_name(self) -> str:
        return self.vars["meshguard_egress_set"]

    @property
    def namespace(self) -> str:
        return self.vars.get("meshguard_egress_namespace") or "default"

    @property
    def dataplane(self) -> str:
        return self.vars.get("meshguard_egress_dataplane") or "sidecar"

    def via_gateway(self, service: dict) -> bool:
        """The rule set sends this service through the egress gateway."""
        return (
            self.vars.get("meshguard_egress_egress_gateway") is not None and service.get("egress_gateway") is not False
        )


# The variables the view reads, and the role's defaults of those it has.
RULESET_VARS = (
    "meshguard_egress_set",
    "meshguard_egress_namespace",
    "meshguard_egress_dataplane",
    "meshguard_egress_egress_gateway",
    "meshguard_egress_kubeconfig",
    "meshguard_egress_context",
    "meshguard_egress_host",
)


def inventory_hosts(inventory: Path, group: str) -> list[Host]:
    """The hosts of the group, each with its variables and its services scoped as the role scopes them
    (meshguard.egress.cluster_services over the host's variables), read with Ansible's own inventory."""
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    hosts = manager.get_hosts(group)
    if not hosts:
        raise SystemExit(f"istioview: the inventory {inventory} has no host in group {group}")
    known = list(manager.groups) + [h.name for h in manager.get_hosts()]
    scope = _library("_rollout.scope")
    out = []
    for host in hosts:
        hostvars = variables.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=hostvars)
        wanted = [n for n in hostvars if n in RULESET_VARS or n.startswith(scope.SERVICES_VAR)]
        # Plain data (Ansible's tagged values aside): the library and json take it as is.
        plain = json.loads(json.dumps({n: templar.template(hostvars[n]) for n in wanted}, default=str))
        if "meshguard_egress_set" not in plain:
            raise SystemExit(f"istioview: host {host.name} has no meshguard_egress_set")
        try:
            services = scope.cluster_services(plain, host.name, hostvars["group_names"], known)
        except scope.ScopeError as exc:
            raise SystemExit(f"istioview: host {host.name}: {exc}") from None
        out.append(Host(host.name, plain, services))
    return out


@dataclass(frozen=True)
class Target:
    """Where a host's connection options lead: the API server, and how it was found."""

    server: str
    how: str


def target_of(host: Host, environ: Optional[dict] = None) -> Target:
    """The API server a host's connection options reach, read as the rules module reads them:
    host, else the kubeconfig (a path, relative to the working directory, or a dict) and its context."""
    environ = dict(os.environ) if environ is None else environ
    server = host.vars.get("meshguard_egress_host") or environ.get("K8S_AUTH_HOST")
    if server:
        return Target(server.rstrip("/"), f"meshguard_egress_host {server}")
    kubeconfig = host.vars.get("meshguard_egress_kubeconfig") or environ.get("K8S_AUTH_KUBECONFIG")
    context = host.vars.get("meshguard_egress_context") or environ.get("K8S_AUTH_CONTEXT")
    if isinstance(kubeconfig, dict):
        config, named = kubeconfig, "the kubeconfig given inline"
    else:
        path = kubeconfig or environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
        path = os.path.abspath(os.path.expanduser(path))
        named = f"kubeconfig {path}"
        try:
            config = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise LookupError(f"cannot read {named}: {exc.strerror}") from None
    context = context or config.get("current-context")
    contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
    if context not in contexts:
        raise LookupError(f"{named} has no context {context!r} (it has {', '.join(sorted(contexts)) or 'none'})")
    clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
    cluster = clusters.get(contexts[context].get("cluster"), {})
    if not cluster.get("server"):
        raise LookupError(f"{named}: context {context!r} names no cluster with a server")
    return Target(cluster["server"].rstrip("/"), f"context {context} of {named}")


def local_clusters(state: Path) -> dict[str, Cluster]:
    """The local clusters under state (tools/clusters.py), by their API server's URL."""
    found = {}
    for meta in sorted(state.glob("*/cluster.json")):
        cluster = Cluster(meta.parent.name, meta.parent)
        found[cluster.server] = cluster
    return found


def map_hosts(hosts: list[Host], state: Path) -> dict[str, Cluster]:
    """Each host's local cluster, with a running istiod; every host that has none is reported at once."""
    clusters = local_clusters(state)
    listed = ", ".join(f"{c.name} {url}" for url, c in clusters.items()) or "none"
    mapped, problems = {}, []
    for host in hosts:
        try:
            target = target_of(host)
        except LookupError as exc:
            problems.append(f"{host.name}: {exc}")
            continue
        cluster = clusters.get(target.server)
        if cluster is None:
            problems.append(
                f"{host.name}: {target.how} reaches {target.server}, which is no local cluster under {state} "
                f"({listed}): there is no local istiod to ask"
            )
        elif not cluster.istiod.pid():
            problems.append(
                f"{host.name}: local cluster {cluster.name} ({target.how}) runs no istiod "
                f"(start it with tools/clusters.py --state {state} up)"
            )
        else:
            mapped[host.name] = cluster
    if problems:
        raise SystemExit("istioview: no local istiod to ask for:\n  " + "\n  ".join(problems))
    return mapped


# --------------------------------------------------------------------------- what the cluster holds


def kubectl_json(kubeconfig: Path, *args: str) -> dict:
    res = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", *args, "-o", "json"], capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise SystemExit(f"istioview: kubectl {' '.join(args)} failed: {res.stderr.strip()}")
    return json.loads(res.stdout)


@dataclass
class Entry:
    """One ServiceEntry of the set, as the cluster holds it."""

    service: str
    namespace: str
    name: str
    host: str
    addresses: list[str]
    # (number, the protocol a client speaks: the declared one where the rendering changed it)
    ports: list[tuple[int, str]]
    export_to: list[str]
    sources: list[str]
    endpoints: list[str]
    bound: Optional[dict]

    @property
    def synthetic(self) -> bool:
        return self.host.endswith("." + _library("_render").SYNTHETIC_HOST_DOMAIN)

    @property
    def client_name(self) -> Optional[str]:
        """The name a client connects with (SNI, Host): the real host, else one the addresses came from."""
        if not self.synthetic:
            return self.host
        return self.sources[0] if self.sources else None

    def exported_to(self, namespace: str) -> bool:
        """Whether a sidecar of namespace sees it (Istio's exportTo; none: every namespace)."""
        names = self.export_to or ["*"]
        return "*" in names or namespace in {self.namespace if n == "." else n for n in names}

    def covers(self, address: str, port: int) -> bool:
        ip = ipaddress.ip_address(address)
        return any(p == port for p, _proto in self.ports) and any(
            ip in ipaddress.ip_network(block, strict=False) for block in self.addresses
        )


def set_entries(kubeconfig: Path, set_name: str) -> list[Entry]:
    """Every ServiceEntry of the set on the cluster, in any namespace."""
    render = _library("_render")
    selector = f"{_library('_names').SET_LABEL}={set_name}"
    out = []
    for item in kubectl_json(kubeconfig, "get", "serviceentries", "-A", "-l", selector)["items"]:
        meta, spec = item["metadata"], item["spec"]
        annotations = meta.get("annotations") or {}
        changed = dict(
            pair.split("=", 1) for pair in (annotations.get(render.PROTOCOLS_ANNOTATION) or "").split(",") if pair
        )
        conditions = {c["type"]: c for c in (item.get("status") or {}).get("conditions") or []}
        out.append(
            Entry(
                service=annotations.get(render.SERVICE_ANNOTATION, meta["name"]),
                namespace=meta["namespace"],
                name=meta["name"],
                host=spec["hosts"][0],
                addresses=spec.get("addresses") or [],
                ports=[(p["number"], changed.get(str(p["number"]), p["protocol"])) for p in spec["ports"]],
                export_to=spec.get("exportTo") or [],
                sources=[s for s in (annotations.get(render.SOURCES_ANNOTATION) or "").split(",") if s],
                endpoints=[e["address"] for e in spec.get("endpoints") or []],
                bound=conditions.get(BOUND),
            )
        )
    return sorted(out, key=lambda e: (e.service, e.namespace, e.name))


def registry_only(kubeconfig: Path, namespace: str) -> bool:
    """A namespace-wide Sidecar of the namespace sends unknown traffic to the black hole."""
    for item in kubectl_json(kubeconfig, "get", "sidecars.networking.istio.io", "-n", namespace)["items"]:
        spec = item.get("spec") or {}
        if (
            not spec.get("workloadSelector")
            and (spec.get("outboundTrafficPolicy") or {}).get("mode") == "REGISTRY_ONLY"
        ):
            return True
    return False


def ambient_namespaces(kubeconfig: Path, dataplane: str, namespaces: Iterable[str]) -> set[str]:
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


# --------------------------------------------------------------------------- calls and their verdicts


@dataclass
class Expected:
    """A call and what it must come to: routed to one of ``hosts`` reaching the address dialled, or
    not routed (the namespace's fallback: denied under REGISTRY_ONLY, passthrough otherwise)."""

    call: dict
    want: str
    hosts: frozenset = frozenset()
    why: str = ""


def judged(expected: Expected, got: dict) -> tuple[bool, str]:
    """Whether the probe's result is what was expected, and the line saying where the call went and,
    when not as expected, why."""
    verdict, cluster = got.get("verdict", "error"), got.get("cluster") or ""
    went = f"{verdict} {cluster}".strip()
    if got.get("error"):
        went += f" ({got['error']})"
    service = (got.get("service") or "").split("|")[-1]
    if expected.want == "routed":
        if verdict != "routed":
            reason = f"want routed to {' or '.join(sorted(expected.hosts))}, istiod gives {went}"
        elif expected.hosts and service not in expected.hosts:
            reason = f"routed to {service or cluster}, not to {' or '.join(sorted(expected.hosts))}"
        elif not got.get("dialled_only"):
            reach = ", ".join(got.get("addresses") or []) or f"{got.get('endpoints', 0)} endpoints"
            reason = f"routed to {cluster}, which reaches {reach}, not only the address dialled"
        else:
            return True, went
    elif verdict != expected.want:
        reason = f"want {expected.want} ({expected.why}), istiod gives {went}"
    else:
        return True, went
    return False, f"{went}: {reason}"


def call_text(call: dict) -> str:
    address = f"[{call['address']}]" if ":" in call["address"] else call["address"]
    extra = [f"{k}={call[k]}" for k in ("sni", "host") if call.get(k)]
    return f"{call['protocol']}://{address}:{call['port']}" + (f"?{'&'.join(extra)}" if extra else "")


def entry_calls(entry: Entry) -> list[dict]:
    """Each address:port of a ServiceEntry as a client calls it: the first and last address of each block."""
    calls = []
    for block in entry.addresses:
        for address in first_last(block):
            for number, protocol in entry.ports:
                calls.append(client_call(address, number, protocol, entry.client_name, entry.service))
    return calls


def not_routed(namespace: str, fallback: str) -> tuple[str, str]:
    why = "REGISTRY_ONLY" if fallback == "denied" else "no REGISTRY_ONLY Sidecar"
    return fallback, f"{why} in {namespace}"


def sidecar_expectations(
    namespace: str,
    fallback: str,
    here: list[Entry],
    elsewhere: list[Entry],
    *,
    skip_routed: Iterable[str] = (),
) -> list[Expected]:
    """A sidecar of the namespace: each ServiceEntry of the set on this cluster routed where it is exported to
    the namespace (not routed elsewhere); an undeclared address and port of each service and the entries of
    services applied to other clusters only, not routed. ``skip_routed``: services whose declared calls another
    view judges (through the gateway)."""
    visible = [e for e in here if e.exported_to(namespace)]

    def expect(call: dict) -> Expected:
        hosts = frozenset(e.host for e in visible if e.covers(call["address"], call["port"]))
        if hosts:
            return Expected(call, "routed", hosts)
        want, why = not_routed(namespace, fallback)
        return Expected(call, want, why=why)

    out = []
    for entry in here:
        if entry.service not in skip_routed:
            out += [expect(call) for call in entry_calls(entry)]
    by_service: dict[str, list[Entry]] = {}
    for entry in here:
        by_service.setdefault(entry.service, []).append(entry)
    for service, entries in by_service.items():
        first = entries[0]
        families = sorted({ipaddress.ip_network(b, strict=False).version for e in entries for b in e.addresses})
        for number, protocol in first.ports:
            for family in families:
                call = client_call(UNDECLARED[family], number, protocol, first.client_name, f"{service}, undeclared")
                out.append(expect(call))
        if first.addresses:
            address = first_last(first.addresses[0])[0]
            out.append(
                expect(
                    {
                        "name": f"{service}, undeclared port",
                        "address": address,
                        "port": UNDECLARED_PORT,
                        "protocol": "tcp",
                    }
                )
            )
    seen = set()
    for entry in elsewhere:
        for call in entry_calls(entry):
            key = (call["address"], call["port"])
            if key not in seen:
                seen.add(key)
                out.append(expect({**call, "name": f"{entry.service}, of other clusters"}))
    return out


def run_probe(cases: list[dict]) -> dict[str, dict]:
    res = subprocess.run(
        [str(ROOT / "tools" / "probe"), "batch"],
        input=json.dumps({"cases": cases}),
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise SystemExit(f"istioview: the probe failed: {res.stderr[-2000:]}")
    return {r["id"]: r for r in map(json.loads, res.stdout.splitlines())}


def sidecar_lines(result: dict, expectations: list[Expected]) -> tuple[list[str], list[str]]:
    """The lines of one sidecar case, and the reasons of the calls not as expected."""
    if result.get("error"):
        return [f"  the probe: {result['error']}  {_mark(False)}"], [f"the probe as a sidecar: {result['error']}"]
    fallback = {"BlackHoleCluster": "BlackHoleCluster (dropped: REGISTRY_ONLY)"}.get(
        result.get("fallback"), result.get("fallback")
    )
    lines, failed = [f"  traffic no rule matches: {fallback}"], []
    got = {c["call"]["name"]: c for c in result.get("calls") or []}
    for index, e in enumerate(expectations):
        ok, text = judged(e, got[f"{index}"])
        name = e.call["name"]
        lines.append(f"  {name} {call_text(e.call)} -> {text}  {_mark(ok)}")
        if not ok:
            failed.append(f"{name} {call_text(e.call)}: {text}")
    for metric, records in sorted((result.get("conflicts") or {}).items()):
        lines += [f"  conflict recorded by istiod, {metric} {r.get('key')}: {r.get('message')}" for r in records]
    return lines, failed


def numbered(expectations: list[Expected]) -> list[dict]:
    """The calls of a case, named by their index (names repeat: the view's names are for people)."""
    return [{**e.call, "name": str(i), "expect": e.want} for i, e in enumerate(expectations)]


# --------------------------------------------------------------------------- the egress gateway: sidecar and gateway


def gateway_lines(istiod: Path, units: list[Entry]) -> tuple[list[str], list[str]]:
    """Each unit (address:port) of the services through the gateway: a sidecar of its namespace sends it to
    the gateway over Istio mutual TLS with the unit's SNI, and the gateway forwards that SNI to that
    address:port only; an unknown SNI is refused."""
    cases, expected = [], {}
    for namespace in sorted({u.namespace for u in units}):
        calls = []
        for u in (u for u in units if u.namespace == namespace):
            for address in u.endpoints:
                for number, protocol in u.ports:
                    name = f"{address}:{number}"
                    calls.append(client_call(address, number, protocol, None, name))
                    expected[name] = u
        cases.append(
            {
                "id": f"sidecar {namespace}",
                "istiod": str(istiod),
                "workload": {"namespace": namespace, "ip_family": "dual"},
                "calls": calls,
            }
        )
    router = [mtls_call(u.host, f"{a}:{p}") for u in units for a in u.endpoints for p, _proto in u.ports]
    router.append(mtls_call(UNKNOWN_SNI, "unknown sni"))
    cases.append({"id": "router", "istiod": str(istiod), "workload": router_workload(), "calls": router})
    results = run_probe(cases)
    errors = [f"the probe as {r['id']}: {r['error']}" for r in results.values() if r.get("error")]
    if errors:
        return [f"  {e}  {_mark(False)}" for e in errors], errors
    gate = {c["call"]["name"]: c for c in results["router"]["calls"]}
    lines, failed = [], []
    for namespace in sorted({u.namespace for u in units}):
        side = {c["call"]["name"]: c for c in results[f"sidecar {namespace}"]["calls"]}
        for name, unit in expected.items():
            if unit.namespace == namespace:
                ok, line = unit_line(name, unit, side[name], gate[name])
                lines.append(line)
                if not ok:
                    failed.append(line.strip())
    unknown = gate["unknown sni"]
    refused = unknown["verdict"] == "denied"
    reason = "" if refused else f": want denied, the gateway gives {unknown['verdict']} {unknown.get('cluster') or ''}"
    lines.append(f"  gateway, an unknown SNI: {unknown['verdict']}{reason}  {_mark(refused)}")
    if not refused:
        failed.append(f"gateway, an unknown SNI{reason}")
    return lines, failed


def unit_line(name: str, unit: Entry, side: dict, gate: dict) -> tuple[bool, str]:
    """Where the sidecar and then the gateway send one address:port, and why not as expected."""
    address, port = name.rsplit(":", 1)
    tls = side.get("upstream_tls") or {}
    reasons = []
    if side["verdict"] != "routed" or not (side.get("cluster") or "").endswith(GATEWAY_HOST):
        reasons.append(f"the sidecar sends it to {side.get('cluster') or side['verdict']}, not to the gateway")
    elif tls.get("mode") != "ISTIO_MUTUAL" or tls.get("sni") != unit.host:
        reasons.append(
            f"the sidecar's TLS to the gateway is {tls.get('mode')} SNI {tls.get('sni')}, "
            f"not ISTIO_MUTUAL SNI {unit.host}"
        )
    want = f"outbound|{port}||{unit.host}"
    if gate["verdict"] != "routed" or gate.get("cluster") != want:
        reasons.append(f"the gateway sends SNI {unit.host} to {gate.get('cluster') or gate['verdict']}, not to {want}")
    elif (gate.get("addresses") or []) != [address]:
        reasons.append(
            f"the gateway's {want} reaches {', '.join(gate.get('addresses') or []) or 'nothing'}, not only {address}"
        )
    # The sidecar's cluster is outbound|<the gateway Service's port>|<subset>|<gateway host>.
    via = (
        f"gateway port {side['cluster'].split('|')[1]}, mTLS, SNI {tls.get('sni')}"
        if not reasons or not reasons[0].startswith("the sidecar")
        else side.get("cluster") or side["verdict"]
    )
    out = name if not any(r.startswith("the gateway") for r in reasons) else gate.get("cluster") or gate["verdict"]
    line = f"  {unit.service} {name} -> {via} -> {out}"
    if reasons:
        line += ": " + "; ".join(reasons)
    return not reasons, f"{line}  {_mark(not reasons)}"


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


def allowed_sources(service: dict, ns: str) -> tuple[list[str], list[str]]:
    """(namespaces, service accounts) the waypoint must admit: the service's
    allowed_sources, by default its own namespace."""
    sources = service.get("allowed_sources") or [ns]
    return sorted(s for s in sources if "/" not in s), sorted(s for s in sources if "/" in s)


def _waypoint_line(entry: Entry, call: dict, got: dict, *, namespaces: list[str], accounts: list[str]) -> str:
    """One address:port at the waypoint: routed to the address dialled, under one ALLOW policy
    admitting exactly the allowed sources; why not, when not."""
    want = inbound_vip_cluster(call["port"], entry.host)
    policies = [p for f in got.get("rbac") or [] for p in f["policies"] if f["action"] == "ALLOW"]
    admits = [(sorted(p.get("namespaces") or []), sorted(p.get("service_accounts") or [])) for p in policies]
    routed = got["verdict"] == "routed" and got.get("cluster") == want and got.get("dialled_only") is True
    guarded = admits == [(namespaces, accounts)]
    who = " ".join(namespaces + accounts) if guarded else f"{admits or 'anyone'}"
    out = f"{call['address']}:{call['port']}" if routed else got.get("cluster") or got["verdict"]
    reasons = []
    if not routed:
        reasons.append(
            f"want {want} reaching only {call['address']}, the waypoint gives {got['verdict']} {out}".rstrip()
        )
    if not guarded:
        reasons.append(f"want one ALLOW policy admitting {' '.join(namespaces + accounts)}, the waypoint has {who}")
    why = (": " + "; ".join(reasons)) if reasons else ""
    where = f"{call['address']}:{call['port']}"
    return f"  {entry.service} waypoint {where} -> {out}, only from {who}{why}  {_mark(not reasons)}"


def ambient_view(istiod: Path, entries: list[Entry], specs: dict[str, dict], every: list[Entry]) -> list[str]:
    """Each ServiceEntry of the ambient services as istiod programs it: what
    ztunnel gets (each address sent to the waypoint), what the waypoint does
    (each address:port routed under the policy admitting only the
    allowed sources; an undeclared address refused), and WaypointBound.
    Returns the lines to print, each ending in its verdict."""
    calls = []
    for e in entries:
        for block in e.addresses:
            for number, protocol in e.ports:
                for address in first_last(block):
                    call = client_call(address, number, protocol, None, f"{address}:{number}")
                    calls.append({**call, "name": f"{e.name} {call['name']}"})
    undeclared = []
    for e in entries:
        family = ipaddress.ip_network(e.addresses[0], strict=False).version
        number, protocol = e.ports[0]
        if not any(other.covers(UNDECLARED[family], number) for other in every):
            undeclared.append(client_call(UNDECLARED[family], number, protocol, None, f"undeclared {e.name}"))
    results = run_probe(
        [
            {"id": "ztunnel", "istiod": str(istiod), "workload": ztunnel_workload()},
            {"id": "waypoint", "istiod": str(istiod), "workload": waypoint_workload(), "calls": calls + undeclared},
        ]
    )
    for r in results.values():
        if r.get("error"):
            return [f"  the probe as {r['id']}: {r['error']}  {_mark(False)}"]
    wds = {s["resource"]: s for s in results["ztunnel"]["wds"]["services"]}
    judged_calls = {c["call"]["name"]: c for c in results["waypoint"]["calls"]}
    lines = []
    for e in entries:
        svc = wds.get(f"{e.namespace}/{e.host}") or {}
        waypoint = svc.get("waypoint") or {}
        sent = sorted(a.split("/", 1)[1] for a in svc.get("addresses") or [])
        to_waypoint = waypoint.get("hostname") == WAYPOINT_HOST and sent == sorted(e.addresses)
        via = f"waypoint {waypoint.get('namespace')}/{WAYPOINT_NAME}" if to_waypoint else (waypoint or "direct")
        why = ""
        if not svc:
            why = f": istiod sends ztunnel no service {e.namespace}/{e.host}"
        elif not to_waypoint:
            why = f": want {', '.join(e.addresses)} sent to {WAYPOINT_HOST}, ztunnel gets {', '.join(sent)} -> {via}"
        lines.append(f"  {e.service} {', '.join(e.addresses)} -> ztunnel -> {via}{why}  {_mark(to_waypoint)}")
        namespaces, accounts = allowed_sources(specs.get(e.service, {}), e.namespace)
        ours = [c for c in calls if c["name"].startswith(f"{e.name} ")]
        lines += [_waypoint_line(e, c, judged_calls[c["name"]], namespaces=namespaces, accounts=accounts) for c in ours]
        bound = e.bound or {}
        is_bound = bound.get("status") == "True"
        why = (
            "" if is_bound else f": istiod has not bound it to the waypoint ({bound.get('reason') or 'no status yet'})"
        )
        lines.append(
            f"  {e.service} {e.name}: {BOUND} {bound.get('status')} ({bound.get('message')}){why}  {_mark(is_bound)}"
        )
    for call in undeclared:
        got = judged_calls[call["name"]]
        refused = got["verdict"] == "denied"
        why = (
            "" if refused else f": want denied, the waypoint gives {got['verdict']} {got.get('cluster') or ''}".rstrip()
        )
        lines.append(
            f"  waypoint, an undeclared address {call['address']}:{call['port']}: "
            f"{got['verdict']}{why}  {_mark(refused)}"
        )
    return lines


# --------------------------------------------------------------------------- one cluster


def view(host: Host, cluster: Cluster, everywhere: dict[str, list[Entry]], state: Path) -> tuple[list[str], list[str]]:
    """The lines of one cluster's view, and the reasons of what is not as expected."""
    kubeconfig = cluster.dir / "admin.kubeconfig"
    istiod = state / cluster.name / "istiod.json"
    here = everywhere[host.name]
    declared = {s["name"]: s for s in host.services}
    namespaces = {s.get("namespace", host.namespace) for s in host.services} | {e.namespace for e in here}
    ambient_ns = ambient_namespaces(kubeconfig, host.dataplane, namespaces)
    lines, failed = [], []

    # What the rule set says applies here and the cluster does not hold.
    for name in declared:
        if not any(e.service == name for e in here):
            reason = f"service {name} applies to this cluster, which holds no ServiceEntry of it (not applied?)"
            lines.append(f"  {reason}  {_mark(False)}")
            failed.append(reason)
    # Services applied to other clusters only: not routed here.
    others = [e for h, entries in everywhere.items() if h != host.name for e in entries if e.service not in declared]

    sidecar = [e for e in here if e.namespace not in ambient_ns]
    ambient = [e for e in here if e.namespace in ambient_ns]
    through = {e.service for e in sidecar if e.service in declared and host.via_gateway(declared[e.service])}
    workloads = sorted(({host.namespace} | {e.namespace for e in sidecar}) - ambient_ns)
    cases, expectations = [], {}
    for ns in workloads:
        fallback = "denied" if registry_only(kubeconfig, ns) else "passthrough"
        expected = sidecar_expectations(ns, fallback, sidecar + ambient, others, skip_routed=through)
        expectations[ns] = expected
        cases.append(
            {
                "id": ns,
                "istiod": str(istiod),
                # The same objects in process, for the conflicts istiod records (as tools/probe does).
                "kubeconfig": str(kubeconfig),
                "workload": {"namespace": ns, "ip_family": "dual"},
                "calls": numbered(expected),
            }
        )
    results = run_probe(cases) if cases else {}
    for ns in workloads:
        lines.append(f"{host.name}: a sidecar of {ns}, as istiod programs it:")
        got, bad = sidecar_lines(results[ns], expectations[ns])
        lines += got
        failed += bad
    if through:
        mode = (host.vars.get("meshguard_egress_egress_gateway") or {}).get("mode", "mtls")
        if mode != "mtls":
            raise SystemExit("istioview: only the egress gateway's mtls mode is shown (the tests judge plain mode)")
        units = [e for e in sidecar if e.service in through]
        lines.append(
            f"{host.name}: through the egress gateway ({', '.join(sorted(through))}), "
            "as istiod programs the sidecar and the gateway:"
        )
        got, bad = gateway_lines(istiod, units)
        lines += got
        failed += bad
    if ambient:
        lines.append(
            f"{host.name}: ambient ({', '.join(sorted(ambient_ns))}: "
            f"{', '.join(sorted({e.service for e in ambient}))}), as istiod programs ztunnel and the waypoint:"
        )
        got = ambient_view(istiod, ambient, declared, here)
        lines += got
        failed += [line.strip() for line in got if line.endswith(_mark(False))]
    return lines, failed


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--inventory", type=Path, required=True, help="the inventory of the rollout (any form Ansible reads)"
    )
    parser.add_argument(
        "--group", default="egress_clusters", help="the group of cluster hosts (default egress_clusters)"
    )
    parser.add_argument("--state", type=Path, default=ROOT / ".cache" / "clusters", help="the local clusters' state")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds istiod may take to catch up")
    args = parser.parse_args(argv)
    hosts = inventory_hosts(args.inventory, args.group)
    mapped = map_hosts(hosts, args.state.resolve())
    status = 0
    for host in hosts:
        cluster = mapped[host.name]
        print(f"{host.name}: local cluster {cluster.name} ({cluster.server}), set {host.set_name}", flush=True)
        # istiod pushes a change a moment after the API server stored it: a view that is not as
        # expected is asked again for a few seconds.
        deadline = time.monotonic() + args.settle
        while True:
            everywhere = {h.name: set_entries(mapped[h.name].dir / "admin.kubeconfig", h.set_name) for h in hosts}
            lines, failed = view(host, cluster, everywhere, args.state.resolve())
            if not failed or time.monotonic() > deadline:
                break
            time.sleep(1)
        print("\n".join(lines))
        if failed:
            shown = "; ".join(failed[:5]) + (f"; and {len(failed) - 5} more" if len(failed) > 5 else "")
            print(f"{host.name}: NOT as expected ({len(failed)}): {shown}\n", flush=True)
            status = 1
        else:
            print(f"{host.name}: every call as expected\n", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
