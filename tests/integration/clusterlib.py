# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Session fixtures and helpers for the local kube-apiservers.

The integration suite runs its own three clusters (state in
.cache/test-clusters, kubeconfig .cache/test-clusters/kubeconfig; one set per
pytest-xdist worker, .cache/test-clusters-gw0, ...) so it never
touches the clusters of `make clusters` / `make demo`. Clusters this session
started are stopped at its end; set MESHGUARD_KEEP_CLUSTERS=1 to keep them
for a faster next run.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
import yaml
from localclusters.cluster import Cluster
from localclusters.clusterset import ClusterSet

ROOT = Path(__file__).resolve().parents[2]


def _load_tool(name: str):
    """A module of tools/ (on sys.path through pytest's pythonpath setting in pyproject.toml)."""
    return importlib.import_module(name)


apimetrics = _load_tool("apimetrics")
istio_releases = _load_tool("istio_releases")
# The Istio releases the platform runs, oldest first: tests that a release can change are parametrised over them.
RELEASES = sorted(istio_releases.RELEASES, key=lambda r: tuple(int(x) for x in r.split(".")))

# Under pytest-xdist each worker (gw0, gw1, ...) runs its own clusters: no test sees another worker's objects.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
STATE = ROOT / ".cache" / ("test-clusters-" + WORKER if WORKER else "test-clusters")
KUBECONFIG = STATE / "kubeconfig"
COUNT = 3
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
# The ansible of the environment running the tests: `make integration-2.19`
# runs part of the suite on ansible-core 2.19 and the lowest supported libraries.
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
LEGACY_CRD = Path(__file__).parent / "files" / "egressrule-crd.yaml"


@dataclass
class LocalClusters:
    set: ClusterSet
    members: list[Cluster]
    kubeconfig: Path

    @property
    def contexts(self) -> list[str]:
        return [c.name for c in self.members]

    def by_context(self, context: str) -> Cluster:
        return self.set.cluster(context.removesuffix("-readonly"))

    def kubectl(self, context: str, *args: str, stdin: str | None = None, check: bool = True):
        cmd = [str(KUBECTL), f"--kubeconfig={self.kubeconfig}", f"--context={context}", *args]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} on {context}: {res.stderr}")
        return res

    def get(self, context: str, kind: str, namespace: str, name: str | None = None) -> list[dict]:
        """Objects of a kind, read with kubectl (an independent client)."""
        args = ["get", kind, "-n", namespace, "-o", "yaml"]
        if name:
            args.insert(2, name)
        out = yaml.safe_load(self.kubectl(context, *args).stdout)
        return [out] if name else out["items"]

    def requests(self, context: str) -> Counter:
        """apiserver_request_total summed by (verb, resource, dry_run) (tools/apimetrics.py)."""
        status, body = self.by_context(context).get("/metrics")
        assert status == 200, f"/metrics on {context}: HTTP {status}"
        return apimetrics.request_counts(body)


def writes(before: Counter, after: Counter, dry_run: bool = False) -> Counter:
    """Write requests (any verb but GET/LIST/WATCH) between two readings."""
    out: Counter = Counter()
    for (verb, resource, dr), n in (after - before).items():
        if verb in ("GET", "LIST", "WATCH") or (dr != "") != dry_run:
            continue
        out[(verb, resource)] += n
    return out


@pytest.fixture(scope="session")
def local_clusters() -> LocalClusters:
    cs = ClusterSet(STATE, KUBECONFIG)
    already = {c.name for c in cs.known() if c.pid()}
    members = cs.up(COUNT)
    for c in members:
        c.kubectl("apply", "--server-side", "--field-manager=meshguard-tests", "-f", str(LEGACY_CRD))
        c.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/egressrules.config.istio.io")
    yield LocalClusters(cs, members, KUBECONFIG)
    if os.environ.get("MESHGUARD_KEEP_CLUSTERS") != "1":
        for c in members:
            if c.name not in already:
                c.shutdown()


@pytest.fixture(scope="session")
def release_clusters(local_clusters: LocalClusters):
    """Live clusters of an Istio release: the newest is local_clusters; an older one gets one cluster of
    its own (its istiod and CRDs), started on first use and kept for the session."""
    made: dict[str, tuple[LocalClusters, bool]] = {}

    def get(release: str) -> LocalClusters:
        if release == istio_releases.NEWEST:
            return local_clusters
        if release not in made:
            state = ROOT / ".cache" / f"test-clusters-{release}{'-' + WORKER if WORKER else ''}"
            cs = ClusterSet(state, state / "kubeconfig", prefix="istio" + release.replace(".", ""))
            running = any(c.pid() for c in cs.known())
            members = cs.up(1, release_name=release)
            made[release] = (LocalClusters(cs, members, cs.kubeconfig), running)
        return made[release][0]

    yield get
    if os.environ.get("MESHGUARD_KEEP_CLUSTERS") != "1":
        for clusters, running in made.values():
            if not running:
                for c in clusters.members:
                    c.shutdown()


@dataclass
class Live:
    """A test's live cluster of one Istio release, and a fresh namespace on it."""

    release: str
    clusters: LocalClusters
    namespace: str


@pytest.fixture(params=RELEASES, ids=lambda r: f"istio-{r}")
def live(request, release_clusters):
    """Parametrises a test over the Istio releases: a release's clusters and a fresh namespace on each,
    deleted afterwards."""
    clusters = release_clusters(request.param)
    name = f"t-{uuid.uuid4().hex[:10]}"
    for ctx in clusters.contexts:
        clusters.kubectl(ctx, "create", "namespace", name)
    yield Live(request.param, clusters, name)
    for ctx in clusters.contexts:
        clusters.kubectl(ctx, "delete", "namespace", name, "--wait=false", check=False)


# Every kind a rule set with an egress gateway writes.
GATEWAY_KINDS = (
    "serviceentries.networking.istio.io",
    "virtualservices.networking.istio.io",
    "gateways.networking.istio.io",
    "destinationrules.networking.istio.io",
    "authorizationpolicies.security.istio.io",
    "sidecars.networking.istio.io",
    "networkpolicies.networking.k8s.io",
)


def owned(
    local_clusters: LocalClusters, context: str, set_name: str, kinds: tuple[str, ...] = GATEWAY_KINDS
) -> dict[str, list[str]]:
    """Every object of the set on a cluster, by kind: `namespace/name`."""
    out = local_clusters.kubectl(
        context, "get", ",".join(kinds), "-A", "-l", f"meshguard.egress/set={set_name}", "-o", "json"
    ).stdout
    found: dict[str, list[str]] = {}
    for item in json.loads(out)["items"]:
        meta = item["metadata"]
        found.setdefault(item["kind"], []).append(f"{meta['namespace']}/{meta['name']}")
    return {kind: sorted(names) for kind, names in sorted(found.items())}


@pytest.fixture
def namespace(local_clusters: LocalClusters):
    """A fresh namespace on every cluster, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    for ctx in local_clusters.contexts:
        local_clusters.kubectl(ctx, "create", "namespace", name)
    yield name
    for ctx in local_clusters.contexts:
        local_clusters.kubectl(ctx, "delete", "namespace", name, "--wait=false", check=False)


def run_module(
    module: str,
    args: dict,
    *,
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    env: Optional[dict] = None,
    interpreter: str = "{{ ansible_playbook_python }}",
) -> tuple[dict, str]:
    """Run a module of this collection the way users do (ansible-playbook,
    from the repository root), and return its registered result and
    everything ansible printed."""
    with tempfile.TemporaryDirectory() as tmp:
        out_file = Path(tmp) / "result.json"
        play = [
            {
                "hosts": "localhost",
                "connection": "local",
                "gather_facts": False,
                # The modules run on the controller, with the Python of ansible itself (the rules
                # module then runs in-process, plugins/action/rules.py; another path runs its module process).
                "vars": {"ansible_python_interpreter": interpreter},
                "tasks": [
                    {
                        "name": f"run {module}",
                        f"meshguard.egress.{module}": args,
                        "register": "result",
                        "ignore_errors": True,
                    },
                    {
                        "name": "save the result",
                        "ansible.builtin.copy": {"content": "{{ result | to_json }}", "dest": str(out_file)},
                        "check_mode": False,
                        "diff": False,
                    },
                ],
            }
        ]
        playbook = Path(tmp) / "play.yml"
        playbook.write_text(json.dumps(play))
        cmd = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", str(playbook)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        full_env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
        full_env.update(env or {})
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=full_env, check=False)
        out = res.stdout + res.stderr
        if not out_file.exists():
            raise AssertionError(f"ansible-playbook produced no result for {module}:\n{out}")
        return json.loads(out_file.read_text()), out
