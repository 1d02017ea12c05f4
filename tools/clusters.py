# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local Kubernetes control planes for tests, benchmarks and the demo.

Each cluster is one process of .cache/bin/kube-local: the official
kube-apiserver (built from k8s.io/kubernetes by tools/build-kube.sh) in front
of an embedded etcd with its own data directory. No kubelet, no containers.
TLS with a CA generated at run time per cluster, RBAC authorization, client
certificates for an admin (system:masters) and, on the first cluster, a
read-only user. Istio's real CRDs are installed on every cluster, and an
istiod (pilot-discovery, built from istio.io/istio by tools/build-istio.sh)
runs next to each API server: it watches the cluster through its admin
kubeconfig, serves xDS on loopback ports of its own, and its validating
webhook is registered, so every write and dry run of an Istio object goes
through Istio's own validation.

    tools/clusters.py up --count 3      # idempotent; returns when served
    tools/clusters.py down              # stops every cluster, no process left
    tools/clusters.py stop local-2      # one cluster (fault tests)
    tools/clusters.py start local-2
    tools/clusters.py status            # pids and memory of apiservers and istiods

State lives in --state (default .cache/clusters); the kubeconfig with
contexts local-1 .. local-N and local-1-readonly is written to --kubeconfig
(default .cache/kubeconfig). Test suites use their own --state and
--kubeconfig so they never touch the clusters of `make clusters`. Each
cluster's istiod addresses are in <state>/<name>/istiod.json (for
tools/probe and the tests).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from istio_releases import NEWEST, Release, release

ROOT = Path(__file__).resolve().parent.parent
KUBE_BIN = ROOT / ".cache" / "bin" / "kube-local"
# istiod of the newest release; a cluster's own is its release's (istio_releases).
ISTIOD_BIN = release(None).binary("pilot-discovery")
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
# Istio's CRDs come from the istio.io/api Go module (pinned per release in
# istio_releases, checked against the Go checksum database by `go mod
# download`); the copy in ../shared is only a fallback for machines without
# the module proxy (the newest release's only).
ISTIO_API_MODULE = release(None).crd_module
ISTIO_CRD_PATH = "kubernetes/customresourcedefinitions.gen.yaml"
SHARED_CRDS = ROOT.parent / "shared" / "istio" / "crd-all.gen.yaml"
# The Gateway API's standard channel (a waypoint is a Gateway of class
# istio-waypoint), from the sigs.k8s.io/gateway-api module that the pinned
# istio.io/istio requires (tools/istio/go.mod): its own kustomization lists
# the files (the CRDs and the safe-upgrades ValidatingAdmissionPolicy).
GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
GATEWAY_API_KUSTOMIZATION = "config/crd/kustomization.yaml"
ISTIO_GO_MODULE_DIR = ROOT / "tools" / "istio"
READONLY_USER = "local-readonly"
START_TIMEOUT = 180.0
ISTIO_NAMESPACE = "istio-system"
# The name Istio's base chart gives the webhook of the default revision.
WEBHOOK_NAME = "istiod-default-validator"
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
# rules accept it (pkg/config/validation: ValidateServiceEntry). The probe of
# a live webhook in `up` and in the tests.
WEBHOOK_PROBE_MESSAGE = "multiple hosts provided with non-HTTP, non-TLS ports"

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


def log(msg: str) -> None:
    print(msg, flush=True)


# --- certificates -----------------------------------------------------------


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _issue(ca_key, ca_cert, common_name: str, groups: list[str], server: bool, *, sans=None):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    name += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(name))
        .issuer_name(ca_cert.subject if ca_cert is not None else x509.Name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
    )
    # Python 3.13 verifies strictly (RFC 5280): key identifiers are required.
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    if ca_cert is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        key_usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(key_usage, critical=True)
        return key, builder.sign(key, hashes.SHA256())
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
    )
    if server:
        sans = sans or [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
    else:
        usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _pem_key(k) -> bytes:
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _pem_cert(c) -> bytes:
    return c.public_bytes(serialization.Encoding.PEM)


def make_pki(d: Path, cluster: str) -> None:
    """CA, serving cert, admin and read-only client certs, SA signing key."""
    make_istiod_pki(d, cluster)
    if (d / "ca.crt").exists():
        return
    d.mkdir(parents=True, exist_ok=True)

    ca_key, ca = _issue(None, None, f"meshguard-local-ca-{cluster}", [], False)
    for stem, cn, groups, server in (
        ("serving", "localhost", [], True),
        ("admin", f"admin-{cluster}", ["system:masters"], False),
        ("readonly", READONLY_USER, [], False),
    ):
        key, cert = _issue(ca_key, ca, cn, groups, server)
        _write_private(d / f"{stem}.key", _pem_key(key))
        (d / f"{stem}.crt").write_bytes(_pem_cert(cert))
    sa = ec.generate_private_key(ec.SECP256R1())
    _write_private(d / "sa.key", _pem_key(sa))
    (d / "sa.pub").write_bytes(
        sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    _write_private(d / "ca.key", _pem_key(ca_key))
    (d / "ca.crt").write_bytes(_pem_cert(ca))


def make_istiod_pki(d: Path, cluster: str) -> None:
    """istiod's serving certificate (its webhook and TLS gRPC ports), from a
    CA of its own: the API server checks the webhook against this CA (the
    caBundle), and the name it dials, 127.0.0.1, is in the certificate. The
    DNS name is the one Istio's charts give the Service (istiod.<ns>.svc),
    which istiod also puts in its own certificates (getDNSNames)."""
    if (d / "istiod-ca.crt").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca = _issue(None, None, f"meshguard-local-istiod-ca-{cluster}", [], False)
    sans = [x509.DNSName(f"istiod.{ISTIO_NAMESPACE}.svc"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    key, cert = _issue(ca_key, ca, f"istiod.{ISTIO_NAMESPACE}.svc", [], True, sans=sans)
    _write_private(d / "istiod.key", _pem_key(key))
    (d / "istiod.crt").write_bytes(_pem_cert(cert))
    # The CA's key is not needed again: nothing else is ever signed by it.
    (d / "istiod-ca.crt").write_bytes(_pem_cert(ca))


# --- one cluster ------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay bound until every port is known."""
    socks = [socket.socket() for _index in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


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
        _write_private(self.dir / "admin.kubeconfig", json.dumps(cfg).encode())

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


# --- istiod next to a cluster ------------------------------------------------

# Every port istiod listens on, moved off its defaults so that several run
# side by side (defaults: 8080, 15010, 15012, 15017, 15014, 9876).
ISTIOD_PORTS = ("http", "grpc", "secure_grpc", "https", "monitoring", "ctrlz")

# Ambient mode, read by istiod at package init (pilot/pkg/features/ambient.go:
# it turns on the istio-waypoint GatewayClass, PILOT_ENABLE_AMBIENT_WAYPOINTS,
# and the WaypointBound status, AMBIENT_ENABLE_STATUS; ztunnel connections
# are refused without it, pilot/pkg/xds/ads.go). The Gateway API deployment
# controller is off: it would render a waypoint's Deployment and Service
# from injection templates that do not exist here (injection is off); the
# waypoint's Service and instance are applied by tools/clusters.py itself
# (tools/istio/waypoint).
AMBIENT_ENV = {
    "PILOT_ENABLE_AMBIENT": "true",
    "PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER": "false",
}
# The istiod switches a cluster may ask for (`istiod_env` in cluster.json):
# the packet check's, for upstream Envoy (tools/packets.py). A running istiod
# with one the cluster does not ask for is restarted without it.
SWITCHES = ("PILOT_ENABLE_METADATA_EXCHANGE", "PILOT_ENABLE_ALPN_FILTER", "ISTIO_DUAL_STACK")


@dataclass
class Istiod:
    """istiod (pilot-discovery) for one cluster, outside any pod: it reads the
    cluster through the admin kubeconfig, as `discovery --kubeconfig` allows,
    with POD_NAMESPACE telling it its namespace."""

    cluster: Cluster

    @property
    def ports(self) -> dict[str, int]:
        return self.cluster.meta["istiod"]

    @property
    def log_path(self) -> Path:
        return self.cluster.dir / "istiod.log"

    def addresses(self) -> dict[str, str]:
        p = self.ports
        return {
            "xds": f"127.0.0.1:{p['grpc']}",
            "debug": f"127.0.0.1:{p['http']}",
            "webhook": f"https://127.0.0.1:{p['https']}/validate",
            "monitoring": f"127.0.0.1:{p['monitoring']}",
        }

    def write_addresses(self) -> None:
        path = self.cluster.dir / "istiod.json"
        text = json.dumps(self.addresses(), indent=2) + "\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)

    def pid(self) -> int | None:
        try:
            pid = int((self.cluster.dir / "istiod.pid").read_text())
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        if state in ("Z", "X"):
            return None
        # Ours: pilot-discovery with this cluster's kubeconfig (or just forked).
        return pid if (b"pilot-discovery" in cmd and str(self.cluster.dir).encode() in cmd) or not cmd else None

    @property
    def release(self) -> Release:
        """The Istio release this cluster runs (`up --istio`; the newest if none was asked for)."""
        return release(self.cluster.meta.get("istio"))

    @property
    def extra_env(self) -> dict[str, str]:
        """Environment this cluster's istiod gets beyond the platform's (the packet check's switches)."""
        return dict(self.cluster.meta.get("istiod_env") or {})

    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.cluster.dir),
            # What the pod's downward API gives istiod in a cluster.
            "POD_NAMESPACE": ISTIO_NAMESPACE,
            "POD_NAME": f"istiod-{self.cluster.name}",
            # No sidecar injection: there are no pods, and its templates
            # live in a ConfigMap that nothing installs here.
            "INJECT_ENABLED": "false",
            **AMBIENT_ENV,
            **self.extra_env,
        }

    def env_current(self) -> bool:
        """Whether the running istiod is the binary of the cluster's release
        and has the environment start gives it (one started before ambient
        was on, or of another release, or with other switches, is not:
        restart it)."""
        pid = self.pid()
        try:
            raw = Path(f"/proc/{pid}/environ").read_bytes()
            binary = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            return True  # not readable: keep it
        running = dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)
        switches = {k: running[k] for k in SWITCHES if k in running}
        return (
            binary == str(self.release.binary("pilot-discovery"))
            and all(running.get(k) == v for k, v in AMBIENT_ENV.items())
            and switches == self.extra_env
        )

    def start(self) -> None:
        if self.pid():
            return
        ports = self.cluster.reassign_taken(ISTIOD_PORTS, "istiod")["istiod"]
        pki = self.cluster.dir / "pki"
        args = [
            str(self.release.binary("pilot-discovery")),
            "discovery",
            f"--kubeconfig={self.cluster.dir / 'admin.kubeconfig'}",
            f"--httpAddr=127.0.0.1:{ports['http']}",
            f"--grpcAddr=127.0.0.1:{ports['grpc']}",
            f"--secureGRPCAddr=127.0.0.1:{ports['secure_grpc']}",
            f"--httpsAddr=127.0.0.1:{ports['https']}",
            f"--monitoringAddr=127.0.0.1:{ports['monitoring']}",
            "--ctrlz_address=127.0.0.1",
            f"--ctrlz_port={ports['ctrlz']}",
            # A serving certificate of our own (hasCustomTLSCerts in
            # pilot/pkg/bootstrap/server.go): the webhook's caBundle is known
            # before istiod starts, so it is registered complete, as Istio's
            # chart does with base.validationCABundle.
            f"--tlsCertFile={pki / 'istiod.crt'}",
            f"--tlsKeyFile={pki / 'istiod.key'}",
            f"--caCertFile={pki / 'istiod-ca.crt'}",
            "--log_output_level=default:info",
        ]
        env = self.env()
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        (self.cluster.dir / "istiod.log_start").write_text(str(offset))
        logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            args,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=self.cluster.dir,
        )
        logf.close()
        (self.cluster.dir / "istiod.pid").write_text(f"{proc.pid}\n")

    def _log_tail(self) -> str:
        try:
            offset = int((self.cluster.dir / "istiod.log_start").read_text())
        except (OSError, ValueError):
            offset = 0
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")[-3000:]

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until /ready answers 200: istiod has synced its caches and its
        webhook server listens."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.ports['http']}/ready"
        last = ""
        while time.monotonic() < deadline:
            if not self.pid():
                raise SystemExit(f"clusters: istiod of {self.cluster.name} exited; end of its log:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
                    last = f"HTTP {r.status}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except OSError as e:
                last = str(e)
            time.sleep(0.3)
        raise SystemExit(
            f"clusters: istiod of {self.cluster.name} not ready after {timeout:.0f}s ({last}); see {self.log_path}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        pid = self.pid()
        if not pid:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.pid() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pid():
            os.kill(pid, signal.SIGKILL)
            while self.pid():
                time.sleep(0.1)
        while any(port_in_use(p) for p in self.ports.values()) and time.monotonic() < deadline + 10:
            time.sleep(0.1)
        (self.cluster.dir / "istiod.pid").unlink(missing_ok=True)

    def webhook_config(self) -> dict:
        """Istio's default-revision validating webhook (manifests/charts/base,
        defaultrevision-validatingwebhookconfiguration.yaml) with the chart's
        base.validationURL and base.validationCABundle: the API server calls
        istiod at 127.0.0.1 (an EndpointSlice cannot point a Service there:
        its validation refuses loopback addresses), checks its certificate
        against our CA, and refuses writes when istiod does not answer
        (failurePolicy Fail). istiod's webhook controller finds it complete
        (caBundle equal to its --caCertFile, policy Fail) and leaves it alone."""
        ca = (self.cluster.dir / "pki" / "istiod-ca.crt").read_bytes()
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {
                "name": WEBHOOK_NAME,
                "labels": {"app": "istiod", "istio": "istiod", "istio.io/rev": "default"},
            },
            "webhooks": [
                {
                    "name": "validation.istio.io",
                    "clientConfig": {"url": self.addresses()["webhook"], "caBundle": base64.b64encode(ca).decode()},
                    "rules": [
                        {
                            "operations": ["CREATE", "UPDATE"],
                            "apiGroups": [
                                "security.istio.io",
                                "networking.istio.io",
                                "telemetry.istio.io",
                                "extensions.istio.io",
                            ],
                            "apiVersions": ["*"],
                            "resources": ["*"],
                        }
                    ],
                    "failurePolicy": "Fail",
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                }
            ],
        }

    def register_webhook(self) -> None:
        self.cluster.kubectl(
            "apply",
            "--server-side",
            "--field-manager=meshguard-local",
            "-f",
            "-",
            stdin=json.dumps(self.webhook_config()),
        )

    def wait_webhook(self, timeout: float = 60.0) -> None:
        """Until the API server refuses, on a dry run, an object that only
        Istio's Go validation refuses: the webhook is registered and live."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            res = self.cluster.kubectl_result(
                "create", "--dry-run=server", "-f", "-", stdin=json.dumps(webhook_probe_object(ISTIO_NAMESPACE))
            )
            if res.returncode != 0 and WEBHOOK_PROBE_MESSAGE in res.stderr:
                return
            last = res.stderr.strip() or "accepted"
            time.sleep(0.3)
        raise SystemExit(f"clusters: Istio's webhook on {self.cluster.name} is not live after {timeout:.0f}s: {last}")

    def rss_mib(self) -> int | None:
        return rss_mib(self.pid())


def webhook_probe_object(namespace: str, name: str = "meshguard-webhook-probe") -> dict:
    """Two hosts, a TCP port and resolution DNS: the CRD's schema and CEL
    rules accept it, Istio's ValidateServiceEntry refuses it."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "hosts": ["a.example.test", "b.example.test"],
            "ports": [{"number": 5432, "name": "tcp-5432", "protocol": "TCP"}],
            "location": "MESH_EXTERNAL",
            "resolution": "DNS",
        },
    }


def rss_mib(pid: int | None) -> int | None:
    if not pid:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return None


# --- a set of clusters --------------------------------------------------------


def kubeconfig_for(clusters: list[Cluster], readonly: bool = True) -> dict:
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    cfg: dict = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for c in clusters:
        pki = c.dir / "pki"
        cfg["clusters"].append(
            {"name": c.name, "cluster": {"server": c.server, "certificate-authority-data": b64(pki / "ca.crt")}}
        )
        users = [("admin", f"{c.name}-admin", c.name)]
        if readonly and c.name.endswith("-1"):
            users.append(("readonly", f"{c.name}-readonly", f"{c.name}-readonly"))
        for stem, user, context in users:
            cfg["users"].append(
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(pki / f"{stem}.crt"),
                        "client-key-data": b64(pki / f"{stem}.key"),
                    },
                }
            )
            cfg["contexts"].append({"name": context, "context": {"cluster": c.name, "user": user}})
    if clusters:
        cfg["current-context"] = clusters[0].name
    return cfg


class ClusterSet:
    def __init__(self, state: Path, kubeconfig: Path, prefix: str = "local") -> None:
        # Absolute: the paths end up in flags of processes with another cwd.
        self.state = state.resolve()
        self.kubeconfig = kubeconfig.resolve()
        self.prefix = prefix

    def cluster(self, name: str) -> Cluster:
        return Cluster(name, self.state / name)

    def known(self) -> list[Cluster]:
        if not self.state.is_dir():
            return []
        names = [p.name for p in self.state.iterdir() if (p / "cluster.json").exists()]
        return [self.cluster(n) for n in sorted(names, key=lambda n: int(n.rsplit("-", 1)[1]))]

    def up(
        self,
        count: int,
        istio: bool = True,
        gateway_api: bool = True,
        release_name: Optional[str] = None,
        istiod_env: Optional[dict[str, str]] = None,
    ) -> list[Cluster]:
        """Start (or find running) count clusters. istio=False leaves Istio's
        CRDs and istiod out: an API server where Istio is missing, for tests.
        gateway_api=False installs Istio's CRDs only, without the Gateway API
        CRDs and without istiod (its waypoints need them): an API server
        where the Gateway API is missing, for tests. release_name: the Istio
        release (istio_releases; default the newest) whose CRDs and istiod
        the clusters get; istiod_env: switches of SWITCHES for their istiods.
        A running istiod of another release or other switches is restarted."""
        wanted = release(release_name)
        unknown = sorted(set(istiod_env or {}) - set(SWITCHES))
        if unknown:
            raise SystemExit(f"clusters: istiod_env {unknown}: only {', '.join(SWITCHES)}")
        # Without the Gateway API no istiod starts: its binary is not needed.
        check_binaries(istio and gateway_api, wanted)
        crds = istio_crds(wanted) if istio else None
        gateway_crds = gateway_api_crds(wanted) if istio and gateway_api else None
        istio = istio and gateway_api
        clusters = [self.cluster(f"{self.prefix}-{i}") for i in range(1, count + 1)]
        started = []
        for c in clusters:
            c.init()
            c.set_istio(wanted.name, istiod_env or {})
            if not c.pid():
                c.start()
                started.append(c.name)
        t0 = time.monotonic()
        for c in clusters:
            c.wait_ready()
            if crds is not None:
                c.install(crds, gateway_crds)
            else:
                c.write_admin_kubeconfig()
        self.write_kubeconfig()
        if started:
            log(f"started {', '.join(started)} in {time.monotonic() - t0:.1f}s")
        if istio:
            self.istiods_up(clusters)
        for c in clusters:
            line = f"{c.name}: {c.server} (pid {c.pid()})"
            if istio:
                line += f", istiod xDS {c.istiod.addresses()['xds']} (pid {c.istiod.pid()})"
            log(line)
        log(f"kubeconfig: {self.kubeconfig} (contexts {', '.join(self.contexts())})")
        return clusters

    def istiods_up(self, clusters: list[Cluster]) -> None:
        """An istiod per cluster, its namespace created first with the egress
        gateway's objects in it (and the waypoint's in theirs), then its webhook registered and checked
        live. Idempotent: a running istiod is kept, and applying unchanged
        objects or an unchanged webhook writes nothing."""
        started = []
        t0 = time.monotonic()
        for c in clusters:
            c.ensure_namespace(ISTIO_NAMESPACE)
            c.apply_egress_gateway()
            c.apply_waypoint()
            if c.istiod.pid() and not c.istiod.env_current():
                log(f"{c.name}: istiod is not Istio {c.istiod.release.name} with the environment asked; restarting it")
                c.istiod.stop()
            if not c.istiod.pid():
                c.istiod.start()
                started.append(c.name)
        for c in clusters:
            c.istiod.wait_ready()
            c.istiod.register_webhook()
        for c in clusters:
            c.istiod.wait_webhook()
        if started:
            log(f"started istiod on {', '.join(started)} in {time.monotonic() - t0:.1f}s (webhooks live)")

    def contexts(self) -> list[str]:
        cfg = json.loads(self.kubeconfig.read_text()) if self.kubeconfig.exists() else {}
        return [c["name"] for c in cfg.get("contexts", [])]

    def write_kubeconfig(self) -> None:
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        # JSON is valid YAML; kubectl and the Python client read it as is.
        cfg = kubeconfig_for(self.known())
        _write_private(self.kubeconfig, (json.dumps(cfg, indent=2) + "\n").encode())

    def down(self) -> None:
        for c in self.known():
            c.shutdown()

    def status(self) -> list[dict]:
        out = []
        for c in self.known():
            pid = c.pid()
            entry = {"name": c.name, "server": c.server, "pid": pid, "rss_mib": rss_mib(pid)}
            if "istiod" in c.meta:
                ipid = c.istiod.pid()
                entry["istiod"] = {**c.istiod.addresses(), "pid": ipid, "rss_mib": rss_mib(ipid)}
            out.append(entry)
        return out


def check_binaries(istio: bool = True, wanted: Optional[Release] = None) -> None:
    if not KUBE_BIN.exists():
        raise SystemExit(f"clusters: {KUBE_BIN} is missing; run `make clusters` (it builds it with Go >= 1.26)")
    istiod = (wanted or release(None)).binary("pilot-discovery")
    if istio and not istiod.exists():
        name = (wanted or release(None)).name
        raise SystemExit(
            f"clusters: {istiod} is missing; run `make clusters ISTIO={name}` (it builds it with Go >= 1.26)"
        )
    if not KUBECTL.exists():
        raise SystemExit(f"clusters: {KUBECTL} is missing; run `make setup`")


def istio_crds(wanted: Optional[Release] = None) -> Path:
    """Path of Istio's CRD bundle, from the istio.io/api Go module of the release (default the newest)."""
    module = (wanted or release(None)).crd_module
    cached = ROOT / ".cache" / "istio" / module.replace("/", "_").replace("@", "-") / "crds.yaml"
    if cached.exists():
        return cached
    download = ["go", "mod", "download", "-json", module]
    res = subprocess.run(download, capture_output=True, text=True, check=False, cwd="/")
    source = None
    if res.returncode == 0:
        source = Path(json.loads(res.stdout)["Dir"]) / ISTIO_CRD_PATH
    elif SHARED_CRDS.exists() and module == ISTIO_API_MODULE:
        log(f"clusters: go mod download {module} failed ({res.stderr.strip()}); using {SHARED_CRDS}")
        source = SHARED_CRDS
    if source is None or not source.exists():
        raise SystemExit(f"clusters: cannot get Istio's CRDs: go mod download {module}: {res.stderr.strip()}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(source.read_bytes())
    return cached


GATEWAY_API_GROUP = "gateway.networking.k8s.io"


@dataclass
class GatewayAPI:
    """The Gateway API's standard channel: one bundle of its files, and the
    names of its CRDs."""

    version: str
    bundle: Path
    crds: list[str]


def gateway_api_crds(wanted: Optional[Release] = None) -> GatewayAPI:
    """The Gateway API standard channel of the version the release's go.mod
    in tools/istio pins (the one its istio.io/istio requires), from the Go module cache:
    `go mod download` there fetches it (checked against go.sum) only if the
    cache lacks it. The files are the ones the module's kustomization lists,
    in its order, bundled into one file under .cache/istio."""
    res = subprocess.run(
        ["go", "mod", "download", "-json", GATEWAY_API_MODULE],
        capture_output=True,
        text=True,
        check=False,
        cwd=ISTIO_GO_MODULE_DIR,
        env=(wanted or release(None)).go_env(),
    )
    if res.returncode != 0:
        raise SystemExit(
            f"clusters: cannot get the Gateway API CRDs: go mod download {GATEWAY_API_MODULE}"
            f" in {ISTIO_GO_MODULE_DIR}: {res.stderr.strip() or res.stdout.strip()}"
        )
    info = json.loads(res.stdout)
    version, source = info["Version"], Path(info["Dir"])
    files = []
    for line in (source / GATEWAY_API_KUSTOMIZATION).read_text().splitlines():
        entry = line.strip()
        if entry.startswith("- ") and entry.endswith(".yaml"):
            files.append(source / "config" / "crd" / entry[2:].strip())
    if not files:
        raise SystemExit(f"clusters: {source / GATEWAY_API_KUSTOMIZATION} lists no files")
    # gateway.networking.k8s.io_<plural>.yaml holds the CRD <plural>.gateway.networking.k8s.io.
    prefix = GATEWAY_API_GROUP + "_"
    crds = [f"{f.stem[len(prefix) :]}.{GATEWAY_API_GROUP}" for f in files if "_vap_" not in f.name]
    bundle = ROOT / ".cache" / "istio" / f"gateway-api-{version}" / "standard.yaml"
    text = "\n---\n".join(f.read_text() for f in files)
    if not bundle.exists() or bundle.read_text() != text:
        bundle.parent.mkdir(parents=True, exist_ok=True)
        bundle.write_text(text)
    return GatewayAPI(version, bundle, crds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state", type=Path, default=ROOT / ".cache" / "clusters")
    p.add_argument("--kubeconfig", type=Path, default=ROOT / ".cache" / "kubeconfig")
    p.add_argument("--prefix", default="local")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("--count", type=int, default=3)
    up.add_argument("--no-istio", action="store_true", help="leave Istio's CRDs out")
    up.add_argument("--istio", default=NEWEST, help="the Istio release of istiod and the CRDs (istio_releases)")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("crds", help="fetch Istio's CRDs (pinned istio.io/api module) and print their path")
    for verb in ("start", "stop", "kill"):
        sp = sub.add_parser(verb)
        sp.add_argument("name")
    args = p.parse_args(argv)
    cs = ClusterSet(args.state, args.kubeconfig, args.prefix)
    if args.cmd == "up":
        cs.up(args.count, istio=not args.no_istio, release_name=args.istio)
    elif args.cmd == "down":
        cs.down()
    elif args.cmd == "crds":
        print(istio_crds())
    elif args.cmd == "status":
        print(json.dumps(cs.status(), indent=2))
    elif args.cmd == "start":
        c = cs.cluster(args.name)
        c.start()
        c.wait_ready()
    elif args.cmd == "stop":
        cs.cluster(args.name).stop()
    elif args.cmd == "kill":
        cs.cluster(args.name).stop(signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
