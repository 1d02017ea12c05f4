# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate and normalise the rule set given to ``meshguard.egress.rules``.

``validate_ruleset(spec)`` takes plain data exactly as the module receives it
and returns a frozen ``RuleSet``, or raises one ``SpecError`` that lists every
problem found, each naming the service and field. Nothing here touches the
network: it runs before any DNS or API call.

The rules mirror what Istio and the Kubernetes API server would reject (their
wording is reused where it helps), plus what this collection needs to render
deterministic objects. This file holds the rules of every rule set; a way out's
own rules live with it (``_gateway.spec``, ``_ambient.spec``) and report into
the same ``Report`` (``_problems``), each problem as data.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ._ambient.spec import (
    AMBIENT,
    AUTO,
    SIDECAR,
    Waypoint,
    ambient_options,
    owned_label_problem,
    with_dataplanes,
)
from ._dnssec.anchors import TrustAnchors
from ._dnssec.policy import ruleset_options, service_option
from ._gateway.spec import (
    EgressGateway,
    check_service,
    gateway_option,
    proxy_port_problem,
    service_choice,
)
from ._istio_versions import NEWEST, Version
from ._kinds import APIS, DEFAULT_API, LEGACY_API
from ._names import (
    OWNER_LABEL,
    RESERVED_PREFIX,
    SEPARATOR,
    dns1123_label_problem,
    label_value_problem,
    qualified_key_problem,
    service_name_problem,
    set_name_problem,
    user_name_problem,
)
from ._policy.judge import parse_blocks_at
from ._problems import Report, SpecError
from ._scripts import mixed_script_problem, shown
from ._terms import KIND_NAME, KIND_NETWORK, Term, TermError, parse_term

PROTOCOLS = ("TCP", "MONGO", "MYSQL", "REDIS", "TLS", "HTTPS", "HTTP", "HTTP2", "GRPC")
# istio/api routing/v1alpha1/egress_rule.proto (Istio 0.x).
LEGACY_PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "HTTP2", "TCP", "MONGO")

LAYOUTS = ("per_service", "per_address")
RESOLUTIONS = ("NONE", "STATIC")
# Resolutions Istio knows but this collection cannot use: its addresses are CIDRs.
_OTHER_ISTIO_RESOLUTIONS = ("DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS")
# Like kubectl, objects without a namespace go to "default".
DEFAULT_NAMESPACE = "default"
# Istio's CRD caps hosts, addresses and ports at 256 items per ServiceEntry.
MAX_ITEMS = 256

RULESET_KEYS = (
    "services",
    "set",
    "namespace",
    "api",
    "layout",
    "network_policy",
    "registry_only",
    "guardrail",
    "egress_gateway",
    "dataplane",
    "waypoint",
    "istio_version",
    "export_to",
    "network_policy_lockdown",
    "dnssec",
    "trust_anchors",
)
SERVICE_KEYS = (
    "name",
    "hosts",
    "ports",
    "namespace",
    "export_to",
    "resolution",
    "addresses",
    "network_policy",
    "labels",
    "annotations",
    "allow_ranges",
    "egress_gateway",
    "allowed_sources",
    "dnssec",
    "allow_mixed_scripts",
)
PORT_KEYS = ("number", "protocol", "name")
NETWORK_POLICY_KEYS = ("pod_selector",)
GUARDRAIL_KEYS = ("writers",)

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Port:
    number: int
    protocol: str
    name: str


@dataclass(frozen=True)
class Service:
    name: str
    namespace: str
    # Parsed by _terms, as the lookup parses them: ``value`` is the normal form.
    hosts: tuple[Term, ...]
    ports: tuple[Port, ...]
    resolution: str = "NONE"
    # As given for the service, or else for the rule set; () means the default of its way out
    # (``exported_to``): its own namespace, never every namespace unless written.
    export_to: tuple[str, ...] = ()
    # Already resolved IPs/CIDRs; None means: resolve ``hosts``.
    addresses: Optional[tuple[str, ...]] = None
    pod_selector: Pairs = ()
    labels: Pairs = ()
    annotations: Pairs = ()
    # CIDR blocks inside refused ranges that this service may reach (_policy.judge).
    allow_ranges: tuple[str, ...] = ()
    # False: direct, although the rule set has an egress gateway; None: as the rule set says.
    egress_gateway: Optional[bool] = None
    # Namespaces and namespace/service-account that the gateway admits (mtls only).
    allowed_sources: tuple[str, ...] = ()
    # off, prefer or require (_dnssec.policy); None: as the rule set says.
    dnssec: Optional[str] = None
    # Host names (normal form) of ``hosts`` that may mix scripts (``_scripts``): the user's word that a
    # look-alike is the name meant.
    allow_mixed_scripts: tuple[str, ...] = ()

    @property
    def host_names(self) -> tuple[str, ...]:
        """Host names (to resolve, and to show in the ServiceEntry)."""
        return tuple(host.value for host in self.hosts if host.kind == KIND_NAME)

    @property
    def literal_addresses(self) -> tuple[str, ...]:
        """IPs and CIDRs given directly in ``hosts``."""
        return tuple(host.value for host in self.hosts if host.kind != KIND_NAME)


@dataclass(frozen=True)
class Guardrail:
    """The admission policy that guards the cluster (``_guardrail``): who may change the set's objects."""

    writers: tuple[str, ...]


@dataclass(frozen=True)
class RuleSet:
    name: str
    services: tuple[Service, ...]
    namespace: str = DEFAULT_NAMESPACE
    api: str = DEFAULT_API
    layout: str = "per_service"
    network_policy: bool = False
    # NetworkPolicies let the selected pods reach DNS, istiod and the declared blocks only,
    # not the rest of the cluster (``_render``).
    network_policy_lockdown: bool = False
    registry_only: tuple[str, ...] = ()
    guardrail: Optional[Guardrail] = None
    egress_gateway: Optional[EgressGateway] = None
    dataplane: str = SIDECAR
    waypoint: Optional[Waypoint] = None
    istio_version: Version = NEWEST
    # What DNSSEC must prove of the answers (_dnssec.policy), and from which anchors (None: the root's).
    dnssec: str = "off"
    trust_anchors: Optional[TrustAnchors] = None
    # The namespaces in ambient mode; None until dataplane auto has read the
    # namespaces' labels (``with_dataplanes``).
    ambient: Optional[frozenset[str]] = frozenset()

    @property
    def legacy(self) -> bool:
        return self.api == LEGACY_API

    def is_ambient(self, service: Service) -> bool:
        """Whether the service's namespace is in ambient mode (its ServiceEntries are bound to the waypoint)."""
        if self.ambient is None:
            raise ValueError("is_ambient: dataplane auto has not read the namespaces' labels yet (with_dataplanes)")
        return service.namespace in self.ambient

    @property
    def has_ambient(self) -> bool:
        return any(self.is_ambient(s) for s in self.services)

    @property
    def dataplane_namespaces(self) -> list[str]:
        """The namespaces whose data plane matters: the services' and registry_only's."""
        return sorted({s.namespace for s in self.services} | set(self.registry_only))

    def via_gateway(self, service: Service) -> bool:
        """Whether the service's traffic goes through the egress gateway."""
        return self.egress_gateway is not None and service.egress_gateway is not False


# --- host terms ---------------------------------------------------------------


def _parse_host(text: str, istio_hosts: bool, allowed: frozenset[str] = frozenset()) -> Term:
    """One host term, parsed by _terms as the lookup parses it, plus what Istio
    refuses where the name becomes a ServiceEntry host (``istio_hosts``).
    ``allowed``: the names (normal form) that may mix scripts.

    Raises ValueError with a message naming the term.
    """
    if "*" in text:
        raise ValueError(f"{text!r}: wildcard host names cannot be resolved to addresses; list the names")
    try:
        term = parse_term(text, allow_mixed_scripts=True)
        if term.is_name and term.value not in allowed:
            term = parse_term(text)
    except TermError as exc:
        raise ValueError(str(exc)) from None
    if istio_hosts and term.kind == KIND_NAME:
        # Istio checks each label of a ServiceEntry host as a DNS-1123 label
        # (istio.io/istio pkg/config/validation/agent: ValidateWildcardDomain,
        # labels.IsDNS1123Label): no '_', which DNS names may carry
        # (_ldap._tcp.example.com) and _terms accepts.
        for label in term.value.split("."):
            if dns1123_label_problem(label) is not None:
                raise ValueError(
                    f"{text!r} cannot be a ServiceEntry host: Istio takes letters, digits and '-' in each label, "
                    f"not {label!r} (layout per_address resolves it without making it a host)"
                )
    return term


def _is_single_address(value: str) -> bool:
    return ipaddress.ip_network(value).num_addresses == 1


# --- reporting ----------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """Rule-set options that the service rules depend on."""

    namespace: str
    legacy: bool
    network_policy: bool
    # Host names become ServiceEntry hosts (layout per_service): Istio's host rules apply.
    istio_hosts: bool = False
    # Checks a literal IP or CIDR block (the breadth guard); None or a problem.
    guard: Optional[Callable[[str], Optional[str]]] = None
    gateway: Optional[EgressGateway] = None
    dataplane: str = SIDECAR
    # The rule set's export_to, for services that give none.
    export_to: tuple[str, ...] = ()


def _check_keys(data: Mapping[str, Any], allowed: tuple[str, ...], field: str, report: Report) -> None:
    # Typos must not be silently ignored: an unknown key is an error.
    for key in sorted((k for k in data if k not in allowed), key=str):
        hint = difflib.get_close_matches(str(key), allowed, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        report.error(field, f"unknown key {key!r}{suggestion}; allowed: {', '.join(allowed)}")


def _list(value: Any, field: str, report: Report) -> Optional[list[Any]]:
    if not isinstance(value, list):
        report.error(field, f"must be a list, got {type(value).__name__}")
        return None
    return value


def _name_part(
    value: Any, field: str, report: Report, what: str, scheme: Optional[Callable[[str], Optional[str]]] = None
) -> Optional[str]:
    """A set or service name: a DNS-1123 label without the name separator; ``scheme``: what
    the naming scheme (``_names``) further asks of it."""
    if value is None:
        report.error(field, f"is required: {what}")
        return None
    problem = dns1123_label_problem(value)
    if problem is None and SEPARATOR in value:
        problem = f"must not contain {SEPARATOR!r} (it separates the parts of object names), got {value!r}"
    if problem is None and scheme is not None:
        problem = scheme(value)
    if problem:
        report.error(field, problem)
        return None
    return value


def _namespace(value: Any, field: str, report: Report) -> Optional[str]:
    """A namespace name, or None when not given (Ansible passes None for unset options)."""
    problem = None if value is None else dns1123_label_problem(value)
    if problem:
        report.error(field, problem)
        return None
    return value


def _string_map(value: Any, field: str, report: Report, *, label_values: bool, ours: bool = True) -> Pairs:
    """Labels (``label_values``) or annotations, checked as the API server does.

    With ``ours``, keys the collection writes itself are refused.
    """
    if value is None:
        return ()
    if not isinstance(value, dict):
        report.error(field, f"must be a dict, got {type(value).__name__}")
        return ()
    pairs = []
    for key in sorted(value, key=str):
        item = value[key]
        problem = qualified_key_problem(key)
        if problem is None and ours and (key == OWNER_LABEL or key.startswith(RESERVED_PREFIX)):
            problem = f"{key!r} is set by meshguard.egress and cannot be overridden"
        if problem:
            report.error(field, problem)
            continue
        if label_values:
            problem = label_value_problem(item)
        elif not isinstance(item, str):
            problem = f"must be a string, got {type(item).__name__} (quote it)"
        if problem:
            report.error(f"{field}[{key!r}]", problem)
            continue
        pairs.append((key, item))
    return tuple(pairs)


# --- ports --------------------------------------------------------------------


def _port_number(value: Any, field: str, report: Report) -> Optional[int]:
    if value is None:
        report.error(field, "is required")
        return None
    # Templated values arrive as strings; bool is an int subclass but never a port.
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        report.error(field, f"must be an integer, got {value!r}")
        return None
    if not 1 <= value <= 65535:
        report.error(field, f"must be between 1 and 65535, got {value}")
        return None
    problem = proxy_port_problem(value)
    if problem:
        report.error(field, problem)
        return None
    return value


def _protocol(value: Any, field: str, legacy: bool, report: Report) -> Optional[str]:
    protocol = value.upper() if isinstance(value, str) else None
    if value is None:
        report.error(field, f"is required, one of {', '.join(PROTOCOLS)}")
    elif protocol not in PROTOCOLS:
        report.error(field, f"must be one of {', '.join(PROTOCOLS)}, got {value!r}")
    elif legacy and protocol not in LEGACY_PROTOCOLS:
        report.error(
            field,
            f"{protocol} is not known to the legacy EgressRule API ({LEGACY_API}), "
            f"which takes {', '.join(LEGACY_PROTOCOLS)}",
        )
    else:
        return protocol
    return None


def _port(item: Any, field: str, legacy: bool, report: Report) -> Optional[Port]:
    if not isinstance(item, dict):
        report.error(field, f"must be a dict with number and protocol, got {type(item).__name__}")
        return None
    _check_keys(item, PORT_KEYS, field, report)
    number = _port_number(item.get("number"), f"{field}.number", report)
    protocol = _protocol(item.get("protocol"), f"{field}.protocol", legacy, report)
    name = item.get("name")
    if name is not None:
        problem = dns1123_label_problem(name)
        if problem:
            report.error(f"{field}.name", f"port name {problem}")
            return None
    if number is None or protocol is None:
        return None
    return Port(number=number, protocol=protocol, name=name or f"{protocol.lower()}-{number}")


def _ports(value: Any, legacy: bool, report: Report) -> tuple[Port, ...]:
    if value is None:
        report.error("ports", "is required: a list of {number, protocol}")
        return ()
    items = _list(value, "ports", report)
    if not items:
        if items is not None:
            report.error("ports", "must list at least one port")
        return ()
    if len(items) > MAX_ITEMS:
        report.error("ports", f"at most {MAX_ITEMS} ports per ServiceEntry, got {len(items)}")
    ports = []
    first_number: dict[int, int] = {}
    first_name: dict[str, int] = {}
    for index, item in enumerate(items):
        port = _port(item, f"ports[{index}]", legacy, report)
        if port is None:
            continue
        if port.number in first_number:
            report.error(
                f"ports[{index}].number",
                f"port number cannot be duplicated: {port.number} is also ports[{first_number[port.number]}]",
            )
        elif port.name in first_name:
            report.error(
                f"ports[{index}].name", f"port name {port.name!r} is also used by ports[{first_name[port.name]}]"
            )
        else:
            ports.append(port)
        first_number.setdefault(port.number, index)
        first_name.setdefault(port.name, index)
    return tuple(ports)


# --- services -----------------------------------------------------------------


def _guarded(value: str, field: str, guard: Optional[Callable[[str], Optional[str]]], report: Report) -> bool:
    problem = guard(value) if guard else None
    if problem:
        report.error(field, problem)
    return problem is None


def _hosts(value: Any, context: _Context, report: Report, allowed: frozenset[str] = frozenset()) -> tuple[Term, ...]:
    if value is None:
        report.error("hosts", "is required: host names, IP addresses or CIDR blocks")
        return ()
    items = _list(value, "hosts", report)
    if not items:
        if items is not None:
            report.error("hosts", "must list at least one host name, IP address or CIDR block")
        return ()
    hosts = []
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        field = f"hosts[{index}]"
        if not isinstance(item, str):
            report.error(field, f"must be a string, got {type(item).__name__}")
            continue
        try:
            term = _parse_host(item, context.istio_hosts, allowed)
        except ValueError as exc:
            report.error(field, str(exc))
            continue
        if term.value in first:
            report.error(field, f"{item!r} is listed twice (also hosts[{first[term.value]}])")
            continue
        first[term.value] = index
        if term.kind != KIND_NAME and not _guarded(term.value, field, context.guard, report):
            continue
        hosts.append(term)
    return tuple(hosts)


def _addresses(value: Any, context: _Context, report: Report) -> Optional[tuple[str, ...]]:
    if value is None:
        return None
    items = _list(value, "addresses", report)
    if not items:
        if items is not None:
            report.error("addresses", "must list at least one address (leave it out to resolve the hosts)")
        return None
    addresses: list[str] = []
    for index, item in enumerate(items):
        field = f"addresses[{index}]"
        if not isinstance(item, str):
            report.error(field, f"must be a string, got {type(item).__name__}")
            continue
        try:
            term = _parse_host(item, istio_hosts=False)
        except ValueError as exc:
            report.error(field, str(exc))
            continue
        if term.kind == KIND_NAME:
            report.error(field, f"{item!r} is a host name; addresses takes IP addresses and CIDR blocks")
        elif term.value not in addresses and _guarded(term.value, field, context.guard, report):
            addresses.append(term.value)
    return tuple(addresses)


def _resolution(value: Any, legacy: bool, report: Report) -> str:
    if value is None:
        return "NONE"
    resolution = value.upper() if isinstance(value, str) else value
    if resolution not in RESOLUTIONS:
        message = f"must be NONE or STATIC, got {value!r}"
        if resolution in _OTHER_ISTIO_RESOLUTIONS:
            # Every rendered address is a CIDR block; Istio's own CEL wording follows.
            message += (
                "; the rendered addresses are CIDR blocks, and "
                "CIDR addresses are allowed only for NONE/STATIC resolution types"
            )
        report.error("resolution", message)
        return "NONE"
    if legacy and resolution != "NONE":
        report.error("resolution", f"is not supported by the legacy EgressRule API ({LEGACY_API})")
    return resolution


def _export_to(value: Any, namespace: Optional[str], legacy: bool, report: Report) -> tuple[str, ...]:
    """``namespace``: the service's (Istio counts it and "." as one value); None for the rule set's."""
    if value is None:
        return ()
    if legacy:
        report.error("export_to", f"is not supported by the legacy EgressRule API ({LEGACY_API})")
        return ()
    result: list[str] = []
    # "." is the service's own namespace: Istio counts the two as one value.
    first: dict[str, int] = {}
    for index, item in enumerate(_list(value, "export_to", report) or ()):
        field = f"export_to[{index}]"
        if item not in (".", "*", "~") and dns1123_label_problem(item) is not None:
            report.error(field, f"must be '.', '*', '~' or a namespace name (DNS-1123 label), got {item!r}")
            continue
        key = "." if item == namespace else item
        if key in first:
            report.error(field, f"{item!r} is a duplicate of export_to[{first[key]}]")
            continue
        first[key] = index
        result.append(item)
    for special in ("*", "~"):
        if special in result and len(result) > 1:
            report.error("export_to", f"{special!r} must be the only value, got {result!r}")
    if result == ["~"]:
        # Istio takes "~" on a ServiceEntry only so that the service's own proxies
        # see it (ValidateExportTo, pkg/config/validation); an egress rule has none.
        report.error(
            "export_to",
            "'~' exports the ServiceEntries to no namespace, their own included: no workload could use the rule; "
            "use '.' for the service's own namespace, or name the namespaces",
        )
    return tuple(result)


def for_namespace(export_to: tuple[str, ...], namespace: str) -> tuple[str, ...]:
    """The rule set's export_to as one service's: its own namespace named is "." (Istio's
    ValidateExportTo refuses both as duplicates)."""
    result: list[str] = []
    for item in export_to:
        value = "." if item == namespace else item
        if value not in result:
            result.append(value)
    return tuple(result)


def _check_static(hosts: tuple[Term, ...], addresses: Optional[tuple[str, ...]], report: Report) -> None:
    """STATIC sends traffic to endpoints, and an endpoint is a single address."""
    given = [(f"hosts[{i}]", host.value) for i, host in enumerate(hosts) if host.kind == KIND_NETWORK]
    given += [(f"addresses[{i}]", address) for i, address in enumerate(addresses or ())]
    for field, value in given:
        if not _is_single_address(value):
            report.error(
                field,
                f"{value!r} is a CIDR block, but STATIC resolution needs individual addresses "
                "for its endpoints; use resolution NONE or list the IP addresses",
            )


def _pod_selector(value: Any, enabled: bool, report: Report) -> Pairs:
    if value is None:
        return ()
    if not enabled:
        report.error("network_policy", "has no effect unless the rule set has network_policy: true")
        return ()
    if not isinstance(value, dict):
        report.error("network_policy", f"must be a dict with pod_selector, got {type(value).__name__}")
        return ()
    _check_keys(value, NETWORK_POLICY_KEYS, "network_policy", report)
    return _string_map(value.get("pod_selector"), "network_policy.pod_selector", report, label_values=True, ours=False)


def _service(item: Any, context: _Context, report: Report) -> Optional[Service]:
    if not isinstance(item, dict):
        report.error("", f"must be a dict, got {type(item).__name__}")
        return None
    before = len(report.problems)
    _check_keys(item, SERVICE_KEYS, "", report)
    name = _name_part(item.get("name"), "name", report, "the service name", service_name_problem)
    namespace = _namespace(item.get("namespace"), "namespace", report) or context.namespace
    allowed = _allow_mixed_scripts(item.get("allow_mixed_scripts"), report)
    hosts = _hosts(item.get("hosts"), context, report, frozenset(allowed))
    _check_allowed_scripts(item.get("allow_mixed_scripts"), allowed, hosts, report)
    ports = _ports(item.get("ports"), context.legacy, report)
    resolution = _resolution(item.get("resolution"), context.legacy, report)
    export_to = _export_to(item.get("export_to"), namespace, context.legacy, report)
    if item.get("export_to") is None:
        export_to = for_namespace(context.export_to, namespace)
    addresses = _addresses(item.get("addresses"), context, report)
    if resolution == "STATIC":
        _check_static(hosts, addresses, report)
    pod_selector = _pod_selector(item.get("network_policy"), context.network_policy, report)
    labels = _string_map(item.get("labels"), "labels", report, label_values=True)
    for key, _value in labels:
        problem = owned_label_problem(key)
        if problem:
            report.error("labels", problem)
    annotations = _string_map(item.get("annotations"), "annotations", report, label_values=False)
    allow_ranges, problems = parse_blocks_at(item.get("allow_ranges"), "allow_ranges")
    for field, problem in problems:
        report.error(field, problem)
    dnssec = service_option(item, report.error)
    via, allowed_sources = service_choice(
        item, context.gateway, legacy=context.legacy, waypoint=context.dataplane != SIDECAR, report=report
    )
    if via and context.gateway is not None and not context.legacy:
        check_service(
            context.gateway,
            namespace=namespace,
            hosts=hosts,
            addresses=addresses,
            # The waypoint's labels are refused for every service (owned_label_problem), once.
            labels=[(key, value) for key, value in labels if owned_label_problem(key) is None],
            network_policy=context.network_policy,
            report=report,
        )
    if name is None or len(report.problems) > before:
        return None
    return Service(
        name=name,
        namespace=namespace,
        hosts=hosts,
        ports=ports,
        resolution=resolution,
        export_to=export_to,
        addresses=addresses,
        pod_selector=pod_selector,
        labels=labels,
        annotations=annotations,
        allow_ranges=allow_ranges,
        egress_gateway=item.get("egress_gateway"),
        allowed_sources=allowed_sources,
        dnssec=dnssec,
        allow_mixed_scripts=tuple(allowed),
    )


def _allow_mixed_scripts(value: Any, report: Report) -> list[str]:
    """The names (normal form) the service lets mix scripts, in the order given."""
    names: list[str] = []
    if value is None:
        return names
    for index, item in enumerate(_list(value, "allow_mixed_scripts", report) or ()):
        field = f"allow_mixed_scripts[{index}]"
        try:
            term = parse_term(item, allow_mixed_scripts=True)
        except TermError as exc:
            report.error(field, str(exc))
            continue
        if not term.is_name:
            report.error(field, f"{item!r} is not a host name; allow_mixed_scripts takes names of hosts")
        elif term.value in names:
            report.error(field, f"{term.shown} is listed twice")
        else:
            names.append(term.value)
    return names


def _check_allowed_scripts(value: Any, allowed: list[str], hosts: tuple[Term, ...], report: Report) -> None:
    """Each allowance names a host of the service that needs it: an allowance left over from an
    earlier host would let the next look-alike through unseen."""
    given = {host.value for host in hosts}
    items = value if isinstance(value, list) else []
    for index, name in enumerate(allowed):
        field = f"allow_mixed_scripts[{_index_of(items, name)}]" if items else f"allow_mixed_scripts[{index}]"
        if name not in given:
            report.error(field, f"{shown(name)} is not among the service's hosts")
        elif mixed_script_problem(name) is None:
            report.error(field, f"{shown(name)} does not mix scripts: leave it out")


def _index_of(items: list[Any], name: str) -> int:
    for index, item in enumerate(items):
        try:
            if parse_term(item, allow_mixed_scripts=True).value == name:
                return index
        except TermError:
            continue
    return 0


def _services(value: Any, context: _Context, report: Report) -> list[tuple[int, Service]]:
    if value is None:
        report.error("services", "is required: a list of services")
        return []
    services = []
    first: dict[str, int] = {}
    for index, item in enumerate(_list(value, "services", report) or ()):
        name = item.get("name") if isinstance(item, dict) else None
        scoped = report.scoped(index, name)
        if isinstance(name, str) and name in first:
            scoped.error("name", f"is a duplicate of services[{first[name]}]")
        elif isinstance(name, str):
            first[name] = index
        service = _service(item, context, scoped)
        if service is not None and first.get(service.name) == index:
            services.append((index, service))
    return services


def _check_per_service(services: list[tuple[int, Service]], report: Report) -> None:
    """Rules on the ServiceEntry that carries a service's host name (layout per_service)."""
    owners: dict[tuple[str, str], str] = {}
    for index, service in services:
        scoped = report.scoped(index, service.name)
        for name in service.host_names:
            owner = owners.setdefault((service.namespace, name), service.name)
            if owner != service.name:
                # Istio keeps one service per host name and namespace: the other ports would be lost.
                scoped.error(
                    "hosts",
                    f"{name!r} is also a host of service {owner!r} in namespace {service.namespace!r}; "
                    "Istio keeps one ServiceEntry per host name and namespace, so list all its ports in one service",
                )


# --- rule set -----------------------------------------------------------------


def _api_and_layout(api: Any, layout: Any, report: Report) -> tuple[str, str]:
    if api is None:
        api = DEFAULT_API
    elif api not in APIS:
        report.error("api", f"must be one of {', '.join(APIS)}, got {api!r}")
        api = DEFAULT_API
    if layout is None:
        # The legacy API takes one destination per rule, so it defaults to per_address.
        layout = "per_address" if api == LEGACY_API else "per_service"
    elif layout not in LAYOUTS:
        report.error("layout", f"must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    elif api == LEGACY_API and layout != "per_address":
        report.error(
            "layout",
            f"the legacy EgressRule API ({LEGACY_API}) takes one destination.service per rule: use per_address",
        )
    return api, layout


def _registry_only(value: Any, report: Report) -> tuple[str, ...]:
    if value is None:
        return ()
    namespaces: list[str] = []
    for index, item in enumerate(_list(value, "registry_only", report) or ()):
        field = f"registry_only[{index}]"
        problem = dns1123_label_problem(item)
        if problem:
            report.error(field, problem)
        elif item in namespaces:
            report.error(field, f"{item!r} is listed twice")
        else:
            namespaces.append(item)
    return tuple(namespaces)


def _guardrail(value: Any, report: Report) -> Optional[Guardrail]:
    if value is None:
        return None
    if not isinstance(value, dict):
        report.error("guardrail", f"must be a dict with writers, got {type(value).__name__}")
        return None
    _check_keys(value, GUARDRAIL_KEYS, "guardrail", report)
    writers = value.get("writers")
    if not isinstance(writers, list) or not writers:
        report.error(
            "guardrail.writers",
            "is required: the users (or system:serviceaccount:<namespace>:<name>) that may change the set's objects",
        )
        return None
    names: list[str] = []
    for index, writer in enumerate(writers):
        field = f"guardrail.writers[{index}]"
        problem = user_name_problem(writer)
        if problem:
            report.error(field, problem)
        elif writer in names:
            report.error(field, f"{writer!r} is listed twice")
        else:
            names.append(writer)
    return Guardrail(tuple(names))


def validate_ruleset(
    spec: Mapping[str, Any], guard: Optional[Callable[[str], Optional[str]]] = None, *, removing: bool = False
) -> RuleSet:
    """Validate the rule-set options (the keys in RULESET_KEYS) and return them normalised.

    Options set to None count as not given, as Ansible passes them. Raises
    SpecError listing every problem found. ``guard`` checks each literal IP or
    CIDR block (the breadth guard of the aggregation options). ``removing``: the
    set is being removed (state absent), which renders nothing: a set name that
    an earlier release accepted and the naming scheme no longer does is taken, so
    that the set's objects can still be removed.
    """
    if not isinstance(spec, Mapping):
        raise SpecError([f"the rule set must be a dict, got {type(spec).__name__}"])
    report = Report()
    _check_keys(spec, RULESET_KEYS, "", report)
    set_name = _name_part(
        spec.get("set"), "set", report, "the name of the rule set", None if removing else set_name_problem
    )
    namespace = _namespace(spec.get("namespace"), "namespace", report) or DEFAULT_NAMESPACE
    api, layout = _api_and_layout(spec.get("api"), spec.get("layout"), report)
    network_policy = spec.get("network_policy")
    if network_policy is None:
        network_policy = False
    elif not isinstance(network_policy, bool):
        report.error("network_policy", f"must be true or false, got {network_policy!r}")
    lockdown = spec.get("network_policy_lockdown")
    if lockdown is None:
        lockdown = False
    elif not isinstance(lockdown, bool):
        report.error("network_policy_lockdown", f"must be true or false, got {lockdown!r}")
    elif lockdown and network_policy is not True:
        report.error("network_policy_lockdown", "has no effect unless the rule set has network_policy: true")
    export_to = _export_to(spec.get("export_to"), None, api == LEGACY_API, report)
    registry_only = _registry_only(spec.get("registry_only"), report)
    if registry_only and api == LEGACY_API:
        # The Sidecar is networking.istio.io: no Istio serves it next to 0.x EgressRules,
        # and current Istio ignores EgressRules, so its REGISTRY_ONLY would drop
        # exactly the traffic the set declares.
        report.error(
            "registry_only",
            f"is not supported with the legacy EgressRule API ({LEGACY_API}): its REGISTRY_ONLY Sidecar "
            "is a networking.istio.io object no Istio 0.x serves, and Istio 1.x ignores EgressRules, so "
            f"the Sidecar would drop the declared traffic; use api {DEFAULT_API} (ServiceEntry) with "
            "registry_only, or leave registry_only out",
        )
    guardrail = _guardrail(spec.get("guardrail"), report)
    gateway = gateway_option(spec, api == LEGACY_API, network_policy, report)
    dataplane, waypoint, version = ambient_options(spec, namespace, api == LEGACY_API, report)
    dnssec, anchors = ruleset_options(spec, report.error)
    context = _Context(
        namespace=namespace,
        legacy=api == LEGACY_API,
        network_policy=network_policy is True,
        istio_hosts=layout == "per_service" and api != LEGACY_API,
        guard=guard,
        gateway=gateway,
        dataplane=dataplane,
        export_to=export_to,
    )
    services = _services(spec.get("services"), context, report)
    if layout == "per_service" and not context.legacy:
        _check_per_service(services, report)
    if report.problems or set_name is None:
        raise SpecError(report.problems)
    ruleset = RuleSet(
        name=set_name,
        services=tuple(service for _index, service in services),
        namespace=namespace,
        api=api,
        layout=layout,
        network_policy=context.network_policy,
        network_policy_lockdown=lockdown is True,
        registry_only=registry_only,
        guardrail=guardrail,
        egress_gateway=gateway,
        dataplane=dataplane,
        waypoint=waypoint,
        istio_version=version,
        dnssec=dnssec,
        trust_anchors=anchors,
        ambient=None if dataplane == AUTO else frozenset(),
    )
    if dataplane == AMBIENT:
        return with_dataplanes(ruleset, ruleset.dataplane_namespaces)
    return ruleset
