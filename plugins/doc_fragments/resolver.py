# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolver and aggregation options shared by the resolve lookup and the rules module."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  nameservers:
    description:
      - Nameservers to ask, as IP literals with an optional port each.
      - 'Forms: V(192.0.2.53), V(192.0.2.53:5353), V(2001:db8::53), V([2001:db8::53]:5353).'
      - Host names are not accepted (a nameserver must be reachable without DNS).
      - When not set, the nameservers of the system resolver configuration (C(/etc/resolv.conf)) are used.
      - Without O(all_nameservers), they are asked in order until one answers.
    type: list
    elements: str
  port:
    description:
      - Port for every nameserver that does not give its own.
    type: int
    default: 53
  families:
    description:
      - Address families to ask for. V(both) asks for A and AAAA records.
      - A host that has addresses in one family and none in the other is not an error.
    type: str
    choices: [both, ipv4, ipv6]
    default: both
  timeout:
    description:
      - Seconds to wait for the answer to one query.
      - A nameserver that does not answer is asked again until O(lifetime) is used up.
    type: float
    default: 2.0
  lifetime:
    description:
      - Seconds allowed for one host name in total, every query included (both families, CNAME targets,
        retries, O(rounds), every nameserver). When it runs out the host fails with C(TIMEOUT).
    type: float
    default: 10.0
  retries:
    description:
      - How many times a nameserver that answered C(SERVFAIL) is asked again before it counts as failed.
    type: int
    default: 2
  tcp:
    description:
      - Always use TCP. Without it, queries go over UDP and a truncated answer is asked again over TCP
        automatically, so large answers are complete either way.
    type: bool
    default: false
  rounds:
    description:
      - Ask this many times and take the union of the answers, for pools that answer with a rotating subset
        of their addresses.
    type: int
    default: 1
  all_nameservers:
    description:
      - Ask every listed nameserver, not only the first that answers, and take the union of their answers
        (split-horizon or geo DNS give different answers per resolver).
      - A host is then an error when any nameserver fails (C(TIMEOUT), C(SERVFAIL), C(REFUSED)), because the
        union would be incomplete; C(NXDOMAIN) or C(NODATA) from some nameservers is fine while another one
        has addresses.
    type: bool
    default: false
  concurrency:
    description:
      - How many host names are resolved in parallel.
    type: int
    default: 32
  on_error:
    description:
      - What a host that cannot be resolved does.
      - V(fail) fails with one message listing every such host, its error type and nameserver.
      - V(warn) shows a warning per host; the host contributes no address.
      - V(omit) leaves the host out silently.
      - 'Error types: C(NXDOMAIN), C(NODATA), C(TIMEOUT), C(SERVFAIL), C(REFUSED), C(CNAME_LOOP),
        C(CNAME_DEPTH) (chain longer than 16), C(NETWORK) (the nameserver cannot be reached),
        C(BAD_RESPONSE).'
      - Invalid terms and blocks rejected by O(broadest_prefix) always fail.
    type: str
    choices: [fail, warn, omit]
    default: fail
  collapse:
    description:
      - V(merge) merges adjacent and contained blocks; the result covers exactly the input addresses, never more.
      - V(none) keeps each address as a C(/32) or C(/128) block (deduplicated and sorted).
    type: str
    choices: [merge, none]
    default: merge
  ipv4_prefix:
    description:
      - Widen each resolved IPv4 address to the enclosing block of this prefix length, for pools that
        rotate inside a known range. Literal addresses and CIDR blocks are taken as written.
    type: int
    default: 32
  ipv6_prefix:
    description:
      - Widen each resolved IPv6 address to the enclosing block of this prefix length.
    type: int
    default: 128
  broadest_prefix:
    description:
      - Guard against too broad blocks. A block broader than this, whatever produced it (a literal CIDR or a
        widening), fails with an error naming the block and its source.
      - Merging never adds addresses and never produces a block broader than this either; adjacent blocks
        that would merge into a broader one stay blocks of this size.
    type: dict
    suboptions:
      ipv4:
        description: Broadest IPv4 prefix length allowed.
        type: int
        default: 16
      ipv6:
        description: Broadest IPv6 prefix length allowed.
        type: int
        default: 48
  allow_any:
    description:
      - Allow V(0.0.0.0/0) and V(::/0). Without it they always fail, whatever O(broadest_prefix) says.
    type: bool
    default: false
requirements:
  - dnspython >= 2.6.1 (on the controller)
  - netaddr >= 1.2.1 (on the controller)
"""
