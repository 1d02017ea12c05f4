# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What NSEC3 records prove (RFC 5155 section 8), on a chain built here.

The proof functions take records whose signatures are already verified, so
these tests build the records alone: the hashed owner names of a small zone,
in hash order, each pointing at the next. NSEC is covered with signatures in
test_dnssec.py; Knot's NSEC3 zones in tests/integration/test_dnssec.py.
"""

from __future__ import annotations

import base64

import dns.dnssec
import dns.name
import dns.rdata
import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._dnssec.denial import (
    NOT_A_CUT,
    UNSIGNED_CUT,
    Proofs,
    no_data,
    no_domain,
    no_ds,
    no_name,
    types_of,
)

ZONE = "n3.test."
# Every name of the zone (empty non-terminals included) and its types.
NAMES = {
    "n3.test.": "SOA NS DNSKEY RRSIG NSEC3PARAM",
    "api.n3.test.": "A AAAA RRSIG",
    "wild.n3.test.": "",  # the empty non-terminal above the wildcard
    "*.wild.n3.test.": "A RRSIG",
    "deleg.n3.test.": "NS",  # an unsigned delegation
    "signed.n3.test.": "NS DS RRSIG",
}


def chain(opt_out: bool = False, iterations: int = 0) -> Proofs:
    """The zone's NSEC3 records: hashed owners in order, each naming the next (base32hex, as the wire has it)."""
    hashed = sorted((dns.dnssec.nsec3_hash(name, None, iterations, 1), name) for name in NAMES)
    records = []
    for i, (digest, name) in enumerate(hashed):
        following = hashed[(i + 1) % len(hashed)][0]
        text = f"1 {1 if opt_out else 0} {iterations} - {following} {NAMES[name]}"
        owner = dns.name.from_text(digest.lower(), dns.name.from_text(ZONE))
        records.append((owner, dns.rdata.from_text("IN", "NSEC3", text)))
    return Proofs(dns.name.from_text(ZONE), nsec3=tuple(records))


def n(text: str):
    return dns.name.from_text(text)


def test_each_record_carries_its_names_types():
    by_hash = {owner[0].decode(): types_of(rdata) for owner, rdata in chain().nsec3}
    api = dns.dnssec.nsec3_hash("api.n3.test.", None, 0, 1).lower()
    assert by_hash[api] == {1, 28, 46}


def test_a_name_that_does_not_exist_is_proven_by_encloser_next_closer_and_wildcard():
    assert no_domain(chain(), n("nope.n3.test")) is None
    assert no_domain(chain(), n("a.b.n3.test")) is None


def test_an_existing_name_cannot_be_denied():
    assert no_domain(chain(), n("api.n3.test")) == "no NSEC3 record proves the closest encloser of api.n3.test"


def test_nxdomain_without_the_wildcard_record_is_not_proven():
    # The record that covers *.n3.test left out: a wildcard might have answered.
    proofs = chain()
    wildcard_hash = dns.dnssec.nsec3_hash("*.n3.test.", None, 0, 1).lower()
    kept = tuple((o, r) for o, r in proofs.nsec3 if not _covers(o, r, wildcard_hash))
    assert len(kept) == len(proofs.nsec3) - 1
    problem = no_domain(Proofs(proofs.zone, nsec3=kept), n("nope.n3.test"))
    assert problem == "no NSEC3 record proves that the wildcard *.n3.test does not exist"


def _covers(owner, rdata, digest):
    start = owner[0].decode()
    end = base64.b32encode(rdata.next).decode().translate(_B32_TO_HEX).lower()
    return start < digest < end if start < end else (digest > start or digest < end)


_B32_TO_HEX = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHIJKLMNOPQRSTUV")


def test_nodata_is_proven_by_the_names_own_record():
    assert no_data(chain(), n("api.n3.test"), 16) is None  # TXT
    assert no_data(chain(), n("api.n3.test"), 1) == "the NSEC3 record of api.n3.test lists A"


def test_the_wildcards_nodata_is_proven_by_encloser_and_wildcard_record():
    assert no_data(chain(), n("x.wild.n3.test"), 28) is None
    assert no_data(chain(), n("x.wild.n3.test"), 1) == "the NSEC3 record of *.wild.n3.test lists A"


def test_a_wildcard_answer_needs_its_next_closer_name_covered():
    # x.wild.n3.test answered by *.wild.n3.test: its RRSIG counts 3 labels.
    assert no_name(chain(), n("x.wild.n3.test"), 3) is None


def test_a_delegation_without_ds_is_an_unsigned_cut():
    assert no_ds(chain(), n("deleg.n3.test")) == (
        UNSIGNED_CUT,
        "deleg.n3.test is delegated without DS (NSEC3 of n3.test)",
    )


def test_the_parent_side_record_of_a_delegation_says_nothing_below_it():
    # A name under deleg: its closest encloser would be the delegation's record, which is not usable.
    assert (
        no_domain(chain(), n("www.deleg.n3.test")) == "no NSEC3 record proves the closest encloser of www.deleg.n3.test"
    )


def test_a_name_inside_the_zone_is_not_a_cut():
    assert no_ds(chain(), n("api.n3.test")) == (NOT_A_CUT, "")
    assert no_ds(chain(), n("nope.n3.test")) == (NOT_A_CUT, "")


def test_a_ds_listed_in_the_parents_record_is_no_proof_of_absence():
    outcome, why = no_ds(chain(), n("signed.n3.test"))
    assert outcome == ""
    assert why == "the NSEC3 record of signed.n3.test lists DS or CNAME"


@pytest.mark.parametrize("name", ["nope.n3.test", "other.n3.test"])
def test_an_opt_out_span_may_hide_an_unsigned_delegation(name):
    outcome, why = no_ds(chain(opt_out=True), n(name))
    assert outcome == UNSIGNED_CUT
    assert "opt-out span" in why


def test_many_iterations_are_flagged():
    assert chain(iterations=151).high_iterations() == 151
    assert chain(iterations=10).high_iterations() is None
