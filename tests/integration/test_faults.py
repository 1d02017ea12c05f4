# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults and DNS churn against real components: nothing applied is lost.

A Knot server per test serves a zone the test rewrites between runs; the
module runs through ansible-playbook against the real local clusters; what
is live is read back with kubectl and writes are counted with the API
server's apiserver_request_total.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time

import pytest
from clusterlib import ROOT, LocalClusters, run_module, writes
from dnslib import dnstool
from localclusters.clusterset import ClusterSet

from ansible_collections.meshguard.egress.plugins.module_utils._cluster.client import ConnectionOptions, KubeClient
from ansible_collections.meshguard.egress.plugins.module_utils._cluster.execute import delete_if_still_owned

pytestmark = pytest.mark.integration

CTX = "local-3"
OURS = {"serviceentries", "networkpolicies", "sidecars", "egressrules"}
ZONE = """$ORIGIN churn.test.
$TTL 5
@   IN SOA ns.churn.test. admin.churn.test. ( 1 3600 600 86400 5 )
@   IN NS ns.churn.test.
ns  IN A 127.0.0.1
{records}
"""


class ChurnDns:
    """A real DNS server for churn.test whose answers the test sets."""

    def __init__(self, tmp_path):
        self.zones = tmp_path / "zones"
        self.zones.mkdir()
        self.state = tmp_path / "state"
        self.port = dnstool.free_port()
        self.server = None

    def answer(self, name: str, addresses: list[str]) -> None:
        records = "\n".join(f"{name} IN A {a}" for a in addresses)
        (self.zones / "churn.test.zone").write_text(ZONE.format(records=records))
        if self.server is None:
            self.server = dnstool.up(self.zones, self.port, state_dir=self.state)
        else:
            dnstool.reload(self.port, state_dir=self.state)

    def stop(self) -> None:
        dnstool.down(self.port, state_dir=self.state)

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def churn(tmp_path):
    dns = ChurnDns(tmp_path)
    yield dns
    dns.stop()


def set_of(namespace: str) -> str:
    """A set per test: a set is cluster-wide, so tests sharing one would prune
    (and retain) each other's objects."""
    return f"c{namespace}"


def module_args(local_clusters, namespace, dns, services, **extra):
    return {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": CTX,
        "set": set_of(namespace),
        "namespace": namespace,
        "nameservers": [dns.nameserver],
        "timeout": 1,
        "lifetime": 3,
        "services": services,
        **extra,
    }


DB = {"name": "db", "hosts": ["db.churn.test"], "ports": [{"number": 5432, "protocol": "TCP"}]}
PINNED = {"name": "pinned", "hosts": ["198.51.100.10"], "ports": [{"number": 443, "protocol": "TLS"}]}


def live_addresses(local_clusters, namespace, service="db"):
    name = f"{set_of(namespace)}--{service}"
    return local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, name)[0]["spec"]["addresses"]


def our_writes(local_clusters, before):
    after = local_clusters.requests(CTX)
    return {k: n for k, n in writes(before, after).items() if k[1] in OURS}


def test_rotating_answers_with_retain_keep_every_address(local_clusters, namespace, churn):
    churn.answer("db", ["192.0.2.1", "192.0.2.2"])
    args = module_args(local_clusters, namespace, churn, [DB], retain="1h")
    assert not run_module("rules", args)[0]["failed"]
    churn.answer("db", ["192.0.2.2", "192.0.2.3"])
    result = run_module("rules", args)[0]
    assert result["plan"]["update"] == [f"ServiceEntry/{namespace}/{set_of(namespace)}--db"]
    # 192.0.2.1 and .2 merge into one block; .3 is next to it.
    assert live_addresses(local_clusters, namespace) == ["192.0.2.1/32", "192.0.2.2/31"]
    se = local_clusters.get(CTX, "serviceentry", namespace, f"{set_of(namespace)}--db")[0]
    seen = json.loads(se["metadata"]["annotations"]["meshguard.egress/last-seen"])
    assert seen["192.0.2.2"] == seen["192.0.2.3"] == ""
    assert seen["192.0.2.1"].endswith("Z")
    # Nothing changed since: the annotation stays as it is, nothing is written.
    before = local_clusters.requests(CTX)
    again = run_module("rules", args)[0]
    assert again["changed"] is False
    assert our_writes(local_clusters, before) == {}


def test_without_retain_exactly_the_answer_is_applied(local_clusters, namespace, churn):
    churn.answer("db", ["192.0.2.1", "192.0.2.2"])
    args = module_args(local_clusters, namespace, churn, [DB], retain="0")
    run_module("rules", args)
    churn.answer("db", ["192.0.2.2", "192.0.2.3"])
    before = local_clusters.requests(CTX)
    result = run_module("rules", args)[0]
    assert result["plan"]["update"] == [f"ServiceEntry/{namespace}/{set_of(namespace)}--db"]
    assert our_writes(local_clusters, before) == {("APPLY", "serviceentries"): 1}
    assert live_addresses(local_clusters, namespace) == ["192.0.2.2/31"]
    annotations = local_clusters.get(CTX, "serviceentry", namespace, f"{set_of(namespace)}--db")[0]["metadata"][
        "annotations"
    ]
    assert "meshguard.egress/last-seen" not in annotations


def test_a_retained_address_expires_and_check_mode_shows_it_first(local_clusters, namespace, churn):
    churn.answer("db", ["192.0.2.1", "192.0.2.5"])
    args = module_args(local_clusters, namespace, churn, [DB], retain="3s")
    run_module("rules", args)
    churn.answer("db", ["192.0.2.1"])
    kept = run_module("rules", args)[0]
    assert live_addresses(local_clusters, namespace) == ["192.0.2.1/32", "192.0.2.5/32"]
    assert any("192.0.2.5 is no longer returned by DNS" in w for w in kept.get("warnings", []))
    time.sleep(4)
    before = local_clusters.requests(CTX)
    preview, shown = run_module("rules", args, check=True, diff=True)
    assert our_writes(local_clusters, before) == {}
    assert "-  - 192.0.2.5/32" in shown
    assert live_addresses(local_clusters, namespace) == ["192.0.2.1/32", "192.0.2.5/32"]
    real = run_module("rules", args)[0]
    assert real["plan"] == preview["plan"]
    assert live_addresses(local_clusters, namespace) == ["192.0.2.1/32"]


@pytest.mark.parametrize("policy", ["fail", "keep"])
def test_dns_server_down_loses_nothing(local_clusters, namespace, churn, policy):
    churn.answer("db", ["192.0.2.1", "192.0.2.2", "192.0.2.3"])
    args = module_args(local_clusters, namespace, churn, [DB, PINNED], network_policy=True, on_error=policy)
    run_module("rules", args)
    objects = local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace)
    policies = local_clusters.get(CTX, "networkpolicies.networking.k8s.io", namespace)
    churn.stop()
    before = local_clusters.requests(CTX)
    result = run_module("rules", args)[0]
    assert our_writes(local_clusters, before) == {}
    assert local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace) == objects
    assert local_clusters.get(CTX, "networkpolicies.networking.k8s.io", namespace) == policies
    if policy == "fail":
        assert result["failed"]
        assert "db.churn.test" in result["msg"] and churn.nameserver in result["msg"]
        assert "nothing was changed" in result["msg"]
    else:
        assert not result["failed"], result.get("msg")
        assert f"ServiceEntry/{namespace}/{set_of(namespace)}--db" in result["plan"]["unchanged"]
        assert any("'db' did not resolve" in w and churn.nameserver in w for w in result.get("warnings", []))


def test_keep_still_applies_the_services_that_resolved(local_clusters, namespace, churn):
    churn.answer("db", ["192.0.2.1"])
    args = module_args(local_clusters, namespace, churn, [DB, PINNED], on_error="keep")
    run_module("rules", args)
    churn.stop()
    moved = dict(PINNED, hosts=["198.51.100.11"])
    result = run_module("rules", dict(args, services=[DB, moved]))[0]
    assert not result["failed"], result.get("msg")
    assert result["plan"]["update"] == [f"ServiceEntry/{namespace}/{set_of(namespace)}--pinned"]
    assert live_addresses(local_clusters, namespace) == ["192.0.2.1/32"]
    assert live_addresses(local_clusters, namespace, "pinned") == ["198.51.100.11/32"]


def test_two_rollouts_of_one_set_at_once_converge(local_clusters, namespace):
    services = [
        {"name": f"svc{i}", "hosts": [f"203.0.113.{i}"], "ports": [{"number": 5000 + i, "protocol": "TCP"}]}
        for i in range(1, 31)
    ]
    args = {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": CTX,
        "set": "twice",
        "namespace": namespace,
        "network_policy": True,
        "services": services,
    }
    results = []
    threads = [threading.Thread(target=lambda: results.append(run_module("rules", args)[0])) for _twice in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r["failed"] for r in results] == [False, False], [r.get("msg") for r in results]
    entries = local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace)
    assert {e["metadata"]["name"]: e["spec"]["addresses"] for e in entries} == {
        f"twice--svc{i}": [f"203.0.113.{i}/32"] for i in range(1, 31)
    }
    assert len(local_clusters.get(CTX, "networkpolicies.networking.k8s.io", namespace)) == 30
    assert run_module("rules", args)[0]["changed"] is False


def test_readonly_user_prunes_nothing(local_clusters, namespace):
    services = [
        {"name": "a", "hosts": ["192.0.2.1"], "ports": [{"number": 1111, "protocol": "TCP"}]},
        {"name": "b", "hosts": ["192.0.2.2"], "ports": [{"number": 2222, "protocol": "TCP"}]},
    ]
    base = {"kubeconfig": str(local_clusters.kubeconfig), "set": "ro", "namespace": namespace}
    assert not run_module("rules", {**base, "context": "local-1", "services": services})[0]["failed"]
    result = run_module("rules", {**base, "context": "local-1-readonly", "services": services[:1]})[0]
    assert result["failed"]
    assert "403 Forbidden" in result["msg"] and "delete serviceentries.networking.istio.io ro--b" in result["msg"]
    names = {o["metadata"]["name"] for o in local_clusters.get("local-1", "serviceentries", namespace)}
    assert names == {"ro--a", "ro--b"}


@pytest.fixture(scope="module")
def bare_cluster():
    """An API server where Istio's CRDs are not installed."""
    state = ROOT / ".cache" / "test-bare"
    cs = ClusterSet(state, state / "kubeconfig", prefix="bare")
    already = {c.name for c in cs.known() if c.pid()}
    (member,) = cs.up(1, istio=False)
    yield cs
    if os.environ.get("MESHGUARD_KEEP_CLUSTERS") != "1" and member.name not in already:
        member.shutdown()


def test_missing_istio_crds_are_named_and_nothing_is_written(bare_cluster):
    member = bare_cluster.cluster("bare-1")
    status = member.get("/apis/networking.istio.io/v1")[0]
    assert status == 404, "the bare cluster serves Istio's API"
    args = {
        "kubeconfig": str(bare_cluster.kubeconfig),
        "context": "bare-1",
        "set": "shop",
        "services": [PINNED],
    }
    view = LocalClusters(bare_cluster, [member], bare_cluster.kubeconfig)
    before = view.requests("bare-1")
    result = run_module("rules", args)[0]
    assert result["failed"]
    assert result["msg"] == "ServiceEntry networking.istio.io/v1 is not served by context bare-1: is Istio installed?"
    assert {k: n for k, n in writes(before, view.requests("bare-1")).items() if k[1] in OURS | {"namespaces"}} == {}


@pytest.mark.parametrize("still_ours", [True, False])
def test_a_prune_that_races_a_change_reads_again_before_deleting(local_clusters, namespace, still_ours):
    service = {"name": "db", "hosts": ["192.0.2.40"], "ports": [{"number": 5432, "protocol": "TCP"}]}
    args = {"kubeconfig": str(local_clusters.kubeconfig), "context": CTX, "set": "race", "namespace": namespace}
    assert not run_module("rules", {**args, "services": [service]})[0]["failed"]
    read = local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, "race--db")[0]
    # Changed after it was read: the delete's resourceVersion precondition gets a 409.
    label = "reviewed=yes" if still_ours else "app.kubernetes.io/managed-by=someone-else"
    local_clusters.kubectl(CTX, "-n", namespace, "label", "--overwrite", "serviceentry", "race--db", label)

    client = KubeClient(ConnectionOptions(kubeconfig=str(local_clusters.kubeconfig), context=CTX))
    res = client.resource("networking.istio.io/v1", "ServiceEntry")
    before = local_clusters.requests(CTX)
    delete_if_still_owned(client, res, read, dry_run=False, set_name="race")
    deletes = {k: n for k, n in writes(before, local_clusters.requests(CTX)).items() if k[0] == "DELETE"}
    left = {o["metadata"]["name"] for o in local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace)}
    if still_ours:
        # The stale delete was refused, the fresh one went through.
        assert deletes == {("DELETE", "serviceentries"): 2}
        assert left == set()
    else:
        # Someone else manages it now: read again, and left alone.
        assert deletes == {("DELETE", "serviceentries"): 1}
        assert left == {"race--db"}


def test_an_unreachable_api_server_is_named_and_the_token_never_shows():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        server = f"https://127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens there
    token = "mg-" + secrets.token_urlsafe(24)
    service = {"name": "db", "hosts": ["192.0.2.40"], "ports": [{"number": 5432, "protocol": "TCP"}]}
    args = {"host": server, "api_key": token, "set": "gone", "services": [service]}
    result, shown = run_module("rules", args, verbosity=3)
    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot reach the API server {server} ({server}): ")
    assert "Connection refused" in result["msg"]
    assert "Traceback" not in shown
    assert token not in shown
