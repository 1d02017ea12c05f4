# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A rollout over the clusters of an inventory, checked once before any cluster is touched.

The rollout role asks once per run (the ``meshguard.egress.rollout_plan`` lookup, a thin
adapter that reads each cluster's variables): every cluster's options and services are
validated as the rules module validates them, inventory hosts that reach the same cluster
and differing resolvers are found, then the host names of every cluster are resolved once
(or read from a snapshot) and judged by each cluster's own address policy and dnssec modes.
Every problem of the run is reported together, each once, with the clusters it concerns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

from .._desired import service_answers
from .._dns.detail import results_from_detail, results_to_detail
from .._dns.options import ResolverOptions
from .._dns.resolve import resolve_names
from .._dns.results import POLICY_TYPES
from .._dnssec.anchors import TrustAnchors
from .._dnssec.policy import anchors_for, judge_all, service_mode
from .._policy.refusals import refused_addresses, summarised
from .._prepare import Prepared, Settings, prepare
from .._problems import Problem as InputProblem
from .._spec import SpecError
from .scope import names_to_resolve

# The role's variable of a module option: meshguard_egress_<option>.
ROLE_PREFIX = "meshguard_egress_"


@dataclass(frozen=True)
class ClusterInput:
    """One inventory host of the run, as the adapter read it.

    ``settings``: the rules module's options from the host's variables (None when they could not
    be read: ``problems`` says why); ``server``: the API server its connection options reach
    (None: cannot be told without a request).
    """

    host: str
    settings: Optional[Settings]
    server: Optional[str] = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """One message and the clusters (inventory hosts) it concerns; ``detail``: the same
    problem as data (service, field, message), when it is one of the rule set's."""

    message: str
    hosts: tuple[str, ...]
    detail: Optional[InputProblem] = None

    def text(self, every: Sequence[str]) -> str:
        if len(every) > 1 and set(self.hosts) >= set(every):
            return f"{self.message} (every cluster)"
        return f"{self.message} ({', '.join(self.hosts)})"

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "hosts": list(self.hosts)}

    def as_error(self) -> Optional[dict[str, Any]]:
        """As the rules module's ``errors`` give it, with the clusters; None without ``detail``."""
        return None if self.detail is None else {**self.detail.as_dict(), "hosts": list(self.hosts)}


@dataclass
class Found:
    """Messages by the clusters they concern, in the order first seen."""

    order: list[str] = field(default_factory=list)
    where: dict[str, list[str]] = field(default_factory=dict)
    details: dict[str, InputProblem] = field(default_factory=dict)

    def add(self, message: str, host: str, detail: Optional[InputProblem] = None) -> None:
        if message not in self.where:
            self.order.append(message)
            self.where[message] = []
            if detail is not None:
                self.details[message] = detail
        if host not in self.where[message]:
            self.where[message].append(host)

    def problems(self) -> list[Problem]:
        return [Problem(m, tuple(self.where[m]), self.details.get(m)) for m in self.order]


@dataclass(frozen=True)
class Checked:
    """The run's input, checked: problems (each once), each valid cluster's prepared run, and what
    can be judged of each cluster's answers (its whole run, or each valid service of an invalid one,
    so that one run reports the answers refused beside the field errors)."""

    problems: tuple[Problem, ...]
    prepared: Mapping[str, Prepared]
    names: tuple[str, ...]
    judged: Mapping[str, tuple[Prepared, ...]] = field(default_factory=dict)
    # The anchors the one resolution validates with; None when no cluster's service asks for DNSSEC.
    anchors: Optional[TrustAnchors] = None


def check_clusters(clusters: Sequence[ClusterInput]) -> Checked:
    """Every cluster validated as the rules module validates it (no network), inventory hosts
    that reach the same API server, resolvers that differ; the host names to resolve."""
    found = Found()
    prepared: dict[str, Prepared] = {}
    judged: dict[str, tuple[Prepared, ...]] = {}
    names: set[str] = set()
    seen: dict[str, tuple[Optional[Prepared], list[InputProblem], tuple[Prepared, ...]]] = {}
    for cluster in clusters:
        for problem in cluster.problems:
            found.add(problem, cluster.host)
        if cluster.settings is None:
            continue
        names.update(names_to_resolve(cluster.settings.spec.get("services")))
        # Clusters with the same input (most of them, in a large inventory) are checked once.
        key = json.dumps(asdict(cluster.settings), sort_keys=True, default=str)
        if key not in seen:
            try:
                seen[key] = (prepare(cluster.settings), [], ())
            except SpecError as exc:
                seen[key] = (None, exc.problems, tuple(_valid_services(cluster.settings)))
        run, errors, valid = seen[key]
        for error in errors:
            found.add(str(error), cluster.host, error)
        if run is not None:
            prepared[cluster.host] = run
        judged[cluster.host] = (run,) if run is not None else valid
    for first, second, server in same_cluster(clusters):
        found.add(
            f"inventory hosts {first} and {second} reach the same cluster (API server {server}): a set applied "
            "twice to one cluster prunes what the other host applied; give each cluster one inventory host "
            "(meshguard_egress_context, meshguard_egress_host)",
            first,
        )
    resolvers = {repr(sorted((c.settings.resolver or {}).items())) for c in clusters if c.settings is not None}
    if len(resolvers) > 1:
        found.add(
            "meshguard_egress_resolver differs between the clusters of this run; host names are resolved once for "
            "every cluster, so set it once (for example in group_vars/all)",
            clusters[0].host,
        )
    anchors = {repr(c.settings.spec.get("trust_anchors")) for c in clusters if c.settings is not None}
    if len(anchors) > 1:
        found.add(
            "meshguard_egress_trust_anchors differs between the clusters of this run; host names are resolved and "
            "validated once for every cluster, so set it once (for example in group_vars/all)",
            clusters[0].host,
        )
    validating = [a for runs in judged.values() for run in runs if (a := anchors_for(run.ruleset)) is not None]
    return Checked(
        tuple(found.problems()), prepared, tuple(sorted(names)), judged, validating[0] if validating else None
    )


def _valid_services(settings: Settings) -> list[Prepared]:
    """Each service of an invalid cluster that is valid on its own, as a run of its own."""
    services = settings.spec.get("services")
    if not isinstance(services, list):
        return []
    runs = []
    for service in services:
        try:
            runs.append(prepare(replace(settings, spec={**settings.spec, "services": [service]})))
        except SpecError:
            continue
    return runs


def same_cluster(clusters: Sequence[ClusterInput]) -> list[tuple[str, str, str]]:
    """(first host, other host, server) for every inventory host that reaches a cluster an earlier one reaches."""
    seen: dict[str, str] = {}
    pairs = []
    for cluster in clusters:
        if cluster.server is None:
            continue
        key = cluster.server.rstrip("/").lower()
        if key in seen:
            pairs.append((seen[key], cluster.host, cluster.server))
        else:
            seen[key] = cluster.host
    return pairs


def judge(
    judged: Mapping[str, Sequence[Prepared]], detail: Sequence[Mapping[str, Any]]
) -> tuple[list[Problem], list[Problem]]:
    """The answers judged for each cluster: (unresolved host names, refused addresses and answers
    the services' dnssec modes refuse), each message once with the clusters whose services it concerns."""
    results = {r.host: r for r in results_from_detail(list(detail))}
    unresolved, refused = Found(), Found()
    # Clusters with the same input share one Prepared (check_clusters): each is judged once.
    verdicts: dict[int, tuple[list[str], list[str]]] = {}
    for host, run in ((h, r) for h, runs in judged.items() for r in runs):
        if id(run) not in verdicts:
            verdicts[id(run)] = _verdicts(run, results)
        not_resolved, not_allowed = verdicts[id(run)]
        for message in not_resolved:
            unresolved.add(message, host)
        for message in not_allowed:
            refused.add(message, host)
    return unresolved.problems(), refused.problems()


def _verdicts(run: Prepared, results: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """One run's answers judged: (messages of names that did not resolve, messages of refused answers)."""
    unresolved: list[str] = []
    refused: list[str] = []
    policy = run.policy()
    for service in run.ruleset.services:
        answers = service_answers(service, results)
        failed = [r for r in answers if r.error is not None and r.error.type not in POLICY_TYPES]
        unresolved.extend(result.error.message for result in failed)  # type: ignore[union-attr]
        if failed:
            continue
        refused.extend(
            unproven.message for unproven in judge_all(service.name, answers, service_mode(run.ruleset, service))[0]
        )
        found = refused_addresses(service.name, answers, policy, run.aggregation, service.allow_ranges)
        refused.extend(summarised(found))
    return unresolved, refused


def report(
    checked: Checked,
    unresolved: Sequence[Problem],
    refused: Sequence[Problem],
    *,
    on_error: str,
    hosts: Sequence[str],
) -> tuple[bool, str]:
    """Whether the run stops before any cluster is touched, and the one message that says why."""
    parts: list[tuple[str, Sequence[Problem]]] = [("invalid input", checked.problems)]
    if on_error == "fail":
        parts += [("host names that did not resolve", unresolved), ("answers egress rules never allow", refused)]
    count = sum(len(problems) for _title, problems in parts)
    if not count:
        return False, ""
    lines = [f"the rule set was applied to no cluster, {count} problem{'s' if count != 1 else ''}:"]
    for title, problems in parts:
        if problems:
            lines.append(f"{title}:")
            lines.extend(f"- {p.text(hosts)}" for p in problems)
    if on_error == "fail" and (unresolved or refused) and not checked.problems:
        lines.append(
            "With meshguard_egress_on_error=keep, the other services are applied and these keep their live rules."
        )
    return True, "\n".join(lines)


def resolution_key(
    names: Iterable[str], resolver: Any, snapshot: Any, max_age: Any, anchors: Optional[TrustAnchors] = None
) -> dict[str, Any]:
    """What a run's resolution depends on: a later serial batch with the same key reuses it."""
    key: dict[str, Any] = {"names": sorted(names)}
    if snapshot:
        key.update(snapshot=snapshot, max_age=max_age)
    else:
        key["resolver"] = resolver
        if anchors is not None:
            key["trust_anchors"] = list(anchors.texts)
    return key


def resolve_run(
    names: Sequence[str], resolver: Mapping[str, Any], anchors: Optional[TrustAnchors] = None
) -> list[dict[str, Any]]:
    """Every host name of the run asked once (validated by DNSSEC from ``anchors``), as the resolve lookup's
    detail form. Not judged here: each cluster's address policy and dnssec modes judge the answers
    (``judge``), as its rules task will."""
    if not names:
        return []
    return results_to_detail(resolve_names(list(names), ResolverOptions.from_dict(resolver), anchors))


def summary_lines(
    set_name: str,
    state: str,
    *,
    check_mode: bool,
    resolution: Mapping[str, Any],
    outcomes: Mapping[str, Optional[Mapping[str, Any]]],
    hosts: Sequence[str],
    in_batch: Sequence[str],
) -> list[str]:
    """The role's summary of a run: one line per cluster, then what was refused or did not resolve.

    ``outcomes``: each inventory host's recorded outcome (None: not reached yet). A failure message
    shared by several clusters is printed once, naming them.
    """
    mode = ", check mode: nothing was written" if check_mode else ""
    source = ""
    if state != "absent" and "time" in resolution:
        where = resolution.get("path") or resolution.get("source")
        if where:
            source = (
                f"; addresses of snapshot {where} taken {resolution['time']} "
                f"(sha256 {str(resolution.get('digest', ''))[:12]})"
            )
        else:
            source = f"; addresses resolved from DNS at {resolution['time']}"
    lines = [f"set {set_name}, state {state}{source}{mode}"]
    failures = Found()
    run_refused = {p["message"] for p in resolution.get("refused", [])}
    local_refused = Found()
    for host in hosts:
        outcome = outcomes.get(host)
        if outcome is None:
            why = (
                "not done yet (later serial batch)"
                if host in in_batch
                else "not reached (failed before the rule set was applied)"
            )
            lines.append(f"{host}: {why}")
            continue
        if outcome.get("failed"):
            message = str(outcome.get("msg") or "failed without a message")
            first = failures.where.get(message)
            failures.add(message, host)
            said = f"the same failure as {first[0]}" if first else message
            lines.append(f"{host}: FAILED ({outcome.get('cluster')}): {said}")
            continue
        counts = outcome.get("counts") or {}
        if outcome.get("state") == "rendered":
            where = f" into {outcome['dest']}" if outcome.get("dest") else ""
            lines.append(
                f"{host}: {counts.get('files', 0)} objects rendered{where} ({counts.get('written', 0)} files written, "
                f"{counts.get('removed', 0)} removed)"
            )
        else:
            line = (
                f"{host} ({outcome.get('cluster')}): {counts.get('create', 0)} created, {counts.get('update', 0)} "
                f"updated, {counts.get('delete', 0)} deleted, {counts.get('unchanged', 0)} unchanged"
            )
            if counts.get("conflicts"):
                line += f", {counts['conflicts']} conflicts"
            lines.append(line)
        for item in outcome.get("refused") or []:
            if item.get("message") not in run_refused:
                local_refused.add(item.get("message", ""), host)
    lines += [f"refused on {', '.join(p.hosts)}, its live rules kept: {p.message}" for p in local_refused.problems()]
    every = list(hosts)
    lines += [
        f"refused, live rules kept: {Problem(p['message'], tuple(p['hosts'])).text(every)}"
        for p in resolution.get("refused", [])
    ]
    lines += [
        f"not resolved, live rules kept: {Problem(p['message'], tuple(p['hosts'])).text(every)}"
        for p in resolution.get("unresolved", [])
    ]
    return lines
