# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout as AWX and Automation Controller run it: ansible-runner over a
project folder and an inventory, in two slices (``limit``), with a DNS change
between the slices.

From one snapshot both slices leave identical objects on every cluster and ask
no DNS server; without a snapshot the second slice sees the new answers, and
says so in its events (what a controller shows of a job): its summary names
another resolution time and the objects it updated, its warnings the address
DNS no longer returns. The clusters, inventory and Knot server are those of
test_rollout.py.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import ansible_runner
import pytest
import test_rollout
from test_rollout import CLUSTERS, MONGO_CIDRS, addresses, live

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
SUMMARY = "Summary of every cluster"
SNAPSHOT_SUMMARY = "Summary of the snapshot"
MOVE_MONGO_1 = ("mongo-1.db        A     192.0.2.11", "mongo-1.db        A     192.0.2.21")
FIRST_HALF, SECOND_HALF = "local-1", "local-2:local-3"

# test_rollout's fixtures: its inventory of the three clusters and its DNS server.
rollout_dns = test_rollout.rollout_dns
dns = test_rollout.dns
rollout = test_rollout.rollout


class Events:
    """What a job's events say (``self.events``: the runner's events, in order), as a controller shows them."""

    events: list[dict]

    def messages(self, task: str) -> list[list[str]]:
        """What the debug task ``task`` printed, from the runner's events."""
        return [
            e["event_data"]["res"]["msg"]
            for e in self.events
            if e.get("event") == "runner_on_ok" and e["event_data"].get("task", "").endswith(task)
        ]

    def summary(self) -> list[str]:
        (lines,) = self.messages(SUMMARY)
        return lines

    def hosts(self) -> set[str]:
        return {e["event_data"]["host"] for e in self.events if e.get("event") == "runner_on_ok"} - {"localhost"}


class Job(Events):
    """One ansible-runner job over a project folder that imports one of the collection's playbooks."""

    def __init__(self, rollout, base: Path, label: str, playbook: str, limit: str = "", **extravars):
        private = base / f"job-{label}"
        project = private / "project"
        project.mkdir(parents=True)
        (project / "main.yml").write_text(f"- ansible.builtin.import_playbook: {playbook}\n")
        self.runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(project),
            playbook="main.yml",
            inventory=str(rollout.dir / "inventory.yml"),
            limit=limit or None,
            extravars=extravars,
            envvars={
                # The project folder has no ansible.cfg: the collection comes from this checkout's tree.
                "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
                "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "ANSIBLE_NOCOLOR": "1",
            },
            quiet=True,
            timeout=600,
        )
        self.events = list(self.runner.events)
        self.stdout = "\n".join(e.get("stdout", "") for e in self.events)

    def ok(self) -> Job:
        assert (self.runner.status, self.runner.rc) == ("successful", 0), self.stdout[-4000:]
        return self


def objects_by_cluster(local_clusters, rollout) -> dict[str, dict]:
    return {ctx: live(local_clusters, ctx, rollout.namespace, rollout.set_name) for ctx in CLUSTERS}


def same_on_every_cluster(found: dict[str, dict], key: str) -> None:
    """The object ``key`` is the same on every cluster: spec, labels and annotations (last-seen included)."""
    views = [
        (o["spec"], o["metadata"]["labels"], o["metadata"].get("annotations"))
        for o in (found[c][key] for c in CLUSTERS)
    ]
    assert views[0] == views[1] == views[2], key


def test_two_slices_from_one_snapshot_leave_identical_objects_and_ask_no_dns(local_clusters, rollout, dns, tmp_path):
    path = tmp_path / "snapshot.yml"
    snapshot_job = Job(
        rollout, tmp_path, "snapshot", "meshguard.egress.snapshot", meshguard_egress_snapshot=str(path)
    ).ok()
    (lines,) = snapshot_job.messages(SNAPSHOT_SUMMARY)
    assert lines[0].startswith(f"snapshot {path} taken ")

    start = dns.queries()
    first = Job(
        rollout, tmp_path, "slice-1", "meshguard.egress.rollout", FIRST_HALF, meshguard_egress_snapshot=str(path)
    ).ok()
    assert dns.queries() == start  # no DNS query
    dns.edit(MOVE_MONGO_1)  # between the slices (a reload: Knot's counters start again)
    start = dns.queries()
    second = Job(
        rollout, tmp_path, "slice-2", "meshguard.egress.rollout", SECOND_HALF, meshguard_egress_snapshot=str(path)
    ).ok()
    assert dns.queries() == start
    assert first.hosts() == {"local-1"} and second.hosts() == {"local-2", "local-3"}

    # The summary reaches the runner's events, per cluster, with the snapshot both slices used.
    header = f"set {rollout.set_name}, state present; addresses of snapshot {path} taken "
    assert first.summary()[0].startswith(header) and first.summary()[0] == second.summary()[0]
    assert first.summary()[1:] == ["local-1 (context local-1): 6 created, 0 updated, 0 deleted, 0 unchanged"]
    assert second.summary()[1:] == [
        "local-2 (context local-2): 6 created, 0 updated, 0 deleted, 0 unchanged",
        "local-3 (context local-3): 6 created, 0 updated, 0 deleted, 0 unchanged",
    ]
    found = objects_by_cluster(local_clusters, rollout)
    for ctx in CLUSTERS:
        assert addresses(found[ctx], rollout.set_name, "mongo") == MONGO_CIDRS, ctx
    for kind in ("ServiceEntry", "NetworkPolicy"):
        for service in ("mongo", "mysql"):
            same_on_every_cluster(found, f"{kind}/{rollout.set_name}--{service}")


def test_two_slices_without_a_snapshot_report_the_difference(local_clusters, rollout, dns, tmp_path):
    Job(rollout, tmp_path, "full", "meshguard.egress.rollout").ok()
    first = Job(rollout, tmp_path, "slice-1", "meshguard.egress.rollout", FIRST_HALF).ok()
    dns.edit(MOVE_MONGO_1)  # between the slices
    second = Job(rollout, tmp_path, "slice-2", "meshguard.egress.rollout", SECOND_HALF).ok()

    found = objects_by_cluster(local_clusters, rollout)
    assert addresses(found["local-1"], rollout.set_name, "mongo") == MONGO_CIDRS
    moved = ["192.0.2.10/31", "192.0.2.21/32", "198.51.100.7/32", "2001:db8:7::7/128"]  # .11 retained for 24h
    for ctx in ("local-2", "local-3"):
        assert addresses(found[ctx], rollout.set_name, "mongo") == moved, ctx

    # Not hidden: each slice says when it resolved, and the second one what it changed and why.
    times = [re.search(r"addresses resolved from DNS at (\S+)$", job.summary()[0]).group(1) for job in (first, second)]
    assert times[0] < times[1]
    assert first.summary()[1:] == ["local-1 (context local-1): 0 created, 0 updated, 0 deleted, 6 unchanged"]
    assert second.summary()[1:] == [
        "local-2 (context local-2): 0 created, 2 updated, 0 deleted, 4 unchanged",
        "local-3 (context local-3): 0 created, 2 updated, 0 deleted, 4 unchanged",
    ]
    assert "service 'mongo': 192.0.2.11 is no longer returned by DNS" in second.stdout
    assert "no longer returned by DNS" not in first.stdout
