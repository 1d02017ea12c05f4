# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes name and label syntax, and the deterministic object names of this collection.

Plain functions over strings; no Ansible imports. The ``*_problem`` functions
return ``None`` for a valid value, or a short reason that the caller prefixes
with the field it came from.
"""

from __future__ import annotations

import hashlib
import re
from typing import Optional

# The ownership and set labels: the apply engine selects (and prunes) on both.
OWNER_LABEL = "app.kubernetes.io/managed-by"
OWNER_VALUE = "meshguard.egress"
SET_LABEL = "meshguard.egress/set"
# Labels and annotations under this prefix are written by the collection only.
RESERVED_PREFIX = "meshguard.egress/"

# Every object name is kept to a DNS-1123 label (63), not the 253 of a
# subdomain: the names are reused as the first label of synthetic host names.
MAX_NAME_LENGTH = 63
HASH_LENGTH = 10
# Joins set, service and suffix. Set and service names may not contain it, so
# a name maps back to exactly one (set, service, suffix): two sets never
# produce the same name in a namespace.
SEPARATOR = "--"

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kubernetes "qualified name" part and label value (apimachinery validation).
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_SUBDOMAIN_MAX = 253


def dns1123_label_problem(text: object) -> Optional[str]:
    """Why ``text`` is not a DNS-1123 label (Kubernetes namespace, object and port names), or None."""
    if not isinstance(text, str):
        return f"must be a string, got {type(text).__name__}"
    if not text:
        return "must not be empty"
    if len(text) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters (DNS-1123 label), got {len(text)}"
    if not _DNS1123_LABEL.match(text):
        return (
            "must be a DNS-1123 label: lower-case letters, digits and '-', "
            f"starting and ending with a letter or digit, got {text!r}"
        )
    return None


def _dns1123_subdomain_problem(text: str) -> Optional[str]:
    if len(text) > _DNS1123_SUBDOMAIN_MAX:
        return f"must be at most {_DNS1123_SUBDOMAIN_MAX} characters"
    if not all(_DNS1123_LABEL.match(part) and len(part) <= MAX_NAME_LENGTH for part in text.split(".")):
        return "must be a DNS-1123 subdomain (lower-case labels separated by '.')"
    return None


def _qualified_name_problem(name: str) -> Optional[str]:
    if not name:
        return "the name part must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name part must be at most {MAX_NAME_LENGTH} characters, got {len(name)}"
    if not _QUALIFIED_NAME.match(name):
        return (
            "the name part must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit"
        )
    return None


def qualified_key_problem(key: object) -> Optional[str]:
    """Why ``key`` is not a valid label or annotation key (``[prefix/]name``), or None."""
    if not isinstance(key, str):
        return f"keys must be strings, got {type(key).__name__}"
    prefix, slash, name = key.rpartition("/")
    problem = _qualified_name_problem(name)
    if slash and not prefix:
        problem = "the prefix before '/' must not be empty"
    elif slash and _dns1123_subdomain_problem(prefix):
        problem = f"the prefix {prefix!r} {_dns1123_subdomain_problem(prefix)}"
    return f"key {key!r}: {problem}" if problem else None


def label_value_problem(value: object) -> Optional[str]:
    """Why ``value`` is not a valid label value, or None."""
    if not isinstance(value, str):
        # YAML turns unquoted true/1 into bool/int; Kubernetes wants strings.
        return f"must be a string, got {type(value).__name__} (quote it)"
    if len(value) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters, got {len(value)}"
    if value and not _QUALIFIED_NAME.match(value):
        return (
            "must be empty or consist of letters, digits, '-', '_' or '.', "
            f"and start and end with a letter or digit, got {value!r}"
        )
    return None


def object_name(*parts: str) -> str:
    """Join name parts with ``--`` into a DNS-1123 label of at most 63 characters.

    A name that would be longer is cut and given a hash of the full name, so
    it stays unique and is the same on every run.
    """
    full = SEPARATOR.join(parts)
    if len(full) <= MAX_NAME_LENGTH:
        name = full
    else:
        digest = hashlib.sha256(full.encode("utf-8")).hexdigest()[:HASH_LENGTH]
        head = full[: MAX_NAME_LENGTH - HASH_LENGTH - 1].rstrip("-")
        name = f"{head}-{digest}"
    problem = dns1123_label_problem(name)
    if problem:
        # Callers pass validated parts; reaching this is a bug, not bad input.
        raise ValueError(f"object name {name!r} {problem}")
    return name


def address_slug(cidr: str) -> str:
    """A name part for one CIDR block: ``10.1.2.0/24`` -> ``10-1-2-0-24``."""
    return cidr.lower().replace(".", "-").replace(":", "-").replace("/", "-")
