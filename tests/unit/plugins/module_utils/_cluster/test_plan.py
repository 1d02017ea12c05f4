# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning: desired objects against live ones, without a cluster."""

from __future__ import annotations

import copy
from typing import Optional

from ansible_collections.meshguard.egress.plugins.module_utils._cluster.plan import (
    HASH_ANNOTATION,
    clean,
    contains,
    make_plan,
    up_to_date,
    with_hash,
)

OWNED = {"app.kubernetes.io/managed-by": "meshguard.egress", "meshguard.egress/set": "shop"}


def entry(name: str, addresses: list[str], labels: Optional[dict] = None, namespace: str = "db") -> dict:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(OWNED if labels is None else labels)},
        "spec": {"hosts": [f"{name}.example.com"], "addresses": addresses, "location": "MESH_EXTERNAL"},
    }


def stored(desired: dict) -> dict:
    """What an API server returns for an object: our fields plus its own."""
    live = copy.deepcopy(with_hash(desired))
    live["metadata"].update(uid="u-1", resourceVersion="7", creationTimestamp="2026-01-01T00:00:00Z", generation=1)
    live["metadata"]["managedFields"] = [{"manager": "meshguard.egress", "operation": "Apply"}]
    live["metadata"]["labels"]["team"] = "added-by-someone-else"
    live["spec"]["resolution"] = "NONE"  # a server-side default
    live["status"] = {"addresses": []}
    return live


def test_object_as_stored_by_the_server_is_up_to_date():
    desired = with_hash(entry("mongo", ["192.0.2.1/32"]))
    assert up_to_date(desired, stored(entry("mongo", ["192.0.2.1/32"])))


def test_hand_edit_of_a_managed_field_is_noticed():
    live = stored(entry("mongo", ["192.0.2.1/32"]))
    live["spec"]["addresses"] = ["192.0.2.1/32", "10.0.0.0/8"]
    assert not up_to_date(with_hash(entry("mongo", ["192.0.2.1/32"])), live)


def test_field_removed_from_the_spec_is_noticed_through_the_hash():
    with_export = entry("mongo", ["192.0.2.1/32"])
    with_export["spec"]["exportTo"] = ["."]
    live = stored(with_export)
    without = with_hash(entry("mongo", ["192.0.2.1/32"]))
    # Every field "without" sets is live with the same value, yet it differs.
    assert contains(live["spec"], without["spec"])
    assert not up_to_date(without, live)


def test_hash_is_stable_and_ignores_a_previous_hash():
    once = with_hash(entry("mongo", ["192.0.2.1/32"]))
    assert with_hash(once) == once
    assert (
        with_hash(entry("mongo", ["192.0.2.2/32"]))["metadata"]["annotations"][HASH_ANNOTATION]
        != (once["metadata"]["annotations"][HASH_ANNOTATION])
    )


def test_contains_compares_lists_element_by_element():
    assert contains([{"a": 1, "b": 2}], [{"a": 1}])
    assert not contains([{"a": 1}], [{"a": 1}, {"a": 1}])
    assert not contains([{"a": 2}], [{"a": 1}])
    assert not contains("1", 1)


def test_plan_sorts_objects_into_actions():
    keep, change, new = (
        entry("keep", ["192.0.2.1/32"]),
        entry("change", ["192.0.2.2/32"]),
        entry("new", ["192.0.2.3/32"]),
    )
    gone = stored(entry("gone", ["192.0.2.4/32"]))
    live = [stored(keep), stored(entry("change", ["192.0.2.9/32"])), gone]
    plan = make_plan([with_hash(o) for o in (keep, change, new)], live, [])
    assert plan.summary() == {
        "create": ["ServiceEntry/db/new"],
        "update": ["ServiceEntry/db/change"],
        "delete": ["ServiceEntry/db/gone"],
        "unchanged": ["ServiceEntry/db/keep"],
        "conflicts": [],
    }
    assert plan.writes == 3


def test_without_prune_unwanted_objects_stay():
    plan = make_plan([], [stored(entry("gone", ["192.0.2.4/32"]))], [], prune=False)
    assert plan.summary()["delete"] == []
    assert plan.summary()["unchanged"] == ["ServiceEntry/db/gone"]


def test_same_named_object_of_nobody_is_a_conflict_unless_forced():
    foreign = stored(entry("mongo", ["10.0.0.1/32"], labels={}))
    desired = [with_hash(entry("mongo", ["192.0.2.1/32"]))]
    plan = make_plan(desired, [], [foreign])
    assert plan.summary()["conflicts"] == ["ServiceEntry/db/mongo"]
    assert plan.of("conflict")[0].reason == "not managed by meshguard.egress"
    forced = make_plan(desired, [], [foreign], force=True)
    assert forced.summary()["update"] == ["ServiceEntry/db/mongo"]


def test_same_named_object_of_another_set_names_that_set():
    other = stored(entry("mongo", ["10.0.0.1/32"], labels={**OWNED, "meshguard.egress/set": "billing"}))
    plan = make_plan([with_hash(entry("mongo", ["192.0.2.1/32"]))], [], [other])
    assert plan.of("conflict")[0].reason == "owned by rule set 'billing'"


def test_kept_objects_are_neither_updated_nor_pruned():
    live = stored(entry("mongo", ["192.0.2.1/32"]))
    ident = ("networking.istio.io", "ServiceEntry", "db", "mongo")
    plan = make_plan([], [live], [], keep=frozenset([ident]))
    assert plan.summary()["unchanged"] == ["ServiceEntry/db/mongo"]
    assert plan.writes == 0


def test_same_object_under_another_istio_version_is_the_same_object():
    v1beta1 = entry("mongo", ["192.0.2.1/32"])
    v1beta1["apiVersion"] = "networking.istio.io/v1beta1"
    plan = make_plan([with_hash(v1beta1)], [stored(entry("mongo", ["192.0.2.1/32"]))], [])
    assert plan.summary()["unchanged"] == ["ServiceEntry/db/mongo"]


def test_clean_drops_server_bookkeeping_only():
    out = clean(stored(entry("mongo", ["192.0.2.1/32"])))
    assert set(out["metadata"]) == {"name", "namespace", "labels", "annotations"}
    assert "status" not in out
    assert out["spec"]["resolution"] == "NONE"


def _managed(manager, operation, spec_tree):
    return {"manager": manager, "operation": operation, "fieldsV1": {"f:spec": spec_tree}}


def test_a_field_another_writer_added_beside_the_sets_is_drift_and_replaced():
    desired = with_hash(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "Sidecar",
            "metadata": {
                "name": "default",
                "namespace": "shop",
                "labels": {"app.kubernetes.io/managed-by": "meshguard.egress", "meshguard.egress/set": "s"},
            },
            "spec": {"egress": [{"hosts": ["*/*"]}], "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}},
        }
    )
    live = copy.deepcopy(desired)
    live["spec"]["workloadSelector"] = {"labels": {"app": "nothing"}}
    live["metadata"]["managedFields"] = [
        _managed("meshguard.egress", "Apply", {"f:egress": {}, "f:outboundTrafficPolicy": {"f:mode": {}}}),
        _managed("kubectl-edit", "Update", {"f:workloadSelector": {".": {}, "f:labels": {".": {}, "f:app": {}}}}),
    ]
    (change,) = make_plan([desired], [live], [], manager="meshguard.egress").changes
    assert (change.action, change.replace) == ("update", True)
    assert change.reason == "fields the set does not write: spec.workloadSelector (by kubectl-edit)"
    # A key added inside a field the set writes counts too; one the set's own applies hold does not.
    live["spec"].pop("workloadSelector")
    live["spec"]["outboundTrafficPolicy"]["egressProxy"] = {"host": "x"}
    live["metadata"]["managedFields"][1] = _managed(
        "kubectl-patch", "Update", {"f:outboundTrafficPolicy": {"f:egressProxy": {}}}
    )
    (change,) = make_plan([desired], [live], [], manager="meshguard.egress").changes
    assert change.reason == "fields the set does not write: spec.outboundTrafficPolicy.egressProxy (by kubectl-patch)"
    del live["spec"]["outboundTrafficPolicy"]["egressProxy"]
    live["metadata"]["managedFields"].pop()
    assert make_plan([desired], [live], [], manager="meshguard.egress").changes[0].action == "unchanged"
    # Written with the set's own field manager name (server-side apply): drift, which a plain apply removes.
    live["spec"]["workloadSelector"] = {"labels": {"app": "nothing"}}
    live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:workloadSelector"] = {}
    (change,) = make_plan([desired], [live], [], manager="meshguard.egress").changes
    assert (change.action, change.replace) == ("update", False)
