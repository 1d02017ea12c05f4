# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Case: what DNSSEC validation costs. The same names of the same zone, signed
by Knot (the bench's server runs with --dnssec), resolved with ``dnssec: off``
and with ``dnssec: require`` (the zone's own DS as the trust anchor):

- ``library_off`` / ``library_require``: the collection's resolver library
  without Ansible (bench/plain_resolve.py, a fresh interpreter each run);
- ``lookup_off`` / ``lookup_require``: the ``meshguard.egress.resolve``
  lookup, once for every name, in one ``set_fact`` task (the task's time).

Target: validation costs no more than the resolution itself, so require
takes at most twice as long as off. Every run's answers are checked against
the zone, and with require every host must be secure: a run that skipped
validation cannot look fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import case_resolve
import common
import workload

TASK = "resolve every name"
CONTENDERS = ("library_off", "library_require", "lookup_off", "lookup_require")


def _library(work: Path, names_file: Path, port: int, ds_file: Path, *, label: str, require: bool) -> float:
    cmd = [str(common.VENV / "bin" / "python"), str(common.BENCH / "plain_resolve.py"), "library", str(names_file)]
    cmd += ["127.0.0.1", str(port)] + ([str(ds_file)] if require else [])
    out = work / f"{label}.log"
    common.run(cmd, log_file=out)
    data = json.loads(out.read_text().strip().splitlines()[-1])
    count = len(json.loads(names_file.read_text()))
    if set(data["addresses"]) != workload_expected(count):
        raise common.BenchError(f"the library ({label}) did not return the zone's addresses")
    want = {"secure": count} if require else {"None": count}
    if data["dnssec"] != want:
        raise common.BenchError(f"the library ({label}) gave DNSSEC statuses {data['dnssec']}, expected {want}")
    return float(data["seconds"])


def _lookup(work: Path, names_file: Path, port: int, ds_file: Path, *, label: str, require: bool) -> float:
    result_file = work / f"{label}.result.json"
    dnssec = ", dnssec='require', trust_anchors=[lookup('ansible.builtin.file', ds_file)]" if require else ""
    tasks = [
        {
            "name": TASK,
            "ansible.builtin.set_fact": {
                "found": "{{ query('meshguard.egress.resolve', names, nameservers=[nameserver], detail=true"
                + dnssec
                + ") }}",
            },
        },
        {"name": "save", "ansible.builtin.copy": {"content": "{{ found | to_json }}", "dest": str(result_file)}},
    ]
    play = common.local_play(tasks, common.VENV / "bin" / "python")
    play[0]["vars"]["names"] = "{{ lookup('ansible.builtin.file', names_file) | from_json }}"
    extra = {"names_file": str(names_file), "nameserver": f"127.0.0.1:{port}", "ds_file": str(ds_file)}
    cmd = common.playbook(common.VENV, play, work=work, label=label, extra_vars=extra)
    found = json.loads(result_file.read_text())
    if {a for entry in found for a in entry["addresses"]} != workload_expected(len(found)):
        raise common.BenchError(f"the lookup ({label}) did not return the zone's addresses")
    statuses = {entry["dnssec"] for entry in found}
    if statuses != ({"secure"} if require else {None}):
        raise common.BenchError(f"the lookup ({label}) gave DNSSEC statuses {sorted(map(str, statuses))}")
    return cmd.task_seconds(TASK)


def workload_expected(count: int) -> set[str]:
    return case_resolve._expected(count)


def run_case(work: Path, dns_port: int, count: int, runs: int, ds_file: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    names_file = work / "names.json"
    names_file.write_text(json.dumps([workload.host(i) for i in range(count)]))
    times: dict[str, list[float]] = {k: [] for k in CONTENDERS}
    for r in range(runs):
        common.log(f"case dnssec ({count} names, off and require): run {r + 1}/{runs}")
        # The order rotates from run to run, so a drift in machine load does not always hit the same one.
        order = list(CONTENDERS[r % 2 :] + CONTENDERS[: r % 2])
        for who in order:
            way, mode = who.split("_")
            measure = _library if way == "library" else _lookup
            seconds = measure(work, names_file, dns_port, ds_file, label=f"r{r}-{who}", require=mode == "require")
            times[who].append(seconds)
    ratios = {
        "library require / off": common.ratios(times["library_require"], times["library_off"]),
        "lookup require / off": common.ratios(times["lookup_require"], times["lookup_off"]),
    }
    med = {k: common.median(v) for k, v in ratios.items()}
    targets = {
        "validation costs no more than resolution: require at most 2x off (library)": {
            "value": med["library require / off"],
            "met": med["library require / off"] is not None and med["library require / off"] <= 2,
        },
        "the same through the lookup (task time)": {
            "value": med["lookup require / off"],
            "met": med["lookup require / off"] is not None and med["lookup require / off"] <= 2,
        },
    }
    return {
        "names": count,
        "queries_off": 2 * count,
        "cname_names": sum(1 for i in range(count) if workload.is_cname(i)),
        "runs": runs,
        "seconds": {k: common.summary(v) for k, v in times.items()},
        "ratios": {k: {"median": med[k], "runs": v} for k, v in ratios.items()},
        "targets": targets,
    }
