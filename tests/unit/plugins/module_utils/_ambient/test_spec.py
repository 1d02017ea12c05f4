# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ambient's input checks: the waypoint and namespace options, and what an ambient service cannot do,
named by service and field before anything is resolved."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._istio_versions import (
    AMBIENT_CIDRS,
    MAX_EXPANDED_ADDRESSES,
)
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError, with_dataplanes
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import AMBIENT_PG as PG
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import ambient_auto as auto
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import ambient_errors as errors
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import ambient_ruleset as ruleset

# The old object goes only after every write (deletes are the last phase, _execute.execute).


def test_registry_only_for_an_ambient_namespace_says_why_and_what_instead():
    with pytest.raises(SpecError) as caught:
        auto(PG, registry_only=["shop", "orders"], ambient=["shop"])
    assert caught.value.errors == [
        "registry_only[0] 'shop': the namespace is in ambient mode; ztunnel ignores Sidecar and REGISTRY_ONLY "
        "(istio/istio#54281). Bind the services to a waypoint (waypoint: ...) with allowed_sources, and use "
        "network_policy to block direct egress"
    ]
    # With dataplane ambient every namespace of the set is ambient: refused before any request.
    (error,) = errors(PG, registry_only=["shop"])
    assert error.startswith("registry_only[0] 'shop': the namespace is in ambient mode")


def test_allowed_sources_in_a_sidecar_namespace_without_the_gateway_is_refused():
    with pytest.raises(SpecError) as caught:
        auto(dict(PG, allowed_sources=["shop"]), ambient=["orders"])
    (error,) = caught.value.errors
    assert error == (
        "services[0] 'payments-db': allowed_sources: can only be enforced by the egress gateway (the rule set's "
        "egress_gateway) or, in an ambient namespace (dataplane), by the waypoint, and namespace 'shop' is not in "
        "ambient mode"
    )


def test_an_auto_set_without_ambient_namespaces_needs_no_waypoint():
    rules = with_dataplanes(ruleset(PG, dataplane="auto", waypoint=None), [])
    assert not rules.has_ambient
    with pytest.raises(SpecError) as caught:
        with_dataplanes(ruleset(PG, dataplane="auto", waypoint=None), ["shop"])
    assert caught.value.errors[0].startswith("waypoint: is required for the ambient namespaces (shop)")


# --- input errors --------------------------------------------------------------------------------------


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
    assert any(message in error for error in errors(PG, **extra)), errors(PG, **extra)


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
    (error,) = errors(dict(PG, labels={label: "x"}))
    assert error == (
        f"services[0] 'payments-db': labels: {label!r} is set by meshguard.egress (it binds ServiceEntries to the "
        "waypoint or enrols workloads in ambient mode): use the rule set's dataplane and waypoint options"
    )
    assert errors(dict(PG, labels={label: "x"}), dataplane="sidecar", waypoint=None) == [error]


def test_an_ambient_service_cannot_go_through_the_egress_gateway():
    (error,) = errors(PG, egress_gateway={})
    assert error.startswith("services[0] 'payments-db': egress_gateway: namespace 'shop' is in ambient mode")
    assert ruleset(dict(PG, egress_gateway=False), egress_gateway={}).services


def test_below_1_30_too_many_addresses_are_refused_before_anything_is_resolved():
    (error,) = errors(dict(PG, hosts=["10.20.0.0/21"]), istio_version="1.29")
    assert error == (
        f"services[0] 'payments-db': hosts: hosts[0] 10.20.0.0/21 hold 2048 addresses; below Istio 1.30 ztunnel takes "
        f"no CIDR blocks, so in ambient mode each address is listed on its own, at most {MAX_EXPANDED_ADDRESSES} per "
        "service (istio_version 1.29): list narrower blocks, split the service, or target Istio 1.30 or later"
    )
    assert ruleset(dict(PG, hosts=["10.20.0.0/21"]))  # 1.30 and later take the block
    assert AMBIENT_CIDRS == (1, 30)
