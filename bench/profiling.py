#!/usr/bin/env python
# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the collection's time goes: cProfile of its library, without Ansible.

    .venv/bin/python bench/profiling.py resolve --names 2000
    .venv/bin/python bench/profiling.py rules --services 500     # the engine: first apply, then the no-op
    .venv/bin/python bench/profiling.py module --services 500    # the module's main(), as Ansible runs it
    .venv/bin/python bench/profiling.py imports                  # what starting the module costs
    .venv/bin/python bench/profiling.py workers --clusters 1,6   # the rollout's controller CPU per task and cluster

Starts its own DNS server (and for ``rules`` and ``module`` the cluster bench-1
of .cache/bench-clusters, stopped again unless it was running), prints the top
functions by cumulative and by own time, and writes the full listings to
.cache/bench/profiles/.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import importlib
import io
import json
import pstats
import subprocess
import sys
import time
from typing import Any, Callable

import common
import kube
import workload

PROFILES = common.CACHE / "profiles"
COLLECTIONS = common.ROOT / ".cache" / "collections"
TOP = 25


def _library(name: str) -> Any:
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    return importlib.import_module(f"ansible_collections.meshguard.egress.plugins.module_utils.{name}")


def profile(label: str, call: Callable[[], Any]) -> float:
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    call()
    prof.disable()
    seconds = time.perf_counter() - started
    PROFILES.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    stats = pstats.Stats(prof, stream=text)
    stats.sort_stats("cumulative").print_stats(80)
    stats.sort_stats("tottime").print_stats(60)
    (PROFILES / f"{label}.txt").write_text(text.getvalue())
    short = io.StringIO()
    stats = pstats.Stats(prof, stream=short).strip_dirs()
    print(f"\n=== {label}: {seconds:.2f} s under cProfile (full listing {PROFILES / (label + '.txt')})")
    stats.sort_stats("cumulative").print_stats(TOP)
    stats.sort_stats("tottime").print_stats(TOP)
    print("\n".join(line for line in short.getvalue().splitlines() if line.strip()))
    return seconds


def with_dns(names: int, body: Callable[[str], None]) -> None:
    dnstool = common.load_tool("dnsserver")
    zones = common.CACHE / "zones"
    workload.write_zone(zones, names)
    state = common.CACHE / "dns-profile"
    dnstool.down(0, state)
    port = dnstool.free_port()
    dnstool.up(zones, port, state)
    try:
        body(f"127.0.0.1:{port}")
    finally:
        dnstool.down(port, state)


def profile_resolve(names: int) -> None:
    lib = _library("_dns.resolve")

    def body(nameserver: str) -> None:
        options = lib.ResolverOptions.from_dict({"nameservers": [nameserver]})
        hosts = [workload.host(i) for i in range(names)]
        profile(f"resolve-{names}", lambda: lib.resolve(hosts, options))

    with_dns(names, body)


def profile_rules(services: int, names: int) -> None:
    engine = _library("_engine")
    kube_lib = _library("_cluster.client")
    clusters = kube.start(1)
    ctx = clusters.context(0)
    ns = "bench-profile"
    clusters.ensure_namespace(ctx, ns)
    clusters.empty(ctx, ns)

    def body(nameserver: str) -> None:
        spec = {"set": "bench-profile", "namespace": ns, "services": workload.services(services, names)}
        settings = engine.Settings(spec=spec, resolver={"nameservers": [nameserver]})
        conn = kube_lib.ConnectionOptions(kubeconfig=str(clusters.kubeconfig), context=ctx)
        profile(f"rules-{services}-first", lambda: engine.run(settings, conn))
        profile(f"rules-{services}-noop", lambda: engine.run(settings, conn))

    try:
        with_dns(names, body)
    finally:
        clusters.empty(ctx, ns)
        stop_started(clusters)


def profile_module(services: int, names: int) -> None:
    """The rules module's main() in this process (arguments as Ansible passes
    them), so argument handling and the result's serialisation are included."""
    testing = importlib.import_module("ansible.module_utils.testing")
    rules = importlib.import_module("ansible_collections.meshguard.egress.plugins.modules.rules")
    clusters = kube.start(1)
    ctx = clusters.context(0)
    ns = "bench-profile"
    clusters.ensure_namespace(ctx, ns)
    clusters.empty(ctx, ns)

    def main_of(args: dict[str, Any]) -> None:
        quiet = contextlib.redirect_stdout(io.StringIO())
        with testing.patch_module_args(args), quiet, contextlib.suppress(SystemExit):
            rules.main()

    def body(nameserver: str) -> None:
        args = {
            "kubeconfig": str(clusters.kubeconfig),
            "context": ctx,
            "set": "bench-profile",
            "namespace": ns,
            "services": workload.services(services, names),
            "nameservers": [nameserver],
        }
        profile(f"module-{services}-first", lambda: main_of(args))
        profile(f"module-{services}-noop", lambda: main_of(args))

    try:
        with_dns(names, body)
    finally:
        clusters.empty(ctx, ns)
        stop_started(clusters)


def stop_started(clusters: kube.BenchClusters) -> None:
    for cluster in clusters.members:
        if cluster.name in clusters.started:
            cluster.stop()


def profile_imports() -> None:
    """Import time of what the rules module loads, in a fresh interpreter (-X importtime)."""
    code = "import ansible.module_utils.basic, ansible_collections.meshguard.egress.plugins.module_utils._engine"
    env = {"PYTHONPATH": str(COLLECTIONS), "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [str(common.VENV / "bin" / "python"), "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    rows = []
    for line in res.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    rows.sort(reverse=True)
    print("cumulative import time (ms) of the heaviest imports of the rules module:")
    for us, name in rows[:TOP]:
        print(f"{us / 1000:9.1f}  {name}")


# Loaded through PYTHONPATH by the ansible-playbook of ``workers``: every
# process Ansible forks (one per host and task) writes the CPU it used
# (user + system, its own and its module processes') with its task and host.
_WORKER_HOOK = """
import json, os, resource, multiprocessing.process as mp
_bootstrap = mp.BaseProcess._bootstrap
def _measured(self, *args, **kwargs):
    try:
        return _bootstrap(self, *args, **kwargs)
    finally:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        task = getattr(getattr(self, "_task", None), "get_name", lambda: "?")()
        entry = {"task": task.split(" : ")[-1], "host": getattr(getattr(self, "_host", None), "name", "?"),
                 "cpu": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime}
        with open(os.environ["BENCH_WORKER_CPU"], "a") as f:
            f.write(json.dumps(entry) + "\\n")
mp.BaseProcess._bootstrap = _measured
"""


def profile_workers(services: int, names: int, sizes: list[int]) -> None:
    """The rollout playbook (first apply, then the no-op) on 1..N bench clusters:
    the controller CPU of the whole run, and of each worker by task and host."""
    hook = common.CACHE / "worker-cpu"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(_WORKER_HOOK)
    clusters = kube.start(max(sizes))
    ns = "bench-profile"
    for i in range(max(sizes)):
        clusters.ensure_namespace(clusters.context(i), ns)

    def body(nameserver: str) -> None:
        work = common.CACHE / "profiles" / "workers"
        extra = {
            "meshguard_egress_services": workload.services(services, names),
            "meshguard_egress_set": ns,
            "meshguard_egress_namespace": ns,
            "meshguard_egress_resolver": {"nameservers": [nameserver]},
        }
        for n in sizes:
            for i in range(n):
                clusters.empty(clusters.context(i), ns)
            hosts = {clusters.context(i): {"meshguard_egress_context": clusters.context(i)} for i in range(n)}
            group = {
                "ansible_connection": "local",
                "ansible_python_interpreter": str(common.VENV / "bin" / "python"),
                "meshguard_egress_kubeconfig": str(clusters.kubeconfig),
            }
            inventory = work / f"inventory-{n}.json"
            work.mkdir(parents=True, exist_ok=True)
            inventory.write_text(json.dumps({"egress_clusters": {"hosts": hosts, "vars": group}}))
            for phase in ("first", "noop"):
                record = work / f"{n}-{phase}.jsonl"
                record.unlink(missing_ok=True)
                env = {"PYTHONPATH": str(hook), "BENCH_WORKER_CPU": str(record)}
                cmd = common.playbook(
                    common.VENV,
                    [],
                    work=work,
                    label=f"{n}-{phase}",
                    inventory=str(inventory),
                    extra_vars=extra,
                    forks=max(6, n),
                    collection_playbook="meshguard.egress.rollout",
                    extra_env=env,
                )
                by_task: dict[str, list[float]] = collections.defaultdict(list)
                for line in record.read_text().splitlines():
                    entry = json.loads(line)
                    by_task[entry["task"]].append(entry["cpu"])
                workers = sum(sum(v) for v in by_task.values())
                print(
                    f"\n{n} cluster(s), {phase}: {cmd.cpu:.2f} CPU-s in all, workers {workers:.2f}, "
                    f"the main process and start-up {cmd.cpu - workers:.2f}"
                )
                for task, values in sorted(by_task.items(), key=lambda kv: -sum(kv[1])):
                    print(f"  {sum(values) / len(values):6.3f} s x {len(values)}  {task}")

    try:
        with_dns(names, body)
    finally:
        for i in range(max(sizes)):
            clusters.empty(clusters.context(i), ns)
        stop_started(clusters)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("resolve", "rules", "module", "imports", "workers"))
    parser.add_argument("--clusters", default="1,6", help="workers: cluster counts, comma-separated")
    parser.add_argument("--names", type=int, default=2000)
    parser.add_argument("--services", type=int, default=500)
    args = parser.parse_args(argv)
    if args.what == "resolve":
        profile_resolve(args.names)
    elif args.what == "rules":
        profile_rules(args.services, args.names)
    elif args.what == "module":
        _library("_engine")  # puts the collection tree on sys.path
        profile_module(args.services, args.names)
    elif args.what == "workers":
        profile_workers(args.services, args.names, [int(n) for n in args.clusters.split(",")])
    else:
        profile_imports()
    return 0


if __name__ == "__main__":
    sys.exit(main())
