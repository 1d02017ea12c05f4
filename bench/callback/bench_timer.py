# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback plugin of the benchmarks: how long each task took, as JSON.

Enabled by bench/run.py only (ANSIBLE_CALLBACK_PLUGINS=bench/callback,
ANSIBLE_CALLBACKS_ENABLED=bench_timer); the default stdout callback still
prints as usual. A task's time runs from its start to the last result of any
host (every loop item and every host included), so it is what a user waits
for that task. Written to the file named by BENCH_TIMINGS at the end of the
playbook: {"tasks": [{"name": ..., "seconds": ..., "hosts": ..., "cpu": ...}, ...]}.

``cpu`` is the controller CPU (user + system seconds) from the task's start to
the next task's start: the ansible-playbook process and the worker and module
processes it reaped meanwhile. With the linear strategy tasks do not overlap,
so it is what the task cost the controller, every host included.
"""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timer
type: aggregate
short_description: Task durations for the meshguard.egress benchmarks
description:
  - Writes the wall time of every task to the JSON file named by the BENCH_TIMINGS environment variable.
requirements:
  - enabled with ANSIBLE_CALLBACKS_ENABLED=bench_timer
"""


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks: list[dict[str, Any]] = []
        self._by_uuid: dict[str, dict[str, Any]] = {}
        self._started = time.monotonic()

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        now = _cpu()
        if self._tasks:
            self._tasks[-1]["cpu"] = now - self._tasks[-1]["cpu_start"]
        entry = {"name": task.get_name(), "start": time.monotonic(), "end": None, "hosts": 0, "cpu_start": now}
        self._tasks.append(entry)
        self._by_uuid[task._uuid] = entry

    def _done(self, result: Any) -> None:
        entry = self._by_uuid.get(result._task._uuid)
        if entry is not None:
            entry["end"] = time.monotonic()
            entry["hosts"] += 1

    def v2_runner_on_ok(self, result: Any) -> None:
        self._done(result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._done(result)

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._done(result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._done(result)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        path = os.environ.get("BENCH_TIMINGS")
        if not path:
            return
        if self._tasks:
            self._tasks[-1]["cpu"] = _cpu() - self._tasks[-1]["cpu_start"]
        tasks = [
            {
                "name": t["name"],
                "seconds": round(t["end"] - t["start"], 4),
                "hosts": t["hosts"],
                "cpu": round(t.get("cpu", 0.0), 3),
            }
            for t in self._tasks
            if t["end"] is not None
        ]
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"tasks": tasks, "playbook_seconds": round(time.monotonic() - self._started, 4)}, f)
