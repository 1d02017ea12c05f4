# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Case 1: resolve many names (A and AAAA, a fifth behind CNAMEs).

Contenders, each on the same local Knot server and the same names:

- ``meshguard``: the ``meshguard.egress.resolve`` lookup, once for every name,
  in one ``set_fact`` task (the task's time, from the bench_timer callback);
- ``dig_loop``: ``community.general.dig`` as people write it, one lookup per
  name and type in a loop (the task's time);
- ``sequential`` / ``threads`` / ``asyncio``: plain dnspython without Ansible
  (one after the other; 32 threads; 32 in flight with asyncio); the faster of
  the two concurrent ones is the floor;
- ``library``: the collection's resolver library without Ansible.

Every contender's answers are checked against the zone, so a fast wrong
answer cannot win.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import common
import workload

NAMES_TASK = "resolve every name"
PLAIN_MODES = ("sequential", "threads", "asyncio", "library")


def _expected(count: int) -> set[str]:
    return {a for i in range(count) for a in workload.expected_addresses(i)}


def _covered(cidrs: list[str]) -> set[str]:
    out: set[str] = set()
    for block in cidrs:
        net = ipaddress.ip_network(block)
        if net.num_addresses > 4096:
            raise common.BenchError(f"meshguard returned a block broader than the zone's addresses: {block}")
        out.update(str(a) for a in net)
    return out


def _meshguard(work: Path, names_file: Path, nameserver: str, label: str) -> tuple[float, float, list[str]]:
    result_file = work / f"{label}.result.json"
    tasks = [
        {
            "name": NAMES_TASK,
            "ansible.builtin.set_fact": {
                "cidrs": "{{ query('meshguard.egress.resolve', names, nameservers=[nameserver]) }}",
            },
        },
        {"name": "save", "ansible.builtin.copy": {"content": "{{ cidrs | to_json }}", "dest": str(result_file)}},
    ]
    play = common.local_play(tasks, common.VENV / "bin" / "python")
    play[0]["vars"]["names"] = "{{ lookup('ansible.builtin.file', names_file) | from_json }}"
    cmd = common.playbook(
        common.VENV, play, work=work, label=label, extra_vars={"names_file": str(names_file), "nameserver": nameserver}
    )
    return cmd.task_seconds(NAMES_TASK), cmd.wall, json.loads(result_file.read_text())


def _dig_loop(work: Path, names_file: Path, address: str, port: int, label: str) -> tuple[float, float, list]:
    result_file = work / f"{label}.result.json"
    tasks = [
        {
            "name": NAMES_TASK,
            "ansible.builtin.set_fact": {
                "answer": "{{ lookup('community.general.dig', item[0] ~ '/' ~ item[1], '@' ~ address, port=port) }}"
            },
            "loop": "{{ names | product(['A', 'AAAA']) | list }}",
            "register": "digs",
        },
        {
            "name": "save",
            "ansible.builtin.copy": {
                "content": "{{ digs.results | map(attribute='ansible_facts.answer') | list | to_json }}",
                "dest": str(result_file),
            },
        },
    ]
    play = common.local_play(tasks, common.PEERS_VENV / "bin" / "python")
    play[0]["vars"]["names"] = "{{ lookup('ansible.builtin.file', names_file) | from_json }}"
    cmd = common.playbook(
        common.PEERS_VENV,
        play,
        work=work,
        label=label,
        extra_vars={"names_file": str(names_file), "address": address, "port": port},
    )
    return cmd.task_seconds(NAMES_TASK), cmd.wall, json.loads(result_file.read_text())


def _plain(work: Path, mode: str, names_file: Path, *, address: str, port: int, label: str) -> tuple[float, list[str]]:
    cmd = [str(common.VENV / "bin" / "python"), str(common.BENCH / "plain_resolve.py"), mode, str(names_file)]
    cmd += [address, str(port)]
    out = work / f"{label}.log"
    common.run(cmd, log_file=out)
    data = json.loads(out.read_text().strip().splitlines()[-1])
    return float(data["seconds"]), data["addresses"]


def _flatten_dig(answers: list) -> set[str]:
    found: set[str] = set()
    for answer in answers:
        parts = answer if isinstance(answer, list) else str(answer).split(",")
        found.update(p.strip() for p in parts if p and p.strip() and p.strip() != "NXDOMAIN")
    return found


def run_case(work: Path, dns_port: int, count: int, runs: int) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    names = [workload.host(i) for i in range(count)]
    names_file = work / "names.json"
    names_file.write_text(json.dumps(names))
    expected = _expected(count)
    address = "127.0.0.1"
    nameserver = f"{address}:{dns_port}"
    times: dict[str, list[float]] = {k: [] for k in ("meshguard", "meshguard_playbook", "dig_loop", "dig_playbook")}
    times.update({mode: [] for mode in PLAIN_MODES})
    floor: list[float] = []
    for r in range(runs):
        common.log(f"case 1 (resolve {count} names): run {r + 1}/{runs}")
        # The order rotates from run to run, so a drift in machine load does not
        # always hit the same contender.
        order = ["meshguard", "dig_loop", *PLAIN_MODES]
        order = order[r % len(order) :] + order[: r % len(order)]
        for who in order:
            label = f"r{r}-{who}"
            if who == "meshguard":
                task, wall, cidrs = _meshguard(work, names_file, nameserver, label)
                if _covered(cidrs) != expected:
                    raise common.BenchError("meshguard.egress.resolve did not return exactly the zone's addresses")
                times["meshguard"].append(task)
                times["meshguard_playbook"].append(wall)
            elif who == "dig_loop":
                task, wall, answers = _dig_loop(work, names_file, address, dns_port, label)
                if _flatten_dig(answers) != expected:
                    raise common.BenchError("the community.general.dig loop did not return the zone's addresses")
                times["dig_loop"].append(task)
                times["dig_playbook"].append(wall)
            else:
                seconds, found = _plain(work, who, names_file, address=address, port=dns_port, label=label)
                if set(found) != expected:
                    raise common.BenchError(f"plain dnspython ({who}) did not return the zone's addresses")
                times[who].append(seconds)
        floor.append(min(times["threads"][-1], times["asyncio"][-1]))
    ratios = {
        "dig_loop / meshguard": common.ratios(times["dig_loop"], times["meshguard"]),
        "meshguard / floor": common.ratios(times["meshguard"], floor),
        "library / floor": common.ratios(times["library"], floor),
        "sequential / meshguard": common.ratios(times["sequential"], times["meshguard"]),
        "dig playbook / meshguard playbook": common.ratios(times["dig_playbook"], times["meshguard_playbook"]),
    }
    med = {k: common.median(v) for k, v in ratios.items()}
    targets = {
        "at least 30x faster than the dig loop": {"value": med["dig_loop / meshguard"], "met": _ge(med, 30)},
        "at most 2x the plain concurrent dnspython floor": {
            "value": med["meshguard / floor"],
            "met": med["meshguard / floor"] is not None and med["meshguard / floor"] <= 2,
        },
    }
    return {
        "names": count,
        "queries_per_contender": 2 * count,
        "cname_names": sum(1 for i in range(count) if workload.is_cname(i)),
        "runs": runs,
        "seconds": {k: common.summary(v) for k, v in times.items()},
        "floor_seconds": common.summary(floor),
        "ratios": {k: {"median": med[k], "runs": v} for k, v in ratios.items()},
        "targets": targets,
    }


def _ge(med: dict[str, Any], limit: float) -> bool:
    value = med["dig_loop / meshguard"]
    return value is not None and value >= limit
