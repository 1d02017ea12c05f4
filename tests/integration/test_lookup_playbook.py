# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The meshguard.egress.resolve lookup through ansible-playbook, against the real Knot server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clusterlib import ANSIBLE_PLAYBOOK

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).parent / "playbooks"


def run_playbook(name, *extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = [
        str(ANSIBLE_PLAYBOOK),
        "-i",
        "localhost,",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        str(PLAYBOOKS / name),
        *extra,
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_lookup_in_a_playbook(dns_server, tmp_path):
    out = tmp_path / "out.json"
    run = run_playbook("resolve.yml", "-e", f"dns_port={dns_server.port}", "-e", f"out_file={out}")
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["merged"] == [
        "10.0.0.0/24",
        "192.0.2.20/32",
        "198.51.100.1/32",
        "198.51.100.2/31",
        "198.51.100.4/30",
        "198.51.100.8/29",
        "198.51.100.16/28",
        "198.51.100.32/27",
        "198.51.100.64/27",
        "198.51.100.96/30",
        "198.51.100.100/32",
        "203.0.113.5/32",
        "2001:db8::20/128",
        "2001:db8:1::5/128",
    ]
    assert result["joined"] == "192.0.2.11/32,192.0.2.12/32"  # lookup() joins with commas
    port = dns_server.port
    assert result["detail"] == [
        {
            "host": "cname-out.meshguard.test",
            "unicode": "cname-out.meshguard.test",  # the same as host: no internationalised name
            "addresses": ["203.0.113.5", "2001:db8:1::5"],
            "cidrs": ["203.0.113.5/32", "2001:db8:1::5/128"],
            "cname_chain": ["target.other.test"],
            "ttl": 300,
            "error": None,
            "dnssec": None,  # not validated (dnssec off)
            "dnssec_reason": "",
        },
        {
            "host": "missing.meshguard.test",
            "unicode": "missing.meshguard.test",
            "addresses": [],
            "cidrs": [],
            "cname_chain": [],
            "ttl": None,
            "error": {
                "type": "NXDOMAIN",
                "message": f"missing.meshguard.test: does not exist (NXDOMAIN from 127.0.0.1:{port})",
            },
            "dnssec": None,
            "dnssec_reason": "",
        },
        {
            "host": "192.0.2.1",
            "unicode": "192.0.2.1",
            "addresses": ["192.0.2.1"],
            "cidrs": ["192.0.2.1/32"],
            "cname_chain": [],
            "ttl": None,
            "error": None,
            "dnssec": None,
            "dnssec_reason": "",
        },
    ]
    assert result["warned"] == ["192.0.2.10/32"]
    assert "NXDOMAIN: missing.meshguard.test: does not exist" in run.stdout + run.stderr
    assert result["widened"] == ["192.0.2.0/24"]


def test_lookup_failure_names_every_host_and_the_nameserver(dns_server):
    run = run_playbook("resolve_fail.yml", "-e", f"dns_port={dns_server.port}")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "DNS resolution failed for 2 host(s)" in output
    assert f"NXDOMAIN: missing.meshguard.test: does not exist (NXDOMAIN from 127.0.0.1:{dns_server.port})" in output
    assert f"SERVFAIL: www.broken.test: A query failed: SERVFAIL from 127.0.0.1:{dns_server.port}" in output
