# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The desired objects of a run: answers rendered with last-seen, addresses kept from the live annotation,
failed hosts per on_error, and forged retention records (no network)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._desired import judged_values
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings, prepare
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import PIPELINE_TCP as TCP
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import pipeline_desired as desired
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import pipeline_detail as detail
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import pipeline_spec as spec


def test_resolved_answers_are_rendered_with_last_seen():
    settings = Settings(
        spec=spec({"name": "pg", "hosts": ["pg.example.com", "192.0.2.9"], "ports": TCP}),
        resolved=[detail("pg.example.com", ["192.0.2.1", "192.0.2.2"])],
    )
    (entry,) = desired(settings).objects
    assert entry["spec"]["addresses"] == ["192.0.2.1/32", "192.0.2.2/32", "192.0.2.9/32"]
    # Literals are never retained, so only resolved addresses are in the map.
    assert json.loads(entry["metadata"]["annotations"]["meshguard.egress/last-seen"]) == {
        "192.0.2.1": "",
        "192.0.2.2": "",
    }


def test_an_address_missing_from_dns_is_kept_from_the_live_annotation():
    live = {
        "metadata": {
            "annotations": {
                "meshguard.egress/service": "pg",
                "meshguard.egress/last-seen": json.dumps({"192.0.2.1": "", "192.0.2.7": ""}),
            }
        },
        # What the collection applied: the record matches it.
        "spec": {"addresses": ["192.0.2.1/32", "192.0.2.7/32"]},
    }
    settings = Settings(
        spec=spec({"name": "pg", "hosts": ["pg.example.com"], "ports": TCP}),
        resolved=[detail("pg.example.com", ["192.0.2.1"])],
    )
    result = desired(settings, [live])
    (entry,) = result.objects
    assert entry["spec"]["addresses"] == ["192.0.2.1/32", "192.0.2.7/32"]
    assert json.loads(entry["metadata"]["annotations"]["meshguard.egress/last-seen"]) == {
        "192.0.2.1": "",
        "192.0.2.7": "2026-11-26T12:00:00Z",
    }
    assert "192.0.2.7 is no longer returned by DNS" in result.warnings[0]
    zero = Settings(spec=settings.spec, resolved=settings.resolved, retain="0")
    (plain,) = desired(zero, [live]).objects
    assert plain["spec"]["addresses"] == ["192.0.2.1/32"]
    assert "meshguard.egress/last-seen" not in plain["metadata"]["annotations"]


def test_a_failed_host_fails_the_run_or_keeps_its_service():
    services = [
        {"name": "pg", "hosts": ["pg.example.com"], "ports": TCP},
        {"name": "api", "hosts": ["192.0.2.50"], "ports": [{"number": 443, "protocol": "TLS"}]},
    ]
    failed = [
        detail("pg.example.com", error={"type": "TIMEOUT", "message": "pg.example.com: no answer from 10.0.0.53"})
    ]
    with pytest.raises(MeshguardError, match=r"(?s)nothing was changed.*pg.example.com: no answer from 10.0.0.53"):
        desired(Settings(spec=spec(*services), resolved=failed))
    kept = desired(Settings(spec=spec(*services), resolved=failed, on_error="keep"))
    assert [o["metadata"]["name"] for o in kept.objects] == ["shop--api"]
    assert kept.unresolved == {"pg": ["TIMEOUT: pg.example.com: no answer from 10.0.0.53"]}


def forged(record: dict, addresses: list, managers=()):
    managed = [
        {
            "manager": m,
            "operation": "Update",
            "fieldsV1": {"f:metadata": {"f:annotations": {"f:meshguard.egress/last-seen": {}}}},
        }
        for m in managers
    ]
    return {
        "metadata": {
            "annotations": {"meshguard.egress/service": "pg", "meshguard.egress/last-seen": json.dumps(record)},
            "managedFields": managed,
        },
        "spec": {"addresses": addresses},
    }


@pytest.mark.parametrize(
    ("record", "addresses", "managers", "why"),
    [
        # An address the applied rule never held, added to the record: it would be retained for a day.
        ({"192.0.2.1": "", "198.51.100.66": ""}, ["192.0.2.1/32"], (), "which the applied rule does not hold"),
        # A time in the future never expires.
        ({"192.0.2.1": "", "192.0.2.7": "2099-01-01T00:00:00Z"}, ["192.0.2.1/32", "192.0.2.7/32"], (), "in the future"),
        # Written by someone else (kubectl edit, patch): nothing of it is used.
        (
            {"192.0.2.1": "", "192.0.2.7": ""},
            ["192.0.2.1/32", "192.0.2.7/32"],
            ("meshguard.egress", "kubectl-edit"),
            "written by kubectl-edit",
        ),
    ],
    ids=["unknown-address", "future", "foreign-writer"],
)
def test_a_forged_retention_record_is_reported_and_widens_nothing(record, addresses, managers, why):
    settings = Settings(
        spec=spec({"name": "pg", "hosts": ["pg.example.com"], "ports": TCP}),
        resolved=[detail("pg.example.com", ["192.0.2.1"])],
    )
    result = desired(settings, [forged(record, addresses, managers)])
    (entry,) = result.objects
    assert entry["spec"]["addresses"] == ["192.0.2.1/32"]
    assert json.loads(entry["metadata"]["annotations"]["meshguard.egress/last-seen"]) == {"192.0.2.1": ""}
    (message,) = result.tampered
    assert why in message and "tampering suspected" in message
    assert message in result.warnings


def test_judged_values_are_what_the_address_policy_is_asked_about():
    live = {
        "metadata": {
            "annotations": {
                "meshguard.egress/service": "pg",
                "meshguard.egress/last-seen": json.dumps({"192.0.2.7": "2026-11-26T11:00:00Z"}),
            }
        },
        "spec": {"addresses": ["192.0.2.7/32"]},
    }
    settings = Settings(
        spec=spec(
            {"name": "pg", "hosts": ["pg.example.com", "198.51.100.9"], "ports": TCP},
            {"name": "lit", "hosts": ["lit.example.com"], "addresses": ["203.0.113.0/29"], "ports": TCP},
        ),
        resolved=[detail("pg.example.com", ["192.0.2.1"]), detail("lit.example.com", [])],
    )
    prepared = prepare(settings)
    found = set(judged_values(prepared, prepared.resolved, [live]))
    assert {"192.0.2.1", "198.51.100.9", "203.0.113.0/29", "192.0.2.7"} <= found
    # Widened as rendered: the policy judges the block an answer becomes.
    wide = prepare(dataclasses.replace(settings, aggregation={"ipv4_prefix": 24}))
    assert {"192.0.2.0/24"} <= set(judged_values(wide, wide.resolved, [live]))
