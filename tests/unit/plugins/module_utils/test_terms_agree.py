# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host term, read alike by the rules module and the resolve lookup.

Each term of the table goes through the library entry points of both
adapters: ``_lookup.lookup`` (the lookup plugin) and ``_engine.run`` with
state=rendered (the rules module), plus ``names_to_resolve`` (the
``resolvable`` filter the role feeds the lookup with). Names need DNS in the
lookup, so for them the test checks the form the lookup asks DNS for and
hands them to ``rules`` as pre-resolved answers keyed by exactly that form: a
module that read the name differently would not find its answer. The same
table runs against a real DNS server, both plugins through ansible-playbook,
in tests/integration/test_terms_agree.py.
"""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import lookup
from ansible_collections.meshguard.egress.plugins.module_utils._engine import run
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings
from ansible_collections.meshguard.egress.plugins.module_utils._rollout.scope import names_to_resolve
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError
from ansible_collections.meshguard.egress.plugins.module_utils._terms import parse_terms

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
