# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ambient mode's own validation rules (_ambient/spec.py), as the rule set's validation reports them:
each problem with its service and field."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._ambient.spec import (
    AMBIENT,
    SIDECAR,
    ambient_options,
    with_dataplanes,
)
from ansible_collections.meshguard.egress.plugins.module_utils._problems import Report, SpecError, errors_of
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset

PG = {"name": "pg", "hosts": ["192.0.2.10"], "ports": [{"number": 5432, "protocol": "TCP"}]}


def test_a_service_option_problem_names_the_service_and_field():
    ruleset = validate_ruleset(
        {
            "set": "prod",
            "dataplane": "auto",
            "waypoint": {"name": "egress"},
            "egress_gateway": {},
            "services": [dict(PG, egress_gateway=False), dict(PG, name="api", namespace="shop")],
        }
    )
    with pytest.raises(SpecError) as caught:
        with_dataplanes(ruleset, ["shop"])
    assert errors_of(caught.value) == [
        {
            "service": "api",
            "index": 1,
            "field": "egress_gateway",
            "message": "namespace 'shop' is in ambient mode, where the waypoint (waypoint) takes the egress gateway's "
            "place: set egress_gateway: false for this service, or leave the rule set's egress_gateway out",
        }
    ]


def test_an_option_problem_is_the_rule_sets():
    with pytest.raises(SpecError) as caught:
        validate_ruleset({"set": "prod", "dataplane": AMBIENT, "waypoint": {"name": "Egress"}, "services": [PG]})
    assert [(e["service"], e["field"]) for e in errors_of(caught.value)] == [(None, "waypoint.name")]


def test_the_options_on_their_own():
    report = Report()
    dataplane, waypoint, _version = ambient_options({"waypoint": {"name": "egress"}}, "shop", False, report)
    assert (dataplane, waypoint is not None) == (SIDECAR, True)
    assert [(p.field, p.message) for p in report.problems] == [
        ("waypoint", "is ambient mode's: only with dataplane ambient or auto")
    ]
    legacy = Report()
    ambient_options({"dataplane": AMBIENT}, "shop", True, legacy)
    assert [p.field for p in legacy.problems] == ["dataplane"]
