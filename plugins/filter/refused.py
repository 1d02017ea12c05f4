# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.meshguard.egress.plugins.module_utils._desired import refused_answers
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError

DOCUMENTATION = r"""
name: refused
short_description: The DNS answers and literals of services that egress rules never allow
version_added: 0.1.0
author: meshguard.egress developers (@meshguard)
description:
  - Judges the services' literals and the answers of the P(meshguard.egress.resolve#lookup) lookup (C(detail=true)) by
    the address policy of M(meshguard.egress.rules), as it stands before any cluster is read, with each service's
    C(allow_ranges) and O(internal_ranges). The C(meshguard.egress.rollout) role uses it to stop before any cluster
    is touched.
  - M(meshguard.egress.rules) judges again on each cluster, with the Service and pod ranges that cluster reports.
  - Also judges each answer's DNSSEC status (C(dnssec) of the lookup's detail) by the service's C(dnssec) mode, or
    O(dnssec).
  - Services that are not valid input are left out; M(meshguard.egress.rules) names their problems.
positional: resolved
options:
  _input:
    description: Services, as for the C(services) option of M(meshguard.egress.rules).
    type: list
    elements: dict
    required: true
  resolved:
    description: The lookup's C(detail=true) answers for every host name of the services.
    type: list
    elements: dict
    required: true
  internal_ranges:
    description: As the O(meshguard.egress.rules#module:internal_ranges) option.
    type: list
    elements: str
    default: []
  dnssec:
    description: As the O(meshguard.egress.rules#module:dnssec) option, for services without their own C(dnssec).
    type: str
    choices: ['off', prefer, require]
    default: 'off'
seealso:
  - module: meshguard.egress.rules
  - plugin: meshguard.egress.resolve
    plugin_type: lookup
  - ref: ansible_collections.meshguard.egress.docsite.address-policy
    description: The addresses a rule set never allows, and why.
"""

EXAMPLES = r"""
- name: Stop when DNS answered an address egress rules never allow
  ansible.builtin.assert:
    that: refused | length == 0
    fail_msg: "{{ refused | map(attribute='message') | join('; ') }}"
  vars:
    resolved: >-
      {{ query('meshguard.egress.resolve', services | meshguard.egress.resolvable, detail=true, on_error='omit') }}
    refused: "{{ services | meshguard.egress.refused(resolved) }}"
"""

RETURN = r"""
_value:
  description:
    - One dict per refused address or DNSSEC refusal, as RV(meshguard.egress.rules#module:refused) of
      M(meshguard.egress.rules), with C(service), C(host), C(address), C(range) (null for DNSSEC), C(dnssec) (DNSSEC
      refusals) and C(message).
  type: list
  elements: dict
"""


def refused(services, resolved, internal_ranges=None, dnssec=None):
    try:
        return refused_answers(services, resolved, internal_ranges, dnssec)
    except MeshguardError as exc:
        raise AnsibleFilterError(f"meshguard.egress.refused: {exc}") from None


class FilterModule:
    def filters(self):
        return {"refused": refused}
