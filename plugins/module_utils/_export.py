# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which namespaces an Istio object is exported to (``exportTo``), and live objects of a set
exported wider than the set says.

Istio reads a missing ``exportTo`` (and ``*``) as every namespace of the mesh, ``.`` as the
object's own namespace and ``~`` as none (``pkg/config/visibility``; the mesh-wide
``defaultServiceExportTo``/``defaultVirtualServiceExportTo`` can narrow the default, which
the collection cannot see, so it takes Istio's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Optional

from ._kinds import SERVICE_ENTRY, VIRTUAL_SERVICE, identity

EVERY_NAMESPACE = "*"
# The kinds the collection renders with an exportTo.
EXPORTED_KINDS = (SERVICE_ENTRY.kind, VIRTUAL_SERVICE.kind)


def exported_to(obj: Mapping[str, Any]) -> Optional[frozenset[str]]:
    """The namespaces that see ``obj``; None for every namespace."""
    values = (obj.get("spec") or {}).get("exportTo")
    if not values or EVERY_NAMESPACE in values:
        return None
    own = (obj.get("metadata") or {}).get("namespace", "")
    return frozenset(own if value == "." else value for value in values if value != "~")


def wider(live: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The namespaces ``live`` is exported to and ``wanted`` is not (``*`` for every namespace)."""
    have, want = exported_to(live), exported_to(wanted)
    if want is None:
        return []
    if have is None:
        return [EVERY_NAMESPACE]
    return sorted(have - want)


def exported_wider(live: Iterable[Mapping[str, Any]], desired: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The live objects whose desired counterpart is exported to fewer namespaces:
    ``{kind, namespace, name, exported_to, wanted, wider}`` each, sorted."""
    wanted = {identity(o): o for o in desired if o.get("kind") in EXPORTED_KINDS}
    found = []
    for obj in live:
        want = wanted.get(identity(obj))
        if want is None:
            continue
        extra = wider(obj, want)
        if extra:
            meta = obj["metadata"]
            found.append(
                {
                    "kind": obj["kind"],
                    "namespace": meta.get("namespace", ""),
                    "name": meta["name"],
                    "exported_to": list((obj.get("spec") or {}).get("exportTo") or [EVERY_NAMESPACE]),
                    "wanted": list(want["spec"].get("exportTo") or [EVERY_NAMESPACE]),
                    "wider": extra,
                }
            )
    return sorted(found, key=lambda f: (f["kind"], f["namespace"], f["name"]))


def wider_message(found: Mapping[str, Any]) -> str:
    where = "every namespace" if found["wider"] == [EVERY_NAMESPACE] else ", ".join(found["wider"])
    return (
        f"{found['kind']} {found['namespace']}/{found['name']} is exported to {where} beyond what the rule set says "
        f"(exportTo {found['exported_to']}, wanted {found['wanted']}): workloads there may use it; rules writes "
        "the wanted exportTo"
    )
