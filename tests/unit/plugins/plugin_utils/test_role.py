# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's variables as each cluster's options: what rollout_prepare checks and rollout_apply applies."""

from __future__ import annotations

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.meshguard.egress.plugins.plugin_utils._role import (
    NOT_FROM_VARIABLES,
    host_templar,
    host_value,
    options_from_variables,
    rules_options,
)


def templar_for(own: dict, variables: dict) -> Templar:
    return host_templar(Templar(loader=DataLoader(), variables=variables), own, variables)


def test_a_play_variable_is_templated_for_each_host():
    # The play's (or role's) value is the same for every host; its template is each host's.
    play = {"inventory_hostname": "local-1", "meshguard_egress_dest": trust_as_template("out/{{ inventory_hostname }}")}
    for host in ("local-1", "local-2"):
        own = {"inventory_hostname": host}
        assert host_value(own, play, "meshguard_egress_dest", templar_for(own, play)) == f"out/{host}"


def test_a_host_variable_wins_over_the_play_value_and_is_templated_with_the_host_variables():
    play = {"meshguard_egress_context": "from-play", "region": "us"}
    own = {"region": "eu", "meshguard_egress_context": trust_as_template("prod-{{ region }}")}
    assert host_value(own, play, "meshguard_egress_context", templar_for(own, play)) == "prod-eu"


def test_unset_and_null_options_are_left_out_so_the_module_defaults_apply():
    play = {"meshguard_egress_namespace": "shop", "meshguard_egress_prune": None, "meshguard_egress_unrelated": 1}
    own = {"meshguard_egress_force": True}
    options = ["namespace", "prune", "force", "retain"]
    assert rules_options(own, play, options, templar_for(own, play)) == {"namespace": "shop", "force": True}


def test_plain_data_comes_out():
    play = {"meshguard_egress_internal_ranges": (trust_as_template("10.0.0.0/8"),)}
    got = rules_options({}, play, ["internal_ranges"], templar_for({}, play))
    assert got == {"internal_ranges": ["10.0.0.0/8"]}
    # A plain str, not Ansible's tagged string (which costs a copy of its templating context when copied).
    assert got["internal_ranges"][0].__class__ is str


def test_services_answers_and_resolver_options_are_not_read_from_variables():
    spec = {"services": {}, "resolved": {}, "nameservers": {}, "namespace": {}, "set": {}}
    assert options_from_variables(spec) == ["namespace", "set"]
    assert {"services", "resolved", "resolved_at", "return_resources", "nameservers"} <= set(NOT_FROM_VARIABLES)
