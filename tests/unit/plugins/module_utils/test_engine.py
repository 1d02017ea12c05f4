# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run of the engine without a cluster (state=rendered): what it says was not checked, for each way out
and for the cluster's own ranges."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._engine import (
    NO_CLUSTER_GATEWAY,
    NO_CLUSTER_RANGES,
    run,
)
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import AMBIENT_WAYPOINT as WAYPOINT
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import GATEWAY_PG as PG
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import policy_svc as svc


def test_rendered_without_a_cluster_says_what_was_not_checked():
    spec = {
        "set": "egress",
        "namespace": "shop",
        "egress_gateway": {"mode": "plain"},
        "services": [dict(PG, hosts=["198.51.100.7"])],
    }
    result = run(Settings(spec=spec, state="rendered"), None)
    assert result["egress_gateway"] == {
        "service": "istio-system/istio-egressgateway",
        "mode": "plain",
        "checked": False,
        "ports": {"payments-db": {"5432": 40000}},
    }
    assert NO_CLUSTER_GATEWAY in result["warnings"]
    assert "not checked against other Gateways and the Service's ports" in NO_CLUSTER_GATEWAY
    direct = run(Settings(spec={**spec, "egress_gateway": None}, state="rendered"), None)
    assert "egress_gateway" not in direct and NO_CLUSTER_GATEWAY not in direct["warnings"]


def test_auto_cannot_be_rendered_without_a_cluster():
    spec = {"set": "egress", "dataplane": "auto", "waypoint": WAYPOINT, "services": [PG]}
    with pytest.raises(SpecError, match=r"dataplane auto reads each namespace's istio\.io/dataplane-mode label"):
        run(Settings(spec=spec, state="rendered"), None)


def test_rendered_state_says_the_cluster_ranges_were_not_checked():
    spec = {"set": "shop", "services": [svc("db", "192.0.2.1")]}
    result = run(Settings(spec=spec, state="rendered"), None)
    assert result["warnings"][0] == NO_CLUSTER_RANGES
    assert result["refused"] == []
