# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects as YAML for people: diffs and manifest files."""

from __future__ import annotations

from ._errors import MissingLibraryError

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    yaml = None


def to_yaml(obj: dict, sort_keys: bool = True, fast: bool = True) -> str:
    """Block-style YAML. ``fast`` uses libyaml's dumper when PyYAML has it
    (many times faster), for what is only shown; files that must be
    byte-identical on every controller use the pure-Python one."""
    if not obj:
        return ""
    require_yaml("to write YAML")
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper) if fast else yaml.SafeDumper
    return yaml.dump(obj, Dumper=dumper, default_flow_style=False, sort_keys=sort_keys)


def from_yaml(text: str) -> object:
    """One YAML document; None when it does not parse."""
    require_yaml("to read YAML")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def require_yaml(purpose: str) -> None:
    if yaml is None:
        raise MissingLibraryError("PyYAML", purpose)
