# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._rollout.check import summary_lines
from ansible_collections.meshguard.egress.plugins.plugin_utils._role import recorded_outcomes

DOCUMENTATION = r"""
name: rollout_summary
short_description: The summary of a run of the rollout role, one line per cluster
version_added: 0.1.0
author: meshguard.egress developers (@meshguard)
description:
  - The lines the role C(meshguard.egress.rollout) prints at the end of a run (or of each serial batch), from every
    cluster's recorded outcome (C(meshguard_egress_outcome)) and the run's resolution
    (C(hostvars['localhost'].meshguard_egress_resolution), as P(meshguard.egress.rollout_prepare#lookup) returns it).
  - One line per cluster; a failure message shared by several clusters once, naming them; then the answers refused
    and the host names that did not resolve, once each, with the clusters they concern.
positional: hosts, in_batch
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: Every cluster of the run, usually C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  in_batch:
    description: The clusters of the current batch still running, usually C(ansible_play_hosts).
    type: list
    elements: str
    required: true
  set_name:
    description: The rule set.
    type: str
    required: true
  state:
    description: The state of the run.
    type: str
    required: true
  check_mode:
    description: Whether the run is in check mode.
    type: bool
    default: false
  resolution:
    description: The run's resolution.
    type: dict
    default: {}
  batch_outcomes:
    description:
      - The outcomes of the current batch's clusters by inventory host, as M(meshguard.egress.rollout_apply) returns
        them in C(outcomes), before each cluster records its own; any other cluster's is read from its C(hostvars).
    type: dict
    default: {}
seealso:
  - plugin: meshguard.egress.rollout
    plugin_type: role
  - ref: ansible_collections.meshguard.egress.docsite.rollout
    description: The summary and the reachability report of a rollout (the rollout guide).
"""

EXAMPLES = r"""
- name: Summary of every cluster
  ansible.builtin.debug:
    msg: >-
      {{ hostvars | meshguard.egress.rollout_summary(ansible_play_hosts_all, ansible_play_hosts,
           set_name=meshguard_egress_set, state=meshguard_egress_state, check_mode=ansible_check_mode,
           resolution=hostvars['localhost']['meshguard_egress_resolution'] | default({})) }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The lines of the summary.
  type: list
  elements: str
"""


def rollout_summary(
    hostvars, hosts, in_batch, *, set_name, state, check_mode=False, resolution=None, batch_outcomes=None
):
    outcomes = recorded_outcomes(hostvars, hosts, batch_outcomes)
    return summary_lines(
        set_name,
        state,
        check_mode=bool(check_mode),
        resolution=resolution or {},
        outcomes=outcomes,
        hosts=list(hosts),
        in_batch=list(in_batch),
    )


class FilterModule:
    def filters(self):
        return {"rollout_summary": rollout_summary}
