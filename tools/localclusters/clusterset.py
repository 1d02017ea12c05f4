# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A set of local clusters under one state folder: up (idempotent), down, status, the shared kubeconfig."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

from istio_releases import release

from .cluster import Cluster
from .common import ISTIO_NAMESPACE, check_binaries, log, rss_mib, write_private
from .crds import istio_crds
from .gateway_api import gateway_api_crds
from .istiod import SWITCHES
from .kubeconfig import kubeconfig_for


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
        write_private(self.kubeconfig, (json.dumps(cfg, indent=2) + "\n").encode())

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
