# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one cluster holds for a rule set: discovery, the set's objects, same-named ones, and the namespaces
the set writes to.

The client here serves fixed objects the way KubeClient returns them (no network): these are the decisions
made on what was read. The same reads against a real kube-apiserver run in tests/integration
(test_rules_module.py, test_rollout.py).
"""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._cluster.client import KubeError, Resource
from ansible_collections.meshguard.egress.plugins.module_utils._cluster.live import (
    Live,
    MissingNamespaceError,
    NotServedError,
    check_namespaces,
    discover,
    list_owned,
    resource_of,
    with_same_named,
)
from ansible_collections.meshguard.egress.plugins.module_utils._kinds import (
    NETWORK_POLICY,
    OWNER_LABEL,
    OWNER_VALUE,
    SERVICE_ENTRY,
    SET_LABEL,
    SIDECAR,
)

ENTRIES = Resource("networking.istio.io/v1", "ServiceEntry", "serviceentries", True)
SIDECARS = Resource("networking.istio.io/v1", "Sidecar", "sidecars", True)
POLICIES = Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True)
NAMESPACES = Resource("v1", "Namespace", "namespaces", False)


def entry(name, namespace="shop", set_name=None):
    labels = {OWNER_LABEL: OWNER_VALUE, SET_LABEL: set_name} if set_name else {}
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
    }


class Cluster:
    """Serves the resources and objects given; ``forbidden_across`` kinds answer 403 to a LIST across
    namespaces (a user with a namespaced Role), ``unreadable`` namespaces 403 to a GET."""

    where = "context prod"

    def __init__(self, served=(ENTRIES, SIDECARS, POLICIES, NAMESPACES), objects=(), namespaces=(), **denied):
        self.served = {(r.api_version, r.kind): r for r in served}
        self.objects = list(objects)
        self.namespaces = set(namespaces)
        self.forbidden_across = set(denied.get("forbidden_across", ()))
        self.unreadable = set(denied.get("unreadable", ()))
        self.lists = []

    def resource(self, api_version, kind):
        return self.served.get((api_version, kind))

    def list(self, res, namespace=None, label_selector=""):
        self.lists.append((res.kind, namespace, label_selector))
        if namespace is None and res.kind in self.forbidden_across:
            raise KubeError(f"{self.where}: 403 Forbidden", status=403)
        wanted = dict(pair.split("=") for pair in label_selector.split(",")) if label_selector else {}
        return [
            o
            for o in self.objects
            if o["kind"] == res.kind
            and namespace in (None, o["metadata"]["namespace"])
            and all(o["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]

    def get(self, res, namespace, name):
        if name in self.unreadable:
            raise KubeError(f"{self.where}: 403 Forbidden", status=403)
        return {"metadata": {"name": name}} if name in self.namespaces else None


def test_discovery_finds_the_served_kinds_in_the_rule_sets_api():
    found = discover(Cluster(), "networking.istio.io/v1")
    assert found[SERVICE_ENTRY.key] is ENTRIES
    assert found[SIDECAR.key] is SIDECARS
    assert found[NETWORK_POLICY.key] is POLICIES


def test_a_needed_kind_that_is_not_served_stops_the_run_with_its_hint():
    with pytest.raises(NotServedError) as caught:
        discover(Cluster(served=(POLICIES,)), "networking.istio.io/v1", needed=[SERVICE_ENTRY])
    assert str(caught.value) == (
        f"ServiceEntry networking.istio.io/v1 is not served by context prod: {SERVICE_ENTRY.missing_hint}"
    )
    # Not needed: simply left out.
    assert SERVICE_ENTRY.key not in discover(Cluster(served=(POLICIES,)), "networking.istio.io/v1")


def test_the_sets_objects_are_listed_by_its_labels_across_namespaces():
    mine, other, unowned = entry("shop--pg", set_name="shop"), entry("billing--pg", set_name="billing"), entry("pg")
    cluster = Cluster(objects=[mine, other, unowned])
    live = list_owned(cluster, {SERVICE_ENTRY.key: ENTRIES}, set_name="shop", namespaces=["shop"])
    assert live.owned == (mine,)
    assert live.warnings == ()
    assert cluster.lists == [("ServiceEntry", None, f"{OWNER_LABEL}={OWNER_VALUE},{SET_LABEL}=shop")]


def test_without_list_across_namespaces_each_of_the_sets_namespaces_is_listed_and_said():
    mine = entry("shop--pg", set_name="shop")
    cluster = Cluster(objects=[mine], forbidden_across={"ServiceEntry", "Sidecar"})
    live = list_owned(
        cluster,
        {SERVICE_ENTRY.key: ENTRIES, SIDECAR.key: SIDECARS},
        set_name="shop",
        namespaces=["shop", "billing", "shop"],
        needed=[SERVICE_ENTRY],
    )
    assert live.owned == (mine,)
    assert live.warnings == (
        "context prod: may not list serviceentries.networking.istio.io across namespaces; only billing, shop "
        "checked, so objects of this set elsewhere are kept",
        "context prod: may not list sidecars.networking.istio.io; objects of this set of that kind are kept",
    )


def test_same_named_objects_are_found_only_where_something_is_to_be_created():
    ours, theirs = entry("shop--pg", set_name="shop"), entry("shop--mongo")
    cluster = Cluster(objects=[ours, theirs])
    live = Live({SERVICE_ENTRY.key: ENTRIES}, (ours,))
    found = with_same_named(cluster, live, [ours, entry("shop--mongo"), entry("shop--new")], "shop")
    assert found.owned == (ours,)
    assert found.same_name == (theirs,)
    assert cluster.lists == [("ServiceEntry", "shop", "")]
    # Nothing to create: no request, the same Live back.
    assert with_same_named(Cluster(), live, [ours], "shop") is live


def test_an_object_of_this_set_created_meanwhile_counts_as_its_own():
    late = entry("shop--pg", set_name="shop")
    live = Live({SERVICE_ENTRY.key: ENTRIES}, ())
    found = with_same_named(Cluster(objects=[late]), live, [entry("shop--pg")], "shop")
    assert (found.owned, found.same_name) == ((late,), ())


def test_missing_namespaces_are_named_each_with_its_option_before_anything_is_written():
    cluster = Cluster(namespaces=["shop"])
    names = {"shop": "namespace", "billing": "services[1].namespace", "istio-egress": "waypoint.namespace"}
    with pytest.raises(MissingNamespaceError) as caught:
        check_namespaces(cluster, names)
    assert caught.value.missing == {"billing": "services[1].namespace", "istio-egress": "waypoint.namespace"}
    assert str(caught.value) == (
        "context prod: the waypoint's namespace 'istio-egress' (waypoint.namespace) does not exist; namespace "
        "'billing' of the rule set does not exist; the set writes objects there: create them first (or correct "
        "the namespace). Nothing was changed"
    )


def test_namespaces_already_read_are_not_asked_again_and_unreadable_ones_are_a_warning():
    cluster = Cluster(namespaces=[], unreadable={"shop"})
    warnings = check_namespaces(cluster, {"shop": "namespace", "billing": "namespace"}, known={"billing": {}})
    assert warnings == [
        "context prod: cannot read namespace 'shop' (context prod: 403 Forbidden); whether it exists was not checked"
    ]
    with pytest.raises(MissingNamespaceError, match=r"namespace 'billing' of the rule set does not exist"):
        check_namespaces(cluster, {"billing": "namespace"}, known={"billing": None})


def test_an_object_is_written_through_the_resource_of_its_group_and_kind():
    assert resource_of({SERVICE_ENTRY.key: ENTRIES}, entry("shop--pg")) is ENTRIES
