# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kubernetes.core's connection options, as its users expect them, against the
local kube-apiservers (RBAC, client certificates; the admin of each is in
system:masters, which may impersonate anyone), a real HTTP proxy (Debian's
tinyproxy, with basic authentication) and kubernetes.core itself (from the
`ansible` package of the package index, pinned by bench/constraints-peers.txt):

- impersonation: the API server judges the impersonated user and groups
  (its SelfSubjectReview says who; RBAC allows or refuses by them, one group a
  header); from the options, the K8S_AUTH_* variables and the role;
- basic authentication: Kubernetes removed it in 1.19, so the local API server
  treats the request as anonymous, and the error says that;
- proxy, proxy_headers, no_proxy: through the proxy only with its credentials,
  around it for the hosts no_proxy names;
- module_defaults: group/meshguard.egress.cluster sets the connection once;
  group/meshguard.egress.k8s covers kubernetes.core's modules too, and
  group/kubernetes.core.k8s does not reach this collection's modules;
- a missing kubeconfig names the path it tried.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any, Optional

import pytest
import test_rollout
import yaml
from clusterlib import ANSIBLE_PLAYBOOK, run_module
from localclusters.common import free_ports, port_in_use
from test_rollout import CLUSTERS
from test_rules_module import CTX, MYSQL, PARTNER, args

from ansible_collections.meshguard.egress.plugins.module_utils._cluster.client import ConnectionOptions, KubeClient

pytestmark = pytest.mark.integration

rollout_dns = test_rollout.rollout_dns
dns = test_rollout.dns
rollout = test_rollout.rollout

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).parent / "files"
SE = "serviceentries.networking.istio.io"


def who(local_clusters, **options: Any) -> dict:
    """The user and groups the API server authenticated a request as (a SelfSubjectReview)."""
    client = KubeClient(ConnectionOptions(kubeconfig=str(local_clusters.kubeconfig), context=CTX, **options))
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    review = client.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body=body)
    return review["status"]["userInfo"]


@pytest.fixture
def writers_group(local_clusters):
    """A group that may do anything on CTX (a ClusterRoleBinding to cluster-admin), and nobody in it."""
    name = f"mg-writers-{uuid.uuid4().hex[:8]}"
    local_clusters.kubectl(CTX, "create", "clusterrolebinding", name, "--clusterrole=cluster-admin", f"--group={name}")
    yield name
    local_clusters.kubectl(CTX, "delete", "clusterrolebinding", name, check=False)


def test_the_api_server_judges_the_impersonated_user_and_each_group(local_clusters, namespace, writers_group):
    admin = f"{CTX}-admin"
    user = f"bob-{uuid.uuid4().hex[:6]}"
    assert who(local_clusters)["username"] == f"admin-{CTX}"
    # A group name with a comma and a space: each group travels in a header of its own.
    groups = ["team, eu", writers_group]
    acting = who(local_clusters, impersonate_user=user, impersonate_groups=tuple(groups))
    assert (acting["username"], acting["groups"]) == (user, [*groups, "system:authenticated"])

    # The user alone may do nothing: refused, named, nothing written.
    alone = run_module("rules", args(local_clusters, namespace, [MYSQL], impersonate_user=user))[0]
    assert alone["failed"] is True
    assert f"403 Forbidden: user {user} (impersonated by {admin}) may not " in alone["msg"], alone["msg"]
    assert f'User "{user}" cannot ' in alone["msg"]
    assert local_clusters.get(CTX, SE, namespace) == []

    # In the writers' group (second of two), the same run writes.
    grouped = run_module(
        "rules", args(local_clusters, namespace, [MYSQL], impersonate_user=user, impersonate_groups=groups)
    )
    assert not grouped[0]["failed"], grouped[0].get("msg")
    assert grouped[0]["plan"]["create"] == [f"ServiceEntry/{namespace}/shop--mysql"]
    assert [o["metadata"]["name"] for o in local_clusters.get(CTX, SE, namespace)] == ["shop--mysql"]


def test_impersonation_from_the_environment_variables_of_kubernetes_core(local_clusters, namespace, writers_group):
    user = f"carol-{uuid.uuid4().hex[:6]}"
    env = {"K8S_AUTH_IMPERSONATE_USER": user, "K8S_AUTH_IMPERSONATE_GROUPS": f"auditors,{writers_group}"}
    result = run_module("rules", args(local_clusters, namespace, [MYSQL]), env=env)[0]
    assert not result["failed"], result.get("msg")
    assert result["plan"]["create"] == [f"ServiceEntry/{namespace}/shop--mysql"]
    # Without the group, the user alone may write nothing.
    alone = {"K8S_AUTH_IMPERSONATE_USER": user}
    refused = run_module("rules", args(local_clusters, namespace, [MYSQL, PARTNER]), env=alone)[0]
    assert refused["failed"] is True
    assert f"user {user} (impersonated by {CTX}-admin) may not " in refused["msg"], refused["msg"]


def test_the_role_impersonates_on_every_cluster(local_clusters, rollout):
    user = f"dave-{uuid.uuid4().hex[:6]}"
    run = rollout.rollout(meshguard_egress_impersonate_user=user)
    assert run.rc == 2, run.out
    lines = run.summary()[0]
    for ctx in CLUSTERS:
        (line,) = [line for line in lines if line.startswith(f"{ctx}: FAILED (context {ctx}): ")]
        assert f"403 Forbidden: user {user} (impersonated by {ctx}-admin) may not " in line, line
        assert run.recap[ctx]["failed"] == 1


def test_basic_authentication_is_gone_from_kubernetes_and_the_error_says_so(local_clusters, namespace):
    cluster = local_clusters.by_context(CTX)
    password = "mg-" + secrets.token_urlsafe(18)
    given = {
        "host": cluster.server,
        "ca_cert": str(cluster.dir / "pki" / "ca.crt"),
        "username": "alice",
        "password": password,
        "set": "shop",
        "namespace": namespace,
    }
    result, shown = run_module("rules_info", given, verbosity=3)
    assert result["failed"] is True
    assert "403 Forbidden: the API server did not take the password of user alice" in result["msg"], result["msg"]
    assert "treated the request as system:anonymous" in result["msg"]
    assert "Kubernetes has no basic authentication since 1.19" in result["msg"]
    assert password not in shown and password not in json.dumps(result)

    # Half of it is an input error naming the option, before any request.
    half = run_module("rules_info", {**given, "password": None})[0]
    assert half["failed"] is True
    assert half["msg"] == "password: username and password go together (HTTP basic authentication)"


# --------------------------------------------------------------------------- a real HTTP proxy


class Proxy:
    """tinyproxy on a free loopback port, with basic authentication; its log names every
    connection it opened for a client (after checking the client's credentials)."""

    def __init__(self, base: Path) -> None:
        binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
        if not os.access(binary, os.X_OK):
            pytest.fail("tinyproxy is missing: `make integration-deps` installs it (Debian package tinyproxy-bin)")
        self.port = free_ports(1)[0]
        self.user, self.password = "meshguard", "px-" + secrets.token_urlsafe(12)
        self.log = base / "tinyproxy.log"
        conf = base / "tinyproxy.conf"
        conf.write_text(
            f'Port {self.port}\nListen 127.0.0.1\nTimeout 30\nLogFile "{self.log}"\nLogLevel Info\n'
            f"MaxClients 20\nAllow 127.0.0.1\nBasicAuth {self.user} {self.password}\n"
        )
        self.proc = subprocess.Popen(
            [binary, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not port_in_use(self.port):
            assert self.proc.poll() is None and time.monotonic() < deadline, "tinyproxy did not start"
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tunnels(self) -> list[str]:
        """The host:port of every connection it opened, in order."""
        text = self.log.read_text() if self.log.exists() else ""
        marker = "opensock: opening connection to "
        return [line.split(marker)[1].strip() for line in text.splitlines() if marker in line]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    p = Proxy(tmp_path_factory.mktemp("proxy"))
    yield p
    p.stop()


def test_through_a_proxy_with_its_credentials_only(local_clusters, namespace, proxy):
    server = local_clusters.by_context(CTX).server.removeprefix("https://")
    base = {**args(local_clusters, namespace, []), "services": None, "proxy": proxy.url}
    before = len(proxy.tunnels())
    refused = run_module("rules_info", base)[0]
    assert refused["failed"] is True
    assert "cannot reach the API server" in refused["msg"] and "407" in refused["msg"], refused["msg"]
    assert len(proxy.tunnels()) == before  # tinyproxy opened nothing

    credentials = f"{proxy.user}:{proxy.password}"
    through, shown = run_module("rules_info", {**base, "proxy_headers": {"proxy_basic_auth": credentials}}, verbosity=3)
    assert not through["failed"], through.get("msg")
    assert proxy.tunnels()[before:] and set(proxy.tunnels()[before:]) == {server}
    assert proxy.password not in shown

    # The same credentials from kubernetes.core's environment variable.
    env = {"K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": credentials, "K8S_AUTH_PROXY": proxy.url}
    count = len(proxy.tunnels())
    # (given as null, an option is given: Ansible reads no environment variable for it)
    unset = {k: v for k, v in base.items() if k != "proxy"}
    from_env = run_module("rules_info", unset, env=env)[0]
    assert not from_env["failed"], from_env.get("msg")
    assert len(proxy.tunnels()) > count


def test_no_proxy_hosts_go_direct(local_clusters, namespace, proxy):
    dead = f"http://127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    base = {**args(local_clusters, namespace, []), "services": None, "proxy": dead}
    failed = run_module("rules_info", {**base, "no_proxy": "localhost,10.0.0.0/8"})[0]
    assert failed["failed"] is True and "cannot reach the API server" in failed["msg"], failed["msg"]
    # (the forms of an entry: tests/unit/plugins/module_utils/_cluster/test_client.py)
    direct = run_module("rules_info", {**base, "no_proxy": "localhost, 127.0.0.1"})[0]
    assert not direct["failed"], direct.get("msg")
    from_env = run_module("rules_info", base, env={"K8S_AUTH_NO_PROXY": "127.0.0.0/8"})[0]
    assert not from_env["failed"], from_env.get("msg")


# --------------------------------------------------------------------------- module_defaults and kubernetes.core


def play(tmp_path: Path, tasks: list[dict], module_defaults: dict, env: Optional[dict] = None) -> tuple[dict, str]:
    """One play on localhost with module_defaults; each task's result by task name, with its
    status (ok, changed, failed) as the callback saw it under ``status``."""
    record = tmp_path / f"record-{uuid.uuid4().hex[:6]}.jsonl"
    playbook = tmp_path / "play.yml"
    body = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "module_defaults": module_defaults,
            "tasks": [{**task, "ignore_errors": True} for task in tasks],
        }
    ]
    playbook.write_text(yaml.safe_dump(body, sort_keys=False))
    full_env = {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CALLBACK_PLUGINS": str(FILES / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "meshguard_record",
        "MESHGUARD_RECORD": str(record),
        **(env or {}),
    }
    res = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", str(playbook)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )
    out = res.stdout + res.stderr
    records = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return {r["task"]: {**r["result"], "status": r["status"]} for r in records}, out


def connection(local_clusters) -> dict:
    return {"kubeconfig": str(local_clusters.kubeconfig), "context": CTX}


def info_task(name: str, namespace: str) -> dict:
    return {"name": name, "meshguard.egress.rules_info": {"set": "shop", "namespace": namespace}}


NO_KUBECONFIG = "/nonexistent/meshguard-kubeconfig"


def test_module_defaults_group_sets_the_connection_once(local_clusters, namespace, tmp_path):
    tasks = [
        info_task("info", namespace),
        {"name": "rules", "meshguard.egress.rules": {"set": "shop", "namespace": namespace, "services": [MYSQL]}},
    ]
    # Without defaults the modules fall back to KUBECONFIG, which names no file: the error says which.
    env = {"KUBECONFIG": NO_KUBECONFIG}
    results, out = play(tmp_path, tasks[:1], {}, env)
    assert results["info"]["status"] == "failed"
    assert results["info"]["msg"] == f"no kubeconfig file at {NO_KUBECONFIG} (from the KUBECONFIG environment variable)"
    for group in ("group/meshguard.egress.cluster", "group/meshguard.egress.egress", "group/meshguard.egress.k8s"):
        results, out = play(tmp_path, tasks, {group: connection(local_clusters)}, env)
        assert results["info"]["status"] == "ok", (group, results["info"].get("msg"), out)
        assert results["info"]["cluster"] == f"context {CTX}"
        assert results["rules"]["status"] in ("ok", "changed"), (group, results["rules"].get("msg"))
    assert [o["metadata"]["name"] for o in local_clusters.get(CTX, SE, namespace)] == ["shop--mysql"]


def ansible_pin() -> str:
    for line in (ROOT / "bench" / "constraints-peers.txt").read_text().splitlines():
        if line.startswith("ansible=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("bench/constraints-peers.txt pins no ansible")


@pytest.fixture(scope="module")
def kubernetes_core(tmp_path_factory) -> Path:
    """kubernetes.core as the `ansible` package ships it (the version bench/ pins), in a
    collections path of its own: the wheel is fetched once into .cache/wheels (50 MB, about
    2 s) and only that collection is unpacked from it."""
    version = ansible_pin()
    wheels = ROOT / ".cache" / "wheels"
    wheel = wheels / f"ansible-{version}-py3-none-any.whl"
    if not wheel.exists():
        # Only its files are read, so the package's own Python floor does not apply (the oldest stack runs
        # 3.11); fetched aside and moved in whole, as the two suites of make test may fetch it at once.
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        fetch = Path(tempfile.mkdtemp(dir=ROOT / ".cache"))
        subprocess.run([*pip, "--ignore-requires-python", "-d", str(fetch), f"ansible=={version}"], check=True)
        wheels.mkdir(exist_ok=True)
        os.replace(fetch / wheel.name, wheel)
        shutil.rmtree(fetch)
    path = tmp_path_factory.mktemp("kubernetes-core")
    prefix = "ansible_collections/kubernetes/core/"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(path, [n for n in z.namelist() if n.startswith(prefix)])
    return path


def test_the_k8s_group_covers_kubernetes_core_and_kubernetes_cores_group_does_not_reach_here(
    local_clusters, namespace, tmp_path, kubernetes_core
):
    env = {
        "KUBECONFIG": NO_KUBECONFIG,
        "ANSIBLE_COLLECTIONS_PATH": f"{kubernetes_core}{os.pathsep}{ROOT / '.cache' / 'collections'}",
    }
    core = {"name": "core", "kubernetes.core.k8s_info": {"kind": "Namespace", "name": namespace}}
    tasks = [core, info_task("info", namespace)]

    # One entry sets both collections' modules.
    results, out = play(tmp_path, tasks, {"group/meshguard.egress.k8s": connection(local_clusters)}, env)
    assert results["core"]["status"] == "ok", (results["core"].get("msg"), out)
    assert [r["metadata"]["name"] for r in results["core"]["resources"]] == [namespace]
    assert results["info"]["status"] == "ok", results["info"].get("msg")
    assert results["info"]["cluster"] == f"context {CTX}"

    # kubernetes.core's own group reaches its modules only (Ansible reads a group from its collection).
    results, out = play(tmp_path, tasks, {"group/kubernetes.core.k8s": connection(local_clusters)}, env)
    assert results["core"]["status"] == "ok", (results["core"].get("msg"), out)
    assert results["info"]["status"] == "failed"
    assert results["info"]["msg"].startswith(f"no kubeconfig file at {NO_KUBECONFIG}")

    # Both, set once with a YAML anchor in a play of one's own, is the other way.
    both = {
        "group/kubernetes.core.k8s": connection(local_clusters),
        "group/meshguard.egress.cluster": connection(local_clusters),
    }
    results, out = play(tmp_path, tasks, both, env)
    assert results["core"]["status"] == results["info"]["status"] == "ok", out


def test_a_relative_kubeconfig_is_the_working_directorys_and_a_missing_one_is_named(local_clusters, namespace):
    """run_module runs ansible-playbook in the repository root."""
    given = {**args(local_clusters, namespace, []), "services": None, "kubeconfig": "no-such-dir/kubeconfig"}
    result = run_module("rules_info", given)[0]
    assert result["msg"] == f"no kubeconfig file at {ROOT}/no-such-dir/kubeconfig (from the kubeconfig option)"
    relative = os.path.relpath(local_clusters.kubeconfig, ROOT)
    assert not run_module("rules_info", {**given, "kubeconfig": relative})[0]["failed"]
