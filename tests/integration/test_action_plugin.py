# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules module in its two ways of running: in the task's worker process
(plugins/action/rules.py: local connection, the controller's Python) and as a
module process (any other interpreter). Both give the same result, the same
objects and the same protection of credentials.

A module process is a file AnsiballZ_rules.py that Ansible writes to its
remote temporary folder (kept here with ANSIBLE_KEEP_REMOTE_FILES); the
in-process run writes none: that is how the tests tell which ran.
"""

from __future__ import annotations

import json
import secrets
import sys

import pytest
from clusterlib import run_module
from test_rules_module import CTX, MYSQL, PARTNER, args

pytestmark = pytest.mark.integration


def run(module, a, tmp_path, **kwargs) -> tuple[dict, str, int]:
    """run_module, and how many module processes of rules it started."""
    remote = tmp_path / f"remote-{len(list(tmp_path.glob('remote-*')))}"
    env = {"ANSIBLE_REMOTE_TMP": str(remote), "ANSIBLE_KEEP_REMOTE_FILES": "1"}
    result, shown = run_module(module, a, env=env, **kwargs)
    return result, shown, len(list(remote.rglob("AnsiballZ_rules.py")))


@pytest.fixture
def other_python(tmp_path):
    """The same Python (and its virtual environment) under another path: Ansible runs the module process with it."""
    path = tmp_path / "python"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def test_both_ways_give_the_same_result_and_objects(local_clusters, namespace, other_python, tmp_path):
    a = args(local_clusters, namespace, [MYSQL, PARTNER], network_policy=True)
    by_module, _shown, processes = run("rules", a, tmp_path, interpreter=other_python, diff=True)
    assert processes == 1
    assert not by_module["failed"], by_module.get("msg")
    assert by_module["counts"]["create"] == 4, by_module
    created = local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, "shop--mysql")[0]

    in_process, _shown, processes = run("rules", a, tmp_path, diff=True)
    assert processes == 0
    assert in_process["changed"] is False
    assert in_process["plan"]["unchanged"] == by_module["plan"]["create"]
    assert in_process["resources"] == by_module["resources"]
    assert local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, "shop--mysql")[0] == created

    # The role's lean result: no rendered objects, the same plan.
    for interpreter in (other_python, "{{ ansible_playbook_python }}"):
        lean = run_module("rules", dict(a, return_resources=False), interpreter=interpreter)[0]
        assert not lean["failed"], lean.get("msg")
        assert "resources" not in lean and lean["plan"] == in_process["plan"]


def test_both_ways_validate_alike_and_never_show_a_token(local_clusters, namespace, other_python):
    bad = args(local_clusters, namespace, [MYSQL], state="sideways")
    for interpreter in (other_python, "{{ ansible_playbook_python }}"):
        result = run_module("rules", bad, interpreter=interpreter)[0]
        assert result["failed"] is True
        assert "state" in result["msg"] and "sideways" in result["msg"], result["msg"]

    token = "mg-" + secrets.token_urlsafe(24)
    cluster = local_clusters.by_context(CTX)
    given = {
        "host": cluster.server,
        "api_key": token,
        "ca_cert": str(cluster.dir / "pki" / "ca.crt"),
        "set": "shop",
        "namespace": namespace,
        "services": [MYSQL],
    }
    for interpreter in (other_python, "{{ ansible_playbook_python }}"):
        result, shown = run_module("rules", given, verbosity=3, interpreter=interpreter)
        assert "401 Unauthorized" in result["msg"]
        assert token not in shown and token not in json.dumps(result)
