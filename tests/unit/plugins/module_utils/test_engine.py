# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run of the engine without a cluster (state=rendered): what it says was not checked, for each way out
and for the cluster's own ranges; which clusters of a run share one rendering (no network)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils import _engine
from ansible_collections.meshguard.egress.plugins.module_utils._desired import Desired
from ansible_collections.meshguard.egress.plugins.module_utils._engine import (
    NO_CLUSTER_GATEWAY,
    NO_CLUSTER_RANGES,
    run,
)
from ansible_collections.meshguard.egress.plugins.module_utils._policy.judge import CLUSTER, Range
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings, prepare
from ansible_collections.meshguard.egress.plugins.module_utils._runcache import RunCache
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


CLUSTER_A = (Range("10.96.0.0/12", "the cluster's Service range", "ServiceCIDR kubernetes on context a", CLUSTER),)
CLUSTER_B = (Range("10.0.0.0/24", "the cluster's Service range", "ServiceCIDR kubernetes on context b", CLUSTER),)


def _shared_run(tmp_path, monkeypatch, answers, spec_extra=None, service_extra=None, **settings_extra):
    """Render for clusters A then B through one run cache; how many times the rendering was computed."""
    calls = []
    real = _engine.desired_objects

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_engine, "desired_objects", counting)
    service = svc("pg", "pg.example.com", **(service_extra or {}))
    settings = Settings(
        spec={"set": "shop", "namespace": "db", "services": [service], **(spec_extra or {})},
        resolved=[{"host": "pg.example.com", "addresses": answers, "cidrs": [], "cname_chain": [], "ttl": 30}],
        resolved_at="2026-12-07T06:00:00Z",
        **settings_extra,
    )
    prepared = prepare(settings)
    cache = RunCache(str(tmp_path), "run")
    out = [
        _engine._rendered(prepared, prepared.resolved, [], ranges, None, cache=cache)
        for ranges in (CLUSTER_A, CLUSTER_B)
    ]
    return out, len(calls)


def test_clusters_whose_own_ranges_are_elsewhere_share_one_rendering(tmp_path, monkeypatch):
    (a, b), computed = _shared_run(tmp_path, monkeypatch, ["192.0.2.1"])
    assert computed == 1
    assert a[0].objects == b[0].objects and a[1] == b[1]
    assert a[0].objects[0]["spec"]["addresses"] == ["192.0.2.1/32"]


def test_a_cluster_whose_range_holds_an_answer_is_judged_on_its_own(tmp_path, monkeypatch):
    # A private address the service accepts knowingly (allow_ranges), which only cluster B's range holds.
    opened = {"allow_ranges": ["10.0.0.0/16"]}
    (a, b), computed = _shared_run(tmp_path, monkeypatch, ["10.0.0.5"], service_extra=opened, on_error="keep")
    assert computed == 2
    # Only cluster B's Service range holds the answer: B refuses it, naming its own ServiceCIDR; A renders it.
    assert a[0].objects and a[0].refused == []
    assert b[0].objects == [] and "on context b" in b[0].refused[0]["message"]


def test_with_the_guardrail_every_range_counts(tmp_path, monkeypatch):
    guardrail = {"writers": ["system:admin"]}
    _outs, computed = _shared_run(tmp_path, monkeypatch, ["192.0.2.1"], {"guardrail": guardrail})
    assert computed == 2


def test_a_shared_rendering_reads_back_every_field_it_was_computed_with():
    desired = Desired(
        objects=[{"kind": "ServiceEntry", "metadata": {"name": "a"}, "spec": {"addresses": ["192.0.2.1/32"]}}],
        unresolved={"b": ["why"]},
        warnings=["w"],
        refused=[{"service": "b", "message": "m"}],
        tampered=("t",),
        dnssec=[{"host": "h", "status": "secure"}],
    )
    stored = json.loads(json.dumps(_engine._desired_dict(desired)))
    assert set(stored) == {f.name for f in dataclasses.fields(Desired)}
    assert _engine._desired_of(stored) == desired
