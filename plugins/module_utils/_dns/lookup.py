# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``meshguard.egress.resolve`` lookup, as plain data in and out.

    terms -> parse (every invalid term at once) -> guard the literals
          -> resolve the names (validated with dnssec) -> the dnssec and address
          policies -> on_error policy -> merged CIDRs, or the detail form

Everything is checked before the first DNS query: the options, the terms,
IP literals or CIDR blocks broader than the guard allows, and literals the
address policy refuses. A name whose answer holds a refused address is a
failed host (``FORBIDDEN_ADDRESS``), whatever else it answered: all or nothing;
so is a name whose answer the dnssec mode refuses (``DNSSEC``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Optional

from .._addresses import AggregateOptions, AggregationError, literal_problem, merged_cidrs
from .._dnssec.anchors import parse_trust_anchors
from .._dnssec.policy import OFF, judge, parse_mode
from .._errors import MeshguardError, OptionError
from .._policy.judge import AddressPolicy, internal, parse_blocks
from .._policy.refusals import refused_addresses, summarised
from .._terms import parse_terms
from .._values import choice
from .detail import results_to_detail
from .options import ResolverOptions
from .resolve import resolve
from .results import DNSSEC, FORBIDDEN_ADDRESS, HostResult, ResolveError, literal_result

# What a host that did not resolve does to the lookup's answer.
ON_ERROR_CHOICES = ("fail", "warn", "omit")
DEFAULT_ON_ERROR = "fail"


class ResolutionFailed(MeshguardError):
    """Raised by apply_on_error with on_error=fail; ``results`` are the failed ones."""

    def __init__(self, results: Sequence[HostResult]) -> None:
        self.results = list(results)
        refused = [str(r.error) for r in self.results if r.error and r.error.type == FORBIDDEN_ADDRESS]
        unproven = [str(r.error) for r in self.results if r.error and r.error.type == DNSSEC]
        failed = [str(r.error) for r in self.results if r.error and r.error.type not in (FORBIDDEN_ADDRESS, DNSSEC)]
        parts = []
        if failed:
            parts.append(f"DNS resolution failed for {len(failed)} host(s): " + "; ".join(failed))
        if refused:
            parts.append(f"{len(refused)} host(s) answered addresses egress rules never allow: " + "; ".join(refused))
        if unproven:
            parts.append(f"{len(unproven)} host(s) answered without DNSSEC proof: " + "; ".join(unproven))
        super().__init__("; ".join(parts))


def on_error_policy(value: Any = None) -> str:
    """The lookup's ``on_error`` (None: the default), checked."""
    return DEFAULT_ON_ERROR if value is None else choice("on_error", value, ON_ERROR_CHOICES)


def apply_on_error(results: Sequence[HostResult], on_error: str) -> list[str]:
    """Apply the on_error policy: raise ResolutionFailed (fail), return warnings (warn) or nothing (omit)."""
    failed = [r for r in results if r.error is not None]
    if not failed:
        return []
    if on_error == "fail":
        raise ResolutionFailed(failed)
    if on_error == "warn":
        return [f"{r.error}; it contributes no address" for r in failed if r.error]
    return []


def lookup(
    terms: Iterable[Any],
    resolver: Optional[Mapping[str, Any]] = None,
    aggregation: Optional[Mapping[str, Any]] = None,
    on_error: Any = None,
    detail: bool = False,
    *,
    internal_ranges: Any = None,
    allow_ranges: Any = None,
    dnssec: Any = None,
    trust_anchors: Any = None,
    allow_mixed_scripts: Any = None,
) -> tuple[list[Any], list[str]]:
    """The lookup's answer for ``terms`` (lists flattened one level), and its warnings."""
    flat: list[Any] = []
    for term in terms:
        flat.extend(term if isinstance(term, (list, tuple)) else [term])
    resolver_options = ResolverOptions.from_dict(resolver)
    aggregate_options = AggregateOptions.from_dict(aggregation)
    policy = on_error_policy(on_error)
    internal_blocks, problems = parse_blocks(internal_ranges, "internal_ranges")
    allow, more = parse_blocks(allow_ranges, "allow_ranges")
    if problems or more:
        raise OptionError("; ".join(problems + more))
    addresses = AddressPolicy(internal(internal_blocks))
    if allow_mixed_scripts is not None and not isinstance(allow_mixed_scripts, (list, tuple)):
        kind = type(allow_mixed_scripts).__name__
        raise OptionError(f"allow_mixed_scripts: must be a list of host names, got {kind}")
    mode = parse_mode(dnssec)
    anchors = parse_trust_anchors(trust_anchors) if mode != OFF else None
    parsed = parse_terms(flat, allow_mixed_scripts or ())
    # Literals that break the guard or the address policy fail before any query is sent, all at once.
    literals = [literal_result(t) for t in parsed if not t.is_name]
    problems = [literal_problem(r.host, aggregate_options) for r in literals]
    problems += [r.message for r in refused_addresses("", literals, addresses, aggregate_options, allow)]
    if any(problems):
        raise AggregationError([problem for problem in problems if problem])
    warnings: list[str] = []
    results = []
    for answer in resolve(parsed, resolver_options, anchors):
        proven, warning = _proven(answer, mode)
        warnings += [warning] if warning else []
        results.append(_judged(proven, addresses, aggregate_options, allow))
    warnings += apply_on_error(results, policy)
    if detail:
        return results_to_detail(results, aggregate_options), warnings
    return merged_cidrs(results, aggregate_options), warnings


def _proven(result: HostResult, mode: str) -> tuple[HostResult, Optional[str]]:
    """A name whose answer the dnssec mode refuses fails as a whole; its addresses stay in the detail form."""
    refusal, warning = judge("", result, mode)
    if refusal is None:
        return result, warning
    return replace(result, error=ResolveError(DNSSEC, refusal.message)), None


def _judged(
    result: HostResult, policy: AddressPolicy, aggregation: AggregateOptions, allow: Sequence[str]
) -> HostResult:
    """A name whose answer holds a refused address fails as a whole; its addresses stay in the detail form."""
    if result.error is not None or not result.addresses:
        return result
    refused = refused_addresses("", [result], policy, aggregation, allow)
    if not refused:
        return result
    return replace(result, error=ResolveError(FORBIDDEN_ADDRESS, "; ".join(summarised(refused))))
