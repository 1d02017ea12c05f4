# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Case 4: many clusters. The rollout of case 3 (the role, one inventory host per
cluster) on 1, 6, 12 and 24 local API servers without istiod (the rollout needs
Istio's CRDs, not its control plane; about 410 MiB per API server): controller CPU
per added cluster and the slope of a least-squares line through the CPU of every
size, the API requests per cluster, and the wall time of the largest size with
forks 6, 12 and 24. The figures for 1,000 clusters in docs/docsite/rst/performance.rst are
extrapolated from these; nothing here measures 1,000.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import case_rollout
import common
import kube
import workload


def run_case(
    clusters: kube.BenchClusters,
    work: Path,
    *,
    nameserver: str,
    count: int,
    names: int,
    sizes: list[int],
    forks: list[int],
    runs: int,
) -> dict[str, Any]:
    # CPU and requests per size: case 3's measurement, forks at the largest size (every cluster in parallel).
    out = case_rollout.run_rollout(
        clusters,
        work / "sizes",
        nameserver=nameserver,
        count=count,
        names=names,
        sizes=sizes,
        runs=runs,
        forks=max(sizes),
    )
    out["case"] = "clusters, no istiod"
    for phase in case_rollout.PHASES:
        points = [(int(n), out["clusters"][n][phase]["controller_cpu_seconds"]["median"]) for n in out["clusters"]]
        out.setdefault("slope_cpu_per_cluster", {})[phase] = slope(points)
        for n, entry in out["clusters"].items():
            entry[phase]["requests_per_cluster"] = {
                k: round(v / int(n), 1) for k, v in entry[phase]["requests_all_clusters"].items()
            }
    if not forks:
        out["wall_by_forks"] = None  # not asked for (--many-forks 0)
        return out
    out["wall_by_forks"] = _by_forks(
        clusters, work / "forks", nameserver=nameserver, count=count, names=names, n=max(sizes), forks=forks, runs=runs
    )
    return out


def slope(points: list[tuple[int, Optional[float]]]) -> Optional[float]:
    """The least-squares slope of CPU over clusters: CPU-seconds per cluster, every size counted."""
    known = [(x, y) for x, y in points if y is not None]
    if len(known) < 2:
        return None
    xs, ys = [x for x, y in known], [y for x, y in known]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if not spread:
        return None
    return round(sum((x - mean_x) * (y - mean_y) for x, y in known) / spread, 3)


def _by_forks(
    clusters: kube.BenchClusters,
    work: Path,
    *,
    nameserver: str,
    count: int,
    names: int,
    n: int,
    forks: list[int],
    runs: int,
) -> dict[str, Any]:
    """Wall time of the first apply and the no-op on ``n`` clusters with each number of forks."""
    work.mkdir(parents=True, exist_ok=True)
    inventory = case_rollout._inventory(work, clusters, n)
    extra = {
        "meshguard_egress_services": workload.services(count, names),
        "meshguard_egress_set": case_rollout.SET,
        "meshguard_egress_namespace": case_rollout.NAMESPACE,
        "meshguard_egress_resolver": {"nameservers": [nameserver]},
    }
    wall: dict[int, dict[str, list[float]]] = {f: {p: [] for p in case_rollout.PHASES} for f in forks}
    task: dict[int, dict[str, list[float]]] = {f: {p: [] for p in case_rollout.PHASES} for f in forks}
    cpu: dict[int, dict[str, list[float]]] = {f: {p: [] for p in case_rollout.PHASES} for f in forks}
    for r in range(runs):
        for f in forks[r % len(forks) :] + forks[: r % len(forks)]:
            for i in range(n):
                clusters.empty(clusters.context(i), case_rollout.NAMESPACE)
            for phase in case_rollout.PHASES:
                common.log(f"case 4 ({count} services): run {r + 1}/{runs}, {n} clusters, forks {f}, {phase}")
                cmd = common.playbook(
                    common.VENV,
                    [],
                    work=work,
                    label=f"r{r}-forks{f}-{phase}",
                    inventory=str(inventory),
                    extra_vars=extra,
                    forks=f,
                    collection_playbook="meshguard.egress.rollout",
                )
                wall[f][phase].append(cmd.wall)
                task[f][phase].append(cmd.task_seconds(case_rollout.APPLY_TASK))
                cpu[f][phase].append(cmd.cpu)
            for i in range(n):
                live = clusters.count(clusters.context(i), case_rollout.NAMESPACE)
                if live != count:
                    raise common.BenchError(f"left {live} ServiceEntries on {clusters.context(i)}, not {count}")
    return {
        "clusters": n,
        "by_forks": {
            str(f): {
                phase: {
                    "playbook_seconds": common.summary(wall[f][phase]),
                    "apply_task_seconds": common.summary(task[f][phase]),
                    "controller_cpu_seconds": common.summary(cpu[f][phase]),
                }
                for phase in case_rollout.PHASES
            }
            for f in forks
        },
    }
