# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rule sets across an inventory: which services apply to one cluster, and
which host names a whole run has to resolve.

``cluster_services`` assembles the services of one cluster from its
variables: ``meshguard_egress_services`` and every
``meshguard_egress_services_<suffix>`` (in the order of their names), each
scoped to the cluster. The rollout role reads it for the resolution of the
whole run and for each cluster's apply, so both see the very same list.

In an inventory every host is a cluster. A service may carry a ``clusters``
list of inventory host names and group names; it then applies only to the
clusters named, or in one of the groups named. Without ``clusters`` it applies
everywhere. ``scoped`` returns the services of one cluster without the
``clusters`` key (the rules module does not know it), and ``names_to_resolve``
the host names a run must resolve for a list of services, so that one DNS
lookup serves every cluster.

Plain data in and out, no Ansible import: the filter plugins
``meshguard.egress.scoped`` and ``meshguard.egress.resolvable`` are thin
adapters over these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from .._errors import MeshguardError
from .._terms import TermError, parse_term

SCOPE_KEY = "clusters"
SERVICES_VAR = "meshguard_egress_services"
# Further lists of services, added per group or host in the inventory.
_MORE_SERVICES_VAR = re.compile(r"^meshguard_egress_services_.+$")


def is_services_variable(name: str) -> bool:
    """``meshguard_egress_services`` or one of the ``meshguard_egress_services_<suffix>`` lists."""
    return name == SERVICES_VAR or bool(_MORE_SERVICES_VAR.match(name))


class ScopeError(MeshguardError):
    """One or more services have an invalid ``clusters`` key; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _label(source: str, index: int, service: Mapping[str, Any]) -> str:
    name = service.get("name")
    return f"{source}[{index}] {name!r}" if isinstance(name, str) and name else f"{source}[{index}]"


def _kind(value: Any) -> str:
    """The type of a value as the user wrote it (YAML/JSON terms, not Python's)."""
    if isinstance(value, Mapping):
        return "dict"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _strings(value: Any) -> Optional[list[str]]:
    """The value as a list of non-empty strings, or None when it is not one."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        return None
    if not all(isinstance(v, str) and v.strip() for v in value):
        return None
    return [v.strip() for v in value]


def scoped(
    services: Any,
    host: str,
    groups: Iterable[str] = (),
    known: Optional[Iterable[str]] = None,
    source: str = "services",
) -> list[Any]:
    """The services that apply to inventory host ``host`` (member of ``groups``).

    A service applies when it has no ``clusters`` key, or when ``clusters``
    names ``host`` or one of ``groups``. The ``clusters`` key is removed from
    what is returned; everything else is passed on untouched (the rules module
    validates it, naming service and field). With ``known`` (every host and
    group name of the inventory), a name in ``clusters`` that is neither is an
    error: a typo must not silently drop a service from every cluster.

    Every problem is reported at once in one ScopeError; messages name the
    service as ``<source>[<index>] '<name>'`` (``source``: where the list comes
    from, such as the variable that holds it).
    """
    if services is None:
        return []
    if isinstance(services, (str, bytes, Mapping)) or not isinstance(services, (list, tuple)):
        raise ScopeError([f"{source}: expected a list of services, got {_kind(services)}"])
    mine = {host, *groups}
    names = None if known is None else set(known)
    problems: list[str] = []
    out: list[Any] = []
    for index, service in enumerate(services):
        if not isinstance(service, Mapping) or SCOPE_KEY not in service:
            out.append(service)  # not ours to judge: the module reports a service that is not a dict
            continue
        label = _label(source, index, service)
        targets = _strings(service[SCOPE_KEY])
        if targets is None:
            problems.append(
                f"{label}: {SCOPE_KEY}: must be a list of inventory host or group names, got {service[SCOPE_KEY]!r}"
            )
            continue
        if not targets:
            problems.append(
                f"{label}: {SCOPE_KEY}: is empty; name at least one inventory host or group, "
                "or leave the key out to apply the service to every cluster"
            )
            continue
        if names is not None:
            unknown = sorted(t for t in set(targets) if t not in names)
            if unknown:
                problems.append(
                    f"{label}: {SCOPE_KEY}: {', '.join(unknown)}: neither a host nor a group of the inventory"
                )
                continue
        if mine.intersection(targets):
            out.append({k: v for k, v in service.items() if k != SCOPE_KEY})
    if problems:
        raise ScopeError(problems)
    return out


def cluster_services(
    variables: Mapping[str, Any],
    host: str,
    groups: Iterable[str] = (),
    known: Optional[Iterable[str]] = None,
    services: Any = None,
) -> list[Any]:
    """The services of inventory host ``host``, from its ``variables`` (its hostvars).

    ``meshguard_egress_services`` comes from ``variables`` when they have it,
    else from ``services`` (the value of a play or role variable, which hostvars
    do not hold); then every ``meshguard_egress_services_<suffix>`` of
    ``variables``, sorted by name. Each list is scoped to the cluster (see
    ``scoped``); the problems of every list are reported at once.
    """
    base = variables.get(SERVICES_VAR, services)
    lists = [(SERVICES_VAR, base)]
    lists += [(name, variables[name]) for name in sorted(variables) if _MORE_SERVICES_VAR.match(name)]
    known = None if known is None else list(known)
    found: list[Any] = []
    problems: list[str] = []
    for name, value in lists:
        try:
            found.extend(scoped(value, host, groups, known, source=name))
        except ScopeError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ScopeError(problems)
    return found


def names_to_resolve(services: Any) -> list[str]:
    """The host names the services need resolved: sorted, deduplicated, in normal form.

    IP literals and CIDR blocks need no DNS and services that give their own
    ``addresses`` are not resolved, so neither is listed. Anything that is not
    a valid host name (or not a list of them) is skipped here: the rules
    module rejects it with an error naming the service and field, before any
    DNS query.
    """
    if isinstance(services, (str, bytes, Mapping)) or not isinstance(services, (list, tuple)):
        return []
    found: set[str] = set()
    for service in services:
        if not isinstance(service, Mapping) or service.get("addresses") is not None:
            continue
        hosts = service.get("hosts")
        if isinstance(hosts, (str, bytes)) or not isinstance(hosts, (list, tuple)):
            continue
        for text in hosts:
            try:
                term = parse_term(text, allow_mixed_scripts=True)  # judged by each run, with its allowance
            except TermError:
                continue
            if term.is_name:
                found.add(term.value)
    return sorted(found)


__all__ = ["SCOPE_KEY", "SERVICES_VAR", "ScopeError", "cluster_services", "names_to_resolve", "scoped"]
