# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout as an AWX execution node runs it: ``ansible-runner transmit | ansible-runner worker |
ansible-runner process``, the worker in a private data directory of its own that it deletes when the job
ends, events and artifacts streamed back to the controller's side.

A workflow "snapshot, then a sliced rollout" with no shared file: the snapshot job publishes the snapshot
with set_stats (it comes back through ``process`` as the job's artifact data, as AWX reads it), and each
slice gets it as an extra variable. The clusters, inventory and Knot server are those of test_rollout.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import test_rollout
from test_rollout import CLUSTERS, MONGO_CIDRS, addresses
from test_runner import MOVE_MONGO_1, SNAPSHOT_SUMMARY, Events, objects_by_cluster, same_on_every_cluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
RUNNER = str(VENV_BIN / "ansible-runner")
DATA = "meshguard_egress_snapshot_data"

# test_rollout's fixtures: its inventory of the three clusters and its DNS server.
rollout_dns = test_rollout.rollout_dns
dns = test_rollout.dns
rollout = test_rollout.rollout


class StreamedJob(Events):
    """One job: the controller's private data directory (project, inventory, env/extravars), streamed by
    transmit to a worker with a directory of its own, whose output process turns into artifacts."""

    def __init__(self, rollout, base: Path, label: str, playbook: str, limit: str = "", **extravars: Any):
        private = base / f"controller-{label}"
        project = private / "project"
        project.mkdir(parents=True)
        (project / "main.yml").write_text(f"- ansible.builtin.import_playbook: {playbook}\n")
        # The inventory folder as AWX writes it: the inventory and its group_vars.
        shutil.copytree(rollout.dir, private / "inventory", ignore=shutil.ignore_patterns("run-*"))
        (private / "env").mkdir()
        (private / "env" / "extravars").write_text(json.dumps(extravars))
        envvars = {
            # The project has no ansible.cfg: the collection comes from this checkout's tree.
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_NOCOLOR": "1",
        }
        (private / "env" / "envvars").write_text(json.dumps(envvars))
        self.worker_dir = base / f"worker-{label}"
        self.process_dir = base / f"process-{label}"
        self.label = label
        environ = {**os.environ, "PATH": envvars["PATH"]}
        transmit_cmd = [RUNNER, "transmit", str(private), "-p", "main.yml", "--ident", label]
        if limit:
            transmit_cmd += ["--limit", limit]
        transmit = subprocess.Popen(transmit_cmd, stdout=subprocess.PIPE, env=environ)
        worker = subprocess.Popen(
            [RUNNER, "worker", "--private-data-dir", str(self.worker_dir), "--delete"],
            stdin=transmit.stdout,
            stdout=subprocess.PIPE,
            env=environ,
        )
        transmit.stdout.close()  # the worker holds the pipe now
        process = subprocess.run(
            [RUNNER, "process", str(self.process_dir), "--ident", label],
            stdin=worker.stdout,
            capture_output=True,
            text=True,
            env=environ,
            timeout=600,
            check=False,
        )
        worker.stdout.close()
        self.codes = (transmit.wait(timeout=60), worker.wait(timeout=60), process.returncode)
        self.streams = process.stdout + process.stderr
        artifacts = self.process_dir / "artifacts" / label
        self.status = (artifacts / "status").read_text().strip() if (artifacts / "status").exists() else ""
        self.rc = (artifacts / "rc").read_text().strip() if (artifacts / "rc").exists() else ""
        events = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
        self.events = sorted(events, key=lambda e: e["counter"])
        self.stdout = "\n".join(e.get("stdout", "") for e in self.events)

    def ok(self) -> StreamedJob:
        assert (self.status, self.rc, self.codes) == ("successful", "0", (0, 0, 0)), self.stdout[-4000:] + self.streams
        return self

    def stats(self) -> dict:
        """The set_stats data AWX passes to the next workflow node: the artifact data of the stats event."""
        (event,) = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        return event["event_data"].get("artifact_data") or {}


def test_a_workflow_snapshot_then_two_slices_on_execution_nodes_with_no_shared_file(
    local_clusters, rollout, dns, tmp_path
):
    taken = StreamedJob(
        rollout, tmp_path, "snapshot", "meshguard.egress.snapshot", meshguard_egress_snapshot_stats=True
    )
    taken.ok()
    assert not taken.worker_dir.exists()  # the worker deleted its private data directory
    data = taken.stats()[DATA]
    (lines,) = taken.messages(SNAPSHOT_SUMMARY)
    assert lines[0].startswith(f"snapshot taken {data['time']}, ") and f"published as {DATA} (sha256 " in lines[0]
    digest = lines[0].split("(sha256 ")[1][:12]
    assert sorted(data["hosts"]) == sorted(["cache.rollout.test", *test_rollout.MONGO_HOSTS])

    dns.edit(MOVE_MONGO_1)  # DNS moves on: every slice must apply the published addresses, asking no DNS
    start = dns.queries()
    first = StreamedJob(rollout, tmp_path, "slice-1", "meshguard.egress.rollout", "local-1", **{DATA: data}).ok()
    second = StreamedJob(rollout, tmp_path, "slice-2", "meshguard.egress.rollout", "local-2:local-3", **{DATA: data})
    second.ok()
    assert dns.queries() == start
    assert not first.worker_dir.exists() and not second.worker_dir.exists()
    assert first.hosts() == {"local-1"} and second.hosts() == {"local-2", "local-3"}

    # The per-cluster summary came back through process, naming the same snapshot in both slices.
    header = (
        f"set {rollout.set_name}, state present; addresses of snapshot {DATA} taken {data['time']} (sha256 {digest})"
    )
    assert first.summary()[0] == second.summary()[0] == header
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


def test_a_slice_whose_limit_matches_no_cluster_fails_clearly(local_clusters, rollout, dns, tmp_path):
    empty = StreamedJob(rollout, tmp_path, "empty", "meshguard.egress.rollout", "no-such-cluster")
    assert (empty.status, empty.rc != "0") == ("failed", True), empty.stdout + empty.streams
    # Ansible names the pattern and refuses to run without a host; the job fails, as AWX fails such a slice.
    assert "Could not match supplied host pattern, ignoring: no-such-cluster" in empty.stdout, empty.stdout
    assert "leaves us with no hosts to target" in empty.stdout, empty.stdout
    assert not empty.worker_dir.exists()
