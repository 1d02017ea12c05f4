# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Asking Istio's own code what a rendered rule set lets through.

The probe (.cache/bin/meshguard-probe, tools/istio/probe, built by `make
istio`) loads manifests into Istio's discovery server, or connects to a live
istiod as a workload's sidecar, and runs Istio's traffic simulator on calls
made as a real client makes them. This module builds those calls from what a
rule set declares, runs the probe in batches, and turns its answers into the
checks a user cares about: every declared address:port reachable, nothing
undeclared, no conflict, no endpoint more than declared. See
docs/docsite/rst/istio-in-the-loop.rst.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

# How a real client calls, shared with the demo's view (tools/istioview.py, on sys.path).
import istio_releases
from istioview import (
    GATEWAY_HOST,
    GATEWAY_LABELS,
    GATEWAY_MTLS_PORT,
    GATEWAY_NAMESPACE,
    GATEWAY_PLAIN_PORTS,
    GATEWAY_POD_IP,
    HBONE_PORT,
    PROTOCOLS,
    UNDECLARED,
    UNDECLARED_PORT,
    UNKNOWN_SNI,
    WAYPOINT_HOST,
    client_call,
    first_last,
    host_header,
    inbound_vip_cluster,
    mtls_call,
    router_workload,
    waypoint_workload,
    ztunnel_workload,
)
from localclusters.cluster import EGRESS_GATEWAY, WAYPOINT
from localclusters.cluster import WAYPOINT_NAME as _WAYPOINT_NAME
from localclusters.cluster import WAYPOINT_NAMESPACE as _WAYPOINT_NAMESPACE

__all__ = [
    "GATEWAY_HOST",
    "GATEWAY_LABELS",
    "GATEWAY_MTLS_PORT",
    "GATEWAY_NAMESPACE",
    "GATEWAY_PLAIN_PORTS",
    "GATEWAY_POD_IP",
    "HBONE_PORT",
    "PROTOCOLS",
    "UNDECLARED",
    "UNDECLARED_PORT",
    "UNKNOWN_SNI",
    "WAYPOINT_HOST",
    "client_call",
    "first_last",
    "host_header",
    "inbound_vip_cluster",
    "mtls_call",
    "router_workload",
    "waypoint_workload",
    "ztunnel_workload",
]

ROOT = Path(__file__).resolve().parents[2]
NEWEST = istio_releases.NEWEST


def probe_binary(release: str = NEWEST) -> Path:
    """The probe built from that release's istio.io/istio (istio_releases)."""
    return istio_releases.release(release).binary("meshguard-probe")


def istioctl_binary(release: str = NEWEST) -> Path:
    return istio_releases.release(release).binary("istioctl")


PROBE = probe_binary()
ISTIOCTL = istioctl_binary()

# --------------------------------------------------------------------------- the egress gateway

# Istio's egress gateway as the local clusters hold it (tools/clusters.py
# applies this folder to istio-system of every cluster): its Service, Pod,
# ServiceAccount and EndpointSlice. Load it next to a rendered folder for the
# probe (with_gateway), which otherwise sees no gateway. (istioctl analyze
# reads no Services or Pods from files: the gateway is analyzed live only.)
EGRESS_GATEWAY_FIXTURE = EGRESS_GATEWAY


def with_gateway(*manifests) -> list[str]:
    """A case's "manifests": these folders or files and the gateway's fixture."""
    return [*(str(m) for m in manifests), str(EGRESS_GATEWAY_FIXTURE)]


def gateway_cluster(port: int, subset: str) -> str:
    """The sidecar's cluster of a gateway subset: outbound|443|<subset>|istio-egressgateway..."""
    return f"outbound|{port}|{subset}|{GATEWAY_HOST}"


def service_cluster(port: int, host: str) -> str:
    """Istio's cluster of a service port: outbound|<port>||<host>."""
    return f"outbound|{port}||{host}"


def via_gateway(call: dict) -> tuple:
    """What a sidecar's call became: (cluster, upstream TLS mode, SNI,
    endpoint addresses). A call through the gateway in mtls mode gives
    (gateway_cluster(443, unit), "ISTIO_MUTUAL", <unit host>, [GATEWAY_POD_IP])."""
    tls = call.get("upstream_tls") or {}
    return (call.get("cluster"), tls.get("mode"), tls.get("sni"), call.get("addresses") or [])


def forwarded(call: dict) -> list[tuple]:
    """Where a router sends a call: [(cluster, [endpoint addresses])], one
    entry per weighted cluster (plain mode) or the one matched cluster."""
    if call.get("weighted_clusters"):
        return [(w["name"], w.get("addresses") or []) for w in call["weighted_clusters"]]
    if call.get("verdict") == "routed":
        return [(call.get("cluster"), call.get("addresses") or [])]
    return []


def rbac_policies(call: dict) -> list[dict]:
    """The network RBAC policies on the chain a call matched, each with its
    filter's action: [{"action", "name", "principals", "namespaces",
    "service_accounts", "server_names", "permissions"}]."""
    out = []
    for f in call.get("rbac") or []:
        for p in f["policies"]:
            out.append({"action": f["action"], "shadow": f.get("shadow", False), **p})
    return out


@dataclass
class Block:
    """A declared block: what the rule set says, and the name (if any) a
    client of it connects to."""

    cidr: str
    name: Optional[str] = None


@dataclass
class Declared:
    """What one service declares, independent of how it is rendered."""

    service: str
    protocol: str
    port: int
    blocks: list[Block]
    # Individual addresses (STATIC endpoints there may be at most).
    addresses: int
    names: list[str] = field(default_factory=list)


def positive_calls(d: Declared) -> list[dict]:
    """The first and last address of every declared block, on the declared port."""
    calls = []
    for block in d.blocks:
        for address in first_last(block.cidr):
            calls.append(client_call(address, d.port, d.protocol, block.name, f"declared {block.cidr} {address}"))
    return calls


def negative_calls(d: Declared, families: set[int]) -> list[dict]:
    """An undeclared address on the declared port, a declared address on an
    undeclared port, and every declared host name sent to an undeclared
    address (SNI or Host: what a client that resolved it differently, or a
    malicious one, sends)."""
    calls = []
    for family in sorted(families):
        outside = UNDECLARED[family]
        calls.append(client_call(outside, d.port, d.protocol, None, f"undeclared address {outside}"))
        kind = PROTOCOLS[d.protocol][1]
        if kind != "tcp":
            for name in d.names:
                calls.append(client_call(outside, d.port, d.protocol, name, f"undeclared address {outside} as {name}"))
    first = ipaddress.ip_network(d.blocks[0].cidr)[0]
    tag = f"undeclared port {first}:{UNDECLARED_PORT}"
    calls.append({"name": tag, "address": str(first), "port": UNDECLARED_PORT, "protocol": "tcp"})
    return calls


# --------------------------------------------------------------------------- through the egress gateway (mtls)


def units(resources: list[dict]) -> list[tuple[str, str, int]]:
    """(address, unit host, port) of every ServiceEntry of a rendering through the egress gateway:
    one per declared address and port, its host the SNI of its unit."""
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


def by_name(result: dict) -> dict[str, dict]:
    assert not result.get("error"), result.get("error")
    return {c["call"]["name"]: c for c in result["calls"]}


def own_conflicts(result: dict, hosts: set[str]) -> list[str]:
    """istiod's conflict records about these units (a live cluster holds other tests' objects too)."""
    return [c for c in conflicts(result) if any(h in c for h in hosts)]


def check_mtls_sidecar(result: dict, declared: list[tuple[str, str, int]]) -> None:
    """Each declared address:port goes to the gateway on 443 over Istio mTLS with its unit's SNI; others are denied."""
    calls = by_name(result)
    for address, host, port in declared:
        call = calls[f"declared {address}:{port}"]
        cluster, mode, sni, addresses = via_gateway(call)
        assert cluster is not None and cluster.startswith("outbound|443|"), describe(call)
        assert cluster.endswith(GATEWAY_HOST), describe(call)
        assert (mode, sni, addresses) == ("ISTIO_MUTUAL", host, [GATEWAY_POD_IP]), describe(call)
    for name in ("undeclared address", "undeclared port"):
        assert calls[name]["verdict"] == "denied", describe(calls[name])
    assert own_conflicts(result, {h for _a, h, _p in declared}) == []


def check_mtls_router(result: dict, declared: list[tuple[str, str, int]]) -> None:
    """The gateway forwards each unit's SNI to that one address and port, and denies an unknown SNI."""
    calls = by_name(result)
    for address, host, port in declared:
        got = forwarded(calls[f"sni {host}"])
        assert got == [(service_cluster(port, host), [address])], describe(calls[f"sni {host}"])
    assert calls["unknown sni"]["verdict"] == "denied", describe(calls["unknown sni"])
    assert own_conflicts(result, {h for _a, h, _p in declared}) == []


def sidecar_calls(declared: list[tuple[str, str, int]], undeclared: str) -> list[dict]:
    calls = [tcp(a, p, f"declared {a}:{p}") for a, _h, p in declared]
    address, _host, port = declared[0]
    calls += [tcp(undeclared, port, "undeclared address"), tcp(address, UNDECLARED_PORT, "undeclared port")]
    return calls


def mtls_router_calls(declared: list[tuple[str, str, int]]) -> list[dict]:
    return [
        *(mtls_call(h, f"sni {h}") for _a, h, _p in declared),
        mtls_call(UNKNOWN_SNI, "unknown sni"),
    ]


# --------------------------------------------------------------------------- running the probe


def probe(cases: list[dict], timeout: float = 1800, shards: int = 2, release: str = NEWEST) -> dict[str, dict]:
    """Run the probe of the Istio release on all cases, in `shards` processes side by side (the
    machine has two cores); results by case id."""
    binary = probe_binary(release)
    if not binary.exists():
        raise AssertionError(f"{binary} is missing: run `make istio`")
    groups = [cases[i::shards] for i in range(shards)]
    procs = []
    for group in groups:
        if group:
            p = subprocess.Popen(
                [str(binary), "batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            procs.append((p, json.dumps({"cases": group})))
    out = {}
    for p, request in procs:
        stdout, stderr = p.communicate(request, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError(f"the probe failed (exit {p.returncode}):\n{stderr[-3000:]}")
        for line in stdout.splitlines():
            r = json.loads(line)
            out[r["id"]] = r
    missing = [c["id"] for c in cases if c["id"] not in out]
    assert not missing, f"the probe gave no result for {missing}"
    return out


def judge_until(
    cases: list[dict], check: Callable[[dict[str, dict]], None], timeout: float = 30.0, release: str = NEWEST
) -> dict:
    """Probe until `check` (of the results by case id) passes: istiod catches up
    with the writes within seconds. After `timeout` seconds, fails with the
    last check's error."""
    deadline = time.monotonic() + timeout
    while True:
        results = probe(cases, shards=1, release=release)
        try:
            check(results)
            return results
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def describe(call: dict) -> str:
    c = call["call"]
    extra = "".join(f" {k}={c[k]}" for k in ("sni", "host") if c.get(k))
    where = " -> ".join(x for x in (call.get("listener"), call.get("filter_chain"), call.get("cluster")) if x)
    err = f" ({call['error']})" if call.get("error") else ""
    return f"{c['protocol']} {c['address']}:{c['port']}{extra}: {call['verdict']} [{where}]{err}"


def service_hosts(objects: list[dict]) -> set[str]:
    """The hosts of the rendered ServiceEntries: the cluster names a call to
    the service may be routed to (outbound|port||host)."""
    return {h for o in objects if o.get("kind") == "ServiceEntry" for h in o["spec"].get("hosts", [])}


def unreachable(result: dict, hosts: set[str]) -> list[str]:
    """Declared calls that Istio does not route to the service, or routes
    somewhere else than the address the client dialled."""
    bad = []
    for c in result["calls"]:
        if not c["call"]["name"].startswith("declared "):
            continue
        if c["verdict"] != "routed" or c.get("service") not in hosts:
            bad.append(describe(c))
        elif not c["dialled_only"]:
            bad.append(describe(c) + f" load-balanced over {c.get('endpoints')} endpoints, not to the dialled address")
    return bad


def leaks(result: dict, registry_only: bool) -> list[str]:
    """Undeclared calls that are not denied (REGISTRY_ONLY) or not passed
    through as unknown traffic (ALLOW_ANY)."""
    want = "denied" if registry_only else "passthrough"
    return [
        describe(c) for c in result["calls"] if not c["call"]["name"].startswith("declared ") and c["verdict"] != want
    ]


def conflicts(result: dict) -> list[str]:
    records = result["conflicts"].items()
    return [f"{metric}: {r['key']} {r.get('message', '')}".strip() for metric, rs in records for r in rs]


def endpoint_excess(result: dict, hosts: set[str], declared_addresses: int) -> list[str]:
    """Clusters of the service with more endpoints than the service declares addresses."""
    bad = []
    for cl in result["clusters"]:
        parts = cl["name"].split("|")
        if len(parts) == 4 and parts[3] in hosts and cl["endpoints"] > declared_addresses:
            bad.append(f"{cl['name']}: {cl['endpoints']} endpoints for {declared_addresses} declared addresses")
    return bad


def validation_messages(result: dict) -> list[str]:
    out = []
    for v in result.get("validation") or []:
        o = v["object"]
        if v.get("error"):
            out.append(f"{o['kind']} {o['namespace']}/{o['name']}: error: {v['error']}")
        for w in v.get("warnings") or []:
            out.append(f"{o['kind']} {o['namespace']}/{o['name']}: warning: {w}")
    return out


def analyze(*args: str, release: str = NEWEST) -> list[dict]:
    """The messages of `istioctl analyze` of the Istio release (JSON output); fails on an error
    of istioctl itself."""
    binary = istioctl_binary(release)
    if not binary.exists():
        raise AssertionError(f"{binary} is missing: run `make istio`")
    cmd = [str(binary), "analyze", "-o", "json", "--failure-threshold", "Error", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    try:
        messages = json.loads(res.stdout or "null")
    except ValueError:
        messages = None
    if not isinstance(messages, list):
        raise AssertionError(f"istioctl analyze {' '.join(args)}: exit {res.returncode}:\n{res.stdout}{res.stderr}")
    return messages


def analyze_folder(*paths, release: str = NEWEST) -> list[dict]:
    """Folders (or files) of manifests alone, read recursively. Analyzers
    that need Services or Pods are skipped (files never provide them), so
    the egress gateway is only analyzed on a cluster (analyze_cluster). -A:
    without it istioctl analyses the objects of namespace "default" only,
    and says there is nothing to report about the others."""
    return analyze("--use-kube=false", "-A", *(str(p) for p in paths), release=release)


def analyze_cluster(kubeconfig, context: str, release: str = NEWEST) -> list[dict]:
    """A cluster's live objects, every namespace."""
    return analyze("--kubeconfig", str(kubeconfig), "--context", context, "-A", release=release)


def analyze_message(m: dict) -> str:
    """IST0134 Warning ServiceEntry shop/x: the message."""
    where = m.get("origin", "")
    return f"{m.get('code')} {m.get('level')} {where}: {m.get('message', '')}".strip()


# --------------------------------------------------------------------------- ambient: ztunnel and the waypoint

# The waypoint the local clusters can make ready (tools/istio/waypoint: its
# Service and one instance; the Gateway is the rule set's).
WAYPOINT_NAME = _WAYPOINT_NAME
WAYPOINT_NAMESPACE = _WAYPOINT_NAMESPACE
WAYPOINT_FIXTURE = WAYPOINT


def wds_services(result: dict) -> dict[str, dict]:
    """The Services istiod sent the probe's ztunnel, by resource name "<namespace>/<hostname>"."""
    assert not result.get("error"), result.get("error")
    return {s["resource"]: s for s in result["wds"]["services"]}


def client_pod(ns: str) -> dict:
    """An ambient workload of the namespace, never scheduled (no kubelet), as
    Istio's CNI agent leaves a pod it has redirected into ztunnel (annotation
    ambient.istio.io/redirection: enabled). A real namespace with policies
    has such pods; without one, istioctl analyze reports each policy
    (IST0127 "No matching workloads": its AuthorizationPolicy analyzer reads
    no targetRefs, and counts a pod as ambient by that annotation only,
    PodInAmbientMode)."""
    meta = {
        "name": "api",
        "namespace": ns,
        "labels": {"app": "api"},
        "annotations": {"ambient.istio.io/redirection": "enabled"},
    }
    spec = {
        "serviceAccountName": "api",
        "automountServiceAccountToken": False,
        "containers": [{"name": "app", "image": "client-never-pulled"}],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def conditions(local_clusters, ctx: str, o: dict) -> dict[str, dict]:
    """The object's status conditions by type, as the API server holds them."""
    group = o["apiVersion"].split("/", maxsplit=1)[0]
    kind = f"{o['kind'].lower()}.{group}"
    meta = o["metadata"]
    (live,) = local_clusters.get(ctx, kind, meta["namespace"], meta["name"])
    return {c["type"]: c for c in (live.get("status") or {}).get("conditions") or []}


def wait_condition(local_clusters, ctx: str, o: dict, kind: str, *, want: tuple[str, str], timeout: float = 60) -> dict:
    """Until istiod has written condition `kind` with this (status, reason);
    fails with what the object says."""
    deadline = time.monotonic() + timeout
    while True:
        found = conditions(local_clusters, ctx, o).get(kind)
        if found and (found["status"], found["reason"]) == want:
            return found
        if time.monotonic() > deadline:
            meta = o["metadata"]
            raise AssertionError(f"{o['kind']} {meta['namespace']}/{meta['name']}: {kind} is {found}, want {want}")
        time.sleep(0.5)
