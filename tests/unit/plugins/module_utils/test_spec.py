# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of the rule set: one test per rule, asserting the message a user reads."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._spec import (
    Port,
    SpecError,
    validate_ruleset,
)


def service(**overrides):
    base = {"name": "mongo", "hosts": ["db.example.com"], "ports": [{"number": 27017, "protocol": "TCP"}]}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def spec(*services, **overrides):
    base = {"set": "prod", "services": list(services) or [service()]}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def errors_of(data):
    with pytest.raises(SpecError) as caught:
        validate_ruleset(data)
    return caught.value.errors


def only_error(data):
    errors = errors_of(data)
    assert len(errors) == 1, errors
    return errors[0]


# --- what a valid rule set becomes ------------------------------------------


def test_valid_ruleset_is_normalised_with_defaults():
    result = validate_ruleset(
        spec(
            service(
                hosts=["DB.Example.com.", "2001:DB8::1", "10.1.0.0/16"],
                ports=[{"number": "27017", "protocol": "mongo"}, {"number": 443, "protocol": "tls", "name": "tls"}],
            )
        )
    )
    assert result.name == "prod"
    assert result.namespace == "default"
    assert result.api == "networking.istio.io/v1"
    assert result.layout == "per_service"
    assert result.network_policy is False
    assert result.registry_only == ()
    (mongo,) = result.services
    assert mongo.namespace == "default"
    assert mongo.resolution == "NONE"
    assert mongo.addresses is None
    assert [(host.kind, host.value) for host in mongo.hosts] == [
        ("name", "db.example.com"),
        ("address", "2001:db8::1"),
        ("network", "10.1.0.0/16"),
    ]
    assert mongo.host_names == ("db.example.com",)
    assert mongo.literal_addresses == ("2001:db8::1", "10.1.0.0/16")
    assert mongo.ports == (Port(27017, "MONGO", "mongo-27017"), Port(443, "TLS", "tls"))


def test_options_set_to_none_count_as_not_given():
    # Ansible passes every option the user left out as None.
    result = validate_ruleset(
        spec(
            service(namespace=None, export_to=None, resolution=None, addresses=None, labels=None, annotations=None),
            namespace=None,
            api=None,
            layout=None,
            network_policy=None,
            registry_only=None,
        )
    )
    assert result.namespace == "default"
    assert result.layout == "per_service"
    assert result.services[0].resolution == "NONE"


def test_service_namespace_defaults_to_the_rule_set_namespace():
    result = validate_ruleset(
        spec(service(), service(name="pg", hosts=["pg.example.com"], namespace="db"), namespace="egress")
    )
    assert [(s.name, s.namespace) for s in result.services] == [("mongo", "egress"), ("pg", "db")]


def test_spec_error_is_a_library_error_listing_every_message():
    with pytest.raises(MeshguardError) as caught:
        validate_ruleset(spec(set="Prod", api="v2"))
    assert str(caught.value).startswith("invalid rule set (2 errors):\n- set: ")


def test_every_error_is_reported_together():
    errors = errors_of(
        {
            "set": "prod",
            "servics": [],
            "services": [
                service(ports=[{"number": 27017, "protocol": "TCP"}]),
                service(name="mongo", ports=[{"number": 0, "protocol": "TCP"}], hosts=[]),
                service(name="pg", hosts=["pg.example.com"], ports=[{"number": 5432, "protocol": "UDP"}]),
            ],
            "layout": "per_host",
        }
    )
    assert errors == [
        "unknown key 'servics' (did you mean 'services'?); allowed: "
        "services, set, namespace, api, layout, network_policy, registry_only, guardrail, egress_gateway, "
        "dataplane, waypoint, istio_version, export_to, network_policy_lockdown, dnssec, trust_anchors",
        "layout: must be one of per_service, per_address, got 'per_host'",
        "services[1] 'mongo': name: is a duplicate of services[0]",
        "services[1] 'mongo': hosts: must list at least one host name, IP address or CIDR block",
        "services[1] 'mongo': ports[0].number: must be between 1 and 65535, got 0",
        "services[2] 'pg': ports[0].protocol: must be one of TCP, MONGO, MYSQL, REDIS, TLS, HTTPS, HTTP, HTTP2, GRPC, "
        "got 'UDP'",
    ]


# --- rule-set options ----------------------------------------------------------


def test_set_is_required():
    assert only_error(spec(set=...)) == "set: is required: the name of the rule set"


def test_set_must_be_a_dns1123_label():
    assert only_error(spec(set="Prod_1")) == (
        "set: must be a DNS-1123 label: lower-case letters, digits and '-', "
        "starting and ending with a letter or digit, got 'Prod_1'"
    )


def test_set_must_not_contain_the_name_separator():
    assert only_error(spec(set="prod--eu")) == (
        "set: must not contain '--' (it separates the parts of object names), got 'prod--eu'"
    )


def test_set_longer_than_63_characters():
    assert only_error(spec(set="a" * 64)) == "set: must be at most 63 characters (DNS-1123 label), got 64"


def test_unknown_rule_set_key_is_an_error():
    assert only_error(spec(registry_olny=["apps"])) == (
        "unknown key 'registry_olny' (did you mean 'registry_only'?); allowed: "
        "services, set, namespace, api, layout, network_policy, registry_only, guardrail, egress_gateway, "
        "dataplane, waypoint, istio_version, export_to, network_policy_lockdown, dnssec, trust_anchors"
    )


def test_namespace_must_be_a_dns1123_label():
    assert only_error(spec(namespace="Egress")).startswith("namespace: must be a DNS-1123 label")


def test_api_must_be_known():
    assert only_error(spec(api="networking.istio.io/v2")) == (
        "api: must be one of networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3, "
        "config.istio.io/v1alpha2, got 'networking.istio.io/v2'"
    )


@pytest.mark.parametrize("api", ["networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"])
def test_older_serviceentry_apis_are_accepted(api):
    assert validate_ruleset(spec(api=api)).api == api


def test_legacy_api_defaults_to_per_address():
    result = validate_ruleset(spec(api="config.istio.io/v1alpha2"))
    assert result.layout == "per_address"
    assert result.legacy


def test_legacy_api_refuses_per_service():
    assert only_error(spec(api="config.istio.io/v1alpha2", layout="per_service")) == (
        "layout: the legacy EgressRule API (config.istio.io/v1alpha2) takes one destination.service per rule: "
        "use per_address"
    )


def test_network_policy_must_be_a_bool():
    assert only_error(spec(network_policy="yes")) == "network_policy: must be true or false, got 'yes'"


def test_registry_only_namespaces_are_checked():
    errors = errors_of(spec(registry_only=["apps", "Apps", "apps"]))
    assert errors == [
        "registry_only[1]: must be a DNS-1123 label: lower-case letters, digits and '-', "
        "starting and ending with a letter or digit, got 'Apps'",
        "registry_only[2]: 'apps' is listed twice",
    ]


def test_services_are_required():
    assert only_error(spec(services=...)) == "services: is required: a list of services"


def test_services_must_be_a_list():
    assert only_error(spec(services={"name": "mongo"})) == "services: must be a list, got dict"


def test_service_must_be_a_dict():
    assert only_error(spec(services=["mongo"])) == "services[0]: must be a dict, got str"


def test_duplicate_service_names():
    assert only_error(spec(service(), service(hosts=["db2.example.com"]))) == (
        "services[1] 'mongo': name: is a duplicate of services[0]"
    )


# --- service fields --------------------------------------------------------------


def test_unknown_service_key_is_an_error():
    assert only_error(spec(service(port=[]))) == (
        "services[0] 'mongo': unknown key 'port' (did you mean 'ports'?); allowed: "
        "name, hosts, ports, namespace, export_to, resolution, addresses, network_policy, labels, annotations, "
        "allow_ranges, egress_gateway, allowed_sources, dnssec, allow_mixed_scripts"
    )


def test_unknown_port_key_is_an_error():
    assert only_error(spec(service(ports=[{"number": 1, "protocol": "TCP", "targetPort": 2}]))) == (
        "services[0] 'mongo': ports[0]: unknown key 'targetPort'; allowed: number, protocol, name"
    )


def test_service_name_is_required():
    assert only_error(spec(service(name=...))) == "services[0]: name: is required: the service name"


def test_service_name_must_be_a_dns1123_label():
    assert only_error(spec(service(name="Mongo"))).startswith(
        "services[0] 'Mongo': name: must be a DNS-1123 label: lower-case letters"
    )


def test_service_namespace_must_be_a_dns1123_label():
    assert only_error(spec(service(namespace="db_1"))).startswith("services[0] 'mongo': namespace: must be a DNS-1123")


def test_hosts_are_required():
    assert only_error(spec(service(hosts=...))) == (
        "services[0] 'mongo': hosts: is required: host names, IP addresses or CIDR blocks"
    )


def test_hosts_must_not_be_empty():
    assert only_error(spec(service(hosts=[]))) == (
        "services[0] 'mongo': hosts: must list at least one host name, IP address or CIDR block"
    )


@pytest.mark.parametrize(
    ("host", "message"),
    [
        # The lookup's parser (_terms) and its wording: rules and the lookup read a term alike.
        (
            "db..example.com",
            "invalid term 'db..example.com': not a valid host name: empty label (two dots in a row or a leading dot)",
        ),
        # DNS takes '_', Istio does not in a ServiceEntry host (agent.ValidateWildcardDomain).
        (
            "db_1.example.com",
            "'db_1.example.com' cannot be a ServiceEntry host: Istio takes letters, digits and '-' in each label, "
            "not 'db_1' (layout per_address resolves it without making it a host)",
        ),
        ("10.0.0.300", "invalid term '10.0.0.300': not a valid IPv4 address: octet 300 is out of range (0-255)"),
        ("*.example.com", "'*.example.com': wildcard host names cannot be resolved to addresses; list the names"),
        (
            "10.0.0.1/24",
            "invalid term '10.0.0.1/24': not a valid CIDR block: host bits are set (did you mean 10.0.0.0/24?)",
        ),
        (
            "10.0.0.0/33",
            "invalid term '10.0.0.0/33': not a valid CIDR block: prefix length /33 is out of range for IPv4 (0-32)",
        ),
    ],
)
def test_host_syntax(host, message):
    assert only_error(spec(service(hosts=["ok.example.com", host]))) == f"services[0] 'mongo': hosts[1]: {message}"


def test_host_must_be_a_string():
    assert only_error(spec(service(hosts=[27017]))) == "services[0] 'mongo': hosts[0]: must be a string, got int"


def test_duplicate_hosts_after_normalisation():
    assert only_error(spec(service(hosts=["db.example.com", "DB.example.com."]))) == (
        "services[0] 'mongo': hosts[1]: 'DB.example.com.' is listed twice (also hosts[0])"
    )


@pytest.mark.parametrize("layout", ["per_service", "per_address"])
def test_many_host_names_are_fine(layout):
    # Every object carries one host (a synthetic one for a service of several names).
    hosts = [f"db{i}.example.com" for i in range(257)]
    assert len(validate_ruleset(spec(service(hosts=hosts), layout=layout)).services[0].hosts) == 257


def test_same_host_in_two_services_of_one_namespace():
    errors = errors_of(spec(service(), service(name="mongo-admin", ports=[{"number": 28017, "protocol": "HTTP"}])))
    assert errors == [
        "services[1] 'mongo-admin': hosts: 'db.example.com' is also a host of service 'mongo' in namespace "
        "'default'; Istio keeps one ServiceEntry per host name and namespace, so list all its ports in one service"
    ]


def test_same_host_in_two_namespaces_is_fine():
    validate_ruleset(spec(service(), service(name="mongo-b", namespace="other")))


# --- ports ------------------------------------------------------------------------


def test_ports_are_required():
    assert only_error(spec(service(ports=...))) == (
        "services[0] 'mongo': ports: is required: a list of {number, protocol}"
    )


def test_ports_must_not_be_empty():
    assert only_error(spec(service(ports=[]))) == "services[0] 'mongo': ports: must list at least one port"


@pytest.mark.parametrize("number", [0, 65536, -1])
def test_port_number_range(number):
    assert only_error(spec(service(ports=[{"number": number, "protocol": "TCP"}]))) == (
        f"services[0] 'mongo': ports[0].number: must be between 1 and 65535, got {number}"
    )


@pytest.mark.parametrize(("number", "shown"), [(True, "True"), ("27017a", "'27017a'"), (1.5, "1.5")])
def test_port_number_must_be_an_integer(number, shown):
    assert only_error(spec(service(ports=[{"number": number, "protocol": "TCP"}]))) == (
        f"services[0] 'mongo': ports[0].number: must be an integer, got {shown}"
    )


def test_port_number_is_required():
    assert only_error(spec(service(ports=[{"protocol": "TCP"}]))) == "services[0] 'mongo': ports[0].number: is required"


def test_protocol_must_be_known():
    assert only_error(spec(service(ports=[{"number": 53, "protocol": "UDP"}]))) == (
        "services[0] 'mongo': ports[0].protocol: must be one of "
        "TCP, MONGO, MYSQL, REDIS, TLS, HTTPS, HTTP, HTTP2, GRPC, got 'UDP'"
    )


def test_protocol_is_required():
    assert only_error(spec(service(ports=[{"number": 53}]))) == (
        "services[0] 'mongo': ports[0].protocol: is required, one of TCP, MONGO, MYSQL, REDIS, TLS, HTTPS, HTTP, "
        "HTTP2, GRPC"
    )


def test_port_name_is_defaulted_from_protocol_and_number():
    result = validate_ruleset(spec(service(ports=[{"number": 3306, "protocol": "MySQL"}])))
    assert result.services[0].ports == (Port(3306, "MYSQL", "mysql-3306"),)


def test_port_name_must_be_a_dns1123_label():
    assert only_error(spec(service(ports=[{"number": 1, "protocol": "TCP", "name": "TCP_1"}]))) == (
        "services[0] 'mongo': ports[0].name: port name must be a DNS-1123 label: lower-case letters, digits and '-', "
        "starting and ending with a letter or digit, got 'TCP_1'"
    )


def test_duplicate_port_numbers():
    ports = [{"number": 27017, "protocol": "TCP"}, {"number": 27017, "protocol": "MONGO"}]
    assert only_error(spec(service(ports=ports))) == (
        "services[0] 'mongo': ports[1].number: port number cannot be duplicated: 27017 is also ports[0]"
    )


def test_duplicate_port_names():
    ports = [{"number": 1, "protocol": "TCP", "name": "db"}, {"number": 2, "protocol": "TCP", "name": "db"}]
    assert only_error(spec(service(ports=ports))) == (
        "services[0] 'mongo': ports[1].name: port name 'db' is also used by ports[0]"
    )


def test_more_than_256_ports():
    ports = [{"number": 1000 + i, "protocol": "TCP"} for i in range(257)]
    assert (
        only_error(spec(service(ports=ports)))
        == "services[0] 'mongo': ports: at most 256 ports per ServiceEntry, got 257"
    )


# --- resolution, addresses, endpoints -------------------------------------------


def test_resolution_must_be_none_or_static():
    assert only_error(spec(service(resolution="LOOKUP"))) == (
        "services[0] 'mongo': resolution: must be NONE or STATIC, got 'LOOKUP'"
    )


@pytest.mark.parametrize("resolution", ["DNS", "dns_round_robin", "DYNAMIC_DNS"])
def test_dns_resolutions_cannot_carry_cidr_addresses(resolution):
    assert only_error(spec(service(resolution=resolution))) == (
        f"services[0] 'mongo': resolution: must be NONE or STATIC, got {resolution!r}; the rendered addresses are "
        "CIDR blocks, and CIDR addresses are allowed only for NONE/STATIC resolution types"
    )


def test_static_needs_individual_addresses_not_cidr_hosts():
    assert only_error(spec(service(hosts=["10.0.0.0/24"], resolution="STATIC"))) == (
        "services[0] 'mongo': hosts[0]: '10.0.0.0/24' is a CIDR block, but STATIC resolution needs individual "
        "addresses for its endpoints; use resolution NONE or list the IP addresses"
    )


def test_static_needs_individual_addresses_not_cidr_addresses():
    assert only_error(spec(service(addresses=["10.0.0.5", "10.0.1.0/30"], resolution="static"))) == (
        "services[0] 'mongo': addresses[1]: '10.0.1.0/30' is a CIDR block, but STATIC resolution needs individual "
        "addresses for its endpoints; use resolution NONE or list the IP addresses"
    )


def test_static_accepts_single_address_cidrs():
    result = validate_ruleset(spec(service(hosts=["10.0.0.5/32", "2001:db8::5/128"], resolution="static")))
    assert result.services[0].resolution == "STATIC"


def test_several_host_names_are_fine_with_static_and_any_port():
    # Istio's "multiple hosts provided with non-HTTP, non-TLS ports" is about one
    # object; STATIC renders one object per address, with one host each.
    two = ["db1.example.com", "db2.example.com"]
    validate_ruleset(spec(service(hosts=two)))
    validate_ruleset(spec(service(hosts=two, resolution="STATIC")))
    validate_ruleset(spec(service(hosts=two, resolution="STATIC", ports=[{"number": 443, "protocol": "TLS"}])))


def test_addresses_skip_resolution_and_are_normalised():
    result = validate_ruleset(spec(service(addresses=["10.0.0.5", "2001:DB8::/32", "10.0.0.5"])))
    assert result.services[0].addresses == ("10.0.0.5", "2001:db8::/32")


def test_addresses_must_be_ips_or_cidrs():
    assert only_error(spec(service(addresses=["db.example.com"]))) == (
        "services[0] 'mongo': addresses[0]: 'db.example.com' is a host name; addresses takes IP addresses and "
        "CIDR blocks"
    )


def test_addresses_must_not_be_empty():
    assert only_error(spec(service(addresses=[]))) == (
        "services[0] 'mongo': addresses: must list at least one address (leave it out to resolve the hosts)"
    )


# --- export_to --------------------------------------------------------------------


def test_export_to_values():
    assert only_error(spec(service(export_to=[".", "Apps"]))) == (
        "services[0] 'mongo': export_to[1]: must be '.', '*', '~' or a namespace name (DNS-1123 label), got 'Apps'"
    )


@pytest.mark.parametrize("special", ["*", "~"])
def test_export_to_star_and_tilde_stand_alone(special):
    assert only_error(spec(service(export_to=[special, "apps"]))) == (
        f"services[0] 'mongo': export_to: {special!r} must be the only value, got [{special!r}, 'apps']"
    )


def test_export_to_duplicates():
    assert only_error(spec(service(export_to=["apps", "apps"]))) == (
        "services[0] 'mongo': export_to[1]: 'apps' is a duplicate of export_to[0]"
    )


def test_export_to_dot_and_own_namespace_count_as_one():
    assert only_error(spec(service(export_to=[".", "db"], namespace="db"))) == (
        "services[0] 'mongo': export_to[1]: 'db' is a duplicate of export_to[0]"
    )


def test_export_to_nowhere_is_an_error_naming_the_service():
    assert only_error(spec(service(export_to=["~"]))) == (
        "services[0] 'mongo': export_to: '~' exports the ServiceEntries to no namespace, their own included: "
        "no workload could use the rule; use '.' for the service's own namespace, or name the namespaces"
    )


def test_the_rule_sets_export_to_stands_for_services_that_give_none():
    data = spec(
        service(),
        service(name="billing", namespace="billing"),
        service(name="audit", hosts=["192.0.2.9"], export_to=["audit"]),
        namespace="shop",
        export_to=[".", "reports"],
    )
    found = {s.name: s.export_to for s in validate_ruleset(data).services}
    assert found == {"mongo": (".", "reports"), "billing": (".", "reports"), "audit": ("audit",)}
    # The set's namespace named and "." count as one for a service there (Istio refuses duplicates).
    found = validate_ruleset(spec(service(), namespace="shop", export_to=["shop", "."])).services[0].export_to
    assert found == (".",)


def test_without_export_to_a_service_is_left_to_its_way_outs_default():
    assert validate_ruleset(spec(service())).services[0].export_to == ()


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (["~"], "export_to: '~' exports the ServiceEntries to no namespace, their own included"),
        (["*", "shop"], "export_to: '*' must be the only value, got ['*', 'shop']"),
        (["Shop"], "export_to[0]: must be '.', '*', '~' or a namespace name (DNS-1123 label), got 'Shop'"),
    ],
)
def test_the_rule_sets_export_to_is_checked_like_a_services(value, want):
    assert only_error(spec(service(), export_to=value)).startswith(want)


def test_network_policy_lockdown_needs_network_policy():
    assert only_error(spec(service(), network_policy_lockdown=True)) == (
        "network_policy_lockdown: has no effect unless the rule set has network_policy: true"
    )
    assert validate_ruleset(spec(service(), network_policy=True, network_policy_lockdown=True)).network_policy_lockdown


# --- legacy EgressRule API -------------------------------------------------------


@pytest.mark.parametrize("protocol", ["TLS", "MYSQL", "redis"])
def test_legacy_api_refuses_protocols_it_does_not_know(protocol):
    data = spec(service(ports=[{"number": 1, "protocol": protocol}]), api="config.istio.io/v1alpha2")
    assert only_error(data) == (
        f"services[0] 'mongo': ports[0].protocol: {protocol.upper()} is not known to the legacy EgressRule API "
        "(config.istio.io/v1alpha2), which takes HTTP, HTTPS, GRPC, HTTP2, TCP, MONGO"
    )


def test_legacy_api_has_no_export_to():
    data = spec(service(export_to=["."]), api="config.istio.io/v1alpha2")
    assert only_error(data) == (
        "services[0] 'mongo': export_to: is not supported by the legacy EgressRule API (config.istio.io/v1alpha2)"
    )


def test_legacy_api_has_no_registry_only():
    data = spec(service(hosts=["10.0.0.5"]), api="config.istio.io/v1alpha2", registry_only=["shop"])
    assert only_error(data) == (
        "registry_only: is not supported with the legacy EgressRule API (config.istio.io/v1alpha2): its "
        "REGISTRY_ONLY Sidecar is a networking.istio.io object no Istio 0.x serves, and Istio 1.x ignores "
        "EgressRules, so the Sidecar would drop the declared traffic; use api networking.istio.io/v1 "
        "(ServiceEntry) with registry_only, or leave registry_only out"
    )


def test_legacy_api_has_no_static_resolution():
    data = spec(service(hosts=["10.0.0.5"], resolution="STATIC"), api="config.istio.io/v1alpha2")
    assert only_error(data) == (
        "services[0] 'mongo': resolution: is not supported by the legacy EgressRule API (config.istio.io/v1alpha2)"
    )


# --- network_policy, labels, annotations -----------------------------------------


def test_pod_selector_is_kept_sorted():
    data = spec(service(network_policy={"pod_selector": {"tier": "api", "app": "shop"}}), network_policy=True)
    assert validate_ruleset(data).services[0].pod_selector == (("app", "shop"), ("tier", "api"))


def test_service_network_policy_needs_the_rule_set_switch():
    assert only_error(spec(service(network_policy={"pod_selector": {"app": "shop"}}))) == (
        "services[0] 'mongo': network_policy: has no effect unless the rule set has network_policy: true"
    )


def test_network_policy_unknown_key():
    data = spec(service(network_policy={"podSelector": {"app": "shop"}}), network_policy=True)
    assert only_error(data) == (
        "services[0] 'mongo': network_policy: unknown key 'podSelector' (did you mean 'pod_selector'?); "
        "allowed: pod_selector"
    )


def test_pod_selector_values_are_label_values():
    data = spec(service(network_policy={"pod_selector": {"app": "shop api"}}), network_policy=True)
    assert only_error(data) == (
        "services[0] 'mongo': network_policy.pod_selector['app']: must be empty or consist of letters, digits, "
        "'-', '_' or '.', and start and end with a letter or digit, got 'shop api'"
    )


def test_label_key_syntax():
    assert only_error(spec(service(labels={"team/": "db"}))) == (
        "services[0] 'mongo': labels: key 'team/': the name part must not be empty"
    )


def test_label_key_prefix_syntax():
    assert only_error(spec(service(labels={"Example.com/team": "db"}))) == (
        "services[0] 'mongo': labels: key 'Example.com/team': the prefix 'Example.com' must be a DNS-1123 "
        "subdomain (lower-case labels separated by '.')"
    )


def test_label_value_too_long():
    assert only_error(spec(service(labels={"team": "x" * 64}))) == (
        "services[0] 'mongo': labels['team']: must be at most 63 characters, got 64"
    )


def test_label_value_must_be_a_string():
    assert only_error(spec(service(labels={"critical": True}))) == (
        "services[0] 'mongo': labels['critical']: must be a string, got bool (quote it)"
    )


@pytest.mark.parametrize("key", ["app.kubernetes.io/managed-by", "meshguard.egress/set"])
def test_collection_labels_cannot_be_overridden(key):
    assert only_error(spec(service(labels={key: "me"}))) == (
        f"services[0] 'mongo': labels: {key!r} is set by meshguard.egress and cannot be overridden"
    )


def test_collection_annotations_cannot_be_overridden():
    assert only_error(spec(service(annotations={"meshguard.egress/sources": "x"}))) == (
        "services[0] 'mongo': annotations: 'meshguard.egress/sources' is set by meshguard.egress and cannot be "
        "overridden"
    )


def test_annotation_values_are_free_text_but_strings():
    assert only_error(spec(service(annotations={"owner": "DB team <db@example.com>", "ticket": 42}))) == (
        "services[0] 'mongo': annotations['ticket']: must be a string, got int (quote it)"
    )


def test_labels_must_be_a_dict():
    assert only_error(spec(service(labels=["team=db"]))) == "services[0] 'mongo': labels: must be a dict, got list"


def test_a_writer_with_a_newline_is_named_by_its_field_before_anything_is_rendered():
    errors = errors_of(spec(guardrail={"writers": ["ci", "ops\nadmin"]}))
    assert errors == [
        "guardrail.writers[1]: holds U+000A, a control, format or separator character no user name has: 'ops\\nadmin'"
    ]


@pytest.mark.parametrize("number", [15000, 15001, 15004, 15006, 15008, 15020, 15021, 15053, 15090])
@pytest.mark.parametrize("way", ["direct", "gateway", "legacy"])
def test_istios_own_proxy_ports_are_no_service_ports_on_any_way_out(number, way):
    options = {"gateway": {"egress_gateway": {}}, "legacy": {"api": "config.istio.io/v1alpha2"}}.get(way, {})
    protocol = "tcp" if way == "legacy" else "TCP"
    error = only_error(spec(service(hosts=["192.0.2.1"], ports=[{"number": number, "protocol": protocol}]), **options))
    assert error.startswith(f"services[0] 'mongo': ports[0].number: {number} is a port of Istio's own proxy in ")
    assert error.endswith(
        "a ServiceEntry on it can break the sidecar (istio/istio#60722), so no service may use Istio's ports "
        "15000, 15001, 15004, 15006, 15008, 15020, 15021, 15053, 15090"
    )
