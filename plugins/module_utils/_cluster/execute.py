# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carry a plan out on one cluster: one result per change, the plan itself untouched.

Writes are server-side applies as field manager meshguard.egress; check mode
sends the very same requests with dryRun=All, so it reports what the server
would store and fails where the real run would fail. Kinds are written in
their write order (``_kinds``), a kind only when every earlier one
succeeded; prune (deletes, in reverse order) runs only after every other
write succeeded.
"""

from __future__ import annotations

import copy
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from .._kinds import kind_of, owned_by
from .._retain import LAST_SEEN_ANNOTATION
from .._yaml import to_yaml
from .client import KubeClient, KubeError, Resource
from .live import Resources, resource_of
from .plan import ACTIONS, CONFLICT, CREATE, DELETE, UPDATE, WRITES, Change, Plan, clean

WORKERS = 8

DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Result:
    """What became of one planned write: done (in check mode: accepted by the dry run), failed or skipped.

    ``forced``: for a write refused as a conflict, what ``force: true`` would store (a dry run),
    so that the diff shows the hand edit the set would undo.
    """

    change: Change
    status: str
    stored: Optional[dict] = None
    error: str = ""
    forced: Optional[dict] = None
    # Check mode only: the credentials may not write, so no dry run validated it; ``stored`` is
    # computed from the live object (``local_result``).
    unvalidated: str = ""


@dataclass(frozen=True)
class Execution:
    results: tuple[Result, ...] = ()
    diffs: tuple[dict, ...] = ()
    failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return any(r.status == DONE and r.change.action in WRITES for r in self.results)

    def keys(self, status: str) -> list[str]:
        return sorted(r.change.key for r in self.results if r.status == status)


def report(plan: Plan, execution: Optional[Execution] = None) -> tuple[dict[str, list[str]], dict[str, int]]:
    """The plan as the modules return it (keys per action, plus the writes that failed or were
    skipped), and how many objects each key holds."""
    summary: dict[str, list[str]] = plan.summary()
    summary[FAILED] = execution.keys(FAILED) if execution else []
    summary[SKIPPED] = execution.keys(SKIPPED) if execution else []
    return summary, {name: len(keys) for name, keys in summary.items()}


def execute(
    client: KubeClient,
    plan: Plan,
    resources: Resources,
    *,
    check_mode: bool,
    force: bool,
    set_name: Optional[str],
    want_diff: bool = True,
) -> Execution:
    """Send the plan's writes, in write order; prune only if every other write succeeded."""

    def write(change: Change) -> Result:
        res = resource_of(resources, change.obj)
        try:
            if change.action == DELETE:
                stored = delete_if_still_owned(client, res, change.live, dry_run=check_mode, set_name=set_name)
            elif change.live is not None and (change.replace or not owned_by(change.live, set_name)):
                stored = _take_over(client, res, change, dry_run=check_mode)
            else:
                stored = _apply(client, res, change.desired, dry_run=check_mode, force=force)
        except KubeError as e:
            if check_mode and _may_not_write(e):
                # Read-only credentials: the preview still says what would change, computed here.
                return Result(change, DONE, local_result(change), unvalidated=str(e))
            forced = _forced(client, res, change, set_name) if want_diff and e.status == 409 else None
            return Result(change, FAILED, error=_explain(e, change), forced=forced)
        return Result(change, DONE, stored)

    def conflict(change: Change) -> Result:
        """A same-named object the set does not own: left untouched; with a diff, what force would write."""
        res = resource_of(resources, change.obj)
        return Result(change, FAILED, forced=_forced(client, res, change, set_name) if want_diff else None)

    phases: dict[int, list[Change]] = {}
    for change in plan.changes:
        if change.action in (CREATE, UPDATE):
            phases.setdefault(kind_of(change.obj).write_order, []).append(change)
    deletes = sorted(plan.of(DELETE), key=lambda c: -kind_of(c.obj).write_order)
    results: list[Result] = []
    warnings: list[str] = []
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for order in sorted(phases):
            if any(r.status == FAILED for r in results):
                # A Sidecar must not go out when the ServiceEntries failed.
                results.extend(Result(c, SKIPPED) for c in phases[order])
            else:
                results.extend(pool.map(write, phases[order]))
        failed = sum(1 for r in results if r.status == FAILED)
        if deletes and failed:
            warnings.append(f"{client.where}: nothing pruned because {failed} write(s) failed")
            results.extend(Result(c, SKIPPED) for c in deletes)
        else:
            results.extend(pool.map(write, deletes))
        conflicts = list(pool.map(conflict, plan.of(CONFLICT)))
    failures = [r.error for r in results if r.status == FAILED]
    refused = [r for r in results if r.unvalidated]
    if refused:
        warnings.append(
            f"{client.where}: the API server did not validate this preview: the credentials may not write "
            f"({refused[0].unvalidated}), so no server-side dry run was made for {len(refused)} change(s); "
            "the diff and the reachability change are computed from the live objects, and the real run may "
            "still be refused (by RBAC, admission or Istio's validation)"
        )
    failures += [
        f"{client.where}: {change.key} exists and is {change.reason}; it was left untouched "
        "(set force: true to take it over)"
        for change in plan.of(CONFLICT)
    ]
    diffs: list[dict] = []
    if want_diff:
        diffs = [diff_entry(r.change, r.stored, client.where) for r in results if r.status == DONE]
        diffs += [
            diff_entry(r.change, r.forced, client.where, forced=True)
            for r in [*results, *conflicts]
            if r.forced is not None
        ]
    return Execution(tuple(results), tuple(diffs), tuple(failures), tuple(warnings))


# The retention record: another manager's write there is tampering, which the run has reported and
# not used (_retain.verify); the set takes its record back without force.
_RECORD_FIELD = f".metadata.annotations.{LAST_SEEN_ANNOTATION}"


def _apply(client: KubeClient, res: Resource, desired: dict, *, dry_run: bool, force: bool) -> dict:
    try:
        return client.apply(res, desired, dry_run=dry_run, force=force)
    except KubeError as e:
        fields = {c.get("field") for c in e.details.get("causes", [])}
        if force or e.status != 409 or fields != {_RECORD_FIELD}:
            raise
        return client.apply(res, desired, dry_run=dry_run, force=True)


def _forced(client: KubeClient, res: Resource, change: Change, set_name: Optional[str]) -> Optional[dict]:
    """What ``force: true`` would store in place of a conflicting object: the same write as a dry
    run, forced. Nothing is written; None when even that is refused (the diff is then left out,
    the conflict is reported as it is)."""
    try:
        if change.live is not None and not owned_by(change.live, set_name):
            return _take_over(client, res, change, dry_run=True)
        return client.apply(res, change.desired, dry_run=True, force=True)
    except KubeError:
        return None


def _take_over(client: KubeClient, res: Resource, change: Change, *, dry_run: bool) -> dict:
    """force on an object this set does not own, or a set's object another writer added fields to:
    replace it whole (server-side apply would keep the other manager's fields, e.g. its ports or a
    workloadSelector), then apply with force so this set's field manager owns every field from now on."""
    replaced = client.replace(res, change.desired, change.live["metadata"]["resourceVersion"], dry_run=dry_run)
    if dry_run:
        return replaced
    return client.apply(res, change.desired, force=True)


# Rounds of read-again-and-delete on a 409 (delete_if_still_owned).
DELETE_ATTEMPTS = 5


def delete_if_still_owned(
    client: KubeClient, res: Resource, live: dict, *, dry_run: bool, set_name: Optional[str]
) -> Optional[dict]:
    """Delete exactly the object that was read; on a 409 (it changed since it
    was read) read it again and delete it only if it is still this set's.
    A controller's status writes (istiod's WaypointAccepted on an
    AuthorizationPolicy whose ServiceEntry the same run relabelled) can
    change it more than once in a row, hence a few rounds; the last 409 is
    raised."""
    meta = live["metadata"]
    current = live
    for _attempt in range(DELETE_ATTEMPTS - 1):
        try:
            return client.delete(res, current, dry_run=dry_run)
        except KubeError as e:
            if e.status != 409:
                raise
        current = client.get(res, meta.get("namespace"), meta["name"])
        if current is None or not owned_by(current, set_name):
            return None
    return client.delete(res, current, dry_run=dry_run)


# RBAC's refusal (as opposed to an admission policy's or webhook's, which also answer 403).
_RBAC_REFUSAL = re.compile(r'is forbidden: User ".*" cannot [a-z]+ resource')


def _may_not_write(err: KubeError) -> bool:
    """The credentials may not write this resource at all (RBAC): a read-only preview."""
    return err.status == 403 and bool(_RBAC_REFUSAL.search(str(err)))


def local_result(change: Change) -> Optional[dict]:
    """What a server-side apply would store, computed without the server: the desired object over the
    live one (the set's fields replace theirs, lists whole; other managers' fields stay). No defaults,
    no validation: for previews the API server could not check (read-only credentials, rules_info)."""
    if change.action == DELETE:
        return None
    if change.live is None or change.replace or change.action == CREATE:
        return copy.deepcopy(change.desired)
    return _merged(clean(change.live), change.desired or {})


def _merged(live: Any, desired: Any) -> Any:
    if isinstance(live, dict) and isinstance(desired, dict):
        out = dict(live)
        for key, value in desired.items():
            out[key] = _merged(live.get(key), value)
        return out
    return copy.deepcopy(desired)


def diff_entry(change: Change, stored: Optional[dict], where: str, *, forced: bool = False) -> dict[str, Any]:
    """One Ansible diff entry: the whole object before and after, as YAML.

    ``forced``: a conflict left untouched, ``stored`` being what force: true would write.
    """
    before = clean(change.live) if change.action != CREATE or forced else {}
    after = clean(stored) if change.action != DELETE else {}
    label = f"{change.key} ({where})"
    after_label = f"{label}" + (" [deleted]" if change.action == DELETE else "")
    if forced:
        after_label = f"{label} [conflict, not written: what force: true would write]"
    return {
        "before_header": f"{label}" + (" [absent]" if not before else ""),
        "after_header": after_label,
        "before": to_yaml(before),
        "after": to_yaml(after),
    }


def _explain(err: KubeError, change: Change) -> str:
    if err.status == 409:
        causes = [c.get("message", "") for c in err.details.get("causes", [])]
        managers = "; ".join(c for c in causes if c) or str(err)
        return (
            f"{change.key}: fields this set manages were changed by another field manager ({managers}); "
            "not overwritten (set force: true to take them back)"
        )
    return f"{change.key}: {err}"


__all__ = ["ACTIONS", "DONE", "FAILED", "SKIPPED", "Execution", "Result", "execute", "report"]
