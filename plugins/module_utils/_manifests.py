# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""state=rendered: the rule set's objects as YAML files in a folder, one per object.

Files of the set that are no longer rendered are removed, so the folder
always equals the rule set (GitOps repositories rely on that); files that
are not the set's are left alone.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from ._kinds import identity, key, owned_by
from ._yaml import from_yaml, require_yaml, to_yaml


def file_name(obj: dict) -> str:
    _group, kind, namespace, name = identity(obj)
    return f"{kind.lower()}-{namespace}-{name}.yaml"


def read_manifests(dest: Optional[str], set_name: str) -> list[dict]:
    """The set's objects in the folder's files (none without a folder): what a run wrote before."""
    if not dest or not os.path.isdir(dest):
        return []
    require_yaml("to read manifests")
    found = []
    for name in sorted(os.listdir(dest)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(dest, name), encoding="utf-8") as f:
            obj = from_yaml(f.read())
        if isinstance(obj, dict) and "metadata" in obj and owned_by(obj, set_name):
            found.append(obj)
    return found


def write_manifests(objects: list[dict], dest: Optional[str], set_name: str, check_mode: bool) -> dict[str, Any]:
    """The module result of state=rendered: the objects, and with ``dest`` the files written and removed."""
    result: dict[str, Any] = {"changed": False, "resources": objects, "plan": {}, "warnings": [], "failures": []}
    if not dest:
        result["counts"] = {"files": 0, "written": 0, "removed": 0}
        return result
    require_yaml("to write manifests")
    # The pure-Python dumper: the files must be byte-identical on every controller.
    wanted = {file_name(o): to_yaml(o, sort_keys=False, fast=False) for o in objects}
    written, removed = [], []
    existing = sorted(os.listdir(dest)) if os.path.isdir(dest) else []
    for name, text in sorted(wanted.items()):
        path = os.path.join(dest, name)
        current = None
        if name in existing:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        if current != text:
            written.append(path)
            if not check_mode:
                os.makedirs(dest, exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    for name in existing:
        if name in wanted or not name.endswith(".yaml"):
            continue
        path = os.path.join(dest, name)
        with open(path, encoding="utf-8") as f:
            obj = from_yaml(f.read())
        if isinstance(obj, dict) and "metadata" in obj and owned_by(obj, set_name):
            removed.append(path)
            if not check_mode:
                os.remove(path)
    result.update(changed=bool(written or removed), files=sorted(wanted), written=written, removed=removed)
    names_written = {os.path.basename(p) for p in written}
    result["plan"] = {"write": [key(o) for o in objects if file_name(o) in names_written]}
    result["counts"] = {"files": len(wanted), "written": len(written), "removed": len(removed)}
    return result
