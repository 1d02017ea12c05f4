# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain mode's gateway ports: one per (service, service port), stable across runs.

The assignment is kept on the cluster, on each service's Gateway, in one
annotation (sorted JSON, service port -> gateway port):

    meshguard.egress/gateway-ports: {"27017":40000,"27018":40001}

and read back from the set's live Gateways, the way address retention reads
``last-seen``. ``assign`` then

1. keeps every live assignment whose unit is still declared and whose port is
   still in the range (a port another Gateway of the gateway's pods also
   serves is a clash: reported, never silently moved);
2. gives each new unit, in (service, port) order, the lowest port of the
   range that no kept unit and no other Gateway uses.

A kept unit is never renumbered; removing a unit frees its port. Free means
free on the gateway's pods: Istio merges every Gateway that selects them and
drops a second plain TCP server on a port (``mergeGateways``,
pilot/pkg/model/push_context.go, "conflict"), whoever wrote it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

GATEWAY_PORTS_ANNOTATION = "meshguard.egress/gateway-ports"

Unit = tuple[str, int]  # (service, service port)


@dataclass(frozen=True)
class Assignment:
    """Gateway port per unit, and what could not be assigned (one message each)."""

    ports: dict[Unit, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def of(self, service: str) -> dict[int, int]:
        """One service's assignment: service port -> gateway port."""
        return {port: gateway for (name, port), gateway in sorted(self.ports.items()) if name == service}


def assign(
    units: Iterable[Unit],
    previous: Mapping[Unit, int],
    taken: Mapping[int, str],
    ports: range,
) -> Assignment:
    """The gateway port of every unit.

    ``previous``: what the live Gateways record. ``taken``: ports served by
    other Gateways on the gateway's pods, each with who serves it (for the
    message). ``ports``: the configured range.
    """
    wanted = sorted(set(units))
    result: dict[Unit, int] = {}
    used: set[int] = set()
    problems: list[str] = []
    for unit in wanted:
        port = previous.get(unit)
        if port is None or port not in ports or port in used:
            continue  # new, out of the (changed) range, or a duplicate record: assigned afresh below
        if port in taken:
            problems.append(
                f"service {unit[0]!r} port {unit[1]}: gateway port {port} is also a server port of {taken[port]} on "
                "the same gateway pods; Istio keeps only one of them. Remove that server, or this service's "
                "Gateway so that the next run assigns another port"
            )
        result[unit] = port
        used.add(port)
    others = sum(1 for port in taken if port in ports)
    free = (port for port in ports if port not in used and port not in taken)
    for unit in wanted:
        if unit in result:
            continue
        port = next(free, None)
        if port is None:
            problems.append(
                f"service {unit[0]!r} port {unit[1]}: no free gateway port left in egress_gateway.ports "
                f"{ports.start}-{ports.stop - 1} ({len(wanted)} needed, {others} of the range used by other "
                "Gateways); widen the range"
            )
            continue
        result[unit] = port
    return Assignment(dict(sorted(result.items())), tuple(problems))


def annotation_value(service_ports: Mapping[int, int]) -> str:
    """The annotation of one service's Gateway: compact, sorted by service port."""
    return json.dumps({str(port): service_ports[port] for port in sorted(service_ports)}, separators=(",", ":"))


def parse_annotation(text: Optional[str]) -> dict[int, int]:
    """The annotation read back; a broken or hand-edited one counts as empty (ports are assigned afresh)."""
    if not text:
        return {}
    try:
        found: Any = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    parsed = {}
    for key, value in found.items():
        if isinstance(key, str) and key.isdigit() and isinstance(value, int) and not isinstance(value, bool):
            parsed[int(key)] = value
    return parsed
