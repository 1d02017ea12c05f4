# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: resolve
short_description: Resolve host names, IP addresses and CIDR blocks to a merged list of CIDRs
version_added: 0.1.0
author: meshguard.egress developers (@meshguard)
description:
  - Resolves each host name to all of its IPv4 and IPv6 addresses with dnspython, following CNAME chains
    (also across zones, up to 16 hops), and aggregates them with the IP literals and CIDR blocks given
    into one sorted, deduplicated list of CIDR blocks, ready for an Istio C(ServiceEntry) or a
    C(NetworkPolicy).
  - Internationalised host names are converted to their ASCII form; a trailing dot is allowed.
    Names are absolute (no search domains are applied).
  - Host names are resolved in parallel (O(concurrency)), so long lists stay fast.
  - Failures are typed (C(NXDOMAIN), C(NODATA), C(TIMEOUT), C(SERVFAIL), C(REFUSED), C(CNAME_LOOP), ...)
    and name the host and the nameserver; O(on_error) decides what they do.
  - The same resolver library backs the M(meshguard.egress.rules) module, which also accepts this lookup's
    O(detail=true) output, so a play can resolve once for every cluster.
options:
  _terms:
    description:
      - Host names, IPv4 or IPv6 addresses and CIDR blocks. Lists are flattened.
      - Literals and CIDR blocks pass through without DNS.
      - An invalid term (bad label, label over 63 characters, name over 253, V(999.1.1.1), V(10.0.0.0/33),
        host bits set, an empty string) fails with an error naming the term and the problem.
    required: true
    type: list
    elements: str
  on_error:
    description:
      - What a host that cannot be resolved does.
      - V(fail) fails with one message listing every such host, its error type and nameserver.
      - V(warn) shows a warning per host; the host contributes no address.
      - V(omit) leaves the host out silently.
      - 'Error types: C(NXDOMAIN), C(NODATA), C(TIMEOUT), C(SERVFAIL), C(REFUSED), C(CNAME_LOOP),
        C(CNAME_DEPTH) (chain longer than 16), C(NETWORK) (the nameserver cannot be reached),
        C(BAD_RESPONSE), C(FORBIDDEN_ADDRESS) (an answer holds an address egress rules never allow, see
        O(internal_ranges); the host then contributes none of its addresses), C(DNSSEC) (O(dnssec) refuses the
        answer: not proven authentic; the host contributes none of its addresses).'
      - Invalid terms, blocks rejected by O(broadest_prefix) and literals the address policy refuses always fail.
    type: str
    choices: [fail, warn, omit]
    default: fail
  allow_ranges:
    description:
      - CIDR blocks inside refused ranges that the answers may hold, as a service's C(allow_ranges) in
        M(meshguard.egress.rules). A private answer is allowed only inside them, a special-purpose one only with a
        block inside its range.
      - The lookup reads no cluster, so a cluster's Service and pod ranges are not checked here; the modules check
        them, with each service's own C(allow_ranges).
    type: list
    elements: str
    default: []
  allow_mixed_scripts:
    description:
      - Host names that may mix scripts, in either form (Unicode, or ASCII as V(xn--pypal-4ve.example)).
      - A name whose letters are not of one script (a Cyrillic C(U+0430) in a Latin name, a Cyrillic label under a
        Latin top-level domain), or of a combination Unicode Technical Standard 39 admits at its Highly Restrictive
        level (Latin with Han and Japanese kana, with Han and Bopomofo, with Han and Hangul), reads as another name
        and fails before any query, with both its forms, unless it is listed here.
      - See the resolve guide, "Look-alike names".
    type: list
    elements: str
    default: []
  detail:
    description:
      - Return one dictionary per term instead of the merged CIDR list. See RV(_raw).
      - Use it with C(query) (or C(wantlist=true)); plain C(lookup) returns a bare dictionary when there is
        only one term.
    type: bool
    default: false
extends_documentation_fragment:
  - meshguard.egress.resolver
  - meshguard.egress.aggregation
  - meshguard.egress.addresses
  - meshguard.egress.dnssec
notes:
  - C(lookup) joins the CIDR list with commas, as every lookup does; use C(query) (or C(wantlist=true))
    to get a list.
  - The lookup runs on the controller; dnspython and netaddr must be installed there.
seealso:
  - ref: ansible_collections.meshguard.egress.docsite.resolve
    description: How host names are resolved and merged into CIDR blocks, rotating pools, look-alike names.
  - ref: ansible_collections.meshguard.egress.docsite.address-policy
    description: The addresses a rule set never allows, and why.
"""

EXAMPLES = r"""
- name: Merged CIDRs of two databases, asking a local nameserver on port 5353
  ansible.builtin.debug:
    msg: "{{ query('meshguard.egress.resolve', 'db1.example.com', 'db2.example.com',
             nameservers=['127.0.0.1'], port=5353) }}"

- name: Mix names, literals and blocks; IPv6 nameserver with its own port
  ansible.builtin.set_fact:
    egress_cidrs: "{{ query('meshguard.egress.resolve', 'api.partner.example', '192.0.2.10', '198.51.100.0/28',
                      nameservers=['[2001:db8::53]:5353', '192.0.2.53']) }}"

- name: A pool that answers a rotating subset, widened to the /24 it rotates in
  ansible.builtin.set_fact:
    pool_cidrs: "{{ query('meshguard.egress.resolve', 'pool.example.com', rounds=5, ipv4_prefix=24) }}"

- name: Split-horizon DNS, union of what every resolver says; skip hosts that fail, with a warning
  ansible.builtin.set_fact:
    cidrs: "{{ query('meshguard.egress.resolve', hosts, nameservers=['10.0.0.2', '10.1.0.2'],
               all_nameservers=true, on_error='warn') }}"

- name: A partner's signed zone, its key pinned; only DNSSEC-proven answers
  ansible.builtin.set_fact:
    partner_cidrs: "{{ query('meshguard.egress.resolve', 'api.partner.example', dnssec='require',
                     trust_anchors=['root', lookup('ansible.builtin.file', 'partner.example.ds')]) }}"

- name: Per-host detail, resolved once and handed to every cluster
  ansible.builtin.set_fact:
    resolved: "{{ query('meshguard.egress.resolve', 'db1.example.com', 'legacy-db.example.com', detail=true) }}"
"""

RETURN = r"""
_raw:
  description:
    - Without O(detail), the merged CIDR blocks of every term that resolved, deduplicated and sorted
      (IPv4 before IPv6, numeric order). Same DNS answers give byte-identical output.
    - With O(detail=true), one dictionary per term, in the order of the terms.
  type: list
  elements: raw
  sample: ["192.0.2.10/32", "198.51.100.0/28", "2001:db8::10/128"]
  contains:
    host:
      description: The term in normal form (lower-case ASCII name without trailing dot, canonical IP or CIDR).
      type: str
      sample: db1.example.com
    unicode:
      description:
        - The host name a person reads, its C(xn--) labels decoded (V(paypal.example) with a Cyrillic C(U+0430) for
          V(xn--pypal-4ve.example)); the same as RV(_raw[].host) for a plain name and for literals.
        - Messages that name an internationalised host show both forms, C(<ascii> (<unicode>)).
      type: str
      sample: db1.example.com
    addresses:
      description: Addresses found (sorted); the address itself for an IP literal; empty for a CIDR or on error.
      type: list
      elements: str
      sample: ["192.0.2.10", "2001:db8::10"]
    cidrs:
      description: This term's blocks after O(collapse), O(ipv4_prefix) and O(ipv6_prefix); empty on error.
      type: list
      elements: str
      sample: ["192.0.2.10/32", "2001:db8::10/128"]
    cname_chain:
      description: CNAME targets followed from the host, in order.
      type: list
      elements: str
      sample: ["db1.eu.example.net"]
    ttl:
      description: The smallest TTL seen among the records used (address and CNAME records); null for literals.
      type: int
      sample: 300
    error:
      description:
        - Null when the term resolved, else the error's C(type) and a C(message) naming the host and the nameserver.
        - With C(FORBIDDEN_ADDRESS), C(addresses) still lists what DNS answered, and the message names each
          refused address and its range.
      type: dict
      sample: {"type": "NXDOMAIN", "message": "db3.example.com: does not exist (NXDOMAIN from 127.0.0.1:53)"}
    dnssec:
      description:
        - DNSSEC's verdict on the host's answer (O(dnssec) not V(off)) - V(secure), V(insecure) or V(bogus), the
          weakest over both families and every CNAME hop, NXDOMAIN and NODATA included; null when not validated
          and for literals.
        - With the C(DNSSEC) error, C(addresses) still lists what DNS answered.
      type: str
      sample: secure
    dnssec_reason:
      description: For V(secure), the zones that signed; otherwise why (the RRset and the signature, or where the
        chain of trust proves the zone unsigned). Empty when not validated.
      type: str
      sample: signed by db.example.com
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import AGGREGATION, RESOLVER
from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import lookup
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError

display = Display()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        try:
            answer, warnings = lookup(
                terms,
                resolver={name: self.get_option(name) for name in RESOLVER},
                aggregation={name: self.get_option(name) for name in AGGREGATION},
                on_error=self.get_option("on_error"),
                detail=self.get_option("detail"),
                internal_ranges=self.get_option("internal_ranges"),
                allow_ranges=self.get_option("allow_ranges"),
                dnssec=self.get_option("dnssec"),
                trust_anchors=self.get_option("trust_anchors"),
                allow_mixed_scripts=self.get_option("allow_mixed_scripts"),
            )
        except MeshguardError as exc:
            raise AnsibleLookupError(f"meshguard.egress.resolve: {exc}") from None
        for warning in warnings:
            display.warning(f"meshguard.egress.resolve: {warning}")
        return answer
