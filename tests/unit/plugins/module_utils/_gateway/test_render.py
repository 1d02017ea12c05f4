# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Through the egress gateway: what is rendered in each mode, and Istio's CRD schemas (the input checks
are in test_spec.py).

The objects of one unit must agree exactly (the route's subset is the
DestinationRule's, its SNI the Gateway server's host, the server's host the
VirtualService's, ...): the tests follow each chain the way istiod does,
rather than comparing private shapes. What Istio makes of them is the
probe's to show (tests/integration).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._desired import refused_answers
from ansible_collections.meshguard.egress.plugins.module_utils._engine import run
from ansible_collections.meshguard.egress.plugins.module_utils._gateway.ports import GATEWAY_PORTS_ANNOTATION, assign
from ansible_collections.meshguard.egress.plugins.module_utils._gateway.render import GatewayView
from ansible_collections.meshguard.egress.plugins.module_utils._kinds import BY_KEY, KINDS, identity
from ansible_collections.meshguard.egress.plugins.module_utils._policy.guardrail import guardrail_objects
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings
from ansible_collections.meshguard.egress.plugins.module_utils._render import (
    RenderError,
    ServiceAddresses,
    render,
    rendered_kinds,
)
from ansible_collections.meshguard.egress.plugins.module_utils._retain import LAST_SEEN_ANNOTATION
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import (
    CEL_RULES,
    DNS1123_LABEL,
    GATEWAY_CEL_RULES,
    load_istio_schemas,
    schema_problems,
)
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import GATEWAY_MONGO as MONGO
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import GATEWAY_PG as PG
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import gateway_errors as errors
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import gateway_ruleset as ruleset

GATEWAY_HOST = "istio-egressgateway.istio-system.svc.cluster.local"
PG_ADDRESSES = ServiceAddresses(cidrs=("198.51.100.0/31",))
MONGO_ADDRESSES = ServiceAddresses(
    cidrs=("203.0.113.10/32", "203.0.113.11/32"),
    ips=("203.0.113.10", "203.0.113.11"),
    sources=("mongo.db.example.com",),
    last_seen='{"203.0.113.10":"","203.0.113.11":""}',
)
V6 = {"name": "ledger", "hosts": ["2001:db8::10", "2001:db8::20/127"], "ports": [{"number": 6379, "protocol": "REDIS"}]}
V6_ADDRESSES = ServiceAddresses(cidrs=("2001:db8::10/128", "2001:db8::20/127"), ips=("2001:db8::10",))


def of(objects, kind, namespace=None):
    return [o for o in objects if o["kind"] == kind and namespace in (None, o["metadata"]["namespace"])]


def named(objects, kind, name):
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def mtls(*pairs, **extra):
    return render(ruleset(*(s for s, _a in pairs), **extra), {s["name"]: a for s, a in pairs})


def many(count, start="192.0.2.0"):
    first = ipaddress.ip_address(start)
    ips = [str(first + i) for i in range(count)]
    return ServiceAddresses(cidrs=tuple(f"{ip}/32" for ip in ips), ips=tuple(ips))


# --- what a sidecar and the gateway are given: the chains of each unit -----------------------------------


def follow_mtls(objects):
    """Each declared address:port -> (what the sidecar's route sends, what the gateway's route forwards to).

    Follows the objects as istiod does: the ServiceEntry's address and port, the VirtualService of its host
    (its mesh route: the gateway subset and its SNI; its gateway route: the host and port forwarded to), the
    Gateway server of that SNI, and the ServiceEntry the forwarded host names (its endpoints).
    """
    entries = {o["spec"]["hosts"][0]: o for o in of(objects, "ServiceEntry")}
    routes = {(o["metadata"]["namespace"], o["spec"]["hosts"][0]): o for o in of(objects, "VirtualService")}
    gateways = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in of(objects, "Gateway")}
    subsets = {s["name"]: s for dr in of(objects, "DestinationRule") for s in dr["spec"]["subsets"]}
    for dr in of(objects, "DestinationRule"):
        assert dr["spec"]["host"] == GATEWAY_HOST
        assert dr["metadata"]["namespace"] == "istio-system"
        assert "trafficPolicy" not in dr["spec"]  # Istio merges DestinationRules of one host by subsets only
    reached = {}
    for host, entry in entries.items():
        (address,) = entry["spec"]["addresses"]
        (port,) = entry["spec"]["ports"]
        assert entry["spec"]["resolution"] == "STATIC"
        vs = routes[(entry["metadata"]["namespace"], host)]
        mesh, at_gateway = vs["spec"]["tcp"]
        assert mesh["match"] == [{"gateways": ["mesh"], "port": port["number"]}]  # no destinationSubnets
        (sent,) = mesh["route"]
        assert sent["destination"]["host"] == GATEWAY_HOST
        assert sent["destination"]["port"] == {"number": 443}
        (setting,) = subsets[sent["destination"]["subset"]]["trafficPolicy"]["portLevelSettings"]
        assert setting == {"port": {"number": 443}, "tls": {"mode": "ISTIO_MUTUAL", "sni": host}}
        (gateway_ref,) = [g for g in vs["spec"]["gateways"] if g != "mesh"]
        servers = [s for s in gateways[gateway_ref]["spec"]["servers"] if s["hosts"] == [f"shop/{host}"]]
        assert servers == [
            {
                "hosts": [f"shop/{host}"],
                "port": {"name": entry["metadata"]["name"], "number": 443, "protocol": "TLS"},
                "tls": {"mode": "ISTIO_MUTUAL"},
            }
        ]
        assert at_gateway["match"] == [{"gateways": [gateway_ref], "port": 443}]
        (forwarded,) = at_gateway["route"]
        target = entries[forwarded["destination"]["host"]]
        assert forwarded["destination"]["port"] == {"number": port["number"]}
        reached[(address, port["number"])] = [e["address"] for e in target["spec"]["endpoints"]]
    return reached


def test_mtls_a_cidr_block_becomes_one_unit_per_address_each_reaching_only_itself():
    objects = mtls((PG, PG_ADDRESSES))
    assert follow_mtls(objects) == {
        ("198.51.100.0/32", 5432): ["198.51.100.0"],
        ("198.51.100.1/32", 5432): ["198.51.100.1"],
    }
    assert sorted((o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects) == [
        ("DestinationRule", "istio-system", "egress--payments-db"),
        ("Gateway", "istio-system", "egress--payments-db"),
        ("ServiceEntry", "shop", "egress--payments-db--198-51-100-0--5432"),
        ("ServiceEntry", "shop", "egress--payments-db--198-51-100-1--5432"),
        ("VirtualService", "shop", "egress--payments-db--198-51-100-0--5432"),
        ("VirtualService", "shop", "egress--payments-db--198-51-100-1--5432"),
    ]
    entry = named(objects, "ServiceEntry", "egress--payments-db--198-51-100-0--5432")
    assert entry["spec"]["hosts"] == ["egress--payments-db--198-51-100-0--5432.shop.meshguard-egress.invalid"]
    assert entry["spec"]["location"] == "MESH_EXTERNAL"


def test_mtls_several_services_ipv4_and_ipv6_every_address_and_port_a_unit():
    objects = mtls((PG, PG_ADDRESSES), (MONGO, MONGO_ADDRESSES), (V6, V6_ADDRESSES))
    reached = follow_mtls(objects)
    assert reached == {
        ("198.51.100.0/32", 5432): ["198.51.100.0"],
        ("198.51.100.1/32", 5432): ["198.51.100.1"],
        ("203.0.113.10/32", 27017): ["203.0.113.10"],
        ("203.0.113.10/32", 27018): ["203.0.113.10"],
        ("203.0.113.11/32", 27017): ["203.0.113.11"],
        ("203.0.113.11/32", 27018): ["203.0.113.11"],
        ("2001:db8::10/128", 6379): ["2001:db8::10"],
        ("2001:db8::20/128", 6379): ["2001:db8::20"],
        ("2001:db8::21/128", 6379): ["2001:db8::21"],
    }
    assert {o["metadata"]["name"] for o in of(objects, "Gateway")} == {
        "egress--payments-db",
        "egress--orders-mongo",
        "egress--ledger",
    }
    assert named(objects, "ServiceEntry", "egress--ledger--2001-db8--21--6379")["spec"]["endpoints"] == [
        {"address": "2001:db8::21"}
    ]
    # MONGO is TCP to Istio (as without the gateway); the declared protocol stays visible.
    mongo = named(objects, "ServiceEntry", "egress--orders-mongo--203-0-113-10--27017")
    assert mongo["spec"]["ports"] == [{"name": "mongo-27017", "number": 27017, "protocol": "TCP"}]
    assert mongo["metadata"]["annotations"]["meshguard.egress/declared-protocols"] == "27017=MONGO"


def test_more_than_256_addresses_in_a_set_each_its_own_object():
    services = [dict(PG, name=f"db{i}", hosts=[f"192.0.{i}.0/24"]) for i in range(3)]
    addresses = {f"db{i}": ServiceAddresses(cidrs=(f"192.0.{i}.0/24",)) for i in range(3)}
    objects = render(ruleset(*services), addresses)
    reached = follow_mtls(objects)
    assert len(reached) == 768
    assert all(address == f"{ips[0]}/32" for (address, _port), ips in reached.items())
    assert len(of(objects, "Gateway")) == 3
    assert all(len(g["spec"]["servers"]) == 256 for g in of(objects, "Gateway"))


def test_resolved_addresses_beyond_the_limit_are_refused_at_render():
    with pytest.raises(RenderError) as caught:
        render(ruleset(MONGO), {"orders-mongo": many(257)})
    assert str(caught.value).startswith("service 'orders-mongo': hosts: 257 addresses after resolution and aggregation")
    assert len(of(render(ruleset(MONGO), {"orders-mongo": many(256)}), "ServiceEntry")) == 512


def test_a_service_sent_direct_renders_exactly_what_it_would_without_a_gateway():
    direct = render(
        validate_ruleset({"set": "egress", "namespace": "shop", "services": [PG]}), {"payments-db": PG_ADDRESSES}
    )
    assert render(ruleset(dict(PG, egress_gateway=False)), {"payments-db": PG_ADDRESSES}) == direct
    assert [o["kind"] for o in direct] == ["ServiceEntry"]


def test_export_to_always_includes_the_gateway_namespace():
    entries = of(mtls((dict(PG, export_to=[".", "billing"]), PG_ADDRESSES)), "ServiceEntry")
    assert {tuple(e["spec"]["exportTo"]) for e in entries} == {(".", "billing", "istio-system")}
    entries = of(mtls((dict(PG, export_to=["*"]), PG_ADDRESSES)), "ServiceEntry")
    assert {tuple(e["spec"]["exportTo"]) for e in entries} == {("*",)}
    # Without export_to: the service's own namespace and the gateway's, never every namespace.
    objects = mtls((PG, PG_ADDRESSES))
    for kind in ("ServiceEntry", "VirtualService"):
        assert {tuple(o["spec"]["exportTo"]) for o in of(objects, kind)} == {(".", "istio-system")}, kind
    # The rule set's export_to stands for services that give none.
    set_wide = of(mtls((PG, PG_ADDRESSES), export_to=["shop", "billing"]), "VirtualService")
    assert {tuple(o["spec"]["exportTo"]) for o in set_wide} == {(".", "billing", "istio-system")}


def test_last_seen_is_kept_on_the_gateway_only():
    objects = mtls((MONGO, MONGO_ADDRESSES))
    carrying = [o["kind"] for o in objects if LAST_SEEN_ANNOTATION in o["metadata"].get("annotations", {})]
    assert carrying == ["Gateway"]
    assert all(o["metadata"]["annotations"]["meshguard.egress/service"] == "orders-mongo" for o in objects)
    assert all(o["metadata"]["labels"]["meshguard.egress/set"] == "egress" for o in objects)


def test_input_order_does_not_change_the_objects():
    services = [PG, MONGO, V6]
    addresses = {"payments-db": PG_ADDRESSES, "orders-mongo": MONGO_ADDRESSES, "ledger": V6_ADDRESSES}
    expected = render(ruleset(*services), addresses)
    shuffled = random.Random(7)
    for _round in range(5):
        order = services[:]
        shuffled.shuffle(order)
        given = {
            name: ServiceAddresses(tuple(reversed(a.cidrs)), tuple(reversed(a.ips)), a.sources, a.last_seen)
            for name, a in addresses.items()
        }
        assert render(ruleset(*order), given) == expected


# --- plain mode ----------------------------------------------------------------------------------------------


def plain(*pairs, view=None, **gateway):
    rules = ruleset(*(s for s, _a in pairs), gateway={"mode": "plain", **gateway})
    return render(rules, {s["name"]: a for s, a in pairs}, gateway=view)


def follow_plain(objects):
    """Each declared address:port -> (the gateway port the sidecar sends it to, the endpoints the gateway reaches)."""
    entries = {o["spec"]["hosts"][0]: o for o in of(objects, "ServiceEntry")}
    routes = {o["spec"]["hosts"][0]: o for o in of(objects, "VirtualService")}
    subsets = {s["name"]: s for dr in of(objects, "DestinationRule") for s in dr["spec"]["subsets"]}
    servers = {}
    for gateway in of(objects, "Gateway"):
        for server in gateway["spec"]["servers"]:
            assert server["port"]["protocol"] == "TCP" and "tls" not in server
            servers[server["port"]["number"]] = (f"istio-system/{gateway['metadata']['name']}", server)
    reached = {}
    for host, entry in entries.items():
        (address,) = entry["spec"]["addresses"]
        (port,) = entry["spec"]["ports"]
        vs = routes[host]
        assert vs["spec"]["gateways"] == ["mesh"]
        (rule,) = vs["spec"]["tcp"]
        (sent,) = rule["route"]
        assert sent["destination"]["host"] == GATEWAY_HOST
        gateway_port = sent["destination"]["port"]["number"]
        (setting,) = subsets[sent["destination"]["subset"]]["trafficPolicy"]["portLevelSettings"]
        assert setting == {"port": {"number": gateway_port}, "tls": {"mode": "DISABLE"}}
        gateway_ref, server = servers[gateway_port]
        (server_host,) = server["hosts"]
        at_gateway = routes[server_host.split("/", 1)[1]]
        assert at_gateway["spec"]["gateways"] == [gateway_ref]
        (forward,) = at_gateway["spec"]["tcp"]
        assert forward["match"] == [{"gateways": [gateway_ref], "port": gateway_port}]
        endpoints = []
        for destination in forward["route"]:
            assert destination["destination"]["port"] == {"number": port["number"]}
            endpoints += [e["address"] for e in entries[destination["destination"]["host"]]["spec"]["endpoints"]]
        reached[(address, port["number"])] = (gateway_port, sorted(endpoints))
    return reached


def test_plain_one_gateway_port_per_service_port_forwarding_only_to_that_service():
    single_pg = dict(PG, hosts=["198.51.100.7"])
    objects = plain((single_pg, ServiceAddresses(cidrs=("198.51.100.7/32",))), (MONGO, MONGO_ADDRESSES))
    mongo = ["203.0.113.10", "203.0.113.11"]
    assert follow_plain(objects) == {
        ("203.0.113.10/32", 27017): (40000, mongo),
        ("203.0.113.11/32", 27017): (40000, mongo),
        ("203.0.113.10/32", 27018): (40001, mongo),
        ("203.0.113.11/32", 27018): (40001, mongo),
        ("198.51.100.7/32", 5432): (40002, ["198.51.100.7"]),
    }
    gateway = named(objects, "Gateway", "egress--orders-mongo")
    assert gateway["metadata"]["annotations"][GATEWAY_PORTS_ANNOTATION] == '{"27017":40000,"27018":40001}'
    weighted = named(objects, "VirtualService", "egress--orders-mongo--p27017")["spec"]["tcp"][0]["route"]
    assert [d.get("weight") for d in weighted] == [1, 1]
    single = named(objects, "VirtualService", "egress--payments-db--p5432")["spec"]["tcp"][0]["route"]
    assert "weight" not in single[0]


def test_plain_ports_come_from_the_view_the_cluster_gave():
    rules = ruleset(MONGO, gateway={"mode": "plain", "ports": {"start": 41000, "end": 41009}})
    kept = assign(
        [("orders-mongo", 27017), ("orders-mongo", 27018)], {("orders-mongo", 27018): 41005}, {}, range(41000, 41010)
    )
    view = GatewayView(rules.egress_gateway, kept, {41000: 9000, 41005: "mongo-b"}, checked=True)
    objects = render(rules, {"orders-mongo": MONGO_ADDRESSES}, gateway=view)
    assert {k[1]: v[0] for k, v in follow_plain(objects).items()} == {27017: 41000, 27018: 41005}
    assert view.summary() == {
        "service": "istio-system/istio-egressgateway",
        "mode": "plain",
        "checked": True,
        "ports": {"orders-mongo": {"27017": 41000, "27018": 41005}},
    }


def test_plain_refuses_cidr_blocks_given_or_widened():
    assert errors(PG, gateway={"mode": "plain"}) == [
        "services[0] 'payments-db': hosts[0]: '198.51.100.0/31' is a CIDR block: in plain mode the gateway load "
        "balances over the service's addresses, so every address of the block would get connections; list the "
        "addresses"
    ]
    with pytest.raises(RenderError) as caught:
        plain((MONGO, ServiceAddresses(cidrs=("203.0.113.0/30",), ips=("203.0.113.1",))))
    assert "203.0.113.0/30 are CIDR blocks; in plain mode" in str(caught.value)


def test_plain_takes_neighbouring_addresses_that_aggregation_merged():
    # 203.0.113.0 and .1, listed one by one, aggregate to a /31: both are known, nothing is widened.
    objects = plain((MONGO, ServiceAddresses(cidrs=("203.0.113.0/31",), ips=("203.0.113.0", "203.0.113.1"))))
    endpoints = {e["address"] for o in objects if o["kind"] == "ServiceEntry" for e in o["spec"]["endpoints"]}
    assert endpoints == {"203.0.113.0", "203.0.113.1"}


# --- NetworkPolicies and AuthorizationPolicies ----------------------------------------------------------------


def test_network_policies_make_the_gateway_the_only_way_out():
    rules = ruleset(dict(PG, network_policy={"pod_selector": {"app": "billing"}}), MONGO, network_policy=True)
    view = GatewayView(rules.egress_gateway, target_ports={443: 8443, 80: 8080}, checked=True)
    objects = render(rules, {"payments-db": PG_ADDRESSES, "orders-mongo": MONGO_ADDRESSES}, gateway=view)
    dns = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    istiod = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
                "podSelector": {"matchLabels": {"app": "istiod"}},
            }
        ],
        "ports": [{"protocol": "TCP", "port": 15012}],
    }
    client = named(objects, "NetworkPolicy", "egress--payments-db")
    assert client["metadata"]["namespace"] == "shop"
    assert client["spec"] == {
        "podSelector": {"matchLabels": {"app": "billing"}},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
                        "podSelector": {"matchLabels": {"istio": "egressgateway"}},
                    }
                ],
                # the pods' port behind the Service's 443
                "ports": [{"protocol": "TCP", "port": 8443}],
            },
            dns,
            istiod,
            # Every pod of the cluster on every port: the client keeps its in-cluster calls.
            {"to": [{"namespaceSelector": {}}]},
        ],
    }
    exit_policy = named(objects, "NetworkPolicy", "egress--orders-mongo--gateway")
    assert exit_policy["metadata"]["namespace"] == "istio-system"
    assert exit_policy["spec"]["podSelector"] == {"matchLabels": {"istio": "egressgateway"}}
    assert exit_policy["spec"]["egress"] == [
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.10/32"}}, {"ipBlock": {"cidr": "203.0.113.11/32"}}],
            "ports": [{"protocol": "TCP", "port": 27017}, {"protocol": "TCP", "port": 27018}],
        }
    ]
    base = named(objects, "NetworkPolicy", "egress--meshguard-egress--gateway")
    assert base["metadata"]["namespace"] == "istio-system"
    assert base["spec"]["egress"] == [dns, istiod, {"to": [{"namespaceSelector": {}}]}]
    assert len(of(objects, "NetworkPolicy")) == 5
    assert of(mtls((PG, PG_ADDRESSES)), "NetworkPolicy") == []
    # A lockdown, asked for: DNS and istiod only, besides the gateway (clients) and the blocks (gateway pods).
    locked = ruleset(PG, MONGO, network_policy=True, network_policy_lockdown=True)
    objects = render(locked, {"payments-db": PG_ADDRESSES, "orders-mongo": MONGO_ADDRESSES}, gateway=view)
    assert named(objects, "NetworkPolicy", "egress--payments-db")["spec"]["egress"][1:] == [dns, istiod]
    assert named(objects, "NetworkPolicy", "egress--meshguard-egress--gateway")["spec"]["egress"] == [dns, istiod]


def test_plain_network_policies_name_each_gateway_ports_target_port():
    rules = ruleset(MONGO, gateway={"mode": "plain"}, network_policy=True)
    ports = assign([("orders-mongo", 27017), ("orders-mongo", 27018)], {}, {}, range(40000, 40100))
    view = GatewayView(rules.egress_gateway, ports, {40000: 40000, 40001: "mongo-b"}, checked=True)
    client = named(
        render(rules, {"orders-mongo": MONGO_ADDRESSES}, gateway=view), "NetworkPolicy", "egress--orders-mongo"
    )
    assert client["spec"]["egress"][0]["ports"] == [
        {"protocol": "TCP", "port": 40000},
        {"protocol": "TCP", "port": "mongo-b"},
    ]


def test_allowed_sources_admit_only_those_clients_by_sni_and_the_sets_other_services_stay_open():
    limited = dict(PG, allowed_sources=["shop", "billing/api", "audit"])
    objects = mtls((limited, PG_ADDRESSES), (MONGO, MONGO_ADDRESSES))
    policy = named(objects, "AuthorizationPolicy", "egress--payments-db")
    assert policy["apiVersion"] == "security.istio.io/v1"
    assert policy["metadata"]["namespace"] == "istio-system"
    assert policy["spec"] == {
        "selector": {"matchLabels": {"istio": "egressgateway"}},
        "action": "ALLOW",
        "rules": [
            {
                "from": [
                    {"source": {"namespaces": ["audit", "shop"]}},
                    {"source": {"serviceAccounts": ["billing/api"]}},
                ],
                "when": [
                    {
                        "key": "connection.sni",
                        "values": [
                            "egress--payments-db--198-51-100-0--5432.shop.meshguard-egress.invalid",
                            "egress--payments-db--198-51-100-1--5432.shop.meshguard-egress.invalid",
                        ],
                    }
                ],
            }
        ],
    }
    # The first ALLOW policy on the gateway denies what no policy admits: the set's other services get one too.
    other = named(objects, "AuthorizationPolicy", "egress--orders-mongo")
    assert "from" not in other["spec"]["rules"][0]
    assert len(other["spec"]["rules"][0]["when"][0]["values"]) == 4
    # Without allowed_sources nothing makes the shared gateway deny-by-default.
    assert of(mtls((PG, PG_ADDRESSES), (MONGO, MONGO_ADDRESSES)), "AuthorizationPolicy") == []


# --- the legacy API -------------------------------------------------------------------------------------------


def legacy(*services, gateway=None, **extra):
    return ruleset(*services, gateway=gateway, api="config.istio.io/v1alpha2", **extra)


def test_legacy_egress_rules_use_the_egress_proxy():
    rules = legacy(PG, dict(MONGO, name="direct", egress_gateway=False))
    objects = render(rules, {"payments-db": PG_ADDRESSES, "direct": MONGO_ADDRESSES})
    assert {o["metadata"]["name"]: o["spec"].get("use_egress_proxy") for o in objects} == {
        "egress--payments-db--198-51-100-0-31": True,
        "egress--direct--203-0-113-10-32": None,
        "egress--direct--203-0-113-11-32": None,
    }
    assert {o["kind"] for o in objects} == {"EgressRule"}
    assert rendered_kinds(rules) == [BY_KEY[("config.istio.io", "EgressRule")]]


# --- kinds, write order, guardrail, schemas -------------------------------------------------------------------


def test_rendered_kinds_are_discovered_and_written_routes_after_what_they_route_to():
    rules = ruleset(dict(PG, allowed_sources=["shop"]), network_policy=True, registry_only=["shop"])
    objects = render(rules, {"payments-db": PG_ADDRESSES})
    kinds = rendered_kinds(rules)
    assert {o["kind"] for o in objects} == {k.kind for k in kinds}
    assert all(k in KINDS for k in kinds)  # discovery looks every kind up, so prune finds what a set left
    order = {k.kind: k.write_order for k in KINDS}
    for before in ("ServiceEntry", "DestinationRule", "Gateway", "AuthorizationPolicy"):
        assert order[before] < order["VirtualService"], before
    assert order["VirtualService"] < order["NetworkPolicy"] < order["Sidecar"]


def test_the_guardrail_covers_the_gateway_kinds():
    rules = ruleset(PG, guardrail={"writers": ["admin"]})
    policy = guardrail_objects(rules, [])[0]
    resources = {
        (r["apiGroups"][0], p) for r in policy["spec"]["matchConstraints"]["resourceRules"] for p in r["resources"]
    }
    assert resources >= {
        ("networking.istio.io", "gateways"),
        ("networking.istio.io", "virtualservices"),
        ("networking.istio.io", "destinationrules"),
        ("security.istio.io", "authorizationpolicies"),
    }


@pytest.fixture(scope="module")
def istio_schemas():
    return load_istio_schemas()


@pytest.mark.parametrize(
    "api", ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"]
)
@pytest.mark.parametrize("mode", ["mtls", "plain"])
def test_every_gateway_object_validates_against_istios_crds(istio_schemas, monkeypatch, api, mode):
    for message, rule in GATEWAY_CEL_RULES.items():
        monkeypatch.setitem(CEL_RULES, message, rule)
    single = dict(PG, hosts=["198.51.100.7"]) if mode == "plain" else dict(PG, allowed_sources=["shop", "billing/api"])
    addresses = ServiceAddresses(cidrs=("198.51.100.7/32",)) if mode == "plain" else PG_ADDRESSES
    rules = ruleset(
        single, MONGO, V6 if mode == "mtls" else dict(V6, hosts=["2001:db8::10"]), gateway={"mode": mode}, api=api
    )
    v6 = V6_ADDRESSES if mode == "mtls" else ServiceAddresses(cidrs=("2001:db8::10/128",))
    objects = render(rules, {"payments-db": addresses, "orders-mongo": many(256), "ledger": v6})
    kinds = {o["kind"] for o in objects}
    assert kinds >= {"ServiceEntry", "VirtualService", "Gateway", "DestinationRule"}
    for obj in objects:
        if obj["kind"] == "NetworkPolicy":
            continue
        schema = istio_schemas[(obj["apiVersion"], obj["kind"])]
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        assert schema_problems(body, schema, obj["metadata"]["name"]) == [], identity(obj)
        assert DNS1123_LABEL.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63


def test_a_service_left_out_because_it_did_not_resolve_keeps_the_gateway_wide_objects():
    # on_error=keep renders the services that resolved only; the view is of the whole set.
    whole = ruleset(dict(PG, allowed_sources=["shop"]), MONGO, network_policy=True)
    view = GatewayView(whole.egress_gateway, checked=True, authorize=True)
    resolved_only = dataclasses.replace(whole, services=whole.services[1:])
    objects = render(resolved_only, {"orders-mongo": MONGO_ADDRESSES}, gateway=view)
    # The payments-db policy stays live (kept), so orders-mongo still needs its own ...
    assert [o["metadata"]["name"] for o in of(objects, "AuthorizationPolicy")] == ["egress--orders-mongo"]
    # ... and the gateway pods keep istiod and DNS.
    assert "egress--meshguard-egress--gateway" in [o["metadata"]["name"] for o in of(objects, "NetworkPolicy")]


def test_the_rollouts_early_address_check_sees_services_with_gateway_options():
    service = dict(MONGO, allowed_sources=["shop"], egress_gateway=True)
    answer = {"host": "mongo.db.example.com", "addresses": ["169.254.169.254"], "cidrs": [], "cname_chain": []}
    found = refused_answers([service], [{**answer, "ttl": 30, "error": None}])
    assert [(r["service"], r["address"]) for r in found] == [("orders-mongo", "169.254.169.254")]


def test_rendered_files_keep_plain_modes_ports_like_live_gateways(tmp_path):
    mongo = dict(MONGO, hosts=["203.0.113.10"])
    spec = {"set": "egress", "namespace": "shop", "egress_gateway": {"mode": "plain"}, "services": [mongo]}
    first = run(Settings(spec=spec, state="rendered", dest=str(tmp_path)), None)
    assert first["egress_gateway"]["ports"] == {"orders-mongo": {"27017": 40000, "27018": 40001}}
    # "billing" sorts first; from scratch it would take 40000.
    billing = dict(PG, name="billing", hosts=["198.51.100.7"])
    second = run(Settings(spec={**spec, "services": [billing, mongo]}, state="rendered", dest=str(tmp_path)), None)
    assert second["egress_gateway"]["ports"] == {
        "billing": {"5432": 40002},
        "orders-mongo": {"27017": 40000, "27018": 40001},
    }
