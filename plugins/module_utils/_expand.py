# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CIDR blocks expanded to their single addresses, up to a limit.

Where Istio needs one object per address (a gateway can only forward to
endpoints, never to "the address the client dialled"), a block is turned
into every address it holds: exactly what was declared, never wider. The
limit keeps the object count bounded; beyond it the caller refuses, naming
the service and field.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Union

from ._errors import MeshguardError

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class TooManyAddresses(MeshguardError):
    """The blocks hold more addresses than the limit; ``count`` says how many."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} addresses, more than the limit of {limit}")
        self.count = count
        self.limit = limit


def address_count(networks: Iterable[Network]) -> int:
    """How many distinct addresses the blocks hold (overlaps counted once), without listing them."""
    networks = list(networks)
    return sum(network.num_addresses for network in ipaddress.collapse_addresses(_by_family(networks, 4))) + sum(
        network.num_addresses for network in ipaddress.collapse_addresses(_by_family(networks, 6))
    )


def expand(networks: Iterable[Network], limit: int) -> list[Address]:
    """Every address of the blocks, once each, IPv4 first and in address order.

    Raises TooManyAddresses (before listing anything) when they hold more than ``limit``.
    """
    networks = list(networks)
    count = address_count(networks)
    if count > limit:
        raise TooManyAddresses(count, limit)
    addresses: set[Address] = set()
    for network in networks:
        # ip_network(...) iterates every address, network and broadcast ones included: the block as declared.
        addresses.update(network)
    return sorted(addresses, key=lambda address: (address.version, address))


def _by_family(networks: Iterable[Network], version: int) -> list[Network]:
    return [network for network in networks if network.version == version]
