# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ambient mode: the input checks, what is rendered per namespace, the write order, and the CRD schemas.

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
from test_gateway import GATEWAY_CEL_RULES
from test_render import CEL_RULES, DNS1123_LABEL, load_istio_schemas, schema_problems

from ansible_collections.meshguard.egress.plugins.module_utils._ambient.cluster import (
    admits,
    selects,
    waypoint_problems,
)
from ansible_collections.meshguard.egress.plugins.module_utils._ambient.spec import Waypoint
from ansible_collections.meshguard.egress.plugins.module_utils._cluster.plan import UNCHANGED, make_plan, with_hash
from ansible_collections.meshguard.egress.plugins.module_utils._engine import NO_CLUSTER_WAYPOINT, run
from ansible_collections.meshguard.egress.plugins.module_utils._istio_versions import (
    AMBIENT_CIDRS,
    MAX_EXPANDED_ADDRESSES,
    NEWEST,
)
from ansible_collections.meshguard.egress.plugins.module_utils._kinds import BY_KEY, KINDS, identity
from ansible_collections.meshguard.egress.plugins.module_utils._policy.guardrail import guardrail_objects
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings
from ansible_collections.meshguard.egress.plugins.module_utils._render import (
    RenderError,
    ServiceAddresses,
    render,
    rendered_kinds,
)
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError, validate_ruleset, with_dataplanes

FILES = Path(__file__).parent / "files"
WAYPOINT = {"name": "egress-waypoint", "namespace": "istio-egress"}
PG = {"name": "payments-db", "hosts": ["198.51.100.0/28"], "ports": [{"number": 5432, "protocol": "TCP"}]}
PG_ADDRESSES = ServiceAddresses(cidrs=("198.51.100.0/28",))
MONGO = {
    "name": "orders-mongo",
    "hosts": ["mongo.db.example.com"],
    "ports": [{"number": 27017, "protocol": "MONGO"}],
    "namespace": "orders",
}
MONGO_ADDRESSES = ServiceAddresses(cidrs=("203.0.113.10/31",), sources=("mongo.db.example.com",))
ADDRESSES = {"payments-db": PG_ADDRESSES, "orders-mongo": MONGO_ADDRESSES}


def ruleset(*services, **extra):
    spec = {"set": "egress", "namespace": "shop", "dataplane": "ambient", "waypoint": dict(WAYPOINT)}
    spec.update(extra)
    spec["services"] = [copy.deepcopy(s) for s in services]
    return validate_ruleset(spec)


def errors(*services, **extra):
    with pytest.raises(SpecError) as caught:
        ruleset(*services, **extra)
    return caught.value.errors


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


# --- a set over both kinds of namespace (dataplane auto) -------------------------------------------------


def auto(*services, ambient=(), **extra):
    return with_dataplanes(ruleset(*services, dataplane="auto", **extra), ambient)


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


def test_auto_cannot_be_rendered_without_a_cluster():
    spec = {"set": "egress", "dataplane": "auto", "waypoint": WAYPOINT, "services": [PG]}
    with pytest.raises(SpecError, match=r"dataplane auto reads each namespace's istio\.io/dataplane-mode label"):
        run(Settings(spec=spec, state="rendered"), None)


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


def test_an_ambient_service_cannot_go_through_the_egress_gateway():
    (error,) = errors(PG, egress_gateway={})
    assert error.startswith("services[0] 'payments-db': egress_gateway: namespace 'shop' is in ambient mode")
    assert ruleset(dict(PG, egress_gateway=False), egress_gateway={}).services


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


def test_below_1_30_too_many_addresses_are_refused_before_anything_is_resolved():
    (error,) = errors(dict(PG, hosts=["10.20.0.0/21"]), istio_version="1.29")
    assert error == (
        f"services[0] 'payments-db': hosts: hosts[0] 10.20.0.0/21 hold 2048 addresses; below Istio 1.30 ztunnel takes "
        f"no CIDR blocks, so in ambient mode each address is listed on its own, at most {MAX_EXPANDED_ADDRESSES} per "
        "service (istio_version 1.29): list narrower blocks, split the service, or target Istio 1.30 or later"
    )
    assert ruleset(dict(PG, hosts=["10.20.0.0/21"]))  # 1.30 and later take the block
    assert AMBIENT_CIDRS == (1, 30)


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


# --- the unmanaged waypoint's check ----------------------------------------------------------------------------

READY = {
    "metadata": {
        "name": "egress-waypoint",
        "namespace": "istio-egress",
        "labels": {"istio.io/waypoint-for": "service"},
    },
    "spec": {"gatewayClassName": "istio-waypoint", "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]},
}
MINE = Waypoint("egress-waypoint", "istio-egress")


def test_an_existing_waypoint_that_fits_has_no_problem():
    assert waypoint_problems(MINE, READY, {"istio-egress": {}}) == []
    everyone = copy.deepcopy(READY)
    everyone["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    assert waypoint_problems(MINE, everyone, {"shop": {}, "orders": {}}) == []


def test_a_waypoint_that_cannot_carry_the_set_lists_every_problem():
    assert waypoint_problems(MINE, None, {})[0].startswith(
        "the waypoint istio-egress/egress-waypoint (waypoint.name, waypoint.namespace) does not exist"
    )
    wrong = copy.deepcopy(READY)
    wrong["spec"]["gatewayClassName"] = "istio"
    wrong["metadata"]["labels"]["istio.io/waypoint-for"] = "workload"
    assert waypoint_problems(MINE, wrong, {"shop": {}}) == [
        "the waypoint istio-egress/egress-waypoint has gatewayClassName 'istio', not 'istio-waypoint'",
        "the waypoint istio-egress/egress-waypoint is labelled istio.io/waypoint-for=workload: it takes no service "
        "traffic (istiod wants service or all)",
        "the waypoint istio-egress/egress-waypoint does not admit ServiceEntries from namespace 'shop' (its HBONE "
        "listener's allowedRoutes): add the namespace to waypoint.allowed_namespaces of the set that manages it",
    ]
    no_hbone = copy.deepcopy(READY)
    no_hbone["spec"]["listeners"] = [{"name": "http", "port": 80, "protocol": "HTTP"}]
    assert waypoint_problems(MINE, no_hbone, {}) == [
        "the waypoint istio-egress/egress-waypoint has no HBONE listener on port 15008"
    ]


def test_label_selectors_are_evaluated_as_kubernetes_does():
    team = {"team": "db", "kubernetes.io/metadata.name": "shop"}
    assert selects({}, team)
    assert selects({"matchLabels": {"team": "db"}}, team)
    assert not selects({"matchLabels": {"team": "web"}}, team)
    assert selects({"matchExpressions": [{"key": "team", "operator": "In", "values": ["db", "x"]}]}, team)
    assert not selects({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["db"]}]}, team)
    assert selects({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, team)
    assert not selects({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, team)
    assert not selects({"matchExpressions": [{"key": "team", "operator": "Gt", "values": ["1"]}]}, team)


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
