# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the documentation states as choices and defaults is what the library enforces.

The library states each fact once (the API versions in _kinds, the resolver
defaults in ResolverOptions, ...). Ansible's documentation formats cannot
read them from there: doc fragments, the lookup's options and the role's
argument_specs.yml are static YAML. ansible-test's validate-modules checks the
modules' argument specs against their documentation; this test checks the
rest against the library, so a copy that drifts fails here.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from ansible_collections.meshguard.egress.plugins.doc_fragments import (
    addresses,
    aggregation,
    cluster,
    dnssec,
    policy,
    resolver,
    ruleset,
)
from ansible_collections.meshguard.egress.plugins.lookup import resolve as resolve_lookup
from ansible_collections.meshguard.egress.plugins.module_utils._addresses import (
    COLLAPSE_CHOICES,
    DEFAULT_BROADEST,
    AggregateOptions,
)
from ansible_collections.meshguard.egress.plugins.module_utils._ambient.spec import DATAPLANES, SIDECAR, WAYPOINT_KEYS
from ansible_collections.meshguard.egress.plugins.module_utils._argspec import (
    ADDRESSES,
    AGGREGATION,
    CONNECTION,
    DNSSEC,
    POLICY,
    RESOLVER,
    RULES,
    RULESET,
)
from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import DEFAULT_ON_ERROR, ON_ERROR_CHOICES
from ansible_collections.meshguard.egress.plugins.module_utils._dns.options import FAMILY_CHOICES, ResolverOptions
from ansible_collections.meshguard.egress.plugins.module_utils._dnssec.anchors import ROOT_ANCHORS
from ansible_collections.meshguard.egress.plugins.module_utils._dnssec.policy import DEFAULT_MODE as DNSSEC_DEFAULT
from ansible_collections.meshguard.egress.plugins.module_utils._dnssec.policy import MODES as DNSSEC_MODES
from ansible_collections.meshguard.egress.plugins.module_utils._gateway.spec import (
    DEFAULT_NAMESPACE as GATEWAY_NAMESPACE,
)
from ansible_collections.meshguard.egress.plugins.module_utils._gateway.spec import (
    DEFAULT_PORTS,
    DEFAULT_SELECTOR,
    GATEWAY_KEYS,
    PORTS_KEYS,
)
from ansible_collections.meshguard.egress.plugins.module_utils._gateway.spec import DEFAULT_SERVICE as GATEWAY_SERVICE
from ansible_collections.meshguard.egress.plugins.module_utils._gateway.spec import MODES as GATEWAY_MODES
from ansible_collections.meshguard.egress.plugins.module_utils._istio_versions import (
    AMBIENT_CIDRS,
    AMBIENT_MINIMUM,
    MAX_EXPANDED_ADDRESSES,
    NEWEST,
)
from ansible_collections.meshguard.egress.plugins.module_utils._istio_versions import text as version_text
from ansible_collections.meshguard.egress.plugins.module_utils._kinds import APIS, DEFAULT_API
from ansible_collections.meshguard.egress.plugins.module_utils._policy.judge import BUILT_IN, KEPT
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import ON_ERROR, STATES
from ansible_collections.meshguard.egress.plugins.module_utils._retain import DEFAULT_RETAIN
from ansible_collections.meshguard.egress.plugins.module_utils._spec import DEFAULT_NAMESPACE, LAYOUTS, SERVICE_KEYS
from ansible_collections.meshguard.egress.plugins.plugin_utils._role import options_from_variables

ROLE = Path(__file__).resolve().parents[3] / "roles" / "rollout"


def options_of(fragment) -> dict:
    return yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]


def role_options() -> dict:
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


def test_rule_set_options():
    docs = options_of(ruleset)
    assert docs["api"]["choices"] == list(APIS)
    assert docs["api"]["default"] == DEFAULT_API
    assert docs["layout"]["choices"] == list(LAYOUTS)
    assert docs["namespace"]["default"] == DEFAULT_NAMESPACE
    assert sorted(docs) == sorted(RULESET)


def test_policy_options():
    docs = options_of(policy)
    assert docs["on_error"]["choices"] == list(ON_ERROR)
    assert docs["on_error"]["default"] == ON_ERROR[0]
    assert docs["retain"]["default"] == DEFAULT_RETAIN
    assert sorted(docs) == sorted(POLICY)


def test_resolver_options_and_their_defaults():
    docs = options_of(resolver)
    defaults = {f.name: f.default for f in fields(ResolverOptions)}
    assert sorted(docs) == sorted(RESOLVER) == sorted(defaults)
    assert docs["families"]["choices"] == list(FAMILY_CHOICES)
    for name, option in docs.items():
        expected = defaults[name] if name != "nameservers" else None
        assert option.get("default") == expected, name


def test_aggregation_options_and_their_defaults():
    docs = options_of(aggregation)
    defaults = AggregateOptions().to_dict()
    assert sorted(docs) == sorted(AGGREGATION) == sorted(defaults)
    assert docs["collapse"]["choices"] == list(COLLAPSE_CHOICES)
    for name in ("collapse", "ipv4_prefix", "ipv6_prefix", "allow_any"):
        assert docs[name]["default"] == defaults[name], name
    assert {k: v["default"] for k, v in docs["broadest_prefix"]["suboptions"].items()} == DEFAULT_BROADEST


def test_address_options():
    docs = options_of(addresses)
    assert sorted(docs) == sorted(ADDRESSES)
    assert docs["internal_ranges"]["default"] == ADDRESSES["internal_ranges"]["default"] == []


def test_the_address_policy_page_lists_every_range_of_the_library():
    page = (ROLE.parents[1] / "docs" / "docsite" / "rst" / "address-policy.rst").read_text()
    for entry in (*BUILT_IN, *KEPT):
        assert f"``{entry.cidr}``" in page, entry
        assert entry.source.split(";")[0] in page, entry


def test_dnssec_options():
    docs = options_of(dnssec)
    assert sorted(docs) == sorted(DNSSEC)
    assert docs["dnssec"]["choices"] == list(DNSSEC_MODES)
    assert docs["dnssec"]["default"] == DNSSEC_DEFAULT == DNSSEC["dnssec"]["default"]


def test_the_dnssec_page_names_the_shipped_root_anchors():
    page = (ROLE.parents[1] / "docs" / "docsite" / "rst" / "dnssec.rst").read_text()
    for record in ROOT_ANCHORS:
        tag = record.split()[3]
        assert f"({tag})" in page or f"(key tag {tag})" in page, tag
    assert "https://data.iana.org/root-anchors/root-anchors.xml" in page


def test_lookup_on_error():
    docs = yaml.safe_load(resolve_lookup.DOCUMENTATION)["options"]
    assert docs["on_error"]["choices"] == list(ON_ERROR_CHOICES)
    assert docs["on_error"]["default"] == DEFAULT_ON_ERROR


@pytest.mark.parametrize(
    ("variable", "choices", "default"),
    [
        ("meshguard_egress_api", list(APIS), DEFAULT_API),
        ("meshguard_egress_state", list(STATES), STATES[0]),
        ("meshguard_egress_on_error", list(ON_ERROR), ON_ERROR[0]),
        ("meshguard_egress_layout", list(LAYOUTS), None),
        ("meshguard_egress_collapse", list(COLLAPSE_CHOICES), None),
        ("meshguard_egress_namespace", None, DEFAULT_NAMESPACE),
        ("meshguard_egress_dnssec", list(DNSSEC_MODES), DNSSEC_DEFAULT),
    ],
)
def test_role_variables(variable, choices, default):
    option = role_options()[variable]
    assert option.get("choices") == choices
    assert option.get("default") == default
    role_defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    if default is not None:
        assert role_defaults[variable] == default


def test_role_resolver_matches_the_resolver_options():
    docs = role_options()["meshguard_egress_resolver"]["options"]
    defaults = {f.name: f.default for f in fields(ResolverOptions)}
    assert sorted(docs) == sorted(defaults)
    assert docs["families"]["choices"] == list(FAMILY_CHOICES)
    for name, option in docs.items():
        assert option.get("default") == (defaults[name] if name != "nameservers" else None), name


def test_egress_gateway_options_and_their_defaults():
    docs = options_of(ruleset)["egress_gateway"]["suboptions"]
    role = role_options()["meshguard_egress_egress_gateway"]["options"]
    spec = RULESET["egress_gateway"]["options"]
    assert sorted(docs) == sorted(role) == sorted(spec) == sorted(GATEWAY_KEYS)
    assert docs["mode"]["choices"] == role["mode"]["choices"] == list(GATEWAY_MODES)
    assert sorted(docs["ports"]["suboptions"]) == sorted(role["ports"]["options"]) == sorted(PORTS_KEYS)
    # The defaults are the library's (the argspec has none, so that the legacy API can tell what was given).
    for text in (docs["namespace"]["description"], role["namespace"]["description"]):
        assert f"V({GATEWAY_NAMESPACE})" in text
    for text in (docs["service"]["description"], role["service"]["description"]):
        assert f"V({GATEWAY_SERVICE})" in text
    start, end = DEFAULT_PORTS
    assert f"{start} to {end}" in docs["ports"]["description"][0]
    assert f"{start} to {end}" in role["ports"]["description"]
    assert f"Default {start}" in docs["ports"]["suboptions"]["start"]["description"]
    assert f"Default {end}" in docs["ports"]["suboptions"]["end"]["description"]
    ((label, value),) = DEFAULT_SELECTOR
    for text in (docs["selector"]["description"], role["selector"]["description"]):
        assert f"C({label}) with value V({value})" in text


def test_ambient_options_and_the_version_facts():
    docs = options_of(ruleset)
    role = role_options()
    assert docs["dataplane"]["choices"] == role["meshguard_egress_dataplane"]["choices"] == list(DATAPLANES)
    assert docs["dataplane"]["default"] == role["meshguard_egress_dataplane"]["default"] == SIDECAR
    role_defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert role_defaults["meshguard_egress_dataplane"] == SIDECAR
    waypoint = docs["waypoint"]["suboptions"]
    assert sorted(waypoint) == sorted(role["meshguard_egress_waypoint"]["options"]) == sorted(WAYPOINT_KEYS)
    assert sorted(RULESET["waypoint"]["options"]) == sorted(WAYPOINT_KEYS)
    assert waypoint["manage"]["default"] is False is RULESET["waypoint"]["options"]["manage"]["default"]
    assert docs["istio_version"]["default"] == RULESET["istio_version"]["default"] == version_text(NEWEST)
    described = " ".join(docs["istio_version"]["description"])
    assert f"Below {version_text(AMBIENT_CIDRS)}" in described
    assert f"at most {MAX_EXPANDED_ADDRESSES} per service" in described
    assert f"needs {version_text(AMBIENT_MINIMUM)} or later" in described
    rendering = (ROLE.parents[1] / "docs" / "docsite" / "rst" / "rendering.rst").read_text()
    assert f"Default: {version_text(NEWEST)}, the minor" in rendering
    assert f"at most {MAX_EXPANDED_ADDRESSES} per service" in rendering
    assert f'`"{version_text(NEWEST)}"`' in (ROLE / "README.md").read_text()


def _agrees(docs: dict, spec: dict) -> None:
    """Names, types, aliases, elements and environment variables of options (and suboptions)."""
    assert sorted(docs) == sorted(spec)
    for name, option in spec.items():
        doc = docs[name]
        assert doc["type"] == option["type"], name
        assert doc.get("aliases", []) == option.get("aliases", []), name
        assert doc.get("elements") == option.get("elements"), name
        if option.get("env"):
            assert f"E({option['env']})" in " ".join(doc["description"]), name
        if "options" in option:
            _agrees(doc["suboptions"], option["options"])


def test_cluster_options_and_their_environment_variables():
    _agrees(options_of(cluster), CONNECTION)


def test_the_role_passes_every_connection_option():
    """rollout_apply gives each cluster the rules options of its meshguard_egress_<option> variables: every
    connection option has its variable, of the same type and secrecy, and is read."""
    role = role_options()
    read = options_from_variables(RULES.options)
    for name, option in CONNECTION.items():
        variable = f"meshguard_egress_{name}"
        assert variable in role, name
        assert role[variable]["type"] == option["type"], name
        assert role[variable].get("no_log", False) == option.get("no_log", False), name
        assert name in read, name


def test_the_development_guide_lists_every_library_file_and_no_other():
    """The layout table of the development guide is how a contributor finds a concern: a library file
    added, moved or removed without it is caught here."""
    library = Path(__file__).resolve().parents[3] / "plugins" / "module_utils"
    on_disk = {str(p.relative_to(library)) for p in library.rglob("*.py") if p.name != "__init__.py"}
    guide = (library.parents[1] / "docs" / "docsite" / "rst" / "development.rst").read_text()
    table = guide[guide.index("   * - file\n     - concern\n") : guide.index("``plugins/action/rules.py`` runs")]
    listed = set(re.findall(r"^   \* - ``([^`]+\.py)``$", table, flags=re.M))
    assert listed == on_disk


def test_role_names_every_field_of_a_service():
    """The role documents meshguard_egress_services in its description (not declared: rollout_prepare checks it)
    and names every field of a service there."""
    entry = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    assert "meshguard_egress_services" not in entry["options"]
    text = " ".join(entry["description"])
    assert "C(meshguard_egress_services), required" in text
    for key in SERVICE_KEYS:
        assert f"C({key})" in text, key
