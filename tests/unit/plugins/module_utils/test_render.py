# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendering: golden files, splitting, determinism, and Istio's CRD schemas (the schema check itself is in
helper.py, shared with the gateway's and ambient's tests; object names are in test_names.py).

Golden files are compared as data. After a deliberate change, rewrite them with
MESHGUARD_UPDATE_GOLDEN=1 (their header comments are kept), then review the
diff by hand before committing.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.meshguard.egress.plugins.module_utils._names import address_slug, object_name
from ansible_collections.meshguard.egress.plugins.module_utils._render import (
    OWNER_LABEL,
    OWNER_VALUE,
    SET_LABEL,
    RenderError,
    ServiceAddresses,
    render,
)
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import (
    DNS1123_LABEL,
    load_istio_schemas,
    schema_problems,
)

GOLDEN = Path(__file__).parent / "golden"

MONGO = {
    "name": "mongo",
    "hosts": ["mongo-1.db.example.com", "mongo-0.db.example.com"],
    "ports": [{"number": 27017, "protocol": "mongo"}],
    "export_to": ["shop", "."],
    "labels": {"team": "db"},
    "annotations": {"example.com/owner": "db-team@example.com"},
}
MONGO_ADDRESSES = ServiceAddresses(
    cidrs=("198.51.100.7/32", "192.0.2.16/28"),
    sources=("mongo-1.db.example.com", "mongo-0.db.example.com"),
)
LEDGER = {
    "name": "ledger",
    "hosts": ["203.0.113.0/28", "198.51.100.9"],
    "ports": [{"number": 5432, "protocol": "TCP", "name": "postgres"}],
}
LEDGER_ADDRESSES = ServiceAddresses(cidrs=("203.0.113.0/28", "198.51.100.9/32"))
PARTNER = {
    "name": "partner",
    "hosts": ["api.partner.example.com"],
    "ports": [{"number": 443, "protocol": "TLS"}, {"number": 8443, "protocol": "TCP"}],
    "resolution": "STATIC",
    "namespace": "partners",
}
PARTNER_ADDRESSES = ServiceAddresses(
    cidrs=("192.0.2.130/32", "192.0.2.128/31", "2001:db8::10/128"),
    ips=("2001:db8::10", "192.0.2.130", "192.0.2.128", "192.0.2.129"),
    sources=("api.partner.example.com",),
)

# One host name and nothing else: its object carries the name, and its TLS port keeps TLS.
STATUS = {
    "name": "status",
    "hosts": ["status.partner.example.com"],
    "ports": [{"number": 443, "protocol": "HTTPS"}, {"number": 80, "protocol": "HTTP"}],
}
STATUS_ADDRESSES = ServiceAddresses(cidrs=("192.0.2.200/31",), sources=("status.partner.example.com",))

# Through the egress gateway: a block with allowed_sources, and a name with IPv4 and IPv6 answers.
GATEWAY_DB = {
    "name": "payments-db",
    "hosts": ["198.51.100.0/31"],
    "ports": [{"number": 5432, "protocol": "TCP"}],
    "allowed_sources": ["shop", "billing/api"],
    "network_policy": {"pod_selector": {"app": "checkout"}},
}
GATEWAY_DB_ADDRESSES = ServiceAddresses(cidrs=("198.51.100.0/31",))
ORDERS = {
    "name": "orders",
    "hosts": ["orders-db.example.com"],
    "ports": [{"number": 27017, "protocol": "MONGO"}, {"number": 27018, "protocol": "TCP"}],
}
ORDERS_ADDRESSES = ServiceAddresses(
    cidrs=("203.0.113.10/32", "203.0.113.11/32", "2001:db8::10/128"),
    ips=("203.0.113.10", "203.0.113.11", "2001:db8::10"),
    sources=("orders-db.example.com",),
    last_seen='{"2001:db8::10":"","203.0.113.10":"","203.0.113.11":""}',
)

# Ambient mode (issue 14's design note, section 1): a block with allowed_sources, and a
# name whose addresses aggregation merged; the waypoint elsewhere, managed by the set.
AMBIENT_DB = {
    "name": "payments-db",
    "hosts": ["198.51.100.0/28"],
    "ports": [{"number": 5432, "protocol": "TCP"}],
    "allowed_sources": ["shop", "billing/api"],
    "network_policy": {"pod_selector": {"app": "checkout"}},
}
AMBIENT_DB_ADDRESSES = ServiceAddresses(cidrs=("198.51.100.0/28",))
AMBIENT_MONGO = {
    "name": "orders-mongo",
    "hosts": ["mongo.db.example.com"],
    "ports": [{"number": 27017, "protocol": "MONGO"}],
}
AMBIENT_MONGO_ADDRESSES = ServiceAddresses(
    cidrs=("203.0.113.10/31",), ips=("203.0.113.10", "203.0.113.11"), sources=("mongo.db.example.com",)
)

CASES = {
    "ambient": (
        {
            "set": "payments",
            "namespace": "shop",
            "dataplane": "ambient",
            "network_policy": True,
            "waypoint": {"name": "egress-waypoint", "namespace": "istio-egress", "manage": True},
            "services": [AMBIENT_DB, AMBIENT_MONGO],
        },
        {"payments-db": AMBIENT_DB_ADDRESSES, "orders-mongo": AMBIENT_MONGO_ADDRESSES},
    ),
    "ambient_expanded": (
        {
            "set": "payments",
            "namespace": "shop",
            "dataplane": "ambient",
            "istio_version": "1.29",
            "waypoint": {"name": "waypoint"},
            "services": [
                {**AMBIENT_DB, "hosts": ["198.51.100.0/30"], "allowed_sources": None, "network_policy": None},
                AMBIENT_MONGO,
            ],
        },
        {"payments-db": ServiceAddresses(cidrs=("198.51.100.0/30",)), "orders-mongo": AMBIENT_MONGO_ADDRESSES},
    ),
    "per_service": (
        {"set": "payments", "namespace": "egress", "services": [MONGO, LEDGER, PARTNER, STATUS]},
        {
            "mongo": MONGO_ADDRESSES,
            "ledger": LEDGER_ADDRESSES,
            "partner": PARTNER_ADDRESSES,
            "status": STATUS_ADDRESSES,
        },
    ),
    "per_address": (
        {"set": "payments", "namespace": "egress", "layout": "per_address", "services": [MONGO, PARTNER]},
        {"mongo": MONGO_ADDRESSES, "partner": PARTNER_ADDRESSES},
    ),
    "legacy": (
        {"set": "payments", "api": "config.istio.io/v1alpha2", "services": [{**MONGO, "export_to": None}, LEDGER]},
        {"mongo": MONGO_ADDRESSES, "ledger": LEDGER_ADDRESSES},
    ),
    "network_policy_sidecar": (
        {
            "set": "payments",
            "namespace": "egress",
            "api": "networking.istio.io/v1beta1",
            "network_policy": True,
            "registry_only": ["shop", "egress"],
            "services": [{**MONGO, "network_policy": {"pod_selector": {"app": "checkout"}}}, PARTNER],
        },
        {"mongo": MONGO_ADDRESSES, "partner": PARTNER_ADDRESSES},
    ),
    "gateway_mtls": (
        {
            "set": "payments",
            "namespace": "shop",
            "network_policy": True,
            "egress_gateway": {},
            "services": [GATEWAY_DB, ORDERS],
        },
        {"payments-db": GATEWAY_DB_ADDRESSES, "orders": ORDERS_ADDRESSES},
    ),
    "gateway_plain": (
        {
            "set": "payments",
            "namespace": "shop",
            "egress_gateway": {"mode": "plain", "ports": {"start": 41000, "end": 41099}},
            "services": [ORDERS, {**STATUS, "egress_gateway": False}],
        },
        {"orders": ORDERS_ADDRESSES, "status": STATUS_ADDRESSES},
    ),
}


def render_case(name):
    data, addresses = CASES[name]
    return render(validate_ruleset(copy.deepcopy(data)), addresses)


def many_addresses(count, start="10.0.0.0"):
    first = int(ipaddress.ip_address(start))
    ips = tuple(str(ipaddress.ip_address(first + 2 * i)) for i in range(count))  # never adjacent: no merging
    return ServiceAddresses(cidrs=tuple(f"{ip}/32" for ip in ips), ips=ips, sources=("db.example.com",))


# --- golden files ---------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    path = GOLDEN / f"{case}.yaml"
    rendered = render_case(case)
    if os.environ.get("MESHGUARD_UPDATE_GOLDEN"):
        text = path.read_text() if path.exists() else ""
        header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
        path.write_text(header + yaml.safe_dump(rendered, sort_keys=False, default_flow_style=False))
    assert rendered == yaml.safe_load(path.read_text())


def test_every_golden_file_has_a_case_and_a_review_note():
    files = sorted(path.stem for path in GOLDEN.glob("*.yaml"))
    assert files == sorted(CASES)
    for stem in files:
        assert (GOLDEN / f"{stem}.yaml").read_text().startswith("# Reviewed by hand"), stem


# --- the objects ------------------------------------------------------------------


def test_every_object_carries_ownership_and_set_labels():
    for case in CASES:
        for obj in render_case(case):
            labels = obj["metadata"]["labels"]
            assert labels[OWNER_LABEL] == OWNER_VALUE == "meshguard.egress"
            assert labels[SET_LABEL] == "payments"


def test_objects_share_no_lists_or_dicts():
    # Shared sub-objects would show up as YAML anchors in rendered files, and an
    # edit of one object by a caller would silently change another.
    for case in CASES:
        assert "&id" not in yaml.safe_dump(render_case(case)), case


def test_user_labels_and_annotations_are_merged_with_provenance():
    (entry,) = [obj for obj in render_case("per_service") if obj["metadata"]["name"] == "payments--mongo"]
    assert entry["metadata"]["labels"]["team"] == "db"
    assert entry["metadata"]["annotations"] == {
        "example.com/owner": "db-team@example.com",
        "meshguard.egress/declared-protocols": "27017=MONGO",
        "meshguard.egress/service": "mongo",
        "meshguard.egress/sources": "mongo-0.db.example.com,mongo-1.db.example.com",
    }


def test_service_given_only_by_addresses_gets_a_synthetic_host():
    (entry,) = [obj for obj in render_case("per_service") if obj["metadata"]["name"] == "payments--ledger"]
    assert entry["spec"]["hosts"] == ["payments--ledger.egress.meshguard-egress.invalid"]


def test_large_service_is_split_at_256_addresses():
    ruleset = validate_ruleset({"set": "prod", "services": [{**MONGO, "hosts": ["db.example.com"]}]})
    entries = render(ruleset, {"mongo": many_addresses(600)})
    assert [e["metadata"]["name"] for e in entries] == ["prod--mongo", "prod--mongo--2", "prod--mongo--3"]
    assert [len(e["spec"]["addresses"]) for e in entries] == [256, 256, 88]
    all_addresses = [a for e in entries for a in e["spec"]["addresses"]]
    assert sorted(all_addresses) == sorted(many_addresses(600).cidrs)
    # Only the first object carries the real name: Istio keeps one service per host and namespace.
    assert [e["spec"]["hosts"] for e in entries] == [
        ["db.example.com"],
        ["prod--mongo--2.default.meshguard-egress.invalid"],
        ["prod--mongo--3.default.meshguard-egress.invalid"],
    ]


def test_static_renders_one_object_per_endpoint_address():
    # Istio builds one service per entry of `addresses`, each with every endpoint
    # of the object: one address and its own endpoint per object, whatever the layout.
    for layout in ("per_service", "per_address"):
        service = {**MONGO, "hosts": ["db.example.com"], "resolution": "STATIC"}
        ruleset = validate_ruleset({"set": "prod", "layout": layout, "services": [service]})
        entries = render(ruleset, {"mongo": many_addresses(300)})
        assert len(entries) == 300
        for entry in entries:
            assert [f"{e['address']}/32" for e in entry["spec"]["endpoints"]] == entry["spec"]["addresses"]
            assert len(entry["spec"]["addresses"]) == 1
            (address,) = entry["spec"]["addresses"]
            assert entry["metadata"]["name"] == object_name("prod", "mongo", address_slug(address))
        assert sorted(a for e in entries for a in e["spec"]["addresses"]) == sorted(many_addresses(300).cidrs)


def test_each_object_has_one_host():
    # Istio builds one service per host and address; two hosts on one address:port conflict.
    names = [obj["spec"]["hosts"] for obj in render_case("per_service") if obj["kind"] == "ServiceEntry"]
    assert all(len(hosts) == 1 for hosts in names)


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (["db.example.com"], "db.example.com"),
        (["db.example.com", "db2.example.com"], "prod--mongo.default.meshguard-egress.invalid"),
        (["db.example.com", "192.0.2.77"], "prod--mongo.default.meshguard-egress.invalid"),
    ],
)
def test_an_object_carries_a_real_name_only_when_it_is_the_only_source_of_its_addresses(hosts, expected):
    ruleset = validate_ruleset({"set": "prod", "services": [{**MONGO, "hosts": hosts}]})
    (entry,) = render(ruleset, {"mongo": ServiceAddresses(cidrs=("192.0.2.64/28",))})
    assert entry["spec"]["hosts"] == [expected]


@pytest.mark.parametrize(
    ("protocol", "named", "rendered"),
    [
        ("TCP", False, "TCP"),
        ("REDIS", False, "REDIS"),
        ("MONGO", True, "TCP"),
        ("MYSQL", True, "TCP"),
        ("HTTP", True, "TCP"),
        ("HTTP2", True, "TCP"),
        ("GRPC", True, "TCP"),
        ("TLS", True, "TLS"),
        ("HTTPS", True, "HTTPS"),
        ("TLS", False, "TCP"),
        ("HTTPS", False, "TCP"),
    ],
)
def test_ports_are_rendered_so_that_istio_matches_them_by_address(protocol, named, rendered):
    hosts = ["api.example.com"] if named else ["api.example.com", "api2.example.com"]
    service = {"name": "api", "hosts": hosts, "ports": [{"number": 8000, "protocol": protocol}]}
    (entry,) = render(
        validate_ruleset({"set": "prod", "services": [service]}), {"api": ServiceAddresses(cidrs=("192.0.2.0/28",))}
    )
    assert entry["spec"]["ports"] == [{"name": f"{protocol.lower()}-8000", "number": 8000, "protocol": rendered}]
    annotations = entry["metadata"]["annotations"]
    if rendered == protocol:
        assert "meshguard.egress/declared-protocols" not in annotations
    else:
        assert annotations["meshguard.egress/declared-protocols"] == f"8000={protocol}"


def test_only_the_first_object_of_a_split_keeps_tls():
    service = {"name": "api", "hosts": ["api.example.com"], "ports": [{"number": 443, "protocol": "TLS"}]}
    entries = render(validate_ruleset({"set": "prod", "services": [service]}), {"api": many_addresses(300)})
    assert [e["spec"]["ports"][0]["protocol"] for e in entries] == ["TLS", "TCP"]


def test_network_policy_shape_matches_what_the_api_server_stores():
    (policy,) = [
        obj
        for obj in render_case("network_policy_sidecar")
        if obj["kind"] == "NetworkPolicy" and obj["metadata"]["name"] == "payments--partner"
    ]
    assert policy["spec"] == {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {"ipBlock": {"cidr": "192.0.2.128/31"}},
                    {"ipBlock": {"cidr": "192.0.2.130/32"}},
                    {"ipBlock": {"cidr": "2001:db8::10/128"}},
                ],
                "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 8443}],
            },
            # What the selected pods keep: DNS, istiod, every pod of the cluster.
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            },
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
                        "podSelector": {"matchLabels": {"app": "istiod"}},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 15012}],
            },
            {"to": [{"namespaceSelector": {}}]},
        ],
    }


def test_sidecar_follows_the_api_version():
    for api in ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"):
        ruleset = validate_ruleset({"set": "prod", "api": api, "registry_only": ["shop"], "services": []})
        (sidecar,) = render(ruleset, {})
        assert (sidecar["apiVersion"], sidecar["metadata"]["name"]) == (api, "default")


def test_sidecar_only_switches_to_registry_only_and_keeps_the_mesh_visible():
    sidecars = [obj for obj in render_case("network_policy_sidecar") if obj["kind"] == "Sidecar"]
    assert {s["metadata"]["namespace"]: s["spec"]["egress"] for s in sidecars} == {
        "egress": [{"hosts": ["*/*"]}],
        "shop": [{"hosts": ["*/*"]}],
    }
    assert all(s["spec"]["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"} for s in sidecars)


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        ({}, "service 'mongo': no addresses were given to render"),
        ({"mongo": ServiceAddresses(cidrs=())}, "service 'mongo': no addresses to render (refusing to allow every IP)"),
        ({"mongo": ServiceAddresses(cidrs=("10.0.0.1/24",))}, "service 'mongo': 10.0.0.1/24 has host bits set"),
    ],
)
def test_render_refuses_missing_or_bad_addresses(addresses, message):
    ruleset = validate_ruleset({"set": "prod", "services": [MONGO]})
    with pytest.raises(RenderError, match=re.escape(message)):
        render(ruleset, addresses)


def test_static_render_needs_endpoint_addresses_inside_the_cidrs():
    ruleset = validate_ruleset({"set": "prod", "services": [PARTNER]})
    with pytest.raises(RenderError, match="STATIC resolution needs individual IP addresses"):
        render(ruleset, {"partner": ServiceAddresses(cidrs=("192.0.2.130/32",))})
    with pytest.raises(RenderError, match=re.escape("endpoint addresses outside its CIDRs: 192.0.2.1")):
        render(ruleset, {"partner": ServiceAddresses(cidrs=("192.0.2.130/32",), ips=("192.0.2.1", "192.0.2.130"))})


def test_names_include_the_set_so_two_sets_do_not_collide():
    data, addresses = CASES["per_service"]
    first = {o["metadata"]["name"] for o in render(validate_ruleset(data), addresses) if o["kind"] == "ServiceEntry"}
    second = {
        o["metadata"]["name"]
        for o in render(validate_ruleset({**data, "set": "payments-eu"}), addresses)
        if o["kind"] == "ServiceEntry"
    }
    assert first.isdisjoint(second)


# --- determinism --------------------------------------------------------------------


def shuffled(random, case):
    data, addresses = copy.deepcopy(CASES[case])
    random.shuffle(data["services"])
    for service in data["services"]:
        for key in ("hosts", "ports", "export_to"):
            if service.get(key):
                random.shuffle(service[key])
        for key in ("labels", "annotations"):
            if service.get(key):
                items = list(service[key].items())
                random.shuffle(items)
                service[key] = dict(items)
    if data.get("registry_only"):
        random.shuffle(data["registry_only"])

    def mixed(values):
        values = list(values)
        random.shuffle(values)
        return tuple(values)

    addresses = {
        name: ServiceAddresses(cidrs=mixed(a.cidrs), ips=mixed(a.ips), sources=mixed(a.sources), last_seen=a.last_seen)
        for name, a in addresses.items()
    }
    return data, addresses


def test_rendering_twice_gives_identical_output():
    for case in CASES:
        first, second = render_case(case), render_case(case)
        assert yaml.safe_dump(first) == yaml.safe_dump(second)


@settings(max_examples=50, deadline=None)
@given(random=st.randoms(use_true_random=False), case=st.sampled_from(sorted(CASES)))
def test_input_order_does_not_change_the_output(random, case):
    data, addresses = shuffled(random, case)
    rendered = render(validate_ruleset(data), addresses)
    assert yaml.safe_dump(rendered, sort_keys=False) == yaml.safe_dump(render_case(case), sort_keys=False)


@pytest.fixture(scope="module")
def istio_schemas():
    return load_istio_schemas()


def rendered_istio_objects():
    objects = [obj for case in CASES for obj in render_case(case)]
    for api in ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"):
        for resolution in ("NONE", "STATIC"):
            service = {**MONGO, "hosts": ["db.example.com"], "resolution": resolution}
            ruleset = validate_ruleset({"set": "prod", "api": api, "registry_only": ["shop"], "services": [service]})
            objects += render(ruleset, {"mongo": many_addresses(700)})
    return [obj for obj in objects if obj["kind"] in ("ServiceEntry", "Sidecar")]


def test_rendered_istio_objects_validate_against_istios_crds(istio_schemas):
    objects = rendered_istio_objects()
    assert {(o["apiVersion"], o["kind"]) for o in objects} >= {
        ("networking.istio.io/v1", "ServiceEntry"),
        ("networking.istio.io/v1beta1", "ServiceEntry"),
        ("networking.istio.io/v1alpha3", "ServiceEntry"),
        ("networking.istio.io/v1", "Sidecar"),
        ("networking.istio.io/v1beta1", "Sidecar"),
    }
    for obj in objects:
        schema = istio_schemas[(obj["apiVersion"], obj["kind"])]
        body = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "metadata")}
        assert schema_problems(body, schema, obj["metadata"]["name"]) == [], obj["metadata"]
        assert DNS1123_LABEL.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63


def test_schema_check_catches_what_istio_rejects(istio_schemas):
    # The checker itself must fail on the mistakes it is there to catch.
    schema = istio_schemas[("networking.istio.io/v1", "ServiceEntry")]
    bad = {
        "spec": {
            "hosts": ["*"],
            "addresses": ["10.0.0.0/24"],
            "ports": [{"number": 1, "name": "a", "protocol": "TCP"}, {"number": 1, "name": "a"}],
            "resolution": "DNS",
            "location": "OUTSIDE",
            "endpoints": [{"address": "10.0.0.1"}],
            "typo": True,
        }
    }
    assert sorted(schema_problems(bad, schema)) == sorted(
        [
            "spec: CIDR addresses are allowed only for NONE/STATIC resolution types",
            "spec: unknown field 'typo'",
            "spec.hosts[0]: hostname cannot be wildcard",
            "spec.ports: port number cannot be duplicated",
            "spec.ports: duplicate list-map keys ['name']",
            "spec.location: 'OUTSIDE' not in ['MESH_EXTERNAL', 'MESH_INTERNAL']",
        ]
    )
    too_many = {"spec": {"hosts": ["a.example.com"], "addresses": [f"10.0.{i // 256}.{i % 256}" for i in range(257)]}}
    assert schema_problems(too_many, schema) == ["spec.addresses: violates maxItems 256"]
