# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Term parsing: kinds, normal forms, and the message a user reads for each invalid term."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
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
