# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Case 4: many clusters. The rollout of case 3 (the role, one inventory host per
cluster) on 1, 6, 12 and 24 local API servers without istiod (the rollout needs
Istio's CRDs, not its control plane; about 410 MiB per API server): controller CPU
per added cluster and the slope of a least-squares line through the CPU of every
size, the API requests per cluster, and the wall time of the largest size with
forks 6, 12 and 24, and the first apply on one cluster against ``kubectl apply
--server-side`` of the same objects (case 2's comparison, paired run by run). The
figures for 1,000 clusters in docs/docsite/rst/performance.rst are extrapolated from these;
nothing here measures 1,000.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import case_apply
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
        case="case 4",
    )
    out["case"] = "clusters, no istiod"
    for phase in case_rollout.PHASES:
        points = [(int(n), out["clusters"][n][phase]["controller_cpu_seconds"]["median"]) for n in out["clusters"]]
        out.setdefault("slope_cpu_per_cluster", {})[phase] = slope(points)
        for n, entry in out["clusters"].items():
            entry[phase]["requests_per_cluster"] = {
                k: round(v / int(n), 1) for k, v in entry[phase]["requests_all_clusters"].items()
            }
    out["first_against_kubectl"] = _against_kubectl(
        clusters, work / "kubectl", nameserver=nameserver, count=count, names=names, runs=runs
    )
    out["targets"]["first: at least as fast as kubectl apply --server-side, one cluster"] = {
        "value": out["first_against_kubectl"]["kubectl / role"]["median"],
        "met": (out["first_against_kubectl"]["kubectl / role"]["median"] or 0) >= 1,
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


def _extra(nameserver: str, count: int, names: int) -> dict[str, Any]:
    return {
        "meshguard_egress_services": workload.services(count, names),
        "meshguard_egress_set": case_rollout.SET,
        "meshguard_egress_namespace": case_rollout.NAMESPACE,
        "meshguard_egress_resolver": {"nameservers": [nameserver]},
    }


def _against_kubectl(
    clusters: kube.BenchClusters, work: Path, *, nameserver: str, count: int, names: int, runs: int
) -> dict[str, Any]:
    """The role's first apply on one cluster (its apply task) against ``kubectl apply --server-side`` of the
    same objects (the process), each run both, in alternating order; case 2's measure of the same thing."""
    work.mkdir(parents=True, exist_ok=True)
    ctx = clusters.context(0)
    kubectl_ns = case_apply.namespace("kubectl")
    clusters.ensure_namespace(ctx, kubectl_ns)
    objects = case_apply.render(work, nameserver, {"base": workload.services(count, names)}, ("kubectl",))
    objects = objects["kubectl-base"]
    # kubectl's discovery cache, outside the measurements (case 2 does the same).
    case_apply._kubectl(clusters, ctx, work, "warmup-kubectl", objects)
    inventory = case_rollout._inventory(work, clusters, 1)
    seconds: dict[str, list[float]] = {"role": [], "kubectl": []}
    for r in range(runs):
        for tool in ("role", "kubectl") if r % 2 == 0 else ("kubectl", "role"):
            common.log(f"case 4 ({count} services): run {r + 1}/{runs}, first apply on one cluster, {tool}")
            if tool == "kubectl":
                clusters.empty(ctx, kubectl_ns)
                seconds[tool].append(case_apply._kubectl(clusters, ctx, work, f"r{r}-kubectl", objects).wall)
                continue
            clusters.empty(ctx, case_rollout.NAMESPACE)
            cmd = common.playbook(
                common.VENV,
                [],
                work=work,
                label=f"r{r}-role-first",
                inventory=str(inventory),
                extra_vars=_extra(nameserver, count, names),
                collection_playbook="meshguard.egress.rollout",
            )
            seconds[tool].append(cmd.task_seconds(case_rollout.APPLY_TASK))
    for ns in (kubectl_ns, case_rollout.NAMESPACE):
        live = clusters.count(ctx, ns)
        if live != count:
            raise common.BenchError(f"left {live} ServiceEntries in {ns} on {ctx}, not {count}")
    clusters.empty(ctx, kubectl_ns)
    ratios = [round(k / m, 3) for k, m in zip(seconds["kubectl"], seconds["role"]) if m]
    return {
        "timing": "the role: its apply task's wall time; kubectl: the process's wall time",
        "role_apply_task_seconds": common.summary(seconds["role"]),
        "kubectl_seconds": common.summary(seconds["kubectl"]),
        "kubectl / role": {"median": common.median(ratios), "runs": ratios},
    }


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
    extra = _extra(nameserver, count, names)
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
