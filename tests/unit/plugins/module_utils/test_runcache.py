# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's shared results: computed once per key, read back by another process, private, keyed by
everything that is read, never holding the key's inputs (no network)."""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils import _runcache as runcache
from ansible_collections.meshguard.egress.plugins.module_utils._runcache import RunCache, projection

PLAIN = {"dump": lambda v: v, "load": lambda v: v}


def counted(calls, value):
    def compute():
        calls.append(1)
        return value

    return compute


def test_an_entry_is_computed_once_and_read_back(tmp_path):
    cache, calls = RunCache(str(tmp_path), "base"), []
    first = cache.get("k", {"a": 1}, counted(calls, {"x": [1, 2]}), **PLAIN)
    again = RunCache(str(tmp_path), "base").get("k", {"a": 1}, counted(calls, {"x": "other"}), **PLAIN)
    assert first == again == {"x": [1, 2]}
    assert len(calls) == 1


def test_a_different_key_base_or_kind_is_computed_again(tmp_path):
    calls = []
    RunCache(str(tmp_path), "base").get("k", {"a": 1}, counted(calls, 1), **PLAIN)
    assert RunCache(str(tmp_path), "base").get("k", {"a": 2}, counted(calls, 2), **PLAIN) == 2
    assert RunCache(str(tmp_path), "other").get("k", {"a": 1}, counted(calls, 3), **PLAIN) == 3
    assert RunCache(str(tmp_path), "base").get("j", {"a": 1}, counted(calls, 4), **PLAIN) == 4
    assert len(calls) == 4


def test_entries_are_private_and_hold_no_input_of_their_key(tmp_path):
    RunCache(str(tmp_path), "base").get("k", {"token": "s3cr3t-value"}, lambda: {"out": 1}, **PLAIN)
    folder = tmp_path / "meshguard-egress-runcache"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    entries = [p for p in folder.iterdir() if p.suffix == ".json"]
    assert len(entries) == 1
    assert stat.S_IMODE(entries[0].stat().st_mode) == 0o600
    for path in folder.iterdir():
        assert "s3cr3t" not in path.name and "s3cr3t" not in path.read_text()


def test_a_failed_computation_stores_nothing(tmp_path):
    cache = RunCache(str(tmp_path), "base")

    def fails():
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        cache.get("k", 1, fails, **PLAIN)
    calls = []
    assert cache.get("k", 1, counted(calls, 5), **PLAIN) == 5
    assert calls == [1]


def _worker(directory, record):
    def compute():
        with open(record, "a") as f:
            f.write("computed\n")
        return {"pid": os.getpid()}

    RunCache(directory, "base").get("k", "same", compute, **PLAIN)


def test_workers_that_start_together_compute_once(tmp_path):
    record = tmp_path / "record"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_worker, args=(str(tmp_path), str(record))) for _worker_index in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
        assert w.exitcode == 0
    assert record.read_text() == "computed\n"


def test_projection_leaves_out_only_what_the_api_server_sets_per_cluster():
    obj = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {
            "name": "pg",
            "namespace": "db",
            "uid": "1",
            "resourceVersion": "7",
            "creationTimestamp": "2026-12-07T00:00:00Z",
            "labels": {"a": "b"},
            "annotations": {"x": "y"},
            "managedFields": [{"manager": "m", "operation": "Apply", "time": "t1", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"addresses": ["192.0.2.1/32"]},
        "status": {"x": 1},
    }
    other_cluster = {
        **obj,
        "metadata": {
            **obj["metadata"],
            "uid": "2",
            "resourceVersion": "9",
            "creationTimestamp": "2026-12-07T01:00:00Z",
            "managedFields": [{"manager": "m", "operation": "Apply", "time": "t2", "fieldsV1": {"f:spec": {}}}],
        },
        "status": {"x": 2},
    }
    assert projection(obj) == projection(other_cluster)
    for changed in (
        {**obj, "spec": {"addresses": ["192.0.2.2/32"]}},
        {**obj, "metadata": {**obj["metadata"], "labels": {"a": "c"}}},
        {**obj, "metadata": {**obj["metadata"], "annotations": {"x": "z"}}},
        {**obj, "metadata": {**obj["metadata"], "managedFields": [{"manager": "other", "fieldsV1": {}}]}},
        {**obj, "metadata": {**obj["metadata"], "namespace": "shop"}},
    ):
        assert projection(changed) != projection(obj)


def test_past_the_limit_entries_are_computed_and_not_stored(tmp_path, monkeypatch):
    monkeypatch.setattr(runcache, "LIMIT", 2)
    cache, calls = RunCache(str(tmp_path), "base"), []
    for key in (1, 2, 3, 3):
        assert cache.get("k", key, counted(calls, key), **PLAIN) == key
    assert len(calls) == 4  # the third key twice: never stored
    stored = [p for p in (tmp_path / "meshguard-egress-runcache").iterdir() if p.suffix == ".json"]
    assert len(stored) == 2


def test_a_cache_that_cannot_be_written_only_costs_the_work_again(tmp_path):
    (tmp_path / "meshguard-egress-runcache").write_text("a file where the folder would be")
    calls = []
    assert RunCache(str(tmp_path), "base").get("k", 1, counted(calls, "v"), **PLAIN) == "v"
    assert RunCache(str(tmp_path), "base").get("k", 1, counted(calls, "v"), **PLAIN) == "v"
    assert len(calls) == 2


def test_threads_sharing_one_cache_compute_once_and_share_the_value(tmp_path):
    """rollout_apply's threads share one RunCache: one computes (the others wait on the entry's lock), all get
    the one value, and another process (a new RunCache) still reads it from the directory."""
    cache = RunCache(str(tmp_path), "base")
    calls = []
    start = threading.Barrier(6)

    def compute():
        calls.append(1)
        return {"objects": [{"kind": "ServiceEntry"}]}

    got = []

    def one():
        start.wait()
        got.append(cache.get("desired", {"live": []}, compute, **PLAIN))

    threads = [threading.Thread(target=one) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(value is got[0] for value in got)
    other = RunCache(str(tmp_path), "base").get("desired", {"live": []}, pytest.fail, **PLAIN)
    assert other == got[0] and other is not got[0]
