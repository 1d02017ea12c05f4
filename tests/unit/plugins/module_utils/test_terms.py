# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Term parsing: kinds, normal forms, the message a user reads for each invalid term, and one reading of a
term in both adapters (the rules module and the resolve lookup)."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import lookup
from ansible_collections.meshguard.egress.plugins.module_utils._engine import run
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings
from ansible_collections.meshguard.egress.plugins.module_utils._rollout.scope import names_to_resolve
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError
from ansible_collections.meshguard.egress.plugins.module_utils._terms import (
    KIND_ADDRESS,
    KIND_NAME,
    KIND_NETWORK,
    Term,
    TermError,
    parse_term,
    parse_terms,
)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("db.example.com", KIND_NAME, "db.example.com"),
        ("DB.Example.COM.", KIND_NAME, "db.example.com"),
        ("  db.example.com  ", KIND_NAME, "db.example.com"),
        ("localhost", KIND_NAME, "localhost"),
        ("_sip._tcp.example.com", KIND_NAME, "_sip._tcp.example.com"),
        ("a-1.b2.example", KIND_NAME, "a-1.b2.example"),
        ("bücher.example", KIND_NAME, "xn--bcher-kva.example"),
        ("BÜCHER.example.", KIND_NAME, "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", KIND_NAME, "xn--bcher-kva.example"),
        ("192.0.2.1", KIND_ADDRESS, "192.0.2.1"),
        ("0.0.0.0", KIND_ADDRESS, "0.0.0.0"),
        ("2001:DB8:0:0::1", KIND_ADDRESS, "2001:db8::1"),
        ("::ffff:192.0.2.1", KIND_ADDRESS, "::ffff:192.0.2.1"),
        ("::FFFF:C000:0201", KIND_ADDRESS, "::ffff:192.0.2.1"),
        ("::ffff:192.0.2.0/120", KIND_NETWORK, "::ffff:192.0.2.0/120"),
        ("10.0.0.0/8", KIND_NETWORK, "10.0.0.0/8"),
        ("192.0.2.7/32", KIND_NETWORK, "192.0.2.7/32"),
        ("0.0.0.0/0", KIND_NETWORK, "0.0.0.0/0"),
        ("2001:DB8::/32", KIND_NETWORK, "2001:db8::/32"),
        ("::/0", KIND_NETWORK, "::/0"),
    ],
)
def test_valid_terms_are_classified_and_normalised(text, kind, value):
    term = parse_term(text)
    assert term == Term(text, kind, value)


def test_version_of_literals():
    assert parse_term("192.0.2.1").version == 4
    assert parse_term("2001:db8::/32").version == 6
    assert parse_term("db.example.com").version is None
    assert parse_term("db.example.com").is_name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty term"),
        ("   ", "empty term"),
        (".", "only a dot"),
        ("a..b", "empty label"),
        (".example.com", "empty label"),
        ("-db.example.com", "bad label '-db'"),
        ("db-.example.com", "bad label 'db-'"),
        ("db$.example.com", "bad label 'db$'"),
        ("db example.com", "bad label 'db example'"),
        ("*.example.com", "bad label '*'"),
        ("a" * 64 + ".example", "is 64 characters long (at most 63)"),
        (".".join(["a" * 63] * 4), "255 characters long (at most 253)"),
        ("example.123", "last label '123' is all digits"),
        ("999.1.1.1", "octet 999 is out of range (0-255)"),
        ("1.2.3", "expected 4 dot-separated numbers, got 3"),
        ("1.2.3.4.5", "expected 4 dot-separated numbers, got 5"),
        ("1..2.3", "empty octet"),
        ("010.1.1.1", "octet 010 has a leading zero"),
        ("2001:db8::g", "not a valid IPv6 address"),
        ("fe80::1%eth0", "zone indexes"),
        ("10.0.0.0/33", "prefix length /33 is out of range for IPv4 (0-32)"),
        ("2001:db8::/129", "prefix length /129 is out of range for IPv6 (0-128)"),
        ("10.0.0.0/x", "prefix length 'x' is not a number"),
        ("10.0.0.0/", "prefix length '' is not a number"),
        ("10.0.0.1/24", "host bits are set (did you mean 10.0.0.0/24?)"),
        ("999.0.0.0/8", "octet 999 is out of range"),
        ("db.example.com/24", "expected 4 dot-separated numbers"),
    ],
)
def test_invalid_terms_name_the_term_and_the_problem(text, message):
    with pytest.raises(TermError) as caught:
        parse_term(text)
    assert message in str(caught.value)
    assert f"invalid term {text!r}" in str(caught.value)
    assert caught.value.problems == [(text, caught.value.problems[0][1])]


def test_non_string_terms_are_rejected():
    with pytest.raises(TermError, match="expected a string, got int"):
        parse_term(42)


def test_longest_valid_name_is_accepted():
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(name) == 253
    assert parse_term(name + ".").value == name


def test_parse_terms_reports_every_invalid_term_at_once():
    with pytest.raises(TermError) as caught:
        parse_terms(["ok.example.com", "999.1.1.1", "", "10.0.0.0/33"])
    assert [problem[0] for problem in caught.value.problems] == ["999.1.1.1", "", "10.0.0.0/33"]
    assert isinstance(caught.value, MeshguardError)


def test_parse_terms_keeps_order_and_passes_terms_through():
    term = Term("x", KIND_NAME, "x")
    assert [t.value for t in parse_terms(["b.example", term, "192.0.2.1"])] == ["b.example", "x", "192.0.2.1"]


# --- one host term, read alike by the rules module and the resolve lookup -----------------------------
#
# Each term of the tables goes through the library entry points of both adapters: ``lookup`` (the lookup
# plugin) and ``_engine.run`` with state=rendered (the rules module), plus ``names_to_resolve`` (the
# ``resolvable`` filter the role feeds the lookup with). Names need DNS in the lookup, so for them the test
# checks the form the lookup asks DNS for and hands them to ``rules`` as pre-resolved answers keyed by exactly
# that form: a module that read the name differently would not find its answer. The same table runs against a
# real DNS server, both plugins through ansible-playbook, in tests/integration/test_terms_agree.py.

# (case, term, normal form): both accept the term and agree on its normal form.
NAMES = [
    ("IDN", "bücher.example", "xn--bcher-kva.example"),
    ("IDN, upper case and trailing dot", "BÜCHER.example.", "xn--bcher-kva.example"),
    ("IDN already in ASCII", "xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("trailing dot", "db.example.com.", "db.example.com"),
    ("case", "DB.Example.COM", "db.example.com"),
    ("leading space", " api.example.com", "api.example.com"),
    ("surrounding whitespace", "\tapi.example.com \n", "api.example.com"),
]
LITERALS = [
    ("IPv6 upper case and zeros", "2001:DB8:0:0::1", ["2001:db8::1/128"]),
    ("IPv6 block", "2001:DB8:0:0::/64", ["2001:db8::/64"]),
    ("IPv6 with spaces", " 2001:db8::7 ", ["2001:db8::7/128"]),
    ("IPv4 with a trailing space", "192.0.2.9 ", ["192.0.2.9/32"]),
]
# (case, term, reason): both refuse the term, for the same reason.
REFUSED = [
    ("IPv6 zone index", "fe80::1%eth0", "zone indexes (%...) are not allowed"),
    ("IPv6 in brackets", "[2001:db8::1]", "not a valid IPv6 address"),
    ("IPv6 with a port", "2001:db8::1:53:x", "not a valid IPv6 address"),
    ("IPv4 leading zero", "010.0.0.1", "octet 010 has a leading zero"),
    ("IPv4 host bits", "192.0.2.1/24", "host bits are set (did you mean 192.0.2.0/24?)"),
    ("empty label", "db..example.com", "empty label"),
    ("only spaces", "   ", "empty term"),
    ("bad IDN", "a\u200db.example", "not a valid internationalised host name"),
]
# (case, term, range): both read the term alike and refuse it by the address policy, naming the range.
POLICY_REFUSED = [
    ("IPv4-mapped IPv6", "::FFFF:C000:0201", "::ffff:0:0/96, IPv4-mapped"),
    ("IPv4-mapped IPv6 block", "::ffff:192.0.2.0/120", "::ffff:0:0/96, IPv4-mapped"),
    ("loopback", "127.0.0.1", "127.0.0.0/8, loopback"),
    ("NAT64 form of link-local", "64:FF9B::A9FE:1", "64:ff9b::a9fe:0/112, 169.254.0.0/16 (link-local)"),
]
PORTS = [{"number": 5432, "protocol": "TCP"}]


def rendered(hosts, resolved=None, **ruleset):
    spec = {"set": "agree", "services": [{"name": "db", "hosts": hosts, "ports": PORTS}], **ruleset}
    return run(Settings(spec=spec, state="rendered", resolved=resolved), None)["resources"]


def answer(host, *addresses):
    return {"host": host, "addresses": list(addresses), "cidrs": [], "cname_chain": [], "ttl": 60, "error": None}


@pytest.mark.parametrize(("case", "term", "normal"), NAMES, ids=[c for c, _t, _n in NAMES])
def test_names_have_one_normal_form(case, term, normal):
    # The lookup asks DNS for this name, and reports it as the host of its detail form.
    assert [t.value for t in parse_terms([term])] == [normal], case
    assert names_to_resolve([{"hosts": [term]}]) == [normal]
    # rules finds the lookup's answer under the same name, and renders it as the host.
    (entry,) = rendered([term], [answer(normal, "192.0.2.7")])
    assert entry["spec"]["hosts"] == [normal]
    assert entry["spec"]["addresses"] == ["192.0.2.7/32"]
    assert entry["metadata"]["annotations"]["meshguard.egress/sources"] == normal


@pytest.mark.parametrize(("case", "term", "cidrs"), LITERALS, ids=[c for c, _t, _n in LITERALS])
def test_literals_give_the_same_blocks(case, term, cidrs):
    answer_of_lookup, warnings = lookup([term])
    assert (answer_of_lookup, warnings) == (cidrs, []), case
    (entry,) = rendered([term])
    assert entry["spec"]["addresses"] == answer_of_lookup


@pytest.mark.parametrize(("case", "term", "reason"), REFUSED, ids=[c for c, _t, _r in REFUSED])
def test_both_refuse_the_same_terms_for_the_same_reason(case, term, reason):
    with pytest.raises(MeshguardError) as by_lookup:
        lookup([term])
    with pytest.raises(SpecError) as by_rules:
        rendered(["ok.example.com", term])
    assert f"invalid term {term!r}: " in str(by_lookup.value), case
    (error,) = by_rules.value.errors
    assert error.startswith(f"services[0] 'db': hosts[1]: invalid term {term!r}: ")
    assert reason in str(by_lookup.value)
    assert error.split(": ", 3)[3] in str(by_lookup.value)  # the very same reason


@pytest.mark.parametrize(("case", "term", "where"), POLICY_REFUSED, ids=[c for c, _t, _r in POLICY_REFUSED])
def test_both_refuse_literals_the_address_policy_refuses(case, term, where):
    with pytest.raises(MeshguardError) as by_lookup:
        lookup([term])
    with pytest.raises(SpecError) as by_rules:
        rendered(["ok.example.com", term])
    (error,) = by_rules.value.errors
    assert error.startswith("services[0] 'db': hosts[1]: "), case
    reason = error.split(": ", 2)[2]
    assert f" is in {where}" in reason
    assert reason in str(by_lookup.value)  # the very same reason


def test_underscore_names_resolve_but_istio_refuses_them_as_serviceentry_hosts():
    term, normal = "_ldap._tcp.Example.com", "_ldap._tcp.example.com"
    assert [t.value for t in parse_terms([term])] == [normal]
    assert names_to_resolve([{"hosts": [term]}]) == [normal]
    # per_service writes the names into spec.hosts, where Istio's validation refuses '_'.
    with pytest.raises(SpecError) as caught:
        rendered([term], [answer(normal, "192.0.2.8")])
    assert caught.value.errors == [
        f"services[0] 'db': hosts[0]: {term!r} cannot be a ServiceEntry host: Istio takes letters, digits and '-' "
        "in each label, not '_ldap' (layout per_address resolves it without making it a host)"
    ]
    # per_address (and the legacy API) keep names out of hosts: the lookup's reading applies.
    (entry,) = rendered([term], [answer(normal, "192.0.2.8")], layout="per_address")
    assert entry["spec"]["addresses"] == ["192.0.2.8/32"]
    assert entry["metadata"]["annotations"]["meshguard.egress/sources"] == normal
    (rule,) = rendered([term], [answer(normal, "192.0.2.8")], api="config.istio.io/v1alpha2")
    assert rule["spec"]["destination"]["service"] == "192.0.2.8"
