# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a rule set declares for one namespace, as connections a real client
makes, each with the outcome the rule set promises: read through the
collection's own library (the option checks of the rules module, the rule
set's validation, DNS resolution, the address policy, aggregation), never
from the rendered objects, so the packets judge whatever the renderer makes
of the same intent.

A declared connection (the first and last address of every block, on every
declared port, with the name a client of it connects to as TLS SNI or HTTP
Host) must be carried to the address dialled, through the egress gateway
when the service goes through it. An undeclared one (an address outside
every block on a declared port, with each declared name; a declared address
on a port no service declares) must be refused under REGISTRY_ONLY, and is
passed through otherwise (Istio's ALLOW_ANY), which the output says.
"""

from __future__ import annotations

import importlib
import ipaddress
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from istioview import PROTOCOLS, UNDECLARED, UNDECLARED_PORT, client_call, first_last

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".cache" / "collections"

CARRIED = "carried"
REFUSED = "refused"
PASSTHROUGH = "passthrough"


def library(name: str) -> Any:
    """A module of the collection's library (plugins/module_utils), from the tree `make setup` keeps."""
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    return importlib.import_module(f"ansible_collections.meshguard.egress.plugins.module_utils.{name}")


@dataclass
class Target:
    """One connection and what the rule set promises for it."""

    id: str
    address: str
    port: int
    protocol: str  # the client's: tcp, tls, http, https, http2, grpc
    service: Optional[str]
    name: Optional[str]  # the host name the client connects to (SNI or Host), if any
    expected: str  # carried, refused or passthrough
    via_gateway: bool = False
    sni: Optional[str] = None
    host: Optional[str] = None
    # Plain mode's gateway load balances over the service's addresses (docs/docsite/rst/rendering.rst, "plain
    # mode"): any of these destinations counts as carried.
    balanced: tuple[str, ...] = ()

    @property
    def destination(self) -> str:
        return _destination(self.address, self.port)

    def dial(self) -> dict:
        out = {"id": self.id, "address": self.address, "port": self.port, "protocol": self.protocol}
        out.update({k: v for k, v in (("sni", self.sni), ("host", self.host)) if v})
        return out


def module_params(params: dict) -> dict:
    """The rules module's params as AnsibleModule would make them: validated against its own
    argument spec and constraints (plugins/module_utils/_argspec.RULES), defaults filled in."""
    from ansible.module_utils.basic import env_fallback  # noqa: PLC0415
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: PLC0415

    argspec = library("_argspec")
    validator = ArgumentSpecValidator(**argspec.RULES.to_kwargs(env_fallback))
    result = validator.validate(params)
    if result.error_messages:
        raise SystemExit("packets: the rule set's options: " + "; ".join(result.error_messages))
    return result.validated_parameters


@dataclass
class Declared:
    namespace: str
    registry_only: bool
    targets: list[Target]
    # Every address a server must hold: by who reaches it without Envoy (app direct, or the gateway).
    direct: set[str]
    via_gateway: set[str]
    ports: set[int]
    # Services of the rule set in other namespaces (left out of this check).
    elsewhere: list[str]
    # The workload's IP versions; addresses of another version are left out (it cannot dial them).
    families: frozenset = frozenset({4, 6})
    unreachable: list[str] = field(default_factory=list)


def declared(
    params: dict, namespace: str, families: frozenset = frozenset({4, 6}), account: str = "default"
) -> Declared:
    """The connections of a workload of `namespace` (service account `account`, with addresses of the IP
    versions `families`) under the rule set `params` (validated module params). A service through the
    gateway whose allowed_sources admit neither the namespace nor the account is expected refused (by
    the gateway's AuthorizationPolicy)."""
    prepared = library("_prepare").prepare(library("_argspec").settings_from(params))
    ruleset = prepared.ruleset
    results = library("_desired").host_results(prepared)
    registry_only = namespace in ruleset.registry_only
    undeclared = REFUSED if registry_only else PASSTHROUGH
    out = Declared(namespace, registry_only, [], set(), set(), {UNDECLARED_PORT}, [], families)
    for service in ruleset.services:
        if service.namespace != namespace:
            out.elsewhere.append(f"{service.namespace}/{service.name}")
            continue
        via = ruleset.via_gateway(service)
        every = _dialled(service, results, prepared)
        # Every address is held (plain mode's gateway balances over all of them), only the workload's
        # IP versions are dialled.
        (out.via_gateway if via else out.direct).update(a for a, _n in every)
        out.unreachable += [f"{service.name} {a}" for a, _n in every if _version(a) not in families]
        dialled = [(a, n) for a, n in every if _version(a) in families]
        if not dialled:
            continue
        names = sorted({n for _a, n in dialled if n})
        allowed = service.allowed_sources
        promised = CARRIED if not allowed or namespace in allowed or f"{namespace}/{account}" in allowed else REFUSED
        for port in service.ports:
            out.ports.add(port.number)
            protocol = port.protocol.upper()
            for address, name in dialled:
                target = _target(address, port.number, protocol, name, promised, service=service.name, via_gateway=via)
                if via and ruleset.egress_gateway.mode == library("_gateway.spec").PLAIN:
                    target.balanced = tuple(_destination(a, port.number) for a, _n in every)
                out.targets.append(target)
            # Outside every block, on the declared port: plain, and (TLS, HTTP) as each declared name.
            for family in sorted({ipaddress.ip_address(a).version for a, _n in dialled}):
                out.direct.add(UNDECLARED[family])
                for name in [None, *(names if PROTOCOLS[protocol][1] != "tcp" else [])]:
                    out.targets.append(_target(UNDECLARED[family], port.number, protocol, name, undeclared))
        # A declared address on a port nothing declares (passed through directly under ALLOW_ANY).
        first = dialled[0][0]
        out.targets.append(_target(first, UNDECLARED_PORT, "TCP", None, undeclared))
    out.targets = _unique(out.targets)
    for i, t in enumerate(out.targets):
        t.id = f"c{i}"
    return out


def _target(
    address: str,
    port: int,
    protocol: str,
    name: Optional[str],
    expected: str,
    *,
    service: Optional[str] = None,
    via_gateway: bool = False,
) -> Target:
    """A connection as a real client of the module's protocol makes it (istioview.client_call)."""
    call = client_call(address, port, protocol, name, "")
    return Target(
        id="",
        address=address,
        port=port,
        protocol=call["protocol"],
        service=service,
        name=name,
        expected=expected,
        via_gateway=via_gateway,
        sni=call.get("sni"),
        host=call.get("host"),
    )


def _dialled(service: Any, results: dict, prepared: Any) -> list[tuple[str, Optional[str]]]:
    """(address, name) a client of the service dials: the first and last address of each block the
    library aggregates from the service's literals and DNS answers (the address policy applied), with
    the host name that answered it, if any."""
    desired = library("_desired")
    terms = library("_terms")
    answers = desired.service_answers(service, results)
    failed = [str(r.error) for r in answers if r.error is not None]
    if failed:
        raise SystemExit(f"packets: service {service.name!r} did not resolve: {'; '.join(failed)}")
    refused = library("_policy.refusals").refused_addresses(
        service.name, answers, prepared.policy(), prepared.aggregation, service.allow_ranges
    )
    if refused:
        raise SystemExit("packets: " + "; ".join(r.message for r in refused))
    named: list[tuple[str, Optional[str]]] = []
    for result in answers:
        name = result.host if result.kind == terms.KIND_NAME else None
        cidrs = result.addresses if result.kind != terms.KIND_NETWORK else (result.host,)
        named += [(c, name) for c in cidrs]
    dialled: list[tuple[str, Optional[str]]] = []
    for block in desired.service_addresses(service, answers, prepared.aggregation).cidrs:
        net = ipaddress.ip_network(block)
        names = sorted({n for c, n in named if n and _within(c, net)})
        for address in first_last(block):
            dialled += [(address, n) for n in names] or [(address, None)]
    return dialled


def _destination(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _version(address: str) -> int:
    return ipaddress.ip_address(address).version


def _within(cidr: str, net: Any) -> bool:
    inner = ipaddress.ip_network(cidr, strict=False)
    return inner.version == net.version and inner.subnet_of(net)


def _unique(targets: list[Target]) -> list[Target]:
    """One connection per (address, port, protocol, SNI, Host): services may share an undeclared probe,
    and names may share an address."""
    seen = set()
    out = []
    for t in targets:
        # A raw TCP client sends no name: one connection per address and port, whoever resolved it.
        key = (t.address, t.port, t.protocol, t.sni, t.host, t.expected)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out
