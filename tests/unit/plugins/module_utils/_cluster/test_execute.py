# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""delete_if_still_owned against an object that a controller keeps changing
(istiod writing status between the read and the delete): it reads again and
deletes the object while it is still the set's, a bounded number of rounds.
The live race on a real API server is tests/integration/test_faults.py."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._cluster.client import KubeError
from ansible_collections.meshguard.egress.plugins.module_utils._cluster.execute import (
    DELETE_ATTEMPTS,
    delete_if_still_owned,
)
from ansible_collections.meshguard.egress.plugins.module_utils._kinds import OWNER_LABEL, OWNER_VALUE, SET_LABEL


def obj(version: int, set_name: str = "shop") -> dict:
    labels = {OWNER_LABEL: OWNER_VALUE, SET_LABEL: set_name}
    return {"metadata": {"name": "shop--db", "namespace": "ns", "resourceVersion": str(version), "labels": labels}}


class Churning:
    """An object whose resourceVersion moves `changes` times before it holds still."""

    def __init__(self, changes: int, set_name: str = "shop"):
        self.version, self.changes, self.set_name = 1, changes, set_name
        self.deletes: list[str] = []

    def delete(self, res, live, dry_run):
        self.deletes.append(live["metadata"]["resourceVersion"])
        if self.changes:
            self.changes -= 1
            self.version += 1
            raise KubeError("409 Conflict: the ResourceVersion in the precondition does not match", status=409)
        return live

    def get(self, res, namespace, name):
        return obj(self.version, self.set_name)


@pytest.mark.parametrize("changes", [0, 1, DELETE_ATTEMPTS - 1])
def test_deletes_the_fresh_object_after_status_writes(changes):
    client = Churning(changes)
    deleted = delete_if_still_owned(client, None, obj(1), dry_run=False, set_name="shop")
    assert deleted["metadata"]["resourceVersion"] == str(changes + 1)
    assert client.deletes == [str(v) for v in range(1, changes + 2)]


def test_gives_up_with_the_conflict_after_the_last_round():
    client = Churning(DELETE_ATTEMPTS)
    with pytest.raises(KubeError) as e:
        delete_if_still_owned(client, None, obj(1), dry_run=False, set_name="shop")
    assert e.value.status == 409
    assert len(client.deletes) == DELETE_ATTEMPTS


def test_leaves_an_object_that_is_no_longer_the_sets():
    client = Churning(1, set_name="someone-else")
    assert delete_if_still_owned(client, None, obj(1), dry_run=False, set_name="shop") is None
    assert client.deletes == ["1"]
