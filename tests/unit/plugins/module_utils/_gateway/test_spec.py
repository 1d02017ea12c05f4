# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The egress gateway's own validation rules (_gateway/spec.py), as the rule set's validation reports them:
each problem with its service and field."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._gateway.spec import (
    EgressGateway,
    check_service,
    gateway_option,
    service_choice,
)
from ansible_collections.meshguard.egress.plugins.module_utils._problems import Report, SpecError, errors_of
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset
from ansible_collections.meshguard.egress.plugins.module_utils._terms import parse_term
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import GATEWAY_MONGO as MONGO
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import GATEWAY_PG
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import gateway_errors as errors
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import gateway_ruleset as ruleset

PG = {"name": "pg", "hosts": ["192.0.2.10"], "ports": [{"number": 5432, "protocol": "TCP"}]}


def test_a_service_option_problem_names_the_service_and_field():
    with pytest.raises(SpecError) as caught:
        validate_ruleset(
            {
                "set": "prod",
                "egress_gateway": {"mode": "plain"},
                "services": [PG, dict(PG, name="api", hosts=["198.51.100.0/30"])],
            }
        )
    assert errors_of(caught.value) == [
        {
            "service": "api",
            "index": 1,
            "field": "hosts[0]",
            "message": "'198.51.100.0/30' is a CIDR block: in plain mode the gateway load balances over the "
            "service's addresses, so every address of the block would get connections; list the addresses",
        }
    ]


def test_the_option_of_the_legacy_api_takes_no_keys_and_no_network_policy():
    report = Report()
    gateway = gateway_option({"egress_gateway": {"mode": "mtls"}}, True, True, report)
    assert gateway == EgressGateway()
    assert [(p.service, p.field) for p in report.problems] == [(None, "egress_gateway.mode"), (None, "network_policy")]


def test_allowed_sources_need_a_proxy_that_checks_them():
    report = Report().scoped(0, "pg")
    via, sources = service_choice(
        {"allowed_sources": ["shop", "shop"]}, None, legacy=False, waypoint=False, report=report
    )
    assert (via, sources) == (False, ("shop",))
    assert [(p.service, p.field, p.message) for p in report.problems] == [
        ("pg", "allowed_sources[1]", "'shop' is listed twice"),
        (
            "pg",
            "allowed_sources",
            "can only be enforced by the egress gateway (the rule set's egress_gateway) or, in an ambient namespace "
            "(dataplane), by the waypoint",
        ),
    ]
    # With a waypoint possible (dataplane ambient or auto), the namespaces decide later.
    later = Report()
    assert service_choice({"allowed_sources": ["shop"]}, None, legacy=False, waypoint=True, report=later) == (
        False,
        ("shop",),
    )
    assert later.problems == []


def test_a_service_in_the_gateways_namespace_with_network_policies_is_refused():
    report = Report().scoped(4, "pg")
    check_service(
        EgressGateway(),
        namespace="istio-system",
        hosts=[parse_term("192.0.2.10")],
        addresses=None,
        labels=[("istio.io/rev", "canary")],
        network_policy=True,
        report=report,
    )
    assert [(p.index, p.field) for p in report.problems] == [(4, "labels"), (4, "namespace")]


# --- the gateway's input checks through the rule set's validation (named by service and field) ------------


def test_a_block_beyond_the_expansion_limit_is_refused_before_any_dns_query():
    assert errors(dict(GATEWAY_PG, hosts=["198.51.100.0/23"])) == [
        "services[0] 'payments-db': hosts[0]: '198.51.100.0/23' holds 512 addresses; through the egress gateway "
        "each address is a ServiceEntry of its own, at most 256 per service: list narrower blocks, split the "
        "service, or send it direct (egress_gateway: false)"
    ]
    assert errors(dict(GATEWAY_PG, hosts=["198.51.100.0/24", "203.0.113.0/31"])) == [
        "services[0] 'payments-db': hosts: the blocks hold 258 addresses; through the egress gateway each address "
        "is a ServiceEntry of its own, at most 256 per service: split the service, or send it direct "
        "(egress_gateway: false)"
    ]
    # Direct, the same block is fine.
    ruleset(dict(GATEWAY_PG, hosts=["198.51.100.0/23"], egress_gateway=False))


@pytest.mark.parametrize(
    ("gateway", "message"),
    [
        ({"mode": "tls"}, "egress_gateway.mode: must be one of mtls, plain, got 'tls'"),
        (
            {"namspace": "x"},
            "egress_gateway: unknown key 'namspace'; allowed: namespace, selector, service, mode, ports",
        ),
        ({"namespace": "Istio"}, "egress_gateway.namespace: must be a DNS-1123 label"),
        ({"selector": {}}, "egress_gateway.selector: must be a non-empty dict of the gateway pods' labels, got {}"),
        ({"ports": {"start": 40000}}, "egress_gateway.ports: is only used with mode plain"),
        (
            {"mode": "plain", "ports": {"start": 40010, "end": 40000}},
            "egress_gateway.ports: start 40010 is after end 40000",
        ),
        (
            {"mode": "plain", "ports": {"start": 14999, "end": 15010}},
            "egress_gateway.ports: 14999-15010 includes 15000, 15001, 15004, 15006, 15008: ports of the gateway proxy",
        ),
        ({"mode": "plain", "ports": {"start": 1, "end": 100}}, "egress_gateway.ports: 1-100 includes 80:"),
        ({"mode": "plain", "ports": {"start": 0}}, "egress_gateway.ports.start: must be a port number"),
        ("yes", "egress_gateway: must be a dict (give {} for the defaults), got str"),
    ],
)
def test_bad_gateway_options_are_named(gateway, message):
    (error,) = errors(dict(GATEWAY_PG, hosts=["198.51.100.7"]), gateway=gateway)
    assert error.startswith(message), error


def test_plain_ports_default_where_ansible_passes_none():
    rules = ruleset(MONGO, gateway={"mode": "plain", "ports": {"start": 40050, "end": None}, "namespace": None})
    assert rules.egress_gateway.ports == (40050, 40099)
    assert rules.egress_gateway.namespace == "istio-system"


@pytest.mark.parametrize(
    ("service", "gateway", "message"),
    [
        (
            dict(GATEWAY_PG, hosts=["198.51.100.7"], allowed_sources=["shop"]),
            {"mode": "plain"},
            "allowed_sources: needs",
        ),
        (
            dict(GATEWAY_PG, allowed_sources=["shop"], egress_gateway=False),
            {},
            "allowed_sources: can only be enforced by the egress gateway",
        ),
        (
            dict(GATEWAY_PG, allowed_sources=["a/b/c"]),
            {},
            "allowed_sources[0]: must be a namespace or <namespace>/<service",
        ),
        (dict(GATEWAY_PG, allowed_sources=["shop", "shop"]), {}, "allowed_sources[1]: 'shop' is listed twice"),
        (dict(GATEWAY_PG, allowed_sources=[]), {}, "allowed_sources: must list at least one"),
        (dict(GATEWAY_PG, egress_gateway="no"), {}, "egress_gateway: must be true or false, got 'no'"),
        (dict(GATEWAY_PG, labels={"istio.io/rev": "canary"}), {}, "labels: 'istio.io/rev' is read by Istio itself"),
        (dict(GATEWAY_PG, labels={"istio.io/use-waypoint": "wp"}), {}, "labels: 'istio.io/use-waypoint' is set by"),
    ],
)
def test_bad_service_options_through_the_gateway_name_service_and_field(service, gateway, message):
    (error,) = errors(service, gateway=gateway)
    assert error.startswith(f"services[0] 'payments-db': {message}"), error


def test_gateway_options_of_a_service_need_the_rule_sets_gateway():
    with pytest.raises(SpecError) as caught:
        validate_ruleset(
            {"set": "egress", "services": [dict(GATEWAY_PG, egress_gateway=True, allowed_sources=["shop"])]}
        )
    assert caught.value.errors == [
        "services[0] 'payments-db': egress_gateway: needs the rule set's egress_gateway option (where the gateway is)",
        "services[0] 'payments-db': allowed_sources: can only be enforced by the egress gateway (the rule set's "
        "egress_gateway) or, in an ambient namespace (dataplane), by the waypoint",
    ]
    # Direct, Istio's labels are the user's business as before.
    validate_ruleset({"set": "egress", "services": [dict(GATEWAY_PG, labels={"istio.io/rev": "canary"})]})


def test_a_service_in_the_gateway_namespace_with_network_policies_is_refused():
    (error,) = errors(dict(GATEWAY_PG, namespace="istio-system"), network_policy=True)
    assert error.startswith("services[0] 'payments-db': namespace: 'istio-system' is the egress gateway's namespace")


def test_legacy_takes_no_gateway_settings():
    assert errors(
        dict(GATEWAY_PG, allowed_sources=["shop"]), api="config.istio.io/v1alpha2", gateway={"mode": "plain"}
    ) == [
        "egress_gateway.mode: is not supported by the legacy EgressRule API (config.istio.io/v1alpha2): Istio 0.x has "
        "one egress proxy and the rule only says to use it (use_egress_proxy); give egress_gateway: {}",
        "services[0] 'payments-db': allowed_sources: is not supported by the legacy EgressRule API "
        "(config.istio.io/v1alpha2)",
    ]
    (error,) = errors(GATEWAY_PG, api="config.istio.io/v1alpha2", network_policy=True)
    assert error.startswith("network_policy: with the legacy API's egress proxy")
