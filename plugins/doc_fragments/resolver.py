# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolver options: how host names are resolved (the resolve lookup and the modules)."""

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
requirements:
  - dnspython >= 2.6.1 (on the controller)
"""
