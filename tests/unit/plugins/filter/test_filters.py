# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter plugins are thin adapters: names, arguments and the error type Ansible shows."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshguard.egress.plugins.filter.resolvable import FilterModule as Resolvable
from ansible_collections.meshguard.egress.plugins.filter.scoped import FilterModule as Scoped

SERVICES = [
    {"name": "a", "hosts": ["a.test"], "ports": [{"number": 1}], "clusters": ["eu"]},
    {"name": "b", "hosts": ["b.test", "192.0.2.1"], "ports": [{"number": 2}]},
]


def test_scoped_filter():
    scoped = Scoped().filters()["scoped"]
    assert [s["name"] for s in scoped(SERVICES, "c1", ["eu"])] == ["a", "b"]
    assert [s["name"] for s in scoped(SERVICES, "c2")] == ["b"]
    assert [s["name"] for s in scoped(SERVICES, "c2", None, known=["eu", "c2"])] == ["b"]


def test_scoped_filter_errors_are_filter_errors():
    scoped = Scoped().filters()["scoped"]
    with pytest.raises(AnsibleFilterError, match=r"^meshguard.egress.scoped: services\[0\] 'a': clusters: eu: "):
        scoped(SERVICES, "c1", ["eu"], known=["c1"])


def test_resolvable_filter():
    assert Resolvable().filters()["resolvable"](SERVICES) == ["a.test", "b.test"]
