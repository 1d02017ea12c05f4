# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Work done once per run and distinct input, shared by the run's worker processes.

A rollout applies the same rule set to many clusters, each in a worker process that
Ansible forks for it; what a worker computes dies with it. The parts of a cluster's
work that depend only on the rule set, the answers and what the cluster holds of the
set (rendering with the address policy and retention, the reachability of what is
live and what will be) are the same on every cluster that holds the same, which is
every cluster of a fleet after its first run. They are computed by the first worker
that needs them and read back by the others from a directory private to the run (the
controller's temporary directory of the ``ansible-playbook`` process, mode 0700,
removed when it exits).

An entry is named by the SHA-256 of everything its computation reads, so a cluster
whose objects differ in any field that is read gets an entry of its own: the cache
can only ever repeat a computation's result for the very same input. While one worker
computes an entry, the others that need it wait for it (a lock per entry) instead of
computing it too. Entries are JSON; they hold rendered objects and grants, never a
connection option or a credential (the key's inputs are hashed, not stored).

Threads that share one ``RunCache`` (rollout_apply applies to the clusters of a batch in
threads of one process) also share what was read or computed, in memory: the values are
only read, never changed, by the engine.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from typing import IO, Any, Callable, Optional, TypeVar

T = TypeVar("T")

SUBDIR = "meshguard-egress-runcache"
# Part of every key: an entry written by another version of the library is never read.
FORMAT = 1
# Entries stored per kind and run. The clusters of a fleet hold a few distinct states; a run whose clusters
# mostly differ gains nothing from storing each one's (a rendering of 500 services is about 2 MB), and must
# not fill the controller's temporary directory.
LIMIT = 32


def digest(value: Any) -> str:
    """The SHA-256 (hex) of a JSON value, canonical (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


class RunCache:
    """Entries of one run, in ``directory`` (created private on first use)."""

    def __init__(self, directory: str, base: str) -> None:
        # base: the digest of the inputs every entry of this caller shares (the rule set's options,
        # services and answers), so that a key only adds what differs between clusters.
        self.directory = os.path.join(directory, SUBDIR)
        self.base = base
        # Entries this object already holds, by name: a 500-service rendering is parsed once per process.
        self._held: dict[str, Any] = {}
        self._holding = threading.Lock()

    def get(
        self,
        kind: str,
        key: Any,
        compute: Callable[[], T],
        dump: Callable[[T], Any],
        load: Callable[[Any], T],
    ) -> T:
        """``compute()``, or its result for the same ``kind`` and ``key`` that a worker of this run stored."""
        name = digest([FORMAT, kind, self.base, key])
        with self._holding:
            if name in self._held:
                return self._held[name]
        path = os.path.join(self.directory, f"{kind}-{name}.json")
        lock = _lock_file(self.directory, path)
        if lock is None:
            return compute()  # without the cache the work is only done again
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            with self._holding:
                if name in self._held:  # another thread of this process computed it while this one waited
                    return self._held[name]
            stored = _read(path)
            if stored is not None:
                value = load(stored)
            else:
                value = compute()
                if self._count(kind) < LIMIT:
                    _store(path, dump(value))
            with self._holding:
                if len(self._held) < LIMIT:
                    self._held[name] = value
            return value

    def _count(self, kind: str) -> int:
        return sum(1 for name in os.listdir(self.directory) if name.startswith(f"{kind}-") and name.endswith(".json"))


def _lock_file(directory: str, path: str) -> Optional[IO[str]]:
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        return open(path + ".lock", "a")
    except OSError:
        return None


def _store(path: str, value: Any) -> None:
    # Written under a temporary name and renamed: no reader ever sees half an entry. A write that fails
    # (a full disk) costs the other clusters the work, never the run.
    part = f"{path}.{os.getpid()}.part"
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(value, out, separators=(",", ":"))
        os.replace(part, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(part)


def _read(path: str) -> Optional[Any]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def maybe(cache: Optional[RunCache], kind: str, key: Callable[[], Any], compute: Callable[[], T], **codec: Any) -> T:
    """Through ``cache`` when there is one (``key`` is only computed then), else ``compute()``."""
    if cache is None:
        return compute()
    return cache.get(kind, key(), compute, codec["dump"], codec["load"])


def projection(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the computations read of a live or desired object: all of it but the fields the API server
    sets per cluster (uid, resourceVersion, timestamps, status); of managedFields, who owns which field."""
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "labels": meta.get("labels"),
        "annotations": meta.get("annotations"),
        "owners": [
            [m.get("manager"), m.get("operation"), m.get("subresource"), m.get("fieldsV1")]
            for m in meta.get("managedFields") or []
        ],
        "spec": obj.get("spec"),
        "rest": {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "spec", "status")},
    }
