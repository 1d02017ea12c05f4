# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rule sets of the Istio matrix: every protocol the module accepts x
every kind of host x every layout in full, and the API version, resolution,
REGISTRY_ONLY and IP family at least pairwise (every pair of values of any two
dimensions appears in some case). Each case is one service as a user writes
it, with the DNS answers of its host names, and what it declares.

Each case has a namespace of its own (m<index>), and its service a name of its
own (s<index>), so that the cases sharing the set-wide options (API and
layout) are rendered by one module run and their objects then told apart by
namespace: rendering is per service, and nothing of one namespace is seen
from another (the probe loads one case's objects at a time).
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass
from typing import Optional

from istiolib import PROTOCOLS, Block, Declared

HOST_KINDS = ("name", "names", "ips", "cidrs", "mixed")
LAYOUTS = ("per_service", "split", "per_address")
APIS = ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")
RESOLUTIONS = ("NONE", "STATIC")
REGISTRY_ONLY = (True, False)
FAMILIES = ("ipv4", "ipv6", "dual")
SET = "mx"
# More CIDR blocks than Istio takes per ServiceEntry (256): the split.
SPLIT = 300
# The protocols whose split cases use STATIC where it is valid: its cost grows
# with the square of the addresses while Istio multiplies endpoints, so a few
# cover the pairs (split, STATIC), the other splits use NONE.
SPLIT_STATIC = ("TCP", "TLS")


@dataclass(frozen=True)
class Case:
    protocol: str
    hosts: str
    layout: str
    api: str
    resolution: str
    registry_only: bool
    family: str
    index: int = 0

    @property
    def namespace(self) -> str:
        return f"m{self.index}"

    @property
    def service(self) -> str:
        return f"s{self.index}"

    @property
    def group(self) -> tuple[str, str]:
        """The set-wide options: cases of one group render in one module run."""
        return (self.api, "per_service" if self.layout == "split" else self.layout)

    @property
    def id(self) -> str:
        ro = "registry-only" if self.registry_only else "allow-any"
        version = self.api.rsplit("/", 1)[1]
        parts = [self.protocol.lower(), self.hosts, self.layout, version, self.resolution.lower(), ro, self.family]
        return "-".join(parts)

    @property
    def families(self) -> set[int]:
        return {"ipv4": {4}, "ipv6": {6}, "dual": {4, 6}}[self.family]


def valid(hosts: str, resolution: str, protocol: str) -> bool:
    """Combinations the module accepts: STATIC needs individual addresses for
    its endpoints, so CIDR blocks are refused with it (tests/unit cover the
    error)."""
    return resolution != "STATIC" or hosts not in ("cidrs", "mixed")


def cases() -> list[Case]:
    """For each cell of the full protocol x hosts x layout product: the
    resolution is STATIC for IPs per service, names per address and the
    splits of SPLIT_STATIC (where the module accepts it), NONE otherwise; the API,
    REGISTRY_ONLY and IP family are chosen greedily: the values that cover
    most pairs not yet covered, then those whose pairs are least used, so
    that values and pairs appear about equally often. Deterministic; the
    pairwise coverage is checked by a test."""
    free = list(itertools.product(APIS, REGISTRY_ONLY, FAMILIES))
    covered: set = set()
    used: dict = {}
    out = []
    for protocol, hosts, layout in itertools.product(PROTOCOLS, HOST_KINDS, LAYOUTS):
        static = {"per_service": hosts == "ips", "per_address": hosts == "names", "split": protocol in SPLIT_STATIC}
        resolution = "STATIC" if static[layout] and valid(hosts, "STATIC", protocol) else "NONE"
        best, best_score = None, None
        for api, registry_only, family in free:
            pairs = _pairs((protocol, hosts, layout, api, resolution, registry_only, family))
            score = (len(pairs - covered), -sum(used.get(p, 0) for p in pairs))
            if best_score is None or score > best_score:
                best, best_score = (api, registry_only, family), score
        api, registry_only, family = best
        case = Case(protocol, hosts, layout, api, resolution, registry_only, family, len(out))
        pairs = _pairs((protocol, hosts, layout, api, resolution, registry_only, family))
        for p in pairs:
            used[p] = used.get(p, 0) + 1
        covered |= pairs
        out.append(case)
    return out


def _pairs(values: tuple) -> set:
    return {((i, values[i]), (j, values[j])) for i, j in itertools.combinations(range(len(values)), 2)}


def required_pairs() -> set:
    dims = [tuple(PROTOCOLS), HOST_KINDS, LAYOUTS, APIS, RESOLUTIONS, REGISTRY_ONLY, FAMILIES]
    out = set()
    for i, j in itertools.combinations(range(len(dims)), 2):
        for a in dims[i]:
            for b in dims[j]:
                pair = {i: a, j: b}
                if 1 in pair and 4 in pair and not valid(pair[1], pair[4], "HTTP"):
                    continue
                if (
                    0 in pair
                    and 4 in pair
                    and pair[4] == "STATIC"
                    and not any(valid(h, "STATIC", pair[0]) for h in HOST_KINDS)
                ):
                    continue
                out.add(((i, a), (j, b)))
    return out


# --------------------------------------------------------------------------- addresses


def _v4(n: int, base: str = "198.18.0.0") -> str:
    return str(ipaddress.ip_address(base) + n)


def _v6(n: int, base: str = "2001:db8:100::") -> str:
    return str(ipaddress.ip_address(base) + n)


def _small(family: int) -> dict:
    """Small sets in the documentation ranges: two names (one with two adjacent
    addresses, merged into one block), two IPs, two CIDR blocks. The host
    kind "name" is one name with the addresses of both."""
    if family == 4:
        return {
            "names": {"a": ["198.51.100.10", "198.51.100.11"], "b": ["198.51.100.20"]},
            "ips": ["192.0.2.50", "192.0.2.60"],
            "cidrs": ["203.0.113.64/27", "203.0.113.128/28"],
        }
    return {
        "names": {"a": ["2001:db8:a::10", "2001:db8:a::11"], "b": ["2001:db8:b::20"]},
        "ips": ["2001:db8:1::50", "2001:db8:1::60"],
        "cidrs": ["2001:db8:2::/124", "2001:db8:3::/120"],
    }


def _large(family: int, count: int, salt: int) -> dict:
    """More blocks than fit one ServiceEntry, none adjacent (so nothing merges):
    in 198.18.0.0/15 (IPv4) and 2001:db8:100::/48 (IPv6). salt keeps the names,
    IPs and CIDRs of a mixed case apart."""
    at = _v4 if family == 4 else _v6
    start = salt * 4 * count
    half = count // 2
    return {
        "names": {
            "a": [at(start + 2 * i) for i in range(half)],
            "b": [at(start + 2 * (half + i)) for i in range(count - half)],
        },
        "ips": [at(start + 2 * i) for i in range(count)],
        "cidrs": [f"{at(start + 8 * i)}/{30 if family == 4 else 126}" for i in range(count)],
    }


def _name(label: str, family: int, case: Case) -> str:
    return f"{label}{'' if family == 4 else '-v6'}.c{case.index}.matrix.test"


@dataclass
class Spec:
    service: dict
    resolved: list
    declared: Declared


def spec(case: Case) -> Spec:
    """The service a user writes for this case, the DNS answers for its names
    (the lookup's detail=true form, passed as `resolved`), and what it declares."""
    port, _kind = PROTOCOLS[case.protocol]
    hosts: list[str] = []
    resolved: list[dict] = []
    blocks: list[Block] = []
    names: list[str] = []
    individual = 0
    families = sorted(case.families)
    split = case.layout == "split"
    for family in families:
        # A dual-stack split spreads its blocks over both families.
        count = SPLIT // len(families)
        parts = {"mixed": ("names", "ips", "cidrs"), "name": ("names",)}.get(case.hosts, (case.hosts,))
        for salt, part in enumerate(parts):
            pool = _large(family, count // len(parts), salt) if split else _small(family)
            if part == "names":
                chosen = pool["names"]
                if case.hosts == "mixed":
                    chosen = {"a": chosen["a"]}
                elif case.hosts == "name":
                    chosen = {"a": chosen["a"] + chosen["b"]}
                for label, addrs in chosen.items():
                    name = _name(label, family, case)
                    hosts.append(name)
                    names.append(name)
                    bits = 32 if family == 4 else 128
                    resolved.append(
                        {
                            "host": name,
                            "addresses": addrs,
                            "cidrs": [f"{a}/{bits}" for a in addrs],
                            "cname_chain": [],
                            "ttl": 300,
                            "error": None,
                        }
                    )
                    individual += len(addrs)
                    for net in ipaddress.collapse_addresses(ipaddress.ip_network(a) for a in addrs):
                        blocks.append(Block(str(net), name))
            elif part == "ips":
                chosen = pool["ips"][:1] if case.hosts == "mixed" and not split else pool["ips"]
                hosts += chosen
                individual += len(chosen)
                blocks += [Block(str(ipaddress.ip_network(a))) for a in chosen]
            else:
                chosen = pool["cidrs"][:1] if case.hosts == "mixed" and not split else pool["cidrs"]
                hosts += chosen
                individual += sum(ipaddress.ip_network(c).num_addresses for c in chosen)
                blocks += [Block(str(ipaddress.ip_network(c))) for c in chosen]
    service = {
        "name": case.service,
        "namespace": case.namespace,
        "hosts": hosts,
        "ports": [{"number": port, "protocol": case.protocol}],
        "resolution": case.resolution,
    }
    declared = Declared(case.service, case.protocol, port, blocks, individual, sorted(set(names)))
    return Spec(service, resolved, declared)


def module_args(cases: list[Case], dest: str) -> dict:
    """One module run for cases of one group: a service each, in its own
    namespace; REGISTRY_ONLY for the namespaces of the cases that want it."""
    api, layout = cases[0].group
    assert all(c.group == (api, layout) for c in cases)
    specs = [spec(c) for c in cases]
    args = {
        "state": "rendered",
        "set": SET,
        "api": api,
        "layout": layout,
        "registry_only": [c.namespace for c in cases if c.registry_only],
        "services": [s.service for s in specs],
        "dest": dest,
    }
    resolved = [r for s in specs for r in s.resolved]
    if resolved:
        args["resolved"] = resolved
    return args


def workload(case: Case) -> dict:
    return {"namespace": case.namespace, "ip_family": case.family, "labels": {"app": "client"}}


def expected_sidecar(case: Case) -> Optional[str]:
    return "BlackHoleCluster" if case.registry_only else "PassthroughCluster"
