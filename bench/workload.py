# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generated inputs of the benchmarks: a DNS zone and rule sets.

The zone ``meshbench.test`` has ``count`` host names ``h00000`` ..: each has an
A and an AAAA record (every third name two A records); every fifth name is a
CNAME to ``t<n>``, which holds the addresses. Addresses come from the
benchmarking range 198.18.0.0/15 (RFC 2544) and 2001:db8::/32 (RFC 3849).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

ZONE = "meshbench.test"
_V4 = int(ipaddress.IPv4Address("198.18.0.0"))
_V6 = int(ipaddress.IPv6Address("2001:db8:be::"))


def host(i: int) -> str:
    return f"h{i:05d}.{ZONE}"


def is_cname(i: int) -> bool:
    return i % 5 == 4


def _records(owner: str, i: int) -> list[str]:
    lines = [f"{owner} 300 IN A {ipaddress.IPv4Address(_V4 + 2 * i)}"]
    if i % 3 == 0:
        lines.append(f"{owner} 300 IN A {ipaddress.IPv4Address(_V4 + 2 * i + 1)}")
    lines.append(f"{owner} 300 IN AAAA {ipaddress.IPv6Address(_V6 + i)}")
    return lines


def write_zone(zones_dir: Path, count: int) -> Path:
    """The zone file for ``count`` names; rewritten only when it differs."""
    lines = [
        f"$ORIGIN {ZONE}.",
        "$TTL 300",
        f"@ IN SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 300",
        f"@ IN NS ns.{ZONE}.",
        "ns IN A 127.0.0.1",
    ]
    for i in range(count):
        name = f"h{i:05d}"
        if is_cname(i):
            lines.append(f"{name} 300 IN CNAME t{i:05d}")
            lines += _records(f"t{i:05d}", i)
        else:
            lines += _records(name, i)
    text = "\n".join(lines) + "\n"
    zones_dir.mkdir(parents=True, exist_ok=True)
    path = zones_dir / f"{ZONE}.zone"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def expected_addresses(i: int) -> set[str]:
    """What a correct resolver finds for host(i), both families."""
    found = {str(ipaddress.IPv4Address(_V4 + 2 * i)), str(ipaddress.IPv6Address(_V6 + i))}
    if i % 3 == 0:
        found.add(str(ipaddress.IPv4Address(_V4 + 2 * i + 1)))
    return found


def services(count: int, names: int, changed: int = 0) -> list[dict[str, Any]]:
    """``count`` services of the rule set; service i reaches host(i mod names)
    on a MySQL port (Istio wants each host name in one service per namespace,
    so ``names`` >= ``count``). The first ``changed`` services point at another host
    (other addresses): the "5 % changed" variant."""
    out = []
    for i in range(count):
        target = i % names
        if i < changed:
            target = (names - 1 - i) % names
            if target == i % names:
                target = (target + 1) % names
        out.append(
            {
                "name": f"svc-{i:05d}",
                "hosts": [host(target)],
                "ports": [{"number": 3306, "protocol": "MYSQL"}],
            }
        )
    return out
