# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark's own local clusters and what the cases do with them."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common

STATE = common.ROOT / ".cache" / "bench-clusters"
KUBECONFIG = STATE / "kubeconfig"
PREFIX = "bench"
SE = "serviceentries.networking.istio.io"
_COLLECTIONS = (
    "/apis/networking.istio.io/v1/namespaces/{namespace}/serviceentries",
    "/apis/networking.istio.io/v1/namespaces/{namespace}/sidecars",
    "/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
)


@dataclass
class BenchClusters:
    """``bench-1`` .. ``bench-N`` (never the demo's or the tests' clusters)."""

    set: Any
    members: list[Any]
    started: list[str]

    @property
    def kubeconfig(self) -> Path:
        return KUBECONFIG

    def context(self, i: int) -> str:
        return self.members[i].name

    def kubectl(self, context: str, *args: str, stdin: str | None = None) -> str:
        cmd = [str(common.KUBECTL), f"--kubeconfig={KUBECONFIG}", f"--context={context}"]
        cmd += [f"--cache-dir={common.CACHE / 'kubectl-cache'}", *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False, timeout=600)
        if res.returncode != 0:
            raise common.BenchError(f"kubectl {' '.join(args)} on {context}: {res.stderr.strip()[-1500:]}")
        return res.stdout

    def ensure_namespace(self, context: str, namespace: str) -> None:
        manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        self.kubectl(context, "apply", "--server-side", "--field-manager=bench", "-f", "-", stdin=json.dumps(manifest))

    def empty(self, context: str, namespace: str) -> None:
        """Delete every ServiceEntry, NetworkPolicy and Sidecar of a namespace
        with one DELETE of the collection each (``kubectl delete --all`` would
        send one DELETE per object, throttled by kubectl's client-side rate
        limit); nothing has finalizers, so they are gone at once."""
        for path in _COLLECTIONS:
            self.kubectl(context, "delete", "--raw", path.format(namespace=namespace))

    def count(self, context: str, namespace: str) -> int:
        out = self.kubectl(context, "get", SE, "-n", namespace, "-o", "name")
        return len([line for line in out.splitlines() if line.strip()])

    def requests(self, i: int) -> Counter:
        return common.request_counts(self.members[i])


def start(count: int, istiod: bool = True) -> BenchClusters:
    """``count`` clusters; without ``istiod``, Istio's CRDs only (no istiod, no Gateway API CRDs)."""
    cs = common.load_tool("localclusters.clusterset").ClusterSet(STATE, KUBECONFIG, PREFIX)
    already = {c.name for c in cs.known() if c.pid()}
    members = cs.up(count, gateway_api=istiod)
    return BenchClusters(cs, members, [c.name for c in members if c.name not in already])


def stop(clusters: BenchClusters) -> None:
    """Every cluster of the bench state dir: they are the harness's own."""
    clusters.set.down()


def apiserver_version(clusters: BenchClusters) -> str:
    status, body = clusters.members[0].get("/version")
    return json.loads(body).get("gitVersion", "unknown") if status == 200 else "unknown"
