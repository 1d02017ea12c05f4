# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.meshguard.egress.plugins.module_utils._rollout.scope import ScopeError, scoped

DOCUMENTATION = r"""
name: scoped
short_description: The services of a rule set that apply to one cluster of an inventory
version_added: 0.1.0
author: meshguard.egress developers (@meshguard)
description:
  - In an inventory in which every host is a Kubernetes cluster, a service of a rule set may carry a C(clusters)
    list of inventory host names and group names. It then applies only to the clusters named, or in one of the
    groups named. A service without C(clusters) applies to every cluster.
  - Returns the services that apply to the cluster O(host), without their C(clusters) key, ready for the
    C(services) option of M(meshguard.egress.rules).
  - Everything else in a service is passed on as it is; M(meshguard.egress.rules) validates it.
  - The C(meshguard.egress.rollout) role uses this filter for every cluster.
positional: host, groups
options:
  _input:
    description: The services of the rule set, as for the C(services) option of M(meshguard.egress.rules),
      each with an optional C(clusters) list.
    type: list
    elements: dict
    required: true
  host:
    description: The inventory host name of the cluster, usually C(inventory_hostname).
    type: str
    required: true
  groups:
    description: The groups the cluster is in, usually C(group_names).
    type: list
    elements: str
    default: []
  known:
    description:
      - Every host and group name of the inventory. When given, a name in C(clusters) that is neither is an error,
        so that a typo cannot silently remove a service from every cluster.
    type: list
    elements: str
  source:
    description: What the list is called in error messages, such as the variable that holds it.
    type: str
    default: services
notes:
  - Every problem (a C(clusters) that is not a list of names, an empty C(clusters), unknown names) is reported at
    once, naming the service.
seealso:
  - module: meshguard.egress.rules
  - plugin: meshguard.egress.rollout
    plugin_type: role
  - ref: ansible_collections.meshguard.egress.docsite.rollout
    description: The rule set across the clusters of an inventory (the rollout guide, "The rule set").
"""

EXAMPLES = r"""
# group_vars/egress_clusters.yml:
#   meshguard_egress_services:
#     - name: orders-mongo
#       hosts: [mongo-0.db.example.com, mongo-1.db.example.com]
#       ports: [{number: 27017, protocol: MONGO}]
#     - name: eu-reporting
#       hosts: [reports.eu.example.com]
#       ports: [{number: 5432, protocol: TCP}]
#       clusters: [region_eu]          # a group of the inventory
#     - name: canary-cache
#       hosts: [192.0.2.40]
#       ports: [{number: 6379, protocol: REDIS}]
#       clusters: [prod-eu-1]          # one cluster

- name: Apply the services of this cluster
  meshguard.egress.rules:
    set: shop-egress
    context: "{{ inventory_hostname }}"
    services: "{{ meshguard_egress_services | meshguard.egress.scoped(inventory_hostname, group_names) }}"

- name: The same, rejecting names in clusters that the inventory does not have
  ansible.builtin.debug:
    msg: >-
      {{ meshguard_egress_services | meshguard.egress.scoped(inventory_hostname, group_names,
         known=groups.keys() | list + groups['all']) }}
"""

RETURN = r"""
_value:
  description: The services that apply to O(host), in their order, without the C(clusters) key.
  type: list
  elements: dict
"""


def scoped_filter(services, host, groups=None, known=None, source="services"):
    try:
        return scoped(services, host, groups or (), known, source)
    except ScopeError as exc:
        raise AnsibleFilterError(f"meshguard.egress.scoped: {exc}") from None


class FilterModule:
    def filters(self):
        return {"scoped": scoped_filter}
