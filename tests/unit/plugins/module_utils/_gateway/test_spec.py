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
