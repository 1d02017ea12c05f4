# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Case 2: one rule set of many services on one cluster.

Phases: ``first`` (apply to an empty namespace), ``noop`` (the same again at
once), ``changed`` (5 % of the services point at other hosts). Contenders:

- ``meshguard``: one ``meshguard.egress.rules`` task (it resolves the host
  names itself, against the bench DNS server, and plans against the live
  objects);
- ``k8s_loop``: ``kubernetes.core.k8s`` with ``apply: true`` and
  ``server_side_apply``, looping over the very objects meshguard renders
  (``state: rendered`` + ``dest``, one YAML file each);
- ``kubectl``: ``kubectl apply --server-side -f <dir>`` on the same files.

Each contender has its own namespace, emptied before its ``first`` phase;
the others are empty while one runs. API requests by verb and resource come
from apiserver_request_total, read before and after every phase.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import common
import kube
import workload

PHASES = ("first", "noop", "changed")
# meshguard resolves the host names of the rule set itself, as a single task
# would; meshguard_resolved is given the answers (the lookup's detail output,
# taken once beforehand), as the rollout role runs it: it then does what the
# peers do, apply the very same objects, and the ratios against kubectl are
# like for like.
TOOLS = ("meshguard", "meshguard_resolved", "k8s_loop", "kubectl")
APPLY_TASK = "apply the rule set"
# Kinds meshguard lists (every kind it manages that the cluster serves).
# What a no-op run lists: each kind it manages, and the cluster's own ranges (servicecidrs, nodes).
LISTED_KINDS = (
    "serviceentries",
    "networkpolicies",
    "sidecars",
    "egressrules",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
    "servicecidrs",
    "nodes",
)


def namespace(tool: str) -> str:
    return f"bench-{tool.replace('_', '-')}"


def set_name(tool: str) -> str:
    return f"bench-{tool.replace('_', '-')}"


def connection(clusters: kube.BenchClusters, context: str) -> dict[str, str]:
    return {"kubeconfig": str(clusters.kubeconfig), "context": context}


def render(work: Path, nameserver: str, variants: dict[str, list[dict]], tools: tuple[str, ...]) -> dict[str, Path]:
    """Write the objects of every (tool, variant) with meshguard's state=rendered."""
    tasks, dirs = [], {}
    for tool in tools:
        for variant, services in variants.items():
            dest = work / "objects" / f"{tool}-{variant}"
            dirs[f"{tool}-{variant}"] = dest
            tasks.append(
                {
                    "name": f"render {tool} {variant}",
                    "meshguard.egress.rules": {
                        "state": "rendered",
                        "dest": str(dest),
                        "set": set_name(tool),
                        "namespace": namespace(tool),
                        "services": services,
                        "nameservers": [nameserver],
                    },
                }
            )
    common.playbook(common.VENV, common.local_play(tasks, common.VENV / "bin" / "python"), work=work, label="render")
    return dirs


def meshguard_task(
    clusters: kube.BenchClusters, context: str, nameserver: str, ns: str, set_: str, *, resolved: bool = False
) -> dict:
    args = {
        **connection(clusters, context),
        "set": set_,
        "namespace": ns,
        "services": "{{ services }}",
        "nameservers": [nameserver],
    }
    if resolved:
        args["resolved"] = "{{ resolved }}"
    return {"name": APPLY_TASK, "meshguard.egress.rules": args}


def resolve_once(work: Path, nameserver: str, variants: dict[str, list[dict]]) -> list[dict]:
    """The lookup's detail output for every host name of the variants."""
    names = sorted({h for services in variants.values() for s in services for h in s["hosts"]})
    out = work / "resolved.json"
    tasks = [
        {
            "name": "resolve",
            "ansible.builtin.copy": {
                "content": "{{ query('meshguard.egress.resolve', names, detail=true, nameservers=[ns]) | to_json }}",
                "dest": str(out),
            },
        }
    ]
    play = common.local_play(tasks, common.VENV / "bin" / "python")
    common.playbook(common.VENV, play, work=work, label="resolve", extra_vars={"names": names, "ns": nameserver})
    return json.loads(out.read_text())


def _meshguard(
    clusters: kube.BenchClusters,
    ctx: str,
    work: Path,
    label: str,
    *,
    nameserver: str,
    services: list,
    resolved: Optional[list] = None,
):
    tool = "meshguard" if resolved is None else "meshguard_resolved"
    task = meshguard_task(clusters, ctx, nameserver, namespace(tool), set_name(tool), resolved=resolved is not None)
    play = common.local_play([task], common.VENV / "bin" / "python")
    extra: dict[str, Any] = {"services": services}
    if resolved is not None:
        extra["resolved"] = resolved
    return common.playbook(common.VENV, play, work=work, label=label, extra_vars=extra)


def _k8s_loop(clusters: kube.BenchClusters, ctx: str, work: Path, label: str, objects: Path):
    task = {
        "name": APPLY_TASK,
        "kubernetes.core.k8s": {
            **connection(clusters, ctx),
            "src": "{{ item }}",
            "apply": True,
            "server_side_apply": {"field_manager": "bench-k8s"},
        },
        "loop": "{{ query('ansible.builtin.fileglob', objects + '/*.yaml') | sort }}",
    }
    play = common.local_play([task], common.PEERS_VENV / "bin" / "python")
    return common.playbook(common.PEERS_VENV, play, work=work, label=label, extra_vars={"objects": str(objects)})


def _kubectl(clusters: kube.BenchClusters, ctx: str, work: Path, label: str, objects: Path):
    cmd = [str(common.KUBECTL), f"--kubeconfig={clusters.kubeconfig}", f"--context={ctx}"]
    cmd += [f"--cache-dir={common.CACHE / 'kubectl-cache'}", "apply", "--server-side", "--field-manager=bench-kubectl"]
    cmd += ["-f", str(objects)]
    return common.run(cmd, log_file=work / f"{label}.log")


def run_case(
    clusters: kube.BenchClusters, work: Path, *, nameserver: str, count: int, names: int, runs: int, k8s_runs: int
) -> dict:
    """``k8s_runs`` (<= runs) limits the kubernetes.core loop, by far the slowest
    contender (one module process per object); its ratios pair its runs with
    the other contenders' runs of the same index."""
    ctx = clusters.context(0)
    changed = max(1, count * 5 // 100)
    variants = {
        "base": workload.services(count, names),
        "changed": workload.services(count, names, changed=changed),
    }
    for tool in TOOLS:
        clusters.ensure_namespace(ctx, namespace(tool))
    common.log(f"case 2: rendering {count} services for the peers")
    dirs = render(work, nameserver, variants, ("k8s_loop", "kubectl"))
    resolved = resolve_once(work, nameserver, variants)
    objects = len(list(dirs["kubectl-base"].glob("*.yaml")))
    # Warm up: kubectl's discovery cache and Ansible's caches, outside the measurements.
    _kubectl(clusters, ctx, work, "warmup-kubectl", dirs["kubectl-base"])
    clusters.empty(ctx, namespace("kubectl"))

    seconds: dict[str, dict[str, list[float]]] = {t: {p: [] for p in PHASES} for t in TOOLS}
    walls: dict[str, dict[str, list[float]]] = {t: {p: [] for p in PHASES} for t in TOOLS}
    requests: dict[str, dict[str, list[dict[str, int]]]] = {t: {p: [] for p in PHASES} for t in TOOLS}
    for r in range(runs):
        order = list(TOOLS[r % len(TOOLS) :] + TOOLS[: r % len(TOOLS)])
        if r >= k8s_runs:
            order.remove("k8s_loop")
        for tool in order:
            clusters.empty(ctx, namespace(tool))
            for phase in PHASES:
                common.log(f"case 2 ({count} services): run {r + 1}/{runs}, {tool}, {phase}")
                variant = "changed" if phase == "changed" else "base"
                label = f"r{r}-{tool}-{phase}"
                before = clusters.requests(0)
                if tool in ("meshguard", "meshguard_resolved"):
                    given = resolved if tool == "meshguard_resolved" else None
                    cmd = _meshguard(
                        clusters, ctx, work, label, nameserver=nameserver, services=variants[variant], resolved=given
                    )
                    seconds[tool][phase].append(cmd.task_seconds(APPLY_TASK))
                elif tool == "k8s_loop":
                    cmd = _k8s_loop(clusters, ctx, work, label, dirs[f"k8s_loop-{variant}"])
                    seconds[tool][phase].append(cmd.task_seconds(APPLY_TASK))
                else:
                    cmd = _kubectl(clusters, ctx, work, label, dirs[f"kubectl-{variant}"])
                    seconds[tool][phase].append(cmd.wall)
                walls[tool][phase].append(cmd.wall)
                after = clusters.requests(0)
                requests[tool][phase].append(common.request_delta(before, after))
            live = clusters.count(ctx, namespace(tool))
            if live != objects:
                raise common.BenchError(f"{tool} left {live} ServiceEntries, expected {objects}")
            clusters.empty(ctx, namespace(tool))
    result = summarise(
        count=count, changed=changed, objects=objects, runs=runs, seconds=seconds, walls=walls, requests=requests
    )
    result["k8s_runs"] = min(k8s_runs, runs)
    return result


def summarise(
    *,
    count: int,
    changed: int,
    objects: int,
    runs: int,
    seconds: dict[str, dict[str, list[float]]],
    walls: dict[str, dict[str, list[float]]],
    requests: dict[str, dict[str, list[dict[str, int]]]],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "services": count,
        "objects": objects,
        "changed_services": changed,
        "runs": runs,
        "timing": "meshguard and k8s_loop: the task's wall time; kubectl: the process's wall time",
        "phases": {},
    }
    targets: dict[str, Any] = {}
    for phase in PHASES:
        entry: dict[str, Any] = {"seconds": {}, "playbook_or_process_seconds": {}, "requests": {}, "ratios": {}}
        for tool in TOOLS:
            entry["seconds"][tool] = common.summary(seconds[tool][phase])
            entry["playbook_or_process_seconds"][tool] = common.summary(walls[tool][phase])
            entry["requests"][tool] = common.median_requests(requests[tool][phase])
        mg = seconds["meshguard"][phase]
        entry["ratios"]["k8s_loop / meshguard"] = _ratio(seconds["k8s_loop"][phase], mg)
        entry["ratios"]["kubectl / meshguard"] = _ratio(seconds["kubectl"][phase], mg)
        entry["ratios"]["kubectl / meshguard playbook"] = _ratio(seconds["kubectl"][phase], walls["meshguard"][phase])
        entry["ratios"]["kubectl / meshguard_resolved"] = _ratio(
            seconds["kubectl"][phase], seconds["meshguard_resolved"][phase]
        )
        out["phases"][phase] = entry
        k8s = entry["ratios"]["k8s_loop / meshguard"]["median"]
        if not seconds["k8s_loop"][phase]:
            continue  # --k8s-runs 0: not measured, no target judged
        targets[f"{phase}: at least 10x faster than the kubernetes.core loop"] = {
            "value": k8s,
            "met": k8s is not None and k8s >= 10,
        }
    for tool in ("meshguard", "meshguard_resolved"):
        first = out["phases"]["first"]["ratios"][f"kubectl / {tool}"]["median"]
        targets[f"first: no slower than kubectl ({tool})"] = {"value": first, "met": first is not None and first >= 1}
        noop = out["phases"]["noop"]["ratios"][f"kubectl / {tool}"]["median"]
        targets[f"noop: at least 3x faster than kubectl ({tool})"] = {
            "value": noop,
            "met": noop is not None and noop >= 3,
        }
    noop_requests = requests["meshguard"]["noop"]
    writes = max((common.writes_of(r) for r in noop_requests), default=0)
    lists = max((_lists(r) for r in noop_requests), default=0)
    targets["noop: zero writes"] = {"value": writes, "met": writes == 0}
    targets["noop: at most one LIST per kind and namespace"] = {
        "value": lists,
        "met": lists <= len(LISTED_KINDS),
        "note": "meshguard LISTs each kind it manages once, across namespaces, with the set's label selector, "
        "and the cluster's ServiceCIDRs and nodes once",
    }
    out["targets"] = targets
    return out


def _lists(delta: dict[str, int]) -> int:
    return sum(n for key, n in delta.items() if key.startswith("LIST "))


def _ratio(numerators: list[float], denominators: list[float]) -> dict[str, Any]:
    values = common.ratios(numerators, denominators)
    return {"median": common.median(values), "runs": values}
