# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How answers are interpreted: CNAME chains, failures, families, rounds and all_nameservers.

The network exchange is replaced by canned dnspython messages, so these run
without a server; tests/integration/test_resolve_dns.py covers the same cases
against a real one.
"""

from __future__ import annotations

import time

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._dns.engine import Engine, Pause
from ansible_collections.meshguard.egress.plugins.module_utils._dns.options import (
    Nameserver,
    ResolverOptions,
    parse_nameserver,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.transport import run_blocking


def rr(text):
    """'name ttl TYPE value' as an rrset."""
    name, ttl, rdtype, value = text.split()
    return dns.rrset.from_text(name + ".", int(ttl), "IN", rdtype, value)


class CannedEngine:
    """The Engine driven with canned answers: {server label: {(qname, type): [rr texts] | rcode | exception}}."""

    def __init__(self, options, canned):
        self.engine = Engine(options)
        self.canned = canned
        self.asked = []

    def resolve_name(self, name, deadline=None):
        return run_blocking(self.engine.resolution(name, deadline), self.answer)

    def answer(self, request):
        if isinstance(request, Pause):
            return None
        label = f"[{request.address}]:{request.port}" if ":" in request.address else f"{request.address}:{request.port}"
        question = request.query.question[0]
        key = (question.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(question.rdtype))
        self.asked.append((label, *key))
        entry = self.canned[label].get(key, "NXDOMAIN")
        if isinstance(entry, Exception):
            raise entry
        response = dns.message.make_response(request.query)
        if isinstance(entry, str):
            response.set_rcode(dns.rcode.from_text(entry))
        else:
            response.answer = [rr(text) for text in entry]
        return response


def engine(canned, **options):
    servers = tuple(parse_nameserver(label) for label in canned)
    return CannedEngine(ResolverOptions(nameservers=servers, **options), canned)


NS = "127.0.0.1:53"


def test_addresses_of_both_families_and_minimum_ttl():
    e = engine({NS: {("a.test", "A"): ["a.test 300 A 192.0.2.1"], ("a.test", "AAAA"): ["a.test 60 AAAA 2001:db8::1"]}})
    result = e.resolve_name("a.test")
    assert (result.addresses, result.ttl, result.error) == (("192.0.2.1", "2001:db8::1"), 60, None)


def test_one_family_nodata_is_not_an_error():
    e = engine({NS: {("a.test", "A"): ["a.test 300 A 192.0.2.1"], ("a.test", "AAAA"): "NOERROR"}})
    assert e.resolve_name("a.test").addresses == ("192.0.2.1",)


def test_nodata_in_every_family_is_one_nodata_error():
    e = engine({NS: {("a.test", "A"): "NOERROR", ("a.test", "AAAA"): "NOERROR"}})
    error = e.resolve_name("a.test").error
    assert error.type == "NODATA"
    assert error.message == "a.test: no A or AAAA record (NODATA from 127.0.0.1:53)"


def test_chain_inside_one_answer():
    answer = ["a.test 300 CNAME b.test.", "b.test 100 CNAME c.test.", "c.test 200 A 192.0.2.3"]
    e = engine({NS: {("a.test", "A"): answer}}, families="ipv4")
    result = e.resolve_name("a.test")
    assert (result.addresses, result.cname_chain, result.ttl) == (("192.0.2.3",), ("b.test", "c.test"), 100)
    assert len(e.asked) == 1


def test_cname_target_missing_from_the_answer_is_asked_separately():
    canned = {
        NS: {
            ("a.test", "A"): ["a.test 300 CNAME t.other.test."],
            ("t.other.test", "A"): ["t.other.test 30 A 203.0.113.5"],
        }
    }
    e = engine(canned, families="ipv4")
    result = e.resolve_name("a.test")
    assert (result.addresses, result.cname_chain, result.ttl) == (("203.0.113.5",), ("t.other.test",), 30)
    assert [q[1] for q in e.asked] == ["a.test", "t.other.test"]


def test_nxdomain_at_the_end_of_a_chain_names_the_target():
    e = engine({NS: {("a.test", "A"): ["a.test 300 CNAME gone.test."]}}, families="ipv4")
    error = e.resolve_name("a.test").error
    assert error.type == "NXDOMAIN"
    assert error.message == "a.test: is a CNAME to gone.test, which does not exist (NXDOMAIN from 127.0.0.1:53)"


def test_loop_within_an_answer_and_across_queries():
    loop = {("a.test", "A"): ["a.test 300 CNAME b.test.", "b.test 300 CNAME a.test."]}
    error = engine({NS: loop}, families="ipv4").resolve_name("a.test").error
    assert error.type == "CNAME_LOOP"
    assert "a.test -> b.test -> a.test" in error.message
    cross = {("a.test", "A"): ["a.test 300 CNAME b.other."], ("b.other", "A"): ["b.other 300 CNAME a.test."]}
    assert engine({NS: cross}, families="ipv4").resolve_name("a.test").error.type == "CNAME_LOOP"


def test_depth_limit_is_sixteen_hops():
    def chain(start):
        return {(f"h{i}.test", "A"): [f"h{i}.test 300 CNAME h{i + 1}.test."] for i in range(start, 17)} | {
            ("h17.test", "A"): ["h17.test 300 A 192.0.2.17"]
        }

    ok = engine({NS: chain(1)}, families="ipv4").resolve_name("h1.test")
    assert ok.addresses == ("192.0.2.17",)
    assert len(ok.cname_chain) == 16
    too_deep = engine({NS: chain(0)}, families="ipv4").resolve_name("h0.test")
    assert too_deep.error.type == "CNAME_DEPTH"
    assert "longer than 16" in too_deep.error.message


def test_servfail_is_retried_then_reported_with_attempts():
    e = engine({NS: {("a.test", "A"): "SERVFAIL"}}, families="ipv4", retries=2)
    error = e.resolve_name("a.test").error
    assert len(e.asked) == 3
    assert error.type == "SERVFAIL"
    assert error.message == "a.test: A query failed: SERVFAIL from 127.0.0.1:53 (server failure, 3 attempts)"


@pytest.mark.parametrize(
    ("entry", "kind", "detail"),
    [
        ("REFUSED", "REFUSED", "query refused: the server is not authoritative or recursive for it"),
        ("FORMERR", "BAD_RESPONSE", "unexpected response code FORMERR"),
        (ConnectionRefusedError(111, "Connection refused"), "NETWORK", "Connection refused"),
        (dns.exception.FormError("bad label"), "BAD_RESPONSE", "bad label"),
    ],
)
def test_other_failures_are_typed_and_not_retried(entry, kind, detail):
    e = engine({NS: {("a.test", "A"): entry}}, families="ipv4", retries=2)
    error = e.resolve_name("a.test").error
    assert (error.type, len(e.asked)) == (kind, 1)
    assert error.message == f"a.test: A query failed: {kind} from 127.0.0.1:53 ({detail})"


def test_timeouts_are_asked_again_until_the_lifetime_is_used_up():
    e = engine({NS: {("a.test", "A"): dns.exception.Timeout()}}, families="ipv4", timeout=0.01, lifetime=0.05)
    error = e.resolve_name("a.test").error
    assert error.type == "TIMEOUT"
    assert len(e.asked) >= 2
    assert f"{len(e.asked)} attempts" in error.message


def test_next_server_is_asked_when_the_first_fails():
    second = "[::1]:5353"
    e = engine(
        {NS: {("a.test", "A"): "REFUSED"}, second: {("a.test", "A"): ["a.test 300 A 192.0.2.1"]}}, families="ipv4"
    )
    assert e.resolve_name("a.test").addresses == ("192.0.2.1",)
    assert [q[0] for q in e.asked] == [NS, second]


def test_every_failing_server_is_named_and_the_first_gives_the_type():
    second = "192.0.2.53:53"
    e = engine({NS: {("a.test", "A"): "REFUSED"}, second: {("a.test", "A"): "SERVFAIL"}}, families="ipv4", retries=0)
    error = e.resolve_name("a.test").error
    assert error.type == "REFUSED"
    assert "REFUSED from 127.0.0.1:53" in error.message
    assert "SERVFAIL from 192.0.2.53:53" in error.message


def test_rounds_take_the_union_of_rotating_answers():
    class Rotating(CannedEngine):
        def answer(self, request):
            self.canned[NS][("p.test", "A")] = [f"p.test 60 A 192.0.2.{len(self.asked) + 1}"]
            return super().answer(request)

    e = Rotating(ResolverOptions(nameservers=(Nameserver("127.0.0.1"),), families="ipv4", rounds=4), {NS: {}})
    assert e.resolve_name("p.test").addresses == ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4")


def test_all_nameservers_union_and_negative_answers():
    other = "[::1]:53"
    canned = {
        NS: {("s.test", "A"): ["s.test 300 A 192.0.2.100"], ("only.test", "A"): ["only.test 300 A 192.0.2.9"]},
        other: {("s.test", "A"): ["s.test 300 A 192.0.2.200"]},
    }
    e = engine(canned, families="ipv4", all_nameservers=True)
    assert e.resolve_name("s.test").addresses == ("192.0.2.100", "192.0.2.200")
    assert e.resolve_name("only.test").addresses == ("192.0.2.9",)  # NXDOMAIN from the other view is an answer


def test_all_nameservers_fails_when_one_server_fails():
    other = "[::1]:53"
    canned = {NS: {("s.test", "A"): ["s.test 300 A 192.0.2.100"]}, other: {("s.test", "A"): "SERVFAIL"}}
    error = engine(canned, families="ipv4", all_nameservers=True, retries=0).resolve_name("s.test").error
    assert error.type == "SERVFAIL"
    assert "[::1]:53" in error.message


def test_used_up_lifetime_is_a_timeout():
    e = engine({NS: {("a.test", "A"): ["a.test 300 A 192.0.2.1"]}}, families="ipv4", lifetime=0.001)
    result = e.resolve_name("a.test", deadline=time.monotonic() - 1)
    assert result.error.type == "TIMEOUT"
    assert "lifetime of 0.001s used up" in result.error.message
