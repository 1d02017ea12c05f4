# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The packet check: a rule set applied to a cluster of its own, and a real
Envoy, programmed by that cluster's istiod as the sidecar of a workload of
the set's namespace, carrying or refusing real connections.

    .venv/bin/python tools/packets.py --ruleset rules.yml [--zones DIR] [--istio 1.30]
    make packets RULESET=rules.yml [ZONES=DIR] [ISTIO=1.30]

The rule set is a vars file of meshguard.egress.rules (set, namespace,
services, registry_only, egress_gateway, ...; the rollout role's
meshguard_egress_* variables are read too). With ZONES, a DNS server of the
check answers the set's host names from those zone files.

Prints one JSON line per connection (destination, expected, outcome, the
Envoy cluster that carried it) and last a line
`packets: N declared carried, M undeclared refused, R config rejections`.
Exits 0 only when every declared connection was carried (through the egress
gateway where the service goes through it), every undeclared one refused
(or, without REGISTRY_ONLY, passed through, which the output says), and
Envoy rejected nothing istiod sent. See docs/docsite/rst/istio-in-the-loop.rst, "Packets".
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import dnsserver
import istio_releases
import packet_expect
import yaml
from istioview import GATEWAY_LABELS, GATEWAY_NAMESPACE, GATEWAY_POD, GATEWAY_SERVICE_ACCOUNT, UNDECLARED_PORT
from localclusters.cluster import Cluster
from localclusters.clusterset import ClusterSet
from packet_envoy import Envoy, Node
from packet_expect import CARRIED, PASSTHROUGH, REFUSED, Declared, Target, library
from packet_net import GATEWAY_IPS, PROXY_UID, Network

ROOT = Path(__file__).resolve().parent.parent
HELPER = istio_releases.BIN / "meshguard-packets"
STATE = ROOT / ".cache" / "packets"
# istiod's switches for upstream Envoy, only on the packet check's clusters:
# with their defaults istiod sends Istio-only filters that upstream Envoy
# rejects: istio.metadata_exchange on every service cluster, istio.alpn and
# peer metadata on HTTP listeners (pilot/pkg/features telemetry.go, pilot.go).
# And Istio's dual-stack mode (ISTIO_DUAL_STACK, experimental, pilot/pkg/features/experimental.go), as a
# dual-stack mesh runs it: without it istiod binds a dual-stack proxy's wildcard listeners, 15001 among
# them, to 0.0.0.0 only (pilot/pkg/networking/core/listener_address.go), so the IPv6 half of the capture
# has no listener to land on and every IPv6 connection is reset before Envoy sees it.
SWITCHES = {"PILOT_ENABLE_METADATA_EXCHANGE": "false", "PILOT_ENABLE_ALPN_FILTER": "false", "ISTIO_DUAL_STACK": "true"}
FAMILIES = {"ipv4": frozenset({4}), "ipv6": frozenset({6}), "dual": frozenset({4, 6})}
# Istio's own clusters a connection may end in: not a service of the rule set.
UNKNOWN = {"PassthroughCluster", "BlackHoleCluster", "InboundPassthroughCluster"}
CONTROL = {"xds-grpc", "sds-grpc"}
ROLE_ONLY = {"kubeconfig", "context", "host", "state", "dest", "check_mode"}


# --------------------------------------------------------------------------- the rule set


def rule_set(path: Path, cluster: Optional[str], namespace: Optional[str]) -> tuple[dict, str]:
    """The rules module's options from a vars file (module options, or the role's meshguard_egress_*), for
    the services of one namespace; and that namespace."""
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise SystemExit(f"packets: {path} is not a mapping of the rules module's options")
    params: dict[str, Any] = {}
    for name, value in raw.items():
        key = name.removeprefix("meshguard_egress_")
        if key == "resolver" and isinstance(value, dict):
            params.update(value)  # the role's resolver options are the module's own
        elif key not in ROLE_ONLY:
            params[key] = value
    services = params.get("services") or []
    if any(isinstance(s, dict) and "clusters" in s for s in services):
        if not cluster:
            raise SystemExit("packets: services name `clusters`: say which cluster's services to check (--cluster)")
        services = library("_rollout.scope").scoped(services, cluster)
    namespace = namespace or params.get("namespace") or "default"
    mine = [s for s in services if (s.get("namespace") or params.get("namespace") or "default") == namespace]
    if not mine:
        raise SystemExit(f"packets: the rule set has no service in namespace {namespace}")
    if params.get("dataplane") == "ambient":
        raise SystemExit(
            "packets: an ambient rule set is judged by istiod only (upstream Envoy cannot be the waypoint, and"
            " no ztunnel is obtainable here): docs/docsite/rst/istio-in-the-loop.rst"
        )
    # The check's workload has a sidecar: the namespace is not in ambient mode.
    params.update(services=mine, dataplane="sidecar", state="present")
    params.pop("waypoint", None)
    return params, namespace


# --------------------------------------------------------------------------- the check


@dataclass
class Outcome:
    target: Target
    served_by: str
    sidecar: list[str]
    gateway: list[str]
    error: str = ""
    http_status: int = 0

    @property
    def reached(self) -> bool:
        """The server that answered is the one dialled (or, plain mode, one the gateway balances over)."""
        return any(_same(self.served_by, d) for d in (self.target.destination, *self.target.balanced))

    @property
    def outcome(self) -> str:
        if self.reached:
            return PASSTHROUGH if "PassthroughCluster" in self.sidecar else CARRIED
        return "misdelivered" if self.served_by else REFUSED

    @property
    def carried_by_gateway(self) -> bool:
        return any(c not in UNKNOWN and not c.startswith("no_filter_chain_match") for c in self.gateway)

    @property
    def ok(self) -> bool:
        if self.outcome != self.target.expected:
            return False
        return self.target.expected != CARRIED or self.carried_by_gateway == self.target.via_gateway

    def text(self) -> str:
        """One line for people: destination, what the client sent, outcome, the clusters, verdict."""
        t = self.target
        what = t.protocol + "".join(f" {k}={v}" for k, v in (("sni", t.sni), ("host", t.host)) if v)
        who = f" ({t.service})" if t.service else " (undeclared)"
        path = " -> ".join(x for x in (", ".join(self.sidecar), ", ".join(self.gateway)) if x)
        verdict = "as declared" if self.ok else f"NOT as declared: expected {t.expected}"
        gateway = " via the egress gateway" if self.carried_by_gateway else ""
        if not path:
            path = f"HTTP {self.http_status} from Envoy" if self.http_status else "no cluster"
        return f"{t.destination:<30} {what}{who}: {self.outcome}{gateway} [{path}] {verdict}"

    def line(self, namespace: str) -> dict:
        t = self.target
        out: dict[str, Any] = {"destination": t.destination, "protocol": t.protocol}
        out.update({k: v for k, v in (("sni", t.sni), ("host", t.host), ("service", t.service)) if v})
        out["expected"] = t.expected + (" via the egress gateway" if t.via_gateway else "")
        out["outcome"] = self.outcome + (" via the egress gateway" if self.carried_by_gateway else "")
        out["cluster"] = ", ".join(self.sidecar) or None
        if self.http_status and not self.reached:
            out["http_status"] = self.http_status
        if t.via_gateway or self.gateway:
            out["gateway_cluster"] = ", ".join(self.gateway) or None
        if self.reached and not _same(self.served_by, t.destination):
            out["served_by"] = self.served_by
            out["note"] = "plain mode: the gateway balances over the service's addresses, not the one dialled"
        if self.outcome == PASSTHROUGH:
            out["note"] = f"passed through to an undeclared address: namespace {namespace} is not REGISTRY_ONLY"
        if self.error and not self.reached:
            out["error"] = self.error
        out["ok"] = self.ok
        return out


def _same(served: str, destination: str) -> bool:
    if not served:
        return False
    host, port = served.rsplit(":", 1)
    want_host, want_port = destination.rsplit(":", 1)
    try:
        return ipaddress.ip_address(host.strip("[]")) == ipaddress.ip_address(want_host.strip("[]")) and (
            port == want_port
        )
    except ValueError:
        return False


@dataclass
class Report:
    outcomes: list[Outcome]
    problems: list[str]
    namespace: str
    notes: list[str] = field(default_factory=list)

    @property
    def rejections(self) -> int:
        return sum(1 for p in self.problems if not p.startswith("  "))

    @property
    def ok(self) -> bool:
        return not self.problems and all(o.ok for o in self.outcomes)

    def summary(self) -> str:
        carried = sum(1 for o in self.outcomes if o.target.expected == CARRIED and o.ok)
        refused = sum(1 for o in self.outcomes if o.target.expected == REFUSED and o.ok)
        passed = sum(1 for o in self.outcomes if o.target.expected == PASSTHROUGH and o.ok)
        line = f"packets: {carried} declared carried, {refused} undeclared refused, {self.rejections} config rejections"
        if passed:
            line += f", {passed} undeclared passed through (namespace {self.namespace} is not REGISTRY_ONLY)"
        bad = sum(1 for o in self.outcomes if not o.ok)
        if bad:
            line += f"; {bad} of {len(self.outcomes)} connections NOT as the rule set says"
        return line


class Check:
    """One rule set on one cluster (already applied), judged by packets."""

    def __init__(self, work: Path, cluster: Cluster, plan: Declared, release: str, account: str = "default") -> None:
        self.work = work
        self.sockets: Optional[Path] = None  # the Unix sockets' folder while a run is up
        self.cluster = cluster
        self.plan = plan
        self.release = istio_releases.release(release)
        self.account = account
        self.procs: list[subprocess.Popen] = []
        self.envoys: list[Envoy] = []
        self.net = Network(plan.direct, plan.via_gateway, plan.families, UNDECLARED_PORT)
        # Seconds to keep everything up after the connections (--hold), to look at Envoy.
        self.hold = 0.0

    def run(self) -> Report:
        if not HELPER.exists():
            raise SystemExit(f"packets: {HELPER} is missing; run `make istio`")
        needs_gateway = any(t.via_gateway for t in self.plan.targets)
        self.work.mkdir(parents=True, exist_ok=True)
        # Unix sockets in a short folder of their own: a socket's path may not exceed 108 bytes, which
        # a run folder under a checkout's .cache can (Envoy refuses to start). Envoy's uid creates its
        # admin socket there.
        self.sockets = Path(tempfile.mkdtemp(prefix="mg-packets-", dir="/tmp"))
        os.chown(self.sockets, PROXY_UID, PROXY_UID)
        self.sockets.chmod(0o755)
        try:
            self.net.up()
            xds = self.cluster.istiod.addresses()["xds"]
            sock = {k: self.sockets / f"{k}.sock" for k in ("xds", "app-sds", "gw-sds")}
            app_id = f"spiffe://cluster.local/ns/{self.plan.namespace}/sa/{self.account}"
            gw_id = f"spiffe://cluster.local/ns/{GATEWAY_NAMESPACE}/sa/{GATEWAY_SERVICE_ACCOUNT}"
            self.start(
                "host",
                [
                    str(HELPER),
                    "host",
                    f"--relay={sock['xds']}={xds}",
                    f"--sds={sock['app-sds']}={app_id}",
                    f"--sds={sock['gw-sds']}={gw_id}",
                ],
            )
            ports = ",".join(str(p) for p in sorted(self.plan.ports))
            self.start("servers", [*self.net.exec(self.net.net), str(HELPER), "serve", f"--ports={ports}"])
            version = _proxy_version(self.release)
            ns = self.plan.namespace
            app = Envoy(
                "sidecar",
                Node("sidecar", "client", ns, {"app": "client"}, self.net.app_ips, version),
                self.net.exec(self.net.app),
                self.work / "sidecar",
                xds=sock["xds"],
                sds=sock["app-sds"],
                admin=self.sockets / "sidecar-admin.sock",
            )
            self.envoys.append(app)
            if needs_gateway:
                labels = dict(GATEWAY_LABELS)
                self.envoys.append(
                    Envoy(
                        "gateway",
                        Node("router", GATEWAY_POD, GATEWAY_NAMESPACE, labels, GATEWAY_IPS, version),
                        self.net.exec(self.net.gw),
                        self.work / "gateway",
                        xds=sock["xds"],
                        sds=sock["gw-sds"],
                        admin=self.sockets / "gateway-admin.sock",
                    )
                )
            for e in self.envoys:
                e.start()
            for e in self.envoys:
                e.wait_configured()
            problems = [f"{e.name}: {p}" if not p.startswith("  ") else p for e in self.envoys for p in e.problems()]
            self.bypass()
            outcomes = self.dial()
            if self.hold:
                print(f"packets: holding {self.hold:.0f}s; Envoy admin sockets in {self.sockets}", file=sys.stderr)
                time.sleep(self.hold)
            return Report(outcomes, problems, ns)
        finally:
            self.stop()

    def start(self, name: str, cmd: list[str]) -> None:
        """A helper process, once it says ready."""
        log = open(self.work / f"{name}.log", "wb")  # noqa: SIM115 - the child's
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append(proc)
        line = proc.stdout.readline().decode().strip() if proc.stdout else ""
        if line != "ready":
            proc.wait(timeout=5)
            raise SystemExit(f"packets: {name} did not start: {(self.work / f'{name}.log').read_text()[-2000:]}")

    def dial(self) -> list[Outcome]:
        admins = [f"--admin={e.admin}" for e in self.envoys]
        lines = self._dial([*self.net.exec(self.net.app), str(HELPER), "dial", *admins], self.plan.targets)
        gateway = len(self.envoys) > 1
        out = []
        for t in self.plan.targets:
            r = lines[t.id]
            counted = [c or [] for c in r.get("clusters") or [[]]]
            sidecar = [c for c in counted[0] if c not in CONTROL]
            through = [c for c in counted[1] if c not in CONTROL] if gateway else []
            out.append(
                Outcome(t, r.get("served_by", ""), sidecar, through, r.get("error", ""), r.get("http_status", 0))
            )
        return out

    def bypass(self) -> None:
        """Every target answers when Envoy is not in the way (the app's connections as Envoy's own uid,
        which the capture exempts; the gateway's services from the gateway's namespace): so a refused
        connection was refused by Envoy, not by a missing server."""
        groups = {
            "app": (
                [
                    *self.net.exec(self.net.app),
                    "setpriv",
                    f"--reuid={PROXY_UID}",
                    f"--regid={PROXY_UID}",
                    "--clear-groups",
                ],
                [t for t in self.plan.targets if not t.via_gateway],
            ),
            "gateway": ([*self.net.exec(self.net.gw)], [t for t in self.plan.targets if t.via_gateway]),
        }
        for where, (prefix, targets) in groups.items():
            if not targets:
                continue
            # Bypassing, a client speaks to the server itself: plain TCP, whatever the protocol.
            plain = [Target(**{**t.__dict__, "protocol": "tcp", "sni": None, "host": None}) for t in targets]
            lines = self._dial([*prefix, str(HELPER), "dial"], plain)
            missing = [t.destination for t in plain if not _same(lines[t.id].get("served_by", ""), t.destination)]
            if missing:
                raise SystemExit(f"packets: without Envoy, from {where}, no server answered at {missing}")

    def _dial(self, cmd: list[str], targets: list[Target]) -> dict[str, dict]:
        res = subprocess.run(
            cmd, input=json.dumps([t.dial() for t in targets]), capture_output=True, text=True, check=False
        )
        if res.returncode != 0:
            raise SystemExit(f"packets: the client failed: {res.stderr.strip()}")
        return {r["id"]: r for r in map(json.loads, res.stdout.splitlines())}

    def stop(self) -> None:
        for e in self.envoys:
            e.stop()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        self.net.down()
        if self.sockets is not None:
            shutil.rmtree(self.sockets, ignore_errors=True)
            self.sockets = None


def _proxy_version(release: istio_releases.Release) -> str:
    """The proxy version the release's probe claims (its --version), so Envoy presents itself as that release's."""
    cmd = [str(release.binary("meshguard-probe")), "--version"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    version = res.stdout.strip()
    if res.returncode != 0 or not version:
        raise SystemExit(f"packets: {release.binary('meshguard-probe')} --version: {res.stderr.strip()}")
    return version


# --------------------------------------------------------------------------- applying, and waiting for istiod


def apply(params: dict) -> dict:
    """The rule set applied as the rules module does (its result; in process, as its action plugin runs it)."""
    result = library("_engine").module_result(params, check_mode=False, diff=False)
    if result.get("failed"):
        raise SystemExit(f"packets: the rules module failed: {result.get('msg')}")
    return result


def wait_istiod(cluster: Cluster, objects: list[dict], timeout: float = 30.0) -> None:
    """Until istiod holds every object of the set (its /debug/configz)."""
    want = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects}
    url = f"http://{cluster.istiod.addresses()['debug']}/debug/configz"
    deadline = time.monotonic() + timeout
    missing = want
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                configs = json.load(r) or []
            have = {(c["kind"], c["metadata"].get("namespace", ""), c["metadata"]["name"]) for c in configs}
            missing = {w for w in want if w not in have and w[0] != "NetworkPolicy"}
        except (OSError, ValueError):
            pass
        if not missing:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"packets: istiod does not hold {sorted(missing)[:5]} after {timeout:.0f}s")
        time.sleep(0.2)


def checked(
    cluster: Cluster,
    params: dict,
    namespace: str,
    work: Path,
    *,
    release: str,
    account: str = "default",
    family: str = "dual",
    hold: float = 0.0,
) -> Report:
    """Apply the rule set to the cluster (as its admin), judge it by packets, and remove it."""
    params = {**params, "kubeconfig": str(cluster.dir / "admin.kubeconfig"), "context": cluster.name}
    params = packet_expect.module_params(params)
    plan = packet_expect.declared(params, namespace, FAMILIES[family], account)
    if cluster.kubectl_result("get", "namespace", namespace).returncode != 0:
        cluster.kubectl("create", "namespace", namespace)
    try:
        result = apply(params)
        wait_istiod(cluster, result["resources"])
        check = Check(work, cluster, plan, release, account)
        check.hold = hold
        report = check.run()
    finally:
        # The set leaves the cluster as it found it: a kept cluster checks the next set alone.
        apply({**params, "state": "absent"})
    if plan.elsewhere:
        report.notes.append(f"not checked here (other namespaces): {', '.join(plan.elsewhere)}")
    if plan.unreachable:
        report.notes.append(f"not dialled (the workload is {family}): {', '.join(plan.unreachable)}")
    return report


def packet_cluster(release: str, state: Path = STATE) -> ClusterSet:
    """The check's own cluster set of a release: state under .cache/packets/<release>."""
    base = state / release
    return ClusterSet(base, base / "kubeconfig", prefix="packets")


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ruleset", type=Path, required=True, help="vars file of the rules module (or the role)")
    p.add_argument("--zones", type=Path, help="zone files the check's own DNS server answers from")
    p.add_argument("--istio", default=istio_releases.NEWEST, choices=sorted(istio_releases.RELEASES))
    p.add_argument("--namespace", help="the workload's namespace (default: the set's)")
    p.add_argument("--cluster", help="with services that name `clusters`: the inventory host whose services to check")
    p.add_argument("--ip-family", choices=sorted(FAMILIES), default="dual", help="the workload's addresses")
    p.add_argument("--service-account", default="default", help="the workload's service account")
    p.add_argument("--keep", action="store_true", help="leave the cluster (and DNS server) running")
    p.add_argument("--format", choices=("json", "text"), default="json", help="one JSON line, or a line of text")
    p.add_argument("--hold", type=float, default=0.0, help="seconds to keep the Envoys up afterwards, to look at them")
    p.add_argument("--state", type=Path, default=STATE, help="where the check's clusters and runs live")
    args = p.parse_args(argv)
    if not shutil.which("iptables-restore"):
        raise SystemExit("packets: iptables is missing; `make packets` installs it (Debian package iptables)")
    params, namespace = rule_set(args.ruleset.resolve(), args.cluster, args.namespace)
    state = args.state.resolve()
    work = state / "runs" / time.strftime("%Y%m%d-%H%M%S")
    dns_server = None
    cs = packet_cluster(args.istio, state)
    started = not any(c.pid() for c in cs.known())
    # stdout is the verdicts' alone: what the platform says on its way goes to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            if args.zones:
                port = dnsserver.free_port()
                dns_server = dnsserver.up(args.zones, port, work / "dns")
                params.update(nameservers=["127.0.0.1"], port=port)
            (cluster,) = cs.up(1, release_name=args.istio, istiod_env=SWITCHES)
            options = {"account": args.service_account, "family": args.ip_family, "hold": args.hold}
            report = checked(cluster, params, namespace, work, release=args.istio, **options)
        finally:
            if dns_server is not None and not args.keep:
                dnsserver.down(dns_server.port, work / "dns")
            if started and not args.keep:
                cs.down()
    for o in report.outcomes:
        print(json.dumps(o.line(namespace)) if args.format == "json" else o.text())
    for problem in report.problems:
        print(f"config: {problem}", file=sys.stderr)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
