# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pipeline's pure steps: input checks, desired objects and manifest files, no network."""

from __future__ import annotations

import dataclasses
import datetime
import json

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._desired import desired_objects
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._manifests import write_manifests as rendered
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings, prepare
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone.utc)
TCP = [{"number": 5432, "protocol": "TCP"}]


def spec(*services, **extra):
    return {"set": "shop", "namespace": "db", "services": list(services), **extra}


def detail(host, addresses=(), error=None):
    return {"host": host, "addresses": list(addresses), "cidrs": [], "cname_chain": [], "ttl": 30, "error": error}


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


def desired(settings, live=None, now=NOW):
    prepared = prepare(dataclasses.replace(settings, now=now))
    return desired_objects(prepared, prepared.resolved or {}, live)


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


OLD = "serviceentry.networking.istio.io_db_shop--old.yaml"
PG = "serviceentry.networking.istio.io_db_shop--pg.yaml"


def test_rendered_files_equal_the_set_and_stale_files_of_the_set_go(tmp_path):
    settings = Settings(
        spec=spec(
            {"name": "pg", "hosts": ["192.0.2.1"], "ports": TCP}, {"name": "old", "hosts": ["192.0.2.2"], "ports": TCP}
        )
    )
    first = rendered(desired(settings).objects, str(tmp_path), "shop", check_mode=False)
    assert sorted(first["files"]) == [OLD, PG]
    (tmp_path / "README.md").write_text("not ours")
    smaller = Settings(spec=spec({"name": "pg", "hosts": ["192.0.2.1"], "ports": TCP}))
    preview = rendered(desired(smaller).objects, str(tmp_path), "shop", check_mode=True)
    assert preview["changed"] and (tmp_path / OLD).exists()
    second = rendered(desired(smaller).objects, str(tmp_path), "shop", check_mode=False)
    assert second["removed"] == [str(tmp_path / OLD)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", PG]
    assert rendered(desired(smaller).objects, str(tmp_path), "shop", check_mode=False)["changed"] is False


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
