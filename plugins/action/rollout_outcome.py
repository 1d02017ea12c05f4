# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of meshguard.egress.rollout_outcome: a cluster's outcome of
rollout_apply as the cluster's own task result (changed, diff, failed)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

OWN_SPEC = {
    "outcome": {"type": "dict", "required": True},
    "diff": {"type": "list", "elements": "dict", "default": []},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=OWN_SPEC)
        outcome = args["outcome"]
        cluster = str(outcome.get("cluster") or "")
        result.update(changed=bool(outcome.get("changed")), cluster=cluster)
        if args["diff"]:
            result["diff"] = args["diff"]
        if outcome.get("failed"):
            # The summary printed before holds the message (once per failure); this says where to look.
            result.update(failed=True, msg=f"the rule set was not applied to {cluster}: see the summary above for why")
        return result
