# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rollout_apply's per-cluster plumbing: a cluster's failure stays its own, credentials never come out, and the
outcome is the one the role records (the whole path runs against real clusters in tests/integration/test_rollout.py)."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.action import rollout_apply
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError

JOB = {
    "options": {"context": "prod-1", "state": "present"},
    "shared": {"params": {"state": "present"}, "prepared": None, "cache": None},
    "connection": {"context": "prod-1"},
    "secrets": {"s3cret-token"},
}


@pytest.mark.parametrize(
    "raised",
    [MeshguardError("Unauthorized with token s3cret-token"), RuntimeError("socket closed, token s3cret-token")],
)
def test_a_failing_cluster_is_its_own_failure_without_its_credentials(monkeypatch, raised):
    def fail(*_args, **_kwargs):
        raise raised

    monkeypatch.setattr(rollout_apply, "module_result", fail)
    got = rollout_apply._apply(JOB, check_mode=False, diff=False)
    assert got["failed"] is True and got["changed"] is False
    assert "s3cret-token" not in got["msg"] and "********" in got["msg"]
    outcome = rollout_apply._outcome("h1", JOB, got, check_mode=False)
    assert outcome["failed"] is True and "s3cret-token" not in outcome["msg"]
    assert outcome["cluster"] == "context prod-1"  # no cluster was reached: named by its context


def test_a_cluster_whose_options_are_invalid_fails_with_the_reason_and_nothing_is_applied(monkeypatch):
    monkeypatch.setattr(rollout_apply, "module_result", pytest.fail)
    got = rollout_apply._apply({"options": {}, "error": "validate_certs: not a bool"}, check_mode=True, diff=True)
    outcome = rollout_apply._outcome("h1", {"options": {}}, got, check_mode=True)
    assert outcome == {
        "cluster": "h1",  # neither a context nor a host: the inventory host
        "state": "present",
        "check_mode": True,
        "changed": False,
        "plan": {},
        "counts": {},
        "refused": [],
        "reachability": {},
        "dest": "",
        "failed": True,
        "msg": "validate_certs: not a bool",
    }


def test_the_outcome_of_a_rendered_cluster_names_its_folder_and_carries_the_module_result():
    job = {"options": {"state": "rendered", "dest": "/out/h1", "host": "https://10.0.0.1"}}
    got = {"changed": True, "plan": {"create": ["ServiceEntry/a/b"]}, "counts": {"create": 1}, "cluster": ""}
    outcome = rollout_apply._outcome("h1", job, got, check_mode=False)
    assert outcome["dest"] == "/out/h1" and outcome["cluster"] == "https://10.0.0.1"
    assert outcome["changed"] is True and outcome["plan"] == got["plan"] and outcome["counts"] == got["counts"]
    assert outcome["failed"] is False and outcome["msg"] == ""
