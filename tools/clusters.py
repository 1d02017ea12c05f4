# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local Kubernetes control planes for tests, benchmarks and the demo.

Each cluster is one process of .cache/bin/kube-local: the official
kube-apiserver (built from k8s.io/kubernetes by tools/build-kube.sh) in front
of an embedded etcd with its own data directory. No kubelet, no containers.
TLS with a CA generated at run time per cluster, RBAC authorization, client
certificates for an admin (system:masters) and, on the first cluster, a
read-only user. Istio's real CRDs are installed on every cluster.

    tools/clusters.py up --count 3      # idempotent; returns when served
    tools/clusters.py down              # stops every cluster, no process left
    tools/clusters.py stop local-2      # one cluster (fault tests)
    tools/clusters.py start local-2
    tools/clusters.py status

State lives in --state (default .cache/clusters); the kubeconfig with
contexts local-1 .. local-N and local-1-readonly is written to --kubeconfig
(default .cache/kubeconfig). Test suites use their own --state and
--kubeconfig so they never touch the clusters of `make clusters`.
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

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
KUBE_BIN = ROOT / ".cache" / "bin" / "kube-local"
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
# Istio's CRDs come from the istio.io/api Go module (pinned here, checked
# against the Go checksum database by `go mod download`); the copy in
# ../shared is only a fallback for machines without the module proxy.
ISTIO_API_MODULE = "istio.io/api@v1.32.0"
ISTIO_CRD_PATH = "kubernetes/customresourcedefinitions.gen.yaml"
SHARED_CRDS = ROOT.parent / "shared" / "istio" / "crd-all.gen.yaml"
READONLY_USER = "local-readonly"
START_TIMEOUT = 180.0

READONLY_RBAC = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: meshguard-readonly
rules:
- apiGroups: ["networking.istio.io", "networking.k8s.io"]
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


def _issue(ca_key, ca_cert, common_name: str, groups: list[str], server: bool):
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
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
    else:
        usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def make_pki(d: Path, cluster: str) -> None:
    """CA, serving cert, admin and read-only client certs, SA signing key."""
    if (d / "ca.crt").exists():
        return
    d.mkdir(parents=True, exist_ok=True)

    def pem_key(k) -> bytes:
        return k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def pem_cert(c) -> bytes:
        return c.public_bytes(serialization.Encoding.PEM)

    ca_key, ca = _issue(None, None, f"meshguard-local-ca-{cluster}", [], False)
    for stem, cn, groups, server in (
        ("serving", "localhost", [], True),
        ("admin", f"admin-{cluster}", ["system:masters"], False),
        ("readonly", READONLY_USER, [], False),
    ):
        key, cert = _issue(ca_key, ca, cn, groups, server)
        _write_private(d / f"{stem}.key", pem_key(key))
        (d / f"{stem}.crt").write_bytes(pem_cert(cert))
    sa = ec.generate_private_key(ec.SECP256R1())
    _write_private(d / "sa.key", pem_key(sa))
    (d / "sa.pub").write_bytes(
        sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    _write_private(d / "ca.key", pem_key(ca_key))
    (d / "ca.crt").write_bytes(pem_cert(ca))


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
        make_pki(self.dir / "pki", self.name)

    def start(self) -> None:
        if self.pid():
            return
        self.init()
        meta = self.meta
        for p in (meta["port"], meta["etcd_port"], meta["etcd_peer_port"]):
            if port_in_use(p):
                raise SystemExit(f"clusters: port {p} of {self.name} is taken by another process")
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

    def write_admin_kubeconfig(self) -> None:
        cfg = kubeconfig_for([self], readonly=False)
        _write_private(self.dir / "admin.kubeconfig", json.dumps(cfg).encode())

    def install(self, crds: Path) -> None:
        """Istio's CRDs and the read-only role; a no-op when already there."""
        self.write_admin_kubeconfig()
        stamp = self.dir / "installed"
        want = f"{crds.stat().st_size}:{crds.name}"
        if not (stamp.exists() and stamp.read_text() == want and self._served()):
            self.kubectl(
                "apply", "--server-side", "--force-conflicts", "--field-manager=meshguard-local", "-f", str(crds)
            )
            self.kubectl("apply", "--server-side", "--field-manager=meshguard-local", "-f", "-", stdin=READONLY_RBAC)
            self.kubectl(
                "wait", "--for=condition=Established", "--timeout=120s", "crd/serviceentries.networking.istio.io"
            )
            stamp.write_text(want)
        deadline = time.monotonic() + 60
        while not self._served():
            if time.monotonic() > deadline:
                raise SystemExit(f"clusters: serviceentries.networking.istio.io not served on {self.name}")
            time.sleep(0.3)

    def _served(self) -> bool:
        status, body = self.get("/apis/networking.istio.io/v1")
        return status == 200 and b'"serviceentries"' in body


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

    def up(self, count: int, istio: bool = True) -> list[Cluster]:
        """Start (or find running) count clusters. istio=False leaves Istio's
        CRDs out: an API server where Istio is missing, for tests."""
        check_binaries()
        crds = istio_crds() if istio else None
        clusters = [self.cluster(f"{self.prefix}-{i}") for i in range(1, count + 1)]
        started = []
        for c in clusters:
            if not c.pid():
                c.start()
                started.append(c.name)
        t0 = time.monotonic()
        for c in clusters:
            c.wait_ready()
            if crds is not None:
                c.install(crds)
            else:
                c.write_admin_kubeconfig()
        self.write_kubeconfig()
        if started:
            log(f"started {', '.join(started)} in {time.monotonic() - t0:.1f}s")
        for c in clusters:
            log(f"{c.name}: {c.server} (pid {c.pid()})")
        log(f"kubeconfig: {self.kubeconfig} (contexts {', '.join(self.contexts())})")
        return clusters

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
            if c.pid():
                c.stop()
                log(f"stopped {c.name}")

    def status(self) -> list[dict]:
        out = []
        for c in self.known():
            pid = c.pid()
            rss = None
            if pid:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1]) // 1024
            out.append({"name": c.name, "server": c.server, "pid": pid, "rss_mib": rss})
        return out


def check_binaries() -> None:
    if not KUBE_BIN.exists():
        raise SystemExit(f"clusters: {KUBE_BIN} is missing; run `make clusters` (it builds it with Go >= 1.26)")
    if not KUBECTL.exists():
        raise SystemExit(f"clusters: {KUBECTL} is missing; run `make setup`")


def istio_crds() -> Path:
    """Path of Istio's CRD bundle, from the pinned istio.io/api Go module."""
    cached = ROOT / ".cache" / "istio" / ISTIO_API_MODULE.replace("/", "_").replace("@", "-") / "crds.yaml"
    if cached.exists():
        return cached
    res = subprocess.run(
        ["go", "mod", "download", "-json", ISTIO_API_MODULE], capture_output=True, text=True, check=False, cwd="/"
    )
    source = None
    if res.returncode == 0:
        source = Path(json.loads(res.stdout)["Dir"]) / ISTIO_CRD_PATH
    elif SHARED_CRDS.exists():
        log(f"clusters: go mod download {ISTIO_API_MODULE} failed ({res.stderr.strip()}); using {SHARED_CRDS}")
        source = SHARED_CRDS
    if source is None or not source.exists():
        raise SystemExit(f"clusters: cannot get Istio's CRDs: go mod download {ISTIO_API_MODULE}: {res.stderr.strip()}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(source.read_bytes())
    return cached


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state", type=Path, default=ROOT / ".cache" / "clusters")
    p.add_argument("--kubeconfig", type=Path, default=ROOT / ".cache" / "kubeconfig")
    p.add_argument("--prefix", default="local")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("--count", type=int, default=3)
    up.add_argument("--no-istio", action="store_true", help="leave Istio's CRDs out")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("crds", help="fetch Istio's CRDs (pinned istio.io/api module) and print their path")
    for verb in ("start", "stop", "kill"):
        sp = sub.add_parser(verb)
        sp.add_argument("name")
    args = p.parse_args(argv)
    cs = ClusterSet(args.state, args.kubeconfig, args.prefix)
    if args.cmd == "up":
        cs.up(args.count, istio=not args.no_istio)
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
