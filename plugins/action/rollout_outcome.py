# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of meshguard.egress.rollout_outcome: a cluster's outcome of
rollout_apply as the cluster's own task result (changed, diff, failed), whose
registered value is the outcome the role documents (meshguard_egress_outcome)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

# The outcome's fields, as rollout_apply returns them (plugins/action/rollout_apply.py, _outcome).
FIELDS = ("cluster", "state", "check_mode", "changed", "plan", "counts", "refused", "reachability", "dest")
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
        result.update({name: outcome.get(name) for name in FIELDS})
        result.update(changed=bool(outcome.get("changed")), failed=bool(outcome.get("failed")))
        # The failure's own message: the summary printed before lists each message once, with its clusters.
        result["msg"] = str(outcome.get("msg") or "") if result["failed"] else ""
        if args["diff"]:
            result["diff"] = args["diff"]
        return result
