# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smoke check of the benchmark harness: `bench/run.py --size smoke` works.

It runs every case against its own DNS server and clusters (.cache/bench-clusters)
and the peers' venv (.cache/bench/venv-peers, built on first use), and checks
the results file is complete and well formed. No timing is asserted: CI
machines are shared and noisy; the figures are for docs/docsite/rst/performance.rst.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CASES = ("resolve", "dnssec", "apply", "rollout", "memory", "clusters")


def _positive_summary(summary: dict) -> None:
    assert summary["median"] is not None and summary["median"] > 0, summary
    assert summary["runs"] and all(v > 0 for v in summary["runs"]), summary


def _targets(case: dict) -> None:
    assert case["targets"], "every case states its targets"
    for name, info in case["targets"].items():
        assert isinstance(info["met"], bool), name


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    # The fewest inputs, one run per figure: this checks the harness, not the figures.
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--size", "smoke", "--output", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1500, check=False)
    assert out.exists(), f"bench/run.py wrote no results (exit {res.returncode}):\n{res.stdout[-4000:]}{res.stderr}"
    data = json.loads(out.read_text())
    assert res.returncode == 0, f"bench/run.py failed: {data.get('errors')}\n{res.stderr[-4000:]}"
    assert "### Targets" in res.stdout, "the Markdown table is printed"
    cpu_table = "| clusters | first: CPU | first: CPU per added cluster |"
    assert cpu_table in res.stdout, "the per-cluster CPU table is printed"
    return data


def test_every_case_is_there(results: dict) -> None:
    assert results["size"] == "smoke"
    assert results["parameters"]["runs"] == 1
    assert results["errors"] == {}
    assert sorted(results["cases"]) == sorted(CASES)
    env = results["environment"]
    assert env["cores"] >= 1 and env["peers"]["kubernetes.core"] and env["peers"]["community.general"]


def test_resolve_case(results: dict) -> None:
    case = results["cases"]["resolve"]
    for who in ("meshguard", "dig_loop", "sequential", "threads", "asyncio", "library"):
        _positive_summary(case["seconds"][who])
    assert len(case["ratios"]["dig_loop / meshguard"]["runs"]) == case["runs"]
    _targets(case)


def test_dnssec_case(results: dict) -> None:
    case = results["cases"]["dnssec"]
    for who in ("library_off", "library_require", "lookup_off", "lookup_require"):
        _positive_summary(case["seconds"][who])
    assert len(case["ratios"]["library require / off"]["runs"]) == case["runs"]
    _targets(case)


def test_apply_case(results: dict) -> None:
    case = results["cases"]["apply"]
    assert case["objects"] == case["services"]
    for phase in ("first", "noop", "changed"):
        entry = case["phases"][phase]
        for tool in ("meshguard", "k8s_loop", "kubectl"):
            _positive_summary(entry["seconds"][tool])
            assert isinstance(entry["requests"][tool], dict)
        # Every contender wrote the objects of the first apply, so the request
        # counts come from the right cluster.
        if phase == "first":
            for tool in ("meshguard", "k8s_loop", "kubectl"):
                applied = entry["requests"][tool].get("APPLY serviceentries", 0)
                assert applied == case["objects"], (tool, entry["requests"][tool])
        assert entry["ratios"]["k8s_loop / meshguard"]["runs"]
    # The one behaviour asserted: a no-op writes nothing (no timing involved).
    assert case["targets"]["noop: zero writes"]["met"], case["phases"]["noop"]["requests"]["meshguard"]
    _targets(case)


def test_rollout_case(results: dict) -> None:
    case = results["cases"]["rollout"]
    assert list(case["clusters"]) == ["1", "2"]
    for entry in case["clusters"].values():
        for phase in ("first", "noop"):
            _positive_summary(entry[phase]["apply_task_seconds"])
            _positive_summary(entry[phase]["playbook_seconds"])
            # Controller CPU of the whole process tree: ansible-playbook starting alone takes well over 0.1 s.
            _positive_summary(entry[phase]["controller_cpu_seconds"])
            assert entry[phase]["controller_cpu_seconds"]["median"] > 0.1
    assert len(case["clusters"]["2"]["noop"]["cpu_per_added_cluster"]["runs"]) == case["runs"]
    _targets(case)


def test_memory_case(results: dict) -> None:
    case = results["cases"]["memory"]
    for phase in ("first", "noop"):
        _positive_summary(case["peak_rss_mib"][phase])
        # A Python process with Ansible's module runtime is never below 20 MiB:
        # a smaller figure would mean the wrapper measured itself.
        assert case["peak_rss_mib"][phase]["median"] > 20
    _targets(case)


def test_clusters_case(results: dict) -> None:
    case = results["cases"]["clusters"]
    assert list(case["clusters"]) == ["1", "2"]
    for entry in case["clusters"].values():
        for phase in ("first", "noop"):
            _positive_summary(entry[phase]["controller_cpu_seconds"])
    # The first apply writes on each cluster; the no-op writes nothing.
    writes = ("POST", "APPLY", "PATCH", "PUT", "DELETE")
    assert any(k.startswith(writes) for k in case["clusters"]["2"]["first"]["requests_per_cluster"])
    assert not any(k.startswith(writes) for k in case["clusters"]["2"]["noop"]["requests_per_cluster"])
    assert set(case["slope_cpu_per_cluster"]) == {"first", "noop"}
    assert list(case["wall_by_forks"]["by_forks"]) == ["2"]
    _positive_summary(case["wall_by_forks"]["by_forks"]["2"]["noop"]["playbook_seconds"])
