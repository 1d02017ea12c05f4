# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A refused address in a rule set: what the pipeline does with it, no network.

The service is treated as not resolved (all or nothing), the message names
service, host, address and range, retention never brings a refused address
back, and the rule set's own literals are bad input. The property tests
generate DNS answers mixing allowed and refused addresses.
"""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.meshguard.egress.plugins.module_utils._addresses import AggregateOptions
from ansible_collections.meshguard.egress.plugins.module_utils._desired import desired_objects
from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import lookup
from ansible_collections.meshguard.egress.plugins.module_utils._dns.results import HostResult, ResolveError
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._policy.judge import CLUSTER, AddressPolicy, Range
from ansible_collections.meshguard.egress.plugins.module_utils._policy.refusals import (
    as_dicts,
    literal_problems,
    refusal_of,
    refused_addresses,
    summarised,
)
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings, prepare
from ansible_collections.meshguard.egress.plugins.module_utils._retain import LAST_SEEN_ANNOTATION
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError, validate_ruleset
from ansible_collections.meshguard.egress.plugins.module_utils._terms import KIND_ADDRESS
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import PIPELINE_TCP as TCP
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import policy_svc as svc

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone.utc)
SERVICE_CIDR = Range("10.96.0.0/12", "the cluster's Service range", "ServiceCIDR kubernetes on context prod", CLUSTER)


def detail(host, *addresses, chain=()):
    return {
        "host": host,
        "addresses": list(addresses),
        "cidrs": [],
        "cname_chain": list(chain),
        "ttl": 30,
        "error": None,
    }


def prepared(services, resolved, **settings):
    spec = {"set": "shop", "namespace": "db", "network_policy": True, "services": services}
    return prepare(Settings(spec=spec, resolved=resolved, now=NOW, **settings))


def addresses_of(objects, service):
    """Every address an object of the service allows: ServiceEntry addresses and NetworkPolicy ipBlocks."""
    found = set()
    for obj in objects:
        if obj["metadata"].get("annotations", {}).get("meshguard.egress/service") != service:
            continue
        spec = obj["spec"]
        found.update(spec.get("addresses", []))
        for rule in spec.get("egress", []):
            found.update(peer["ipBlock"]["cidr"] for peer in rule["to"] if "ipBlock" in peer)
    return found


def test_a_refused_answer_fails_the_run_naming_service_host_address_and_range():
    services = [svc("partner", "api.partner.test"), svc("db", "db.partner.test")]
    resolved = [
        detail("api.partner.test", "192.0.2.10", "169.254.169.254", chain=["edge.partner.test"]),
        detail("db.partner.test", "192.0.2.20"),
    ]
    run_ = prepared(services, resolved)
    with pytest.raises(MeshguardError) as caught:
        desired_objects(run_, run_.resolved)
    message = str(caught.value)
    assert message.startswith("DNS answered addresses that egress rules never allow, nothing was changed:\n- ")
    assert (
        "service 'partner': host api.partner.test (via CNAME edge.partner.test) answered 169.254.169.254: "
        "169.254.169.254 is in 169.254.169.254/32, cloud instance metadata endpoint" in message
    )
    assert "'db'" not in message


def test_with_keep_a_refused_service_keeps_its_live_objects_and_the_others_apply():
    services = [svc("partner", "api.partner.test"), svc("db", "db.partner.test")]
    resolved = [detail("api.partner.test", "192.0.2.10", "127.0.0.1"), detail("db.partner.test", "192.0.2.20")]
    run_ = prepared(services, resolved, on_error="keep")
    live = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {
                "name": "shop--partner",
                "namespace": "db",
                "annotations": {"meshguard.egress/service": "partner"},
            },
            "spec": {"addresses": ["192.0.2.10/32"]},
        }
    ]
    desired = desired_objects(run_, run_.resolved, live)
    assert addresses_of(desired.objects, "partner") == set()
    assert addresses_of(desired.objects, "db") == {"192.0.2.20/32"}
    assert desired.kept(live) == {("networking.istio.io", "ServiceEntry", "db", "shop--partner")}
    (refused,) = desired.refused
    assert {k: refused[k] for k in ("service", "host", "address", "range")} == {
        "service": "partner",
        "host": "api.partner.test",
        "address": "127.0.0.1",
        "range": "127.0.0.0/8",
    }
    (warning,) = [w for w in desired.warnings if "partner" in w]
    assert warning.startswith("service 'partner' is not applied, its live objects are kept as they are: service ")
    assert "answered 127.0.0.1: 127.0.0.1 is in 127.0.0.0/8, loopback (RFC 1122 §3.2.1.3)" in warning


def test_allow_ranges_open_a_private_answer_only_inside_them():
    resolved = [detail("db.corp.test", "10.20.0.5", "10.20.0.6")]
    with pytest.raises(MeshguardError) as caught:
        run_ = prepared([svc("db", "db.corp.test")], resolved)
        desired_objects(run_, run_.resolved)
    assert (
        "service 'db': host db.corp.test answered 2 addresses in 10.0.0.0/8, private-use (RFC 1918): 10.20.0.5, "
        "10.20.0.6: a private address, refused unless an allow_ranges block inside 10.0.0.0/8 accepts it knowingly"
        in str(caught.value)
    )
    run_ = prepared([svc("db", "db.corp.test", allow_ranges=["10.20.0.0/24"])], resolved)
    assert addresses_of(desired_objects(run_, run_.resolved).objects, "db") == {"10.20.0.5/32", "10.20.0.6/32"}
    run_ = prepared([svc("db", "db.corp.test", allow_ranges=["10.20.0.4/31"])], resolved)
    with pytest.raises(MeshguardError, match=r"10\.20\.0\.6 is in 10\.0\.0\.0/8"):
        desired_objects(run_, run_.resolved)


def test_the_cluster_service_range_is_refused_even_inside_a_broad_allow_range():
    run_ = prepared([svc("db", "db.corp.test", allow_ranges=["10.0.0.0/8"])], [detail("db.corp.test", "10.96.0.1")])
    with pytest.raises(MeshguardError) as caught:
        desired_objects(run_, run_.resolved, cluster=(SERVICE_CIDR,))
    assert (
        "10.96.0.1 is in 10.96.0.0/12, the cluster's Service range (ServiceCIDR kubernetes on context prod): "
        "inside the cluster, refused unless an allow_ranges block inside 10.96.0.0/12 accepts it knowingly "
        "(allow_ranges 10.0.0.0/8 is broader than 10.96.0.0/12, so it does not open it)" in str(caught.value)
    )
    assert desired_objects(run_, run_.resolved).objects  # without the cluster's ranges it would pass


def test_a_widened_answer_is_judged_as_rendered():
    run_ = prepared(
        [svc("pool", "pool.test")],
        [detail("pool.test", "100.63.255.1")],
        aggregation={"ipv4_prefix": 9, "broadest_prefix": {"ipv4": 8}},
    )
    with pytest.raises(MeshguardError) as caught:
        desired_objects(run_, run_.resolved)
    assert "answered 100.63.255.1 (widened to 100.0.0.0/9): 100.0.0.0/9 contains 100.64.0.0/10" in str(caught.value)


def test_literals_are_bad_input_named_by_service_and_field():
    with pytest.raises(SpecError) as caught:
        prepared([svc("db", "192.0.2.1", "127.0.0.1"), svc("cache", "c.test", addresses=["169.254.0.0/24"])], [])
    assert caught.value.errors == [
        "services[0] 'db': hosts[1]: 127.0.0.1 is in 127.0.0.0/8, loopback (RFC 1122 §3.2.1.3): not an external "
        "destination, refused unless an allow_ranges block inside 127.0.0.0/8 accepts it knowingly",
        "services[1] 'cache': addresses: 169.254.0.0/24 is in 169.254.0.0/16, link-local (RFC 3927): not an "
        "external destination, refused unless an allow_ranges block inside 169.254.0.0/16 accepts it knowingly",
    ]
    # A private literal is the user's own word; internal_ranges make it internal.
    assert prepared([svc("db", "10.20.0.5")], [])
    with pytest.raises(SpecError, match=r"hosts\[0\]: 10\.20\.0\.5 is in 10\.20\.0\.0/16, internal range"):
        prepared([svc("db", "10.20.0.5")], [], internal_ranges=["10.20.0.0/16"])
    assert prepared([svc("db", "10.20.0.5", allow_ranges=["10.20.0.0/24"])], [], internal_ranges=["10.20.0.0/16"])


def test_a_literal_in_the_cluster_range_fails_whatever_on_error_says():
    run_ = prepared([svc("db", "10.96.0.10")], [], on_error="keep")
    with pytest.raises(MeshguardError) as caught:
        desired_objects(run_, {}, cluster=(SERVICE_CIDR,))
    assert str(caught.value) == (
        "the rule set allows addresses that egress rules never allow, nothing was changed:\n"
        "- services[0] 'db': hosts[0]: 10.96.0.10 is in 10.96.0.0/12, the cluster's Service range (ServiceCIDR "
        "kubernetes on context prod): inside the cluster, refused unless an allow_ranges block inside 10.96.0.0/12 "
        "accepts it knowingly"
    )


def test_bad_allow_and_internal_ranges_are_named():
    with pytest.raises(SpecError) as caught:
        prepared(
            [svc("db", "db.test", allow_ranges=["db.corp.test"])],
            [detail("db.test", "192.0.2.1")],
            internal_ranges=["x/8"],
        )
    assert caught.value.errors[0].startswith("services[0] 'db': allow_ranges[0]: invalid term 'db.corp.test'")
    assert caught.value.errors[1].startswith("internal_ranges[0]: invalid term 'x/8'")


def test_retention_never_brings_a_refused_address_back():
    # 10.20.0.5 was allowed by allow_ranges when it was applied; now it is not, and DNS stopped returning it.
    run_ = prepared([svc("db", "db.corp.test")], [detail("db.corp.test", "192.0.2.7")], on_error="keep")
    live = [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {
                "name": "shop--db",
                "namespace": "db",
                "annotations": {
                    "meshguard.egress/service": "db",
                    LAST_SEEN_ANNOTATION: '{"10.20.0.5":"","192.0.2.6":""}',
                },
            },
            "spec": {"addresses": ["10.20.0.5/32", "192.0.2.6/32"]},
        }
    ]
    desired = desired_objects(run_, run_.resolved, live)
    assert addresses_of(desired.objects, "db") == {"192.0.2.6/31"}  # 192.0.2.6 retained, 10.20.0.5 not
    entry = next(o for o in desired.objects if o["kind"] == "ServiceEntry")
    assert "10.20.0.5" not in entry["metadata"]["annotations"][LAST_SEEN_ANNOTATION]
    assert any("10.20.0.5 is no longer retained: 10.20.0.5 is in 10.0.0.0/8" in w for w in desired.warnings)


def test_a_lookup_refusal_in_resolved_is_judged_again_with_the_services_allow_ranges():
    answer, _warnings = lookup(["10.20.0.5"])  # a literal: passes (private literals are the user's word)
    assert answer == ["10.20.0.5/32"]
    forbidden = detail("db.corp.test", "10.20.0.5")
    forbidden["error"] = {"type": "FORBIDDEN_ADDRESS", "message": "judged by the lookup without allow_ranges"}
    run_ = prepared([svc("db", "db.corp.test", allow_ranges=["10.20.0.0/24"])], [forbidden])
    assert addresses_of(desired_objects(run_, run_.resolved).objects, "db") == {"10.20.0.5/32"}


# --------------------------------------------------------------------------- property tests

# Addresses DNS may answer, labelled with what the policy must do: allowed, refused, or private
# (allowed only inside the service's allow_ranges, which are 10.20.0.0/16 when given).
ALLOWED = st.one_of(
    st.integers(0, 255).map(lambda i: f"192.0.2.{i}"),
    st.integers(0, 255).map(lambda i: f"203.0.113.{i}"),
    st.integers(0, 0xFFFF).map(lambda i: f"2001:db8::{i:x}"),
    st.integers(1, 254).map(lambda i: f"64:ff9b::c633:64{i:02x}"),  # NAT64 form of 198.51.100.x
)
REFUSED = st.sampled_from(
    [
        "169.254.169.254",
        "127.0.0.1",
        "0.0.0.0",
        "::1",
        "::",
        "224.0.0.5",
        "255.255.255.255",
        "fe80::1",
        "fd00:ec2::254",
        "::ffff:192.0.2.1",
        "::192.0.2.1",
        "64:ff9b::7f00:1",
        "64:ff9b:1::1",
        "2002:a9fe:a9fe::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "172.16.0.1",
        "192.168.10.10",
        "fd12::1",
        "100.64.1.1",
        "10.96.0.1",  # in the cluster's Service range, which no allow range here opens
    ]
)
PRIVATE_ALLOWABLE = st.integers(0, 0xFFFF).map(lambda i: f"10.20.{i >> 8}.{i & 0xFF}")


@st.composite
def rule_set(draw):
    services, resolved, labels = [], [], {}
    for index in range(draw(st.integers(1, 4))):
        allow = draw(st.booleans())
        hosts = []
        for h in range(draw(st.integers(1, 3))):
            host = f"h{h}.s{index}.test"
            answer = draw(
                st.lists(
                    st.one_of(
                        ALLOWED.map(lambda a: (a, "allowed")),
                        REFUSED.map(lambda a: (a, "refused")),
                        PRIVATE_ALLOWABLE.map(lambda a, allow=allow: (a, "allowed" if allow else "refused")),
                    ),
                    min_size=1,
                    max_size=4,
                    unique_by=lambda pair: pair[0],
                )
            )
            hosts.append(host)
            resolved.append(detail(host, *(a for a, _label in answer)))
            labels.update({(f"s{index}", a): label for a, label in answer})
        service = svc(f"s{index}", *hosts)
        if allow:
            service["allow_ranges"] = ["10.20.0.0/16"]
        services.append(service)
    return services, resolved, labels


def _networks(texts):
    return [ipaddress.ip_network(t) for t in texts]


@settings(max_examples=300, deadline=None)
@given(rule_set())
def test_no_refused_address_is_rendered_and_each_service_is_all_or_nothing(case):
    services, resolved, labels = case
    run_ = prepared(services, resolved, on_error="keep")
    desired = desired_objects(run_, run_.resolved, cluster=(SERVICE_CIDR,))
    for service in services:
        name = service["name"]
        answered = {a for r in resolved if r["host"] in service["hosts"] for a in r["addresses"]}
        rendered = _networks(addresses_of(desired.objects, name))
        refused = [ipaddress.ip_address(a) for a in answered if labels[name, a] == "refused"]
        if refused:
            # Nothing of it: not a partial service. Its refusals name service, host and address.
            assert rendered == [], service
            named = {(r["service"], r["address"]) for r in desired.refused}
            assert {(name, str(a)) for a in refused} <= {(s, str(ipaddress.ip_address(a))) for s, a in named}
        else:
            # All of it: every answered address is rendered, and nothing else.
            assert rendered, service
            for address in answered:
                ip = ipaddress.ip_address(address)
                assert any(ip.version == n.version and ip in n for n in rendered), (service, address)
            assert sum(n.num_addresses for n in rendered) == len(answered)
        for net in rendered:
            assert not [ip for ip in refused if ip.version == net.version and ip in net], (service, net)


@settings(max_examples=150, deadline=None)
@given(rule_set())
def test_with_on_error_fail_a_refused_answer_renders_nothing_at_all(case):
    services, resolved, labels = case
    run_ = prepared(services, resolved)
    if any(label == "refused" for label in labels.values()):
        with pytest.raises(MeshguardError, match="nothing was changed"):
            desired_objects(run_, run_.resolved, cluster=(SERVICE_CIDR,))
    else:
        assert len(desired_objects(run_, run_.resolved, cluster=(SERVICE_CIDR,)).objects) == 2 * len(services)


def test_a_host_answering_many_refused_addresses_is_one_sentence_and_the_result_keeps_them_all():
    addresses = [f"10.20.{i // 250}.{i % 250 + 1}" for i in range(120)]
    run_ = prepared([svc("db", "db.corp.test")], [detail("db.corp.test", *addresses)])
    with pytest.raises(MeshguardError) as caught:
        desired_objects(run_, run_.resolved)
    (line,) = [line for line in str(caught.value).splitlines() if line.startswith("- ")]
    assert line == (
        "- service 'db': host db.corp.test answered 120 addresses in 10.0.0.0/8, private-use (RFC 1918): "
        "10.20.0.1, 10.20.0.2, 10.20.0.3, ..., 10.20.0.119, 10.20.0.120 (and 115 more): a private address, "
        "refused unless an allow_ranges block inside 10.0.0.0/8 accepts it knowingly"
    )
    kept = prepared([svc("db", "db.corp.test")], [detail("db.corp.test", *addresses)], on_error="keep")
    result = desired_objects(kept, kept.resolved)
    assert len(result.refused) == 120
    assert len(" ".join(result.warnings)) < 1000


# --- the refusals' own functions -------------------------------------------------------------------------

POLICY = AddressPolicy()
RFC1918 = "private-use (RFC 1918)"


def answered(host, *addresses, chain=()):
    return HostResult(host=host, addresses=addresses, cname_chain=chain, ttl=60)


def test_each_refused_answer_names_service_host_chain_address_and_range():
    found = refused_addresses(
        "db", [answered("db.example.com", "192.0.2.1", "10.0.0.1", chain=("x.example.net",))], POLICY
    )
    (item,) = found
    assert item.message == (
        "service 'db': host db.example.com (via CNAME x.example.net) answered 10.0.0.1: 10.0.0.1 is in 10.0.0.0/8, "
        f"{RFC1918}: a private address, refused unless an allow_ranges block inside 10.0.0.0/8 accepts it knowingly"
    )
    assert as_dicts({"db": found}) == [
        {
            "service": "db",
            "host": "db.example.com",
            "unicode": "db.example.com",
            "address": "10.0.0.1",
            "range": "10.0.0.0/8",
            "message": item.message,
        }
    ]


def test_failed_hosts_have_nothing_refused_and_allow_ranges_open_their_block():
    failed = HostResult(host="gone.example.com", error=ResolveError("NXDOMAIN", "gone.example.com: does not exist"))
    assert refused_addresses("db", [failed], POLICY) == []
    assert refused_addresses("db", [answered("db.example.com", "10.0.0.1")], POLICY, allow=["10.0.0.0/24"]) == []


def test_a_literal_is_judged_as_written_and_said_so():
    literal = HostResult(host="127.0.0.1", kind=KIND_ADDRESS, addresses=("127.0.0.1",))
    (item,) = refused_addresses("", [literal], POLICY)
    assert item.literal
    assert item.message.startswith("127.0.0.1 (written as given): 127.0.0.1 is in 127.0.0.0/8, loopback")


def test_a_resolved_address_is_judged_as_it_would_be_rendered():
    # Widened to a /24, the refusal names the block that would be rendered.
    refusal = refusal_of("10.1.2.3", POLICY, AggregateOptions(ipv4_prefix=24), ())
    assert str(refusal).startswith("10.1.2.0/24 is in 10.0.0.0/8")
    assert refusal_of("10.1.2.3", POLICY, None, ()).value == "10.1.2.3"
    assert refusal_of("8.8.8.8", POLICY, AggregateOptions(ipv4_prefix=24), ()) is None


def test_many_refused_answers_of_one_host_are_one_sentence_with_the_first_and_last_few():
    found = refused_addresses("db", [answered("db.example.com", *(f"10.0.0.{i}" for i in range(1, 9)))], POLICY)
    assert summarised(found) == [
        "service 'db': host db.example.com answered 8 addresses in 10.0.0.0/8, private-use (RFC 1918): "
        "10.0.0.1, 10.0.0.2, 10.0.0.3, ..., 10.0.0.7, 10.0.0.8 (and 3 more): a private address, refused unless "
        "an allow_ranges block inside 10.0.0.0/8 accepts it knowingly"
    ]
    # One address: its own message, unchanged.
    assert summarised(found[:1]) == [found[0].message]


def test_the_rule_sets_own_literals_are_named_by_service_and_field():
    rules = validate_ruleset(
        {
            "set": "shop",
            "services": [
                {"name": "web", "hosts": ["web.example.com"], "ports": TCP},
                # A private literal is the user's word; loopback and the metadata address are not destinations.
                {"name": "db", "hosts": ["127.0.0.1", "10.0.0.1"], "addresses": ["169.254.169.254"], "ports": TCP},
            ],
        }
    )
    problems = literal_problems(rules, POLICY)
    assert [(p.service, p.index, p.field) for p in problems] == [("db", 1, "hosts[0]"), ("db", 1, "addresses")]
    # Plain text, as results carry it (Ansible stores no other type in a registered result).
    assert isinstance(problems[0].message, str)
    assert problems[0].message.startswith("127.0.0.1 is in 127.0.0.0/8, loopback")
