# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``meshguard.egress.resolve`` lookup, as plain data in and out.

    terms -> parse (every invalid term at once) -> guard the literals
          -> resolve the names -> on_error policy -> merged CIDRs, or the detail form

Everything is checked before the first DNS query: the options, the terms,
and IP literals or CIDR blocks broader than the guard allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from ._addresses import AggregateOptions, AggregationError, literal_problem, merged_cidrs
from ._dns_detail import results_to_detail
from ._dns_options import ResolverOptions
from ._dns_results import HostResult
from ._errors import MeshguardError
from ._resolve import resolve
from ._terms import parse_terms
from ._values import choice

# What a host that did not resolve does to the lookup's answer.
ON_ERROR_CHOICES = ("fail", "warn", "omit")
DEFAULT_ON_ERROR = "fail"


class ResolutionFailed(MeshguardError):
    """Raised by apply_on_error with on_error=fail; ``results`` are the failed ones."""

    def __init__(self, results: Sequence[HostResult]) -> None:
        self.results = list(results)
        messages = [str(r.error) for r in self.results if r.error]
        super().__init__(f"DNS resolution failed for {len(messages)} host(s): " + "; ".join(messages))


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
) -> tuple[list[Any], list[str]]:
    """The lookup's answer for ``terms`` (lists flattened one level), and its warnings."""
    flat: list[Any] = []
    for term in terms:
        flat.extend(term if isinstance(term, (list, tuple)) else [term])
    resolver_options = ResolverOptions.from_dict(resolver)
    aggregate_options = AggregateOptions.from_dict(aggregation)
    policy = on_error_policy(on_error)
    parsed = parse_terms(flat)
    # Literals that break the guard fail before any query is sent, all at once.
    problems = [literal_problem(t.value, aggregate_options) for t in parsed if not t.is_name]
    if any(problems):
        raise AggregationError([problem for problem in problems if problem])
    results = resolve(parsed, resolver_options)
    warnings = apply_on_error(results, policy)
    if detail:
        return results_to_detail(results, aggregate_options), warnings
    return merged_cidrs(results, aggregate_options), warnings
