# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ambient mode: what is rendered per namespace, the write order, and the CRD schemas (the input checks
are in test_spec.py, the checks of a live waypoint in test_cluster.py).

The objects must agree the way istiod joins them (the policy's targetRef is the
ServiceEntry's object name in its namespace, the label names the waypoint, the
waypoint admits the namespace): the tests follow those joins. What Istio makes
of them is the probe's to show (tests/integration, part B of issue 14).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from ansible_collections.meshguard.egress.plugins.module_utils._ambient.cluster import admits
from ansible_collections.meshguard.egress.plugins.module_utils._ambient.render import (
    ambient_export_to,
    ambient_warnings,
    base_network_policy_name,
    waypoint_labels,
    waypoint_objects,
)
from ansible_collections.meshguard.egress.plugins.module_utils._ambient.spec import Waypoint
from ansible_collections.meshguard.egress.plugins.module_utils._cluster.plan import UNCHANGED, make_plan, with_hash
from ansible_collections.meshguard.egress.plugins.module_utils._engine import NO_CLUSTER_WAYPOINT, run
from ansible_collections.meshguard.egress.plugins.module_utils._istio_versions import NEWEST
from ansible_collections.meshguard.egress.plugins.module_utils._kinds import BY_KEY, KINDS, identity
from ansible_collections.meshguard.egress.plugins.module_utils._policy.guardrail import guardrail_objects
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings
from ansible_collections.meshguard.egress.plugins.module_utils._render import (
    RenderError,
    ServiceAddresses,
    render,
    rendered_kinds,
)
from ansible_collections.meshguard.egress.plugins.module_utils._spec import with_dataplanes
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import AMBIENT_PG as PG
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import AMBIENT_WAYPOINT as WAYPOINT
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import (
    CEL_RULES,
    DNS1123_LABEL,
    GATEWAY_CEL_RULES,
    load_istio_schemas,
    schema_problems,
)
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import ambient_auto as auto
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import ambient_errors as errors
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import ambient_ruleset as ruleset

FILES = Path(__file__).parents[1] / "files"
PG_ADDRESSES = ServiceAddresses(cidrs=("198.51.100.0/28",))
MONGO = {
    "name": "orders-mongo",
    "hosts": ["mongo.db.example.com"],
    "ports": [{"number": 27017, "protocol": "MONGO"}],
    "namespace": "orders",
}
MONGO_ADDRESSES = ServiceAddresses(cidrs=("203.0.113.10/31",), sources=("mongo.db.example.com",))
ADDRESSES = {"payments-db": PG_ADDRESSES, "orders-mongo": MONGO_ADDRESSES}


def of(objects, kind, namespace=None):
    return [o for o in objects if o["kind"] == kind and namespace in (None, o["metadata"]["namespace"])]


def labels(obj):
    return obj["metadata"]["labels"]


# --- what ambient renders ------------------------------------------------------------------------------


def test_each_service_entry_is_bound_to_the_waypoint_and_guarded_by_its_own_policy():
    objects = render(ruleset(dict(PG, allowed_sources=["shop", "billing/api"]), MONGO), ADDRESSES)
    entries = of(objects, "ServiceEntry")
    policies = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in of(objects, "AuthorizationPolicy")}
    assert len(entries) == len(policies) == 2
    for entry in entries:
        namespace, name = entry["metadata"]["namespace"], entry["metadata"]["name"]
        # istiod: the SE label names the waypoint, the namespace label where it lives (fetchWaypointForService).
        assert labels(entry)["istio.io/use-waypoint"] == "egress-waypoint"
        assert labels(entry)["istio.io/use-waypoint-namespace"] == "istio-egress"
        # NONE: at the waypoint an ORIGINAL_DST cluster, the address dialled (convertResolution).
        assert entry["spec"]["resolution"] == "NONE"
        # ShouldAttachPolicy: same namespace, targetRef name == the SE's object name.
        policy = policies[(namespace, name)]
        assert policy["spec"]["targetRefs"] == [{"group": "networking.istio.io", "kind": "ServiceEntry", "name": name}]
        assert policy["spec"]["action"] == "ALLOW"
        (rule,) = policy["spec"]["rules"]
        ports = [str(p["number"]) for p in entry["spec"]["ports"]]
        assert rule["to"] == [{"operation": {"ports": ports}}]
    # One object per block, named by it (the waypoint serves one address of an object).
    pg = policies[("shop", "egress--payments-db--198-51-100-0-28")]["spec"]["rules"][0]["from"]
    assert pg == [{"source": {"namespaces": ["shop"]}}, {"source": {"serviceAccounts": ["billing/api"]}}]
    # No allowed_sources: the service's own namespace, never anyone.
    mongo = policies[("orders", "egress--orders-mongo--203-0-113-10-31")]["spec"]["rules"][0]["from"]
    assert mongo == [{"source": {"namespaces": ["orders"]}}]


def test_a_waypoint_in_the_service_entrys_own_namespace_needs_no_namespace_label():
    objects = render(ruleset(PG, waypoint={"name": "waypoint"}), ADDRESSES)
    (entry,) = of(objects, "ServiceEntry")
    assert labels(entry)["istio.io/use-waypoint"] == "waypoint"
    assert "istio.io/use-waypoint-namespace" not in labels(entry)
    assert of(objects, "Gateway") == []  # not managed: the set only checks it


def test_the_managed_waypoint_admits_the_sets_namespaces_and_the_allowed_ones():
    rules = ruleset(PG, MONGO, waypoint=dict(WAYPOINT, manage=True, allowed_namespaces=["billing"]))
    (gateway,) = of(render(rules, ADDRESSES), "Gateway")
    assert gateway["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert (gateway["metadata"]["namespace"], gateway["metadata"]["name"]) == ("istio-egress", "egress-waypoint")
    assert labels(gateway)["istio.io/waypoint-for"] == "service"
    assert gateway["spec"]["gatewayClassName"] == "istio-waypoint"
    (listener,) = gateway["spec"]["listeners"]
    assert (listener["name"], listener["port"], listener["protocol"]) == ("mesh", 15008, "HBONE")
    # What istiod's AllowsAttachmentFromNamespaceOrLookup evaluates, evaluated the same way.
    for namespace, admitted in (("shop", True), ("orders", True), ("billing", True), ("other", False)):
        assert admits(listener, "istio-egress", namespace, {"kubernetes.io/metadata.name": namespace}) is admitted


def test_a_waypoint_used_only_from_its_own_namespace_keeps_the_default_same():
    rules = ruleset(PG, waypoint={"name": "waypoint", "manage": True})
    (gateway,) = of(render(rules, ADDRESSES), "Gateway")
    assert "allowedRoutes" not in gateway["spec"]["listeners"][0]


def test_network_policies_send_the_clients_to_the_waypoint_and_the_waypoint_to_the_addresses():
    service = dict(PG, network_policy={"pod_selector": {"app": "checkout"}})
    objects = render(ruleset(service, network_policy=True), ADDRESSES)
    policies = {(p["metadata"]["namespace"], p["metadata"]["name"]): p["spec"] for p in of(objects, "NetworkPolicy")}
    assert sorted(policies) == [
        ("istio-egress", "egress--meshguard-egress--waypoint"),
        ("istio-egress", "egress--payments-db--waypoint"),
        ("shop", "egress--payments-db"),
    ]
    waypoint_pods = {"gateway.networking.k8s.io/gateway-name": "egress-waypoint"}
    client = policies[("shop", "egress--payments-db")]
    assert client["podSelector"] == {"matchLabels": {"app": "checkout"}}
    first = client["egress"][0]
    assert first["to"][0]["podSelector"] == {"matchLabels": waypoint_pods}
    assert first["to"][0]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "istio-egress"}}
    assert first["ports"] == [{"protocol": "TCP", "port": 15008}]
    # Nothing of the client's policy leads to the service's addresses: only through the waypoint
    # (and DNS, istiod, every pod of the cluster).
    assert all("ipBlock" not in peer for rule in client["egress"] for peer in rule["to"])
    assert client["egress"][-1] == {"to": [{"namespaceSelector": {}}]}
    exit_policy = policies[("istio-egress", "egress--payments-db--waypoint")]
    assert exit_policy["podSelector"] == {"matchLabels": waypoint_pods}
    assert exit_policy["egress"] == [
        {"to": [{"ipBlock": {"cidr": "198.51.100.0/28"}}], "ports": [{"protocol": "TCP", "port": 5432}]}
    ]
    base = policies[("istio-egress", "egress--meshguard-egress--waypoint")]
    assert base["podSelector"] == {"matchLabels": waypoint_pods}
    assert {p["port"] for rule in base["egress"] for p in rule.get("ports", [])} == {53, 15012}
    assert base["egress"][-1] == {"to": [{"namespaceSelector": {}}]}


@pytest.mark.parametrize(
    ("allowed_sources", "export_to", "want"),
    [
        # The default source, the service's own namespace (shop): "." as Istio writes it.
        (None, None, ["."]),
        # Whole namespaces by name, the own one as "."; a service account's namespace is not added.
        (["shop", "billing", "reports/api"], None, [".", "billing"]),
        # Service accounts only: no sidecar sees the entries (ztunnel ignores exportTo).
        (["billing/api"], None, ["~"]),
        # The user's export_to as given.
        (["billing/api"], ["*"], ["*"]),
    ],
)
def test_ambient_entries_are_exported_only_to_the_namespaces_allowed_whole(allowed_sources, export_to, want):
    # A sidecar that sees an ambient ServiceEntry routes it past the waypoint (docs/docsite/rst/rendering.rst).
    service = dict(PG, allowed_sources=allowed_sources, export_to=export_to)
    objects = render(ruleset(service), {"payments-db": PG_ADDRESSES})
    (entry,) = of(objects, "ServiceEntry")
    assert entry["spec"]["exportTo"] == want


def test_export_to_warns_that_ztunnel_ignores_it():
    result = run(
        Settings(
            spec={
                "set": "egress",
                "namespace": "shop",
                "dataplane": "ambient",
                "waypoint": WAYPOINT,
                "services": [dict(PG, export_to=["."])],
            },
            state="rendered",
        ),
        None,
    )
    assert any("in ambient mode export_to limits sidecar clients only" in w for w in result["warnings"])
    assert NO_CLUSTER_WAYPOINT in result["warnings"]


def test_auto_renders_each_namespace_as_its_label_says():
    rules = auto(PG, MONGO, ambient=["orders"])
    objects = render(rules, ADDRESSES)
    by_name = {o["metadata"]["name"]: o for o in of(objects, "ServiceEntry")}
    assert "istio.io/use-waypoint" not in labels(by_name["egress--payments-db"])
    assert labels(by_name["egress--orders-mongo--203-0-113-10-31"])["istio.io/use-waypoint"] == "egress-waypoint"
    assert [p["metadata"]["namespace"] for p in of(objects, "AuthorizationPolicy")] == ["orders"]


def test_switching_a_namespace_replaces_the_service_entry_before_removing_the_old_one():
    sidecar = render(auto(PG, network_policy=True), ADDRESSES)
    ambient = render(auto(PG, network_policy=True, ambient=["shop"]), ADDRESSES)
    (before,), (after,) = of(sidecar, "ServiceEntry"), of(ambient, "ServiceEntry")
    # Ambient objects are one per block (per_address names): the same addresses and ports under another name.
    assert identity(before) != identity(after)
    assert after["metadata"]["name"] == "egress--payments-db--198-51-100-0-28"
    assert (before["spec"]["addresses"], before["spec"]["ports"]) == (
        after["spec"]["addresses"],
        after["spec"]["ports"],
    )
    # The client NetworkPolicy keeps its name: updated in place, never a moment without one.
    assert {identity(o) for o in of(sidecar, "NetworkPolicy", "shop")} == {
        identity(o) for o in of(ambient, "NetworkPolicy", "shop")
    }
    live = [with_hash(o) for o in sidecar]
    plan = make_plan([with_hash(o) for o in ambient], live, [])
    actions = {(c.action, c.obj["kind"]) for c in plan.changes}
    assert {("create", "ServiceEntry"), ("delete", "ServiceEntry"), ("create", "AuthorizationPolicy")} <= actions


def test_one_istio_revision_per_set_and_the_managed_waypoint_carries_it():
    (error,) = errors(dict(PG, labels={"istio.io/rev": "canary"}), MONGO)
    assert "give different 'istio.io/rev' labels ('canary', none)" in error
    rules = ruleset(
        dict(PG, labels={"istio.io/rev": "canary"}),
        dict(MONGO, labels={"istio.io/rev": "canary"}),
        waypoint=dict(WAYPOINT, manage=True),
    )
    objects = render(rules, ADDRESSES)
    assert {labels(o).get("istio.io/rev") for o in objects} == {"canary"}


# --- Istio versions: CIDRs below 1.30 ------------------------------------------------------------------------


def test_the_default_version_is_the_newest_and_keeps_cidr_blocks():
    assert ruleset(PG).istio_version == NEWEST == (1, 31)
    (entry,) = of(render(ruleset(PG), ADDRESSES), "ServiceEntry")
    assert entry["spec"]["addresses"] == ["198.51.100.0/28"]
    (entry,) = of(render(ruleset(PG, istio_version="1.30.2"), ADDRESSES), "ServiceEntry")
    assert entry["spec"]["addresses"] == ["198.51.100.0/28"]


def test_below_1_30_blocks_are_listed_address_by_address_exactly():
    entries = of(render(ruleset(PG, istio_version="1.29"), ADDRESSES), "ServiceEntry")
    assert sorted(e["spec"]["addresses"] for e in entries) == sorted([f"198.51.100.{i}/32"] for i in range(16))
    v6 = dict(PG, hosts=["2001:db8::/126"])
    entries = of(
        render(ruleset(v6, istio_version="1.28"), {"payments-db": ServiceAddresses(cidrs=("2001:db8::/126",))}),
        "ServiceEntry",
    )
    assert sorted(e["spec"]["addresses"] for e in entries) == [
        ["2001:db8::/128"],
        ["2001:db8::1/128"],
        ["2001:db8::2/128"],
        ["2001:db8::3/128"],
    ]
    # Sidecar namespaces of an auto set keep their blocks: the rule is ztunnel's.
    rules = with_dataplanes(ruleset(PG, MONGO, dataplane="auto", istio_version="1.29"), ["orders"])
    entries = {o["metadata"]["name"]: o for o in of(render(rules, ADDRESSES), "ServiceEntry")}
    assert entries["egress--payments-db"]["spec"]["addresses"] == ["198.51.100.0/28"]
    assert entries["egress--orders-mongo--203-0-113-10-32"]["spec"]["addresses"] == ["203.0.113.10/32"]
    assert entries["egress--orders-mongo--203-0-113-11-32"]["spec"]["addresses"] == ["203.0.113.11/32"]


def test_one_address_or_block_per_service_entry_each_bound_and_with_its_own_policy():
    # Istio's waypoint serves one address of a ServiceEntry that has several
    # (test_probe_ambient shows it live), so every ambient object holds one.
    two = dict(PG, hosts=["10.20.0.0/24", "10.30.0.0/24"])
    given = {"payments-db": ServiceAddresses(cidrs=("10.20.0.0/24", "10.30.0.0/24"))}
    for version, count in (("1.30", 2), ("1.29", 512)):
        objects = render(ruleset(two, istio_version=version), given)
        entries = of(objects, "ServiceEntry")
        assert len(entries) == count
        assert all(len(e["spec"]["addresses"]) == 1 for e in entries)
        targets = sorted(t["name"] for p in of(objects, "AuthorizationPolicy") for t in p["spec"]["targetRefs"])
        assert targets == sorted(e["metadata"]["name"] for e in entries)
        assert all(labels(e)["istio.io/use-waypoint"] == "egress-waypoint" for e in entries)
        assert all(len(p["spec"]["targetRefs"]) == 1 for p in of(objects, "AuthorizationPolicy"))


def test_below_1_30_a_block_widened_by_aggregation_is_refused_at_render():
    rules = ruleset(dict(PG, hosts=["db.example.com"]), istio_version="1.29")
    with pytest.raises(RenderError, match=r"2048 addresses after resolution and aggregation; below Istio 1.30"):
        render(rules, {"payments-db": ServiceAddresses(cidrs=("10.20.0.0/21",), sources=("db.example.com",))})


# --- kinds, write order, guardrail, status -------------------------------------------------------------------


def test_the_policy_is_written_before_the_service_entry_and_the_waypoint_first():
    rules = ruleset(PG, network_policy=True, waypoint=dict(WAYPOINT, manage=True))
    objects = render(rules, ADDRESSES)
    kinds = rendered_kinds(rules)
    assert {(o["apiVersion"].rpartition("/")[0], o["kind"]) for o in objects} == {k.key for k in kinds}
    assert all(k in KINDS for k in kinds)
    waypoint = BY_KEY[("gateway.networking.k8s.io", "Gateway")]
    policy = BY_KEY[("security.istio.io", "AuthorizationPolicy")]
    entry = BY_KEY[("networking.istio.io", "ServiceEntry")]
    # An SE bound before its policy exists is open to all sources; deletes run in reverse.
    assert waypoint.write_order < policy.write_order < entry.write_order
    assert "Gateway API CRDs are not installed" in waypoint.missing_hint
    guardrail = BY_KEY[("admissionregistration.k8s.io", "ValidatingAdmissionPolicy")]
    assert guardrail.write_order < waypoint.write_order


def test_the_guardrail_covers_the_waypoint_and_its_policies():
    policy = guardrail_objects(ruleset(PG, guardrail={"writers": ["admin"]}), [])[0]
    resources = {
        (r["apiGroups"][0], p) for r in policy["spec"]["matchConstraints"]["resourceRules"] for p in r["resources"]
    }
    assert {("gateway.networking.k8s.io", "gateways"), ("security.istio.io", "authorizationpolicies")} <= resources


def test_status_written_by_istiod_is_not_a_change():
    desired = [with_hash(o) for o in render(ruleset(PG, waypoint=dict(WAYPOINT, manage=True)), ADDRESSES)]
    live = copy.deepcopy(desired)
    for obj in live:
        obj["status"] = {
            "conditions": [{"type": "istio.io/WaypointBound", "status": "True", "reason": "WaypointAccepted"}],
            "addresses": [{"type": "Hostname", "value": "egress-waypoint.istio-egress.svc.cluster.local"}],
        }
        # The API server's defaults on the Gateway's listener are not ours either.
        for listener in obj["spec"].get("listeners", ()):
            listener.setdefault("allowedRoutes", {"namespaces": {"from": "Same"}})
    plan = make_plan(desired, live, [])
    assert {c.action for c in plan.changes} == {UNCHANGED}


# --- CRD schemas -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schemas():
    found = load_istio_schemas()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((FILES / "gateway.networking.k8s.io_gateways.yaml").read_text(), Loader=loader)
    for version in crd["spec"]["versions"]:
        found[(f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])] = version["schema"][
            "openAPIV3Schema"
        ]
    return found


# The Gateway API's CEL rules on the listeners, in Python (their messages as the CRD has them).
WAYPOINT_CEL_RULES = {
    "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']": lambda n: all(
        "tls" not in item for item in n if item.get("protocol") in ("HTTP", "TCP", "UDP")
    ),
    "tls mode must be Terminate for protocol HTTPS": lambda n: all(
        item.get("protocol") != "HTTPS" or (item.get("tls") or {}).get("mode", "Terminate") == "Terminate" for item in n
    ),
    "tls mode must be set for protocol TLS": lambda n: all(
        item.get("protocol") != "TLS" or "mode" in (item.get("tls") or {}) for item in n
    ),
    "hostname must not be specified for protocols ['TCP', 'UDP']": lambda n: all(
        "hostname" not in item for item in n if item.get("protocol") in ("TCP", "UDP")
    ),
    "Listener name must be unique within the Gateway": lambda n: len({i["name"] for i in n}) == len(n),
    "Combination of port, protocol and hostname must be unique for each listener": lambda n: (
        len({(i["port"], i["protocol"], i.get("hostname")) for i in n}) == len(n)
    ),
}


@pytest.mark.parametrize("api", ["networking.istio.io/v1", "networking.istio.io/v1beta1"])
def test_every_ambient_object_validates_against_its_crd(schemas, monkeypatch, api):
    for message, rule in {**GATEWAY_CEL_RULES, **WAYPOINT_CEL_RULES}.items():
        monkeypatch.setitem(CEL_RULES, message, rule)
    rules = ruleset(
        dict(PG, allowed_sources=["shop", "billing/api"], hosts=["10.20.0.0/23"]),
        MONGO,
        api=api,
        istio_version="1.29",
        waypoint=dict(WAYPOINT, manage=True, allowed_namespaces=["billing"]),
    )
    objects = render(rules, {"payments-db": ServiceAddresses(cidrs=("10.20.0.0/23",)), "orders-mongo": MONGO_ADDRESSES})
    assert {o["kind"] for o in objects} == {"ServiceEntry", "AuthorizationPolicy", "Gateway"}
    for obj in objects:
        schema = schemas[(obj["apiVersion"], obj["kind"])]
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        assert schema_problems(body, schema, obj["metadata"]["name"]) == [], identity(obj)
        assert DNS1123_LABEL.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63


def test_the_schema_check_catches_a_bad_waypoint_and_policy(schemas, monkeypatch):
    for message, rule in {**GATEWAY_CEL_RULES, **WAYPOINT_CEL_RULES}.items():
        monkeypatch.setitem(CEL_RULES, message, rule)
    gateway = schemas[("gateway.networking.k8s.io/v1", "Gateway")]
    listener = {"name": "mesh", "port": 15008, "protocol": "HBONE"}
    bad = {"spec": {"gatewayClassName": "istio-waypoint", "listeners": [listener, dict(listener, port=15009)]}}
    assert sorted(schema_problems(bad, gateway)) == [
        "spec.listeners: Listener name must be unique within the Gateway",
        "spec.listeners: duplicate list-map keys ['name']",
    ]
    policy = schemas[("security.istio.io/v1", "AuthorizationPolicy")]
    ref = {"group": "networking.istio.io", "kind": "ServiceEntry", "name": "a"}
    too_many = {"spec": {"targetRefs": [dict(ref, name=f"se-{i}") for i in range(17)], "action": "ALLOW"}}
    assert any("maxItems 16" in p for p in schema_problems(too_many, policy))


def test_a_service_left_out_because_it_did_not_resolve_keeps_the_waypoint():
    whole = ruleset(PG, MONGO, waypoint=dict(WAYPOINT, manage=True), network_policy=True)
    resolved_only = dataclasses.replace(whole, services=())
    objects = render(resolved_only, {}, ambient_in_use=whole.has_ambient)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("Gateway", "egress-waypoint"),
        ("NetworkPolicy", "egress--meshguard-egress--waypoint"),
    ]


def test_address_retention_rewrites_the_service_entry_only():
    retained = ServiceAddresses(cidrs=("203.0.113.10/31",), sources=("mongo.db.example.com",), last_seen='{"x":""}')
    objects = render(ruleset(MONGO), {"orders-mongo": retained})
    (entry,) = of(objects, "ServiceEntry")
    (policy,) = of(objects, "AuthorizationPolicy")
    assert entry["metadata"]["annotations"]["meshguard.egress/last-seen"] == '{"x":""}'
    assert "meshguard.egress/last-seen" not in policy["metadata"]["annotations"]


# --- the ambient renderer's own functions ------------------------------------------------------------------


def test_the_waypoint_labels_name_its_namespace_only_when_it_lives_elsewhere():
    elsewhere = ruleset(PG).services[0]
    assert waypoint_labels(elsewhere, Waypoint("egress-waypoint", "istio-egress")) == {
        "istio.io/use-waypoint": "egress-waypoint",
        "istio.io/use-waypoint-namespace": "istio-egress",
    }
    assert waypoint_labels(elsewhere, Waypoint("egress-waypoint", "shop")) == {
        "istio.io/use-waypoint": "egress-waypoint"
    }


def test_export_to_is_what_allowed_sources_admits_whole_or_the_users_own():
    (own,) = ruleset(PG).services
    assert ambient_export_to(own) == ["."]
    (some,) = ruleset(dict(PG, allowed_sources=["shop", "billing", "audit/reader"])).services
    assert ambient_export_to(some) == [".", "billing"]  # a service account's namespace is not opened to sidecars
    (accounts,) = ruleset(dict(PG, allowed_sources=["audit/reader"])).services
    assert ambient_export_to(accounts) == ["~"]
    (given,) = ruleset(dict(PG, export_to=["billing", "."])).services
    assert ambient_export_to(given) == [".", "billing"]


def test_export_to_given_on_an_ambient_service_is_a_warning_naming_it():
    assert ambient_warnings(ruleset(PG)) == []
    (warning,) = ambient_warnings(ruleset(dict(PG, export_to=["billing"])))
    assert warning.startswith("service 'payments-db': in ambient mode export_to limits sidecar clients only")


def test_no_waypoint_objects_without_an_ambient_service_unless_the_whole_set_has_one():
    def metadata(name, namespace, labels=None):
        return {"name": name, "namespace": namespace, "labels": labels or {}}

    managed = dict(WAYPOINT, manage=True)
    objects = waypoint_objects(ruleset(PG, waypoint=managed, network_policy=True), metadata)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Gateway", "egress-waypoint"),
        ("NetworkPolicy", base_network_policy_name("egress")),
    ]
    sidecar_only = auto(PG, waypoint=managed)
    assert waypoint_objects(sidecar_only, metadata) == []
    assert [o["kind"] for o in waypoint_objects(sidecar_only, metadata, in_use=True)] == ["Gateway"]
