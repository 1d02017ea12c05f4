# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ambient against a cluster's objects: whether an existing waypoint can carry the set, and label
selectors evaluated as Kubernetes does."""

from __future__ import annotations

import copy

from ansible_collections.meshguard.egress.plugins.module_utils._ambient.cluster import (
    selects,
    waypoint_problems,
)
from ansible_collections.meshguard.egress.plugins.module_utils._ambient.spec import Waypoint

# --- the unmanaged waypoint's check ----------------------------------------------------------------------------

READY = {
    "metadata": {
        "name": "egress-waypoint",
        "namespace": "istio-egress",
        "labels": {"istio.io/waypoint-for": "service"},
    },
    "spec": {"gatewayClassName": "istio-waypoint", "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]},
}
MINE = Waypoint("egress-waypoint", "istio-egress")


def test_an_existing_waypoint_that_fits_has_no_problem():
    assert waypoint_problems(MINE, READY, {"istio-egress": {}}) == []
    everyone = copy.deepcopy(READY)
    everyone["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    assert waypoint_problems(MINE, everyone, {"shop": {}, "orders": {}}) == []


def test_a_waypoint_that_cannot_carry_the_set_lists_every_problem():
    assert waypoint_problems(MINE, None, {})[0].startswith(
        "the waypoint istio-egress/egress-waypoint (waypoint.name, waypoint.namespace) does not exist"
    )
    wrong = copy.deepcopy(READY)
    wrong["spec"]["gatewayClassName"] = "istio"
    wrong["metadata"]["labels"]["istio.io/waypoint-for"] = "workload"
    assert waypoint_problems(MINE, wrong, {"shop": {}}) == [
        "the waypoint istio-egress/egress-waypoint has gatewayClassName 'istio', not 'istio-waypoint'",
        "the waypoint istio-egress/egress-waypoint is labelled istio.io/waypoint-for=workload: it takes no service "
        "traffic (istiod wants service or all)",
        "the waypoint istio-egress/egress-waypoint does not admit ServiceEntries from namespace 'shop' (its HBONE "
        "listener's allowedRoutes): add the namespace to waypoint.allowed_namespaces of the set that manages it",
    ]
    no_hbone = copy.deepcopy(READY)
    no_hbone["spec"]["listeners"] = [{"name": "http", "port": 80, "protocol": "HTTP"}]
    assert waypoint_problems(MINE, no_hbone, {}) == [
        "the waypoint istio-egress/egress-waypoint has no HBONE listener on port 15008"
    ]


def test_label_selectors_are_evaluated_as_kubernetes_does():
    team = {"team": "db", "kubernetes.io/metadata.name": "shop"}
    assert selects({}, team)
    assert selects({"matchLabels": {"team": "db"}}, team)
    assert not selects({"matchLabels": {"team": "web"}}, team)
    assert selects({"matchExpressions": [{"key": "team", "operator": "In", "values": ["db", "x"]}]}, team)
    assert not selects({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["db"]}]}, team)
    assert selects({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, team)
    assert not selects({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, team)
    assert not selects({"matchExpressions": [{"key": "team", "operator": "Gt", "values": ["1"]}]}, team)
