# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Problems with the input as data (_problems): each names its service and field where validation found it,
and says the same as the message that lists them."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._gateway.cluster import GatewayCheckError
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings, prepare
from ansible_collections.meshguard.egress.plugins.module_utils._problems import (
    Problem,
    Report,
    SpecError,
    errors_of,
)
from ansible_collections.meshguard.egress.plugins.module_utils._rollout.check import ClusterInput, check_clusters
from ansible_collections.meshguard.egress.plugins.module_utils._snapshot import service_hosts
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset

MONGO = {"name": "mongo", "hosts": ["db.example.com"], "ports": [{"number": 27017, "protocol": "TCP"}]}


def problems_of(spec):
    with pytest.raises(SpecError) as caught:
        validate_ruleset(spec)
    return caught.value


def test_a_bad_port_names_the_service_and_field():
    error = problems_of({"set": "prod", "services": [MONGO, dict(MONGO, name="pg", ports=[{"number": 70000}])]})
    assert errors_of(error) == [
        {"service": "pg", "index": 1, "field": "ports[0].number", "message": "must be between 1 and 65535, got 70000"},
        {
            "service": "pg",
            "index": 1,
            "field": "ports[0].protocol",
            "message": "is required, one of TCP, MONGO, MYSQL, REDIS, TLS, HTTPS, HTTP, HTTP2, GRPC",
        },
    ]
    # The message a user reads lists the same problems, in the same order.
    assert error.errors == [
        "services[1] 'pg': ports[0].number: must be between 1 and 65535, got 70000",
        "services[1] 'pg': ports[0].protocol: is required, one of TCP, MONGO, MYSQL, REDIS, TLS, HTTPS, HTTP, HTTP2, "
        "GRPC",
    ]


def test_a_bad_protocol_names_the_service_and_field():
    error = problems_of({"set": "prod", "services": [dict(MONGO, ports=[{"number": 25, "protocol": "SMTP"}])]})
    assert errors_of(error) == [
        {
            "service": "mongo",
            "index": 0,
            "field": "ports[0].protocol",
            "message": "must be one of TCP, MONGO, MYSQL, REDIS, TLS, HTTPS, HTTP, HTTP2, GRPC, got 'SMTP'",
        }
    ]


def test_a_set_level_problem_has_no_service():
    error = problems_of({"set": "prod", "services": [MONGO], "layout": "sideways"})
    assert errors_of(error) == [
        {
            "service": None,
            "index": None,
            "field": "layout",
            "message": "must be one of per_service, per_address, got 'sideways'",
        }
    ]
    assert error.errors == ["layout: must be one of per_service, per_address, got 'sideways'"]


def test_a_service_without_a_name_is_named_by_its_position():
    error = problems_of({"set": "prod", "services": [MONGO, {"hosts": ["db.example.com"], "ports": [{"number": 1}]}]})
    named = [e for e in errors_of(error) if e["field"] == "name"]
    assert named == [{"service": None, "index": 1, "field": "name", "message": "is required: the service name"}]
    assert "services[1]: name: is required: the service name" in error.errors


def test_a_gateway_option_problem_is_the_rule_sets():
    error = problems_of({"set": "prod", "services": [MONGO], "egress_gateway": {"mode": "tunnel"}})
    assert errors_of(error) == [
        {
            "service": None,
            "index": None,
            "field": "egress_gateway.mode",
            "message": "must be one of mtls, plain, got 'tunnel'",
        }
    ]


def test_an_ambient_option_problem_is_the_rule_sets():
    error = problems_of({"set": "prod", "services": [MONGO], "dataplane": "kernel"})
    assert errors_of(error) == [
        {
            "service": None,
            "index": None,
            "field": "dataplane",
            "message": "must be one of sidecar, ambient, auto, got 'kernel'",
        }
    ]


def test_prepare_keeps_the_rule_sets_problems_and_adds_its_own():
    settings = Settings(
        spec={"set": "prod", "services": [dict(MONGO, ports=[{"number": 0, "protocol": "TCP"}])]},
        on_error="shrug",
        resolved=[],
    )
    with pytest.raises(SpecError) as caught:
        prepare(settings)
    assert errors_of(caught.value) == [
        {"service": "mongo", "index": 0, "field": "ports[0].number", "message": "must be between 1 and 65535, got 0"},
        {"service": None, "index": None, "field": "on_error", "message": "must be one of fail, keep, got 'shrug'"},
    ]


def test_the_snapshots_service_problems_are_data_too():
    with pytest.raises(MeshguardError) as caught:
        service_hosts([{"name": "api", "hosts": []}, {"hosts": ["a.example.com"]}])
    assert errors_of(caught.value) == [
        {
            "service": "api",
            "index": 0,
            "field": "hosts",
            "message": "must be a non-empty list of host names, IP addresses or CIDR blocks",
        },
        {"service": None, "index": 1, "field": "name", "message": "is required"},
    ]
    assert str(caught.value) == (
        "services[0] 'api': hosts: must be a non-empty list of host names, IP addresses or CIDR blocks; "
        "services[1]: name: is required"
    )


def test_an_error_not_about_the_input_has_no_problems():
    assert errors_of(MeshguardError("context prod: connection refused")) == []


def test_a_scoped_report_records_into_the_same_list():
    report = Report()
    report.error("namespace", "bad")
    report.scoped(2, "pg").error("hosts[0]", "worse")
    report.scoped(3, 42).error("name", "not a string")
    assert [str(p) for p in report.problems] == [
        "namespace: bad",
        "services[2] 'pg': hosts[0]: worse",
        "services[3]: name: not a string",
    ]
    assert report.problems[1] == Problem("worse", "hosts[0]", "pg", 2)


def test_a_rollout_gives_each_problem_once_as_data_with_the_clusters_it_concerns():
    def cluster(host, services, **spec):
        return ClusterInput(host, Settings(spec={"set": "s", "services": services, **spec}))

    bad = dict(MONGO, ports=[{"number": 0, "protocol": "TCP"}])
    checked = check_clusters([cluster("c1", [MONGO]), cluster("c2", [bad]), cluster("c3", [bad], layout="x")])
    assert [p.as_error() for p in checked.problems] == [
        {
            "service": "mongo",
            "index": 0,
            "field": "ports[0].number",
            "message": "must be between 1 and 65535, got 0",
            "hosts": ["c2", "c3"],
        },
        {
            "service": None,
            "index": None,
            "field": "layout",
            "message": "must be one of per_service, per_address, got 'x'",
            "hosts": ["c3"],
        },
    ]


def test_a_clusters_problems_are_not_input_errors():
    """A gateway the cluster holds wrongly is reported in the message; ``errors`` lists input problems only."""
    error = GatewayCheckError("context prod", ["Service istio-system/egw does not expose 40000"])
    assert errors_of(error) == []
