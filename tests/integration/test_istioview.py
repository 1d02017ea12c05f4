# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tools/istioview.py, the development view of what a workload may reach (the
end of `make demo`), with an inventory whose host names are not the local
clusters' names: each host is mapped to its local cluster through its
kubeconfig and context, a host without a local istiod stops the view at once
saying why, the view judges what was applied (the set's ServiceEntries as the
cluster holds them, not what DNS answers now), and a call that is not as
expected says why.

The three local clusters (their istiods) and the Knot server of test_rollout.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import test_rollout
import yaml
from clusterlib import STATE
from test_rollout import ok

pytestmark = pytest.mark.integration

rollout_dns = test_rollout.rollout_dns
dns = test_rollout.dns
rollout = test_rollout.rollout

ROOT = Path(__file__).resolve().parents[2]
VIEW = ROOT / "tools" / "istioview.py"
# Inventory names of the clusters, as a user names them, and the local cluster each context reaches.
HOSTS = {"prod-eu-1": "local-1", "prod-eu-2": "local-2", "prod-us-1": "local-3"}
# Addresses no other test declares: the test clusters' istiods see every test's objects (a deleted
# namespace keeps its objects here, no controller-manager runs).
CACHE_LINE = "cache             A     192.0.2.40\n"
DB_RECORDS = "view-db           A     203.0.113.180\nview-db           AAAA  2001:db8:76::1\n"
MOVE_DB = ("view-db           A     203.0.113.180", "view-db           A     203.0.113.181")
DB = {"name": "db", "hosts": ["view-db.rollout.test"], "ports": [{"number": 5432, "protocol": "TCP"}]}
LEDGER = {"name": "ledger", "hosts": ["203.0.113.190"], "ports": [{"number": 3306, "protocol": "MYSQL"}]}
API = {"name": "api", "hosts": ["203.0.113.184/30"], "ports": [{"number": 443, "protocol": "TLS"}], "clusters": ["eu"]}


def inventory(rollout, extra_hosts: dict | None = None) -> Path:
    """A rule set (db by name, ledger by IP everywhere, api by CIDR on group eu only, REGISTRY_ONLY in
    the set's namespace) for hosts named as a user names them."""
    rollout.dns.edit((CACHE_LINE, CACHE_LINE + DB_RECORDS))
    rollout.write([DB, LEDGER, API], meshguard_egress_registry_only=[rollout.namespace])
    path = rollout.dir / "inventory.yml"
    data = yaml.safe_load(path.read_text())
    group = data["egress_clusters"]
    group["children"] = {
        "eu": {"hosts": {h: {"meshguard_egress_context": c} for h, c in HOSTS.items() if "-eu-" in h}},
        "us": {"hosts": {h: {"meshguard_egress_context": c} for h, c in HOSTS.items() if "-us-" in h}},
    }
    group["children"]["us"]["hosts"].update(extra_hosts or {})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def view(path: Path, settle: float = 15) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(VIEW), "--inventory", str(path), "--state", str(STATE), "--settle", str(settle)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_any_host_names_and_what_was_applied_not_what_dns_says_now(local_clusters, rollout, dns):
    path = inventory(rollout)
    ok(rollout.rollout())
    # DNS moves on after the rollout; nothing is applied: the view must judge the applied address.
    dns.edit(MOVE_DB)
    res = view(path)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    for host, cluster in HOSTS.items():
        assert f"{host}: local cluster {cluster} (" in out
        assert f"{host}: every call as expected" in out
    assert "203.0.113.181" not in out  # what DNS says now, never applied
    for address in ("203.0.113.180", "[2001:db8:76::1]"):
        applied = [line for line in out.splitlines() if line.startswith(f"  db tcp://{address}:5432 -> routed ")]
        assert len(applied) == len(HOSTS) and all(line.endswith("  as expected") for line in applied), applied
    # api is applied to the eu clusters only: a sidecar on prod-us-1 must not reach it.
    other = [line for line in out.splitlines() if line.startswith("  api, of other clusters ")]
    assert [line.split(" -> ")[0] for line in other] == [
        "  api, of other clusters tls://203.0.113.184:443",
        "  api, of other clusters tls://203.0.113.187:443",
    ]
    assert all(" -> denied" in line and line.endswith("  as expected") for line in other), other


def test_a_call_not_as_expected_says_why(local_clusters, rollout, dns):
    path = inventory(rollout)
    ok(rollout.rollout())
    # Another writer's ServiceEntry in the namespace (exported to it alone) opens the address the view
    # calls undeclared, on db's port, on local-1 only.
    foreign = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "hand-made", "namespace": rollout.namespace},
        "spec": {
            "hosts": ["hand-made.example.test"],
            "addresses": ["100.64.0.9/32"],
            "ports": [{"number": 5432, "name": "tcp", "protocol": "TCP"}],
            "location": "MESH_EXTERNAL",
            "resolution": "NONE",
            "exportTo": ["."],
        },
    }
    local_clusters.kubectl("local-1", "apply", "-f", "-", stdin=json.dumps(foreign))
    try:
        # istiod pushes it a moment later: ask until it has (the view retries only while not as expected).
        deadline = time.monotonic() + 60
        while True:
            res = view(path, settle=0)
            if res.returncode != 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        local_clusters.kubectl("local-1", "delete", "serviceentry", "hand-made", "-n", rollout.namespace)
    assert res.returncode == 1, res.stdout + res.stderr
    out = res.stdout
    (bad,) = [line for line in out.splitlines() if line.endswith("NOT as expected")]
    assert bad.startswith("  db, undeclared tcp://100.64.0.9:5432 -> routed outbound|5432||hand-made.example.test: "), (
        bad
    )
    assert f"want denied (REGISTRY_ONLY in {rollout.namespace}), istiod gives routed" in bad
    (summary,) = [line for line in out.splitlines() if line.startswith("prod-eu-1: NOT as expected (1): ")]
    assert "db, undeclared tcp://100.64.0.9:5432: routed outbound|5432||hand-made.example.test" in summary
    assert "prod-eu-2: every call as expected" in out and "prod-us-1: every call as expected" in out


def test_a_host_without_a_local_istiod_stops_the_view_at_once(local_clusters, rollout, dns, tmp_path):
    elsewhere = tmp_path / "elsewhere.kubeconfig"
    cluster = {"name": "staging", "cluster": {"server": "https://127.0.0.1:1"}}
    elsewhere.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "staging", "context": {"cluster": "staging", "user": "u"}}],
                "current-context": "staging",
            }
        )
    )
    extra = {
        "staging-1": {"meshguard_egress_kubeconfig": str(elsewhere)},
        "lost-1": {"meshguard_egress_kubeconfig": str(tmp_path / "missing.kubeconfig")},
        "typo-1": {"meshguard_egress_context": "local-9"},
    }
    path = inventory(rollout, extra)
    start = time.monotonic()
    res = view(path)
    assert time.monotonic() - start < 15  # no waiting for istiod: nothing was asked
    assert res.returncode == 1
    assert res.stdout == ""  # no host's view: it stopped before the first
    lines = res.stderr.strip().splitlines()
    assert lines[0] == "istioview: no local istiod to ask for:"
    assert lines[1].startswith(
        f"  staging-1: context staging of kubeconfig {elsewhere} reaches https://127.0.0.1:1, which is no local "
        f"cluster under {STATE} (local-1 https://127.0.0.1:"
    )
    assert lines[1].endswith("): there is no local istiod to ask")
    assert lines[2] == f"  lost-1: cannot read kubeconfig {tmp_path / 'missing.kubeconfig'}: No such file or directory"
    assert lines[3].startswith("  typo-1: kubeconfig ") and "has no context 'local-9' (it has local-1, " in lines[3]
