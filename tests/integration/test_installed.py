# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as a user has it: built with ansible-galaxy, installed from
its tarball into a collections path of its own, and its playbooks run from
another working directory with relative paths (docs/docsite/rst/rollout.rst, "Relative
paths"): every file lands in, and is read from, the directory
ansible-playbook runs in, never the installed collection's playbooks folder
(where Ansible starts the modules of a local connection).

The three local clusters, inventory and Knot server of test_rollout.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import test_rollout
import yaml
from clusterlib import ANSIBLE_PLAYBOOK, KUBECONFIG
from test_rollout import CLUSTERS, MONGO_CIDRS, SERVICES, addresses, live, ok

pytestmark = pytest.mark.integration

rollout_dns = test_rollout.rollout_dns
dns = test_rollout.dns
rollout = test_rollout.rollout

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT_TASK = "Take the address snapshot of every cluster's services"
GALAXY = Path(sys.executable).parent / "ansible-galaxy"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A collections path holding meshguard.egress installed from the tarball
    ansible-galaxy builds of the files git knows (as tools/galaxy-check.sh builds it)."""
    base = tmp_path_factory.mktemp("installed")
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            target = base / "src" / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    subprocess.run(
        [str(GALAXY), "collection", "build", "--output-path", str(base), str(base / "src")],
        check=True,
        capture_output=True,
    )
    (tarball,) = base.glob("meshguard-egress-*.tar.gz")
    collections = base / "collections"
    # Away from the repository's ansible.cfg, whose collections path holds this working copy (ansible-galaxy
    # would find meshguard.egress 0.1.0 installed there and install nothing).
    subprocess.run(
        [str(GALAXY), "collection", "install", "--offline", "-p", str(collections), str(tarball)],
        cwd=base,
        check=True,
        capture_output=True,
    )
    assert (collections / "ansible_collections" / "meshguard" / "egress" / "MANIFEST.json").is_file()
    return collections


@pytest.fixture
def elsewhere(tmp_path, installed):
    """A working directory of its own, and the environment that finds the installed collection
    (no ansible.cfg there: the repository's is not read)."""
    work = tmp_path / "work"
    work.mkdir()
    return work, {"ANSIBLE_COLLECTIONS_PATH": str(installed)}


def written_into(installed: Path) -> list[Path]:
    """Files the runs left inside the installed collection (the tarball's files aside)."""
    tree = installed / "ansible_collections" / "meshguard" / "egress"
    manifest = yaml.safe_load((tree / "FILES.json").read_text()) if (tree / "FILES.json").exists() else {}
    known = {entry["name"] for entry in manifest.get("files", [])} | {"MANIFEST.json", "FILES.json"}
    # Python's byte code of the plugins Ansible imported is no file of a run.
    return sorted(
        p
        for p in tree.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and str(p.relative_to(tree)) not in known
    )


def test_a_relative_snapshot_is_written_and_read_in_the_working_directory(local_clusters, rollout, dns, elsewhere):
    work, env = elsewhere
    taken = ok(rollout.play("meshguard.egress.snapshot", cwd=work, env=env, meshguard_egress_snapshot="snap.yml"))
    (result,) = taken.results(SNAPSHOT_TASK).values()
    assert result["path"] == str(work / "snap.yml")
    assert sorted(yaml.safe_load((work / "snap.yml").read_text())["hosts"]) == [
        "cache.rollout.test",
        "mongo-0.db.rollout.test",
        "mongo-1.db.rollout.test",
        "mongo-2.db.rollout.test",
    ]
    installed = Path(env["ANSIBLE_COLLECTIONS_PATH"])
    assert written_into(installed) == []

    # A decoy where the modules start (the installed playbooks' folder), with another address: the
    # rollout must read the working directory's file, the one the snapshot playbook wrote and a review saw.
    playbooks = installed / "ansible_collections" / "meshguard" / "egress" / "playbooks"
    decoy = (work / "snap.yml").read_text().replace("192.0.2.11", "192.0.2.99")
    (playbooks / "snap.yml").write_text(decoy)
    try:
        start = dns.queries()
        run = ok(rollout.play("meshguard.egress.rollout", cwd=work, env=env, meshguard_egress_snapshot="snap.yml"))
    finally:
        (playbooks / "snap.yml").unlink()
    assert dns.queries() == start  # the addresses came from the file
    assert f"addresses of snapshot {work / 'snap.yml'} taken " in run.summary()[0][0]
    for ctx in CLUSTERS:
        assert addresses(live(local_clusters, ctx, rollout.namespace, rollout.set_name), rollout.set_name, "mongo") == (
            MONGO_CIDRS
        )


@pytest.fixture
def other_python(tmp_path) -> str:
    """The same Python under another path: Ansible starts the rules module as a process of its own
    (in the playbook's folder) instead of running it in the worker (plugins/action/rules.py)."""
    path = tmp_path / "python"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("way", ["in the worker", "as a module process"])
def test_relative_kubeconfig_and_render_folders_are_the_working_directorys(
    local_clusters, rollout, elsewhere, other_python, way
):
    work, env = elsewhere
    (work / "kube").mkdir()
    shutil.copy(KUBECONFIG, work / "kube" / "config")
    interpreter = "{{ ansible_playbook_python }}" if way == "in the worker" else other_python
    rollout.write(SERVICES, meshguard_egress_kubeconfig="kube/config", ansible_python_interpreter=interpreter)

    run = ok(rollout.play("meshguard.egress.rollout", cwd=work, env=env))
    assert set(run.applied()) == set(CLUSTERS)
    for ctx in CLUSTERS:
        assert addresses(live(local_clusters, ctx, rollout.namespace, rollout.set_name), rollout.set_name, "mongo") == (
            MONGO_CIDRS
        )

    # The role's dest (state rendered) and the render playbook's folder.
    ok(
        rollout.play(
            "meshguard.egress.rollout",
            cwd=work,
            env=env,
            meshguard_egress_state="rendered",
            meshguard_egress_dest="manifests/{{ inventory_hostname }}",
        )
    )
    ok(rollout.play("meshguard.egress.render", cwd=work, env=env, meshguard_egress_render_dir="rendered"))
    for folder in ("manifests", "rendered"):
        assert sorted(p.name for p in (work / folder).iterdir()) == CLUSTERS, folder
        objects = [yaml.safe_load(p.read_text()) for p in (work / folder / "local-3").iterdir()]
        names = {f"{o['kind']}/{o['metadata']['name']}" for o in objects}
        assert f"ServiceEntry/{rollout.set_name}--cache" in names, (folder, names)
    assert written_into(Path(env["ANSIBLE_COLLECTIONS_PATH"])) == []


def test_the_installed_playbooks_run_from_the_tarball(elsewhere):
    """What the other tests here run is the installed copy, not this working copy."""
    work, env = elsewhere
    res = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "--syntax-check", "-i", "localhost,", "meshguard.egress.snapshot", "-vvv"],
        cwd=work,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"playbook: {Path(env['ANSIBLE_COLLECTIONS_PATH'])}/ansible_collections/meshguard/egress/playbooks" in (
        res.stdout
    )
