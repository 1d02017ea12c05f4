# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meshguard.egress.rules against real kube-apiservers with Istio's CRDs.

Each test works in a fresh namespace. What was written is read back with
kubectl (an independent client), and write requests are counted with the
API server's own apiserver_request_total.
"""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
from clusterlib import run_module, writes

pytestmark = pytest.mark.integration

CTX = "local-2"
OUR_RESOURCES = {"serviceentries", "networkpolicies", "sidecars", "egressrules"}


def args(local_clusters, namespace: str, services: list, **extra) -> dict:
    base = {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": extra.pop("context", CTX),
        "set": extra.pop("set", "shop"),
        "namespace": namespace,
        "services": services,
    }
    base.update(extra)
    return base


MYSQL = {"name": "mysql", "hosts": ["192.0.2.10"], "ports": [{"number": 3306, "protocol": "MYSQL"}]}
PARTNER = {"name": "partner", "hosts": ["203.0.113.0/28"], "ports": [{"number": 443, "protocol": "TLS"}]}


def our_writes(local_clusters, before, *, dry_run=False):
    after = local_clusters.requests(CTX)
    return {k: n for k, n in writes(before, after, dry_run=dry_run).items() if k[1] in OUR_RESOURCES}


def addresses(local_clusters, namespace, name):
    return local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, name)[0]["spec"]["addresses"]


def test_create_then_rerun_changes_nothing_and_writes_nothing(local_clusters, namespace):
    a = args(local_clusters, namespace, [MYSQL, PARTNER], network_policy=True)
    result = run_module("rules", a)[0]
    assert not result["failed"], result.get("msg")
    assert result["changed"] is True
    assert result["plan"]["create"] == [
        f"NetworkPolicy/{namespace}/shop--mysql",
        f"NetworkPolicy/{namespace}/shop--partner",
        f"ServiceEntry/{namespace}/shop--mysql",
        f"ServiceEntry/{namespace}/shop--partner",
    ]
    se = local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, "shop--mysql")[0]
    assert se["spec"]["addresses"] == ["192.0.2.10/32"]
    assert se["spec"]["location"] == "MESH_EXTERNAL"
    assert se["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "meshguard.egress"
    assert se["metadata"]["labels"]["meshguard.egress/set"] == "shop"
    np = local_clusters.get(CTX, "networkpolicies.networking.k8s.io", namespace, "shop--partner")[0]
    # The block on its port, then what the selected pods keep: DNS, istiod, every pod of the cluster.
    assert np["spec"]["egress"][0] == {
        "ports": [{"port": 443, "protocol": "TCP"}],
        "to": [{"ipBlock": {"cidr": "203.0.113.0/28"}}],
    }
    assert np["spec"]["egress"][-1] == {"to": [{"namespaceSelector": {}}]}
    assert [line for p in result["network_policies"] for line in p["allows"]][:4] == [
        "192.0.2.10/32 on TCP 3306",
        "kube-system/k8s-app=kube-dns on UDP 53, TCP 53",
        "istio-system/app=istiod on TCP 15012",
        "every pod of the cluster (all ports)",
    ]
    assert se["spec"]["exportTo"] == ["."]

    before = local_clusters.requests(CTX)
    again = run_module("rules", a)[0]
    assert again["changed"] is False
    assert len(again["plan"]["unchanged"]) == 4
    assert our_writes(local_clusters, before) == {}
    assert our_writes(local_clusters, before, dry_run=True) == {}


def test_address_change_updates_exactly_that_object(local_clusters, namespace):
    run_module("rules", args(local_clusters, namespace, [MYSQL, PARTNER]))
    moved = dict(MYSQL, hosts=["192.0.2.11", "192.0.2.12"])
    before = local_clusters.requests(CTX)
    result = run_module("rules", args(local_clusters, namespace, [moved, PARTNER]))[0]
    assert result["plan"]["update"] == [f"ServiceEntry/{namespace}/shop--mysql"]
    assert result["plan"]["unchanged"] == [f"ServiceEntry/{namespace}/shop--partner"]
    assert our_writes(local_clusters, before) == {("APPLY", "serviceentries"): 1}
    assert addresses(local_clusters, namespace, "shop--mysql") == ["192.0.2.11/32", "192.0.2.12/32"]


def test_removed_service_is_pruned_and_other_sets_are_untouched(local_clusters, namespace):
    run_module("rules", args(local_clusters, namespace, [MYSQL, PARTNER]))
    other = dict(MYSQL, name="cache", hosts=["198.51.100.7"])
    run_module("rules", args(local_clusters, namespace, [other], set="billing"))
    result = run_module("rules", args(local_clusters, namespace, [PARTNER]))[0]
    assert result["plan"]["delete"] == [f"ServiceEntry/{namespace}/shop--mysql"]
    names = {o["metadata"]["name"] for o in local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace)}
    assert names == {"shop--partner", "billing--cache"}


def test_state_absent_removes_only_this_set(local_clusters, namespace):
    run_module("rules", args(local_clusters, namespace, [MYSQL, PARTNER], registry_only=[namespace]))
    run_module("rules", args(local_clusters, namespace, [dict(PARTNER, name="api")], set="billing"))
    result = run_module("rules", {**args(local_clusters, namespace, []), "state": "absent"})[0]
    assert sorted(result["plan"]["delete"]) == [
        f"ServiceEntry/{namespace}/shop--mysql",
        f"ServiceEntry/{namespace}/shop--partner",
        f"Sidecar/{namespace}/default",
    ]
    names = {o["metadata"]["name"] for o in local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace)}
    assert names == {"billing--api"}
    assert local_clusters.get(CTX, "sidecars.networking.istio.io", namespace) == []


@pytest.mark.parametrize("step", ["create", "update", "prune", "absent"])
def test_check_mode_writes_nothing_and_predicts_the_real_run(local_clusters, namespace, step):
    first = [MYSQL, PARTNER]
    then = {
        "create": first,
        "update": [dict(MYSQL, hosts=["192.0.2.10", "192.0.2.99"]), PARTNER],
        "prune": [PARTNER],
        "absent": [],
    }[step]
    if step != "create":
        run_module("rules", args(local_clusters, namespace, first, network_policy=True))
    a = args(local_clusters, namespace, then, network_policy=True)
    if step == "absent":
        a["state"] = "absent"
    live_before = local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace)
    before = local_clusters.requests(CTX)
    preview, shown = run_module("rules", a, check=True, diff=True)
    assert our_writes(local_clusters, before) == {}, "check mode wrote to the API server"
    assert our_writes(local_clusters, before, dry_run=True), "check mode sent no dry-run request"
    assert local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace) == live_before
    assert preview["changed"] is True

    real = run_module("rules", a, diff=True)[0]
    assert preview["plan"] == real["plan"]
    assert preview["diff"] == real["diff"]
    # The diff is readable: one entry per object, headers naming kind, namespace, name and cluster.
    assert len(preview["diff"]) == sum(len(real["plan"][k]) for k in ("create", "update", "delete"))
    for entry in preview["diff"]:
        assert f"/{namespace}/" in entry["before_header"] and f"context {CTX}" in entry["after_header"]
        assert "managedFields" not in entry["before"] + entry["after"]
        assert "resourceVersion" not in entry["before"] + entry["after"]
    assert f"context {CTX}" in shown


def test_check_mode_fails_where_the_real_run_fails(local_clusters, namespace):
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    a = args(local_clusters, missing, [MYSQL])
    preview = run_module("rules", a, check=True)[0]
    real = run_module("rules", a)[0]
    assert preview.get("failed") and real.get("failed")
    # Named up front, before any write or dry run, in both.
    assert preview["msg"] == real["msg"]
    assert f"namespace '{missing}' of the rule set does not exist" in real["msg"]


def test_same_named_object_without_our_labels_is_reported_then_taken_over_with_force(local_clusters, namespace):
    foreign = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "shop--mysql", "namespace": namespace},
        "spec": {
            "hosts": ["hand.made.example"],
            "addresses": ["10.9.9.9/32"],
            "ports": [{"number": 3306, "name": "tcp", "protocol": "TCP"}],
            "location": "MESH_EXTERNAL",
        },
    }
    local_clusters.kubectl(CTX, "create", "-f", "-", stdin=json.dumps(foreign))
    result = run_module("rules", args(local_clusters, namespace, [MYSQL, PARTNER]))[0]
    assert result.get("failed") is True
    assert result["plan"]["conflicts"] == [f"ServiceEntry/{namespace}/shop--mysql"]
    assert f"ServiceEntry/{namespace}/shop--mysql exists and is not managed by meshguard.egress" in result["msg"]
    # The rest of the set was applied; the foreign object is untouched.
    assert result["plan"]["create"] == [f"ServiceEntry/{namespace}/shop--partner"]
    assert addresses(local_clusters, namespace, "shop--mysql") == ["10.9.9.9/32"]
    assert "labels" not in local_clusters.get(CTX, "serviceentry", namespace, "shop--mysql")[0]["metadata"]
    # With --diff, the object as force would take it over, without writing it.
    previewed = run_module("rules", args(local_clusters, namespace, [MYSQL, PARTNER]), check=True, diff=True)[0]
    (entry,) = [d for d in previewed["diff"] if "[conflict, not written" in d["after_header"]]
    assert "hand.made.example" in entry["before"] and "192.0.2.10/32" in entry["after"]
    assert addresses(local_clusters, namespace, "shop--mysql") == ["10.9.9.9/32"]

    forced = run_module("rules", args(local_clusters, namespace, [MYSQL, PARTNER], force=True))[0]
    assert not forced.get("failed")
    assert forced["plan"]["update"] == [f"ServiceEntry/{namespace}/shop--mysql"]
    taken = local_clusters.get(CTX, "serviceentry", namespace, "shop--mysql")[0]
    assert taken["spec"]["addresses"] == ["192.0.2.10/32"]
    assert taken["metadata"]["labels"]["meshguard.egress/set"] == "shop"


def test_readonly_context_gets_a_clear_403_and_nothing_is_written(local_clusters, namespace):
    a = args(local_clusters, namespace, [MYSQL], context="local-1-readonly")
    result = run_module("rules", a)[0]
    assert result.get("failed") is True
    assert "403 Forbidden" in result["msg"]
    assert "local-readonly" in result["msg"]
    assert "patch serviceentries.networking.istio.io shop--mysql" in result["msg"]
    assert f"namespace {namespace}" in result["msg"]
    assert local_clusters.get("local-1", "serviceentries.networking.istio.io", namespace) == []


def test_a_preview_with_read_only_credentials_says_what_would_change_without_a_dry_run(local_clusters, namespace):
    """A merge-request pipeline on least-privilege credentials: --check --diff with the read-only context still
    shows the YAML diff and the reachability change, computed against the live objects, and says that the API
    server did not validate them; nothing is written, not even a dry run. rules_info shows each drifted object's
    diff."""
    ctx = "local-1"  # the read-only context's cluster
    a = args(local_clusters, namespace, [MYSQL, PARTNER], context="local-1-readonly")
    before = local_clusters.requests(ctx)
    result, printed = run_module("rules", a, check=True, diff=True)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True
    assert "the API server did not validate this preview: the credentials may not write" in printed
    created = {d["before_header"].split(" ")[0] for d in result["diff"]}
    assert created == {f"ServiceEntry/{namespace}/shop--mysql", f"ServiceEntry/{namespace}/shop--partner"}
    assert [(g["destination"], g["port"]) for g in result["reachability"]["added"]] == [
        ("192.0.2.10", 3306),
        ("203.0.113.0/28", 443),
    ]
    after = local_clusters.requests(ctx)
    for dry_run in (False, True):
        assert {k: n for k, n in writes(before, after, dry_run=dry_run).items() if k[1] in OUR_RESOURCES} == {}
    # Applied for real (admin); a hand edit; rules_info with the read-only credentials shows the edit as a diff.
    assert not run_module("rules", args(local_clusters, namespace, [MYSQL], context=ctx))[0]["failed"]
    patch = json.dumps({"spec": {"addresses": ["192.0.2.10/32", "10.6.6.6/32"]}})
    local_clusters.kubectl(ctx, "-n", namespace, "patch", "serviceentry", "shop--mysql", "--type=merge", "-p", patch)
    info = run_module("rules_info", args(local_clusters, namespace, [MYSQL], context="local-1-readonly"))[0]
    assert info["plan"]["update"] == [f"ServiceEntry/{namespace}/shop--mysql"], info["plan"]
    (entry,) = [d for d in info["diff"] if f"ServiceEntry/{namespace}/shop--mysql" in d["before_header"]]
    assert "10.6.6.6/32" in entry["before"] and "10.6.6.6/32" not in entry["after"]
    assert [(g["destination"], g["port"]) for g in info["reachability"]["removed"]] == [("10.6.6.6", 3306)]
    run_module("rules", {**args(local_clusters, namespace, [], context=ctx), "state": "absent"})


def test_wrong_token_gets_401_and_the_token_never_shows(local_clusters, namespace):
    token = "mg-" + secrets.token_urlsafe(24)
    cluster = local_clusters.by_context(CTX)
    a = {
        "host": cluster.server,
        "api_key": token,
        "ca_cert": str(cluster.dir / "pki" / "ca.crt"),
        "set": "shop",
        "namespace": namespace,
        "services": [MYSQL],
    }
    result, shown = run_module("rules", a, verbosity=3)
    assert result.get("failed") is True
    assert "401 Unauthorized" in result["msg"]
    assert token not in shown
    assert token not in json.dumps(result)


def test_legacy_egressrule_api_one_rule_per_block(local_clusters, namespace):
    svc = dict(MYSQL, hosts=["192.0.2.10", "198.51.100.0/30"], ports=[{"number": 3306, "protocol": "TCP"}])
    result = run_module("rules", args(local_clusters, namespace, [svc], api="config.istio.io/v1alpha2"))[0]
    assert not result.get("failed"), result.get("msg")
    rules = local_clusters.get(CTX, "egressrules.config.istio.io", namespace)
    assert sorted(r["spec"]["destination"]["service"] for r in rules) == ["192.0.2.10", "198.51.100.0/30"]
    assert all(r["spec"]["ports"] == [{"port": 3306, "protocol": "tcp"}] for r in rules)
    again = run_module("rules", args(local_clusters, namespace, [svc], api="config.istio.io/v1alpha2"))[0]
    assert again["changed"] is False


def test_rendered_with_dest_writes_files_and_opens_no_connection(local_clusters, namespace, tmp_path):
    dest = tmp_path / "manifests"
    a = {
        # An address where nothing listens: any connection attempt would fail the task.
        "host": "https://127.0.0.1:9",
        "set": "shop",
        "namespace": namespace,
        "state": "rendered",
        "dest": str(dest),
        "network_policy": True,
        "services": [MYSQL, PARTNER],
    }
    result = run_module("rules", a)[0]
    assert not result.get("failed"), result.get("msg")
    files = sorted(p.name for p in dest.iterdir())
    assert files == [
        f"networkpolicy.networking.k8s.io_{namespace}_shop--mysql.yaml",
        f"networkpolicy.networking.k8s.io_{namespace}_shop--partner.yaml",
        f"serviceentry.networking.istio.io_{namespace}_shop--mysql.yaml",
        f"serviceentry.networking.istio.io_{namespace}_shop--partner.yaml",
    ]
    again = run_module("rules", a)[0]
    assert again["changed"] is False
    # The files are what the cluster accepts: apply one with kubectl's server-side dry run.
    res = local_clusters.kubectl(CTX, "apply", "--server-side", "--dry-run=server", "-f", str(dest / files[2]))
    assert "serverside-applied (server dry run)" in res.stdout


def test_rules_info_lists_what_sets_own_and_reports_drift_without_writing(local_clusters, namespace):
    run_module("rules", args(local_clusters, namespace, [MYSQL, PARTNER]))
    run_module("rules", args(local_clusters, namespace, [dict(MYSQL, name="cache")], set="billing"))
    connection = {"kubeconfig": str(local_clusters.kubeconfig), "context": CTX}
    before = local_clusters.requests(CTX)

    shop = run_module("rules_info", {**connection, "set": "shop"})[0]
    assert not shop.get("failed"), shop.get("msg")
    assert [(o["kind"], o["metadata"]["name"]) for o in shop["objects"] if o["metadata"]["namespace"] == namespace] == [
        ("ServiceEntry", "shop--mysql"),
        ("ServiceEntry", "shop--partner"),
    ]
    assert "billing" not in shop["sets"] and "plan" not in shop

    every = run_module("rules_info", connection)[0]
    ours = sorted(o["metadata"]["name"] for o in every["objects"] if o["metadata"]["namespace"] == namespace)
    assert ours == ["billing--cache", "shop--mysql", "shop--partner"]
    assert every["sets"]["billing"] >= 1 and every["sets"]["shop"] >= 2

    in_sync = run_module("rules_info", args(local_clusters, namespace, [MYSQL, PARTNER]))[0]
    assert in_sync["in_sync"] is True
    assert in_sync["plan"]["unchanged"] == [
        f"ServiceEntry/{namespace}/shop--mysql",
        f"ServiceEntry/{namespace}/shop--partner",
    ]

    assert our_writes(local_clusters, before) == {}
    assert our_writes(local_clusters, before, dry_run=True) == {}

    # Someone edits a rule by hand, and the spec drops a service: both are drift.
    local_clusters.kubectl(
        CTX,
        "-n",
        namespace,
        "patch",
        "serviceentry",
        "shop--mysql",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"addresses": ["192.0.2.10/32", "10.6.6.6/32"]}}),
    )
    before = local_clusters.requests(CTX)
    drift = run_module("rules_info", args(local_clusters, namespace, [MYSQL]))[0]
    assert drift["in_sync"] is False
    assert drift["plan"]["update"] == [f"ServiceEntry/{namespace}/shop--mysql"]
    assert drift["plan"]["delete"] == [f"ServiceEntry/{namespace}/shop--partner"]
    assert our_writes(local_clusters, before) == {}
    assert our_writes(local_clusters, before, dry_run=True) == {}
    assert addresses(local_clusters, namespace, "shop--mysql") == ["192.0.2.10/32", "10.6.6.6/32"]

    # The hand edit made kubectl-patch the manager of the addresses: rules
    # reports the conflict, overwrites nothing and, as a write failed, prunes nothing.
    refused = run_module("rules", args(local_clusters, namespace, [MYSQL]))[0]
    assert refused.get("failed") is True
    assert f"ServiceEntry/{namespace}/shop--mysql" in refused["msg"]
    assert 'conflict with "kubectl-patch"' in refused["msg"] and "force: true" in refused["msg"]
    assert addresses(local_clusters, namespace, "shop--mysql") == ["192.0.2.10/32", "10.6.6.6/32"]
    assert local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, "shop--partner")

    # --check --diff shows the hand edit the set would undo (what force would write, a dry run), not
    # only the conflict; nothing is written.
    before = local_clusters.requests(CTX)
    previewed = run_module("rules", args(local_clusters, namespace, [MYSQL]), check=True, diff=True)[0]
    assert previewed.get("failed") is True and 'conflict with "kubectl-patch"' in previewed["msg"]
    (entry,) = [d for d in previewed["diff"] if f"ServiceEntry/{namespace}/shop--mysql" in d["before_header"]]
    assert "conflict, not written: what force: true would write" in entry["after_header"]
    assert "10.6.6.6/32" in entry["before"] and "10.6.6.6/32" not in entry["after"]
    assert "192.0.2.10/32" in entry["after"]
    assert our_writes(local_clusters, before) == {}
    assert addresses(local_clusters, namespace, "shop--mysql") == ["192.0.2.10/32", "10.6.6.6/32"]

    # Taken back with force: the drift is exactly what rules then does.
    applied = run_module("rules", args(local_clusters, namespace, [MYSQL], force=True))[0]
    assert not applied.get("failed"), applied.get("msg")
    assert applied["plan"] == drift["plan"]
    assert addresses(local_clusters, namespace, "shop--mysql") == ["192.0.2.10/32"]
    names = {o["metadata"]["name"] for o in local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace)}
    assert names == {"shop--mysql", "billing--cache"}
