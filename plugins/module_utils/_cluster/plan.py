# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan: what has to change on a cluster so it holds the desired objects.

Pure functions over plain dicts: the desired objects of one rule set, the
live objects of that set, and the live objects that merely share a name with
a desired one. No network.

Comparison is on the fields this collection manages. The desired object
carries a hash of itself in an annotation, so a field removed from the spec
is noticed even though the live object still has it; and every field the
desired object sets must hold the same value live, so a hand edit of a
managed field is noticed too. Fields the server or other managers add
(defaults, status, managedFields, other labels) are not ours and ignored.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Optional

from .._kinds import identity, key, owned_by
from .._names import SET_LABEL

HASH_ANNOTATION = "meshguard.egress/desired-hash"

CREATE = "create"
UPDATE = "update"
DELETE = "delete"
UNCHANGED = "unchanged"
CONFLICT = "conflict"
ACTIONS = (CREATE, UPDATE, DELETE, UNCHANGED, CONFLICT)
WRITES = (CREATE, UPDATE, DELETE)

# Written by the API server, never by us: left out of comparisons and diffs.
_SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def with_hash(obj: dict) -> dict:
    """A copy of a desired object with its own hash in an annotation."""
    out = copy.deepcopy(obj)
    annotations = out["metadata"].setdefault("annotations", {})
    annotations.pop(HASH_ANNOTATION, None)
    # The API version is left out: v1 and v1beta1 serve the very same object.
    hashed = {k: v for k, v in out.items() if k != "apiVersion"}
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    annotations[HASH_ANNOTATION] = digest[:16]
    return out


def contains(live: Any, desired: Any) -> bool:
    """True when every field desired sets has the same value in live."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(k in live and contains(live[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return isinstance(live, list) and len(live) == len(desired) and all(map(contains, live, desired))
    return live == desired


def up_to_date(desired: dict, live: dict) -> bool:
    """desired must already carry its hash (see with_hash)."""
    want = desired["metadata"]["annotations"][HASH_ANNOTATION]
    have = (live["metadata"].get("annotations") or {}).get(HASH_ANNOTATION)
    if want != have:
        return False
    mine = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}
    return contains(live, mine)


def unwritten_fields(desired: dict, live: dict, manager: str) -> list[tuple[str, str]]:
    """(path, manager) of every spec field of ``live`` that a field manager set and ``desired`` does not
    have, so that a field added beside the set's own (a Sidecar's ``workloadSelector``, which takes the
    namespace's workloads out of its REGISTRY_ONLY) is drift too.

    Read from the API server's managedFields: fields the server defaults belong to no manager, and the
    set's own field manager counts only for what it applied (a take-over's replace records defaults).
    Inside a list the list is compared whole (``contains``), so only map keys are walked.
    """
    found: list[tuple[str, str]] = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        owner = entry.get("manager", "") or "(unnamed)"
        if owner == manager and entry.get("operation") != "Apply":
            continue
        tree = (entry.get("fieldsV1") or {}).get("f:spec")
        if isinstance(tree, dict):
            found += [(path, owner) for path in _extra(tree, desired.get("spec"), "spec")]
    return sorted(set(found))


def _extra(tree: dict, want: Any, path: str) -> list[str]:
    out: list[str] = []
    for field_key, sub in tree.items():
        if not field_key.startswith("f:"):
            continue  # ".", or list entries (k:, v:, i:): the list is compared whole
        name = field_key[2:]
        if not isinstance(want, dict) or name not in want:
            out.append(f"{path}.{name}")
        elif isinstance(want[name], dict) and isinstance(sub, dict):
            out += _extra(sub, want[name], f"{path}.{name}")
    return out


def clean(obj: Optional[dict]) -> dict:
    """An object as a user wants to read it: no server bookkeeping."""
    if not obj:
        return {}
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata", {})
    for name in _SERVER_METADATA:
        meta.pop(name, None)
    return out


@dataclass(frozen=True)
class Change:
    """One planned change. ``desired`` is None for a delete; ``live`` is None for a create."""

    action: str
    desired: Optional[dict] = None
    live: Optional[dict] = None
    reason: str = ""
    # An update that replaces the object whole: fields another writer added beside the set's are
    # dropped (a server-side apply keeps them).
    replace: bool = False

    @property
    def obj(self) -> dict:
        return self.desired if self.desired is not None else self.live  # type: ignore[return-value]

    @property
    def key(self) -> str:
        return key(self.obj)


@dataclass(frozen=True)
class Plan:
    """What a cluster needs; never changed once made (execution reports its own results)."""

    changes: tuple[Change, ...] = ()

    def of(self, action: str) -> list[Change]:
        return [c for c in self.changes if c.action == action]

    def summary(self) -> dict[str, list[str]]:
        """The plan as the modules return it: keys per action."""
        out: dict[str, list[str]] = {}
        for action in ACTIONS:
            plural = "conflicts" if action == CONFLICT else action
            out[plural] = sorted(c.key for c in self.of(action))
        return out

    @property
    def writes(self) -> int:
        return sum(1 for c in self.changes if c.action in WRITES)


def make_plan(
    desired: list[dict],
    owned: list[dict],
    same_name: list[dict],
    *,
    prune: bool = True,
    force: bool = False,
    keep: frozenset = frozenset(),
    manager: str = "",
) -> Plan:
    """Compare desired objects with what is live.

    ``owned``: live objects carrying this set's labels. ``same_name``: live
    objects named like a desired one but not in ``owned`` (another set's,
    or nobody's). ``keep``: identities whose live object must stay exactly
    as it is (services whose hosts did not resolve, with on_error=keep).
    """
    changes: list[Change] = []
    live_by_id = {identity(o): o for o in owned}
    others = {identity(o): o for o in same_name}
    wanted = set()
    for obj in desired:
        ident = identity(obj)
        wanted.add(ident)
        live = live_by_id.get(ident)
        if ident in keep:
            changes.append(Change(UNCHANGED, desired=live or obj, live=live))
        elif live is not None:
            extra = unwritten_fields(obj, live, manager) if manager else []
            if extra:
                why = "fields the set does not write: " + ", ".join(f"{path} (by {who})" for path, who in extra)
                foreign = any(who != manager for _path, who in extra)
                changes.append(Change(UPDATE, desired=obj, live=live, reason=why, replace=foreign))
            else:
                action = UNCHANGED if up_to_date(obj, live) else UPDATE
                changes.append(Change(action, desired=obj, live=live))
        elif ident in others and not force:
            other = others[ident]
            owner = (other["metadata"].get("labels") or {}).get(SET_LABEL)
            why = f"owned by rule set {owner!r}" if owned_by(other) else "not managed by meshguard.egress"
            changes.append(Change(CONFLICT, desired=obj, live=other, reason=why))
        elif ident in others:
            changes.append(Change(UPDATE, desired=obj, live=others[ident], reason="taken over (force)"))
        else:
            changes.append(Change(CREATE, desired=obj))
    for live in owned:
        ident = identity(live)
        if ident in wanted:
            continue
        if ident in keep or not prune:
            changes.append(Change(UNCHANGED, live=live))
        else:
            changes.append(Change(DELETE, live=live))
    return Plan(tuple(sorted(changes, key=lambda c: identity(c.obj))))
