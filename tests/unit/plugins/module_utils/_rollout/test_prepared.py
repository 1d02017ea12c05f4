# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout's prepared entries: written once per content, read back only when the content has the digest."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._rollout import prepared

SERVICES = [{"name": "db", "hosts": ["db.example"], "ports": [{"number": 3306, "protocol": "MYSQL"}]}]
RESOLVED = [{"host": "db.example", "addresses": ["192.0.2.1"]}]


def test_an_entry_reads_back_as_written(tmp_path):
    digest, data = prepared.entry(SERVICES, RESOLVED, "2026-12-07T00:00:00Z")
    prepared.write(str(tmp_path), digest, data)
    assert prepared.read(str(tmp_path), digest) == {
        "services": SERVICES,
        "resolved": RESOLVED,
        "resolved_at": "2026-12-07T00:00:00Z",
    }


def test_the_same_content_has_the_same_digest_and_other_content_another():
    first = prepared.entry(SERVICES, RESOLVED, "t")[0]
    again = prepared.entry([dict(reversed(list(s.items()))) for s in SERVICES], RESOLVED, "t")[0]
    other = prepared.entry(SERVICES, RESOLVED, "u")[0]
    assert first == again != other


def test_entries_are_private(tmp_path):
    digest, data = prepared.entry(SERVICES, RESOLVED, "t")
    prepared.write(str(tmp_path), digest, data)
    folder = tmp_path / prepared.SUBDIR
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / f"{digest}.json").stat().st_mode) == 0o600


def test_a_changed_entry_is_refused(tmp_path):
    digest, data = prepared.entry(SERVICES, RESOLVED, "t")
    prepared.write(str(tmp_path), digest, data)
    path = tmp_path / prepared.SUBDIR / f"{digest}.json"
    wider = data.replace(b"192.0.2.1", b"0.0.0.0/0")
    os.chmod(path, 0o600)
    path.write_bytes(wider)
    with pytest.raises(MeshguardError, match="does not match its digest"):
        prepared.read(str(tmp_path), digest)


@pytest.mark.parametrize("digest", ["../../etc/passwd", "ABC", "a" * 63, None, 12])
def test_only_a_digest_names_an_entry(tmp_path, digest):
    with pytest.raises(MeshguardError, match="SHA-256"):
        prepared.read(str(tmp_path), digest)


def test_a_missing_entry_is_an_error(tmp_path):
    with pytest.raises(MeshguardError, match="no entry"):
        prepared.read(str(tmp_path), "0" * 64)
