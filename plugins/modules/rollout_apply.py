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
  - A cluster that fails does not stop the others. Each cluster's outcome is returned as a fact of C(localhost)
    (with C(delegate_to=localhost) and C(delegate_facts=true)), C(meshguard_egress_outcomes), keyed by inventory host;
    the role records it on each host as C(meshguard_egress_outcome) and fails the clusters that failed after its
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
  delegate_to: localhost
  delegate_facts: true
  run_once: true
"""

RETURN = r"""
changed:
  description: Whether any cluster changed (would change, in check mode).
  returned: always
  type: bool
ansible_facts:
  description: Set on C(localhost) with C(delegate_facts=true).
  returned: always
  type: dict
  contains:
    meshguard_egress_outcomes:
      description:
        - Per inventory host, what was done on its cluster (C(cluster), C(state), C(check_mode), C(changed), C(plan),
          C(counts), C(refused), C(reachability), C(dest), C(failed), C(msg)), as the role's
          C(meshguard_egress_outcome), for the hosts of this batch.
      type: dict
failed_clusters:
  description: The inventory hosts whose cluster failed.
  returned: always
  type: list
  elements: str
"""
