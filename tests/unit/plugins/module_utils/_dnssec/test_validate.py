# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNSSEC validation: secure, insecure and bogus told apart, and the checks
dns.dnssec.validate leaves to its caller done by the collection.

The zones are signed in memory by dnspython (dnssec_world), so every attack
is exact and needs no network; tests/integration/test_dnssec.py runs the
same kinds of case against zones Knot signs.
"""

from __future__ import annotations

import time

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rrset

from ansible_collections.meshguard.egress.plugins.module_utils._dnssec.anchors import parse_trust_anchors
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.dnssec_world import (
    Key,
    Resolver,
    World,
    world_of_test,
)


def resolver(world: World, *anchors: str, **options) -> Resolver:
    given = list(anchors) or [world.anchor("test")]
    return Resolver(world, parse_trust_anchors(given), **options)


def one(world: World, host: str, **options):
    return resolver(world, **options).resolve(host)[0]


# --------------------------------------------------------------------------- secure, insecure, bogus


def test_a_signed_answer_is_secure_along_the_chain_from_the_parents_ds():
    result = one(world_of_test(), "api.partner.test")
    assert result.addresses == ("192.0.2.10", "2001:db8::10")
    assert (result.dnssec, result.dnssec_reason) == ("secure", "signed by partner.test")


def test_a_cname_across_two_signed_zones_is_secure_and_names_both_signers():
    result = one(world_of_test(), "alias.partner.test")
    assert result.addresses == ("198.51.100.7",)
    assert result.cname_chain == ("edge.cdn.test",)
    assert (result.dnssec, result.dnssec_reason) == ("secure", "signed by partner.test, cdn.test")


def test_an_unsigned_child_of_a_signed_parent_is_insecure_and_says_where():
    result = one(world_of_test(), "www.plain.test")
    assert result.addresses == ("203.0.113.9",)
    assert result.dnssec == "insecure"
    assert result.dnssec_reason == "plain.test is delegated without DS (NSEC of test)"


def test_a_signed_name_cnaming_into_an_unsigned_zone_takes_the_weakest_status():
    result = one(world_of_test(), "out.partner.test")
    assert result.addresses == ("203.0.113.9",)
    assert (result.dnssec, result.dnssec_reason) == ("insecure", "plain.test is delegated without DS (NSEC of test)")


def test_no_trust_anchor_above_the_name_is_insecure():
    world = world_of_test()
    result = resolver(world, world.anchor("cdn.test")).resolve("api.partner.test")[0]
    assert (result.dnssec, result.dnssec_reason) == ("insecure", "no trust anchor covers api.partner.test")


def test_a_partners_pinned_key_is_its_own_anchor():
    world = world_of_test()
    result = resolver(world, world.anchor("partner.test")).resolve("api.partner.test")[0]
    assert result.dnssec == "secure"
    assert ("test", "DNSKEY") not in world.asked  # nothing above the anchor is asked


def test_a_dnskey_anchor_works_like_its_ds():
    world = world_of_test()
    key = world.keys["partner.test"].dnskey
    result = resolver(world, f"partner.test. DNSKEY {key.to_text()}").resolve("api.partner.test")[0]
    assert result.dnssec == "secure"


def test_keys_are_asked_once_for_the_run_even_with_resolutions_in_flight_together():
    world = world_of_test()
    hosts = ["api.partner.test", "v4only.partner.test", "alias.partner.test", "x.wild.partner.test"]
    results = resolver(world).resolve(*hosts)
    assert [r.dnssec for r in results] == ["secure"] * 4
    asked = [q for q in world.asked if q[1] in ("DNSKEY", "DS")]
    assert sorted(asked) == sorted(
        [
            ("test", "DNSKEY"),
            ("partner.test", "DS"),
            ("partner.test", "DNSKEY"),
            ("cdn.test", "DS"),
            ("cdn.test", "DNSKEY"),
        ]
    )


# --------------------------------------------------------------------------- attacks: bogus


def spoof_address(address: str):
    """An attacker on the path: the genuine signature kept, the address changed."""

    def tamper(query, response):
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.A:
                rrset.clear()
                rrset.add(dns.rdata.from_text("IN", "A", address))
        return response

    return tamper


def test_a_genuine_signature_over_another_address_is_bogus():
    world = world_of_test()
    world.tamper = spoof_address("198.51.100.66")
    result = one(world, "api.partner.test", families="ipv4")
    assert result.addresses == ("198.51.100.66",)
    assert result.dnssec == "bogus"
    assert "RRSIG over api.partner.test A by partner.test key" in result.dnssec_reason
    assert result.dnssec_reason.endswith("does not verify")


def test_an_unsigned_answer_for_a_signed_zone_is_bogus():
    world = world_of_test()

    def strip(query, response):
        if query.question[0].rdtype == dns.rdatatype.A:
            response.answer = [r for r in response.answer if r.rdtype != dns.rdatatype.RRSIG]
        return response

    world.tamper = strip
    result = one(world, "api.partner.test", families="ipv4")
    assert (result.dnssec, result.dnssec_reason) == ("bogus", "no RRSIG over api.partner.test A")


def test_stripping_the_signatures_of_the_chain_is_bogus_not_insecure():
    world = world_of_test()

    def strip_all(query, response):
        for section in (response.answer, response.authority):
            section[:] = [r for r in section if r.rdtype not in (dns.rdatatype.RRSIG, dns.rdatatype.NSEC)]
        return response

    world.tamper = strip_all
    result = one(world, "api.partner.test", families="ipv4")
    assert result.dnssec == "bogus"
    assert "test" in result.dnssec_reason and "not signed by the key" in result.dnssec_reason


def test_an_attackers_own_key_is_not_in_the_chain():
    world = world_of_test()
    attacker = Key.make()
    forged = World()
    forged.add("partner.test", "api A 198.51.100.66\n", key=attacker)

    def swap(query, response):
        if query.question[0].name.to_text() == "api.partner.test." and query.question[0].rdtype == dns.rdatatype.A:
            return forged.respond(query)
        return response

    world.tamper = swap
    result = one(world, "api.partner.test", families="ipv4")
    assert result.dnssec == "bogus"
    assert "no such key in the trusted DNSKEY set" in result.dnssec_reason


def test_an_attackers_dnskey_set_does_not_match_the_parents_ds():
    world = world_of_test()
    forged = World()
    forged.add("partner.test", "api A 198.51.100.66\n")

    def swap(query, response):
        if query.question[0].name.to_text().endswith("partner.test.") and query.question[0].rdtype != dns.rdatatype.DS:
            return forged.respond(query)
        return response

    world.tamper = swap
    result = one(world, "api.partner.test", families="ipv4")
    assert result.dnssec == "bogus"
    assert result.dnssec_reason == "the key of partner.test that the DS of partner.test names is not in its DNSKEY set"


def test_an_expired_signature_is_bogus_and_says_when():
    world = World()
    now = time.time()
    world.add("old.test", "api A 192.0.2.1\n", inception=now - 7200, expiration=now - 60)
    result = resolver(world, world.anchor("old.test")).resolve("api.old.test")[0]
    assert result.dnssec == "bogus"
    assert "expired at" in result.dnssec_reason


def test_a_signature_not_yet_valid_is_bogus():
    world = World()
    now = time.time()
    world.add("new.test", "api A 192.0.2.1\n", inception=now + 600, expiration=now + 7200)
    result = resolver(world, world.anchor("new.test")).resolve("api.new.test")[0]
    assert result.dnssec == "bogus"
    assert "is not valid before" in result.dnssec_reason


def test_a_good_answer_checked_after_its_signature_expired_is_bogus():
    world = world_of_test()
    later = time.time() + 3 * 3600  # the zone's signatures expire after 2 hours
    result = resolver(world, clock=lambda: later).resolve("api.partner.test")[0]
    assert result.dnssec == "bogus"
    assert "expired at" in result.dnssec_reason


def test_the_ttl_is_capped_at_the_signatures_expiry():
    world = World()
    now = time.time()
    world.add("soon.test", "api 3600 A 192.0.2.1\n", inception=now - 60, expiration=now + 90)
    result = resolver(world, world.anchor("soon.test"), families="ipv4").resolve("api.soon.test")[0]
    assert result.dnssec == "secure"
    assert 0 < result.ttl <= 90


def test_the_ttl_is_capped_at_the_signatures_original_ttl():
    world = world_of_test()

    def raise_ttl(query, response):
        for rrset in response.answer:
            rrset.ttl = 86400  # a cache that stretched it; the RRSIG still says 300
        return response

    world.tamper = raise_ttl
    result = one(world, "api.partner.test", families="ipv4")
    assert (result.dnssec, result.ttl) == ("secure", 300)


def test_a_signature_over_another_type_is_refused():
    """dnspython 2.6 does not check the RRSIG's type covered; the collection does, before any key is looked up."""
    world = world_of_test()
    a = world.respond(dns.message.make_query("api.partner.test", "A", want_dnssec=True))
    aaaa = world.respond(dns.message.make_query("api.partner.test", "AAAA", want_dnssec=True))
    sig = next(r for r in a.answer if r.rdtype == dns.rdatatype.RRSIG)[0]
    records = next(r for r in aaaa.answer if r.rdtype == dns.rdatatype.AAAA)
    validator = resolver(world).engine.validators[0]
    assert validator._verify(records, sig, None) == "an RRSIG at api.partner.test covers A, not AAAA"


def world_without_tamper(world: World) -> World:
    return World(zones=world.zones, keys=world.keys)


def test_a_signer_that_does_not_own_the_name_is_refused():
    world = world_of_test()

    def borrow(query, response):
        if query.question[0].name.to_text() == "api.partner.test." and query.question[0].rdtype == dns.rdatatype.A:
            edge = World.respond(
                world_without_tamper(world), dns.message.make_query("edge.cdn.test", "A", want_dnssec=True)
            )
            records = list(edge.answer)
            for rrset in records:
                rrset.name = dns.name.from_text("api.partner.test")
            response.answer = records
        return response

    world.tamper = borrow
    result = one(world, "api.partner.test", families="ipv4")
    assert result.dnssec == "bogus"
    assert "by cdn.test, whose zone does not own the name" in result.dnssec_reason


def test_a_revoked_key_never_validates():
    world = World()
    revoked = Key.make(flags=257 | 0x80)
    world.add("rev.test", "api A 192.0.2.1\n", key=revoked)
    anchor = f"rev.test. DS {dns.dnssec.make_ds('rev.test.', revoked.dnskey, 'SHA256').to_text()}"
    result = resolver(world, anchor).resolve("api.rev.test")[0]
    assert result.dnssec == "bogus"
    tag = dns.dnssec.key_id(revoked.dnskey)
    assert result.dnssec_reason == f"the key of rev.test that trust anchor rev.test (key tag {tag}) names is revoked"


def test_a_revoked_key_next_to_a_good_one_signs_nothing():
    world = World()
    good, revoked = Key.make(), Key.make(flags=257 | 0x80)
    zone = world.add("mix.test", "api A 192.0.2.1\n", key=good, extra_keys=(revoked,))
    node = zone.get_node(dns.name.from_text("api.mix.test"))
    sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, dns.rdatatype.A)
    good_tag = dns.dnssec.key_id(good.dnskey)

    def only_revoked(query, response):
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.RRSIG and rrset.covers == dns.rdatatype.A:
                kept = [s for s in sigs if s.key_tag != good_tag]
                rrset.clear()
                for sig in kept:
                    rrset.add(sig)
        return response

    world.tamper = only_revoked
    result = resolver(world, world.anchor("mix.test"), families="ipv4").resolve("api.mix.test")[0]
    assert result.dnssec == "bogus"
    assert "no such key in the trusted DNSKEY set" in result.dnssec_reason


# --------------------------------------------------------------------------- wildcards and denials


def test_a_wildcard_answer_with_its_proof_is_secure():
    result = one(world_of_test(), "anything.wild.partner.test", families="ipv4")
    assert (result.addresses, result.dnssec) == (("192.0.2.20",), "secure")


def test_a_wildcard_signature_replayed_for_an_existing_name_is_refused():
    """The wildcard's genuine RRSIG over its address, served for real.wild (which exists, with
    another address): the signature verifies, but no NSEC can prove that real.wild does not
    exist, so the expansion is refused."""
    world = world_of_test()
    clean = world_without_tamper(world)

    def replay(query, response):
        if query.question[0].name.to_text() == "real.wild.partner.test." and query.question[0].rdtype == 1:
            wild = clean.respond(dns.message.make_query("x.wild.partner.test", "A", want_dnssec=True))
            for rrset in wild.answer:
                rrset.name = dns.name.from_text("real.wild.partner.test")
            response.answer = wild.answer
            response.authority = wild.authority
        return response

    world.tamper = replay
    result = one(world, "real.wild.partner.test", families="ipv4")
    assert (result.addresses, result.dnssec) == (("192.0.2.20",), "bogus")
    assert result.dnssec_reason.startswith(
        "real.wild.partner.test A is a wildcard expansion without proof: "
        "no NSEC record proves that real.wild.partner.test does not exist"
    )
    assert one(world_of_test(), "real.wild.partner.test").dnssec == "secure"


def test_a_wildcard_answer_without_its_nsec_is_refused():
    world = world_of_test()

    def drop_proof(query, response):
        response.authority = []
        return response

    world.tamper = drop_proof
    result = one(world, "anything.wild.partner.test", families="ipv4")
    assert result.dnssec == "bogus"
    assert "anything.wild.partner.test A is a wildcard expansion without proof" in result.dnssec_reason


def test_nxdomain_and_nodata_proven_by_nsec_are_secure():
    world = world_of_test()
    missing, only_v4, no_address = resolver(world).resolve(
        "nope.partner.test", "v4only.partner.test", "txt.partner.test"
    )
    assert (missing.error.type, missing.dnssec) == ("NXDOMAIN", "secure")
    assert (only_v4.addresses, only_v4.dnssec) == (("192.0.2.11",), "secure")
    assert (no_address.error.type, no_address.dnssec) == ("NODATA", "secure")


def test_an_unsigned_nxdomain_for_a_signed_zone_is_bogus():
    world = world_of_test()

    def deny(query, response):
        if query.question[0].name.to_text() == "api.partner.test.":
            response.answer, response.authority = [], []
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    world.tamper = deny
    result = one(world, "api.partner.test")
    assert (result.error.type, result.dnssec) == ("NXDOMAIN", "bogus")
    assert "NXDOMAIN for api.partner.test without signed NSEC or NSEC3 records" in result.dnssec_reason


def test_the_parents_nsec_at_a_delegation_proves_nothing_below_it():
    """The parent's genuine NSEC at partner.test (NS, DS) covers names under partner.test in
    canonical order; RFC 6840 4.1: it must not deny them."""
    world = world_of_test()
    clean = world_without_tamper(world)

    def deny_with_parent(query, response):
        if query.question[0].name.to_text() == "api.partner.test.":
            ds = clean.respond(dns.message.make_query("nope.test", "A", want_dnssec=True))
            at_cut = clean.respond(dns.message.make_query("partner.test", "DS", want_dnssec=True))
            response.answer = []
            response.authority = ds.authority + at_cut.authority
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    world.tamper = deny_with_parent
    result = one(world, "api.partner.test", families="ipv4")
    assert result.dnssec == "bogus"


def test_a_ds_naming_only_unknown_algorithms_makes_the_zone_insecure():
    world = World()
    world.add("odd.test", "api A 192.0.2.1\n")
    zone = world.add("test", "odd NS ns.test.\n", signed=False)
    # Re-sign the parent with a DS of an algorithm no validator knows (RFC 4035 5.2: insecure).
    node = zone.get_node(dns.name.from_text("odd.test"))
    ds = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.DS)
    odd = dns.rdata.from_text("IN", "DS", f"{ds[0].key_tag} 253 2 {ds[0].digest.hex()}")
    ds.clear()
    ds.add(odd)
    key = Key.make()
    dns.dnssec.sign_zone(zone, keys=[(key.private, key.dnskey)], inception=time.time() - 60, lifetime=3600)
    anchor = key.ds_text("test.")
    result = resolver(world, anchor, families="ipv4").resolve("api.odd.test")[0]
    assert (result.dnssec, result.dnssec_reason) == (
        "insecure",
        "the DS of odd.test names only algorithms not supported",
    )


def test_a_failed_key_query_is_bogus_and_asked_again_for_the_next_name():
    world = world_of_test()
    refused = {"count": 0}

    def refuse_first_dnskey(query, response):
        if query.question[0].rdtype == dns.rdatatype.DNSKEY and refused["count"] == 0:
            refused["count"] += 1
            response.set_rcode(dns.rcode.REFUSED)
            response.answer = []
        return response

    world.tamper = refuse_first_dnskey
    r = resolver(world, families="ipv4")
    first = r.resolve("api.partner.test")[0]
    again = r.resolve("api.partner.test")[0]
    assert first.dnssec == "bogus" and "DNSKEY query for test failed: REFUSED" in first.dnssec_reason
    assert again.dnssec == "secure"
