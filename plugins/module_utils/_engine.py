# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules pipeline for one cluster.

    validate -> resolve -> aggregate -> render -> plan -> apply -> report

``prepare`` checks everything the user gave (rule set, resolver and
aggregation options, pre-resolved input) and reports every problem at once,
before any DNS query or API request. ``desired_objects`` resolves and renders
(the only DNS traffic). ``run`` does the rest against one cluster.

A service whose hosts did not resolve is never rendered from a partial
answer: with on_error=fail nothing is done at all, with on_error=keep its
live objects stay exactly as they are (neither updated nor pruned).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    yaml = None

from ._addresses import AggregateOptions, AggregationError, Block, aggregate
from ._apply import Live, discover, execute, find_same_named, list_owned, plan_for, to_yaml
from ._errors import MeshguardError, MissingLibraryError
from ._kube import ConnectionOptions, KubeClient
from ._plan import CONFLICT, clean, identity, key, owned_by
from ._render import SERVICE_ANNOTATION, ServiceAddresses, render
from ._resolve import HostResult, ResolveError, ResolverOptions, blocks_of, resolve, results_from_detail
from ._retain import DEFAULT_RETAIN, LAST_SEEN_ANNOTATION, annotation_value, parse_duration, previous, retain
from ._spec import DEFAULT_API, LEGACY_API, RuleSet, SpecError, validate_ruleset

STATES = ("present", "absent", "rendered")
ON_ERROR = ("fail", "keep")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides the cluster, as plain data."""

    spec: dict
    state: str = "present"
    prune: bool = True
    force: bool = False
    on_error: str = "fail"
    resolver: dict = field(default_factory=dict)
    aggregation: dict = field(default_factory=dict)
    resolved: Optional[list] = None
    dest: Optional[str] = None
    retain: Any = DEFAULT_RETAIN
    # The clock of retention; tests pass their own.
    now: Optional[datetime.datetime] = None


@dataclass(frozen=True)
class Prepared:
    ruleset: RuleSet
    resolver: ResolverOptions
    aggregation: AggregateOptions
    resolved: Optional[dict[str, HostResult]]
    retain: int = 0


@dataclass
class Desired:
    objects: list[dict]
    # service name -> why its hosts did not resolve (on_error=keep)
    unresolved: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def prepare(settings: Settings) -> Prepared:
    """Validate all input; one SpecError lists every problem."""
    errors: list[str] = []
    spec = dict(settings.spec)
    if settings.state == "absent" and not spec.get("services"):
        spec["services"] = []  # removing a set needs only its name
    resolver = aggregation = ruleset = None
    window = 0
    try:
        window = parse_duration(settings.retain)
    except MeshguardError as e:
        errors.append(str(e))
    try:
        resolver = ResolverOptions.from_dict(settings.resolver)
    except MeshguardError as e:
        errors.append(str(e))
    try:
        aggregation = AggregateOptions.from_dict(settings.aggregation)
    except MeshguardError as e:
        errors.append(str(e))
    try:
        ruleset = validate_ruleset(spec, _guard(aggregation) if aggregation else None)
    except SpecError as e:
        errors[:0] = e.errors
    if settings.state not in STATES:
        errors.append(f"state: must be one of {', '.join(STATES)}, got {settings.state!r}")
    if settings.on_error not in ON_ERROR:
        errors.append(f"on_error: must be one of {', '.join(ON_ERROR)}, got {settings.on_error!r}")
    if settings.state == "rendered" and settings.on_error == "keep":
        errors.append("on_error: keep reads live objects, which state=rendered never does; use fail")
    resolved = _check_resolved(settings.resolved, ruleset, errors)
    if errors or ruleset is None or resolver is None or aggregation is None:
        raise SpecError(errors)
    return Prepared(ruleset, resolver, aggregation, resolved, window)


def _check_resolved(
    given: Optional[list], ruleset: Optional[RuleSet], errors: list[str]
) -> Optional[dict[str, HostResult]]:
    """Pre-resolved answers by host; every host name of the set must be there."""
    if given is None:
        return None
    try:
        resolved = {r.host: r for r in results_from_detail(given)}
    except MeshguardError as e:
        errors.append(f"resolved: {e}")
        return None
    for index, service in enumerate(ruleset.services if ruleset else ()):
        if service.addresses is not None:
            continue
        for name in service.host_names:
            if name not in resolved:
                errors.append(
                    f"services[{index}] {service.name!r}: hosts: {name} is not in `resolved`; "
                    "resolve every host of the rule set (the lookup with detail=true)"
                )
    return resolved


def _guard(aggregation: AggregateOptions) -> Callable[[str], Optional[str]]:
    """The breadth guard for IPs and CIDRs written in the rule set, so that
    validation reports them with the service and field, before any request."""

    def check(literal: str) -> Optional[str]:
        try:
            aggregate([Block(literal, f"literal {literal}")], aggregation)
        except AggregationError as e:
            return "; ".join(e.problems)
        return None

    return check


def host_results(prepared: Prepared) -> dict[str, HostResult]:
    """DNS answers for every host name of the rule set, asked once each."""
    if prepared.resolved is not None:
        return prepared.resolved
    names = sorted({name for s in prepared.ruleset.services if s.addresses is None for name in s.host_names})
    if not names:
        return {}
    return {r.host: r for r in resolve(names, prepared.resolver, prepared.aggregation)}


def desired_objects(
    prepared: Prepared,
    results: dict[str, HostResult],
    on_error: str,
    live: Optional[list[dict]] = None,
    now: Optional[datetime.datetime] = None,
) -> Desired:
    """Render the rule set from the DNS answers.

    ``live``: the set's objects on the cluster, for address retention (None
    when rendering without a cluster: then only this run's answers count).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    live_by_service: dict[Optional[str], list[dict]] = {}
    for obj in live or ():
        live_by_service.setdefault(_service_of(obj), []).append(obj)
    by_service: dict[str, ServiceAddresses] = {}
    last_seen: dict[str, str] = {}
    desired = Desired([])
    for service in prepared.ruleset.services:
        answers = _answers(service, results)
        failed = [r.error for r in answers if r.error is not None]
        if failed:
            desired.unresolved[service.name] = [f"{e.type}: {e.message}" for e in failed if isinstance(e, ResolveError)]
            continue
        blocks = [b for r in answers for b in blocks_of(r)]
        ips = [a for r in answers if r.kind != "network" for a in r.addresses]
        if prepared.retain and service.addresses is None:
            dns = sorted({a for r in answers if r.kind == "name" for a in r.addresses})
            before = previous(live_by_service.get(service.name, ()))
            kept = retain(service.name, dns, before, now, prepared.retain)
            desired.warnings.extend(kept.warnings)
            extra = [address for address, _since in kept.retained]
            blocks += [Block(a, f"{a} (retained)", widen=True) for a in extra]
            ips += extra
            last_seen[service.name] = annotation_value(kept.last_seen)
        by_service[service.name] = ServiceAddresses(
            cidrs=tuple(aggregate(blocks, prepared.aggregation)),
            ips=tuple(ips),
            # Provenance names what was resolved; pre-resolved addresses have none.
            sources=tuple(service.host_names) if service.addresses is None else (),
        )
    if desired.unresolved and on_error == "fail":
        lines = [f"service {name!r}: {'; '.join(why)}" for name, why in sorted(desired.unresolved.items())]
        raise MeshguardError("DNS resolution failed, nothing was changed:\n" + "\n".join(f"- {x}" for x in lines))
    kept_set = replace(prepared.ruleset, services=tuple(s for s in prepared.ruleset.services if s.name in by_service))
    desired.objects = render(kept_set, by_service)
    for obj in desired.objects:
        if _service_of(obj) in last_seen:
            annotations = obj["metadata"]["annotations"]
            annotations[LAST_SEEN_ANNOTATION] = last_seen[_service_of(obj)]
            obj["metadata"]["annotations"] = dict(sorted(annotations.items()))
    for name, why in sorted(desired.unresolved.items()):
        desired.warnings.append(
            f"service {name!r} did not resolve ({'; '.join(why)}); its live objects are kept as they are"
        )
    return desired


def _answers(service: Any, results: dict[str, HostResult]) -> list[HostResult]:
    """One result per host of a service: literals as they are, names from DNS."""
    if service.addresses is not None:
        given = [(a, "network" if "/" in a else "address") for a in service.addresses]
    else:
        given = [(h.value, h.kind) for h in service.hosts if h.kind != "name"]
    literals = [HostResult(host=v, kind=k, addresses=(v,) if k == "address" else ()) for v, k in given]
    if service.addresses is not None:
        return literals
    return literals + [results[name] for name in service.host_names]


def _service_of(obj: dict) -> Optional[str]:
    return (obj["metadata"].get("annotations") or {}).get(SERVICE_ANNOTATION)


def needed_kinds(ruleset: RuleSet) -> set[tuple[str, str]]:
    """(group, kind) of every object the rule set renders."""
    kinds = {("config.istio.io", "EgressRule") if ruleset.legacy else ("networking.istio.io", "ServiceEntry")}
    if ruleset.network_policy:
        kinds.add(("networking.k8s.io", "NetworkPolicy"))
    if ruleset.registry_only:
        kinds.add(("networking.istio.io", "Sidecar"))
    return kinds if ruleset.services or ruleset.registry_only else set()


def _namespaces(ruleset: RuleSet) -> set[str]:
    return {s.namespace for s in ruleset.services} | set(ruleset.registry_only) | {ruleset.namespace}


def _read(client: KubeClient, prepared: Prepared, set_name: Optional[str]) -> Live:
    needed = needed_kinds(prepared.ruleset)
    resources = discover(client, _istio_version(prepared.ruleset.api), needed)
    return list_owned(
        client, resources, set_name=set_name, namespaces=_namespaces(prepared.ruleset), needed=frozenset(needed)
    )


def run(
    settings: Settings,
    connection: Optional[ConnectionOptions],
    *,
    check_mode: bool = False,
    diff: bool = False,
) -> dict[str, Any]:
    """One rule set on one cluster (or rendered to files). Returns the
    module result; raises MeshguardError when nothing could be done, and
    reports per-object failures in result['failures']."""
    prepared = prepare(settings)
    set_name = prepared.ruleset.name
    results = host_results(prepared) if settings.state != "absent" else {}
    if settings.state == "rendered":
        desired = desired_objects(prepared, results, settings.on_error, None, settings.now)
        return rendered(desired.objects, settings.dest, set_name, check_mode)
    if connection is None:
        raise MeshguardError("no cluster connection given")
    client = KubeClient(connection)
    live = _read(client, prepared, set_name)
    desired = Desired([])
    if settings.state != "absent":
        desired = desired_objects(prepared, results, settings.on_error, live.owned, settings.now)
    find_same_named(client, live, desired.objects, set_name)
    plan = plan_for(
        desired.objects,
        live,
        set_name=set_name,
        prune=settings.prune or settings.state == "absent",
        force=settings.force,
        keep=_kept(live.owned, desired.unresolved),
    )
    outcome = execute(
        client, plan, live.resources, check_mode=check_mode, force=settings.force, set_name=set_name, want_diff=diff
    )
    result: dict[str, Any] = {
        "changed": outcome.changed,
        "cluster": client.where,
        "plan": plan.summary(),
        "resources": desired.objects,
        "warnings": desired.warnings + live.warnings + outcome.warnings,
        "failures": outcome.failures,
    }
    if diff:
        result["diff"] = outcome.diffs
    return result


def inspect(
    connection: ConnectionOptions,
    set_name: Optional[str],
    api: str = DEFAULT_API,
    settings: Optional[Settings] = None,
) -> dict[str, Any]:
    """Read-only: what the collection (one set, or all sets) owns on a
    cluster and, given a rule set, what `rules` would change (the drift)."""
    prepared = prepare(settings) if settings is not None else None
    results = host_results(prepared) if prepared is not None else {}
    client = KubeClient(connection)
    if prepared is not None:
        live = _read(client, prepared, set_name)
    else:
        resources = discover(client, _istio_version(api), set())
        live = list_owned(client, resources, set_name=set_name, namespaces=())
    result: dict[str, Any] = {
        "cluster": client.where,
        "objects": sorted((clean(o) for o in live.owned if owned_by(o, set_name)), key=identity),
        "warnings": list(live.warnings),
    }
    if prepared is not None and settings is not None:
        desired = desired_objects(prepared, results, settings.on_error, live.owned, settings.now)
        find_same_named(client, live, desired.objects, set_name)
        keep = _kept(live.owned, desired.unresolved)
        plan = plan_for(desired.objects, live, set_name=set_name, prune=settings.prune, force=False, keep=keep)
        result["warnings"] += desired.warnings
        result["plan"] = plan.summary()
        result["in_sync"] = not plan.writes and not plan.of(CONFLICT)
    return result


def _istio_version(api: str) -> str:
    """Version of networking.istio.io to use; the legacy API has no Sidecar
    of its own, so with it Sidecars stay on v1."""
    return "v1" if api == LEGACY_API else api.rpartition("/")[2]


def _kept(owned_objects: list[dict], unresolved: dict[str, list[str]]) -> frozenset:
    """Live objects of services whose hosts did not resolve (on_error=keep)."""
    return frozenset(identity(o) for o in owned_objects if _service_of(o) in unresolved)


def file_name(obj: dict) -> str:
    _group, kind, namespace, name = identity(obj)
    return f"{kind.lower()}-{namespace}-{name}.yaml"


def rendered(objects: list[dict], dest: Optional[str], set_name: str, check_mode: bool) -> dict[str, Any]:
    """state=rendered: the objects, and with dest one YAML file each.

    Files of this set that are no longer rendered are removed, so the folder
    always equals the rule set (GitOps repositories rely on that).
    """
    result: dict[str, Any] = {"changed": False, "resources": objects, "plan": {}, "warnings": [], "failures": []}
    if not dest:
        return result
    if yaml is None:
        raise MissingLibraryError("PyYAML", "to write manifests")
    wanted = {file_name(o): to_yaml(o, sort_keys=False, fast=False) for o in objects}
    written, removed = [], []
    existing = sorted(os.listdir(dest)) if os.path.isdir(dest) else []
    for name, text in sorted(wanted.items()):
        path = os.path.join(dest, name)
        current = None
        if name in existing:
            with open(path, encoding="utf-8") as f:
                current = f.read()
        if current != text:
            written.append(path)
            if not check_mode:
                os.makedirs(dest, exist_ok=True)
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    for name in existing:
        if name in wanted or not name.endswith(".yaml"):
            continue
        path = os.path.join(dest, name)
        with open(path, encoding="utf-8") as f:
            try:
                obj = yaml.safe_load(f)
            except yaml.YAMLError:
                continue
        if isinstance(obj, dict) and "metadata" in obj and owned_by(obj, set_name):
            removed.append(path)
            if not check_mode:
                os.remove(path)
    result.update(changed=bool(written or removed), files=sorted(wanted), written=written, removed=removed)
    result["plan"] = {"write": [key(o) for o in objects if file_name(o) in {os.path.basename(p) for p in written}]}
    return result
