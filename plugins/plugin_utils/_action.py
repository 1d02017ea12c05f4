# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the action plugins of the modules share: the task's path options made
absolute against ansible-playbook's working directory when the module runs on
the controller (see module_utils/_paths.py), and running the module."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.meshguard.egress.plugins.module_utils._paths import PathOption, anchor


def controller_args(action: ActionBase, options: Iterable[PathOption]) -> dict[str, Any]:
    """The task's arguments, its path options anchored when the connection is local (the
    module runs on the controller, in this process or in one Ansible starts in the
    playbook's directory). On another connection paths are the remote host's, as given.

    The workers keep ansible-playbook's working directory: Ansible changes directory
    only for the commands of a local connection. Environment variables are anchored
    from this process's environment, the one a local module inherits, unless the task
    sets an environment of its own: the module then reads them from that.
    """
    args = dict(action._task.args)
    if action._connection.transport != "local":
        return args
    environ = None if any(action._task.environment or ()) else os.environ
    return anchor(args, options, os.getcwd(), environ)


def run_module(action: ActionBase, module: str, args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
    """Run the module with these arguments, as Ansible's normal action runs a module (async included)."""
    wrap_async = action._task.async_val
    result = action._execute_module(module_name=module, module_args=args, task_vars=task_vars, wrap_async=wrap_async)
    if not wrap_async:
        action._remove_tmp_path(action._connection._shell.tmpdir)
    return result
