# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Markdown tables of a results file (printed by run.py; usable alone:
``.venv/bin/python bench/report.py bench/results/<timestamp>.json``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional


def _s(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _x(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def _requests(delta: dict[str, float]) -> str:
    parts = [f"{k} {int(v)}" for k, v in delta.items() if v and not k.startswith("GET path")]
    return ", ".join(parts) or "none"


def _per_cluster(delta: dict[str, float]) -> str:
    parts = [f"{k} {v:g}" for k, v in delta.items() if v and not k.startswith("GET path")]
    return ", ".join(parts) or "none"


def resolve_table(case: dict[str, Any]) -> list[str]:
    sec, rat = case["seconds"], case["ratios"]
    rows = [
        f"### Case 1: resolve {case['names']} names (A and AAAA, {case['cname_names']} behind CNAMEs), "
        f"median of {case['runs']} runs",
        "",
        "| contender | time | ratio (pair by pair) |",
        "|---|---|---|",
        f"| `meshguard.egress.resolve`, one lookup (task time) | {_s(sec['meshguard']['median'])} | 1 |",
        f"| `community.general.dig`, one lookup per name and type in a loop (task time) "
        f"| {_s(sec['dig_loop']['median'])} | {_x(rat['dig_loop / meshguard']['median'])} the time of meshguard |",
        f"| plain dnspython, sequential loop | {_s(sec['sequential']['median'])} "
        f"| {_x(rat['sequential / meshguard']['median'])} the time of meshguard |",
        f"| plain dnspython, 32 threads | {_s(sec['threads']['median'])} | |",
        f"| plain dnspython, asyncio, 32 in flight | {_s(sec['asyncio']['median'])} | |",
        f"| floor: faster of the two concurrent ones | {_s(case['floor_seconds']['median'])} "
        f"| meshguard takes {_x(rat['meshguard / floor']['median'])} the floor |",
        f"| meshguard's resolver library without Ansible | {_s(sec['library']['median'])} "
        f"| {_x(rat['library / floor']['median'])} the floor |",
        f"| whole playbook: meshguard / dig loop | {_s(sec['meshguard_playbook']['median'])} / "
        f"{_s(sec['dig_playbook']['median'])} | {_x(rat['dig playbook / meshguard playbook']['median'])} |",
    ]
    return rows


def dnssec_table(case: dict[str, Any]) -> list[str]:
    sec, rat = case["seconds"], case["ratios"]
    return [
        f"### DNSSEC: resolve {case['names']} names of a signed zone ({case['cname_names']} behind CNAMEs), "
        f"dnssec off against require, median of {case['runs']} runs",
        "",
        "| contender | off | require | require / off (pair by pair) |",
        "|---|---|---|---|",
        f"| resolver library, no Ansible | {_s(sec['library_off']['median'])} | {_s(sec['library_require']['median'])} "
        f"| {_x(rat['library require / off']['median'])} |",
        f"| `meshguard.egress.resolve`, one lookup (task time) | {_s(sec['lookup_off']['median'])} "
        f"| {_s(sec['lookup_require']['median'])} | {_x(rat['lookup require / off']['median'])} |",
    ]


def apply_table(case: dict[str, Any]) -> list[str]:
    rows = [
        f"### Case 2: {case['services']} services ({case['objects']} objects) on one cluster, "
        f"median of {case['runs']} runs (kubernetes.core loop: {case.get('k8s_runs', case['runs'])})",
        "",
        "meshguard resolves the rule set's host names itself; meshguard, resolved is given the answers "
        "(as the rollout role runs it), so it applies the same objects as the peers.",
        "",
        "| phase | meshguard (one task) | meshguard, resolved | kubernetes.core.k8s loop "
        "| kubectl apply --server-side | k8s loop / meshguard | kubectl / meshguard | kubectl / meshguard, resolved |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for phase, entry in case["phases"].items():
        sec, rat = entry["seconds"], entry["ratios"]
        rows.append(
            f"| {phase} | {_s(sec['meshguard']['median'])} | {_s(sec['meshguard_resolved']['median'])} "
            f"| {_s(sec['k8s_loop']['median'])} | {_s(sec['kubectl']['median'])} "
            f"| {_x(rat['k8s_loop / meshguard']['median'])} | {_x(rat['kubectl / meshguard']['median'])} "
            f"| {_x(rat['kubectl / meshguard_resolved']['median'])} |"
        )
    rows += ["", "API requests per phase (apiserver_request_total, by verb and resource):", ""]
    rows += ["| phase | meshguard | kubernetes.core.k8s loop | kubectl |", "|---|---|---|---|"]
    for phase, entry in case["phases"].items():
        req = entry["requests"]
        rows.append(
            f"| {phase} | {_requests(req['meshguard'])} | {_requests(req['k8s_loop'])} | {_requests(req['kubectl'])} |"
        )
    return rows


def rollout_table(case: dict[str, Any]) -> list[str]:
    rows = [
        f"### Case 3: {case['services']} services rolled out to several clusters, forks {case['forks']}, "
        f"median of {case['runs']} runs",
        "",
        f"Method: {case['method']}.",
        "",
        "| clusters | first: apply task | first: playbook | no-op: apply task | no-op: playbook "
        "| first / 1 cluster (task) | no-op / 1 cluster (task) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, entry in case["clusters"].items():
        first, noop = entry["first"], entry["noop"]
        rows.append(
            f"| {n} | {_s(first['apply_task_seconds']['median'])} | {_s(first['playbook_seconds']['median'])} "
            f"| {_s(noop['apply_task_seconds']['median'])} | {_s(noop['playbook_seconds']['median'])} "
            f"| {_x(first['task_ratio_to_1']['median'])} | {_x(noop['task_ratio_to_1']['median'])} |"
        )
    rows += [
        "",
        "Controller CPU (user + system seconds of ansible-playbook and every process it started; the API servers",
        "are not its children):",
        "",
        "| clusters | first: CPU | first: CPU per added cluster | no-op: CPU | no-op: CPU per added cluster |",
        "|---|---|---|---|---|",
    ]
    for n, entry in case["clusters"].items():
        if "controller_cpu_seconds" not in entry["first"]:
            break  # a results file from before the CPU figures
        first, noop = entry["first"], entry["noop"]
        rows.append(
            f"| {n} | {_s(first['controller_cpu_seconds']['median'])} "
            f"| {_s(first['cpu_per_added_cluster']['median'])} "
            f"| {_s(noop['controller_cpu_seconds']['median'])} | {_s(noop['cpu_per_added_cluster']['median'])} |"
        )
    return rows


def memory_table(case: dict[str, Any]) -> list[str]:
    peak, sec = case["peak_rss_mib"], case["apply_task_seconds"]
    return [
        f"### Case 3: peak memory of one module process, {case['objects']} objects, median of {case['runs']} runs",
        "",
        "| phase | peak RSS | apply task |",
        "|---|---|---|",
        f"| first apply | {peak['first']['median']} MiB | {_s(sec['first']['median'])} |",
        f"| no-op rerun | {peak['noop']['median']} MiB | {_s(sec['noop']['median'])} |",
    ]


def clusters_table(case: dict[str, Any]) -> list[str]:
    rows = [
        f"### Case 4: {case['services']} services on many clusters (API servers without istiod), forks {case['forks']}"
        f" for CPU, median of {case['runs']} run(s)",
        "",
        "| clusters | first: CPU | first: CPU per added cluster | first: playbook | no-op: CPU "
        "| no-op: CPU per added cluster | no-op: playbook | requests per cluster, first "
        "| requests per cluster, no-op |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, entry in case["clusters"].items():
        first, noop = entry["first"], entry["noop"]
        rows.append(
            f"| {n} | {_s(first['controller_cpu_seconds']['median'])} | {_s(first['cpu_per_added_cluster']['median'])} "
            f"| {_s(first['playbook_seconds']['median'])} | {_s(noop['controller_cpu_seconds']['median'])} "
            f"| {_s(noop['cpu_per_added_cluster']['median'])} | {_s(noop['playbook_seconds']['median'])} "
            f"| {_per_cluster(first['requests_per_cluster'])} | {_per_cluster(noop['requests_per_cluster'])} |"
        )
    slopes = case["slope_cpu_per_cluster"]
    rows += [
        "",
        f"Least-squares slope of controller CPU over clusters: first apply {_s(slopes['first'])}, "
        f"no-op {_s(slopes['noop'])} per cluster.",
    ]
    against = case.get("first_against_kubectl")
    if against:
        rows += [
            "",
            f"First apply on one cluster: the role's apply task {_s(against['role_apply_task_seconds']['median'])}, "
            f"kubectl apply --server-side {_s(against['kubectl_seconds']['median'])} "
            f"(kubectl / role {against['kubectl / role']['median']}x).",
        ]
    if not case.get("wall_by_forks"):
        return rows  # not measured (--many-forks 0)
    rows += [
        "",
        f"Wall time on {case['wall_by_forks']['clusters']} clusters by forks:",
        "",
        "| forks | first: playbook | first: apply task | no-op: playbook | no-op: apply task |",
        "|---|---|---|---|---|",
    ]
    for forks, entry in case["wall_by_forks"]["by_forks"].items():
        first, noop = entry["first"], entry["noop"]
        rows.append(
            f"| {forks} | {_s(first['playbook_seconds']['median'])} | {_s(first['apply_task_seconds']['median'])} "
            f"| {_s(noop['playbook_seconds']['median'])} | {_s(noop['apply_task_seconds']['median'])} |"
        )
    return rows


def targets_table(results: dict[str, Any]) -> list[str]:
    rows = ["### Targets", "", "| case | target | measured | met |", "|---|---|---|---|"]
    for name, case in results["cases"].items():
        for target, info in case.get("targets", {}).items():
            value = info.get("value", info.get("value_mib"))
            shown = f"{value}" if not isinstance(value, float) else f"{value:.2f}"
            rows.append(f"| {name} | {target} | {shown} | {'yes' if info['met'] else '**no**'} |")
    return rows


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        f"## Benchmark {results['timestamp']} (SIZE={results['size']})",
        "",
        f"Machine: {env['cpu']}, {env['cores']} cores, {env['memory_gib']} GiB; load average "
        f"{env['load_before']} before, {env['load_after']} after.",
        "",
    ]
    cases = results["cases"]
    for key, table in (
        ("resolve", resolve_table),
        ("dnssec", dnssec_table),
        ("apply", apply_table),
        ("rollout", rollout_table),
        ("memory", memory_table),
        ("clusters", clusters_table),
    ):
        if key in cases:
            lines += [*table(cases[key]), ""]
    lines += targets_table(results)
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    print(markdown(json.loads(Path(argv[0]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
