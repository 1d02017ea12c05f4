# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meshguard.egress.rules with dataplane ambient/auto against a real kube-apiserver with Istio's CRDs.

What works on a cluster without the Gateway API CRDs (issue 14, part A; an
API server of its own, the suite's clusters all serve the Gateway API): the
namespaces' istio.io/dataplane-mode labels read by dataplane auto before any
write, the input errors that depend on them, and a clear failure, with nothing
written, when the waypoint's Gateway kind is not served. What istiod makes of
an ambient set (the waypoint bound, the policies at the waypoint) needs the
local platform of part B (the Gateway API CRDs, istiod with ambient on, a
ready waypoint) and the probe's ambient cases.
"""

from __future__ import annotations

import os
import uuid

import pytest
from clusterlib import GATEWAY_KINDS, ROOT, WORKER, LocalClusters, owned, run_module, writes
from localclusters.clusterset import ClusterSet

pytestmark = pytest.mark.integration

GATEWAY_API = "gateway.networking.k8s.io"
OUR_RESOURCES = {kind.split(".", maxsplit=1)[0] for kind in GATEWAY_KINDS} | {"gateways"}
PG = {"name": "payments-db", "hosts": ["198.51.100.40/31"], "ports": [{"number": 5432, "protocol": "TCP"}]}


def serves_gateway_api(local_clusters, context: str) -> bool:
    out = local_clusters.kubectl(context, "api-resources", f"--api-group={GATEWAY_API}", "-o", "name").stdout
    return bool(out.strip())


@pytest.fixture(scope="module")
def bare_clusters():
    """An API server of its own with Istio's CRDs and no Gateway API CRDs
    (every cluster of the suite serves the Gateway API): the missing-CRD case."""
    state = ROOT / ".cache" / ("test-nogwapi-" + WORKER if WORKER else "test-nogwapi")
    cs = ClusterSet(state, state / "kubeconfig", prefix="nogwapi")
    already = {c.name for c in cs.known() if c.pid()}
    members = cs.up(1, gateway_api=False)
    view = LocalClusters(cs, members, cs.kubeconfig)
    (context,) = view.contexts
    assert not serves_gateway_api(view, context), f"{context} serves {GATEWAY_API}"
    yield view
    if os.environ.get("MESHGUARD_KEEP_CLUSTERS") != "1":
        for c in members:
            if c.name not in already:
                c.shutdown()


@pytest.fixture
def bare_context(bare_clusters):
    return bare_clusters.contexts[0]


@pytest.fixture
def namespace(bare_clusters):
    """A fresh namespace on the bare cluster (the suite's fixture makes them on its clusters)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    (context,) = bare_clusters.contexts
    bare_clusters.kubectl(context, "create", "namespace", name)
    yield name
    bare_clusters.kubectl(context, "delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def local_clusters(bare_clusters):
    """Every test here talks to the bare cluster only."""
    return bare_clusters


@pytest.fixture
def set_name(local_clusters, bare_context):
    name = f"amb{uuid.uuid4().hex[:8]}"
    yield name
    # Every test here writes to bare_context only.
    run_module(
        "rules",
        {"kubeconfig": str(local_clusters.kubeconfig), "context": bare_context, "set": name, "state": "absent"},
    )


def args(local_clusters, context, namespace, set_name, **extra) -> dict:
    return {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": context,
        "set": set_name,
        "namespace": namespace,
        "services": [PG],
        "waypoint": {"name": "egress-waypoint", "namespace": namespace},
        **extra,
    }


def our_writes(local_clusters, context, before):
    after = local_clusters.requests(context)
    found = {**writes(before, after), **writes(before, after, dry_run=True)}
    return {k: n for k, n in found.items() if k[1] in OUR_RESOURCES}


def label(local_clusters, context, namespace, value):
    local_clusters.kubectl(context, "label", "namespace", namespace, f"istio.io/dataplane-mode={value}", "--overwrite")


@pytest.mark.parametrize("manage", [True, False])
def test_a_missing_gateway_api_fails_clearly_before_any_write(
    local_clusters, bare_context, namespace, set_name, manage
):
    a = args(local_clusters, bare_context, namespace, set_name, dataplane="ambient")
    a["waypoint"]["manage"] = manage
    before = local_clusters.requests(bare_context)
    result = run_module("rules", a)[0]
    assert result.get("failed"), result
    assert f"Gateway {GATEWAY_API}/v1 is not served by" in result["msg"]
    assert "the Gateway API CRDs are not installed" in result["msg"]
    assert our_writes(local_clusters, bare_context, before) == {}
    assert owned(local_clusters, bare_context, set_name) == {}


def test_auto_follows_the_namespace_label_and_checks_it_before_any_write(
    local_clusters, bare_context, namespace, set_name
):
    a = args(local_clusters, bare_context, namespace, set_name, dataplane="auto", registry_only=[namespace])
    # Not labelled: sidecar mode, the Sidecar and the ServiceEntry without a waypoint label.
    first = run_module("rules", a)[0]
    assert not first.get("failed"), first.get("msg")
    (entry,) = local_clusters.get(bare_context, "serviceentries.networking.istio.io", namespace)
    assert "istio.io/use-waypoint" not in entry["metadata"]["labels"]
    assert owned(local_clusters, bare_context, set_name)["Sidecar"] == [f"{namespace}/default"]

    # Labelled ambient: registry_only is now an input error, found before any write.
    label(local_clusters, bare_context, namespace, "ambient")
    before = local_clusters.requests(bare_context)
    refused = run_module("rules", a)[0]
    assert refused.get("failed")
    assert (
        f"registry_only[0] '{namespace}': the namespace is in ambient mode; ztunnel ignores Sidecar and "
        "REGISTRY_ONLY (istio/istio#54281)"
    ) in refused["msg"]
    assert our_writes(local_clusters, bare_context, before) == {}

    # Without registry_only the set needs the waypoint's kind, which this cluster does not serve.
    before = local_clusters.requests(bare_context)
    missing = run_module("rules", {**a, "registry_only": []})[0]
    assert missing.get("failed") and "the Gateway API CRDs are not installed" in missing["msg"]
    assert our_writes(local_clusters, bare_context, before) == {}
    (kept,) = local_clusters.get(bare_context, "serviceentries.networking.istio.io", namespace)
    assert kept["metadata"]["resourceVersion"] == entry["metadata"]["resourceVersion"]

    # Back to sidecar: the set converges as before, in one run.
    label(local_clusters, bare_context, namespace, "none")
    again = run_module("rules", a)[0]
    assert not again.get("failed") and again["changed"] is False, again.get("plan")


def test_auto_refuses_a_namespace_that_does_not_exist(local_clusters, bare_context, set_name):
    missing = f"t-{uuid.uuid4().hex[:10]}"
    before = local_clusters.requests(bare_context)
    result = run_module("rules", args(local_clusters, bare_context, missing, set_name, dataplane="auto"))[0]
    assert result.get("failed")
    assert (
        f"namespace {missing!r} does not exist: dataplane auto reads its label istio.io/dataplane-mode" in result["msg"]
    )
    assert our_writes(local_clusters, bare_context, before) == {}
