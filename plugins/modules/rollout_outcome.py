#!/usr/bin/python
# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_outcome
short_description: Report one cluster's outcome of a rollout as that cluster's own task result
version_added: 0.1.0
description:
  - The last step of the role C(meshguard.egress.rollout) on each cluster (inventory host).
    M(meshguard.egress.rollout_apply) applies to every cluster of a batch in one task, so Ansible counts that task
    for one host only. This task gives each cluster its own result, the one a play recap, C(--diff) and AWX's host
    summary read.
  - It is C(changed) when the cluster changed (would change, in check mode), shows the cluster's diffs with C(--diff),
    and fails, with the cluster's own reason, when the rule set could not be applied to the cluster. Its result is
    the cluster's outcome; the role registers it as C(meshguard_egress_outcome). A failed cluster's result holds
    only RV(cluster), RV(state), RV(check_mode), C(changed), C(failed) and RV(msg), since Ansible prints a failed result
    whole, and the plan and reachability of hundreds of objects are in the summary and report printed before.
  - Nothing is contacted; the action runs on the controller.
  - Meant for the role.
author:
  - meshguard.egress developers (@meshguard-egress)
options:
  outcome:
    description:
      - The cluster's outcome, as M(meshguard.egress.rollout_apply) returns it in C(outcomes). It becomes this task's
        result.
    type: dict
    required: true
  diff:
    description: The cluster's diffs, as M(meshguard.egress.rollout_apply) returns them in C(diffs).
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    support: full
    description:
      - Nothing is written either way; the outcome says whether it was a preview.
  diff_mode:
    support: full
    description:
      - The cluster's diffs, one per object created, updated or deleted.
seealso:
  - module: meshguard.egress.rollout_apply
  - ref: ansible_collections.meshguard.egress.docsite.rollout
    description: What a run of the rollout role does.
"""

EXAMPLES = r"""
- name: The outcome of this cluster
  meshguard.egress.rollout_outcome:
    outcome: "{{ applied.outcomes[inventory_hostname] }}"
    diff: "{{ applied.diffs[inventory_hostname] | default([]) }}"
  register: meshguard_egress_outcome
"""

RETURN = r"""
cluster:
  description: The cluster, as the outcome names it.
  returned: always
  type: str
state:
  description: The state the rule set was brought to (V(present), V(absent), V(rendered)).
  returned: always
  type: str
check_mode:
  description: Whether it was a preview.
  returned: always
  type: bool
plan:
  description: The rules module's RV(meshguard.egress.rules#module:plan) on this cluster.
  returned: unless the cluster failed
  type: dict
counts:
  description: The rules module's RV(meshguard.egress.rules#module:counts) on this cluster.
  returned: unless the cluster failed
  type: dict
refused:
  description: The rules module's RV(meshguard.egress.rules#module:refused) on this cluster.
  returned: unless the cluster failed
  type: list
  elements: dict
reachability:
  description: The rules module's RV(meshguard.egress.rules#module:reachability) on this cluster.
  returned: unless the cluster failed
  type: dict
dest:
  description: The folder the manifests were rendered to (V(rendered) only; else empty).
  returned: unless the cluster failed
  type: str
msg:
  description: Why the rule set could not be applied to the cluster (empty when it was).
  returned: always
  type: str
"""
