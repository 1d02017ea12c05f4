# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option specs shared by the modules, as plain data.

``env`` names the environment variable a module falls back to (the
kubernetes.core names); the module turns it into Ansible's env fallback, so
this file needs no Ansible import.
"""

from __future__ import annotations

from typing import Any

from ._engine import Settings
from ._kube import ConnectionOptions

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
    "request_timeout": {"type": "float", "default": 30.0},
}

RESOLVER: dict[str, dict[str, Any]] = {
    "nameservers": {"type": "list", "elements": "str"},
    "port": {"type": "int", "default": 53},
    "families": {"type": "str", "choices": ["both", "ipv4", "ipv6"], "default": "both"},
    "timeout": {"type": "float", "default": 2.0},
    "lifetime": {"type": "float", "default": 10.0},
    "retries": {"type": "int", "default": 2},
    "tcp": {"type": "bool", "default": False},
    "rounds": {"type": "int", "default": 1},
    "all_nameservers": {"type": "bool", "default": False},
    "concurrency": {"type": "int", "default": 32},
}

AGGREGATION: dict[str, dict[str, Any]] = {
    "collapse": {"type": "str", "choices": ["merge", "none"], "default": "merge"},
    "ipv4_prefix": {"type": "int", "default": 32},
    "ipv6_prefix": {"type": "int", "default": 128},
    "broadest_prefix": {
        "type": "dict",
        "options": {"ipv4": {"type": "int", "default": 16}, "ipv6": {"type": "int", "default": 48}},
    },
    "allow_any": {"type": "bool", "default": False},
}

RULESET: dict[str, dict[str, Any]] = {
    "set": {"type": "str", "required": True},
    "services": {"type": "list", "elements": "dict"},
    "namespace": {"type": "str", "default": "default"},
    "api": {
        "type": "str",
        "default": "networking.istio.io/v1",
        "choices": [
            "networking.istio.io/v1",
            "networking.istio.io/v1beta1",
            "networking.istio.io/v1alpha3",
            "config.istio.io/v1alpha2",
        ],
    },
    "layout": {"type": "str", "choices": ["per_service", "per_address"]},
    "network_policy": {"type": "bool", "default": False},
    "registry_only": {"type": "list", "elements": "str", "default": []},
}


# How the rule set meets what is live; the same in rules and rules_info.
POLICY: dict[str, dict[str, Any]] = {
    "prune": {"type": "bool", "default": True},
    "on_error": {"type": "str", "choices": ["fail", "keep"], "default": "fail"},
    "retain": {"type": "str", "default": "24h"},
    "resolved": {"type": "list", "elements": "dict"},
}


def merged(*groups: dict[str, dict[str, Any]], env_fallback: Any) -> dict[str, dict[str, Any]]:
    """One Ansible argument_spec from groups; ``env_fallback`` is Ansible's
    function, passed in so that this file needs no Ansible import."""
    spec: dict[str, dict[str, Any]] = {}
    for group in groups:
        for name, given in group.items():
            option = dict(given)
            env = option.pop("env", None)
            if env:
                option["fallback"] = (env_fallback, [env])
            spec[name] = option
    return spec


def pick(params: dict[str, Any], spec: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The values of params that belong to one spec."""
    return {name: params.get(name) for name in spec}


def connection_options(params: dict[str, Any]) -> ConnectionOptions:
    values = pick(params, CONNECTION)
    timeout = values.pop("request_timeout") or 30.0
    return ConnectionOptions(timeout=float(timeout), **values)


def settings_from(params: dict[str, Any]) -> Settings:
    """The Settings of a run from a module's params; options a module does
    not have (rules_info: state, force, dest) keep their defaults."""
    return Settings(
        spec=pick(params, RULESET),
        state=params.get("state") or "present",
        prune=params["prune"],
        force=bool(params.get("force")),
        on_error=params["on_error"],
        resolver=pick(params, RESOLVER),
        aggregation=pick(params, AGGREGATION),
        resolved=params["resolved"],
        dest=params.get("dest"),
        retain=params["retain"],
    )
