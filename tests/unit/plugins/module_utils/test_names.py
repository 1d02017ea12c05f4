# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The naming scheme: two rule sets never produce the same object name (docs/docsite/rst/rendering.rst, "Names")."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.meshguard.egress.plugins.module_utils._names import (
    MAX_NAME_LENGTH,
    MAX_SET_NAME,
    SEPARATOR,
    SET_OBJECTS,
    address_slug,
    dns1123_label_problem,
    object_name,
    set_object_name,
    user_name_problem,
)
from ansible_collections.meshguard.egress.plugins.module_utils._render import ServiceAddresses, render
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError, validate_ruleset

# A set or service name as validation takes it: a DNS-1123 label without "--".
_label = st.from_regex(r"\A[a-z0-9]([a-z0-9]|-(?=[a-z0-9])){0,62}\Z").filter(lambda s: SEPARATOR not in s)
set_names = _label.filter(lambda s: len(s) <= MAX_SET_NAME)
service_names = _label.filter(lambda s: s != SET_OBJECTS)
# The suffixes the renderers give: chunk numbers, address slugs (IPv6 ones hold "--"), ports, p<port>, the exits.
suffixes = st.one_of(
    st.integers(2, 300).map(str),
    st.ip_addresses().map(lambda a: address_slug(f"{a}/{a.max_prefixlen}")),
    st.tuples(st.ip_addresses(), st.integers(1, 65535)).map(lambda t: f"{address_slug(str(t[0]))}{SEPARATOR}{t[1]}"),
    st.integers(1, 65535).map(lambda p: f"p{p}"),
    st.sampled_from(["gateway", "waypoint"]),
)


def names_of(set_name: str, service: str, suffix: tuple[str, ...]) -> set[str]:
    """Every name a set may give one service's objects and its own."""
    names = {object_name(set_name, service, *suffix), object_name(set_name, service)}
    return names | {set_object_name(set_name, *what) for what in [(), ("gateway",), ("waypoint",)]}


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    first=set_names,
    second=set_names,
    services=st.tuples(service_names, service_names),
    suffix=st.lists(suffixes, max_size=2).map(tuple),
)
def test_two_sets_never_produce_the_same_name(first, second, services, suffix):
    if first == second:
        return
    a = names_of(first, services[0], suffix)
    b = names_of(second, services[1], suffix)
    assert not a & b
    for name in a:
        assert dns1123_label_problem(name) is None
        # The part before the first "--" is the whole set name, cut or not.
        assert name.split(SEPARATOR, 1)[0] == first


@settings(max_examples=200, deadline=None, derandomize=True)
@given(set_name=set_names, service=service_names, suffix=st.lists(suffixes, max_size=2).map(tuple))
def test_a_services_objects_never_take_the_name_of_the_sets_own(set_name, service, suffix):
    own = {set_object_name(set_name), set_object_name(set_name, "gateway"), set_object_name(set_name, "waypoint")}
    assert object_name(set_name, service, *suffix) not in own


def test_the_reported_collision_is_gone():
    # Before: set "meshguard-egress", service "pay" named its exit NetworkPolicy like set "pay"'s base one.
    assert object_name("meshguard-egress", "pay", "gateway") == "meshguard-egress--pay--gateway"
    assert set_object_name("pay", "gateway") == "pay--meshguard-egress--gateway"
    assert set_object_name("pay") == "pay--meshguard-egress"


def rendered_names(spec: dict) -> set[tuple[str, str, str]]:
    ruleset = validate_ruleset(spec)
    addresses = {s.name: ServiceAddresses(cidrs=("192.0.2.10/32",), ips=("192.0.2.10",)) for s in ruleset.services}
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in render(ruleset, addresses)}


def test_the_reported_sets_render_no_common_name():
    common = {
        "namespace": "shop",
        "egress_gateway": {},
        "network_policy": True,
        "guardrail": {"writers": ["ci"]},
        "registry_only": [],
    }
    pay = {"name": "pay", "hosts": ["192.0.2.10"], "ports": [{"number": 5432, "protocol": "TCP"}]}
    one = rendered_names({**common, "set": "meshguard-egress", "services": [pay]})
    two = rendered_names({**common, "set": "pay", "services": [dict(pay, name="db")]})
    assert {name for _k, _n, name in one} & {name for _k, _n, name in two} == set()


def test_names_up_to_63_characters_are_kept_and_longer_ones_cut_with_a_hash_of_the_whole():
    assert object_name("a" * 30, "b" * 31) == "a" * 30 + "--" + "b" * 31  # 63
    full = "a" * 30 + "--" + "b" * 32  # 64
    cut = object_name("a" * 30, "b" * 32)
    assert len(cut) == MAX_NAME_LENGTH
    assert cut == full[:52] + "-" + hashlib.sha256(full.encode()).hexdigest()[:10]


def test_a_cut_that_ends_in_a_hyphen_drops_it():
    # The 52nd character is the first "-" of "--": the name must not hold "---" nor end a label in "-".
    name = object_name("a" * 50, "b" * 20)
    assert name.startswith("a" * 50 + "-") and not name.startswith("a" * 50 + "--")
    assert dns1123_label_problem(name) is None


@pytest.mark.parametrize("length", [MAX_SET_NAME - 1, MAX_SET_NAME])
def test_the_longest_set_names_keep_the_set_and_the_separator_in_a_cut_name(length):
    set_name = "s" * length
    name = object_name(set_name, "v" * 63, "2001-db8--1", "443")
    assert name.startswith(set_name + SEPARATOR)
    assert set_object_name(set_name, "waypoint").startswith(set_name + SEPARATOR)


def test_set_names_longer_than_the_scheme_allows_are_refused_unless_removed():
    spec = {"set": "s" * (MAX_SET_NAME + 1), "services": []}
    with pytest.raises(SpecError) as caught:
        validate_ruleset(spec)
    assert caught.value.errors == [
        f"set: must be at most {MAX_SET_NAME} characters, got {MAX_SET_NAME + 1}: every object name starts with the "
        "set name whole, also when a long name is cut to 63 characters, so that two sets never produce the same name"
    ]
    # state absent renders nothing: the objects a longer set name left behind can still be removed.
    assert validate_ruleset({"set": "s" * 63, "services": []}, removing=True).name == "s" * 63


def test_the_name_of_the_sets_own_objects_is_no_service_name():
    spec = {"set": "pay", "services": [{"name": SET_OBJECTS, "hosts": ["192.0.2.1"], "ports": [{"number": 1}]}]}
    with pytest.raises(SpecError) as caught:
        validate_ruleset(spec)
    assert (
        "services[0] 'meshguard-egress': name: 'meshguard-egress' is reserved: the set's own objects are named "
        "<set>--meshguard-egress"
    ) in caught.value.errors


@pytest.mark.parametrize(
    ("writer", "problem"),
    [
        ("alice", None),
        ("Jane Doe", None),
        ("jane@example.com", None),
        ("system:admin", None),
        ("oidc:ci-bot", None),
        ("system:serviceaccount:ops:deployer", None),
        ("system:serviceaccount:ops:deploy.bot", None),
        ("ci\nbot", "holds U+000A, a control"),
        ("ci\u202ebot", "holds U+202E RIGHT-TO-LEFT OVERRIDE,"),
        ("ci\u200bbot", "holds U+200B ZERO WIDTH SPACE,"),
        ("ci\u00a0bot", "holds U+00A0 NO-BREAK SPACE,"),
        ("ci\u2028bot", "holds U+2028 LINE SEPARATOR,"),
        (" ci", "has spaces around it"),
        ("", "must be a user name, got ''"),
        (7, "must be a user name (a string), got int"),
        ("system:serviceaccounts", "is a group"),
        ("system:serviceaccounts:ops", "is a group"),
        ("system:masters", "is a group"),
        ("system:serviceaccount:ops", "has no ':<name>' after the namespace"),
        ("system:serviceaccount:Ops:deployer", "must be a DNS-1123 label"),
        ("system:serviceaccount:ops:", "the account name must not be empty"),
        ("system:serviceaccount:ops:a:b", "must be a DNS-1123 subdomain"),
    ],
)
def test_writers_are_checked_as_kubernetes_user_names(writer, problem):
    found = user_name_problem(writer)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
