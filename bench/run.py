#!/usr/bin/env python
# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmarks of meshguard.egress against the tools people use today.

    make bench                # SIZE=full: 2,000 names (also with DNSSEC), 500 services, 1/3/6 clusters, 5,000 objects
    make bench SIZE=small     # the same cases, small
    make bench SIZE=smoke     # the same cases, the fewest inputs: a smoke check of the harness (CI)
    .venv/bin/python bench/run.py --size full --cases resolve,apply --runs 5

Everything runs on this machine: a Knot DNS server on a free port with a
generated zone, signed (.cache/bench/zones, state .cache/bench/dns) and the harness's
own local clusters (.cache/bench-clusters, contexts bench-1 ..), stopped at
the end unless --keep-clusters. The peers (community.general.dig,
kubernetes.core.k8s) run from their own venv, .cache/bench/venv-peers, built
from the package index on first use. Results: bench/results/<timestamp>.json
and the Markdown table printed at the end. See docs/docsite/rst/performance.rst.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import case_apply
import case_clusters
import case_dnssec
import case_resolve
import case_rollout
import common
import kube
import peers
import report
import workload

CASES = ("resolve", "dnssec", "apply", "rollout", "memory", "clusters")


@dataclass(frozen=True)
class Size:
    names: int  # case 1, and the host names the rule sets use
    services: int  # case 2 and case 3
    rollout_sizes: tuple[int, ...]  # clusters in case 3
    memory_objects: int  # case 3, peak memory
    runs: int  # runs per figure
    k8s_runs: int  # runs of the kubernetes.core loop (one module process per object: slow)
    many_sizes: tuple[int, ...] = (1, 2)  # clusters in case 4 (API servers without istiod)
    many_forks: tuple[int, ...] = (2,)  # forks of case 4's wall times at its largest size
    many_runs: int = 1  # runs per figure of case 4 (24 API servers: once)


SIZES = {
    # The fewest that still exercise every case, contender and record shape:
    # five services reach h00000..h00004 (two A records, a CNAME), two cluster
    # counts give a per-added-cluster figure. CI's smoke test of the harness.
    "smoke": Size(names=20, services=5, rollout_sizes=(1, 2), memory_objects=20, runs=1, k8s_runs=1),
    "small": Size(names=100, services=10, rollout_sizes=(1, 2), memory_objects=100, runs=2, k8s_runs=1),
    "full": Size(
        names=2000,
        services=500,
        rollout_sizes=(1, 3, 6),
        memory_objects=5000,
        runs=3,
        k8s_runs=1,
        many_sizes=(1, 6, 12, 24),
        many_forks=(6, 12, 24),
    ),
}


def collection_state() -> dict[str, Any]:
    """Which code of the collection was measured: the commit, the files that
    differ from it, and a digest of plugins/ and roles/ (compared at the end, so
    a change made during a run is noticed)."""
    git = ["git", "-C", str(common.ROOT)]
    digest = hashlib.sha256()
    for folder in ("plugins", "roles", "playbooks"):
        for path in sorted((common.ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(common.ROOT)).encode() + b"\0" + path.read_bytes())
    dirty = common.versions_of([*git, "status", "--short", "--", "plugins", "roles", "playbooks"], all_lines=True)
    return {
        "commit": common.versions_of([*git, "rev-parse", "--short", "HEAD"]),
        "uncommitted": dirty.splitlines() if dirty else [],
        "digest": digest.hexdigest()[:16],
    }


def environment() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    go_mod = (common.ROOT / "tools" / "kube" / "go.mod").read_text()
    kube_version = next((ln.split()[-1] for ln in go_mod.splitlines() if "k8s.io/kubernetes " in ln), "unknown")
    venv_py = str(common.VENV / "bin" / "python")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "ansible_core_meshguard": common.versions_of([str(common.VENV / "bin" / "ansible"), "--version"]),
        "meshguard_libraries": common.versions_of(
            [
                venv_py,
                "-c",
                "import importlib.metadata as m; print(' '.join(f'{p}=={m.version(p)}' for p in "
                "('kubernetes', 'dnspython', 'netaddr', 'PyYAML')))",
            ]
        ),
        "peers": peers.versions(),
        "kubectl": common.versions_of([str(common.KUBECTL), "version", "--client"]),
        "kube_apiserver": f"kube-apiserver {kube_version} (tools/kube, embedded etcd), one process per cluster",
        "knot": common.versions_of(["/usr/sbin/knotd", "--version"]),
        "clusters_started_by_bench": [],
        "collection": collection_state(),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--runs", type=int, help="runs per figure (default: by size)")
    parser.add_argument(
        "--k8s-runs",
        type=int,
        help="runs of the kubernetes.core loop (default: by size; 0 leaves it out, 20 minutes saved)",
    )
    parser.add_argument(
        "--many-forks",
        help="case 4: comma-separated forks for its wall times at the largest size (default by size; 0: none)",
    )
    parser.add_argument(
        "--many-sizes", help="case 4: comma-separated numbers of clusters (default by size; for example 1,6)"
    )
    parser.add_argument("--keep-clusters", action="store_true", help="leave bench-1 .. running for a faster rerun")
    parser.add_argument("--output", type=Path, help="results file (default bench/results/<timestamp>.json)")
    args = parser.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if args.many_forks is not None:
        args.many_forks = [int(f) for f in args.many_forks.split(",") if f.strip() and int(f)]
    if args.many_sizes is not None:
        args.many_sizes = sorted({int(n) for n in args.many_sizes.split(",") if n.strip()})
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    return args


def run_case(
    case: str,
    clusters: kube.BenchClusters | None,
    work: Path,
    *,
    size: Size,
    runs: int,
    k8s_runs: int,
    port: int,
    ds_file: Path,
    many_forks: list[int] | None = None,
) -> dict[str, Any]:
    nameserver = f"127.0.0.1:{port}"
    if case == "resolve":
        return case_resolve.run_case(work, port, size.names, runs)
    if case == "dnssec":
        return case_dnssec.run_case(work, port, size.names, runs, ds_file)
    if clusters is None:
        raise common.BenchError(f"case {case} needs the clusters")
    if case == "apply":
        return case_apply.run_case(
            clusters,
            work,
            nameserver=nameserver,
            count=size.services,
            names=size.names,
            runs=runs,
            k8s_runs=k8s_runs,
        )
    if case == "rollout":
        return case_rollout.run_rollout(
            clusters,
            work,
            nameserver=nameserver,
            count=size.services,
            names=size.names,
            sizes=list(size.rollout_sizes),
            runs=runs,
        )
    if case == "clusters":
        forks = list(size.many_forks) if many_forks is None else many_forks
        return case_clusters.run_case(
            clusters,
            work,
            nameserver=nameserver,
            count=size.services,
            names=size.names,
            sizes=list(size.many_sizes),
            forks=forks,
            runs=min(runs, size.many_runs),
        )
    return case_rollout.run_memory(
        clusters, work, nameserver=nameserver, objects=size.memory_objects, names=size.memory_objects, runs=runs
    )


@contextlib.contextmanager
def only_run() -> Iterator[None]:
    """One harness at a time: runs share the DNS state dir and the clusters."""
    common.CACHE.mkdir(parents=True, exist_ok=True)
    with open(common.CACHE / "bench.lock", "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise SystemExit(f"bench: another run is in progress ({lock.read().strip()}); wait for it") from None
        lock.truncate(0)
        lock.write(f"pid {os.getpid()}, started {time.strftime('%H:%M:%S')}\n")
        lock.flush()
        yield


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with only_run():
        return bench(args)


def bench(args: argparse.Namespace) -> int:
    size = SIZES[args.size]
    if args.many_sizes:
        size = replace(size, many_sizes=tuple(args.many_sizes))
    runs = args.runs or size.runs
    k8s_runs = min(size.k8s_runs if args.k8s_runs is None else args.k8s_runs, runs)
    timestamp = time.strftime("%Y%m%dT%H%M%S")
    work = common.CACHE / "work" / timestamp
    output = args.output or common.BENCH / "results" / f"{timestamp}.json"
    results: dict[str, Any] = {
        "timestamp": timestamp,
        "size": args.size,
        "parameters": {**asdict(size), "runs": runs, "k8s_runs": k8s_runs},
        "cases": {},
        "errors": {},
    }
    started = time.monotonic()
    peers.ensure()
    common.write_peers_config()
    common.run([str(common.ROOT / "tools" / "collection-tree.sh")], log_file=work / "collection-tree.log")

    dnstool = common.load_tool("dnsserver")
    zones = common.CACHE / "zones"
    # Every service of the memory case needs a host name of its own.
    workload.write_zone(zones, max(size.names, size.memory_objects))
    dns_state = common.CACHE / "dns"
    dnstool.down(0, dns_state)  # one left by an interrupted run
    port = dnstool.free_port()
    # Signed, for the dnssec case (answers carry signatures only to queries that ask for them).
    server = dnstool.up(zones, port, dns_state, dnssec=True)
    ds_file = server.ds_dir / f"{workload.ZONE}.ds"
    common.log(f"DNS: knot on 127.0.0.1@{port} with {size.names} names, signed (DS in {ds_file})")

    clusters: kube.BenchClusters | None = None
    started_by_bench: list[str] = []
    try:
        results["environment"] = environment()
        for case in args.cases:
            common.log(f"case {case}")
            try:
                # Clusters start when a case first needs them: case 2 runs with
                # one API server on the machine, case 3 with up to six.
                need = {"resolve": 0, "dnssec": 0, "apply": 1, "memory": 1, "clusters": max(size.many_sizes)}.get(
                    case, max(size.rollout_sizes)
                )
                if need and (clusters is None or len(clusters.members) < need):
                    common.log(f"starting {need} local cluster(s) in .cache/bench-clusters")
                    # Case 4's many clusters without istiod (about 410 MiB each): the rollout needs Istio's CRDs only.
                    clusters = kube.start(need, istiod=case != "clusters")
                    started_by_bench += clusters.started
                    results["environment"]["clusters_started_by_bench"] = started_by_bench
                results["cases"][case] = run_case(
                    case,
                    clusters,
                    work / case,
                    size=size,
                    runs=runs,
                    k8s_runs=k8s_runs,
                    port=port,
                    ds_file=ds_file,
                    many_forks=args.many_forks,
                )
            except (common.BenchError, OSError) as e:
                # One case failing must not lose the others' figures.
                results["errors"][case] = str(e)
                common.log(f"case {case} failed: {e}")
                traceback.print_exc()
    finally:
        dnstool.down(port, dns_state)
        if clusters is not None and not args.keep_clusters:
            kube.stop(clusters)
    return finish(results, output, work, started)


def finish(results: dict[str, Any], output: Path, work: Path, started: float) -> int:
    """Write the results file, print the tables; non-zero when a case failed."""
    results["environment"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if collection_state()["digest"] != results["environment"]["collection"]["digest"]:
        results["environment"]["collection"]["changed_during_run"] = True
        common.log("WARNING: plugins/, roles/ or playbooks/ changed during the run; the figures mix two versions")
    results["seconds_total"] = round(time.monotonic() - started, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1) + "\n")
    print()
    print(report.markdown(results))
    common.log(f"results: {output} ({results['seconds_total']} s); logs of every run: {work}")
    for case, error in results["errors"].items():
        print(f"case {case} FAILED: {error}", file=sys.stderr)
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
