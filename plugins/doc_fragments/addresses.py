# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The address policy: which destinations egress rules never allow."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  internal_ranges:
    description:
      - CIDR blocks of the cluster's network that it cannot report itself (the VPC, on-premises networks). DNS answers
        and literals in them are refused, unless a service's C(allow_ranges) hold a block inside them.
      - 'Refused always, whatever this says: special-purpose addresses of the IANA registries, such as unspecified
        and "this network" (V(0.0.0.0/8), V(::/128)), loopback (V(127.0.0.0/8), V(::1)), link-local (V(169.254.0.0/16),
        V(fe80::/10)), the cloud metadata endpoints (V(169.254.169.254), V(fd00:ec2::254), V(fd20:ce::254),
        V(100.100.100.200)), multicast, reserved, broadcast, IPv4-mapped, IPv4-compatible, Teredo and local-use NAT64
        addresses, and every refused IPv4 range in its NAT64 (V(64:ff9b::/96)) and 6to4 (V(2002::/16)) forms.'
      - DNS answers in a private range (RFC 1918, V(100.64.0.0/10), V(fc00::/7)) are refused unless the service's
        C(allow_ranges) hold them.
      - The modules also refuse the Service ranges the cluster reports (C(ServiceCIDR) objects) and the nodes'
        C(spec.podCIDRs), and warn when they may not read them.
      - The documentation and benchmarking ranges (V(192.0.2.0/24), V(198.51.100.0/24), V(203.0.113.0/24),
        V(198.18.0.0/15), V(2001:db8::/32), V(3fff::/20), V(2001:2::/48)) stay allowed.
      - A service with a refused address is treated as not resolved (see O(meshguard.egress.rules#module:on_error)),
        with a message naming the service, the host, the address and the range.
    type: list
    elements: str
    default: []
"""
