# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.meshguard.egress.plugins.module_utils._reachability.report import (
    report_data,
    report_lines,
    report_markdown,
)
from ansible_collections.meshguard.egress.plugins.plugin_utils._role import recorded_outcomes

DOCUMENTATION = r"""
name: rollout_report
short_description: The reachability change of a rollout, grouped across clusters
version_added: 0.1.0
author: meshguard.egress developers (@meshguard)
description:
  - What the role C(meshguard.egress.rollout) reports after its apply task, from every cluster's recorded outcome
    (C(meshguard_egress_outcome), with the RV(meshguard.egress.rules#module:reachability) of its run) and the run's
    resolution (C(hostvars['localhost'].meshguard_egress_resolution)).
  - The same change on several clusters is one entry naming them, or counting them past three.
positional: hosts
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
  set_name:
    description: The rule set.
    type: str
    required: true
  check_mode:
    description: Whether the run is in check mode.
    type: bool
    default: false
  resolution:
    description: The run's resolution (refused and unresolved answers, each host's DNSSEC status).
    type: dict
    default: {}
  batch_outcomes:
    description:
      - The outcomes of the current batch's clusters by inventory host, as M(meshguard.egress.rollout_apply) returns
        them in C(outcomes), before each cluster records its own; any other cluster's is read from its C(hostvars).
    type: dict
    default: {}
  format:
    description:
      - V(data) the report as a dictionary (C(changes), C(unchanged), C(failed), C(refused), C(unresolved), C(dnssec)
        the status of each host name validated by DNSSEC; the other formats show it next to the host), as the role
        publishes it with C(set_stats) (key C(meshguard_egress_reachability)); V(json) the same as text; V(lines) a
        list of lines for the play's output; V(markdown) a merge-request comment.
    type: str
    choices: [data, json, lines, markdown]
    default: data
seealso:
  - plugin: meshguard.egress.rollout
    plugin_type: role
  - ref: ansible_collections.meshguard.egress.docsite.rollout
    description: The summary and the reachability report of a rollout (the rollout guide).
"""

EXAMPLES = r"""
- name: Reachability across clusters
  ansible.builtin.debug:
    msg: >-
      {{ hostvars | meshguard.egress.rollout_report(ansible_play_hosts_all, set_name=meshguard_egress_set,
           check_mode=ansible_check_mode, resolution=hostvars['localhost']['meshguard_egress_resolution'],
           format='lines') }}
  run_once: true
"""

RETURN = r"""
_value:
  description: The report in the O(format) asked for.
  type: raw
"""

_FORMATS = ("data", "json", "lines", "markdown")


def rollout_report(  # pylint: disable=redefined-builtin
    hostvars, hosts, *, set_name, check_mode=False, resolution=None, format="data", batch_outcomes=None
):
    if format not in _FORMATS:
        raise AnsibleFilterError(f"meshguard.egress.rollout_report: format must be one of {', '.join(_FORMATS)}")
    outcomes = recorded_outcomes(hostvars, hosts, batch_outcomes)
    data = report_data(
        set_name, check_mode=bool(check_mode), outcomes=outcomes, hosts=list(hosts), resolution=resolution or {}
    )
    if format == "lines":
        return report_lines(data)
    if format == "markdown":
        return report_markdown(data)
    if format == "json":
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    return data


class FilterModule:
    def filters(self):
        return {"rollout_report": rollout_report}
