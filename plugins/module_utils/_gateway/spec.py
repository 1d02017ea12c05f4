# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``egress_gateway`` option of a rule set, and the per-service options that go with it.

``parse_egress_gateway(value, legacy)`` returns the normalised option (or
None when it is not given) and a list of (field, message) problems. The
rule-set validation (``_spec``) calls this file's rules, which report into its
``Report``: ``gateway_option`` (the rule set's option), ``service_choice`` (a
service's ``egress_gateway`` and ``allowed_sources``) and ``check_service``
(what a service through the gateway must not have). See docs/docsite/rst/rendering.rst,
"Through the egress gateway".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from .._expand import address_count
from .._kinds import LEGACY_API
from .._names import dns1123_label_problem, label_value_problem, qualified_key_problem
from .._problems import Report
from .._proxy.authorization import ALLOWED_SOURCES_ENFORCED
from .._terms import KIND_NETWORK, Term

# The defaults are those of Istio's egress gateway chart
# (manifests/charts/gateways/istio-egress/values.yaml): its namespace, the
# pods' label and the Service's name.
DEFAULT_NAMESPACE = "istio-system"
DEFAULT_SELECTOR = (("istio", "egressgateway"),)
DEFAULT_SERVICE = "istio-egressgateway"
MTLS = "mtls"
PLAIN = "plain"
MODES = (MTLS, PLAIN)
# Plain mode: one gateway port per service port, taken from this range.
DEFAULT_PORTS = (40000, 40099)
# mtls mode: every service shares the Service's https port, told apart by SNI.
MTLS_PORT = 443
# The ports of Istio's own proxy and agent in every pod (istioReservedPorts,
# pilot/cmd/pilot-agent/status/server.go), with what each is: never a plain-mode
# gateway port, and never a service port on any way out (``_spec``): a ServiceEntry
# on one of them takes the port from the sidecar itself (istio/istio#60722).
ISTIO_PROXY_PORTS = {
    15000: "Envoy admin",
    15001: "outbound traffic capture",
    15004: "pilot debug",
    15006: "inbound traffic capture",
    15008: "HBONE tunnel",
    15020: "pilot-agent status and merged Prometheus",
    15021: "Envoy health",
    15053: "DNS proxy",
    15090: "Envoy Prometheus",
}
ISTIO_RESERVED_PORTS = tuple(sorted(ISTIO_PROXY_PORTS))
# The chart's own servers (http2 80, https 443): never a plain-mode port either.
CHART_PORTS = (80, 443)
RESERVED_PORTS = tuple(sorted((*CHART_PORTS, *ISTIO_RESERVED_PORTS)))
# Through the gateway every address of a service is a ServiceEntry, a route,
# a gateway server and a subset of its own, and a listener on every client
# sidecar: a service may have at most this many (CIDR blocks are expanded).
MAX_GATEWAY_ADDRESSES = 256
# Labels Istio reads itself. istio.io/rev makes only one revision's istiod see
# an object, and a unit's objects live in two namespaces read by the client's
# and the gateway's istiod; the waypoint labels bind ServiceEntries to ambient
# waypoints (issue 14's rendering).
ISTIO_LABELS = ("istio.io/rev", "istio.io/ingress-use-waypoint")
ISTIO_LABEL_PREFIXES = ("istio.io/use-waypoint",)

GATEWAY_KEYS = ("namespace", "selector", "service", "mode", "ports")
PORTS_KEYS = ("start", "end")

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class EgressGateway:
    """Where the egress gateway runs and how sidecars reach it."""

    namespace: str = DEFAULT_NAMESPACE
    selector: tuple[tuple[str, str], ...] = DEFAULT_SELECTOR
    service: str = DEFAULT_SERVICE
    mode: str = MTLS
    # Plain mode's port range, both ends included.
    ports: tuple[int, int] = DEFAULT_PORTS

    @property
    def host(self) -> str:
        """The gateway Service's host name, as VirtualService and DestinationRule hosts must name it.

        A fully qualified name: Istio expands only names without a dot
        (``ResolveShortnameToFQDN``), in the VirtualService's own namespace.
        """
        return f"{self.service}.{self.namespace}.svc.cluster.local"

    @property
    def where(self) -> str:
        """The gateway Service as messages name it: ``istio-system/istio-egressgateway``."""
        return f"{self.namespace}/{self.service}"

    def free_ports(self) -> range:
        return range(self.ports[0], self.ports[1] + 1)


def istio_label_problem(key: str) -> Optional[str]:
    """Why a user label of a service through the gateway is refused, or None."""
    if key in ISTIO_LABELS or key.startswith(ISTIO_LABEL_PREFIXES):
        return (
            f"{key!r} is read by Istio itself and cannot be a label of a service through the egress gateway: "
            "its objects live in the service's and the gateway's namespace, and every one of them must be seen "
            "by the same control plane"
        )
    return None


def parse_egress_gateway(value: Any, legacy: bool) -> tuple[Optional[EgressGateway], Problems]:
    """The rule set's ``egress_gateway`` option (None: not given), and its problems.

    Options set to None count as not given, as Ansible passes them. With the
    legacy API (Istio 0.x, whose EgressRule only says "use the egress proxy")
    none of them may be set.
    """
    if value is None:
        return None, []
    field = "egress_gateway"
    if not isinstance(value, dict):
        return None, [(field, f"must be a dict (give {{}} for the defaults), got {type(value).__name__}")]
    problems: Problems = []
    for key in sorted((k for k in value if k not in GATEWAY_KEYS), key=str):
        problems.append((field, f"unknown key {key!r}; allowed: {', '.join(GATEWAY_KEYS)}"))
    if legacy:
        given = [key for key in GATEWAY_KEYS if value.get(key) is not None]
        for key in given:
            problems.append(
                (
                    f"{field}.{key}",
                    "is not supported by the legacy EgressRule API (config.istio.io/v1alpha2): Istio 0.x has one "
                    "egress proxy and the rule only says to use it (use_egress_proxy); give egress_gateway: {}",
                )
            )
        return EgressGateway(), problems
    namespace = _label(value.get("namespace"), f"{field}.namespace", DEFAULT_NAMESPACE, problems)
    service = _label(value.get("service"), f"{field}.service", DEFAULT_SERVICE, problems)
    selector = _selector(value.get("selector"), f"{field}.selector", problems)
    mode = value.get("mode")
    if mode is None:
        mode = MTLS
    elif mode not in MODES:
        problems.append((f"{field}.mode", f"must be one of {', '.join(MODES)}, got {mode!r}"))
        mode = MTLS
    ports = _ports(value.get("ports"), f"{field}.ports", mode, problems)
    return EgressGateway(namespace, selector, service, mode, ports), problems


def _label(value: Any, field: str, default: str, problems: Problems) -> str:
    if value is None:
        return default
    problem = dns1123_label_problem(value)
    if problem:
        problems.append((field, problem))
        return default
    return value


def _selector(value: Any, field: str, problems: Problems) -> tuple[tuple[str, str], ...]:
    if value is None:
        return DEFAULT_SELECTOR
    if not isinstance(value, dict) or not value:
        problems.append((field, f"must be a non-empty dict of the gateway pods' labels, got {value!r}"))
        return DEFAULT_SELECTOR
    pairs = []
    for key in sorted(value, key=str):
        problem = qualified_key_problem(key) or label_value_problem(value[key])
        if problem:
            problems.append((f"{field}[{key!r}]", problem))
        else:
            pairs.append((key, value[key]))
    return tuple(pairs)


def _port(value: Any, field: str, problems: Problems) -> Optional[int]:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        problems.append((field, f"must be a port number between 1 and 65535, got {value!r}"))
        return None
    return value


def _ports(value: Any, field: str, mode: str, problems: Problems) -> tuple[int, int]:
    if value is None:
        return DEFAULT_PORTS
    before = len(problems)
    if mode != PLAIN:
        problems.append((field, f"is only used with mode {PLAIN} (mode {MTLS} sends every service to {MTLS_PORT})"))
    elif not isinstance(value, dict):
        problems.append((field, f"must be a dict with start and end, got {type(value).__name__}"))
    else:
        for key in sorted((k for k in value if k not in PORTS_KEYS), key=str):
            problems.append((field, f"unknown key {key!r}; allowed: {', '.join(PORTS_KEYS)}"))
        # Ansible passes a suboption left out as None.
        start = _port(_given(value.get("start"), DEFAULT_PORTS[0]), f"{field}.start", problems)
        end = _port(_given(value.get("end"), DEFAULT_PORTS[1]), f"{field}.end", problems)
        if start is not None and end is not None:
            _check_range(start, end, field, problems)
        if len(problems) == before and start is not None and end is not None:
            return start, end
    return DEFAULT_PORTS


def _given(value: Any, default: int) -> Any:
    return default if value is None else value


def _check_range(start: int, end: int, field: str, problems: Problems) -> None:
    if start > end:
        problems.append((field, f"start {start} is after end {end}"))
        return
    reserved = [port for port in RESERVED_PORTS if start <= port <= end]
    if reserved:
        problems.append(
            (
                field,
                f"{start}-{end} includes {', '.join(map(str, reserved))}: ports of the gateway proxy itself "
                "(Istio's 15000-15090) or of the chart's own servers (80, 443); pick a range without them",
            )
        )


def proxy_port_problem(number: int) -> Optional[str]:
    """Why a service port is one of Istio's own proxy ports (``ISTIO_PROXY_PORTS``), or None."""
    what = ISTIO_PROXY_PORTS.get(number)
    if what is None:
        return None
    return (
        f"{number} is a port of Istio's own proxy in every pod ({what}); a ServiceEntry on it can break the "
        f"sidecar (istio/istio#60722), so no service may use Istio's ports "
        f"{', '.join(map(str, ISTIO_RESERVED_PORTS))}"
    )


def allowed_source_problem(item: Any) -> Optional[str]:
    """Why an ``allowed_sources`` entry is neither a namespace nor ``namespace/service-account``, or None."""
    if not isinstance(item, str):
        return f"must be a string, got {type(item).__name__}"
    namespace, slash, account = item.partition("/")
    problem = dns1123_label_problem(namespace)
    if problem is None and slash:
        problem = dns1123_label_problem(account) if "/" not in account else "has more than one '/'"
    if problem:
        return f"must be a namespace or <namespace>/<service account>, got {item!r}: {problem}"
    return None


# --- the rules of the rule set's validation -----------------------------------


def gateway_option(
    spec: Mapping[str, Any], legacy: bool, network_policy: Any, report: Report
) -> Optional[EgressGateway]:
    """The rule set's ``egress_gateway`` (None: not given), its problems reported."""
    gateway, problems = parse_egress_gateway(spec.get("egress_gateway"), legacy)
    for field, problem in problems:
        report.error(field, problem)
    if gateway is not None and legacy and network_policy is True:
        report.error(
            "network_policy",
            "with the legacy API's egress proxy (egress_gateway) the collection does not know the proxy's pods, so "
            "it cannot render NetworkPolicies that send the traffic through them",
        )
    return gateway


def service_choice(
    item: Mapping[str, Any], gateway: Optional[EgressGateway], *, legacy: bool, waypoint: bool, report: Report
) -> tuple[bool, tuple[str, ...]]:
    """Whether the service goes through the egress gateway, and its checked allowed_sources.

    ``waypoint``: the rule set's dataplane may put the service's namespace in ambient mode,
    where the waypoint enforces allowed_sources (checked once the namespaces are known).
    """
    choice = item.get("egress_gateway")
    if choice is not None and not isinstance(choice, bool):
        report.error("egress_gateway", f"must be true or false, got {choice!r}")
        choice = None
    if choice is True and gateway is None:
        report.error("egress_gateway", "needs the rule set's egress_gateway option (where the gateway is)")
    via = gateway is not None and choice is not False
    value = item.get("allowed_sources")
    if value is None:
        return via, ()
    sources: list[str] = []
    if not isinstance(value, list):
        report.error("allowed_sources", f"must be a list, got {type(value).__name__}")
    for index, source in enumerate(value if isinstance(value, list) else ()):
        problem = allowed_source_problem(source)
        if problem is None and source in sources:
            problem = f"{source!r} is listed twice"
        if problem:
            report.error(f"allowed_sources[{index}]", problem)
        else:
            sources.append(source)
    if isinstance(value, list) and not value:
        report.error("allowed_sources", "must list at least one namespace or service account (or be left out)")
    if legacy:
        report.error("allowed_sources", f"is not supported by the legacy EgressRule API ({LEGACY_API})")
    elif not via and not waypoint:
        report.error("allowed_sources", ALLOWED_SOURCES_ENFORCED)
    elif gateway is not None and gateway.mode == PLAIN:
        # Namespaces and service accounts come from the client's mTLS certificate.
        report.error(
            "allowed_sources",
            "needs egress_gateway.mode mtls: in plain mode the gateway sees no client identity to check",
        )
    return via, tuple(sources)


def check_service(
    gateway: EgressGateway,
    *,
    namespace: str,
    hosts: Sequence[Term],
    addresses: Optional[Sequence[str]],
    labels: Sequence[tuple[str, str]],
    network_policy: bool,
    report: Report,
) -> None:
    """What a service through the egress gateway must not have; literals are checked before any DNS query.

    ``labels``: those not refused already for every service (the waypoint's).
    """
    for key, _value in labels:
        problem = istio_label_problem(key)
        if problem:
            report.error("labels", problem)
    if network_policy and namespace == gateway.namespace:
        report.error(
            "namespace",
            f"{namespace!r} is the egress gateway's namespace: its NetworkPolicy would restrict the gateway pods "
            "themselves; put the service in the namespace of the workloads that call it",
        )
    given = [(f"hosts[{i}]", host.value) for i, host in enumerate(hosts) if host.kind == KIND_NETWORK]
    given += [(f"addresses[{i}]", address) for i, address in enumerate(addresses or ())]
    networks = []
    for field, value in given:
        network = ipaddress.ip_network(value)
        if gateway.mode == PLAIN and network.num_addresses > 1:
            report.error(
                field,
                f"{value!r} is a CIDR block: in plain mode the gateway load balances over the service's "
                "addresses, so every address of the block would get connections; list the addresses",
            )
        elif network.num_addresses > MAX_GATEWAY_ADDRESSES:
            report.error(
                field,
                f"{value!r} holds {network.num_addresses} addresses; through the egress gateway each address is a "
                f"ServiceEntry of its own, at most {MAX_GATEWAY_ADDRESSES} per service: list narrower blocks, split "
                "the service, or send it direct (egress_gateway: false)",
            )
        else:
            networks.append(network)
    count = address_count(networks)
    if count > MAX_GATEWAY_ADDRESSES:
        report.error(
            "hosts",
            f"the blocks hold {count} addresses; through the egress gateway each address is a ServiceEntry of its "
            f"own, at most {MAX_GATEWAY_ADDRESSES} per service: split the service, or send it direct "
            "(egress_gateway: false)",
        )
