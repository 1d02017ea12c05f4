# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Relative file paths on the controller: relative to ansible-playbook's working directory.

Ansible runs a module of a local connection with the playbook's directory as
its working directory (the loader's basedir), while lookups, filters and the
rules module run in process read relative paths against the working directory
of ansible-playbook. For a playbook of an installed collection that directory
is inside the collection: `-e meshguard_egress_snapshot=egress-snapshot.yml`
wrote the file there and the rollout read another. The action plugins of the
modules that read or write files on the controller make every path option
absolute against the working directory before the module runs (``anchor``),
so one rule holds for all of them: the rule users expect of `-e` paths.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class PathOption:
    """An option holding a file path: its names (the first is the option, then its
    aliases) and the environment variable the module falls back to, if any."""

    names: tuple[str, ...]
    env: Optional[str] = None


def path_options(*groups: Mapping[str, Mapping[str, Any]]) -> list[PathOption]:
    """The path options of argument spec groups (``_argspec``): those of type path, and
    kubeconfig (a path, or the kubeconfig itself as a dictionary)."""
    found = []
    for group in groups:
        for name, option in group.items():
            if option.get("type") == "path" or name == "kubeconfig":
                found.append(PathOption((name, *option.get("aliases", ())), option.get("env")))
    return found


def anchored(value: str, cwd: str) -> str:
    """A path as a module reads it (``~`` and ``$VARS`` expanded, as Ansible's type
    path does), absolute: a relative one is taken against ``cwd``."""
    expanded = os.path.expanduser(os.path.expandvars(value))
    return os.path.normpath(os.path.join(cwd, expanded))


def anchor(
    args: Mapping[str, Any],
    options: Iterable[PathOption],
    cwd: str,
    environ: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    """``args`` with every path option absolute against ``cwd``.

    An option given under its name or an alias is anchored where it is; one not
    given whose environment variable is set in ``environ`` (the environment the
    module would read it from) is set from there, anchored: the module's own
    fallback would read it relative to another directory. Given as None it is
    given, as for Ansible's fallback, which then reads no variable. Values that
    are not strings (None, a kubeconfig dictionary) and empty strings are left
    as they are.
    """
    out = dict(args)
    for option in options:
        given = [name for name in option.names if name in out]
        for name in given:
            if isinstance(out[name], str) and out[name]:
                out[name] = anchored(out[name], cwd)
        if not given and option.env and environ and environ.get(option.env):
            out[option.names[0]] = anchored(environ[option.env], cwd)
    return out
