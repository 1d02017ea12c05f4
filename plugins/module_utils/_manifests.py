# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""state=rendered: the rule set's objects as YAML files in a folder, one per object.

Files of the set that are no longer rendered are removed, so the folder
always equals the rule set (GitOps repositories rely on that); files that
are not the set's are left alone.

The folder may be one others can write to (a shared GitOps repository), so
nothing here follows a link (docs/docsite/rst/reliability.rst, "Rendered files"):

- ``dest`` itself must not be a symbolic link; it is opened once, without
  following one, and every file is read, written, renamed and removed
  relative to that open folder, so swapping a path component later changes
  nothing;
- a file is written as a new file in the folder and renamed over its name:
  a symbolic link or a hard link planted under that name is replaced, and
  what it pointed to is never opened or changed;
- only regular files are read (never a link, a FIFO, which would block, or a
  device), and at most ``MAX_FILE_BYTES`` of each;
- only regular files holding one of the set's objects are removed; a link is
  never followed, read or removed, and is reported.

File names are ``<kind>.<group>_<namespace>_<name>.yaml`` (``_`` alone for a
cluster-wide object's namespace). Kinds, groups, namespaces and the names this
collection renders (DNS-1123 labels) never hold ``_``, so a file name maps back
to exactly one object: two objects, of one set or of two, never share a file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from typing import Any, Optional

from ._errors import MeshguardError
from ._kinds import identity, key, owned_by
from ._yaml import from_yaml, require_yaml, to_yaml

SUFFIX = ".yaml"
# No rendered object comes near this (the guardrail's policy is the largest, some 30 KiB);
# a bigger file in the folder is not the set's, and is not read.
MAX_FILE_BYTES = 4 * 1024 * 1024
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class ManifestError(MeshguardError):
    """The folder cannot be written safely; nothing was written."""


def file_name(obj: dict) -> str:
    group, kind, namespace, name = identity(obj)
    return f"{kind.lower()}.{group}_{namespace}_{name}{SUFFIX}"


def _open_folder(dest: str, create: bool) -> Optional[int]:
    """The folder, opened without following a link; None when it does not exist and ``create`` is false."""
    try:
        info = os.lstat(dest)
    except FileNotFoundError:
        if not create:
            return None
        os.makedirs(dest, exist_ok=True)
        info = os.lstat(dest)
    if stat.S_ISLNK(info.st_mode):
        raise ManifestError(
            f"dest {dest} is a symbolic link (to {os.readlink(dest)}): manifests are never written through a link; "
            "give the folder itself"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise ManifestError(f"dest {dest} exists and is not a folder")
    try:
        return os.open(dest, _FOLDER)
    except OSError as e:
        # ELOOP: it became a link since it was looked at.
        raise ManifestError(f"dest {dest}: cannot open the folder without following a link ({e.strerror})") from None


def _kind_of(folder: int, name: str) -> Optional[int]:
    """The file type of an entry (stat.S_IFMT), not following a link; None when it is gone."""
    try:
        return stat.S_IFMT(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return None


def _read(folder: int, name: str) -> Optional[str]:
    """The text of a regular file of the folder; None for anything else (a link, a FIFO, too big, not UTF-8)."""
    try:
        fd = os.open(name, _READ, dir_fd=folder)
    except OSError:
        return None  # ELOOP: a link; or gone, or unreadable
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        chunks = []
        size = 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_FILE_BYTES:
            return None
        return b"".join(chunks).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)


def _set_object(text: Optional[str], set_name: str) -> Optional[dict]:
    obj = from_yaml(text) if text is not None else None
    if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict) and owned_by(obj, set_name):
        return obj
    return None


def _yaml_files(folder: int) -> Iterator[str]:
    for name in sorted(os.listdir(folder)):
        if name.endswith(SUFFIX) and not name.startswith("."):
            yield name


def read_manifests(dest: Optional[str], set_name: str) -> list[dict]:
    """The set's objects in the folder's regular files (none without a folder): what a run wrote before."""
    if not dest:
        return []
    require_yaml("to read manifests")
    folder = _open_folder(dest, create=False)
    if folder is None:
        return []
    try:
        found = [_set_object(_read(folder, name), set_name) for name in _yaml_files(folder)]
    finally:
        os.close(folder)
    return [obj for obj in found if obj is not None]


def _write(folder: int, name: str, text: str) -> None:
    """A new file in the folder, renamed over ``name``: whatever was there (a link included) is replaced, never
    written through."""
    temporary = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temporary, _CREATE, 0o666, dir_fd=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=folder)
        raise


def write_manifests(objects: list[dict], dest: Optional[str], set_name: str, check_mode: bool) -> dict[str, Any]:
    """The module result of state=rendered: the objects, and with ``dest`` the files written and removed."""
    result: dict[str, Any] = {"changed": False, "resources": objects, "plan": {}, "warnings": [], "failures": []}
    if not dest:
        result["counts"] = {"files": 0, "written": 0, "removed": 0}
        return result
    require_yaml("to write manifests")
    # The pure-Python dumper: the files must be byte-identical on every controller.
    wanted = {file_name(o): to_yaml(o, sort_keys=False, fast=False) for o in objects}
    if len(wanted) != len(objects):
        raise ManifestError("two rendered objects would share a file name")  # identities are unique: a bug
    folder = None
    try:
        folder = _open_folder(dest, create=not check_mode)
        found = _Folder(folder, dest, check_mode)
        to_write = found.to_write(wanted)
        removed = found.stale(wanted, set_name)
        if folder is not None and not check_mode:
            found.commit({name: wanted[name] for name in to_write}, removed)
    except OSError as e:
        raise ManifestError(f"dest {dest}: {e.strerror or e}{f' ({e.filename})' if e.filename else ''}") from None
    finally:
        if folder is not None:
            os.close(folder)
    result["warnings"] = found.warnings
    result.update(
        changed=bool(to_write or removed),
        files=sorted(wanted),
        written=[os.path.join(dest, name) for name in to_write],
        removed=[os.path.join(dest, name) for name in removed],
    )
    result["plan"] = {"write": [key(o) for o in objects if file_name(o) in set(to_write)]}
    result["counts"] = {"files": len(wanted), "written": len(to_write), "removed": len(removed)}
    return result


class _Folder:
    """The folder of one run (``fd`` None: it does not exist yet), its YAML entries by file type."""

    def __init__(self, fd: Optional[int], dest: str, check_mode: bool) -> None:
        self.fd = fd
        self.dest = dest
        self.check_mode = check_mode
        self.warnings: list[str] = []
        names = list(_yaml_files(fd)) if fd is not None else []
        self.kinds = {name: _kind_of(fd, name) for name in names} if fd is not None else {}

    def _done(self) -> str:
        return "it would be" if self.check_mode else "it was"

    def to_write(self, wanted: dict[str, str]) -> list[str]:
        """The wanted files that differ from what is there; a link or a hard link under a wanted name is
        replaced. A folder, FIFO or device there stops the run before anything is written."""
        blocked = [n for n in sorted(wanted) if self.kinds.get(n) not in (None, stat.S_IFREG, stat.S_IFLNK)]
        if blocked:
            raise ManifestError(
                f"dest {self.dest}: {', '.join(blocked)} {'is' if len(blocked) == 1 else 'are'} not a regular file, "
                "where the set's manifest must go; nothing was written (remove it)"
            )
        names = []
        for name, text in sorted(wanted.items()):
            kind = self.kinds.get(name)
            if self.fd is None or kind is None:
                names.append(name)
            elif kind == stat.S_IFLNK:
                self.warnings.append(
                    f"dest {self.dest}: {name} was a symbolic link (to {os.readlink(name, dir_fd=self.fd)}); "
                    f"{self._done()} replaced by the file, and what it points to was not opened or changed"
                )
                names.append(name)
            elif os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_nlink > 1:
                # A hard link shares the file with another name, maybe outside the folder: a new file ends that.
                self.warnings.append(
                    f"dest {self.dest}: {name} had other names (hard links); {self._done()} written as a new file, "
                    "and the other names were not changed"
                )
                names.append(name)
            elif _read(self.fd, name) != text:
                names.append(name)
        return names

    def stale(self, wanted: dict[str, str], set_name: str) -> list[str]:
        """The regular files holding an object of the set that is no longer rendered; links are reported."""
        names = []
        for name, kind in self.kinds.items():
            if name in wanted or self.fd is None:
                continue
            if kind == stat.S_IFLNK:
                self.warnings.append(
                    f"dest {self.dest}: {name} is a symbolic link; it was left alone (links are never followed, "
                    "read or removed)"
                )
            elif kind == stat.S_IFREG and _set_object(_read(self.fd, name), set_name) is not None:
                names.append(name)
        return names

    def commit(self, texts: dict[str, str], removed: list[str]) -> None:
        """Every write, then the removals (prune last, as on a cluster)."""
        if self.fd is None:
            return
        for name, text in texts.items():
            _write(self.fd, name, text)
        for name in removed:
            # unlink never follows a link: at worst, what replaced the file since it was read is removed.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self.fd)
