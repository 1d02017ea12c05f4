# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Case 3: the rule set rolled out to 1, 3 and 6 clusters, and the peak
memory of one module process for a large set.

The rollout is the collection's playbook ``meshguard.egress.rollout`` (the
role ``meshguard.egress.rollout``) on an inventory with one host per cluster,
``forks`` >= the number of clusters. Without the role (an older checkout), the
playbook it stands for: resolve once on the controller (the lookup with
``detail=true``), then one ``meshguard.egress.rules`` task per cluster with
those answers. The result says which of the two ran.

Memory: ``meshguard.egress.rules`` applies a set of ``objects`` ServiceEntries
to one cluster (first apply, then the no-op rerun) through Ansible, with
bench/maxrss.py as the interpreter: the peak RSS of the module process
itself, read from the kernel (ru_maxrss), not an estimate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import case_apply
import common
import kube
import workload

NAMESPACE = "bench-rollout"
SET = "bench-rollout"
# The role's apply task (one for every cluster of a batch); the playbook equivalent uses the same name.
APPLY_TASK = "Bring every cluster of this batch to the rule set"
RESOLVE_TASK = "Resolve every host name once"
PHASES = ("first", "noop")


def role_available() -> bool:
    return (common.ROOT / "roles" / "rollout" / "tasks" / "main.yml").is_file()


def _inventory(work: Path, clusters: kube.BenchClusters, count: int) -> Path:
    hosts = {
        clusters.context(i): {"cluster_context": clusters.context(i), "meshguard_egress_context": clusters.context(i)}
        for i in range(count)
    }
    group_vars = {
        "kubeconfig_path": str(clusters.kubeconfig),
        "meshguard_egress_kubeconfig": str(clusters.kubeconfig),
        "ansible_connection": "local",
        "ansible_python_interpreter": str(common.VENV / "bin" / "python"),
    }
    inv = {"all": {"children": {"clusters": {"hosts": hosts, "vars": group_vars}}}}
    inv["all"]["children"]["egress_clusters"] = {"children": {"clusters": {}}}
    path = work / f"inventory-{count}.json"
    path.write_text(json.dumps(inv, indent=1))
    return path


def _playbook(nameserver: str) -> list[dict[str, Any]]:
    """The role's job, written out: resolve once, apply everywhere."""
    python = str(common.VENV / "bin" / "python")
    hosts = "services | map(attribute='hosts') | flatten | unique"
    return [
        {
            "name": "resolve once",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": python},
            "tasks": [
                {
                    "name": RESOLVE_TASK,
                    "ansible.builtin.set_fact": {
                        "resolved": "{{ query('meshguard.egress.resolve', " + hosts + ", detail=true, "
                        f"nameservers=['{nameserver}']) }}}}"
                    },
                }
            ],
        },
        {
            "name": "apply to every cluster",
            "hosts": "clusters",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": python},
            "tasks": [
                {
                    "name": APPLY_TASK,
                    "meshguard.egress.rules": {
                        "kubeconfig": "{{ kubeconfig_path }}",
                        "context": "{{ cluster_context }}",
                        "set": SET,
                        "namespace": NAMESPACE,
                        "services": "{{ services }}",
                        "resolved": "{{ hostvars['localhost'].resolved }}",
                    },
                }
            ],
        },
    ]


def run_rollout(
    clusters: kube.BenchClusters,
    work: Path,
    *,
    nameserver: str,
    count: int,
    names: int,
    sizes: list[int],
    runs: int,
    forks: int = 0,
    case: str = "case 3",
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    services = workload.services(count, names)
    forks = forks or max(6, *sizes)
    for i in range(max(sizes)):
        clusters.ensure_namespace(clusters.context(i), NAMESPACE)
    if role_available():
        method = "playbook meshguard.egress.rollout (the role), one inventory host per cluster"
        play: list[dict[str, Any]] = []
        extra = {
            "meshguard_egress_services": services,
            "meshguard_egress_set": SET,
            "meshguard_egress_namespace": NAMESPACE,
            "meshguard_egress_resolver": {"nameservers": [nameserver]},
        }
    else:
        method = "the playbook the role stands for (roles/rollout not in this checkout)"
        play = _playbook(nameserver)
        extra = {"services": services}
    task_s: dict[int, dict[str, list[float]]] = {n: {p: [] for p in PHASES} for n in sizes}
    wall_s: dict[int, dict[str, list[float]]] = {n: {p: [] for p in PHASES} for n in sizes}
    cpu_s: dict[int, dict[str, list[float]]] = {n: {p: [] for p in PHASES} for n in sizes}
    requests: dict[int, dict[str, list[dict[str, int]]]] = {n: {p: [] for p in PHASES} for n in sizes}
    for r in range(runs):
        order = sizes[r % len(sizes) :] + sizes[: r % len(sizes)]
        for n in order:
            inventory = _inventory(work, clusters, n)
            for i in range(n):
                clusters.empty(clusters.context(i), NAMESPACE)
            for phase in PHASES:
                common.log(f"{case} ({count} services): run {r + 1}/{runs}, {n} cluster(s), {phase}")
                before = [clusters.requests(i) for i in range(n)]
                cmd = common.playbook(
                    common.VENV,
                    play,
                    work=work,
                    label=f"r{r}-{n}-{phase}",
                    inventory=str(inventory),
                    extra_vars=extra,
                    forks=forks,
                    collection_playbook="meshguard.egress.rollout",
                )
                after = [clusters.requests(i) for i in range(n)]
                task_s[n][phase].append(cmd.task_seconds(APPLY_TASK))
                wall_s[n][phase].append(cmd.wall)
                cpu_s[n][phase].append(cmd.cpu)
                requests[n][phase].append(
                    common.sum_requests([common.request_delta(b, a) for b, a in zip(before, after)])
                )
            for i in range(n):
                live = clusters.count(clusters.context(i), NAMESPACE)
                if live != count:
                    raise common.BenchError(f"rollout left {live} ServiceEntries on {clusters.context(i)}, not {count}")
    out: dict[str, Any] = {
        "services": count,
        "method": method,
        "forks": forks,
        "runs": runs,
        "timing": "apply task: from its start to the last cluster's result; playbook: ansible-playbook's wall time",
        "cpu": "controller CPU: user + system seconds of ansible-playbook and every process it started",
        "clusters": {},
    }
    for n in sizes:
        out["clusters"][str(n)] = {
            phase: {
                "apply_task_seconds": common.summary(task_s[n][phase]),
                "playbook_seconds": common.summary(wall_s[n][phase]),
                "requests_all_clusters": common.median_requests(requests[n][phase]),
                "task_ratio_to_1": _ratio(task_s[n][phase], task_s[sizes[0]][phase]),
                "playbook_ratio_to_1": _ratio(wall_s[n][phase], wall_s[sizes[0]][phase]),
                "controller_cpu_seconds": common.summary(cpu_s[n][phase]),
                "cpu_per_added_cluster": _per_added(cpu_s[n][phase], cpu_s[sizes[0]][phase], n - sizes[0]),
            }
            for phase in PHASES
        }
    biggest = str(max(sizes))
    targets = {}
    for phase in PHASES:
        value = out["clusters"][biggest][phase]["task_ratio_to_1"]["median"]
        targets[f"{phase}: {biggest} clusters in under 2x one cluster (apply task)"] = {
            "value": value,
            "met": value is not None and value < 2,
            "playbook_value": out["clusters"][biggest][phase]["playbook_ratio_to_1"]["median"],
        }
    noop = out["clusters"][biggest]["noop"]["cpu_per_added_cluster"]["median"]
    targets[f"noop: at most 0.3 controller CPU-seconds per added cluster ({sizes[0]} to {biggest})"] = {
        "value": noop,
        "met": noop is not None and noop <= 0.3,
    }
    out["targets"] = targets
    return out


def _per_added(cpu: list[float], base: list[float], added: int) -> dict[str, Any]:
    """Run by run: (CPU with n clusters - CPU with the smallest size) / the clusters added."""
    if added <= 0:
        return {"median": None, "runs": []}
    values = [round((c - b) / added, 3) for c, b in zip(cpu, base)]
    return {"median": common.median(values), "runs": values}


def run_memory(
    clusters: kube.BenchClusters, work: Path, *, nameserver: str, objects: int, names: int, runs: int
) -> dict:
    """Peak RSS of one module process applying ``objects`` ServiceEntries."""
    work.mkdir(parents=True, exist_ok=True)
    ctx = clusters.context(0)
    ns = "bench-memory"
    clusters.ensure_namespace(ctx, ns)
    services = workload.services(objects, names)
    interpreter = _maxrss_interpreter()
    peaks: dict[str, list[float]] = {p: [] for p in PHASES}
    seconds: dict[str, list[float]] = {p: [] for p in PHASES}
    for r in range(runs):
        clusters.empty(ctx, ns)
        for phase in PHASES:
            common.log(f"case 3 memory ({objects} objects): run {r + 1}/{runs}, {phase}")
            rss_file = work / f"r{r}-{phase}.maxrss"
            rss_file.unlink(missing_ok=True)
            task = case_apply.meshguard_task(clusters, ctx, nameserver, ns, "bench-memory")
            task["environment"] = {"BENCH_MAXRSS_FILE": str(rss_file)}
            play = common.local_play([task], common.VENV / "bin" / "python")
            play[0]["vars"]["ansible_python_interpreter"] = interpreter
            label = f"r{r}-{phase}"
            cmd = common.playbook(common.VENV, play, work=work, label=label, extra_vars={"services": services})
            lines = [json.loads(x) for x in rss_file.read_text().splitlines() if x.strip()]
            module_runs = [x for x in lines if x["argv0"].startswith("AnsiballZ_rules")]
            if len(module_runs) != 1:
                raise common.BenchError(f"expected one rules module process, the wrapper saw {lines}")
            peaks[phase].append(round(module_runs[0]["maxrss_kib"] / 1024, 1))
            seconds[phase].append(cmd.task_seconds(case_apply.APPLY_TASK))
        live = clusters.count(ctx, ns)
        if live != objects:
            raise common.BenchError(f"memory case left {live} ServiceEntries, not {objects}")
    clusters.empty(ctx, ns)
    result: dict[str, Any] = {
        "objects": objects,
        "runs": runs,
        "peak_rss_mib": {p: common.summary(v) for p, v in peaks.items()},
        "apply_task_seconds": {p: common.summary(v) for p, v in seconds.items()},
    }
    worst = max((common.median(v) or 0) for v in peaks.values())
    # 200 MB = 190.7 MiB: the stricter reading of the target.
    result["targets"] = {
        "peak memory of one module process under 200 MB": {"value_mib": worst, "met": worst * 1.048576 < 200}
    }
    return result


def _maxrss_interpreter() -> str:
    """An executable to give Ansible as the interpreter (it takes a path, not a
    command line): runs bench/maxrss.py with .venv's Python."""
    path = common.CACHE / "maxrss-python"
    path.write_text(f'#!/bin/sh\nexec "{common.VENV / "bin" / "python"}" "{common.BENCH / "maxrss.py"}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def _ratio(numerators: list[float], denominators: list[float]) -> dict[str, Any]:
    values = common.ratios(numerators, denominators)
    return {"median": common.median(values), "runs": values}
