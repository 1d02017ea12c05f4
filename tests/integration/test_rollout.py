# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The meshguard.egress.rollout and meshguard.egress.render playbooks, run
with ansible-playbook from the repository root against the three local
kube-apiservers and a Knot DNS server of this module's own.

Each test writes an inventory (group egress_clusters: local-1 and local-2 in
group eu, local-3 in group us), a fresh namespace on every cluster and a set
name of its own. The DNS server serves a copy of files/rollout-dns, which the
tests edit and reload. What ansible did is read three ways: what it printed,
the JSON lines of the test callback files/callback_plugins/meshguard_record.py
(every task result), and independently from the clusters (kubectl,
apiserver_request_total) and the DNS server (Knot's query counters).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from clusterlib import ANSIBLE_PLAYBOOK, KUBECONFIG, writes
from dnslib import dnstool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).parent / "files"
ZONE_FILE = "rollout.test.zone"
CLUSTERS = ["local-1", "local-2", "local-3"]
OUR_RESOURCES = {"serviceentries", "networkpolicies", "sidecars", "egressrules"}
KINDS = {"ServiceEntry": "serviceentries.networking.istio.io", "NetworkPolicy": "networkpolicies.networking.k8s.io"}
APPLY_TASK = "Bring every cluster of this batch to the rule set"
OUTCOME_TASK = "The outcome of this cluster (changed, its diffs; failed when the rule set could not be applied to it)"
RESOLVE_TASK = "Check every cluster and resolve their host names, once for the whole run"
STOP_TASK = "Stop before any cluster is touched"
SUMMARY_TASK = "Summary of every cluster"

MONGO_HOSTS = ["mongo-0.db.rollout.test", "mongo-1.db.rollout.test", "mongo-2.db.rollout.test"]
MONGO = {"name": "mongo", "hosts": MONGO_HOSTS, "ports": [{"number": 27017, "protocol": "MONGO"}]}
MYSQL = {"name": "mysql", "hosts": ["192.0.2.50"], "ports": [{"number": 3306, "protocol": "MYSQL"}]}
PARTNER = {
    "name": "partner",
    "hosts": ["203.0.113.64/27"],
    "ports": [{"number": 443, "protocol": "TLS"}],
    "clusters": ["eu"],  # a group: local-1 and local-2
}
CACHE = {
    "name": "cache",
    "hosts": ["cache.rollout.test"],
    "ports": [{"number": 6379, "protocol": "REDIS"}],
    "clusters": ["local-3"],  # one cluster
}
SERVICES = [MONGO, MYSQL, PARTNER, CACHE]
MONGO_CIDRS = ["192.0.2.10/31", "198.51.100.7/32", "2001:db8:7::7/128"]

_RECAP = re.compile(
    r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)",
    re.MULTILINE,
)


# --------------------------------------------------------------------------- DNS


@dataclass
class Zone:
    """The module's DNS server and the zone file it serves (a copy the tests may edit)."""

    server: Any
    path: Path
    original: str

    def write(self, text: str) -> None:
        self.path.write_text(text)
        dnstool.reload(self.server.port, self.server.state_dir)

    def edit(self, *replacements: tuple[str, str]) -> None:
        text = self.path.read_text()
        for old, new in replacements:
            assert old in text, f"{old!r} is not in the zone"
            text = text.replace(old, new)
        self.write(text)

    def reset(self) -> None:
        if self.path.read_text() != self.original:
            self.write(self.original)

    def queries(self) -> int:
        return self.server.stats().get("server-operation[query]", 0)


@pytest.fixture(scope="module")
def rollout_dns(tmp_path_factory):
    zones = tmp_path_factory.mktemp("rollout-zones")
    shutil.copy(FILES / "rollout-dns" / ZONE_FILE, zones / ZONE_FILE)
    state = tmp_path_factory.mktemp("dns-rollout")
    try:
        server = dnstool.up(zones, dnstool.free_port(), state_dir=state)
    except dnstool.DnsToolError as exc:
        pytest.fail(f"cannot start the DNS server of the rollout tests: {exc}", pytrace=False)
    yield Zone(server, zones / ZONE_FILE, (zones / ZONE_FILE).read_text())
    dnstool.down(server.port, server.state_dir)


@pytest.fixture
def dns(rollout_dns):
    rollout_dns.reset()
    return rollout_dns


# --------------------------------------------------------------------------- ansible-playbook


@dataclass
class Run:
    rc: int
    out: str
    records: list[dict]
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    def results(self, task: str, status: Optional[str] = None) -> dict[str, dict]:
        """The result of one task by host (the last one when a host ran it more than once)."""
        return {
            r["host"]: r["result"]
            for r in self.records
            if r["task"] == task and (status is None or r["status"] == status)
        }

    def applied(self) -> dict[str, dict]:
        """Each cluster's outcome, as its own outcome task returns it (the role registers it as
        meshguard_egress_outcome)."""
        return self.results(OUTCOME_TASK)

    def diffs(self, host: str) -> list[dict]:
        """The diffs of one cluster, as its own outcome task shows them with --diff."""
        return self.results(OUTCOME_TASK)[host].get("diff", [])

    def statuses(self, task: str) -> list[tuple[str, str]]:
        return [(r["host"], r["status"]) for r in self.records if r["task"] == task]

    def summary(self) -> list[list[str]]:
        """Every summary printed (one per serial batch)."""
        return [r["result"]["msg"] for r in self.records if r["task"] == SUMMARY_TASK and r["status"] == "ok"]

    def changed(self) -> dict[str, int]:
        return {host: counts["changed"] for host, counts in self.recap.items()}


@dataclass
class Rollout:
    """An inventory of the three test clusters, and ansible-playbook runs against it."""

    dir: Path
    namespace: str
    set_name: str
    dns: Zone
    runs: int = 0

    def write(self, services: list, extra: Optional[dict[str, dict]] = None, **group_vars: Any) -> None:
        """The inventory, group_vars/egress_clusters.yml, and ``extra`` vars files
        ({"group_vars/eu.yml": {...}, "host_vars/local-3.yml": {...}})."""
        inventory = {
            "egress_clusters": {
                "vars": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                    "meshguard_egress_kubeconfig": str(KUBECONFIG),
                },
                "children": {
                    "eu": {"hosts": {c: {"meshguard_egress_context": c} for c in CLUSTERS[:2]}},
                    "us": {"hosts": {CLUSTERS[2]: {"meshguard_egress_context": CLUSTERS[2]}}},
                },
            }
        }
        values = {
            "meshguard_egress_set": self.set_name,
            "meshguard_egress_namespace": self.namespace,
            "meshguard_egress_network_policy": True,
            "meshguard_egress_resolver": {"nameservers": ["127.0.0.1"], "port": self.dns.server.port, "timeout": 2},
            "meshguard_egress_services": services,
        }
        values.update(group_vars)
        (self.dir / "group_vars").mkdir(parents=True, exist_ok=True)
        (self.dir / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
        (self.dir / "group_vars" / "egress_clusters.yml").write_text(yaml.safe_dump(values, sort_keys=False))
        for name, content in (extra or {}).items():
            (self.dir / name).parent.mkdir(parents=True, exist_ok=True)
            (self.dir / name).write_text(yaml.safe_dump(content, sort_keys=False))

    def play(
        self,
        playbook: str = "meshguard.egress.rollout",
        *args: str,
        cwd: Path = ROOT,
        env: Optional[dict[str, str]] = None,
        **extra_vars: Any,
    ) -> Run:
        """ansible-playbook from ``cwd`` (the repository root: its ansible.cfg finds this working
        copy as the collection), with ``env`` added to the environment."""
        self.runs += 1
        record = self.dir / f"run-{self.runs}.jsonl"
        cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(self.dir / "inventory.yml"), playbook, *args]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        full_env = {
            **os.environ,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_CALLBACK_PLUGINS": str(FILES / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "meshguard_record",
            "MESHGUARD_RECORD": str(record),
            **(env or {}),
        }
        res = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600, check=False)
        out = res.stdout + res.stderr
        records = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        recap = {
            m.group(1): dict(
                zip(("ok", "changed", "unreachable", "failed", "skipped", "rescued"), map(int, m.groups()[1:]))
            )
            for m in _RECAP.finditer(out)
        }
        return Run(res.returncode, out, records, recap)

    def rollout(self, *args: str, **extra_vars: Any) -> Run:
        return self.play("meshguard.egress.rollout", *args, **extra_vars)


@pytest.fixture
def rollout(tmp_path, namespace, dns) -> Rollout:
    r = Rollout(tmp_path / "inventory", namespace, f"r{uuid.uuid4().hex[:8]}", dns)
    r.write(SERVICES)
    return r


def ok(run: Run) -> Run:
    assert run.rc == 0, run.out
    return run


# --------------------------------------------------------------------------- cluster helpers


def live(local_clusters, context: str, namespace: str, set_name: str) -> dict[str, dict]:
    """The set's ServiceEntries and NetworkPolicies on a cluster, by Kind/name, read with kubectl."""
    found = {}
    for kind, resource in KINDS.items():
        for obj in local_clusters.get(context, resource, namespace):
            if obj["metadata"].get("labels", {}).get("meshguard.egress/set") == set_name:
                found[f"{kind}/{obj['metadata']['name']}"] = obj
    return found


def addresses(objects: dict[str, dict], set_name: str, service: str) -> list[str]:
    return objects[f"ServiceEntry/{set_name}--{service}"]["spec"]["addresses"]


def our_writes(before: dict, after: dict, *, dry_run: bool = False) -> dict[str, dict]:
    """Write requests to our resources per cluster between two readings of apiserver_request_total."""
    return {
        ctx: {k: n for k, n in writes(before[ctx], after[ctx], dry_run=dry_run).items() if k[1] in OUR_RESOURCES}
        for ctx in CLUSTERS
    }


def counters(local_clusters) -> dict:
    return {ctx: local_clusters.requests(ctx) for ctx in CLUSTERS}


NOTHING = {ctx: {} for ctx in CLUSTERS}


def snapshot(local_clusters, rollout) -> dict[str, dict]:
    return {ctx: live(local_clusters, ctx, rollout.namespace, rollout.set_name) for ctx in CLUSTERS}


def untouched(local_clusters, rollout, run: Run, before: dict[str, dict]) -> None:
    """The run stopped before any cluster was touched: the task that talks to
    the clusters never ran, and every object is as it was (resourceVersion
    included). Write counters are not used here: they are cluster-wide, and
    other tests may use the shared clusters at any time."""
    assert run.applied() == {}
    assert snapshot(local_clusters, rollout) == before


def stopped(run: Run) -> str:
    """The run stopped before any cluster was touched: every cluster failed in the stop task (none shows
    as green), the first with the run's one report, the others pointing to it; the report printed once."""
    results = run.results(STOP_TASK, "failed")
    assert sorted(results) == CLUSTERS, run.out
    assert all(run.recap[c]["failed"] == 1 for c in CLUSTERS), run.recap
    report = results["local-1"]["msg"]
    for ctx in CLUSTERS[1:]:
        assert results[ctx]["msg"] == (
            "not touched: the run stopped before any cluster was touched (the problems are reported once, by local-1)"
        )
    assert report.startswith("the rule set was applied to no cluster, ")
    first = report.splitlines()[2]
    # Printed by one host's failure only (which ansible-core shows as an error block and as the fatal result).
    failures = [line for line in run.out.splitlines() if line.startswith("fatal: [") and first in line]
    assert [line.split("]")[0] for line in failures] == ["fatal: [local-1"], run.out
    return report


def wait_serving(local_clusters, context: str, timeout: float = 120.0) -> None:
    """After a restart /readyz answers before the storage of custom resources is
    initialised (429 "storage is (re)initializing"); wait until they are listed."""
    deadline = time.monotonic() + timeout
    while True:
        res = local_clusters.kubectl(
            context, "get", "serviceentries.networking.istio.io,egressrules.config.istio.io", "-A", check=False
        )
        if res.returncode == 0:
            return
        assert time.monotonic() < deadline, f"{context}: custom resources not served: {res.stderr}"
        time.sleep(0.5)


def measured(local_clusters, action, *, dry_runs_expected: bool = False, attempts: int = 5):
    """Run ``action`` (a playbook run that must not write) and return it with
    the write requests to our resources the clusters counted meanwhile: real
    ones, and server-side dry runs.

    apiserver_request_total is cluster-wide, and the test clusters are shared
    with every other test, so another client may write during the run. A run of
    ours that writes does so on every attempt (the runs measured here change
    nothing, so every attempt starts from the same state), so repeating the
    measurement until one window has no foreign write cannot hide it.
    """
    for _attempt in range(attempts):
        before = counters(local_clusters)
        run = action()
        after = counters(local_clusters)
        real, dry = our_writes(before, after), our_writes(before, after, dry_run=True)
        if real == NOTHING and (dry_runs_expected or dry == NOTHING):
            break
    return run, real, dry


# --------------------------------------------------------------------------- tests


def test_first_rollout_then_a_rerun_changes_and_writes_nothing(local_clusters, rollout):
    first = ok(rollout.rollout())
    assert first.changed() == {c: 1 for c in CLUSTERS}, first.out

    set_name = rollout.set_name
    expected = {
        # partner is scoped to group eu, cache to host local-3.
        "local-1": {"mongo", "mysql", "partner"},
        "local-2": {"mongo", "mysql", "partner"},
        "local-3": {"mongo", "mysql", "cache"},
    }
    for ctx in CLUSTERS:
        objects = live(local_clusters, ctx, rollout.namespace, set_name)
        names = {f"{kind}/{set_name}--{svc}" for svc in expected[ctx] for kind in KINDS}
        assert set(objects) == names, ctx
        # Every cluster got the same answers: the CNAME'd member included, v4 and v6.
        assert addresses(objects, set_name, "mongo") == MONGO_CIDRS
        # Several names: one synthetic host (Istio builds a service per host and
        # address), the names in the sources annotation.
        mongo = objects[f"ServiceEntry/{set_name}--mongo"]
        assert mongo["spec"]["hosts"] == [f"{set_name}--mongo.{rollout.namespace}.meshguard-egress.invalid"]
        assert mongo["metadata"]["annotations"]["meshguard.egress/sources"] == ",".join(MONGO_HOSTS)

    # One summary, listing every cluster.
    (summary,) = first.summary()
    # The first line says where the addresses come from: one resolution, at one time, for every cluster.
    assert re.fullmatch(rf"set {set_name}, state present; addresses resolved from DNS at \S+Z", summary[0])
    assert summary[1:] == [
        "local-1 (context local-1): 6 created, 0 updated, 0 deleted, 0 unchanged",
        "local-2 (context local-2): 6 created, 0 updated, 0 deleted, 0 unchanged",
        "local-3 (context local-3): 6 created, 0 updated, 0 deleted, 0 unchanged",
    ]

    def rerun():
        run = ok(rollout.rollout())
        assert run.changed() == {c: 0 for c in CLUSTERS}, run.out
        return run

    again, real, dry = measured(local_clusters, rerun)
    assert real == NOTHING
    assert dry == NOTHING
    assert again.summary()[0][1:] == [
        f"{c} (context {c}): 0 created, 0 updated, 0 deleted, 6 unchanged" for c in CLUSTERS
    ]


def test_a_cluster_whose_objects_differ_gets_its_own_plan_and_reachability(local_clusters, rollout):
    """The clusters of a run share the rendering and the reachability change of what they hold alike
    (_runcache): a cluster whose live objects differ must still get its own plan and report, and the others
    theirs."""
    ok(rollout.rollout())
    name = f"{rollout.set_name}--mongo"
    # mongo's ServiceEntry is gone from local-2 only.
    local_clusters.kubectl("local-2", "delete", "serviceentries.networking.istio.io", name, "-n", rollout.namespace)
    before = snapshot(local_clusters, rollout)
    run = ok(rollout.rollout("--check"))
    assert run.changed() == {"local-1": 0, "local-2": 1, "local-3": 0}, run.out
    (summary,) = run.summary()
    assert summary[1:] == [
        "local-1 (context local-1): 0 created, 0 updated, 0 deleted, 6 unchanged",
        "local-2 (context local-2): 1 created, 0 updated, 0 deleted, 5 unchanged",
        "local-3 (context local-3): 0 created, 0 updated, 0 deleted, 6 unchanged",
    ], summary
    added = run.applied()["local-2"]["reachability"]["added"]
    assert {g["destination"] for g in added} == {"192.0.2.10/31", "198.51.100.7", "2001:db8:7::7"}, added
    for ctx in ("local-1", "local-3"):
        assert run.applied()[ctx]["reachability"]["added"] == [], ctx
    assert snapshot(local_clusters, rollout) == before  # a preview
    ok(rollout.rollout())
    objects = live(local_clusters, "local-2", rollout.namespace, rollout.set_name)
    assert addresses(objects, rollout.set_name, "mongo") == MONGO_CIDRS


def test_a_templated_resolver_is_used_as_each_cluster_sees_it(local_clusters, rollout):
    """The resolver's options may be templates of other inventory variables (a port kept in one place):
    the run resolves with them as the apply task reads them, not with the template's text."""
    rollout.write(
        SERVICES,
        meshguard_egress_resolver={"nameservers": ["127.0.0.1"], "port": "{{ meshguard_test_dns_port | int }}"},
        meshguard_test_dns_port=str(rollout.dns.server.port),
    )
    run = ok(rollout.rollout())
    assert run.changed() == {c: 1 for c in CLUSTERS}, run.out
    for ctx in CLUSTERS:
        assert addresses(live(local_clusters, ctx, rollout.namespace, rollout.set_name), rollout.set_name, "mongo") == (
            MONGO_CIDRS
        )


def test_group_vars_and_host_vars_add_services(local_clusters, rollout):
    ldap = {"name": "ldap", "hosts": ["198.51.100.200"], "ports": [{"number": 636, "protocol": "TLS"}]}
    reports = {"name": "reports", "hosts": ["cache.rollout.test"], "ports": [{"number": 5432, "protocol": "TCP"}]}
    rollout.write(
        [MONGO],
        extra={
            # one list per group and per host, next to the set's own list
            "group_vars/eu.yml": {"meshguard_egress_services_eu": [ldap]},
            "host_vars/local-3.yml": {"meshguard_egress_services_local_3": [reports, dict(ldap, name="ldap-us")]},
        },
    )
    ok(rollout.rollout())
    expected = {
        "local-1": {"mongo", "ldap"},
        "local-2": {"mongo", "ldap"},
        "local-3": {"mongo", "reports", "ldap-us"},
    }
    for ctx in CLUSTERS:
        objects = live(local_clusters, ctx, rollout.namespace, rollout.set_name)
        assert {name.split("--", 1)[1] for name in objects} == expected[ctx], ctx
    # cache.rollout.test, needed by local-3 only, was resolved with the rest.
    assert addresses(
        live(local_clusters, "local-3", rollout.namespace, rollout.set_name), rollout.set_name, "reports"
    ) == ["192.0.2.40/32"]

    # A list that is not a list is named in the error, and nothing is touched.
    rollout.write([MONGO], extra={"host_vars/local-3.yml": {"meshguard_egress_services_local_3": {"name": "x"}}})
    run = rollout.rollout()
    assert run.rc == 2
    assert "meshguard_egress_services_local_3: expected a list of services, got dict" in run.out
    assert run.applied() == {}


def test_a_play_without_services_stops_before_any_cluster_is_touched(local_clusters, rollout):
    """meshguard_egress_services is checked by the role's first step (the argument spec does not declare it): a
    play that forgets it, or sets it to null, fails before any cluster is touched, even to remove the set, instead
    of applying an empty set that would prune every object of the set."""
    ok(rollout.rollout())
    before = snapshot(local_clusters, rollout)
    group_vars = rollout.dir / "group_vars" / "egress_clusters.yml"
    for forgotten in ("missing", "null"):
        values = yaml.safe_load(group_vars.read_text())
        if forgotten == "missing":
            del values["meshguard_egress_services"]
        else:
            values["meshguard_egress_services"] = None
        group_vars.write_text(yaml.safe_dump(values, sort_keys=False))
        for state in ("present", "absent"):
            run = rollout.rollout(meshguard_egress_state=state)
            assert run.rc == 2, (forgotten, state)
            assert "meshguard_egress_services: required" in run.out, (forgotten, state)
            assert run.applied() == {}, (forgotten, state)
            assert snapshot(local_clusters, rollout) == before, (forgotten, state)


def test_a_play_environment_with_kubernetes_credentials_is_refused(local_clusters, rollout):
    """The role reaches the clusters from the controller's own process, which a play's environment does not
    change: a K8S_AUTH_* variable there would be ignored (and another cluster reached), so the run is refused
    before any cluster is touched."""
    ok(rollout.rollout())
    before = snapshot(local_clusters, rollout)
    play = rollout.dir / "environment.yml"
    play.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "egress_clusters",
                    "gather_facts": False,
                    "environment": {"K8S_AUTH_CONTEXT": "local-2"},
                    "roles": ["meshguard.egress.rollout"],
                }
            ]
        )
    )
    run = rollout.play(str(play), meshguard_egress_state="absent")
    assert run.rc == 2, run.out
    assert "K8S_AUTH_CONTEXT set with environment" in run.out
    assert all(run.recap[c]["failed"] == 1 for c in CLUSTERS), run.recap
    assert snapshot(local_clusters, rollout) == before


def test_check_mode_writes_nothing_and_its_diff_is_the_real_run(local_clusters, rollout):
    ok(rollout.rollout())
    # The next rule set: mysql moves, partner goes, a new service appears, mongo stays.
    moved = dict(MYSQL, hosts=["192.0.2.51"])
    extra = {"name": "ldap", "hosts": ["198.51.100.200"], "ports": [{"number": 636, "protocol": "TLS"}]}
    rollout.write([MONGO, moved, CACHE, extra])
    live_before = {ctx: live(local_clusters, ctx, rollout.namespace, rollout.set_name) for ctx in CLUSTERS}

    preview, real, dry = measured(
        local_clusters, lambda: ok(rollout.rollout("--check", "--diff")), dry_runs_expected=True
    )
    assert real == NOTHING, "check mode wrote to an API server"
    assert all(dry.values()), "check mode sent no server-side dry run"
    for ctx in CLUSTERS:
        assert live(local_clusters, ctx, rollout.namespace, rollout.set_name) == live_before[ctx]
    assert preview.summary()[0][0].endswith("check mode: nothing was written")

    real = ok(rollout.rollout("--diff"))
    predicted, done = preview.applied(), real.applied()
    assert set(predicted) == set(done) == set(CLUSTERS)
    set_name, ns = rollout.set_name, rollout.namespace
    for ctx in CLUSTERS:
        assert predicted[ctx]["plan"] == done[ctx]["plan"], ctx
        assert preview.diffs(ctx) == real.diffs(ctx) != [], ctx
    assert done["local-1"]["plan"]["create"] == [
        f"NetworkPolicy/{ns}/{set_name}--ldap",
        f"ServiceEntry/{ns}/{set_name}--ldap",
    ]
    assert done["local-1"]["plan"]["update"] == [
        f"NetworkPolicy/{ns}/{set_name}--mysql",
        f"ServiceEntry/{ns}/{set_name}--mysql",
    ]
    assert done["local-1"]["plan"]["delete"] == [
        f"NetworkPolicy/{ns}/{set_name}--partner",
        f"ServiceEntry/{ns}/{set_name}--partner",
    ]
    assert done["local-3"]["plan"]["delete"] == []
    # Readable per cluster and per object: one diff per object, its header naming kind, namespace, name, context.
    for ctx in CLUSTERS:
        plan = done[ctx]["plan"]
        assert len(real.diffs(ctx)) == len(plan["create"]) + len(plan["update"]) + len(plan["delete"])
        for obj in plan["create"] + plan["update"] + plan["delete"]:
            assert f"--- before: {obj} (context {ctx})" in preview.out
            assert f"+++ after: {obj} (context {ctx})" in preview.out


def test_dns_changes_update_every_cluster_identically(local_clusters, rollout, dns):
    ok(rollout.rollout())
    # mongo-1 moves and gets a second address; the CNAME target moves too.
    dns.edit(
        (
            "mongo-1.db        A     192.0.2.11",
            "mongo-1.db        A     192.0.2.21\nmongo-1.db        A     192.0.2.22",
        ),
        ("node-7.hosting    A     198.51.100.7", "node-7.hosting    A     198.51.100.9"),
    )
    set_name, ns = rollout.set_name, rollout.namespace
    mongo = [f"NetworkPolicy/{ns}/{set_name}--mongo", f"ServiceEntry/{ns}/{set_name}--mongo"]

    def converged(expected: list[str]) -> None:
        specs = []
        for ctx in CLUSTERS:
            objects = live(local_clusters, ctx, ns, set_name)
            assert addresses(objects, set_name, "mongo") == expected, ctx
            policy = objects[f"NetworkPolicy/{set_name}--mongo"]["spec"]["egress"][0]["to"]
            assert [p["ipBlock"]["cidr"] for p in policy] == expected, ctx
            specs.append(objects[f"ServiceEntry/{set_name}--mongo"]["spec"])
        assert specs[0] == specs[1] == specs[2]

    # With the default retention (24h) the addresses DNS no longer returns stay, next to the new ones.
    run = ok(rollout.rollout())
    assert run.changed() == {c: 1 for c in CLUSTERS}
    for result in run.applied().values():
        assert result["plan"]["update"] == mongo
        assert result["plan"]["create"] == result["plan"]["delete"] == []
    assert "192.0.2.11 is no longer returned by DNS" in run.out
    converged(
        ["192.0.2.10/31", "192.0.2.21/32", "192.0.2.22/32", "198.51.100.7/32", "198.51.100.9/32", "2001:db8:7::7/128"]
    )

    # Without retention the rules follow DNS exactly, on every cluster.
    # (Every object changes: the last-seen annotation goes with retention.)
    rollout.write(SERVICES, meshguard_egress_retain="0")
    run = ok(rollout.rollout())
    for result in run.applied().values():
        assert set(mongo) <= set(result["plan"]["update"])
    converged(["192.0.2.10/32", "192.0.2.21/32", "192.0.2.22/32", "198.51.100.9/32", "2001:db8:7::7/128"])


def test_render_writes_what_rollout_applied(local_clusters, rollout, tmp_path):
    ok(rollout.rollout())
    out = tmp_path / "rendered"
    # No cluster access: the kubeconfig does not even exist.
    rendered = ok(
        rollout.play(
            "meshguard.egress.render",
            meshguard_egress_render_dir=str(out),
            meshguard_egress_kubeconfig=str(tmp_path / "no-such-kubeconfig"),
        )
    )
    assert sorted(p.name for p in out.iterdir()) == CLUSTERS
    set_name = rollout.set_name
    for ctx in CLUSTERS:
        applied = live(local_clusters, ctx, rollout.namespace, set_name)
        files = {}
        for path in sorted((out / ctx).iterdir()):
            obj = yaml.safe_load(path.read_text())
            files[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
        assert set(files) == set(applied), ctx
        for key, obj in files.items():
            got = applied[key]
            assert got["apiVersion"] == obj["apiVersion"]
            assert got["spec"] == obj["spec"], key
            assert got["metadata"]["labels"] == obj["metadata"]["labels"], key
            annotations = {
                k: v for k, v in got["metadata"]["annotations"].items() if k != "meshguard.egress/desired-hash"
            }
            assert annotations == obj["metadata"]["annotations"], key
    assert rendered.summary()[0][1:] == [
        f"{c}: 6 objects rendered into {out / c} (6 files written, 0 removed)" for c in CLUSTERS
    ]

    # Deterministic: a second render changes no byte.
    snapshot = {p: p.read_bytes() for p in out.rglob("*.yaml")}
    again = ok(rollout.play("meshguard.egress.render", meshguard_egress_render_dir=str(out)))
    assert again.changed() == {c: 0 for c in CLUSTERS}
    assert {p: p.read_bytes() for p in out.rglob("*.yaml")} == snapshot


def test_a_stopped_apiserver_fails_only_its_cluster_and_a_rerun_converges_it(local_clusters, rollout):
    stopped = local_clusters.set.cluster("local-2")
    set_name, ns = rollout.set_name, rollout.namespace
    stopped.stop()
    try:
        # Canary in batches of two, abort when a batch has a failure: local-3 is never reached.
        canary = rollout.rollout(meshguard_egress_serial=2, meshguard_egress_max_fail_percentage=0)
        assert canary.rc == 2, canary.out
        assert canary.recap["local-1"]["failed"] == 0 and canary.recap["local-2"]["failed"] == 1
        assert "local-3" not in canary.recap
        assert live(local_clusters, "local-1", ns, set_name)
        assert live(local_clusters, "local-3", ns, set_name) == {}

        run = rollout.rollout()
        assert run.rc == 2, run.out
        assert {h: c["failed"] for h, c in run.recap.items()} == {"local-1": 0, "local-2": 1, "local-3": 0}
        assert run.changed() == {"local-1": 0, "local-2": 0, "local-3": 1}
        (summary,) = run.summary()
        assert summary[1] == "local-1 (context local-1): 0 created, 0 updated, 0 deleted, 6 unchanged"
        assert summary[2].startswith(
            "local-2: FAILED (context local-2): cannot reach the API server https://127.0.0.1:"
        )
        assert summary[3] == "local-3 (context local-3): 6 created, 0 updated, 0 deleted, 0 unchanged"
        assert len(live(local_clusters, "local-3", ns, set_name)) == 6
    finally:
        stopped.start()
        stopped.wait_ready()
        wait_serving(local_clusters, "local-2")

    rerun = ok(rollout.rollout())
    assert rerun.changed() == {"local-1": 0, "local-2": 1, "local-3": 0}
    assert len(live(local_clusters, "local-2", ns, set_name)) == 6
    assert rerun.summary()[0][2] == "local-2 (context local-2): 6 created, 0 updated, 0 deleted, 0 unchanged"


def test_host_names_are_resolved_once_per_run(local_clusters, rollout, dns, tmp_path):
    # The queries one resolution of the run's host names costs, asked by the lookup alone.
    play = tmp_path / "resolve-once.yml"
    names = sorted([*MONGO_HOSTS, "cache.rollout.test"])
    play.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Resolve once",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Resolve",
                            "ansible.builtin.debug": {
                                "msg": "{{ query('meshguard.egress.resolve', names, detail=true, "
                                "nameservers=['127.0.0.1'], port=port, timeout=2) }}"
                            },
                            "vars": {"names": names, "port": dns.server.port},
                        }
                    ],
                }
            ]
        )
    )
    start = dns.queries()
    ok(rollout.play(str(play)))
    once = dns.queries() - start
    assert once >= 2 * len(names)  # A and AAAA for each name at least

    # Three clusters in three serial batches: the DNS server sees exactly one resolution.
    start = dns.queries()
    run = ok(rollout.rollout(meshguard_egress_serial=1))
    assert dns.queries() - start == once
    # Each batch checks its clusters again; the answers of the first are reused.
    assert run.statuses(RESOLVE_TASK) == [("local-1", "ok"), ("local-2", "ok"), ("local-3", "ok")]
    assert sorted(run.applied()) == CLUSTERS
    # Each batch prints the summary of every cluster done so far.
    assert [len([line for line in s if "created" in line]) for s in run.summary()] == [1, 2, 3]


def test_default_policy_fails_before_any_cluster_is_touched(local_clusters, rollout, dns):
    ok(rollout.rollout())
    dns.edit(("mongo-1.db        A     192.0.2.11\n", ""))
    rollout.write([MONGO, dict(MYSQL, hosts=["192.0.2.51"]), PARTNER, CACHE])
    before = snapshot(local_clusters, rollout)
    run = rollout.rollout()
    assert run.rc == 2, run.out
    report = stopped(run)
    assert "host names that did not resolve:\n- mongo-1.db.rollout.test: does not exist" in report
    assert report.endswith(
        "(every cluster)\nWith meshguard_egress_on_error=keep, the other services are applied and these keep "
        "their live rules."
    )
    untouched(local_clusters, rollout, run, before)


def test_keep_policy_keeps_the_live_addresses_of_a_host_that_does_not_resolve(local_clusters, rollout, dns):
    ok(rollout.rollout())
    dns.edit(("mongo-1.db        A     192.0.2.11\n", ""))
    rollout.write([MONGO, dict(MYSQL, hosts=["192.0.2.51"]), PARTNER, CACHE], meshguard_egress_on_error="keep")
    run = ok(rollout.rollout())
    set_name, ns = rollout.set_name, rollout.namespace
    assert "service 'mongo' did not resolve" in run.out  # the module's warning
    for ctx, result in run.applied().items():
        assert result["plan"]["update"] == [
            f"NetworkPolicy/{ns}/{set_name}--mysql",
            f"ServiceEntry/{ns}/{set_name}--mysql",
        ]
        assert f"ServiceEntry/{ns}/{set_name}--mongo" in result["plan"]["unchanged"], ctx
    for ctx in CLUSTERS:
        objects = live(local_clusters, ctx, ns, set_name)
        assert addresses(objects, set_name, "mongo") == MONGO_CIDRS  # as before, not shrunk
        assert addresses(objects, set_name, "mysql") == ["192.0.2.51/32"]
    (summary,) = run.summary()
    assert summary[-1].startswith("not resolved, live rules kept: mongo-1.db.rollout.test: does not exist")
    assert summary[-1].endswith("(every cluster)")


def test_bad_scoping_or_resolvers_fail_before_any_cluster_is_touched(local_clusters, rollout):
    ok(rollout.rollout())
    before = snapshot(local_clusters, rollout)

    # A typo in clusters.
    rollout.write([MONGO, dict(CACHE, clusters=["local-4"])])
    run = rollout.rollout()
    assert run.rc == 2, run.out
    assert (
        "- meshguard_egress_services[1] 'cache': clusters: local-4: neither a host nor a group of the inventory "
        "(every cluster)" in stopped(run)
    )
    untouched(local_clusters, rollout, run, before)

    # One cluster with another resolver: host names are resolved once for all, so that is an error.
    other = {"nameservers": ["127.0.0.1"], "port": rollout.dns.server.port, "timeout": 3}
    rollout.write([MONGO], extra={"host_vars/local-3.yml": {"meshguard_egress_resolver": other}})
    run = rollout.rollout()
    assert run.rc == 2, run.out
    assert "meshguard_egress_resolver differs between the clusters of this run" in stopped(run)
    untouched(local_clusters, rollout, run, before)


# --------------------------------------------------------------------------- the address policy

METADATA = "service 'partner': host partner-api.rollout.test answered 169.254.169.254: 169.254.169.254 is in "
LEGACY = {"name": "legacy", "hosts": ["legacy-db.corp.rollout.test"], "ports": [{"number": 1521, "protocol": "TCP"}]}


@pytest.mark.parametrize("check", [False, True], ids=["apply", "check"])
def test_a_refused_answer_stops_the_rollout_before_any_cluster_is_touched(local_clusters, rollout, check):
    ok(rollout.rollout())
    before = snapshot(local_clusters, rollout)
    rollout.write([MONGO, dict(PARTNER, hosts=["partner-api.rollout.test"])])
    run = rollout.rollout(*(["--check", "--diff"] if check else []))
    assert run.rc == 2, run.out
    report = stopped(run)
    assert f"answers egress rules never allow:\n- {METADATA}169.254.169.254/32, cloud" in report
    assert report.count(METADATA) == 1 and "(local-1, local-2)" in report  # partner is scoped to eu
    untouched(local_clusters, rollout, run, before)


def test_with_keep_a_refused_service_keeps_its_live_rules_and_the_summary_says_so(local_clusters, rollout):
    ok(rollout.rollout())
    rollout.write(
        [MONGO, MYSQL, dict(PARTNER, hosts=["partner-api.rollout.test"]), CACHE], meshguard_egress_on_error="keep"
    )
    run = ok(rollout.rollout())
    for ctx in ("local-1", "local-2"):
        assert addresses(
            live(local_clusters, ctx, rollout.namespace, rollout.set_name), rollout.set_name, "partner"
        ) == ["203.0.113.64/27"]
    for ctx, result in run.applied().items():
        if ctx != "local-3":  # partner is scoped to eu
            assert [r["address"] for r in result["refused"]] == ["169.254.169.254"], ctx
            assert f"ServiceEntry/{rollout.namespace}/{rollout.set_name}--partner" in result["plan"]["unchanged"]
    (summary,) = run.summary()
    assert summary[-1].startswith(f"refused, live rules kept: {METADATA}169.254.169.254/32")
    assert summary[-1].endswith("(local-1, local-2)")


def test_private_answers_need_allow_ranges_and_internal_ranges_apply_per_cluster(local_clusters, rollout):
    rollout.write([MONGO, LEGACY])
    run = rollout.rollout()
    assert run.rc == 2 and "host legacy-db.corp.rollout.test answered 10.20.0.5: 10.20.0.5 is in 10.0.0.0/8" in stopped(
        run
    )
    assert run.applied() == {}
    allowed = dict(LEGACY, allow_ranges=["10.20.0.0/16"])
    rollout.write([MONGO, allowed])
    ok(rollout.rollout())
    for ctx in CLUSTERS:
        objects = live(local_clusters, ctx, rollout.namespace, rollout.set_name)
        assert addresses(objects, rollout.set_name, "legacy") == ["10.20.0.5/32"]
    # local-3's network says 10.20.0.0/24 is internal: allow_ranges broader than it do not open it.
    before = snapshot(local_clusters, rollout)
    rollout.write(
        [MONGO, allowed], extra={"host_vars/local-3.yml": {"meshguard_egress_internal_ranges": ["10.20.0.0/24"]}}
    )
    run = rollout.rollout()
    assert run.rc == 2, run.out
    report = stopped(run)
    assert "10.20.0.5 is in 10.20.0.0/24, internal range (internal_ranges[0]): declared internal" in report
    assert report.count("10.20.0.5 is in") == 1 and report.count("(local-3)") == 1
    untouched(local_clusters, rollout, run, before)


def test_an_answer_in_a_clusters_service_range_fails_that_cluster_before_anything_is_written(local_clusters, rollout):
    ok(rollout.rollout())
    before = counters(local_clusters)
    inside = {
        "name": "inside",
        "hosts": ["in-cluster.rollout.test"],
        "allow_ranges": ["10.0.0.0/8"],
        "ports": [{"number": 80, "protocol": "TCP"}],
    }
    rollout.write([MONGO, MYSQL, PARTNER, CACHE, inside])
    run = rollout.rollout()
    assert run.rc == 2, run.out
    # Only the cluster knows its Service range: each cluster's rules task refuses, and writes nothing.
    assert our_writes(before, counters(local_clusters)) == {ctx: {} for ctx in CLUSTERS}
    (summary,) = run.summary()
    for ctx in CLUSTERS:
        (line,) = [line for line in summary if line.startswith(f"{ctx}: FAILED")]
        assert (
            "service 'inside': host in-cluster.rollout.test answered 10.0.0.1: 10.0.0.1 is in 10.0.0.0/24, the "
            f"cluster's Service range (ServiceCIDR kubernetes on context {ctx})" in line
        )


# --------------------------------------------------------------------------- faults during a rollout


MANY = [
    {"name": f"db{i}", "hosts": [f"198.18.{i // 200}.{i % 200 + 1}"], "ports": [{"number": 5432, "protocol": "TCP"}]}
    for i in range(200)
]


def in_background(action):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("run", action()))
    thread.start()
    return thread, box


def test_an_apiserver_killed_while_the_role_applies(local_clusters, rollout):
    rollout.write(MANY)
    victim = local_clusters.set.cluster("local-2")
    thread, box = in_background(rollout.rollout)
    # Kill it once its objects start to appear: mid-apply, not before or after.
    deadline = time.monotonic() + 120
    while True:
        res = local_clusters.kubectl("local-2", "get", "serviceentries", "-n", rollout.namespace, "-o", "name")
        count = len(res.stdout.split())
        if count > 0:
            break
        assert time.monotonic() < deadline, "the rollout never reached local-2"
        time.sleep(0.05)
    victim.stop(signal.SIGKILL)
    thread.join()
    run = box["run"]
    try:
        assert run.rc != 0
        assert count < 2 * len(MANY), "the apply on local-2 had finished before the kill"
        assert run.recap["local-2"]["failed"] == 1
        assert run.recap["local-1"]["failed"] == run.recap["local-3"]["failed"] == 0
        summary = "\n".join(line for lines in run.summary() for line in lines)
        assert "local-2: FAILED" in summary
        for ctx in ("local-1", "local-3"):
            assert len(live(local_clusters, ctx, rollout.namespace, rollout.set_name)) == 2 * len(MANY)
    finally:
        victim.start()
        victim.wait_ready()
        wait_serving(local_clusters, "local-2")
    ok(rollout.rollout())
    expected = {f"{kind}/{rollout.set_name}--db{i}" for i in range(len(MANY)) for kind in KINDS}
    for ctx in CLUSTERS:
        # No duplicate, no orphan: exactly the set, on every cluster.
        assert set(live(local_clusters, ctx, rollout.namespace, rollout.set_name)) == expected, ctx


def test_dns_stopped_before_a_rollout_touches_nothing(local_clusters, rollout, dns):
    ok(rollout.rollout())
    before = snapshot(local_clusters, rollout)
    dnstool.down(dns.server.port, dns.server.state_dir)
    try:
        run = rollout.rollout()
    finally:
        dns.server = dnstool.up(dns.path.parent, dns.server.port, state_dir=dns.server.state_dir)
    assert run.rc != 0
    assert run.applied() == {}
    assert "mongo-0.db.rollout.test" in run.out and f"127.0.0.1:{dns.server.port}" in run.out
    assert snapshot(local_clusters, rollout) == before


def test_dns_stopped_during_a_rollout_changes_no_address(local_clusters, rollout, dns):
    rollout.write(SERVICES)
    record = rollout.dir / f"run-{rollout.runs + 1}.jsonl"
    thread, box = in_background(lambda: rollout.rollout("-e", "meshguard_egress_serial=1"))
    # Stop the DNS server as soon as the role has resolved: later batches must
    # apply the answers of the run, not ask again.
    deadline = time.monotonic() + 120
    while not (record.exists() and RESOLVE_TASK in record.read_text()):
        assert time.monotonic() < deadline and thread.is_alive(), "the resolve task never finished"
        time.sleep(0.05)
    dnstool.down(dns.server.port, dns.server.state_dir)
    try:
        thread.join()
    finally:
        dns.server = dnstool.up(dns.path.parent, dns.server.port, state_dir=dns.server.state_dir)
    run = ok(box["run"])
    assert set(run.applied()) == set(CLUSTERS)
    for ctx in CLUSTERS:
        assert addresses(live(local_clusters, ctx, rollout.namespace, rollout.set_name), rollout.set_name, "mongo") == (
            MONGO_CIDRS
        )


# --------------------------------------------------------------------------- every problem once, before anything

EVERY_PROBLEM = [
    dict(MONGO, ports=[{"number": 27017, "protocol": "MONGOO"}]),
    dict(MYSQL, ports=[{"number": 70000, "protocol": "MYSQL"}]),
    dict(CACHE, namespace="Bad_Namespace", clusters=["eu"]),
    {"name": "gone", "hosts": ["gone.rollout.test"], "ports": [{"number": 5432, "protocol": "TCP"}]},
    dict(PARTNER, hosts=["partner-api.rollout.test"]),
]


def test_every_problem_of_every_cluster_is_reported_once_in_one_run(local_clusters, rollout, dns):
    """Field errors, a name that does not resolve and a hostile answer: one run shows them all, each
    once with the clusters it concerns, and every cluster fails untouched."""
    ok(rollout.rollout())
    before = snapshot(local_clusters, rollout)
    rollout.write(EVERY_PROBLEM)
    start = dns.queries()
    # Custom stats shown: what AWX and pipelines receive as set_stats data.
    run = rollout.play("meshguard.egress.rollout", env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
    assert run.rc == 2, run.out
    report = stopped(run)
    assert dns.queries() > start  # the names were asked after the fields were checked, in the same run
    expected = [
        "invalid input:",
        "- services[0] 'mongo': ports[0].protocol: must be one of TCP, MONGO, MYSQL, REDIS, TLS, HTTPS, HTTP, "
        "HTTP2, GRPC, got 'MONGOO' (every cluster)",
        "- services[1] 'mysql': ports[0].number: must be between 1 and 65535, got 70000 (every cluster)",
        "- services[2] 'cache': namespace: ",
        "host names that did not resolve:",
        "- gone.rollout.test: does not exist",
        "answers egress rules never allow:",
        f"- {METADATA}169.254.169.254/32",
    ]
    lines = report.splitlines()
    assert lines[0] == "the rule set was applied to no cluster, 5 problems:"
    for want, line in zip(expected, lines[1:]):
        assert line.startswith(want), (want, line)
    assert lines[4].endswith("(local-1, local-2)")  # cache is scoped to eu here
    # The same input problems as data, each once, with the clusters it concerns.
    (stats,) = re.findall(r"^\tRUN: (.*)$", run.out, flags=re.M)
    errors = {(e["service"], e["index"], e["field"]): e for e in json.loads(stats)["meshguard_egress_errors"]}
    assert set(errors) == {
        ("mongo", 0, "ports[0].protocol"),
        ("mysql", 1, "ports[0].number"),
        ("cache", 2, "namespace"),
    }
    assert errors[("mysql", 1, "ports[0].number")]["message"] == "must be between 1 and 65535, got 70000"
    assert errors[("mysql", 1, "ports[0].number")]["hosts"] == CLUSTERS
    assert errors[("cache", 2, "namespace")]["hosts"] == ["local-1", "local-2"]
    untouched(local_clusters, rollout, run, before)


def test_two_inventory_hosts_that_reach_the_same_cluster_are_refused_before_any_write(local_clusters, rollout):
    """local-3's host vars name no context: the kubeconfig's current context, the same cluster as
    local-1's (tools/clusters.py makes local-1 current). Applying the set twice there would prune
    what the other host applied."""
    ok(rollout.rollout())
    before = snapshot(local_clusters, rollout)
    rollout.write(SERVICES, extra={"host_vars/local-3.yml": {"meshguard_egress_context": ""}})
    run = rollout.rollout()
    assert run.rc == 2, run.out
    server = local_clusters.by_context("local-1").server
    assert f"- inventory hosts local-1 and local-3 reach the same cluster (API server {server}): " in stopped(run)
    untouched(local_clusters, rollout, run, before)


# --------------------------------------------------------------------------- the reachability report


def test_a_dns_change_is_reported_as_its_reachability_change_once_across_clusters(
    local_clusters, rollout, dns, tmp_path
):
    """A replica-set member moves: the preview prints, writes (Markdown and JSON) and publishes (set_stats)
    exactly that change, one line for every cluster, and it is what each cluster's rules task reported."""
    ok(rollout.rollout())
    dns.edit(("mongo-1.db        A     192.0.2.11\n", "mongo-1.db        A     192.0.2.12\n"))
    report = tmp_path / "reports" / "egress.md"
    report.parent.mkdir()
    run = ok(rollout.rollout("--check", "--diff", meshguard_egress_report=str(report)))
    (printed,) = [r["result"]["msg"] for r in run.records if r["task"] == "Reachability across clusters"]
    ns = rollout.namespace
    assert printed[0] == f"reachability of set {rollout.set_name} on 3 cluster(s), check mode: nothing was written:"
    changes = [line for line in printed if line[:2] in ("+ ", "- ")]
    # The new address, and the old one now kept by retention alone (24h), on every cluster.
    assert len(changes) == 2, printed
    # DNS no longer answers it: every host name of the service stands for its provenance.
    assert changes[0].startswith(
        f"+ {ns} -> 192.0.2.11:27017 MONGO  mongo direct ({', '.join(MONGO_HOSTS)}, retained until "
    )
    assert changes[0].endswith("every cluster (3)")
    assert changes[1] == f"+ {ns} -> 192.0.2.12:27017 MONGO  mongo direct (mongo-1.db.rollout.test)  every cluster (3)"
    data = json.loads(report.with_name("egress.md.json").read_text())
    assert [c["destination"] for c in data["changes"]] == ["192.0.2.11", "192.0.2.12"]
    assert all(c["clusters"] == CLUSTERS for c in data["changes"])
    # Each cluster's own result says the same.
    for ctx, result in run.applied().items():
        added = [(a["destination"], a["retained_until"] is not None) for a in result["reachability"]["added"]]
        assert added == [("192.0.2.11", True), ("192.0.2.12", False)], ctx
        assert result["reachability"]["removed"] == []
    markdown = report.read_text()
    assert markdown.startswith(f"### meshguard.egress: reachability of set `{rollout.set_name}` (check mode")
    assert (
        f"| + | {ns} | `192.0.2.12:27017` | MONGO | mongo | direct | mongo-1.db.rollout.test | every cluster (3) |"
        in markdown
    )
    (stats,) = [
        r["result"]
        for r in run.records
        if r["task"] == "Publish the reachability change for the next node of an AWX workflow"
    ]
    assert stats["ansible_stats"]["data"]["meshguard_egress_reachability"] == data
