# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.meshguard.egress.plugins.module_utils._rollout.scope import ScopeError, cluster_services

DOCUMENTATION = r"""
name: cluster_services
short_description: Every service of a rule set that applies to one cluster, from the cluster's variables
version_added: 0.1.0
author: meshguard.egress developers (@meshguard)
description:
  - Assembles the services of one cluster of an inventory, as the C(meshguard.egress.rollout) role does for the
    resolution of a run and for the apply on each cluster.
  - The services are C(meshguard_egress_services), then every list named C(meshguard_egress_services_<suffix>) in
    the cluster's variables, in the order of the variable names, each scoped to the cluster with
    P(meshguard.egress.scoped#filter).
  - C(meshguard_egress_services) is taken from the variables when they hold it (inventory and extra vars), else
    from O(services) (a play or role variable, which C(hostvars) do not hold).
  - Every problem of every list is reported at once, naming the variable and the service.
positional: host, groups
options:
  _input:
    description: The variables of the cluster, usually C(hostvars[host]).
    type: dict
    required: true
  host:
    description: The inventory host name of the cluster.
    type: str
    required: true
  groups:
    description: The groups the cluster is in, usually C(hostvars[host].group_names).
    type: list
    elements: str
    default: []
  known:
    description:
      - Every host and group name of the inventory. When given, a name in a service's C(clusters) that is neither
        is an error.
    type: list
    elements: str
  services:
    description: C(meshguard_egress_services) when O(_input) does not hold it.
    type: list
    elements: dict
seealso:
  - plugin: meshguard.egress.scoped
    plugin_type: filter
  - plugin: meshguard.egress.rollout
    plugin_type: role
  - ref: ansible_collections.meshguard.egress.docsite.rollout
    description: The rule set across the clusters of an inventory (the rollout guide, "The rule set").
"""

EXAMPLES = r"""
- name: The services of this cluster, common list and the lists of its groups and host
  meshguard.egress.rules:
    set: shop-egress
    context: "{{ inventory_hostname }}"
    services: >-
      {{ hostvars[inventory_hostname] | meshguard.egress.cluster_services(inventory_hostname, group_names,
         known=groups.keys() | list + groups['all'], services=meshguard_egress_services) }}
"""

RETURN = r"""
_value:
  description: The services that apply to the cluster, without their C(clusters) key.
  type: list
  elements: dict
"""


def cluster_services_filter(variables, host, groups=None, known=None, services=None):
    try:
        return cluster_services(variables, host, groups or (), known, services)
    except ScopeError as exc:
        raise AnsibleFilterError(f"meshguard.egress.cluster_services: {exc}") from None


class FilterModule:
    def filters(self):
        return {"cluster_services": cluster_services_filter}
