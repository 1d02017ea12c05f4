# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNSSEC: what must be proven of the DNS answers, and from which trust anchors."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  dnssec:
    description:
      - What DNSSEC must prove of a host's answer before its addresses are used. Every A and AAAA answer, every
        CNAME hop and every NXDOMAIN or NODATA is validated along a chain of trust from O(trust_anchors) (DS and
        DNSKEY records asked for as needed, from the same nameservers, once per run), and gets a status,
        C(secure) (signed, the chain holds), C(insecure) (proven unsigned - a delegation without DS, shown by the
        signed parent's NSEC or NSEC3 records) or C(bogus) (anything else - no signature where the zone is signed, a
        signature over other data, a key not in the chain, an expired or not yet valid signature, a revoked key, a
        wildcard expansion or a denial without proof). A CNAME chain gets the weakest status of its hops.
      - V(off) does not validate; nothing changes.
      - V(prefer) refuses C(bogus) answers and accepts C(insecure) ones with a warning; it protects the signed zones
        (a forged or replayed answer for them is refused) and lets unsigned ones through.
      - V(require) accepts C(secure) answers only.
      - A refused answer is handled as an address the address policy refuses, with a message naming the service,
        the host, the status and why. In M(meshguard.egress.rules) the service is then treated as not resolved
        (see O(meshguard.egress.rules#module:on_error)); a service overrides this option with its own C(dnssec) key.
        In the P(meshguard.egress.resolve#lookup) lookup the host fails with C(DNSSEC).
      - Answers given in C(resolved) (or from a snapshot) are judged by the status they carry; one without a status
        (resolved without DNSSEC) is refused by V(require) and warned about by V(prefer).
      - Queries ask for signatures (DO) and leave validation to the collection (CD); nameservers that strip DNSSEC
        records make signed zones C(bogus). See the DNSSEC guide for the threat model and its limits.
      - 'In YAML an unquoted V(off) is false, which is read as V(off).'
    type: str
    choices: ['off', prefer, require]
    default: 'off'
  trust_anchors:
    description:
      - The DS or DNSKEY records the chains of trust start from, in presentation format, one a line
        (V(partner.example. DS 12345 13 2 5F2A...), as C(dig DS) or the partner shows them; TTL and class may be
        given), for example a private signed zone's own DS, or a partner's key pinned. An item may hold several
        lines; V(;) starts a comment. A name is validated from the anchor of the deepest zone above it.
      - When not set, the root zone's key-signing keys as IANA publishes them (key tags 20326 and 38696), shipped
        with the collection. Setting this option replaces them; the item V(root) stands for them, to keep them
        next to a pinned key.
      - A name that no anchor covers is C(insecure).
    type: list
    elements: str
seealso:
  - ref: ansible_collections.meshguard.egress.docsite.dnssec
    description: The threat model of DNSSEC validation, what is validated and its limits, pinning a partner's key.
requirements:
  - cryptography >= 41.0.0 (on the controller, for O(dnssec=prefer) and O(dnssec=require))
"""
