# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service scoping across an inventory, and the host names a run resolves."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._rollout.scope import (
    ScopeError,
    names_to_resolve,
    scoped,
)

MONGO = {"name": "mongo", "hosts": ["mongo-0.db.test", "mongo-1.db.test"], "ports": [{"number": 27017}]}
EU = {"name": "eu-reports", "hosts": ["reports.eu.test"], "ports": [{"number": 5432}], "clusters": ["eu"]}
ONE = {"name": "cache", "hosts": ["192.0.2.40"], "ports": [{"number": 6379}], "clusters": ["prod-us-1"]}
BOTH = {"name": "both", "hosts": ["198.51.100.0/28"], "ports": [{"number": 443}], "clusters": ["prod-us-1", "eu"]}
SERVICES = [MONGO, EU, ONE, BOTH]
KNOWN = ["all", "ungrouped", "eu", "us", "prod-eu-1", "prod-eu-2", "prod-us-1"]


def names(services):
    return [s["name"] for s in services]


@pytest.mark.parametrize(
    ("host", "groups", "expected"),
    [
        ("prod-eu-1", ["eu"], ["mongo", "eu-reports", "both"]),
        ("prod-eu-2", ["eu"], ["mongo", "eu-reports", "both"]),
        ("prod-us-1", ["us"], ["mongo", "cache", "both"]),
        ("lab", [], ["mongo"]),
    ],
)
def test_a_service_applies_where_its_clusters_say(host, groups, expected):
    assert names(scoped(SERVICES, host, groups, [*KNOWN, "lab"])) == expected


def test_the_clusters_key_is_removed_and_the_rest_passed_on_untouched():
    out = scoped(SERVICES, "prod-us-1", ["us"])
    assert all("clusters" not in s for s in out)
    assert out[0] is MONGO  # services without scope are passed through as they are
    assert out[1] == {"name": "cache", "hosts": ["192.0.2.40"], "ports": [{"number": 6379}]}
    assert "clusters" in ONE  # the input is not modified


def test_group_and_host_names_are_matched_exactly():
    service = dict(EU, clusters=["EU"])
    assert scoped([service], "prod-eu-1", ["eu"]) == []


def test_no_services():
    assert scoped(None, "h") == []
    assert scoped([], "h", ["g"]) == []


def test_every_problem_is_reported_at_once_naming_the_service():
    bad = [
        dict(MONGO, clusters="eu"),
        dict(EU, clusters=[]),
        dict(ONE, clusters=["prod-us-1", "prod-us-2", "asia"]),
        {"hosts": ["a.test"], "clusters": [1]},
    ]
    with pytest.raises(ScopeError) as err:
        scoped(bad, "prod-eu-1", ["eu"], KNOWN)
    assert err.value.problems == [
        "services[0] 'mongo': clusters: must be a list of inventory host or group names, got 'eu'",
        "services[1] 'eu-reports': clusters: is empty; name at least one inventory host or group, "
        "or leave the key out to apply the service to every cluster",
        "services[2] 'cache': clusters: asia, prod-us-2: neither a host nor a group of the inventory",
        "services[3]: clusters: must be a list of inventory host or group names, got [1]",
    ]
    assert isinstance(err.value, MeshguardError)


def test_unknown_names_are_only_checked_when_the_inventory_is_given():
    service = dict(ONE, clusters=["prod-us-1", "typo"])
    assert names(scoped([service], "prod-us-1")) == ["cache"]
    with pytest.raises(ScopeError, match="typo: neither a host nor a group"):
        scoped([service], "prod-us-1", [], KNOWN)


def test_what_is_not_a_service_is_left_for_the_module_to_report():
    odd = ["not-a-dict", {"name": "x"}]
    assert scoped(odd, "h") == odd


@pytest.mark.parametrize("services", ["mongo", {"name": "mongo"}, 42])
def test_services_must_be_a_list(services):
    with pytest.raises(ScopeError, match="services: expected a list of services"):
        scoped(services, "h")


def test_names_to_resolve_normalises_and_deduplicates():
    services = [
        {"name": "a", "hosts": ["Mongo-1.DB.test.", "mongo-0.db.test", "192.0.2.1", "2001:db8::1"]},
        {"name": "b", "hosts": ["mongo-1.db.test", "198.51.100.0/24", "bücher.test"]},
    ]
    assert names_to_resolve(services) == ["mongo-0.db.test", "mongo-1.db.test", "xn--bcher-kva.test"]


def test_names_to_resolve_skips_services_with_their_own_addresses():
    services = [
        {"name": "a", "hosts": ["a.test"], "addresses": ["192.0.2.1"]},
        {"name": "b", "hosts": ["b.test"], "addresses": None},
    ]
    assert names_to_resolve(services) == ["b.test"]


def test_names_to_resolve_leaves_invalid_input_to_the_module():
    services = [
        {"name": "a", "hosts": ["bad..name", "", 7, "ok.test", "10.0.0.0/33"]},
        {"name": "b", "hosts": "single.test"},
        "not-a-dict",
        {"name": "c"},
    ]
    assert names_to_resolve(services) == ["ok.test"]
    assert names_to_resolve(None) == []
    assert names_to_resolve({"hosts": ["a.test"]}) == []


def test_messages_name_the_list_they_come_from():
    with pytest.raises(ScopeError) as err:
        scoped([dict(EU, clusters=["nowhere"])], "h", [], KNOWN, source="meshguard_egress_services_eu")
    assert err.value.problems == [
        "meshguard_egress_services_eu[0] 'eu-reports': clusters: nowhere: neither a host nor a group of the inventory"
    ]
    with pytest.raises(ScopeError, match=r"^meshguard_egress_services_eu: expected a list of services, got dict$"):
        scoped({"name": "x"}, "h", source="meshguard_egress_services_eu")
