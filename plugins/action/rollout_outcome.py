# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of meshguard.egress.rollout_outcome: a cluster's outcome of
rollout_apply as the cluster's own task result (changed, diff, failed), whose
registered value is the outcome the role documents (meshguard_egress_outcome)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

# The outcome's fields, as rollout_apply returns them (plugins/action/rollout_apply.py, _outcome). A failed
# cluster's result is shown whole by Ansible, so it keeps only the first four (and the message): its plan and
# reachability (hundreds of objects and addresses) are in the summary and the report printed before.
FIELDS = ("cluster", "state", "check_mode", "changed", "plan", "counts", "refused", "reachability", "dest")
FAILED_FIELDS = FIELDS[:4]
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
        args = self.validate_argument_spec(argument_spec=OWN_SPEC)[1]
        outcome = args["outcome"]
        failed = bool(outcome.get("failed"))
        result.update({name: outcome.get(name) for name in (FAILED_FIELDS if failed else FIELDS)})
        result.update(changed=bool(outcome.get("changed")), failed=failed)
        # The cluster's own reason (the summary printed before lists each reason once, with its clusters).
        result["msg"] = str(outcome.get("msg") or "failed without a message") if failed else ""
        if args["diff"]:
            result["diff"] = args["diff"]
        return result
