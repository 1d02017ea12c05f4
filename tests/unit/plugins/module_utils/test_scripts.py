# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Look-alike host names (UTS #39 mixed scripts): refused unless allowed, both forms everywhere.

Look-alike letters are written as escapes (U+0430 is the Cyrillic a), so that this file reads as it is.
"""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._dns.detail import (
    results_from_detail,
    results_to_detail,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import lookup
from ansible_collections.meshguard.egress.plugins.module_utils._dns.results import HostResult
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._scripts import mixed_script_problem, shown, to_unicode
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError, validate_ruleset
from ansible_collections.meshguard.egress.plugins.module_utils._terms import TermError, parse_term

PAYPAL = "p\u0430ypal.example"  # a Cyrillic a
PAYPAL_ACE = "xn--pypal-4ve.example"
WHOLE_CYRILLIC = "\u0440\u0430\u0443\u0440\u0430\u04cf.example"  # "paypal" in Cyrillic letters, a Latin TLD


def test_the_reported_name_is_refused_with_both_forms_and_the_letter():
    with pytest.raises(TermError) as caught:
        parse_term(PAYPAL)
    message = str(caught.value)
    assert f"{PAYPAL_ACE} ({PAYPAL}) mixes scripts: Cyrillic, Latin (U+0430 CYRILLIC SMALL LETTER A)" in message
    assert "allow_mixed_scripts" in message


def test_its_ascii_form_is_judged_as_well():
    with pytest.raises(TermError, match="mixes scripts: Cyrillic, Latin"):
        parse_term(PAYPAL_ACE)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        (WHOLE_CYRILLIC, "mixes scripts: Cyrillic, Latin"),  # a whole-script look-alike under a Latin TLD
        ("\u03b1\u03b2\u03b3.example", "mixes scripts: Greek, Latin"),
        ("g\u043e\u043egle.com", "mixes scripts: Cyrillic, Latin"),
        ("\u02bbokina.example", "holds a character whose script cannot be told (U+02BB MODIFIER LETTER TURNED COMMA)"),
        ("\u0915\u09671.\u092d\u093e\u0930\u0924", "mixes digits of two numbering systems (U+0967 DEVANAGARI"),
    ],
)
def test_names_that_read_as_another_are_refused(name, why):
    problem = mixed_script_problem(parse_term(name, allow_mixed_scripts=True).value)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    "name",
    [
        "db.example.com",
        "_ldap._tcp.example.com",
        "m\u00fcller.de",  # Latin with a diacritic
        "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",  # wholly Cyrillic, a Cyrillic TLD
        "\u6771\u4eac\u30bf\u30ef\u30fc.jp",  # Han and Katakana with a Latin TLD (Highly Restrictive)
        "\ud55c\uad6d.kr",  # Hangul and Latin
        "\u4e2d\u6587.\u4e2d\u56fd",
        "\uff83\uff7d\uff84.jp",  # half-width katakana, mapped by UTS 46 to full width
        "xn--zz.example",  # an ACE label that does not decode: the ASCII is what a reviewer reads
    ],
)
def test_names_of_one_script_or_of_an_admitted_mix_pass(name):
    assert parse_term(name).is_name


def test_what_the_standard_library_cannot_see_is_shown_in_both_forms():
    # Within Latin (a dotless i) and wholly Cyrillic under a Cyrillic TLD: not detected, shown in both forms.
    for name in ("paypa\u0131.com", "\u0440\u0430\u0443\u0440\u0430\u04cf.\u0440\u0444"):
        value = parse_term(name).value
        assert value.isascii() and shown(value) == f"{value} ({to_unicode(value)})"


def test_a_plain_name_is_shown_as_it_is():
    assert shown("db.example.com") == "db.example.com"
    assert to_unicode(PAYPAL_ACE) == PAYPAL


def service(**extra):
    return {"name": "pay", "hosts": [PAYPAL], "ports": [{"number": 443, "protocol": "TCP"}], **extra}


def test_the_spec_names_service_and_field_and_the_service_may_allow_the_name():
    with pytest.raises(SpecError) as caught:
        validate_ruleset({"set": "shop", "services": [service()]})
    (error,) = caught.value.errors
    assert error.startswith(f"services[0] 'pay': hosts[0]: invalid term '{PAYPAL}': {PAYPAL_ACE} ({PAYPAL}) mixes")
    for allowance in (PAYPAL, PAYPAL_ACE, PAYPAL.upper()):
        ruleset = validate_ruleset({"set": "shop", "services": [service(allow_mixed_scripts=[allowance])]})
        assert ruleset.services[0].host_names == (PAYPAL_ACE,)
        assert ruleset.services[0].allow_mixed_scripts == (PAYPAL_ACE,)


def test_an_allowance_must_name_a_host_of_the_service_that_needs_it():
    with pytest.raises(SpecError) as caught:
        validate_ruleset(
            {
                "set": "shop",
                "services": [
                    service(hosts=["db.example.com"], allow_mixed_scripts=["db.example.com", PAYPAL, "10.0.0.1"])
                ],
            }
        )
    assert caught.value.errors == [
        "services[0] 'pay': allow_mixed_scripts[2]: '10.0.0.1' is not a host name; allow_mixed_scripts takes names "
        "of hosts",
        "services[0] 'pay': allow_mixed_scripts[0]: db.example.com does not mix scripts: leave it out",
        f"services[0] 'pay': allow_mixed_scripts[1]: {PAYPAL_ACE} ({PAYPAL}) is not among the service's hosts",
    ]


def test_the_lookup_refuses_before_any_query_unless_allowed():
    with pytest.raises(MeshguardError, match="mixes scripts"):
        # Loopback, where nothing listens: were a query sent, it would fail otherwise.
        lookup([PAYPAL], resolver={"nameservers": ["127.0.0.1"], "port": 9, "timeout": 0.1, "retries": 0})
    with pytest.raises(MeshguardError, match="allow_mixed_scripts: must be a list"):
        lookup([PAYPAL], allow_mixed_scripts=PAYPAL)


def test_the_detail_form_carries_the_unicode_form_and_a_forged_one_is_refused():
    result = HostResult(host=PAYPAL_ACE, kind="name", addresses=("192.0.2.7",))
    (detail,) = results_to_detail([result])
    assert (detail["host"], detail["unicode"]) == (PAYPAL_ACE, PAYPAL)
    assert results_from_detail([detail]) == [result]
    with pytest.raises(MeshguardError, match=r"unicode 'paypal.example' is not the Unicode form of host"):
        results_from_detail([dict(detail, unicode="paypal.example")])
