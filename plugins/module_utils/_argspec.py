# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each module's options and the constraints between them, in one ``ArgumentSpec``
(``RULES``, ``RULES_INFO``, ``SNAPSHOT``), merged from groups of option specs:
one group per doc fragment.

| group       | doc fragment                  | used by               |
|-------------|-------------------------------|-----------------------|
| CONNECTION  | meshguard.egress.cluster      | rules, rules_info     |
| RESOLVER    | meshguard.egress.resolver     | rules, rules_info, the resolve lookup |
| AGGREGATION | meshguard.egress.aggregation  | rules, rules_info, the resolve lookup |
| RULESET     | meshguard.egress.ruleset      | rules, rules_info     |
| POLICY      | meshguard.egress.policy       | rules, rules_info     |
| ADDRESSES   | meshguard.egress.addresses    | rules, rules_info, the resolve lookup |
| DNSSEC      | meshguard.egress.dnssec       | rules, rules_info, snapshot, the resolve lookup |

Choices and defaults are read from the library that checks them, so a spec
cannot drift from the code (the doc fragments state them for users, and
ansible-test's validate-modules compares the two). ``env`` names the
environment variable a module falls back to (the kubernetes.core names); the
module turns it into Ansible's env fallback, so this file needs no Ansible
import. The modules, and the action plugin that runs ``rules`` in-process, pass
the same object to AnsibleModule and to Ansible's ArgumentSpecValidator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ._addresses import COLLAPSE_CHOICES, DEFAULT_BROADEST, AggregateOptions
from ._ambient.spec import DATAPLANES, SIDECAR
from ._cluster.client import ConnectionOptions
from ._dns.options import FAMILY_CHOICES, ResolverOptions
from ._dnssec.policy import DEFAULT_MODE as DEFAULT_DNSSEC
from ._dnssec.policy import MODES as DNSSEC_MODES
from ._gateway.spec import MODES as GATEWAY_MODES
from ._istio_versions import NEWEST
from ._istio_versions import text as version_text
from ._kinds import APIS, DEFAULT_API
from ._prepare import ON_ERROR, STATES, Settings
from ._retain import DEFAULT_RETAIN
from ._spec import DEFAULT_NAMESPACE, LAYOUTS

_RESOLVER_DEFAULTS = {f.name: f.default for f in fields(ResolverOptions)}
_AGGREGATION_DEFAULTS = {f.name: f.default for f in fields(AggregateOptions)}
DEFAULT_REQUEST_TIMEOUT = ConnectionOptions().timeout

CONNECTION: dict[str, dict[str, Any]] = {
    "kubeconfig": {"type": "raw", "env": "K8S_AUTH_KUBECONFIG"},
    "context": {"type": "str", "env": "K8S_AUTH_CONTEXT"},
    "host": {"type": "str", "env": "K8S_AUTH_HOST"},
    "api_key": {"type": "str", "no_log": True, "env": "K8S_AUTH_API_KEY"},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"], "env": "K8S_AUTH_VERIFY_SSL"},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"], "env": "K8S_AUTH_SSL_CA_CERT"},
    "client_cert": {"type": "path", "aliases": ["cert_file"], "env": "K8S_AUTH_CERT_FILE"},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False, "env": "K8S_AUTH_KEY_FILE"},
    "proxy": {"type": "str", "env": "K8S_AUTH_PROXY"},
    "no_proxy": {"type": "str", "env": "K8S_AUTH_NO_PROXY"},
    # As kubernetes.core: without the option, each header from K8S_AUTH_PROXY_HEADERS_<NAME>.
    "proxy_headers": {
        "type": "dict",
        "apply_defaults": True,
        "options": {
            "proxy_basic_auth": {"type": "str", "no_log": True, "env": "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH"},
            "basic_auth": {"type": "str", "no_log": True, "env": "K8S_AUTH_PROXY_HEADERS_BASIC_AUTH"},
            "user_agent": {"type": "str", "env": "K8S_AUTH_PROXY_HEADERS_USER_AGENT"},
        },
    },
    "username": {"type": "str", "env": "K8S_AUTH_USERNAME"},
    "password": {"type": "str", "no_log": True, "env": "K8S_AUTH_PASSWORD"},
    "impersonate_user": {"type": "str", "env": "K8S_AUTH_IMPERSONATE_USER"},
    "impersonate_groups": {"type": "list", "elements": "str", "env": "K8S_AUTH_IMPERSONATE_GROUPS"},
    "request_timeout": {"type": "float", "default": DEFAULT_REQUEST_TIMEOUT},
}

RESOLVER: dict[str, dict[str, Any]] = {
    "nameservers": {"type": "list", "elements": "str"},
    "port": {"type": "int", "default": _RESOLVER_DEFAULTS["port"]},
    "families": {"type": "str", "choices": list(FAMILY_CHOICES), "default": _RESOLVER_DEFAULTS["families"]},
    "timeout": {"type": "float", "default": _RESOLVER_DEFAULTS["timeout"]},
    "lifetime": {"type": "float", "default": _RESOLVER_DEFAULTS["lifetime"]},
    "retries": {"type": "int", "default": _RESOLVER_DEFAULTS["retries"]},
    "tcp": {"type": "bool", "default": _RESOLVER_DEFAULTS["tcp"]},
    "rounds": {"type": "int", "default": _RESOLVER_DEFAULTS["rounds"]},
    "all_nameservers": {"type": "bool", "default": _RESOLVER_DEFAULTS["all_nameservers"]},
    "concurrency": {"type": "int", "default": _RESOLVER_DEFAULTS["concurrency"]},
}

AGGREGATION: dict[str, dict[str, Any]] = {
    "collapse": {"type": "str", "choices": list(COLLAPSE_CHOICES), "default": _AGGREGATION_DEFAULTS["collapse"]},
    "ipv4_prefix": {"type": "int", "default": _AGGREGATION_DEFAULTS["ipv4_prefix"]},
    "ipv6_prefix": {"type": "int", "default": _AGGREGATION_DEFAULTS["ipv6_prefix"]},
    "broadest_prefix": {
        "type": "dict",
        "options": {family: {"type": "int", "default": prefix} for family, prefix in DEFAULT_BROADEST.items()},
    },
    "allow_any": {"type": "bool", "default": _AGGREGATION_DEFAULTS["allow_any"]},
}

RULESET: dict[str, dict[str, Any]] = {
    "set": {"type": "str", "required": True},
    # A list of plain dicts, without suboptions on purpose: the library validates each service
    # (_spec) and reports every problem at once, naming service and field, where AnsibleModule's
    # suboptions would report only the first problem it meets.
    "services": {"type": "list", "elements": "dict"},
    "namespace": {"type": "str", "default": DEFAULT_NAMESPACE},
    "api": {"type": "str", "default": DEFAULT_API, "choices": list(APIS)},
    "layout": {"type": "str", "choices": list(LAYOUTS)},
    "export_to": {"type": "list", "elements": "str"},
    "network_policy": {"type": "bool", "default": False},
    "network_policy_lockdown": {"type": "bool", "default": False},
    "registry_only": {"type": "list", "elements": "str", "default": []},
    "guardrail": {"type": "dict", "options": {"writers": {"type": "list", "elements": "str", "required": True}}},
    # No defaults here: the library applies them (_gateway.spec), so that it can tell
    # what was given (the legacy API takes none of them).
    "egress_gateway": {
        "type": "dict",
        "options": {
            "namespace": {"type": "str"},
            "selector": {"type": "dict"},
            "service": {"type": "str"},
            "mode": {"type": "str", "choices": list(GATEWAY_MODES)},
            "ports": {"type": "dict", "options": {"start": {"type": "int"}, "end": {"type": "int"}}},
        },
    },
    "dataplane": {"type": "str", "choices": list(DATAPLANES), "default": SIDECAR},
    "waypoint": {
        "type": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "namespace": {"type": "str"},
            "manage": {"type": "bool", "default": False},
            "allowed_namespaces": {"type": "list", "elements": "str"},
        },
    },
    "istio_version": {"type": "str", "default": version_text(NEWEST)},
}

# How the rule set meets what is live; the same in rules and rules_info.
POLICY: dict[str, dict[str, Any]] = {
    "prune": {"type": "bool", "default": True},
    "on_error": {"type": "str", "choices": list(ON_ERROR), "default": ON_ERROR[0]},
    "retain": {"type": "str", "default": DEFAULT_RETAIN},
    "resolved": {"type": "list", "elements": "dict"},
    "resolved_at": {"type": "str"},
}


# Which destinations are never allowed besides the built-in ranges (_policy.judge).
ADDRESSES: dict[str, dict[str, Any]] = {
    "internal_ranges": {"type": "list", "elements": "str", "default": []},
}

# What DNSSEC must prove of the answers, and from which trust anchors (_dnssec.policy): a
# rule set's options (a service overrides dnssec), and the lookup's and the snapshot's.
DNSSEC: dict[str, dict[str, Any]] = {
    "dnssec": {"type": "str", "choices": list(DNSSEC_MODES), "default": DEFAULT_DNSSEC},
    "trust_anchors": {"type": "list", "elements": "str"},
}

# The options of the rules module besides the groups.
RULES_OWN: dict[str, dict[str, Any]] = {
    "state": {"type": "str", "choices": list(STATES), "default": STATES[0]},
    "force": {"type": "bool", "default": False},
    "dest": {"type": "path"},
    "return_resources": {"type": "bool", "default": True},
}

# The options of the snapshot module besides the groups.
SNAPSHOT_OWN: dict[str, dict[str, Any]] = {
    "path": {"type": "path"},
    "return_data": {"type": "bool", "default": False},
    "services": {"type": "list", "elements": "dict", "required": True},
    "on_error": {"type": "str", "choices": list(ON_ERROR), "default": ON_ERROR[0]},
}


@dataclass(frozen=True)
class ArgumentSpec:
    """A module's options and the constraints between them (as Ansible's AnsibleModule and
    ArgumentSpecValidator take them), as plain data; ``merge`` adds another's options (an option
    of the same name is replaced) and constraints."""

    options: Mapping[str, Mapping[str, Any]]
    required_if: tuple[tuple[Any, ...], ...] = ()
    required_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    mutually_exclusive: tuple[tuple[str, ...], ...] = ()
    required_together: tuple[tuple[str, ...], ...] = ()
    required_one_of: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def of(cls, *groups: Mapping[str, Mapping[str, Any]], **constraints: Any) -> ArgumentSpec:
        options: dict[str, Mapping[str, Any]] = {}
        for group in groups:
            options.update(group)
        return cls(options, **constraints)

    def merge(self, other: ArgumentSpec) -> ArgumentSpec:
        return ArgumentSpec(
            {**self.options, **other.options},
            required_if=(*self.required_if, *other.required_if),
            required_by={**self.required_by, **other.required_by},
            mutually_exclusive=(*self.mutually_exclusive, *other.mutually_exclusive),
            required_together=(*self.required_together, *other.required_together),
            required_one_of=(*self.required_one_of, *other.required_one_of),
        )

    def argument_spec(self, env_fallback: Any) -> dict[str, dict[str, Any]]:
        """The options as Ansible's argument_spec (``env_fallback``: see ``merged``)."""
        return merged(self.options, env_fallback=env_fallback)

    def to_kwargs(self, env_fallback: Any) -> dict[str, Any]:
        """The keyword arguments of AnsibleModule and of ArgumentSpecValidator."""
        kwargs: dict[str, Any] = {"argument_spec": self.argument_spec(env_fallback)}
        constraints = {
            "required_if": [list(rule) for rule in self.required_if],
            "required_by": {name: list(needed) for name, needed in self.required_by.items()},
            "mutually_exclusive": [list(names) for names in self.mutually_exclusive],
            "required_together": [list(names) for names in self.required_together],
            "required_one_of": [list(names) for names in self.required_one_of],
        }
        kwargs.update((name, value) for name, value in constraints.items() if value)
        return kwargs


# meshguard.egress.rules (and its action plugin, which runs it in-process): a set to apply,
# render or remove; only removing it (state absent) needs no services.
RULES = ArgumentSpec.of(
    CONNECTION,
    RESOLVER,
    AGGREGATION,
    ADDRESSES,
    RULESET,
    DNSSEC,
    POLICY,
    RULES_OWN,
    required_if=(("state", "present", ("services",)), ("state", "rendered", ("services",))),
)
# meshguard.egress.rules_info: what the collection manages, of one set or of every set (no set
# given); drift against services needs the set they belong to.
RULES_INFO = ArgumentSpec.of(CONNECTION, RESOLVER, AGGREGATION, ADDRESSES, RULESET, DNSSEC, POLICY).merge(
    ArgumentSpec({"set": {**RULESET["set"], "required": False}}, required_by={"services": ("set",)})
)
# meshguard.egress.snapshot: the host names of services, resolved and written to a file.
SNAPSHOT = ArgumentSpec.of(RESOLVER, DNSSEC, SNAPSHOT_OWN)


def merged(*groups: Mapping[str, Mapping[str, Any]], env_fallback: Any) -> dict[str, dict[str, Any]]:
    """One Ansible argument_spec from groups; ``env_fallback`` is Ansible's
    function, passed in so that this file needs no Ansible import."""
    spec: dict[str, dict[str, Any]] = {}
    for group in groups:
        for name, given in group.items():
            spec[name] = _with_fallback(given, env_fallback)
    return spec


def _with_fallback(given: Mapping[str, Any], env_fallback: Any) -> dict[str, Any]:
    option = dict(given)
    env = option.pop("env", None)
    if env:
        option["fallback"] = (env_fallback, [env])
    if "options" in option:
        option["options"] = {name: _with_fallback(sub, env_fallback) for name, sub in option["options"].items()}
    return option


def pick(params: Mapping[str, Any], spec: Iterable[str]) -> dict[str, Any]:
    """The values of params that belong to one spec (or list of option names)."""
    return {name: params.get(name) for name in spec}


def connection_options(params: Mapping[str, Any]) -> ConnectionOptions:
    values = pick(params, CONNECTION)
    timeout = values.pop("request_timeout") or DEFAULT_REQUEST_TIMEOUT
    headers = {k: v for k, v in (values.pop("proxy_headers") or {}).items() if v is not None}
    groups = [g for g in values.pop("impersonate_groups") or () if g]
    return ConnectionOptions(
        timeout=float(timeout),
        proxy_headers=headers or None,
        impersonate_groups=tuple(groups) if groups else None,
        **values,
    )


def secrets_of(kubeconfig: Any) -> list[str]:
    """Credentials inside a kubeconfig given as a dict, for Ansible's ``no_log_values``.

    As kubernetes.core does: a kubeconfig passed inline carries tokens, keys
    and passwords that must not show up in results or logs.
    """
    found: list[str] = []

    def walk(value: Any, name: str = "") -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, str(key))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, name)
        elif isinstance(value, str) and value and name in _KUBECONFIG_SECRETS:
            found.append(value)

    if isinstance(kubeconfig, Mapping):
        walk(kubeconfig)
    return found


# Fields of a kubeconfig (users, auth and exec plugins) that hold credentials.
_KUBECONFIG_SECRETS = frozenset(
    (
        "token",
        "password",
        "secret",
        "client-secret",
        "client-key-data",
        "client-certificate-data",
        "certificate-authority-data",
        "id-token",
        "access-token",
        "refresh-token",
        "api_key",
    )
)


def settings_from(params: Mapping[str, Any]) -> Settings:
    """The Settings of a run from a module's params; options a module does
    not have (rules_info: state, force, dest) keep their defaults."""
    return Settings(
        spec={**pick(params, RULESET), **pick(params, DNSSEC)},
        state=params.get("state") or "present",
        prune=params["prune"],
        force=bool(params.get("force")),
        on_error=params["on_error"],
        resolver=pick(params, RESOLVER),
        aggregation=pick(params, AGGREGATION),
        resolved=params["resolved"],
        resolved_at=params.get("resolved_at"),
        dest=params.get("dest"),
        retain=params["retain"],
        internal_ranges=params["internal_ranges"],
    )
