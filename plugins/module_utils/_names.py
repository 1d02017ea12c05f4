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
import unicodedata
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
# What a name longer than MAX_NAME_LENGTH keeps of itself before "-<hash>".
_KEPT = MAX_NAME_LENGTH - HASH_LENGTH - 1
# The naming scheme (docs/docsite/rst/rendering.rst, "Names"): every object name of set S is
# "S--<part>[--<part>...]", cut to "<first 52 characters>-<hash>" when longer than
# 63. Set and service names are DNS-1123 labels without SEPARATOR, so S never
# holds "--" nor ends in "-": the name's first "--" ends the set name. A set name
# of at most MAX_SET_NAME characters leaves "S--" and the next character in every
# cut name too, so the part before the first "--" is always the whole set name and
# two sets never produce the same name, cut or not, whatever the hashes.
SEPARATOR = "--"
MAX_SET_NAME = _KEPT - len(SEPARATOR) - 1
# The second part of the set's own objects (not a service's): the guardrail's policy
# and binding, the gateway's and the waypoint's base NetworkPolicies. No service
# may be named so.
SET_OBJECTS = "meshguard-egress"

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


# A service account's user name (k8s.io/apiserver pkg/authentication/serviceaccount: MakeUsername).
SERVICE_ACCOUNT_USER = "system:serviceaccount:"
# Groups Kubernetes puts users in; never a request's user name.
_GROUPS = ("system:authenticated", "system:unauthenticated", "system:masters", "system:nodes")
_GROUP_PREFIXES = ("system:serviceaccounts", "system:bootstrappers")


def user_name_problem(text: object) -> Optional[str]:
    """Why ``text`` cannot be a Kubernetes user name as ``request.userInfo.username`` holds it, or None.

    The guardrail compares user names exactly, in a CEL string literal: a name with a
    control, format or line-break character (a newline, a zero-width or bidi mark) would
    break the policy or never match what a reviewer reads; one with spaces around it
    never matches; a group never is a user name; a service account's name is
    ``system:serviceaccount:<namespace>:<name>`` as the API server makes it.
    """
    if not isinstance(text, str):
        return f"must be a user name (a string), got {type(text).__name__}"
    if not text.strip():
        return f"must be a user name, got {text!r}"
    if text != text.strip():
        return f"has spaces around it, which the user name the API server compares would not have: {text!r}"
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and char != " "):
            label = " ".join(filter(None, (f"U+{ord(char):04X}", unicodedata.name(char, ""))))
            return f"holds {label}, a control, format or separator character no user name has: {text!r}"
    if text in _GROUPS or any(text == p or text.startswith(p + ":") for p in _GROUP_PREFIXES):
        return f"{text!r} is a group; writers are user names (request.userInfo.username)"
    return _service_account_problem(text)


def _service_account_problem(text: str) -> Optional[str]:
    if not text.startswith(SERVICE_ACCOUNT_USER):
        return None
    namespace, colon, account = text[len(SERVICE_ACCOUNT_USER) :].partition(":")
    problem = dns1123_label_problem(namespace) if colon else "has no ':<name>' after the namespace"
    if problem is None:
        problem = _dns1123_subdomain_problem(account) if account else "the account name must not be empty"
    if problem:
        return f"is not a service account's user name ({SERVICE_ACCOUNT_USER}<namespace>:<name>): {problem}"
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
        head = full[:_KEPT].rstrip("-")
        name = f"{head}-{digest}"
    problem = dns1123_label_problem(name)
    if problem:
        # Callers pass validated parts; reaching this is a bug, not bad input.
        raise ValueError(f"object name {name!r} {problem}")
    return name


def set_object_name(set_name: str, *suffix: str) -> str:
    """The name of one of the set's own objects: ``<set>--meshguard-egress[--<suffix>]``."""
    return object_name(set_name, SET_OBJECTS, *suffix)


def set_name_problem(text: str) -> Optional[str]:
    """Why a valid name part cannot name a rule set that renders objects (the scheme above), or None."""
    if len(text) > MAX_SET_NAME:
        return (
            f"must be at most {MAX_SET_NAME} characters, got {len(text)}: every object name starts with the "
            "set name whole, also when a long name is cut to 63 characters, so that two sets never produce the "
            "same name"
        )
    return None


def service_name_problem(text: str) -> Optional[str]:
    """Why a valid name part cannot name a service (the scheme above), or None."""
    if text == SET_OBJECTS:
        return f"{text!r} is reserved: the set's own objects are named <set>--{SET_OBJECTS}"
    return None


def address_slug(cidr: str) -> str:
    """A name part for one CIDR block: ``10.1.2.0/24`` -> ``10-1-2-0-24``."""
    return cidr.lower().replace(".", "-").replace(":", "-").replace("/", "-")
