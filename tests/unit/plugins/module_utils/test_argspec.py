# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each module's options and constraints in one object (_argspec.ArgumentSpec), validated by Ansible's own
validator as AnsibleModule validates them."""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import (
    RULES,
    RULES_INFO,
    RULESET,
    SNAPSHOT,
    ArgumentSpec,
)

SERVICES = [{"name": "db", "hosts": ["192.0.2.1"], "ports": [{"number": 5432, "protocol": "TCP"}]}]


def validate(spec: ArgumentSpec, params: dict) -> list[str]:
    return ArgumentSpecValidator(**spec.to_kwargs(env_fallback)).validate(params).error_messages


def test_merge_replaces_options_by_name_and_adds_constraints():
    first = ArgumentSpec.of(
        {"a": {"type": "str"}, "b": {"type": "int"}}, required_if=(("a", "x", ("b",)),), required_by={"a": ("b",)}
    )
    second = ArgumentSpec({"b": {"type": "str"}, "c": {"type": "bool"}}, mutually_exclusive=(("a", "c"),))
    merged = first.merge(second)
    assert merged.options == {"a": {"type": "str"}, "b": {"type": "str"}, "c": {"type": "bool"}}
    assert merged.to_kwargs(None) == {
        "argument_spec": {"a": {"type": "str"}, "b": {"type": "str"}, "c": {"type": "bool"}},
        "required_if": [["a", "x", ("b",)]],
        "required_by": {"a": ["b"]},
        "mutually_exclusive": [["a", "c"]],
    }
    # Merging leaves both sides as they were.
    assert first.options["b"] == {"type": "int"}


def test_env_names_become_ansibles_fallback():
    spec = ArgumentSpec.of({"host": {"type": "str", "env": "K8S_AUTH_HOST"}})
    assert spec.argument_spec(env_fallback) == {"host": {"type": "str", "fallback": (env_fallback, ["K8S_AUTH_HOST"])}}


def test_rules_needs_services_unless_the_set_is_removed():
    assert validate(RULES, {"set": "shop"}) == ["state is present but all of the following are missing: services"]
    assert validate(RULES, {"set": "shop", "state": "rendered"}) == [
        "state is rendered but all of the following are missing: services"
    ]
    assert validate(RULES, {"set": "shop", "state": "absent"}) == []
    assert validate(RULES, {"services": SERVICES}) == ["missing required arguments: set"]


def test_rules_info_reads_every_set_but_drift_needs_the_set():
    assert validate(RULES_INFO, {}) == []
    assert validate(RULES_INFO, {"services": SERVICES}) == ["missing parameter(s) required by 'services': set"]
    assert validate(RULES_INFO, {"set": "shop", "services": SERVICES}) == []
    # The rules module's set stays required: rules_info's is its own option, not a change to the group.
    assert RULESET["set"]["required"] is True


def test_services_are_loose_so_that_the_library_reports_every_problem():
    """AnsibleModule would stop at a service's first bad field; the option takes any dicts, and the library
    (_spec) reports them all."""
    bad = [{"name": "db", "ports": [{"number": "x"}]}, {"hosts": 7}]
    assert validate(RULES, {"set": "shop", "services": bad}) == []
    assert RULES.options["services"] == {"type": "list", "elements": "dict"}


def test_snapshot_needs_services():
    assert validate(SNAPSHOT, {}) == ["missing required arguments: services"]
    assert validate(SNAPSHOT, {"services": SERVICES, "path": "/tmp/snapshot.json"}) == []
