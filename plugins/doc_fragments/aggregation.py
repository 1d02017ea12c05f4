# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aggregation options: how addresses become CIDR blocks, and the guard against too broad ones."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
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
  - netaddr >= 1.2.1 (on the controller)
"""
