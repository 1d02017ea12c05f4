# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What Istio's own code does with what the collection renders.

Every rule set of the matrix (tests/integration/istio_matrix.py) is rendered
by `meshguard.egress.rules` with `state: rendered`, run by ansible-playbook as
a user runs it, and the folder it writes is loaded into Istio's discovery
server by the probe (tools/istio/probe). Istio's traffic simulator then judges
calls made as a real client makes them: every declared address:port (first
and last address of each block, with the real SNI or Host header) must be
routed to the service and reach the address dialled; an undeclared address,
an undeclared port and a declared name sent to an undeclared address must be
denied under REGISTRY_ONLY and passed through as unknown traffic otherwise;
istiod must record no conflict, and no cluster may have more endpoints than
the service declares addresses. `istioctl analyze` must find nothing.

The demo's own rule set is rendered by the meshguard.egress.render playbook
and judged the same way. See docs/docsite/rst/istio-in-the-loop.rst.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import istio_matrix as mx
import istiolib
import pytest
import yaml
from clusterlib import ANSIBLE_PLAYBOOK, RELEASES, ROOT

pytestmark = pytest.mark.integration

CASES = mx.cases()
REPORT = ROOT / ".cache" / "istio-matrix" / "report.json"


@dataclass
class Outcome:
    case: mx.Case
    declared: istiolib.Declared
    rendered: dict
    result: Optional[dict]
    analyze: list[dict]

    @property
    def hosts(self) -> set[str]:
        return istiolib.service_hosts(self.rendered.get("resources") or [])

    def check(self) -> None:
        """The case must have rendered and the probe must have judged it."""
        # A run renders a group of cases; its message names the service (s<index>).
        assert not self.rendered.get("failed"), f"the module failed for {self.case.service}: {self.rendered.get('msg')}"
        assert self.result is not None and not self.result.get("error"), (self.result or {}).get("error")


def render(base: Path, cases: list[mx.Case]) -> dict[str, dict]:
    """The cases rendered by meshguard.egress.rules with state: rendered, run
    by ansible-playbook: one inventory host per group of cases that share the
    set-wide options (API, layout), two forks (the machine's cores). Each
    case's objects, told apart by namespace, go to a folder of its own.
    Returns, per case, the module's result with only that case's objects."""
    groups: dict[tuple, list[mx.Case]] = {}
    for c in cases:
        groups.setdefault(c.group, []).append(c)
    hosts = {f"g{i}": members for i, members in enumerate(groups.values())}
    arg_names = ("state", "set", "api", "layout", "registry_only", "services", "dest", "resolved")
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "hosts": {h: {"case_args": mx.module_args(m, str(base / h))} for h, m in hosts.items()},
        }
    }
    play = [
        {
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "render",
                    "meshguard.egress.rules": {k: f"{{{{ case_args.{k} | default(omit) }}}}" for k in arg_names},
                    "register": "rendered",
                    "ignore_errors": True,
                },
                {
                    "name": "save",
                    "ansible.builtin.copy": {
                        "content": "{{ rendered | to_json }}",
                        "dest": str(base / "{{ inventory_hostname }}.result.json"),
                    },
                },
            ],
        }
    ]
    (base / "inventory.json").write_text(json.dumps(inventory))
    (base / "render.yml").write_text(json.dumps(play))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    cmd = [str(ANSIBLE_PLAYBOOK), "-f", "2", "-i", str(base / "inventory.json"), str(base / "render.yml")]
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    out = {}
    for h, members in hosts.items():
        path = base / f"{h}.result.json"
        assert path.exists(), f"ansible-playbook rendered nothing for {h}:\n{res.stdout[-3000:]}{res.stderr[-3000:]}"
        result = json.loads(path.read_text())
        by_namespace: dict[str, list[tuple[Path, dict]]] = {}
        for f in sorted((base / h).glob("*.yaml")):
            obj = yaml.safe_load(f.read_text())
            by_namespace.setdefault(obj["metadata"]["namespace"], []).append((f, obj))
        for c in members:
            folder = base / c.id
            folder.mkdir()
            for f, _obj in by_namespace.get(c.namespace, []):
                shutil.copy(f, folder / f.name)
            own = [o for o in result.get("resources") or [] if o["metadata"].get("namespace") == c.namespace]
            out[c.id] = {**result, "resources": own}
    return out


def analyze_folders(folders: list[Path], release: str) -> list[list[dict]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda f: istiolib.analyze_folder(f, release=release), folders))


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> dict[str, dict[str, Outcome]]:
    """Every case rendered once, then judged by each Istio release's own code (its probe, its istioctl):
    outcomes by release, then case id."""
    base = tmp_path_factory.mktemp("istio-matrix")
    t0 = time.monotonic()
    rendered = render(base, CASES)
    timings = {"render_s": round(time.monotonic() - t0, 1)}
    specs = {c.id: mx.spec(c) for c in CASES}
    batch = []
    for c in CASES:
        d = specs[c.id].declared
        calls = istiolib.positive_calls(d) + istiolib.negative_calls(d, c.families)
        batch.append({"id": c.id, "manifests": [str(base / c.id)], "workload": mx.workload(c), "calls": calls})
    ok = [b for b in batch if not rendered[b["id"]].get("failed")]
    outcomes: dict[str, dict[str, Outcome]] = {}
    for release in RELEASES:
        t1 = time.monotonic()
        results = istiolib.probe(ok, release=release)
        t2 = time.monotonic()
        folders = [Path(b["manifests"][0]) for b in ok]
        analyzed = dict(zip([b["id"] for b in ok], analyze_folders(folders, release)))
        t3 = time.monotonic()
        outcomes[release] = {
            c.id: Outcome(c, specs[c.id].declared, rendered[c.id], results.get(c.id), analyzed.get(c.id, []))
            for c in CASES
        }
        timings[release] = {"probe_s": round(t2 - t1, 1), "analyze_s": round(t3 - t2, 1)}
    write_report(outcomes, timings)
    return outcomes


def write_report(outcomes: dict[str, dict[str, Outcome]], timings: dict) -> None:
    """Every case's findings in one file, for people (the table of the
    renderer's defects is made from it), per Istio release."""
    report: dict[str, dict] = {}
    for release, by_case in outcomes.items():
        report[release] = findings(by_case)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"timings": timings, "releases": report}, indent=1, sort_keys=True))


def findings(outcomes: dict[str, Outcome]) -> dict:
    report = {}
    for cid, o in outcomes.items():
        entry = {"case": o.case.__dict__, "module_failed": o.rendered.get("failed", False)}
        if o.rendered.get("failed"):
            entry["module_msg"] = o.rendered.get("msg")
        elif o.result is not None:
            entry.update(
                unreachable=istiolib.unreachable(o.result, o.hosts),
                leaks=istiolib.leaks(o.result, o.case.registry_only),
                fallback=o.result.get("fallback"),
                conflicts=istiolib.conflicts(o.result),
                endpoint_excess=istiolib.endpoint_excess(o.result, o.hosts, o.declared.addresses),
                validation=istiolib.validation_messages(o.result),
                analyze=[istiolib.analyze_message(m) for m in o.analyze],
                calls=len(o.result["calls"]),
            )
        report[cid] = entry
    return report


def shown(problems: list[str], limit: int = 8) -> str:
    more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
    return "\n".join(problems[:limit]) + more


# --------------------------------------------------------------------------- the matrix


def test_the_matrix_covers_every_pair_of_values():
    covered = set()
    for c in CASES:
        covered |= mx._pairs((c.protocol, c.hosts, c.layout, c.api, c.resolution, c.registry_only, c.family))
    missing = mx.required_pairs() - covered
    assert not missing, f"pairs no case covers: {sorted(missing)}"
    cells = {(c.protocol, c.hosts, c.layout) for c in CASES}
    assert len(cells) == len(istiolib.PROTOCOLS) * len(mx.HOST_KINDS) * len(mx.LAYOUTS)


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: f"istio-{r}")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_declared_address_and_port_is_routed_to_the_service(matrix, case, release):
    o = matrix[release][case.id]
    o.check()
    bad = istiolib.unreachable(o.result, o.hosts)
    assert not bad, f"{len(bad)} declared calls not routed to {sorted(o.hosts)[:3]}:\n{shown(bad)}"


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: f"istio-{r}")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_undeclared_traffic_is_denied_under_registry_only_and_passed_through_otherwise(matrix, case, release):
    o = matrix[release][case.id]
    o.check()
    assert o.result["fallback"] == mx.expected_sidecar(case)
    bad = istiolib.leaks(o.result, case.registry_only)
    want = "denied" if case.registry_only else "passed through"
    assert not bad, f"{len(bad)} undeclared calls not {want}:\n{shown(bad)}"


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: f"istio-{r}")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_istiod_records_no_conflict(matrix, case, release):
    o = matrix[release][case.id]
    o.check()
    bad = istiolib.conflicts(o.result)
    assert not bad, shown(bad)


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: f"istio-{r}")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_no_cluster_has_more_endpoints_than_the_service_declares_addresses(matrix, case, release):
    o = matrix[release][case.id]
    o.check()
    bad = istiolib.endpoint_excess(o.result, o.hosts, o.declared.addresses)
    assert not bad, shown(bad)


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: f"istio-{r}")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_istio_validation_and_istioctl_analyze_report_nothing(matrix, case, release):
    o = matrix[release][case.id]
    o.check()
    assert istiolib.validation_messages(o.result) == []
    ignored = o.result.get("ignored") or []
    assert all(i["kind"] == "networking.k8s.io/v1/NetworkPolicy" for i in ignored), ignored
    assert [istiolib.analyze_message(m) for m in o.analyze] == []
