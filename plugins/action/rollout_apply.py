# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of meshguard.egress.rollout_apply: the rules module for every
cluster of a batch, in threads of one task on the controller.

A task per cluster costs Ansible a worker process, the templating of the
task's options and the validation of every service, for each cluster: most of
a no-op rollout's cost (docs/docsite/rst/performance.rst, case 4). Here
clusters whose options are the same but for the connection share one
validation and one ``prepare`` (the checked rule set and answers, immutable),
and the rendering and reachability change through the run cache
(module_utils/_runcache.py). The threads wait on the API servers; the GIL
serialises only the Python work between the requests.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible import constants as C
from ansible import context
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import (
    CONNECTION,
    RULES,
    merged,
    secrets_of,
    settings_from,
)
from ansible_collections.meshguard.egress.plugins.module_utils._engine import module_result
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import prepare
from ansible_collections.meshguard.egress.plugins.module_utils._problems import errors_of
from ansible_collections.meshguard.egress.plugins.module_utils._rollout import prepared as prepared_entries
from ansible_collections.meshguard.egress.plugins.module_utils._runcache import RunCache, digest
from ansible_collections.meshguard.egress.plugins.plugin_utils._role import (
    host_templar,
    options_from_variables,
    rules_options,
)

# Built once, when the strategy loads this plugin: building a validator deep-copies its argument spec.
VALIDATOR = ArgumentSpecValidator(**RULES.to_kwargs(env_fallback))
CONNECTION_VALIDATOR = ArgumentSpecValidator(merged(CONNECTION, env_fallback=env_fallback))
OPTIONS = options_from_variables(RULES.options)
OWN_SPEC = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "prepared": {"type": "dict", "default": {}},
    "concurrency": {"type": "int"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self.validate_argument_spec(argument_spec=OWN_SPEC)[1]
        hosts = list(args["hosts"])
        concurrency = args["concurrency"] or context.CLIARGS.get("forks") or C.DEFAULT_FORKS
        if concurrency < 1:
            result.update(failed=True, msg=f"concurrency: must be at least 1, got {concurrency}")
            return result
        check_mode, diff = bool(self._task.check_mode), bool(self._task.diff)
        # A failure of this task would fail the batch's first host only and leave the others looking untouched:
        # whatever stops the batch is every cluster's failure, which each cluster's outcome task reports.
        jobs: dict[str, dict[str, Any]] = {host: {"options": {}} for host in hosts}
        try:
            refused = self._environment_refused()
            if refused:
                got = {host: _failure(refused) for host in hosts}
            else:
                # Clusters with the same options but for the connection: validated and prepared once (_shared).
                self._memo: dict[str, Any] = {}
                # Read in this thread: Ansible's host variables are not for threads.
                jobs = {host: self._job_of(host, task_vars, args["prepared"]) for host in hosts}
                with ThreadPoolExecutor(max_workers=min(concurrency, max(len(hosts), 1))) as pool:
                    done = {host: pool.submit(_apply, job, check_mode, diff) for host, job in jobs.items()}
                    got = {host: future.result() for host, future in done.items()}
        except Exception as e:  # pylint: disable=broad-exception-caught
            got = {host: _failure(f"{type(e).__name__}: {e}; nothing was applied") for host in hosts}
        outcomes = {host: _outcome(host, jobs[host], got[host], check_mode) for host in hosts}
        result.update(
            changed=any(o["changed"] for o in outcomes.values()),
            failed_clusters=[host for host, o in outcomes.items() if o["failed"]],
            outcomes=outcomes,
            # Each cluster's own, shown by its rollout_outcome task: Ansible shows a task's diff under the host
            # it ran for, and this one ran for the batch.
            diffs={host: got[host].get("diff") or [] for host in hosts} if diff else {},
        )
        warnings = [f"{host}: {w}" for host in hosts for w in got[host].get("warnings") or ()]
        if warnings:
            result["warnings"] = warnings
        return result

    def _environment_refused(self) -> str:
        """Why the task's environment cannot be honoured ('' when it can). The clusters are reached from this
        process, whose environment a play's or task's ``environment`` does not change: a K8S_AUTH_* variable
        given there would be ignored, and another cluster reached."""
        given = sorted(
            str(name)
            for environment in self._templar.template(self._task.environment or [])
            if isinstance(environment, dict)
            for name in environment
            if str(name).startswith("K8S_AUTH_")
        )
        if not given:
            return ""
        return (
            f"{', '.join(given)} set with environment: the role reaches the clusters from the controller's own "
            "process, which ignores it; give the meshguard_egress_* variables instead (nothing was applied)"
        )

    def _job_of(self, host: str, task_vars: dict, digests: dict) -> dict[str, Any]:
        """``_job``, or the error that stops this cluster only (an undefined variable in one of its options)."""
        try:
            return self._job(host, task_vars, digests)
        except Exception as e:  # pylint: disable=broad-exception-caught
            return {"options": {}, "error": f"{type(e).__name__}: {e}"}

    def _job(self, host: str, task_vars: dict, digests: dict) -> dict[str, Any]:
        """One cluster's validated options, or why they are not valid. Clusters whose options are the same
        but for the connection share the validated options and the prepared input (``_shared``)."""
        own = task_vars["hostvars"].raw_get(host)
        options = rules_options(own, task_vars, OPTIONS, host_templar(self._templar, own, task_vars))
        connection = {k: v for k, v in options.items() if k in CONNECTION}
        rest = {k: v for k, v in options.items() if k not in CONNECTION}
        rest["return_resources"] = False  # the role reads plan and counts only
        job: dict[str, Any] = {"options": options}
        checked = CONNECTION_VALIDATOR.validate(connection)
        if checked.error_messages:
            job["error"] = "; ".join(checked.error_messages)
            return job
        job["connection"] = checked.validated_parameters
        job["secrets"] = set(checked._no_log_values) | set(secrets_of(job["connection"]["kubeconfig"]))
        try:
            job["shared"] = self._shared(rest, connection, digests.get(host))
        except MeshguardError as e:
            job["error"] = str(e)
            job["errors"] = errors_of(e)
        return job

    def _shared(self, rest: dict, connection: dict, entry: Any) -> dict[str, Any]:
        """The validated options, the prepared rule set and the run cache of clusters with these options."""
        key = json.dumps([rest, entry], sort_keys=True, default=str)
        if key not in self._memo:
            try:
                self._memo[key] = self._validated(rest, connection, entry)
            except MeshguardError as e:
                self._memo[key] = e
        found = self._memo[key]
        if isinstance(found, MeshguardError):
            raise found
        return found

    def _validated(self, rest: dict, connection: dict, entry: Any) -> dict[str, Any]:
        params = dict(rest)
        if rest.get("state", "present") != "absent":
            if entry is None:
                raise MeshguardError("no services and answers prepared for this cluster by rollout_prepare")
            params.update(prepared_entries.read(C.DEFAULT_LOCAL_TMP, entry))
        # Validated with this cluster's connection (the spec's rules may name it); kept without it.
        validated = VALIDATOR.validate({**params, **connection})
        if validated.error_messages:
            raise MeshguardError("; ".join(validated.error_messages))
        shared = {k: v for k, v in validated.validated_parameters.items() if k not in CONNECTION}
        return {
            "params": shared,
            "prepared": prepare(settings_from(shared)),
            # Every option but how to reach the cluster: what the rendering and reachability may read.
            "cache": RunCache(C.DEFAULT_LOCAL_TMP, digest(shared)),
        }


def _apply(job: dict[str, Any], check_mode: bool, diff: bool) -> dict[str, Any]:
    """One cluster's result, as the rules module returns it; never raises (the other clusters go on)."""
    if "error" in job:
        return {**_failure(job["error"]), "errors": job.get("errors", [])}
    shared = job["shared"]
    try:
        got = module_result(
            {**shared["params"], **job["connection"]},
            check_mode=check_mode,
            diff=diff,
            prepared=shared["prepared"],
            cache=shared["cache"],
        )
    except MeshguardError as e:
        got = {**_failure(str(e)), "errors": errors_of(e)}
    # One cluster's crash is that cluster's failure, not the batch's.
    except Exception as e:  # pylint: disable=broad-exception-caught
        got = _failure(f"{type(e).__name__}: {e}")
    # As AnsibleModule does with its output: no credential in the result.
    return remove_values(got, job["secrets"]) if job["secrets"] else got


def _failure(msg: str) -> dict[str, Any]:
    return {"failed": True, "msg": msg, "changed": False}


def _outcome(host: str, job: dict[str, Any], got: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """A cluster's outcome: what its rollout_outcome task returns (the role's meshguard_egress_outcome)."""
    options = job["options"]
    state = options.get("state") or "present"
    where = got.get("cluster") or (f"context {options['context']}" if options.get("context") else None)
    failed = bool(got.get("failed"))
    return {
        "cluster": where or options.get("host") or host,
        "state": state,
        "check_mode": check_mode,
        "changed": bool(got.get("changed")),
        "plan": got.get("plan") or {},
        "counts": got.get("counts") or {},
        "refused": got.get("refused") or [],
        "reachability": got.get("reachability") or {},
        "dest": (options.get("dest") or "") if state == "rendered" else "",
        "failed": failed,
        "msg": (got.get("msg") or "failed without a message") if failed else "",
    }
