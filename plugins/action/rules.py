# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of meshguard.egress.rules: the module, run in the worker
process on the controller when that is where it would run anyway.

The module talks to API servers, not to the host it runs on, so it normally
runs on the controller (``ansible_connection: local``, the controller's
Python). A module process per cluster then costs a Python start, the imports
of the kubernetes client and of the library, and the JSON of the arguments
and of the result; on a 2-core controller that was most of a cluster's cost
(docs/docsite/rst/performance.rst). Here the same code (``_engine.module_result``, the same
argument spec and validation) runs in the worker process Ansible forked for
the task. The library is imported when the linear strategy loads this plugin
in the main process, before it forks the workers, so no worker imports it.

Anything else runs the module as usual: another connection, another Python,
``become``, ``async``, or a task ``environment`` (the module reads the
K8S_AUTH_* variables from its environment).

Either way, on a local connection the path options (``dest``, ``kubeconfig``,
the certificates) are made absolute against ansible-playbook's working
directory first: the module process would read them relative to the
playbook's directory (plugin_utils/_action.py).
"""

from __future__ import annotations

import json
import os
import sys

from ansible import constants as C
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import (
    CONNECTION,
    RULES,
    RULES_OWN,
    secrets_of,
)
from ansible_collections.meshguard.egress.plugins.module_utils._engine import module_result
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._paths import path_options
from ansible_collections.meshguard.egress.plugins.module_utils._problems import errors_of
from ansible_collections.meshguard.egress.plugins.plugin_utils._action import controller_args, run_module

MODULE = "meshguard.egress.rules"
PATHS = path_options(CONNECTION, RULES_OWN)
# Built once, when the strategy loads this plugin before it forks the workers: building it deep-copies the
# whole argument spec, which every cluster's worker would otherwise do again.
VALIDATOR = ArgumentSpecValidator(**RULES.to_kwargs(env_fallback))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = controller_args(self, PATHS)
        if not self._in_process(task_vars):
            result.update(run_module(self, MODULE, args, task_vars))
            return result
        # Plain data, as the module process gets it: Ansible's tagged strings and containers make every
        # copy the library and the validator take many times slower (a JSON round trip is a few ms).
        args = json.loads(json.dumps(args, default=str))
        validated = VALIDATOR.validate(args)
        if validated.error_messages:
            result.update(failed=True, msg="; ".join(validated.error_messages))
            return result
        params = validated.validated_parameters
        secrets = set(validated._no_log_values) | set(secrets_of(params["kubeconfig"]))
        try:
            outcome = module_result(
                params,
                check_mode=bool(self._task.check_mode),
                diff=bool(self._task.diff),
                # The run's private directory: work shared by the clusters of this run (_runcache.py).
                cache_dir=C.DEFAULT_LOCAL_TMP,
            )
        except MeshguardError as e:
            outcome = {"failed": True, "msg": str(e), "errors": errors_of(e), "changed": False}
        # As AnsibleModule does with its output: no credential in the result.
        result.update(remove_values(outcome, secrets) if secrets else outcome)
        return result

    def _in_process(self, task_vars: dict) -> bool:
        """The module would run on the controller, with the Python running this worker."""
        if self._connection.transport != "local" or self._task.async_val or self._play_context.become:
            return False
        if self._task.delegate_to:
            return False  # the delegated host's interpreter: let Ansible run the module
        if any(self._task.environment or ()):
            return False  # a task environment (the role and plays inherit an empty one: [{}])
        interpreter = task_vars.get("ansible_python_interpreter")
        if not interpreter:
            return False  # interpreter discovery may pick another Python: run the module as Ansible would
        interpreter = self._templar.template(interpreter)
        return isinstance(interpreter, str) and os.path.abspath(interpreter) == os.path.abspath(sys.executable)
