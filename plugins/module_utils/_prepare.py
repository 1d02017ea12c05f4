# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything a run of ``rules`` or ``rules_info`` is given, checked at once.

``prepare(settings)`` validates the rule set, the resolver and aggregation
options, the policy and any pre-resolved answers, and reports every problem
in one SpecError, before any DNS query or API request.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Optional

from ._addresses import AggregateOptions, literal_problem
from ._dns.detail import results_from_detail
from ._dns.options import ResolverOptions
from ._dns.results import POLICY_TYPES, HostResult
from ._errors import MeshguardError
from ._policy.judge import AddressPolicy, Range, internal, parse_blocks_at
from ._policy.refusals import literal_problems
from ._problems import Problem
from ._retain import DEFAULT_RETAIN, parse_duration, parse_time
from ._spec import RuleSet, SpecError, validate_ruleset

STATES = ("present", "absent", "rendered")
# What a service whose hosts did not resolve does: fail the run, or keep its live objects.
ON_ERROR = ("fail", "keep")


@dataclass(frozen=True)
class Settings:
    """Everything a run needs besides the cluster, as plain data (the modules' options)."""

    spec: dict
    state: str = "present"
    prune: bool = True
    force: bool = False
    on_error: str = "fail"
    resolver: dict = field(default_factory=dict)
    aggregation: dict = field(default_factory=dict)
    resolved: Optional[list] = None
    # When ``resolved`` was taken (UTC, RFC 3339): retention's clock, the same on every cluster of a run.
    resolved_at: Optional[str] = None
    dest: Optional[str] = None
    retain: Any = DEFAULT_RETAIN
    # CIDR blocks of the cluster's network that it cannot report itself (_policy.judge).
    internal_ranges: Optional[list] = None
    # The clock of retention; tests pass their own.
    now: Optional[datetime.datetime] = None


@dataclass(frozen=True)
class Prepared:
    """The checked input of one run, with the policy as it applies to its state."""

    ruleset: RuleSet
    resolver: ResolverOptions
    aggregation: AggregateOptions
    # Pre-resolved answers by host name, or None: resolve the rule set's names.
    resolved: Optional[dict[str, HostResult]]
    state: str = "present"
    prune: bool = True
    force: bool = False
    on_error: str = "fail"
    retain: int = 0
    dest: Optional[str] = None
    now: Optional[datetime.datetime] = None
    internal: tuple[Range, ...] = ()

    def policy(self, cluster: tuple[Range, ...] = ()) -> AddressPolicy:
        """The address policy of this run: the built-in ranges, internal_ranges, and the cluster's."""
        return AddressPolicy((*self.internal, *cluster), locked=self.ruleset.guardrail is not None)


def prepare(settings: Settings) -> Prepared:
    """Validate all input; one SpecError lists every problem."""
    # An option's own error names the option in its message: a problem without a field.
    errors: list[Problem] = []
    spec = dict(settings.spec)
    if settings.state == "absent" and not spec.get("services"):
        spec["services"] = []  # removing a set needs only its name
    resolver = aggregation = ruleset = None
    window = 0
    try:
        window = parse_duration(settings.retain)
    except MeshguardError as e:
        errors.append(Problem(str(e)))
    try:
        resolver = ResolverOptions.from_dict(settings.resolver)
    except MeshguardError as e:
        errors.append(Problem(str(e)))
    try:
        aggregation = AggregateOptions.from_dict(settings.aggregation)
    except MeshguardError as e:
        errors.append(Problem(str(e)))
    try:
        # The breadth guard on literal IPs and CIDR blocks, so that validation
        # reports them with the service and field.
        ruleset = validate_ruleset(
            spec,
            partial(literal_problem, options=aggregation) if aggregation else None,
            removing=settings.state == "absent",
        )
    except SpecError as e:
        errors[:0] = e.problems
    if settings.state not in STATES:
        errors.append(Problem(f"must be one of {', '.join(STATES)}, got {settings.state!r}", "state"))
    if settings.on_error not in ON_ERROR:
        errors.append(Problem(f"must be one of {', '.join(ON_ERROR)}, got {settings.on_error!r}", "on_error"))
    blocks, problems = parse_blocks_at(settings.internal_ranges, "internal_ranges")
    errors.extend(Problem(message, field) for field, message in problems)
    internal_ranges = internal(blocks)
    if ruleset is not None:
        # The rule set's own literals against what is known before any request (the cluster's
        # ranges are read later, and judged then).
        locked = ruleset.guardrail is not None
        errors.extend(literal_problems(ruleset, AddressPolicy(internal_ranges, locked=locked)))
    resolved = _check_resolved(settings.resolved, ruleset, errors)
    now = settings.now
    if settings.resolved_at is not None:
        if settings.resolved is None:
            errors.append(Problem("only with resolved (it says when those answers were taken)", "resolved_at"))
        try:
            now = parse_time(settings.resolved_at, "resolved_at")
        except MeshguardError as e:
            errors.append(Problem(str(e)))
    if errors or ruleset is None or resolver is None or aggregation is None:
        raise SpecError(errors)
    return Prepared(
        ruleset,
        resolver,
        aggregation,
        resolved,
        state=settings.state,
        # Removing a set removes everything it owns.
        prune=settings.prune or settings.state == "absent",
        force=settings.force,
        # Rendered manifests have no live objects to keep: a failed host fails the run.
        on_error="fail" if settings.state == "rendered" else settings.on_error,
        retain=window,
        dest=settings.dest,
        now=now,
        internal=internal_ranges,
    )


def _check_resolved(
    given: Optional[list], ruleset: Optional[RuleSet], errors: list[Problem]
) -> Optional[dict[str, HostResult]]:
    """Pre-resolved answers by host; every host name of the set must be there."""
    if given is None:
        return None
    try:
        # A refusal by the lookup was judged without the services' allow_ranges, the
        # cluster's ranges and the services' dnssec modes: the answers are judged again
        # here, with the run's policies.
        resolved = {r.host: _unjudged(r) for r in results_from_detail(given)}
    except MeshguardError as e:
        errors.append(Problem(str(e), "resolved"))
        return None
    for index, service in enumerate(ruleset.services if ruleset else ()):
        if service.addresses is not None:
            continue
        for name in service.host_names:
            if name not in resolved:
                errors.append(
                    Problem(
                        f"{name} is not in `resolved`; resolve every host of the rule set "
                        "(the lookup with detail=true)",
                        "hosts",
                        service.name,
                        index,
                    )
                )
    return resolved


def _unjudged(result: HostResult) -> HostResult:
    if result.error is not None and result.error.type in POLICY_TYPES:
        return replace(result, error=None)
    return result
