# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rule sets of the packet matrix (tests/integration/test_packets.py).

One rule set per check, each in a namespace of its own, holds a service per
protocol the module accepts (the nine of istioview.PROTOCOLS); the kind of
host (one name, two IPs, a block) and the IP family (IPv4, IPv6, dual
stack) go round so that the nine services of a set cover each pair of them
once. The checks vary what is set-wide: the way out (direct, the egress
gateway in mtls and in plain mode), REGISTRY_ONLY on and off, the layout
(per_service, per_address); one more is a service split over two
ServiceEntries (more than 256 addresses). Host names come with their answers
(the module's `resolved` option), so no DNS server is needed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from istiolib import PROTOCOLS

KINDS = ("name", "ips", "block")
FAMILIES = ("ipv4", "ipv6", "dual")
# More addresses than one ServiceEntry takes (256): the split.
SPLIT = 260


@dataclass(frozen=True)
class Check:
    way: str  # direct, mtls, plain
    registry_only: bool
    layout: str = "per_service"
    # The workload's IP versions (the sidecar's addresses and capture): the gateway's endpoint is IPv4,
    # so the gateway checks have an IPv4 workload or a dual-stack one.
    family: str = "dual"
    split: bool = False
    index: int = 0

    @property
    def namespace(self) -> str:
        return f"pk{self.index}"

    @property
    def id(self) -> str:
        parts = [self.way, "registry-only" if self.registry_only else "allow-any", self.layout, self.family]
        return "-".join(parts + (["split"] if self.split else []))


def checks() -> list[Check]:
    out = [
        Check("direct", True, "per_service", "dual"),
        Check("direct", False, "per_service", "ipv6"),
        Check("direct", True, "per_address", "ipv4"),
        Check("direct", False, "per_address", "dual"),
        Check("mtls", True, family="dual"),
        Check("mtls", False, family="ipv4"),
        Check("plain", True, family="dual"),
        Check("plain", False, family="ipv4"),
        Check("direct", True, family="ipv4", split=True),
    ]
    return [Check(c.way, c.registry_only, c.layout, c.family, c.split, i) for i, c in enumerate(out)]


def _addresses(check: Check, service: int, family: int, count: int) -> list[str]:
    """Addresses no other service or check uses: 198.18.<check>.<service*16> and 2001:db8:<check>::<service*16>."""
    if family == 4:
        base = ipaddress.ip_address(f"198.18.{check.index}.0") + service * 16
    else:
        base = ipaddress.ip_address(f"2001:db8:7{check.index}::") + service * 16
    return [str(base + 2 * i) for i in range(count)]


def _block(check: Check, service: int, family: int) -> str:
    first = ipaddress.ip_address(_addresses(check, service, family, 1)[0]) + 4
    return f"{first}/{30 if family == 4 else 126}"


def rule_set(check: Check) -> dict:
    """The module's options for the check (without the cluster connection), the DNS answers in `resolved`."""
    services: list[dict] = []
    resolved: list[dict] = []
    if check.split:
        hosts = [str(ipaddress.ip_address(f"198.19.{check.index}.0") + 2 * i) for i in range(SPLIT)]
        services.append({"name": "split", "hosts": hosts, "ports": [{"number": 5432, "protocol": "TCP"}]})
    for i, protocol in enumerate(() if check.split else PROTOCOLS):
        # Turned by the check's index: over the checks, each protocol meets each kind and family.
        kind = KINDS[(i + check.index) % 3]
        families = {"ipv4": (4,), "ipv6": (6,), "dual": (4, 6)}[FAMILIES[(i // 3 + check.index) % 3]]
        if check.way == "plain" and kind == "block":
            kind = "ips"  # plain mode load balances over a service's addresses: it takes addresses only
        hosts: list[str] = []
        for family in families:
            if kind == "ips":
                hosts += _addresses(check, i, family, 2)
            elif kind == "block":
                hosts.append(_block(check, i, family))
        if kind == "name":
            name = f"p{i}.c{check.index}.packets.test"
            hosts.append(name)
            answers = [a for f in families for a in _addresses(check, i, f, 2)]
            bits = {a: 32 if ":" not in a else 128 for a in answers}
            resolved.append(
                {
                    "host": name,
                    "addresses": answers,
                    "cidrs": [f"{a}/{bits[a]}" for a in answers],
                    "cname_chain": [],
                    "ttl": 300,
                    "error": None,
                }
            )
        port = PROTOCOLS[protocol][0]
        ports = [{"number": port, "protocol": protocol}]
        services.append({"name": f"{protocol.lower()}-{kind}", "hosts": hosts, "ports": ports})
    if check.way == "mtls":
        # The gateway's AuthorizationPolicy: one service admits the check's namespace, one only a service
        # account of another namespace (the check's workload, <namespace>/default, is refused there).
        services[0]["allowed_sources"] = [check.namespace]
        services[1]["allowed_sources"] = ["elsewhere/api"]
    params: dict = {
        "set": f"pk{check.index}",
        "namespace": check.namespace,
        "layout": check.layout,
        "registry_only": [check.namespace] if check.registry_only else [],
        "services": services,
    }
    if check.way != "direct":
        params["egress_gateway"] = {"mode": check.way}
    if resolved:
        params["resolved"] = resolved
    return params
