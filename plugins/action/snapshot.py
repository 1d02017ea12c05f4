# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of meshguard.egress.snapshot: the module, with a relative ``path``
taken against ansible-playbook's working directory when it runs on the controller
(plugin_utils/_action.py), where the snapshot lookup and a rollout read it."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.meshguard.egress.plugins.module_utils._paths import PathOption
from ansible_collections.meshguard.egress.plugins.plugin_utils._action import controller_args, run_module

MODULE = "meshguard.egress.snapshot"
PATHS = [PathOption(("path",))]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = controller_args(self, PATHS)
        result.update(run_module(self, MODULE, args, task_vars or {}))
        return result
