# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one cluster holds for a rule set: discovery and the reads of a run.

Requests: one discovery per API group/version used, one LIST per kind with
the set's label selector (across namespaces), and one more LIST per kind and
namespace only where objects are to be created (to find same-named objects
the set does not own). Nothing here writes; what is read is returned, never
changed in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Optional

from .._errors import MeshguardError
from .._kinds import KINDS, Kind, api_version, identity, owned_by, selector
from .client import KubeClient, KubeError, Resource

Resources = Mapping[tuple[str, str], Resource]


@dataclass(frozen=True)
class Live:
    """What one cluster holds for one rule set.

    ``resources``: the served resource of every managed kind, by (group, kind).
    ``owned``: objects carrying the set's labels. ``same_name``: objects named
    like a desired one that the set does not own.
    """

    resources: Resources
    owned: tuple[dict, ...]
    same_name: tuple[dict, ...] = ()
    warnings: tuple[str, ...] = ()


class NotServedError(MeshguardError):
    """A kind the rule set needs is not served: its CRD is missing."""


def discover(client: KubeClient, api: str, needed: Iterable[Kind] = ()) -> dict[tuple[str, str], Resource]:
    """Resources of every kind this collection manages that the cluster serves, in the versions of ``api``.

    ``needed`` are the kinds the desired objects use: those must be served, or nothing is written.
    """
    required = {kind.key for kind in needed}
    found: dict[tuple[str, str], Resource] = {}
    for kind in KINDS:
        version = api_version(kind, api)
        res = client.resource(version, kind.kind)
        if res is not None:
            found[kind.key] = res
        elif kind.key in required:
            raise NotServedError(f"{kind.kind} {version} is not served by {client.where}: {kind.missing_hint}")
    return found


def list_owned(
    client: KubeClient,
    resources: Resources,
    *,
    set_name: Optional[str],
    namespaces: Iterable[str],
    needed: Iterable[Kind] = (),
) -> Live:
    """The set's objects (every set's without ``set_name``) of every managed kind, across all namespaces.

    A user who may not list a kind across namespaces gets one LIST per
    namespace of the rule set instead, for the kinds the rule set renders
    (``needed``), and a warning; kinds it does not render (left over from an
    earlier API choice) are then not checked.
    """
    labels = selector(set_name)
    required = {kind.key for kind in needed}
    checked = sorted(set(namespaces))
    owned: list[dict] = []
    warnings: list[str] = []
    for gk, res in resources.items():
        try:
            owned.extend(client.list(res, None, labels))
            continue
        except KubeError as e:
            if e.status != 403:
                raise
        if gk not in required:
            warnings.append(f"{client.where}: may not list {res.full_name}; objects of this set of that kind are kept")
            continue
        warnings.append(
            f"{client.where}: may not list {res.full_name} across namespaces; only "
            f"{', '.join(checked) or 'no namespace'} checked, so objects of this set elsewhere are kept"
        )
        for namespace in checked:
            owned.extend(client.list(res, namespace, labels))
    return Live(resources, tuple(owned), warnings=tuple(warnings))


def with_same_named(client: KubeClient, live: Live, desired: Iterable[dict], set_name: Optional[str]) -> Live:
    """``live`` plus the objects named like a desired object that the set does not own.

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
    mine: list[dict] = []
    others: list[dict] = []
    for (gk, namespace), names in sorted(missing.items()):
        for item in client.list(live.resources[gk], namespace):
            if item["metadata"]["name"] in names:
                (mine if owned_by(item, set_name) else others).append(item)
    if not mine and not others:
        return live
    return replace(live, owned=live.owned + tuple(mine), same_name=live.same_name + tuple(others))


# The namespaces a set writes to that are not its own, as a user names them.
_WHOSE = {"egress_gateway.namespace": "the egress gateway's", "waypoint.namespace": "the waypoint's"}


class MissingNamespaceError(MeshguardError):
    """Namespaces the set writes to do not exist; ``missing`` names them, each with its option."""

    def __init__(self, where: str, missing: Mapping[str, str]) -> None:
        self.missing = dict(missing)
        problems = [
            f"{_WHOSE[field]} namespace {name!r} ({field}) does not exist"
            for name, field in missing.items()
            if field in _WHOSE
        ]
        own = [name for name, field in missing.items() if field not in _WHOSE]
        if own:
            names = ", ".join(repr(n) for n in own)
            word = "namespace" if len(own) == 1 else "namespaces"
            problems.append(f"{word} {names} of the rule set {'does' if len(own) == 1 else 'do'} not exist")
        super().__init__(
            f"{where}: {'; '.join(problems)}; the set writes objects there: create "
            f"{'it' if len(missing) == 1 else 'them'} first (or correct the namespace). Nothing was changed"
        )


def check_namespaces(
    client: KubeClient, names: Mapping[str, str], known: Optional[Mapping[str, object]] = None
) -> list[str]:
    """Every namespace the set writes to (``names``: each with the option that names it) exists, read
    before any write: raises MissingNamespaceError naming each missing one. ``known``: namespaces
    already read (None: missing).

    Credentials that may not read namespaces are not stopped here (a warning is returned): the
    API server then refuses the first write into a missing namespace, as before.
    """
    found = dict(known or {})
    namespaces = client.resource("v1", "Namespace")
    missing: dict[str, str] = {}
    warnings: list[str] = []
    for name in sorted(names):
        if name in found:
            if found[name] is None:
                missing[name] = names[name]
            continue
        try:
            if namespaces is None or client.get(namespaces, None, name) is None:
                missing[name] = names[name]
        except KubeError as e:
            if e.status not in (401, 403):
                raise
            warnings.append(f"{client.where}: cannot read namespace {name!r} ({e}); whether it exists was not checked")
    if missing:
        raise MissingNamespaceError(client.where, missing)
    return warnings


def resource_of(resources: Resources, obj: dict) -> Resource:
    """The served resource an object is written through."""
    return resources[identity(obj)[:2]]
