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
from ansible_collections.meshguard.egress.plugins.module_utils._istio_versions import (
    AMBIENT_CIDRS,
    MAX_EXPANDED_ADDRESSES,
)
from ansible_collections.meshguard.egress.plugins.module_utils._problems import Report, SpecError, errors_of
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import AMBIENT_PG
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import ambient_auto as auto
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import ambient_errors as errors
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import ambient_ruleset as ruleset

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


# --- ambient's input checks through the rule set's validation (named by service and field) -----------------


def test_registry_only_for_an_ambient_namespace_says_why_and_what_instead():
    with pytest.raises(SpecError) as caught:
        auto(AMBIENT_PG, registry_only=["shop", "orders"], ambient=["shop"])
    assert caught.value.errors == [
        "registry_only[0] 'shop': the namespace is in ambient mode; ztunnel ignores Sidecar and REGISTRY_ONLY "
        "(istio/istio#54281). Bind the services to a waypoint (waypoint: ...) with allowed_sources, and use "
        "network_policy to block direct egress"
    ]
    # With dataplane ambient every namespace of the set is ambient: refused before any request.
    (error,) = errors(AMBIENT_PG, registry_only=["shop"])
    assert error.startswith("registry_only[0] 'shop': the namespace is in ambient mode")


def test_allowed_sources_in_a_sidecar_namespace_without_the_gateway_is_refused():
    with pytest.raises(SpecError) as caught:
        auto(dict(AMBIENT_PG, allowed_sources=["shop"]), ambient=["orders"])
    (error,) = caught.value.errors
    assert error == (
        "services[0] 'payments-db': allowed_sources: can only be enforced by the egress gateway (the rule set's "
        "egress_gateway) or, in an ambient namespace (dataplane), by the waypoint, and namespace 'shop' is not in "
        "ambient mode"
    )


def test_an_auto_set_without_ambient_namespaces_needs_no_waypoint():
    rules = with_dataplanes(ruleset(AMBIENT_PG, dataplane="auto", waypoint=None), [])
    assert not rules.has_ambient
    with pytest.raises(SpecError) as caught:
        with_dataplanes(ruleset(AMBIENT_PG, dataplane="auto", waypoint=None), ["shop"])
    assert caught.value.errors[0].startswith("waypoint: is required for the ambient namespaces (shop)")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"waypoint": None}, "waypoint: is required for the ambient namespaces (shop)"),
        ({"dataplane": "sidecar"}, "waypoint: is ambient mode's: only with dataplane ambient or auto"),
        ({"dataplane": "kernel"}, "dataplane: must be one of sidecar, ambient, auto, got 'kernel'"),
        ({"waypoint": {"namespace": "x"}}, "waypoint.name: is required"),
        ({"waypoint": {"name": "w", "allowed_namespaces": ["a"]}}, "waypoint.allowed_namespaces: is the managed"),
        ({"waypoint": {"name": "w", "manage": "yes"}}, "waypoint.manage: must be true or false"),
        ({"waypoint": {"name": "w", "size": 1}}, "waypoint: unknown key 'size'"),
        ({"istio_version": "2.0"}, "istio_version: must be an Istio 1.x version"),
        ({"istio_version": "latest"}, "istio_version: must be an Istio version such as 1.31"),
        ({"istio_version": "1.27"}, "istio_version: 1.27 is older than 1.28, the oldest Istio"),
        ({"istio_version": "1.3"}, "an unquoted 1.30 in YAML reads as 1.3: quote it"),
        ({"api": "config.istio.io/v1alpha2"}, "dataplane: the legacy EgressRule API"),
    ],
)
def test_bad_ambient_options_name_the_field(extra, message):
    assert any(message in error for error in errors(AMBIENT_PG, **extra)), errors(AMBIENT_PG, **extra)


@pytest.mark.parametrize(
    "label",
    [
        "istio.io/use-waypoint",
        "istio.io/use-waypoint-namespace",
        "istio.io/waypoint-for",
        "istio.io/ingress-use-waypoint",
        "istio.io/dataplane-mode",
    ],
)
def test_labels_the_collection_owns_are_refused_in_every_mode(label):
    (error,) = errors(dict(AMBIENT_PG, labels={label: "x"}))
    assert error == (
        f"services[0] 'payments-db': labels: {label!r} is set by meshguard.egress (it binds ServiceEntries to the "
        "waypoint or enrols workloads in ambient mode): use the rule set's dataplane and waypoint options"
    )
    assert errors(dict(AMBIENT_PG, labels={label: "x"}), dataplane="sidecar", waypoint=None) == [error]


def test_an_ambient_service_cannot_go_through_the_egress_gateway():
    (error,) = errors(AMBIENT_PG, egress_gateway={})
    assert error.startswith("services[0] 'payments-db': egress_gateway: namespace 'shop' is in ambient mode")
    assert ruleset(dict(AMBIENT_PG, egress_gateway=False), egress_gateway={}).services


def test_below_1_30_too_many_addresses_are_refused_before_anything_is_resolved():
    (error,) = errors(dict(AMBIENT_PG, hosts=["10.20.0.0/21"]), istio_version="1.29")
    assert error == (
        f"services[0] 'payments-db': hosts: hosts[0] 10.20.0.0/21 hold 2048 addresses; below Istio 1.30 ztunnel takes "
        f"no CIDR blocks, so in ambient mode each address is listed on its own, at most {MAX_EXPANDED_ADDRESSES} per "
        "service (istio_version 1.29): list narrower blocks, split the service, or target Istio 1.30 or later"
    )
    assert ruleset(dict(AMBIENT_PG, hosts=["10.20.0.0/21"]))  # 1.30 and later take the block
    assert AMBIENT_CIDRS == (1, 30)
