# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Work a rollout prepared once per distinct input, kept for the run on the controller.

Every cluster of a rollout gets the same 500 services and the same answers in most
runs. Passed as task arguments, Ansible templates them again for every cluster (the
filter that assembles a cluster's services, the whole resolution from localhost's
facts): about a CPU-second per cluster at 500 services. Instead, the role's first step
writes each distinct (services, answers) once, as a file named by the SHA-256 of its
content, and each cluster's task is given only that digest.

The files go into a private directory of the run (the caller gives it: the controller's
per-process temporary directory, mode 0700, removed when ansible-playbook exits). They
hold services and DNS answers only, never connection options or credentials. An entry
is read only if its content still has the digest it is asked for: a changed or
truncated file is refused, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .._errors import MeshguardError

# What an entry carries: the rules module's options of the same names.
KEYS = ("services", "resolved", "resolved_at")
SUBDIR = "meshguard-egress-prepared"
_DIGEST = re.compile(r"[0-9a-f]{64}")


def entry(
    services: Sequence[Mapping[str, Any]], resolved: Sequence[Mapping[str, Any]], resolved_at: Optional[str]
) -> tuple[str, bytes]:
    """The canonical bytes of one entry and their SHA-256 (hex)."""
    data = json.dumps(
        {"services": services, "resolved": resolved, "resolved_at": resolved_at},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return hashlib.sha256(data).hexdigest(), data


def write(directory: str, digest: str, data: bytes) -> None:
    """Store an entry once (an entry of the same digest already there is the same content)."""
    folder = os.path.join(directory, SUBDIR)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, digest + ".json")
    if os.path.exists(path):
        return
    # Written under a temporary name and renamed: a reader never sees half an entry.
    part = f"{path}.{os.getpid()}.part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(part, path)


def read(directory: str, digest: Any) -> dict[str, Any]:
    """The entry of this digest, refused unless its content has that digest."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise MeshguardError("prepared: must be the SHA-256 (64 lowercase hex digits) of an entry of this run")
    path = os.path.join(directory, SUBDIR, digest + ".json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        raise MeshguardError(
            f"prepared: no entry {digest[:12]}.. in this run (it is written by meshguard.egress.rollout_prepare "
            "earlier in the same ansible-playbook run)"
        ) from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise MeshguardError(f"prepared: the entry {digest[:12]}.. does not match its digest (changed); not used")
    value = json.loads(data)
    if not isinstance(value, dict) or sorted(value) != sorted(KEYS):
        raise MeshguardError(f"prepared: the entry {digest[:12]}.. is not a prepared entry; not used")
    return value
