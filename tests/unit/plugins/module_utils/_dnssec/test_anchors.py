# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trust anchors: the shipped root KSKs, `root` next to a partner's anchor, and bad anchors named by item."""

from __future__ import annotations

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rrset
import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._dnssec.anchors import ROOT_ANCHORS, parse_trust_anchors
from ansible_collections.meshguard.egress.plugins.module_utils._errors import OptionError
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.dnssec_world import (
    Key,
    world_of_test,
)

# --------------------------------------------------------------------------- anchors


def test_the_shipped_root_anchors_are_the_iana_ksks():
    anchors = parse_trust_anchors(None)
    (root,) = anchors.anchors
    assert root.zone == dns.name.root
    assert sorted(d.key_tag for d in root.ds) == [20326, 38696]
    assert anchors.texts == ROOT_ANCHORS


def test_root_stands_for_the_shipped_anchors_next_to_a_partners():
    world = world_of_test()
    anchors = parse_trust_anchors(["root", world.anchor("partner.test") + "\n; its SHA-384 digest would go here"])
    assert sorted(a.zone.to_text() for a in anchors.anchors) == [".", "partner.test."]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["partner.test. A 192.0.2.1"], "trust_anchors[0]: 'partner.test. A 192.0.2.1': only DS and DNSKEY records"),
        (["x. DS 1 13 9 00"], "digest type 9 is not supported"),
        (["x. DS 1 3 2 " + "00" * 32], "algorithm 3 is not supported"),
        (["x. DNSKEY 256 3 13 garbage!"], "not a valid DNSKEY record"),
        ([""], "trust_anchors[0]: empty"),
        ([42], "trust_anchors[0]: expected a DS or DNSKEY record as text, got int"),
        ("not a list", "'not a list': only DS and DNSKEY records"),
    ],
)
def test_bad_anchors_are_refused_with_the_item_named(value, message):
    with pytest.raises(OptionError, match=None) as caught:
        parse_trust_anchors(value)
    assert message in str(caught.value)


def test_a_revoked_or_non_zone_dnskey_is_not_an_anchor():
    key = Key.make(flags=257 | 0x80).dnskey
    with pytest.raises(OptionError, match="revoked"):
        parse_trust_anchors([f"x. DNSKEY {key.to_text()}"])
    plain = Key.make(flags=0).dnskey
    with pytest.raises(OptionError, match="not a zone key"):
        parse_trust_anchors([f"x. DNSKEY {plain.to_text()}"])
