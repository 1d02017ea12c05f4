# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._rollout.scope import names_to_resolve

DOCUMENTATION = r"""
name: resolvable
short_description: The host names that the services of a rule set need resolved
version_added: 0.1.0
author: meshguard.egress developers (@meshguard)
description:
  - Returns the host names in the C(hosts) of the services, in normal form (lower-case ASCII, no trailing dot),
    deduplicated and sorted, for one call of the P(meshguard.egress.resolve#lookup) lookup whose C(detail=true) output
    then goes to the C(resolved) option of M(meshguard.egress.rules) on every cluster.
  - IP addresses and CIDR blocks are left out (they need no DNS), and so are the hosts of services that give their
    own C(addresses).
  - Terms that are not valid host names are left out too; M(meshguard.egress.rules) rejects them with an error
    naming the service and field, before any DNS query.
options:
  _input:
    description: Services, as for the C(services) option of M(meshguard.egress.rules).
    type: list
    elements: dict
    required: true
seealso:
  - plugin: meshguard.egress.resolve
    plugin_type: lookup
  - plugin: meshguard.egress.scoped
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Resolve once, apply to a cluster with the answers
  meshguard.egress.rules:
    set: shop-egress
    services: "{{ services }}"
    resolved: "{{ query('meshguard.egress.resolve', services | meshguard.egress.resolvable, detail=true) }}"
  vars:
    services:
      - name: orders-mongo
        hosts: [mongo-0.db.example.com, Mongo-1.DB.example.com., 192.0.2.10]
        ports: [{number: 27017, protocol: MONGO}]
"""

RETURN = r"""
_value:
  description: Host names, sorted.
  type: list
  elements: str
  sample: [mongo-0.db.example.com, mongo-1.db.example.com]
"""


def resolvable(services):
    return names_to_resolve(services)


class FilterModule:
    def filters(self):
        return {"resolvable": resolvable}
