# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared pieces of the benchmark harness: paths, commands, timings, API request counts."""

from __future__ import annotations

import importlib
import json
import os
import resource as rusage
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CACHE = ROOT / ".cache" / "bench"
VENV = ROOT / ".venv"
PEERS_VENV = CACHE / "venv-peers"
KUBECTL = VENV / "bin" / "kubectl"
CALLBACKS = BENCH / "callback"
TOOLS = ROOT / "tools"

READ_VERBS = ("GET", "LIST", "WATCH")


class BenchError(Exception):
    """The harness cannot go on; the message says why."""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load_tool(name: str) -> ModuleType:
    """A module of tools/ (localclusters.clusterset, dnsserver, apimetrics)."""
    if str(TOOLS) not in sys.path:
        sys.path.insert(0, str(TOOLS))
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise BenchError(f"cannot load tools/{name.replace('.', '/')}.py: {e}") from None


# --------------------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> Optional[float]:
    return round(statistics.median(values), 4) if values else None


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Pair by pair: run i of one contender against run i of the other."""
    return [round(n / d, 3) for n, d in zip(numerators, denominators) if d > 0]


def summary(values: Sequence[float]) -> dict[str, Any]:
    return {
        "median": median(values),
        "min": round(min(values), 4) if values else None,
        "max": round(max(values), 4) if values else None,
        "runs": [round(v, 4) for v in values],
    }


# --------------------------------------------------------------------------- commands


@dataclass
class Command:
    """A finished command: wall time, CPU time and where its output went."""

    wall: float
    returncode: int
    output: Path
    timings: dict[str, Any] = field(default_factory=dict)
    # user + system CPU seconds of the command and every process it started
    # (each waited for by its parent, as Ansible's workers and modules are).
    cpu: float = 0.0

    def task_seconds(self, name: str) -> float:
        """Wall time of the task called ``name`` (bench_timer callback); a
        role's task is named ``<role> : <name>``."""
        for task in self.timings.get("tasks", []):
            if task["name"] == name or task["name"].endswith(f" : {name}"):
                return float(task["seconds"])
        raise BenchError(f"task {name!r} has no timing in {self.output}")


def run(
    cmd: Sequence[str],
    *,
    log_file: Path,
    cwd: Path = ROOT,
    env: Optional[dict[str, str]] = None,
    timeout: float = 3600,
    check: bool = True,
) -> Command:
    """Run a command, output to log_file (never to the console: it may name
    file paths of credentials, and thousands of loop items are noise)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "wb") as out:
        before = rusage.getrusage(rusage.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(
            list(cmd), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
        wall = time.perf_counter() - started
        after = rusage.getrusage(rusage.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if check and proc.returncode != 0:
        tail = log_file.read_text(errors="replace")[-2500:]
        raise BenchError(f"{Path(cmd[0]).name} exited {proc.returncode} (log {log_file}):\n{tail}")
    return Command(wall, proc.returncode, log_file, cpu=cpu)


def ansible_env(venv: Path, timings: Path) -> dict[str, str]:
    """Environment for ansible-playbook of one venv, with the bench_timer callback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "BENCH_TIMINGS"}
    env.update(
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
        ANSIBLE_CALLBACKS_ENABLED="bench_timer",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        BENCH_TIMINGS=str(timings),
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    if venv != VENV:
        # The peers must not pick up this repository's ansible.cfg (collection
        # path of the working copy): they run as on a user's machine.
        env["ANSIBLE_CONFIG"] = str(CACHE / "peers-ansible.cfg")
    return env


def playbook(
    venv: Path,
    play: list[dict[str, Any]],
    *,
    work: Path,
    label: str,
    collection_playbook: str = "",
    inventory: str = "localhost,",
    extra_vars: Optional[dict[str, Any]] = None,
    forks: Optional[int] = None,
    extra_env: Optional[dict[str, str]] = None,
) -> Command:
    """ansible-playbook of ``venv`` on a generated playbook (or, with an empty
    ``play``, on ``collection_playbook``, a playbook FQCN); returns wall and per-task times."""
    work.mkdir(parents=True, exist_ok=True)
    book = work / f"{label}.yml"
    if play:
        book.write_text(json.dumps(play, indent=1))
    timings = work / f"{label}.timings.json"
    timings.unlink(missing_ok=True)
    cmd = [str(venv / "bin" / "ansible-playbook"), "-i", inventory, str(book) if play else collection_playbook]
    if extra_vars is not None:
        vars_file = work / f"{label}.vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        cmd += ["-e", f"@{vars_file}"]
    if forks:
        cmd += ["--forks", str(forks)]
    env = ansible_env(venv, timings)
    env.update(extra_env or {})
    result = run(cmd, log_file=work / f"{label}.log", cwd=ROOT if venv == VENV else CACHE, env=env)
    if timings.exists():
        result.timings = json.loads(timings.read_text())
    return result


def write_peers_config() -> None:
    cfg = CACHE / "peers-ansible.cfg"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("[defaults]\nretry_files_enabled = false\ninterpreter_python = auto_silent\n")


def local_play(tasks: list[dict[str, Any]], python: Path, hosts: str = "localhost") -> list[dict[str, Any]]:
    """One play on the controller, modules run with the given Python."""
    return [
        {
            "name": "bench",
            "hosts": hosts,
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": str(python)},
            "tasks": tasks,
        }
    ]


# --------------------------------------------------------------------------- API request counts


def request_counts(cluster: Any) -> Counter:
    """apiserver_request_total of one cluster, summed by (verb, resource, dry_run) (tools/apimetrics.py)."""
    status, body = cluster.get("/metrics", timeout=30)
    if status != 200:
        raise BenchError(f"/metrics on {cluster.name}: HTTP {status}")
    return load_tool("apimetrics").request_counts(body)


# Resources the API server sends requests for on its own (leases, its
# identity, events); not caused by the tool measured.
_BACKGROUND = ("leases", "events", "apiservices", "endpointslices", "endpoints", "configmaps", "flowschemas")
_BACKGROUND += ("prioritylevelconfigurations", "namespaces", "services", "validatingadmissionpolicies")
# The harness's own polling.
_OWN_PATHS = ("path /metrics", "path /readyz", "path /livez", "path /healthz", "path /version")


def request_delta(before: Counter, after: Counter, resources: Optional[Sequence[str]] = None) -> dict[str, int]:
    """Requests between two readings as {"VERB resource": n}; ``resources``
    keeps only those (plus discovery), else the API server's own background
    traffic is left out."""
    out: dict[str, int] = {}
    for (verb, resource, dry_run), n in sorted((after - before).items()):
        base = resource.split("/")[0]
        if resource in _OWN_PATHS or verb == "WATCH":
            # WATCHes are the API server's own informers re-establishing.
            continue
        if resources is not None:
            if base not in resources and not resource.startswith("path "):
                continue
        elif base in _BACKGROUND:
            continue
        key = f"{verb} {resource}" + (" (dryRun)" if dry_run else "")
        out[key] = out.get(key, 0) + n
    return out


def sum_requests(deltas: Sequence[dict[str, int]]) -> dict[str, int]:
    out: Counter = Counter()
    for d in deltas:
        out.update(d)
    return dict(sorted(out.items()))


def writes_of(delta: dict[str, int]) -> int:
    return sum(n for key, n in delta.items() if key.split(" ")[0] not in READ_VERBS)


def median_requests(deltas: Sequence[dict[str, int]]) -> dict[str, float]:
    """Per verb and resource, the median over runs (runs are usually identical)."""
    keys = sorted({k for d in deltas for k in d})
    return {k: statistics.median([d.get(k, 0) for d in deltas]) for k in keys}


def versions_of(cmd: Sequence[str], all_lines: bool = False) -> str:
    """First line of what a command prints (a version, a commit); every line with all_lines."""
    try:
        res = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=False)
    except OSError as e:
        return f"unavailable ({e.strerror})"
    text = res.stdout or res.stderr
    if all_lines:
        return text.rstrip("\n")
    return text.strip().splitlines()[0] if text.strip() else "unknown"
