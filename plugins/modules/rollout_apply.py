#!/usr/bin/python
# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_apply
short_description: Apply the rollout role's rule set to every cluster of a batch, from one task on the controller
version_added: 0.1.0
description:
  - The apply step of the role C(meshguard.egress.rollout), once per batch (C(serial)) instead of once per cluster.
    For every inventory host of O(hosts) (each a cluster) it does what M(meshguard.egress.rules) does with the
    options the role passes it (each C(meshguard_egress_<option>) variable of the host; one the host does not hold,
    such as a role default or a play variable, is the current host's), with the services and answers that
    P(meshguard.egress.rollout_prepare#lookup) checked and stored for that host (O(prepared)).
  - The clusters are applied to concurrently, in threads of this one task (at most O(concurrency) at a time). What
    clusters with the same options share (the validated options, the checked services and answers, the rendering
    and the reachability change) is computed once; per cluster remain reading its live objects, comparing and
    writing what differs. One task per cluster costs Ansible a worker process, the templating of every option and
    the validation of every service for each cluster, most of a no-op run's cost.
  - A cluster that fails does not stop the others. Each cluster's outcome is returned in RV(outcomes), keyed by
    inventory host, and its diffs in RV(diffs). Run once for the batch (C(run_once)), the task's registered result is
    every host's; the role then gives each cluster its own result with M(meshguard.egress.rollout_outcome), after its
    summary.
  - This module runs on the controller only, in the Python running C(ansible-playbook) (an action plugin); the
    collection's Python requirements must be installed there.
  - Meant for the role. A play of one's own applies with M(meshguard.egress.rules).
author:
  - meshguard.egress developers (@meshguard-egress)
options:
  hosts:
    description: The inventory hosts (clusters) to apply to, usually C(ansible_play_batch).
    type: list
    elements: str
    required: true
  prepared:
    description:
      - For each host, the digest of its services and answers, as P(meshguard.egress.rollout_prepare#lookup) returns
        them in C(prepared). A host that is not in it applies no services (only V(absent) may do so).
    type: dict
    default: {}
  concurrency:
    description: How many clusters are applied to at the same time. Defaults to the run's C(forks).
    type: int
attributes:
  check_mode:
    support: full
    description:
      - As M(meshguard.egress.rules) on each cluster, every write with C(dryRun=All).
  diff_mode:
    support: full
    description:
      - Every cluster's diffs, one per object created, updated or deleted, each header naming the cluster.
notes:
  - Credentials never appear in the outcomes, the diffs or the warnings.
seealso:
  - module: meshguard.egress.rules
  - plugin: meshguard.egress.rollout_prepare
    plugin_type: lookup
  - ref: ansible_collections.meshguard.egress.docsite.rollout
    description: What a run of the rollout role does.
"""

EXAMPLES = r"""
- name: Bring every cluster of this batch to the rule set
  meshguard.egress.rollout_apply:
    hosts: "{{ ansible_play_batch }}"
    prepared: "{{ hostvars['localhost']['meshguard_egress_resolution']['prepared'] }}"
  run_once: true
  register: applied
  changed_when: false  # each cluster's own task says whether it changed

- name: The outcome of this cluster
  meshguard.egress.rollout_outcome:
    outcome: "{{ applied.outcomes[inventory_hostname] }}"
    diff: "{{ applied.diffs[inventory_hostname] | default([]) }}"
  register: meshguard_egress_outcome
"""

RETURN = r"""
changed:
  description: Whether any cluster changed (would change, in check mode).
  returned: always
  type: bool
outcomes:
  description:
    - Per inventory host, what was done on its cluster, as M(meshguard.egress.rollout_outcome) takes it.
  returned: always
  type: dict
  contains:
    cluster:
      description: The cluster (the API server's context or URL; the inventory host when it was not reached).
      type: str
    state:
      description: The state the rule set was brought to.
      type: str
    check_mode:
      description: Whether it was a preview.
      type: bool
    changed:
      description: Whether the cluster changed (would change, in check mode).
      type: bool
    plan:
      description: The rules module's RV(meshguard.egress.rules#module:plan).
      type: dict
    counts:
      description: The rules module's RV(meshguard.egress.rules#module:counts).
      type: dict
    refused:
      description: The rules module's RV(meshguard.egress.rules#module:refused).
      type: list
      elements: dict
    reachability:
      description: The rules module's RV(meshguard.egress.rules#module:reachability).
      type: dict
    dest:
      description: The folder of the rendered manifests (V(rendered) only).
      type: str
    failed:
      description: Whether the rule set could not be applied to the cluster.
      type: bool
    msg:
      description: Why (empty when it was applied).
      type: str
diffs:
  description: Per inventory host, its diffs (with C(--diff) only; each header names the cluster).
  returned: always
  type: dict
failed_clusters:
  description: The inventory hosts whose cluster failed.
  returned: always
  type: list
  elements: str
"""
