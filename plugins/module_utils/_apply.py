# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what a rule set has on a cluster and bring it to the desired state.

Requests per run: one discovery per API group/version used, one LIST per
kind with the set's label selector (across namespaces), one more LIST per
kind and namespace only when objects are to be created there (to find
same-named objects this set does not own), then one write per object that
differs. A run where nothing differs writes nothing.

Writes are server-side applies as field manager meshguard.egress; check mode
sends the very same requests with dryRun=All, so it reports what the server
would store and fails where the real run would fail. Prune (deletes) runs
only after every other write succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    yaml = None

from ._errors import MeshguardError, MissingLibraryError
from ._kube import KubeClient, KubeError, Resource
from ._names import OWNER_LABEL, OWNER_VALUE, SET_LABEL
from ._plan import CONFLICT, CREATE, DELETE, UPDATE, Change, Plan, clean, identity, make_plan, owned_by, with_hash
from ._render import MANAGED_KINDS

# Egress rules first, so that a REGISTRY_ONLY Sidecar never goes live before
# the ServiceEntries that keep the allowed traffic flowing.
_WRITE_ORDER = {"ServiceEntry": 0, "EgressRule": 0, "NetworkPolicy": 1, "Sidecar": 2}
WORKERS = 8
LEGACY_GROUP_VERSION = "config.istio.io/v1alpha2"
NETWORK_POLICY_GROUP_VERSION = "networking.k8s.io/v1"


@dataclass
class Live:
    """What one cluster holds for one rule set."""

    resources: dict[tuple[str, str], Resource]
    owned: list[dict]
    same_name: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    plan: Plan
    diffs: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stored: dict[str, dict] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.plan.writes > 0


class NotServedError(MeshguardError):
    """A kind the rule set needs is not served: its CRD is missing."""


def discover(client: KubeClient, istio_version: str, needed: set[tuple[str, str]]) -> dict[tuple[str, str], Resource]:
    """Resources of every kind this collection manages that the cluster serves.

    ``needed`` are the (group, kind) pairs the desired objects use: those
    must be served, or nothing is written.
    """
    versions = {
        "networking.istio.io": f"networking.istio.io/{istio_version}",
        "config.istio.io": LEGACY_GROUP_VERSION,
        "networking.k8s.io": NETWORK_POLICY_GROUP_VERSION,
    }
    found: dict[tuple[str, str], Resource] = {}
    for group, kind in MANAGED_KINDS:
        res = client.resource(versions[group], kind)
        if res is not None:
            found[(group, kind)] = res
        elif (group, kind) in needed:
            hint = "is Istio installed?" if group.endswith("istio.io") else "is this a Kubernetes API server?"
            if group == "config.istio.io":
                hint = "the legacy EgressRule API needs Istio 0.x (or its CRD) on the cluster"
            raise NotServedError(f"{kind} {versions[group]} is not served by {client.where}: {hint}")
    return found


def list_owned(
    client: KubeClient,
    resources: dict[tuple[str, str], Resource],
    *,
    set_name: Optional[str],
    namespaces: Iterable[str],
    needed: frozenset = frozenset(),
) -> Live:
    """The set's objects of every managed kind, across all namespaces.

    A user who may not list a kind across namespaces gets one LIST per
    namespace of the rule set instead, for the kinds the rule set renders
    (``needed``), and a warning; kinds it does not render (left over from an
    earlier API choice) are then not checked.
    """
    selector = f"{OWNER_LABEL}={OWNER_VALUE}" + (f",{SET_LABEL}={set_name}" if set_name else "")
    live = Live(resources, [])
    checked = sorted(set(namespaces))
    for gk, res in resources.items():
        try:
            live.owned.extend(client.list(res, None, selector))
            continue
        except KubeError as e:
            if e.status != 403:
                raise
        if gk not in needed:
            live.warnings.append(
                f"{client.where}: may not list {res.full_name}; objects of this set of that kind are kept"
            )
            continue
        live.warnings.append(
            f"{client.where}: may not list {res.full_name} across namespaces; only "
            f"{', '.join(checked) or 'no namespace'} checked, so objects of this set elsewhere are kept"
        )
        for namespace in checked:
            live.owned.extend(client.list(res, namespace, selector))
    return live


def find_same_named(client: KubeClient, live: Live, desired: list[dict], set_name: Optional[str]) -> None:
    """Live objects named like a desired object that the set does not own.

    Only asked where something is to be created: one LIST per kind and
    namespace, so a steady-state run never pays for it. An object of this
    very set found here was created since the first LIST (a rollout of the
    same set running at the same time): it counts as the set's own.
    """
    owned_ids = {identity(o) for o in live.owned}
    missing: dict[tuple[tuple[str, str], str], set[str]] = {}
    for obj in desired:
        ident = identity(obj)
        if ident not in owned_ids:
            missing.setdefault((ident[:2], ident[2]), set()).add(ident[3])
    for (gk, namespace), names in sorted(missing.items()):
        for item in client.list(live.resources[gk], namespace):
            if item["metadata"]["name"] not in names:
                continue
            if owned_by(item, set_name):
                live.owned.append(item)
            else:
                live.same_name.append(item)


def plan_for(
    desired: list[dict],
    live: Live,
    *,
    set_name: Optional[str],
    prune: bool,
    force: bool,
    keep: frozenset = frozenset(),
) -> Plan:
    owned = [o for o in live.owned if owned_by(o, set_name)]
    return make_plan([with_hash(o) for o in desired], owned, live.same_name, prune=prune, force=force, keep=keep)


def execute(
    client: KubeClient,
    plan: Plan,
    resources: dict[tuple[str, str], Resource],
    *,
    check_mode: bool,
    force: bool,
    set_name: Optional[str],
    want_diff: bool = True,
) -> Outcome:
    """Send the plan's writes; prune only if every other write succeeded."""
    out = Outcome(plan)

    def resource_of(change: Change) -> Resource:
        return resources[identity(change.obj)[:2]]

    def write(change: Change) -> tuple[Change, Optional[dict], Optional[str]]:
        res = resource_of(change)
        try:
            if change.action == DELETE:
                return change, _delete(client, res, change.live, dry_run=check_mode, set_name=set_name), None
            if change.live is not None and not owned_by(change.live, set_name):
                return change, _take_over(client, res, change, dry_run=check_mode), None
            return change, client.apply(res, change.desired, dry_run=check_mode, force=force), None
        except KubeError as e:
            return change, None, _explain(e, change)

    applies = [c for c in plan.changes if c.action in (CREATE, UPDATE)]
    phases: dict[int, list[Change]] = {}
    for change in applies:
        phases.setdefault(_WRITE_ORDER.get(change.obj["kind"], 9), []).append(change)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for order in sorted(phases):
            for change, stored, error in pool.map(write, phases[order]):
                _record(out, change, stored, error, where=client.where, diff=want_diff)
            if out.failures:
                break  # a Sidecar must not go out when the ServiceEntries failed
        deletes = plan.of(DELETE)
        if deletes and out.failures:
            out.warnings.append(f"{client.where}: nothing pruned because {len(out.failures)} write(s) failed")
            for change in deletes:
                change.action = "skipped"
        elif deletes:
            for change, stored, error in pool.map(write, sorted(deletes, key=lambda c: -_WRITE_ORDER[c.obj["kind"]])):
                _record(out, change, stored, error, where=client.where, diff=want_diff)
    for change in plan.of(CONFLICT):
        out.failures.append(
            f"{client.where}: {change.key} exists and is {change.reason}; it was left untouched "
            "(set force: true to take it over)"
        )
    return out


def _take_over(client: KubeClient, res: Resource, change: Change, *, dry_run: bool) -> dict:
    """force on an object this set does not own: replace it whole (server-side
    apply would keep the other manager's fields, e.g. its ports), then apply
    with force so this set's field manager owns every field from now on."""
    replaced = client.replace(res, change.desired, change.live["metadata"]["resourceVersion"], dry_run=dry_run)
    if dry_run:
        return replaced
    return client.apply(res, change.desired, force=True)


def _delete(client: KubeClient, res: Resource, live: dict, *, dry_run: bool, set_name: Optional[str]) -> Optional[dict]:
    """Delete, and on a 409 (the object changed since it was read) read it
    again and delete it only if it is still this set's."""
    try:
        return client.delete(res, live, dry_run=dry_run)
    except KubeError as e:
        if e.status != 409:
            raise
    meta = live["metadata"]
    fresh = client.get(res, meta.get("namespace"), meta["name"])
    if fresh is None or not owned_by(fresh, set_name):
        return None
    return client.delete(res, fresh, dry_run=dry_run)


def _record(out: Outcome, change: Change, stored: Optional[dict], error: Optional[str], *, where: str, diff: bool):
    if error:
        out.failures.append(error)
        change.action = "failed"
        return
    if stored is not None and change.action != DELETE:
        out.stored[change.key] = stored
    if diff:
        out.diffs.append(diff_entry(change, stored, where))


def diff_entry(change: Change, stored: Optional[dict], where: str) -> dict:
    """One Ansible diff entry: the whole object before and after, as YAML."""
    before = clean(change.live) if change.action != CREATE else {}
    after = clean(stored) if change.action != DELETE else {}
    label = f"{change.key} ({where})"
    return {
        "before_header": f"{label}" + (" [absent]" if not before else ""),
        "after_header": f"{label}" + (" [deleted]" if change.action == DELETE else ""),
        "before": to_yaml(before),
        "after": to_yaml(after),
    }


def to_yaml(obj: dict, sort_keys: bool = True, fast: bool = True) -> str:
    """Block-style YAML. ``fast`` uses libyaml's dumper when PyYAML has it
    (many times faster), for what is only shown; files that must be
    byte-identical on every controller use the pure-Python one."""
    if not obj:
        return ""
    if yaml is None:
        raise MissingLibraryError("PyYAML", "to write YAML")
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper) if fast else yaml.SafeDumper
    return yaml.dump(obj, Dumper=dumper, default_flow_style=False, sort_keys=sort_keys)


def _explain(err: KubeError, change: Change) -> str:
    if err.status == 409:
        causes = [c.get("message", "") for c in err.details.get("causes", [])]
        managers = "; ".join(c for c in causes if c) or str(err)
        return (
            f"{change.key}: fields this set manages were changed by another field manager ({managers}); "
            "not overwritten (set force: true to take them back)"
        )
    return f"{change.key}: {err}"
