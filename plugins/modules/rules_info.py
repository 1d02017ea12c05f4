#!/usr/bin/python
# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rules_info
short_description: What meshguard.egress manages on one cluster, and how it differs from a rule set
version_added: 0.1.0
description:
  - Lists the objects that one rule set (or every rule set) of M(meshguard.egress.rules) owns on a cluster,
    that is those labelled C(app.kubernetes.io/managed-by=meshguard.egress).
  - Given a rule set (O(services)), also reports the drift, what M(meshguard.egress.rules) would create, update
    or delete, in the same C(plan) shape, without writing anything.
author:
  - meshguard.egress developers (@meshguard-egress)
extends_documentation_fragment:
  - meshguard.egress.ruleset
  - meshguard.egress.policy
  - meshguard.egress.cluster
  - meshguard.egress.resolver
  - meshguard.egress.aggregation
  - meshguard.egress.addresses
  - meshguard.egress.dnssec
  - meshguard.egress.attributes.INFO_MODULE
options:
  set:
    description:
      - Name of the rule set. When not set, the objects of every set are listed.
      - Required with O(services).
    type: str
    required: false
  services:
    description:
      - The rule set to compare with what is live, as in M(meshguard.egress.rules). Hosts are resolved (or taken
        from O(resolved)). Without it, only what is owned is listed.
    type: list
    elements: dict
seealso:
  - module: meshguard.egress.rules
  - ref: ansible_collections.meshguard.egress.docsite.apply
    description: Drift, and how the live objects are compared with the rule set.
"""

EXAMPLES = r"""
- name: What does the shop-databases set own on prod-eu-1?
  meshguard.egress.rules_info:
    set: shop-databases
    context: prod-eu-1
  register: owned

- name: Has anyone changed the rules by hand, or has DNS moved?
  meshguard.egress.rules_info:
    set: shop-databases
    context: prod-eu-1
    services: "{{ egress_services }}"
  register: drift

- name: Fail a nightly job on drift
  ansible.builtin.assert:
    that: drift.in_sync
    fail_msg: "drift on prod-eu-1: {{ drift.plan }}"
"""

RETURN = r"""
errors:
  description:
    - Every problem with the input when the task failed because of it, as data, as
      RV(meshguard.egress.rules#module:errors) of M(meshguard.egress.rules) gives them (C(service), C(index),
      C(field), C(message)). Empty when the failure is not about the input.
  returned: on failure
  type: list
  elements: dict
  sample:
    - service: orders-mongo
      index: 0
      field: ports[0].number
      message: must be between 1 and 65535, got 70000
cluster:
  description: The cluster that was read, as C(context <name>) or the API server URL.
  returned: always
  type: str
objects:
  description: The objects owned (by O(set), or by any set), without server bookkeeping fields.
  returned: always
  type: list
  elements: dict
sets:
  description: For each rule set found, how many objects it owns.
  returned: always
  type: dict
  sample: {shop-databases: 4}
plan:
  description: With O(services), what M(meshguard.egress.rules) would do, in its C(plan) shape.
  returned: when O(services) is set
  type: dict
counts:
  description: With O(services), how many objects each key of RV(plan) holds.
  returned: when O(services) is set
  type: dict
in_sync:
  description: With O(services), true when nothing would be created, updated or deleted and there is no conflict.
  returned: when O(services) is set
  type: bool
egress_gateway:
  description:
    - With O(services) and O(egress_gateway), the gateway as M(meshguard.egress.rules) would use it, as
      RV(meshguard.egress.rules#module:egress_gateway) (plain mode's ports as the next run would assign them).
  returned: when O(services) is set and a service goes through the egress gateway
  type: dict
reachability:
  description:
    - The grants of the set's live objects (C(current)), as RV(meshguard.egress.rules#module:reachability)
      describes them; with O(services), also the drift as C(added) and C(removed) (what M(meshguard.egress.rules)
      would change) and C(unchanged).
  returned: always
  type: dict
network_policies:
  description:
    - With O(services), what each C(NetworkPolicy) of the set would allow once M(meshguard.egress.rules) ran, as
      RV(meshguard.egress.rules#module:network_policies).
  returned: when O(services) is set
  type: list
  elements: dict
tampered:
  description:
    - With O(services), the retention records that do not match what was applied, as
      RV(meshguard.egress.rules#module:tampered).
  returned: when O(services) is set
  type: list
  elements: str
exported_wider:
  description:
    - With O(services), the set's live C(ServiceEntry) and C(VirtualService) objects that are exported
      (C(exportTo)) to namespaces the rule set does not grant, for example objects written by an earlier version
      that exported to every namespace, or edited by hand. Each also gives a warning; M(meshguard.egress.rules)
      writes the wanted C(exportTo).
  returned: when O(services) is set
  type: list
  elements: dict
  contains:
    kind:
      description: C(ServiceEntry) or C(VirtualService).
      type: str
    namespace:
      description: The object's namespace.
      type: str
    name:
      description: The object's name.
      type: str
    exported_to:
      description: Its live C(exportTo) (V(*) when it has none, as Istio reads it).
      type: list
      elements: str
    wanted:
      description: The C(exportTo) the rule set renders.
      type: list
      elements: str
    wider:
      description: The namespaces it reaches beyond the wanted ones, or V(*) for every namespace.
      type: list
      elements: str
  sample:
    - kind: ServiceEntry
      namespace: shop
      name: shop-databases--billing-mysql
      exported_to: ["*"]
      wanted: ["."]
      wider: ["*"]
refused:
  description:
    - Every address the address policy refused and every answer O(dnssec) refused, as
      RV(meshguard.egress.rules#module:refused) of M(meshguard.egress.rules). With O(on_error=keep) the drift is what
      M(meshguard.egress.rules) would do, those services left as they are; with O(on_error=fail) the task fails.
  returned: when O(services) is set
  type: list
  elements: dict
dnssec:
  description:
    - DNSSEC's verdict on each host name that was validated, as RV(meshguard.egress.rules#module:dnssec) of
      M(meshguard.egress.rules).
  returned: when O(services) is set
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import (
    RULES_INFO,
    connection_options,
    secrets_of,
    settings_from,
)
from ansible_collections.meshguard.egress.plugins.module_utils._engine import inspect
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._problems import errors_of


def main() -> None:
    module = AnsibleModule(supports_check_mode=True, **RULES_INFO.to_kwargs(env_fallback))
    p = module.params
    module.no_log_values.update(secrets_of(p["kubeconfig"]))
    connection = connection_options(p)
    settings = settings_from(p) if p["services"] is not None else None
    try:
        result = inspect(connection, p["set"], p["api"], settings)
    except MeshguardError as e:
        module.fail_json(msg=str(e), errors=errors_of(e))
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
