# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The input checks before anything is resolved or read: every problem at once, named by service and
field."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings, prepare
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import PIPELINE_TCP as TCP
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import pipeline_detail as detail
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import pipeline_spec as spec


def errors_of(settings):
    with pytest.raises(SpecError) as caught:
        prepare(settings)
    return caught.value.errors


def test_every_input_problem_is_reported_at_once():
    errors = errors_of(
        Settings(
            spec=spec({"name": "pg", "hosts": ["10.0.0.0/8"], "ports": TCP}, {"name": "Bad", "hosts": ["x"]}),
            retain="soon",
            resolver={"port": 0},
        )
    )
    assert any(e.startswith("services[1] 'Bad': name:") for e in errors)
    assert any(e.startswith("services[1] 'Bad': ports:") for e in errors)
    assert any("retain must be a duration" in e for e in errors)
    assert any(e.startswith("port") for e in errors)


def test_too_broad_literal_blocks_name_the_service_and_field():
    errors = errors_of(Settings(spec=spec({"name": "pg", "hosts": ["10.0.0.0/8"], "ports": TCP})))
    assert errors == [
        "services[0] 'pg': hosts[0]: 10.0.0.0/8 (from literal 10.0.0.0/8) is broader than broadest_prefix.ipv4 /16; "
        "list narrower blocks or raise broadest_prefix.ipv4"
    ]
    errors = errors_of(
        Settings(spec=spec({"name": "pg", "hosts": ["pg.example.com"], "addresses": ["::/0"], "ports": TCP}))
    )
    assert errors[0].startswith("services[0] 'pg': addresses[0]: ::/0")


def test_resolved_input_must_cover_every_host_name():
    settings = Settings(
        spec=spec({"name": "pg", "hosts": ["pg.example.com", "pg2.example.com"], "ports": TCP}),
        resolved=[detail("pg.example.com", ["192.0.2.1"])],
    )
    assert errors_of(settings) == [
        "services[0] 'pg': hosts: pg2.example.com is not in `resolved`; resolve every host of the rule set "
        "(the lookup with detail=true)"
    ]


def test_absent_needs_only_the_set_name():
    assert prepare(Settings(spec={"set": "shop"}, state="absent")).ruleset.services == ()
