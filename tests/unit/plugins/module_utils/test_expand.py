# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CIDR blocks expanded to their single addresses: exactly the declared ones, once each, up to a limit."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._expand import TooManyAddresses, address_count, expand


def nets(*texts):
    return [ipaddress.ip_network(t) for t in texts]


def test_a_block_is_every_address_it_holds_network_and_broadcast_included():
    assert [str(a) for a in expand(nets("198.51.100.0/30"), 16)] == [
        "198.51.100.0",
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
    ]


def test_overlaps_count_once_and_ipv4_comes_first_in_address_order():
    blocks = nets("2001:db8::/127", "192.0.2.8/31", "192.0.2.0/29", "192.0.2.9/32")
    assert address_count(blocks) == 2 + 8 + 2
    assert [str(a) for a in expand(blocks, 12)] == [
        *(f"192.0.2.{i}" for i in range(10)),
        "2001:db8::",
        "2001:db8::1",
    ]


def test_more_than_the_limit_is_refused_with_the_count_before_anything_is_listed():
    # A /8 holds 16,777,216 addresses: refused from the count, never listed.
    with pytest.raises(TooManyAddresses) as caught:
        expand(nets("10.0.0.0/8", "192.0.2.0/31"), 256)
    assert (caught.value.count, caught.value.limit) == (16777218, 256)
    assert str(caught.value) == "16777218 addresses, more than the limit of 256"
    assert isinstance(caught.value, MeshguardError)


def test_exactly_the_limit_is_allowed():
    assert len(expand(nets("192.0.2.0/24"), 256)) == 256
    assert expand([], 0) == []
