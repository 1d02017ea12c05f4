# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules pipeline for one cluster.

    prepare -> resolve -> read live and the cluster's ranges -> desired -> same-named -> plan -> execute -> report

``plan_on_cluster`` is the part ``rules`` (``run``) and ``rules_info``
(``inspect``) share: what the rule set would change on a cluster. Only
``run`` executes the plan; ``state=rendered`` writes files instead of
touching a cluster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Optional

from ._ambient.cluster import check_waypoint, read_dataplanes
from ._ambient.spec import AUTO, SIDECAR
from ._argspec import CONNECTION, connection_options, settings_from
from ._cluster.client import FIELD_MANAGER, ConnectionOptions, KubeClient, KubeError
from ._cluster.execute import diff_entry, execute, local_result, report
from ._cluster.live import Live, check_namespaces, discover, list_owned, with_same_named
from ._cluster.plan import CONFLICT, CREATE, DELETE, UNCHANGED, UPDATE, Plan, clean, make_plan, with_hash
from ._desired import Desired, desired_objects, host_results, judged_values
from ._errors import MeshguardError
from ._export import exported_wider, wider_message
from ._gateway.cluster import needs_gateway, previous_ports, read_gateway
from ._gateway.render import GatewayView, unchecked_view
from ._kinds import DEFAULT_API, NETWORK_POLICY, WAYPOINT, identity, owned_by
from ._manifests import read_manifests, write_manifests
from ._names import SET_LABEL
from ._policy.internal import read_cluster_ranges
from ._policy.judge import ranges_in_play
from ._prepare import Prepared, Settings, prepare
from ._problems import Problem
from ._proxy.network_policy import allowances
from ._reachability.model import change, grants
from ._render import rendered_kinds
from ._runcache import RunCache, digest, maybe, projection
from ._spec import RuleSet, SpecError


@dataclass(frozen=True)
class ClusterPlan:
    """What a rule set finds on a cluster and would change there."""

    live: Live
    desired: Desired
    plan: Plan
    # The egress gateway as the cluster has it (None: no service of the set goes through it).
    gateway: Optional[GatewayView] = None
    # Which addresses answered from which host names (this run's answers): reachability's provenance.
    hosts_of: Optional[dict[str, list[str]]] = None


def plan_on_cluster(client: KubeClient, prepared: Prepared, cache: Optional[RunCache] = None) -> ClusterPlan:
    """Resolve (or take the pre-resolved answers), read the set's live objects, render, plan.
    ``cache``: the run's, for the rendering that another cluster holding the same did (``_runcache``)."""
    ruleset = prepared.ruleset
    namespace_labels: dict = {}
    ambient_warnings: list[str] = []
    if prepared.state == "absent":
        # Removing a set renders nothing: the data plane does not matter.
        ruleset = replace(ruleset, ambient=frozenset())
    elif ruleset.dataplane != SIDECAR:
        # Before anything is resolved or written: auto's namespaces decide what is rendered.
        dataplanes = read_dataplanes(client, ruleset)
        ruleset, namespace_labels = dataplanes.ruleset, dict(dataplanes.labels)
        ambient_warnings += dataplanes.warnings
    prepared = replace(prepared, ruleset=ruleset)
    if prepared.state != "absent":
        # Before any DNS query or write: a namespace that is not there fails the run by its name.
        ambient_warnings += check_namespaces(client, written_namespaces(ruleset), namespace_labels)
    results = host_results(prepared) if prepared.state != "absent" else {}
    needed = rendered_kinds(ruleset)
    if ruleset.has_ambient and WAYPOINT not in needed:
        # The waypoint the ServiceEntries are bound to is read and checked, managed or not.
        needed.append(WAYPOINT)
    resources = discover(client, ruleset.api, needed)
    namespaces = {s.namespace for s in ruleset.services} | set(ruleset.registry_only) | {ruleset.namespace}
    if ruleset.egress_gateway is not None:
        namespaces.add(ruleset.egress_gateway.namespace)
    if ruleset.waypoint is not None:
        namespaces.add(ruleset.waypoint.namespace)
    live = list_owned(client, resources, set_name=ruleset.name, namespaces=namespaces, needed=needed)
    desired, hashed = Desired(), []
    gateway = None
    if prepared.state != "absent":
        # Before anything is written: a gateway that cannot carry the set fails the run here.
        gateway = read_gateway(client, ruleset, resources, live.owned) if needs_gateway(ruleset) else None
        ambient_warnings += check_waypoint(client, ruleset, resources, namespace_labels)
        cluster = read_cluster_ranges(client, internal_given=bool(prepared.internal))
        desired, hashed = _rendered(prepared, results, live.owned, cluster.ranges, gateway, cache=cache)
        desired = replace(desired, warnings=[*cluster.warnings, *ambient_warnings, *desired.warnings])
    live = with_same_named(client, live, desired.objects, ruleset.name)
    owned = [o for o in live.owned if owned_by(o, ruleset.name)]
    plan = make_plan(
        hashed,
        owned,
        list(live.same_name),
        prune=prepared.prune,
        force=prepared.force,
        keep=desired.kept(live.owned),
        manager=FIELD_MANAGER,
    )
    return ClusterPlan(live, desired, plan, gateway, hosts_by_address(results))


def _rendered(
    prepared: Prepared,
    results: Mapping[str, Any],
    live: list[dict],
    ranges: tuple,
    gateway: Optional[GatewayView],
    *,
    cache: Optional[RunCache],
) -> tuple[Desired, list[dict]]:
    """The desired objects, and each with its hash annotation, computed once per run for every cluster that
    holds the same objects of the set and reports the same ranges. Not shared: a rendering that reads more of
    the cluster (the egress gateway's Service and Gateways, the namespaces' data plane labels), or retention
    against the clock of this host (no resolved_at), or answers this worker resolved itself."""

    def compute() -> tuple[Desired, list[dict]]:
        desired = desired_objects(prepared, results, live, ranges, gateway)
        return desired, [with_hash(o) for o in desired.objects]

    def key() -> dict[str, Any]:
        # A cluster's own ranges change the rendering only where they overlap what is judged, or through the
        # guardrail, which writes them all: clusters whose ranges are elsewhere share one rendering.
        judged = ranges_in_play(ranges, judged_values(prepared, results, live))
        judged = ranges if prepared.ruleset.guardrail else judged
        return {"live": [projection(o) for o in live], "ranges": [repr(r) for r in judged]}

    shared = (
        prepared.resolved is not None  # answers this worker asked DNS for itself are its own
        and gateway is None
        and prepared.ruleset.dataplane == SIDECAR
        and (prepared.now is not None or not prepared.retain)
    )
    return maybe(
        cache if shared else None,
        "desired",
        key,
        compute,
        dump=lambda pair: {"desired": _desired_dict(pair[0]), "hashed": pair[1]},
        load=lambda data: (_desired_of(data["desired"]), data["hashed"]),
    )


def _desired_dict(desired: Desired) -> dict[str, Any]:
    return {
        "objects": desired.objects,
        "unresolved": desired.unresolved,
        "warnings": desired.warnings,
        "refused": desired.refused,
        "tampered": list(desired.tampered),
        "dnssec": desired.dnssec,
    }


def _desired_of(data: Mapping[str, Any]) -> Desired:
    return Desired(
        objects=data["objects"],
        unresolved=data["unresolved"],
        warnings=data["warnings"],
        refused=data["refused"],
        tampered=tuple(data["tampered"]),
        dnssec=data["dnssec"],
    )


def written_namespaces(ruleset: RuleSet) -> dict[str, str]:
    """The namespaces the set writes objects to, each with the option that names it: its services',
    registry_only, and the gateway's or waypoint's where a service goes through one."""
    names = {s.namespace: "namespace" for s in ruleset.services}
    names.update((n, "registry_only") for n in ruleset.registry_only if n not in names)
    if ruleset.egress_gateway is not None and not ruleset.legacy and any(map(ruleset.via_gateway, ruleset.services)):
        names[ruleset.egress_gateway.namespace] = "egress_gateway.namespace"
    if ruleset.waypoint is not None and ruleset.has_ambient:
        names[ruleset.waypoint.namespace] = "waypoint.namespace"
    return names


def hosts_by_address(results: Mapping[str, Any]) -> dict[str, list[str]]:
    """The host names that answered each address."""
    found: dict[str, list[str]] = {}
    for name, result in results.items():
        for address in getattr(result, "addresses", ()) or ():
            found.setdefault(address, []).append(name)
    return found


def reachability_change(
    found: ClusterPlan, retain: int, set_name: str, cache: Optional[RunCache] = None
) -> dict[str, Any]:
    """Who may newly reach what, and who no longer may: the grants of the set's live objects against
    those of the objects that will be live after the run (kept ones included, conflicts excluded).
    Computed once per run for every cluster with the same before and after (``_runcache``)."""
    before_objects = [o for o in found.live.owned if owned_by(o, set_name)]
    after_objects = [c.obj for c in found.plan.changes if c.action in (CREATE, UPDATE, UNCHANGED)]

    def compute() -> dict[str, Any]:
        before = grants(before_objects, retain=retain, hosts_of=found.hosts_of)
        after = grants(after_objects, retain=retain, hosts_of=found.hosts_of)
        return change(before, after).as_dict()

    def key() -> dict[str, Any]:
        return {
            "before": digest([projection(o) for o in before_objects]),
            "after": digest([projection(o) for o in after_objects]),
            "retain": retain,
            "hosts_of": found.hosts_of,
        }

    return maybe(cache, "reachability", key, compute, dump=lambda value: value, load=lambda value: value)


NO_CLUSTER_DATAPLANE = (
    "dataplane auto reads each namespace's istio.io/dataplane-mode label from the cluster, and state=rendered reads "
    "no cluster: give dataplane sidecar or ambient"
)
NO_CLUSTER_WAYPOINT = (
    "state=rendered reads no cluster: the waypoint (waypoint.manage false) was not checked, nor were the namespaces' "
    "istio.io/dataplane-mode labels"
)
NO_CLUSTER_RANGES = (
    "state=rendered reads no cluster: addresses were checked against the built-in ranges and internal_ranges, "
    "not against a cluster's Service and pod ranges"
)
NO_CLUSTER_GATEWAY = (
    "state=rendered reads no cluster: the egress gateway's namespace and Service were not checked, "
    "NetworkPolicies name the gateway Service's ports as the pods' ports (the Service's targetPorts were not read), "
    "and plain mode's gateway ports were kept from the Gateways in dest (if any) or assigned afresh, not checked "
    "against other Gateways and the Service's ports"
)


def objects_of_set(live: Live, set_name: Optional[str]) -> list[dict]:
    return [o for o in live.owned if owned_by(o, set_name)]


def check_writer(client: KubeClient, writers: tuple[str, ...]) -> None:
    """The guardrail denies changes by anyone but its writers: this run must be one of them,
    or its own writes after the policy would be denied half-way."""
    try:
        user = client.whoami()
    except KubeError as e:
        raise MeshguardError(
            f"{client.where}: cannot tell which user this run is ({e}); the guardrail lets only its writers change "
            "the set, so nothing was changed"
        ) from None
    if user not in writers:
        raise MeshguardError(
            f"{client.where}: this run is user {user!r}, which is not in guardrail.writers ({', '.join(writers)}): "
            "the guardrail would deny this run's own changes; nothing was changed"
        )


def run(
    settings: Settings,
    connection: Optional[ConnectionOptions],
    *,
    check_mode: bool = False,
    diff: bool = False,
    cache: Optional[RunCache] = None,
    prepared: Optional[Prepared] = None,
) -> dict[str, Any]:
    """One rule set on one cluster (or rendered to files). Returns the
    module result; raises MeshguardError when nothing could be done, and
    reports per-object failures in result['failures']. ``cache``: the run's (``_runcache``).
    ``prepared``: ``prepare(settings)`` when the caller has it already (clusters of one batch share it)."""
    if prepared is None:
        prepared = prepare(settings)
    if prepared.state == "rendered":
        ruleset = prepared.ruleset
        if ruleset.dataplane == AUTO:
            raise SpecError([Problem(NO_CLUSTER_DATAPLANE, "dataplane")])
        view = None
        if needs_gateway(ruleset):
            # Plain mode's ports are kept from the files of the last rendering, as from live Gateways.
            view = unchecked_view(ruleset, previous_ports(read_manifests(prepared.dest, ruleset.name)))
        answers = host_results(prepared)
        desired = desired_objects(prepared, answers, gateway=view)
        result = write_manifests(desired.objects, prepared.dest, ruleset.name, check_mode)
        notes = [NO_CLUSTER_RANGES] + ([NO_CLUSTER_GATEWAY] if view else [])
        notes += [NO_CLUSTER_WAYPOINT] if ruleset.has_ambient else []
        result["warnings"] = [*notes, *desired.warnings, *result["warnings"]]
        result["refused"] = desired.refused
        result["dnssec"] = desired.dnssec
        result["network_policies"] = network_policies(desired.objects)
        # Against an empty cluster: rendering reads none.
        rendered = grants(desired.objects, retain=prepared.retain, hosts_of=hosts_by_address(answers))
        result["reachability"] = change([], rendered).as_dict()
        if view is not None:
            result["egress_gateway"] = view.summary()
        return result
    if connection is None:
        raise MeshguardError("no cluster connection given")
    client = KubeClient(connection)
    found = plan_on_cluster(client, prepared, cache)
    preview_warnings: list[str] = []
    if prepared.ruleset.guardrail is not None and found.plan.writes:
        try:
            check_writer(client, prepared.ruleset.guardrail.writers)
        except MeshguardError as e:
            if not check_mode:
                raise
            # A preview may run as another user (read-only credentials) than the real run.
            preview_warnings.append(f"{e}; in check mode this is a warning: the real run must be a writer")
    execution = execute(
        client,
        found.plan,
        found.live.resources,
        check_mode=check_mode,
        force=prepared.force,
        set_name=prepared.ruleset.name,
        want_diff=diff,
    )
    plan, counts = report(found.plan, execution)
    restoring = "would be restored" if check_mode else "restored"
    noted = [f"{client.where}: {c.key}: {c.reason}; {restoring}" for c in found.plan.of(UPDATE) if c.replace]
    result: dict[str, Any] = {
        "changed": execution.changed,
        "cluster": client.where,
        "plan": plan,
        "counts": counts,
        "resources": found.desired.objects,
        "refused": found.desired.refused,
        "dnssec": found.desired.dnssec,
        "warnings": found.desired.warnings
        + list(found.live.warnings)
        + noted
        + preview_warnings
        + list(execution.warnings),
        "failures": list(execution.failures),
        "network_policies": network_policies(found.desired.objects),
        "tampered": list(found.desired.tampered),
        "reachability": reachability_change(found, prepared.retain, prepared.ruleset.name, cache),
    }
    if found.gateway is not None:
        result["egress_gateway"] = found.gateway.summary()
    if diff:
        result["diff"] = list(execution.diffs)
    return result


def network_policies(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What each NetworkPolicy of the set allows, for the reviewer (``_network_policy.allowances``)."""
    return [allowances(o) for o in objects if o["kind"] == NETWORK_POLICY.kind]


def module_result(
    params: dict[str, Any],
    *,
    check_mode: bool,
    diff: bool,
    cache_dir: Optional[str] = None,
    cache: Optional[RunCache] = None,
    prepared: Optional[Prepared] = None,
) -> dict[str, Any]:
    """The rules module's result for its validated ``params``: what the
    module process and the in-process action plugins return. Per-object
    failures set ``failed`` and ``msg``; MeshguardError means nothing was done.
    ``cache_dir``: the run's private directory, to share work between its clusters (``_runcache``);
    ``cache`` and ``prepared``: that work's entry and the prepared input, when the caller has them already."""
    settings = settings_from(params)
    connection = None if params["state"] == "rendered" else connection_options(params)
    if cache is None and cache_dir is not None:
        # Every option but how to reach the cluster: what the rendering and reachability may read.
        cache = RunCache(cache_dir, digest({k: v for k, v in params.items() if k not in CONNECTION}))
    result = run(settings, connection, check_mode=check_mode, diff=diff, cache=cache, prepared=prepared)
    if not params.get("return_resources", True):
        # A caller that only reads the plan and counts (the role) spares every host's task the objects.
        del result["resources"]
    if result["failures"]:
        result.update(failed=True, msg="\n".join(result["failures"]))
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
    client = KubeClient(connection)
    result: dict[str, Any] = {"cluster": client.where}
    if prepared is None:
        live = list_owned(client, discover(client, api), set_name=set_name, namespaces=())
        warnings: list[str] = []
    else:
        found = plan_on_cluster(client, prepared)
        live = found.live
        warnings = found.desired.warnings
        plan, counts = report(found.plan)
        result.update(plan=plan, counts=counts, in_sync=not found.plan.writes and not found.plan.of(CONFLICT))
        warnings = [*warnings, *(f"{client.where}: {c.key}: {c.reason}" for c in found.plan.of(UPDATE) if c.replace)]
        result["refused"] = found.desired.refused
        result["dnssec"] = found.desired.dnssec
        result["network_policies"] = network_policies(found.desired.objects)
        result["tampered"] = list(found.desired.tampered)
        # Each drifted object's diff, computed from the live object (rules_info writes nothing, not even a dry run).
        result["diff"] = [
            diff_entry(c, local_result(c), client.where)
            for c in found.plan.changes
            if c.action in (CREATE, UPDATE, DELETE)
        ]
        result["reachability"] = {
            "current": [g.as_dict() for g in grants(objects_of_set(live, set_name), retain=prepared.retain)],
            **reachability_change(found, prepared.retain, prepared.ruleset.name),
        }
        wide = exported_wider(live.owned, found.desired.objects)
        result["exported_wider"] = wide
        warnings = [*warnings, *map(wider_message, wide)]
        if found.gateway is not None:
            result["egress_gateway"] = found.gateway.summary()
    objects = sorted((clean(o) for o in objects_of_set(live, set_name)), key=identity)
    if prepared is None:
        result["reachability"] = {"current": [g.as_dict() for g in grants(objects)]}
    result["objects"] = objects
    result["sets"] = dict(sorted(Counter(o["metadata"]["labels"].get(SET_LABEL, "") for o in objects).items()))
    result["warnings"] = list(live.warnings) + warnings
    return result
