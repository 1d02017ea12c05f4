# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""istiod (pilot-discovery) next to a local cluster: its ports, environment, start and stop, and its
validating webhook registered with the API server and checked live."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from istio_releases import Release, release

from .common import ISTIO_NAMESPACE, START_TIMEOUT, port_in_use, rss_mib

if TYPE_CHECKING:
    from .cluster import Cluster


# The name Istio's base chart gives the webhook of the default revision.
WEBHOOK_NAME = "istiod-default-validator"
# Istio's Go validation refuses this ServiceEntry; its CRD schema and CEL
# rules accept it (pkg/config/validation: ValidateServiceEntry). The probe of
# a live webhook in `up` and in the tests.
WEBHOOK_PROBE_MESSAGE = "multiple hosts provided with non-HTTP, non-TLS ports"


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
