# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: writes every task result of a playbook run as one JSON
line to the file named by MESHGUARD_RECORD, so that the integration tests can
read what each task returned (plans, diffs, summaries) next to what
ansible-playbook printed. It only observes; it changes nothing."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: meshguard_record
type: aggregate
short_description: Record every task result as a JSON line (tests only)
description:
  - Writes one JSON object per task result (host, task name, action, status, result) to the file named by the
    E(MESHGUARD_RECORD) environment variable.
author: meshguard.egress developers (@meshguard)
requirements:
  - enabled in the configuration (callbacks_enabled)
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "meshguard_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("MESHGUARD_RECORD")

    def _record(self, status, result):
        if not self._path:
            return
        data = getattr(result, "result", None)
        if data is None:
            data = result._result
        entry = {
            "host": result._host.get_name(),
            "task": result._task.name,
            "action": result._task.action,
            "status": status,
            "result": data,
        }
        with open(self._path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._record("changed" if result.is_changed() else "ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result)

    def v2_runner_on_skipped(self, result):
        self._record("skipped", result)

    def v2_runner_on_unreachable(self, result):
        self._record("unreachable", result)
