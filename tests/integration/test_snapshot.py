# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address snapshots: the playbook meshguard.egress.snapshot writes them, a
rollout with meshguard_egress_snapshot applies them without asking DNS.

The same three local clusters, inventory and Knot server as test_rollout.py
(its fixtures and helpers). That no DNS query is made is read from Knot's own
query counter; what the clusters hold, with kubectl.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re

import pytest
import test_rollout
import yaml
from test_rollout import (
    APPLY_TASK,
    CLUSTERS,
    MONGO,
    MONGO_CIDRS,
    MONGO_HOSTS,
    SERVICES,
    addresses,
    live,
    ok,
    snapshot,
    untouched,
)

pytestmark = pytest.mark.integration

# test_rollout's fixtures: its inventory of the three clusters and its DNS server.
rollout_dns = test_rollout.rollout_dns
dns = test_rollout.dns
rollout = test_rollout.rollout

SNAPSHOT_TASK = "Take the address snapshot of every cluster's services"
SNAPSHOT_SUMMARY = "Summary of the snapshot"
LAST_SEEN = "meshguard.egress/last-seen"
MOVE_MONGO_1 = ("mongo-1.db        A     192.0.2.11", "mongo-1.db        A     192.0.2.21")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def take(rollout, path, *args):
    return rollout.play("meshguard.egress.snapshot", *args, meshguard_egress_snapshot=str(path))


def without_time(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("time:")]


def snapshot_lines(run) -> list[str]:
    (result,) = [r["result"]["msg"] for r in run.records if r["task"] == SNAPSHOT_SUMMARY and r["status"] == "ok"]
    return result


def test_the_snapshot_lists_every_host_and_a_rerun_reports_only_address_changes(local_clusters, rollout, dns, tmp_path):
    path = tmp_path / "reviewed" / "snapshot.yml"
    first = ok(take(rollout, path))
    assert first.results(APPLY_TASK) == {}  # no cluster is contacted
    (result,) = first.results(SNAPSHOT_TASK).values()
    assert result["changed"] is True
    data = yaml.safe_load(path.read_text())
    assert TIME.match(data["time"])
    # Every host name of every cluster's services (cache is scoped to local-3), literals need no DNS.
    assert sorted(data["hosts"]) == sorted([*MONGO_HOSTS, "cache.rollout.test"])
    assert data["services"] == {
        "cache": ["cache.rollout.test"],
        "mongo": MONGO_HOSTS,
        "mysql": [],
        "partner": [],
    }
    server = f"127.0.0.1:{dns.server.port}"
    assert data["hosts"]["mongo-2.db.rollout.test"] == {
        "addresses": ["198.51.100.7", "2001:db8:7::7"],
        "cname_chain": ["node-7.hosting.rollout.test"],
        "nameservers": [server],
        "ttl": 300,
    }
    assert snapshot_lines(first)[1:] == ["service 'cache': cache.rollout.test: +192.0.2.40"] + [
        f"service 'mongo': {h}: {a}"
        for h, a in zip(MONGO_HOSTS, ["+192.0.2.10", "+192.0.2.11", "+198.51.100.7 +2001:db8:7::7"])
    ]

    # Rerun with the same answers: not changed; only the time line may differ.
    text = path.read_text()
    again = ok(take(rollout, path))
    assert again.changed() == {c: 0 for c in CLUSTERS}
    assert snapshot_lines(again)[1:] == ["no address changed"]
    assert without_time(path.read_text()) == without_time(text)

    # DNS changes: --check --diff shows the change per service and host and writes nothing.
    text = path.read_text()
    dns.edit(MOVE_MONGO_1)
    preview = ok(take(rollout, path, "--check", "--diff"))
    assert path.read_text() == text
    assert snapshot_lines(preview)[0].endswith("check mode: nothing was written")
    assert snapshot_lines(preview)[1:] == ["service 'mongo': mongo-1.db.rollout.test: +192.0.2.21 -192.0.2.11"]
    (result,) = preview.results(SNAPSHOT_TASK).values()
    assert result["changed"] is True
    assert result["changes"] == [
        {"service": "mongo", "host": "mongo-1.db.rollout.test", "added": ["192.0.2.21"], "removed": ["192.0.2.11"]}
    ]
    assert "-    - 192.0.2.11\n+    - 192.0.2.21" in preview.out  # the file's diff, as the merge request shows it

    written = ok(take(rollout, path))
    assert yaml.safe_load(path.read_text())["hosts"]["mongo-1.db.rollout.test"]["addresses"] == ["192.0.2.21"]
    assert set(written.changed().values()) == {1, 0}  # changed once, on the host that ran it


def test_a_rollout_from_a_snapshot_asks_no_dns_and_applies_the_snapshot(local_clusters, rollout, dns, tmp_path):
    path = tmp_path / "snapshot.yml"
    ok(take(rollout, path))
    taken = yaml.safe_load(path.read_text())["time"]
    dns.edit(MOVE_MONGO_1)  # DNS moves on after the snapshot; the rollout must not see it
    start = dns.queries()
    run = ok(rollout.rollout(meshguard_egress_snapshot=str(path)))
    assert dns.queries() == start
    assert run.summary()[0][0].startswith(
        f"set {rollout.set_name}, state present; addresses of snapshot {path} taken {taken} (sha256 "
    )
    for ctx in CLUSTERS:
        assert addresses(live(local_clusters, ctx, rollout.namespace, rollout.set_name), rollout.set_name, "mongo") == (
            MONGO_CIDRS
        )

    # The next snapshot sees the move. Applied, the address DNS dropped is retained, missing since the
    # snapshot's time: the same last-seen annotation on every cluster, whenever each applied it.
    ok(take(rollout, path))
    second = yaml.safe_load(path.read_text())["time"]
    start = dns.queries()
    ok(rollout.rollout(meshguard_egress_snapshot=str(path), meshguard_egress_serial=1))
    assert dns.queries() == start
    seen = {
        ctx: live(local_clusters, ctx, rollout.namespace, rollout.set_name)[f"ServiceEntry/{rollout.set_name}--mongo"][
            "metadata"
        ]["annotations"][LAST_SEEN]
        for ctx in CLUSTERS
    }
    assert len(set(seen.values())) == 1, seen
    assert json.loads(seen["local-1"])["192.0.2.11"] == second


def test_a_host_missing_from_the_snapshot_or_an_old_snapshot_fails_before_any_cluster(
    local_clusters, rollout, dns, tmp_path
):
    path = tmp_path / "snapshot.yml"
    ok(take(rollout, path))
    ok(rollout.rollout(meshguard_egress_snapshot=str(path)))
    before = snapshot(local_clusters, rollout)

    # A service added after the snapshot was taken.
    reports = {"name": "reports", "hosts": ["reports.rollout.test"], "ports": [{"number": 5432, "protocol": "TCP"}]}
    rollout.write([*SERVICES, reports])
    run = rollout.rollout(meshguard_egress_snapshot=str(path))
    assert run.rc == 2, run.out
    assert "1 host name(s) of the rule set are not in it: reports.rollout.test" in run.out
    untouched(local_clusters, rollout, run, before)

    # A snapshot older than the maximum age (its time set back by a day).
    rollout.write(SERVICES)
    text = path.read_text()
    stamp = yaml.safe_load(text)["time"]
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(text.replace(f"time: '{stamp}'", f"time: '{old}'"))
    run = rollout.rollout(meshguard_egress_snapshot=str(path))
    assert run.rc == 2, run.out
    assert f"taken at {old}" in run.out and "older than the maximum age 24h" in run.out
    untouched(local_clusters, rollout, run, before)
    # Any age, when the pipeline says so.
    ok(rollout.rollout(meshguard_egress_snapshot=str(path), meshguard_egress_snapshot_max_age="0"))


def test_a_host_that_did_not_resolve_is_kept_in_the_snapshot_only_with_keep(local_clusters, rollout, dns, tmp_path):
    path = tmp_path / "snapshot.yml"
    ok(take(rollout, path))
    ok(rollout.rollout(meshguard_egress_snapshot=str(path)))
    text = path.read_text()
    dns.edit(("mongo-1.db        A     192.0.2.11\n", ""))

    failed = take(rollout, path)
    assert failed.rc == 2, failed.out
    assert "mongo-1.db.rollout.test: does not exist" in failed.out
    assert path.read_text() == text  # nothing written

    rollout.write([MONGO], meshguard_egress_on_error="keep")
    ok(take(rollout, path))
    entry = yaml.safe_load(path.read_text())["hosts"]["mongo-1.db.rollout.test"]
    assert entry["addresses"] == [] and entry["error"]["type"] == "NXDOMAIN"
    # The rollout from it keeps the live rules of mongo, as with DNS.
    run = ok(rollout.rollout(meshguard_egress_snapshot=str(path)))
    for ctx in CLUSTERS:
        objects = live(local_clusters, ctx, rollout.namespace, rollout.set_name)
        assert addresses(objects, rollout.set_name, "mongo") == MONGO_CIDRS
    last = run.summary()[0][-1]
    assert last.startswith("not resolved, live rules kept: mongo-1.db.rollout.test") and last.endswith(
        "(every cluster)"
    )


def test_a_snapshot_given_as_data_is_applied_and_checked_as_its_file(local_clusters, rollout, dns, tmp_path):
    path = tmp_path / "snapshot.yml"
    ok(take(rollout, path))
    data = yaml.safe_load(path.read_text())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    dns.edit(MOVE_MONGO_1)  # DNS moves on; the rollout must apply the data, not ask
    start = dns.queries()
    run = ok(rollout.rollout(meshguard_egress_snapshot_data=data))
    assert dns.queries() == start
    # Named by the variable and the digest of the file the same snapshot makes: the file's.
    assert run.summary()[0][0] == (
        f"set {rollout.set_name}, state present; addresses of snapshot meshguard_egress_snapshot_data taken "
        f"{data['time']} (sha256 {digest[:12]})"
    )
    for ctx in CLUSTERS:
        objects = live(local_clusters, ctx, rollout.namespace, rollout.set_name)
        assert addresses(objects, rollout.set_name, "mongo") == MONGO_CIDRS
    before = snapshot(local_clusters, rollout)

    # The file's text is accepted too (a survey's text field).
    ok(rollout.rollout(meshguard_egress_snapshot_data=path.read_text()))

    # The checks of a file: a host missing from it, an old one; neither touches a cluster.
    missing = {**data, "hosts": {h: e for h, e in data["hosts"].items() if h != "cache.rollout.test"}}
    missing["services"] = {s: h for s, h in data["services"].items() if s != "cache"}
    run = rollout.rollout(meshguard_egress_snapshot_data=missing)
    assert run.rc == 2, run.out
    assert "meshguard_egress_snapshot_data: 1 host name(s) of the rule set are not in it: cache.rollout.test" in run.out
    untouched(local_clusters, rollout, run, before)
    old = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = rollout.rollout(meshguard_egress_snapshot_data={**data, "time": old})
    assert run.rc == 2, run.out
    assert f"meshguard_egress_snapshot_data: taken at {old}" in run.out and "older than the maximum age 24h" in run.out
    untouched(local_clusters, rollout, run, before)
    # A file and data together: which one would apply is not guessed.
    run = rollout.rollout(meshguard_egress_snapshot=str(path), meshguard_egress_snapshot_data=data)
    assert run.rc == 2, run.out
    assert "give meshguard_egress_snapshot or meshguard_egress_snapshot_data, not both" in run.out
    untouched(local_clusters, rollout, run, before)
