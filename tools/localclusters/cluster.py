# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One local cluster: a kube-apiserver with an embedded etcd (.cache/bin/kube-local), its state folder,
kubectl against it, and what every cluster holds (Istio's CRDs, the Gateway API, the read-only role,
the egress gateway's and the waypoint's objects)."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .common import KUBE_BIN, KUBECTL, ROOT, START_TIMEOUT, free_ports, log, port_in_use, write_private
from .gateway_api import GATEWAY_API_GROUP, GatewayAPI
from .istiod import ISTIOD_PORTS, Istiod
from .kubeconfig import kubeconfig_for
from .pki import READONLY_USER, make_pki

# Istio's egress gateway as an install creates it in istio-system (its
# Service, ServiceAccount, a Pod that is never scheduled, an EndpointSlice):
# applied to every cluster, and loaded by the tests next to rendered folders.
EGRESS_GATEWAY = ROOT / "tools" / "istio" / "egress-gateway"
EGRESS_GATEWAY_SERVICE = "istio-egressgateway"
# What stands in for Istio's deployment controller for the waypoint Gateway
# egress-waypoint of istio-egress (its Service, an EndpointSlice to its one
# instance): with it istiod itself marks that Gateway ready once a rule set
# writes it. Applied to every cluster, loaded by the tests for the probe.
WAYPOINT = ROOT / "tools" / "istio" / "waypoint"
WAYPOINT_NAMESPACE = "istio-egress"
WAYPOINT_NAME = "egress-waypoint"
# Istio's Go validation refuses this ServiceEntry; its CRD schema and CEL

READONLY_RBAC = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: meshguard-readonly
rules:
- apiGroups: ["networking.istio.io", "networking.k8s.io", "security.istio.io", "gateway.networking.k8s.io"]
  resources: ["*"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: meshguard-readonly
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: meshguard-readonly
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: {READONLY_USER}
"""


@dataclass
class Cluster:
    name: str
    dir: Path
    # Where this start's output begins in apiserver.log (shown when it fails).
    log_start: int = 0

    @property
    def meta(self) -> dict:
        return json.loads((self.dir / "cluster.json").read_text())

    @property
    def port(self) -> int:
        return self.meta["port"]

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        try:
            pid = int((self.dir / "pid").read_text())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        # A recycled pid must not be mistaken for our apiserver. An empty
        # command line is a process between fork and exec (just started) or
        # one that is exiting: alive unless it is already a zombie.
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return None
        if state in ("Z", "X"):
            return None
        return pid if b"kube-local" in cmd or not cmd else None

    def init(self) -> None:
        if not (self.dir / "cluster.json").exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            port, etcd_port, peer_port = free_ports(3)
            meta = {"name": self.name, "port": port, "etcd_port": etcd_port, "etcd_peer_port": peer_port}
            (self.dir / "cluster.json").write_text(json.dumps(meta, indent=2) + "\n")
        if "istiod" not in self.meta:
            # A state from before istiod joined the platform gets its ports now.
            meta = self.meta
            meta["istiod"] = dict(zip(ISTIOD_PORTS, free_ports(len(ISTIOD_PORTS))))
            (self.dir / "cluster.json").write_text(json.dumps(meta, indent=2) + "\n")
        make_pki(self.dir / "pki", self.name)
        self.istiod.write_addresses()

    @property
    def istiod(self) -> Istiod:
        return Istiod(self)

    def set_istio(self, release_name: str, istiod_env: dict[str, str]) -> None:
        """The Istio release and istiod switches this cluster runs with, kept in cluster.json."""
        meta = self.meta
        if meta.get("istio") != release_name or (meta.get("istiod_env") or {}) != istiod_env:
            meta["istio"], meta["istiod_env"] = release_name, dict(istiod_env)
            (self.dir / "cluster.json").write_text(json.dumps(meta, indent=2) + "\n")

    def start(self) -> None:
        if self.pid():
            return
        self.init()
        meta = self.reassign_taken(("port", "etcd_port", "etcd_peer_port"))
        pki = self.dir / "pki"
        args = [
            str(KUBE_BIN),
            f"--etcd-dir={self.dir / 'etcd'}",
            f"--etcd-port={meta['etcd_port']}",
            f"--etcd-peer-port={meta['etcd_peer_port']}",
            "--",
            f"--etcd-servers=http://127.0.0.1:{meta['etcd_port']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={meta['port']}",
            f"--cert-dir={self.dir / 'certs'}",
            f"--tls-cert-file={pki / 'serving.crt'}",
            f"--tls-private-key-file={pki / 'serving.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer=https://127.0.0.1:{meta['port']}/",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            # No controller-manager runs, so nothing would create service
            # accounts or endpoints; these plugins would only get in the way.
            "--disable-admission-plugins=ServiceAccount",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=1",
        ]
        self.log_start = (self.dir / "apiserver.log").stat().st_size if (self.dir / "apiserver.log").exists() else 0
        logf = open(self.dir / "apiserver.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            args, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        logf.close()
        (self.dir / "pid").write_text(f"{proc.pid}\n")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        pid = self.pid()
        if not pid:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pid():
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            while self.pid():
                time.sleep(0.1)
        # A killed process leaves its command line before its sockets and file
        # locks (etcd's database): a new start must wait for those too.
        meta = self.meta
        ports = (meta["port"], meta["etcd_port"], meta["etcd_peer_port"])
        while any(port_in_use(p) for p in ports) and time.monotonic() < deadline + 10:
            time.sleep(0.1)
        (self.dir / "pid").unlink(missing_ok=True)

    def shutdown(self) -> None:
        """This cluster stopped with its istiod, istiod first: it would only
        retry against a stopped API server."""
        if "istiod" in self.meta and self.istiod.pid():
            self.istiod.stop()
            log(f"stopped istiod of {self.name}")
        if self.pid():
            self.stop()
            log(f"stopped {self.name}")

    def reassign_taken(self, keys: tuple[str, ...], section: str | None = None) -> dict:
        """The stored ports, with any that another process took since they were
        chosen (a stale state, a reused machine) replaced by free ones: a port
        is only ours while our process holds it. Kubeconfigs and the webhook
        are written from these on every start."""
        meta = self.meta
        ports = meta[section] if section else meta
        taken = [k for k in keys if port_in_use(ports[k])]
        if taken:
            for k, new in zip(taken, free_ports(len(taken))):
                what = f"{section or 'apiserver'} {k}"
                log(f"{self.name}: port {ports[k]} ({what}) is taken by another process; using {new}")
                ports[k] = new
            (self.dir / "cluster.json").write_text(json.dumps(meta, indent=2) + "\n")
            self.istiod.write_addresses()
        return meta

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.dir / "pki" / "ca.crt"))
        ctx.load_cert_chain(str(self.dir / "pki" / "admin.crt"), str(self.dir / "pki" / "admin.key"))
        return ctx

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        req = urllib.request.Request(self.server + path)
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(), timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.pid():
                with open(self.dir / "apiserver.log", "rb") as f:
                    f.seek(self.log_start)
                    tail = f.read().decode(errors="replace")[-3000:]
                raise SystemExit(f"clusters: {self.name} exited during start; end of its log:\n{tail}")
            try:
                status = self.get("/readyz", timeout=2)[0]
                if status == 200:
                    return
                last = f"HTTP {status}"
            except OSError as e:
                last = str(e)
            time.sleep(0.3)
        raise SystemExit(f"clusters: {self.name} not ready after {timeout:.0f}s ({last}); see {self.dir}/apiserver.log")

    def kubectl(self, *args: str, stdin: str | None = None, context: str | None = None) -> str:
        cmd = [str(KUBECTL), f"--kubeconfig={self.dir / 'admin.kubeconfig'}", *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise SystemExit(f"clusters: kubectl {' '.join(args)} on {self.name} failed: {res.stderr.strip()}")
        return res.stdout

    def kubectl_result(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        cmd = [str(KUBECTL), f"--kubeconfig={self.dir / 'admin.kubeconfig'}", *args]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)

    def ensure_namespace(self, name: str) -> None:
        if self.kubectl_result("get", "namespace", name).returncode != 0:
            self.kubectl("create", "namespace", name)

    def apply_egress_gateway(self) -> None:
        """The egress gateway's objects (tools/istio/egress-gateway), by
        server-side apply: unchanged objects are not written again."""
        self.kubectl("apply", "--server-side", "--field-manager=meshguard-local", "-f", str(EGRESS_GATEWAY))

    def apply_waypoint(self) -> None:
        """The waypoint's namespace and objects (tools/istio/waypoint), by
        server-side apply."""
        self.ensure_namespace(WAYPOINT_NAMESPACE)
        self.kubectl("apply", "--server-side", "--field-manager=meshguard-local", "-f", str(WAYPOINT))

    def write_admin_kubeconfig(self) -> None:
        cfg = kubeconfig_for([self], readonly=False)
        write_private(self.dir / "admin.kubeconfig", json.dumps(cfg).encode())

    def install(self, crds: Path, gateway_api: Optional[GatewayAPI]) -> None:
        """Istio's CRDs, the Gateway API's standard CRDs (unless None) and the
        read-only role; a no-op when already there. Every Gateway API CRD is
        waited for (Established): istiod starts after this, and decides at
        start which of them it watches."""
        self.write_admin_kubeconfig()
        stamp = self.dir / "installed"
        bundles = [crds] + ([gateway_api.bundle] if gateway_api else [])
        want = f"{crds.stat().st_size}:{crds.parent.name}"
        if gateway_api:
            want += f":{gateway_api.bundle.stat().st_size}:{gateway_api.version}"
        with_gateway_api = gateway_api is not None
        if not (stamp.exists() and stamp.read_text() == want and self._served(with_gateway_api)):
            for bundle in bundles:
                self.kubectl(
                    "apply", "--server-side", "--force-conflicts", "--field-manager=meshguard-local", "-f", str(bundle)
                )
            self.kubectl("apply", "--server-side", "--field-manager=meshguard-local", "-f", "-", stdin=READONLY_RBAC)
            self.kubectl(
                "wait",
                "--for=condition=Established",
                "--timeout=120s",
                "crd/serviceentries.networking.istio.io",
                *(f"crd/{name}" for name in (gateway_api.crds if gateway_api else [])),
            )
            stamp.write_text(want)
        deadline = time.monotonic() + 60
        while not self._served(with_gateway_api):
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"clusters: serviceentries.networking.istio.io or gateways.{GATEWAY_API_GROUP}"
                    f" not served on {self.name}"
                )
            time.sleep(0.3)

    def _served(self, gateway_api: bool = True) -> bool:
        status, body = self.get("/apis/networking.istio.io/v1")
        if not (status == 200 and b'"serviceentries"' in body):
            return False
        if not gateway_api:
            return True
        status, body = self.get(f"/apis/{GATEWAY_API_GROUP}/v1")
        return status == 200 and b'"gateways"' in body
