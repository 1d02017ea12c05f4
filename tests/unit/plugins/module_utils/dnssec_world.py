# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signed zones in memory, answered as one authoritative server serving all of them would.

For unit tests of the validator without a network: zones are signed by
dnspython (``dns.dnssec.sign_zone``, NSEC, ECDSA P-256) with keys made here,
a parent gets the DS of each signed child, and ``World.respond`` answers a
query as Knot does (DS at a cut from the parent, wildcards expanded with the
NSEC that proves the name does not exist, NXDOMAIN and NODATA with their
NSEC records). A ``tamper`` function may rewrite any response, to play an
attacker. tests/integration/test_dnssec.py does the same against Knot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.meshguard.egress.plugins.module_utils._dns.engine import Engine, Pause, Send
from ansible_collections.meshguard.egress.plugins.module_utils._dns.options import ResolverOptions, parse_nameserver

NS = "127.0.0.1:53"
SOA = "@ SOA ns.test. hostmaster.test. 1 3600 600 86400 300\n@ NS ns.test.\n"


@dataclass
class Key:
    private: Any
    dnskey: Any

    @classmethod
    def make(cls, flags: int = 257) -> Key:
        private = ec.generate_private_key(ec.SECP256R1())
        return cls(private, dns.dnssec.make_dnskey(private.public_key(), 13, flags=flags))

    def ds(self, zone: str, digest: str = "SHA256") -> Any:
        return dns.dnssec.make_ds(zone, self.dnskey, digest)

    def ds_text(self, zone: str) -> str:
        return f"{zone} DS {self.ds(zone).to_text()}"


def name(text: str) -> Any:
    return dns.name.from_text(text)


@dataclass
class World:
    """Zones by origin; ``signed`` zones get a key each (``keys``), the others none."""

    zones: dict[Any, Any] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    tamper: Optional[Callable[[Any, Any], Any]] = None
    asked: list[tuple[str, str]] = field(default_factory=list)

    def add(
        self,
        origin: str,
        records: str,
        *,
        signed: bool = True,
        key: Optional[Key] = None,
        inception: Optional[float] = None,
        expiration: Optional[float] = None,
        extra_keys: tuple[Key, ...] = (),
    ) -> Any:
        """A zone from its records (relative to ``origin``; SOA and NS are added), signed unless told.

        Add children before their parent: the parent gets their DS records.
        """
        text = SOA + records
        for child, child_key in self.keys.items():
            if name(child).parent() == name(origin):
                text += f"\n{child}. DS {child_key.ds(child + '.').to_text()}"
        zone = dns.zone.from_text(text, origin=origin + ".", relativize=False)
        if signed:
            key = key or Key.make()
            self.keys[origin] = key
            now = time.time()
            dns.dnssec.sign_zone(
                zone,
                keys=[(key.private, key.dnskey)] + [(k.private, k.dnskey) for k in extra_keys],
                inception=inception if inception is not None else now - 3600,
                expiration=expiration if expiration is not None else now + 7200,
            )
        self.zones[name(origin)] = zone
        return zone

    def anchor(self, origin: str) -> str:
        return self.keys[origin].ds_text(origin + ".")

    # ----------------------------------------------------------------- answering

    def respond(self, query: Any) -> Any:
        question = query.question[0]
        qname, rdtype = question.name, question.rdtype
        self.asked.append((qname.to_text(omit_final_dot=True), dns.rdatatype.to_text(rdtype)))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        zone = self._zone_for(qname, rdtype)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
        else:
            self._answer(zone, qname, rdtype, response)
        if not query.ednsflags & dns.flags.DO:
            for section in (response.answer, response.authority):
                section[:] = [r for r in section if r.rdtype not in (46, 47, 50)]
        if self.tamper is not None:
            response = self.tamper(query, response) or response
        return response

    def _zone_for(self, qname: Any, rdtype: int) -> Any:
        found = [origin for origin in self.zones if qname.is_subdomain(origin)]
        if not found:
            return None
        origin = max(found, key=len)
        if rdtype == dns.rdatatype.DS and qname == origin:
            parents = [o for o in self.zones if o != origin and origin.is_subdomain(o)]
            if parents:
                origin = max(parents, key=len)  # the DS is the parent's
        return self.zones[origin]

    def _answer(self, zone: Any, qname: Any, rdtype: int, response: Any) -> None:
        node = zone.get_node(qname)
        if node is not None:
            found = node.get_rdataset(dns.rdataclass.IN, rdtype)
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if found is not None:
                self._add(response.answer, zone, qname, rdtype)
            elif cname is not None:
                self._add(response.answer, zone, qname, dns.rdatatype.CNAME)
            else:
                self._add_soa(zone, response)
                self._add(response.authority, zone, qname, dns.rdatatype.NSEC)
            return
        if any(n.is_subdomain(qname) for n in zone.nodes):  # an empty non-terminal
            self._add_soa(zone, response)
            self._add_covering(zone, qname, response)
            return
        encloser = qname.parent()
        while zone.get_node(encloser) is None and not any(n.is_subdomain(encloser) for n in zone.nodes):
            encloser = encloser.parent()
        wildcard = dns.name.from_text("*", encloser)
        wild = zone.get_node(wildcard)
        if wild is not None:
            if wild.get_rdataset(dns.rdataclass.IN, rdtype) is not None:
                self._add(response.answer, zone, wildcard, rdtype, owner=qname)
            else:  # the wildcard's NODATA
                self._add_soa(zone, response)
                self._add(response.authority, zone, wildcard, dns.rdatatype.NSEC)
            self._add_covering(zone, qname, response)
            return
        self._add_soa(zone, response)
        response.set_rcode(dns.rcode.NXDOMAIN)
        self._add_covering(zone, qname, response)
        self._add_covering(zone, wildcard, response)

    def _add(self, section: list, zone: Any, at: Any, rdtype: int, owner: Any = None) -> None:
        node = zone.get_node(at)
        rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
        if rdataset is None:
            return  # an unsigned zone has no NSEC
        rrset = dns.rrset.RRset(owner or at, dns.rdataclass.IN, rdtype)
        rrset.update(rdataset)
        rrset.ttl = rdataset.ttl
        section.append(rrset)
        sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rdtype)
        if sigs is not None:
            sig_rrset = dns.rrset.RRset(owner or at, dns.rdataclass.IN, dns.rdatatype.RRSIG, rdtype)
            sig_rrset.update(sigs)
            sig_rrset.ttl = sigs.ttl
            section.append(sig_rrset)

    def _add_soa(self, zone: Any, response: Any) -> None:
        self._add(response.authority, zone, zone.origin, dns.rdatatype.SOA)

    def _add_covering(self, zone: Any, target: Any, response: Any) -> None:
        for owner, node in zone.nodes.items():
            nsec = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC)
            if nsec is None:
                continue
            following = nsec[0].next
            inside = owner < target < following if owner < following else (target > owner or target < following)
            if inside and not any(r.name == owner and r.rdtype == dns.rdatatype.NSEC for r in response.authority):
                self._add(response.authority, zone, owner, dns.rdatatype.NSEC)


class Resolver:
    """The Engine over a World: requests answered in memory, several resolutions interleaved
    (a Pause sends a resolution to the back of the line, as the pipeline's timers do)."""

    def __init__(self, world: World, anchors: Any, clock: Callable[[], float] = time.time, **options: Any) -> None:
        self.world = world
        self.engine = Engine(ResolverOptions(nameservers=(parse_nameserver(NS),), **options), anchors, clock)

    def resolve(self, *hosts: str) -> list[Any]:
        line = [(i, self.engine.resolution(host), None) for i, host in enumerate(hosts)]
        results: list[Any] = [None] * len(hosts)
        while line:
            index, resolution, value = line.pop(0)
            try:
                request = resolution.send(value)
            except StopIteration as stop:
                results[index] = stop.value
                continue
            if isinstance(request, Pause):
                line.append((index, resolution, None))
            else:
                assert isinstance(request, Send)
                line.append((index, resolution, self.world.respond(request.query)))
        return results


def world_of_test() -> World:
    """test. (the anchor) delegating partner.test and cdn.test (signed) and plain.test (unsigned)."""
    world = World()
    world.add(
        "partner.test",
        "api A 192.0.2.10\napi AAAA 2001:db8::10\nv4only A 192.0.2.11\nalias CNAME edge.cdn.test.\n"
        "out CNAME www.plain.test.\n*.wild A 192.0.2.20\nreal.wild A 192.0.2.21\ntxt TXT hello\n",
    )
    world.add("cdn.test", "edge A 198.51.100.7\n")
    world.add("plain.test", "www A 203.0.113.9\n", signed=False)
    world.add(
        "test",
        "ns A 127.0.0.1\npartner NS ns.test.\ncdn NS ns.test.\nplain NS ns.test.\n",
    )
    return world
