# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user scenarios of tests/integration/targets/, one test per target, each a playbook with its own
assertions (the way kubernetes.core writes scenarios, run from pytest as ansible.utils runs its targets).

Each target runs with ansible-playbook from the repository root (its ansible.cfg finds this working copy as
the collection) against this session's clusters and its Knot server of tests/dns/zones: the inventory is
targets/inventory.yml, and the extra vars give the session's kubeconfig, the DNS server's port, a fresh
namespace on every cluster and a set name of the test's own. A target passes when ansible-playbook does, every
host of its play ran (none unreachable, none failed), and its assertions ran: the recap counts the tasks, and
the output holds one "All assertions passed" per assert task and host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from clusterlib import ANSIBLE_PLAYBOOK, KUBECONFIG

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TARGETS = Path(__file__).parent / "targets"
INVENTORY = TARGETS / "inventory.yml"
CLUSTERS = ["local-1", "local-2", "local-3"]
_RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def targets() -> list[str]:
    return sorted(d.name for d in TARGETS.iterdir() if (d / "tasks" / "main.yml").is_file())


def asserts(target: str) -> int:
    """The assert tasks of a target (each passes once per host)."""
    tasks = yaml.safe_load((TARGETS / target / "tasks" / "main.yml").read_text())

    def count(items: list) -> int:
        n = 0
        for task in items or []:
            n += "ansible.builtin.assert" in task
            n += sum(count(task.get(key)) for key in ("block", "rescue", "always"))
        return n

    return count(tasks)


def play(target: str, *args: str, **extra_vars) -> subprocess.CompletedProcess:
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(INVENTORY), str(TARGETS / target / "playbook.yml"), *args]
    cmd += ["-e", json.dumps(extra_vars)]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)


def passed(run: subprocess.CompletedProcess, target: str, hosts: list[str]) -> None:
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    recap = {m.group(1): tuple(int(n) for n in m.groups()[1:]) for m in _RECAP.finditer(out)}
    assert sorted(recap) == sorted(hosts), out
    assert all(unreachable == failed == 0 for _ok, _changed, unreachable, failed in recap.values()), out
    expected = asserts(target) * len(hosts)
    assert expected > 0
    assert out.count('"msg": "All assertions passed"') == expected, out


# The arguments each target runs with (its playbook's header says the same for a contributor).
ARGS = {"check_mode": ("--check", "--diff")}


# The targets that need DNS only (their play runs on localhost); the others run over the clusters.
DNS_ONLY = {"lookup"}


@pytest.mark.parametrize("target", targets())
def test_target(target, dns_server, request):
    variables = {"dns_port": dns_server.port}
    hosts = ["localhost"]
    if target not in DNS_ONLY:
        hosts = CLUSTERS
        variables.update(
            meshguard_egress_kubeconfig=str(KUBECONFIG),
            # A fresh namespace on every cluster (the clusters start with it).
            meshguard_egress_namespace=request.getfixturevalue("namespace"),
            meshguard_egress_set=f"t{uuid.uuid4().hex[:8]}",
            meshguard_egress_resolver={"nameservers": ["127.0.0.1"], "port": dns_server.port, "timeout": 2},
        )
    passed(play(target, *ARGS.get(target, ()), **variables), target, hosts)
