# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The address policy applied to a service: which of its DNS answers and literals are refused.

Each resolved address is judged as it would be rendered (widened by
ipv4_prefix / ipv6_prefix), each literal as written. A refusal names the
service, the host (and the CNAME chain that led there), the address and the
range with why; ``_desired`` then treats the service as not resolved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from .._addresses import AggregateOptions, widened
from .._dns.results import HostResult
from .._problems import Problem
from .._scripts import shown, to_unicode
from .._spec import RuleSet
from .._terms import KIND_NAME
from .judge import AddressPolicy, Refusal


@dataclass(frozen=True)
class RefusedAddress:
    """One refused address of a service, where it came from, and why."""

    service: str
    host: str
    address: str
    refusal: Refusal
    cname_chain: tuple[str, ...] = ()
    literal: bool = False

    @property
    def message(self) -> str:
        """Names the service (when there is one), the host, the address, and the range with why."""
        service = f"service {self.service!r}: " if self.service else ""
        if self.literal:
            return f"{service}{self.address} (written as given): {self.refusal}"
        via = f" (via CNAME {' -> '.join(self.cname_chain)})" if self.cname_chain else ""
        block = self.refusal.value
        widening = f" (widened to {block})" if "/" in block else ""
        return f"{service}host {shown(self.host)}{via} answered {self.address}{widening}: {self.refusal}"

    def to_dict(self) -> dict[str, Any]:
        """The module result's form (RV refused)."""
        return {
            "service": self.service,
            "host": self.host,
            "unicode": to_unicode(self.host),
            "address": self.address,
            "range": self.refusal.range.cidr,
            "message": self.message,
        }


# Addresses a summary names before it counts the rest: the first few and the last few.
SHOWN_FIRST = 3
SHOWN_LAST = 2


def summarised(refused: Sequence[RefusedAddress]) -> list[str]:
    """One sentence per (service, host, refused range): a host that answers 120 private addresses is one
    sentence with the count and the first and last few, not 120 copies (the full list stays in the
    structured ``refused`` result)."""
    groups: dict[tuple, list[RefusedAddress]] = {}
    for item in refused:
        # A widened answer keeps its own sentence: it names the block it was widened to.
        widened_to = item.refusal.value if "/" in item.refusal.value else ""
        key = (item.service, item.host, item.cname_chain, item.literal, item.refusal.range.cidr, widened_to)
        groups.setdefault(key, []).append(item)
    lines = []
    for items in groups.values():
        if len(items) == 1:
            lines.append(items[0].message)
            continue
        first = items[0]
        addresses = [i.address for i in items]
        if len(addresses) > SHOWN_FIRST + SHOWN_LAST + 1:
            more = len(addresses) - SHOWN_FIRST - SHOWN_LAST
            shown = ", ".join(addresses[:SHOWN_FIRST]) + ", ..., " + ", ".join(addresses[-SHOWN_LAST:])
            shown += f" (and {more} more)"
        else:
            shown = ", ".join(addresses)
        service = f"service {first.service!r}: " if first.service else ""
        via = f" (via CNAME {' -> '.join(first.cname_chain)})" if first.cname_chain else ""
        where = "written as given" if first.literal else f"host {first.host}{via} answered"
        reason = first.refusal.why.split(f"{first.refusal.range}: ", 1)[-1]
        lines.append(f"{service}{where} {len(addresses)} addresses in {first.refusal.range}: {shown}: {reason}")
    return lines


def refused_addresses(
    service: str,
    answers: Iterable[HostResult],
    policy: AddressPolicy,
    aggregation: Optional[AggregateOptions] = None,
    allow: Sequence[str] = (),
) -> list[RefusedAddress]:
    """Every refused address of a service's answers (results with an error have none).

    ``service`` may be empty (the lookup judges terms, not services).
    """
    found: list[RefusedAddress] = []
    for result in answers:
        if result.error is not None:
            continue
        if result.kind != KIND_NAME:
            refusal = policy.judge(result.host, literal=True, allow=allow)
            if refusal:
                found.append(RefusedAddress(service, result.host, result.host, refusal, literal=True))
            continue
        for address in result.addresses:
            refusal = refusal_of(address, policy, aggregation, allow)
            if refusal:
                found.append(RefusedAddress(service, result.host, address, refusal, result.cname_chain))
    return found


def refusal_of(
    address: str, policy: AddressPolicy, aggregation: Optional[AggregateOptions], allow: Sequence[str]
) -> Optional[Refusal]:
    """The refusal of one resolved address (e.g. a retained one), as rendered: widened by ipv4_prefix / ipv6_prefix."""
    options = aggregation or AggregateOptions()
    if options.ipv4_prefix < 32 or options.ipv6_prefix < 128:
        block = widened(address, options)
        if not block.endswith(("/32", "/128")):
            return policy.judge(block, allow=allow)
    return policy.judge(address, allow=allow)


def literal_problems(ruleset: RuleSet, policy: AddressPolicy) -> list[Problem]:
    """The rule set's own IPs and CIDR blocks that the policy refuses, one problem each naming
    the service and field: bad input, reported before any DNS query or API request."""
    problems: list[Problem] = []
    for index, service in enumerate(ruleset.services):
        given = [(f"hosts[{i}]", h.value) for i, h in enumerate(service.hosts) if h.kind != KIND_NAME]
        given += [("addresses", a) for a in service.addresses or ()]
        for field, value in given:
            refusal = policy.judge(value, literal=True, allow=service.allow_ranges)
            if refusal:
                problems.append(Problem(str(refusal), field, service.name, index))
    return problems


def as_dicts(refused: Mapping[str, Sequence[RefusedAddress]]) -> list[dict[str, Any]]:
    return [item.to_dict() for _service, items in sorted(refused.items()) for item in items]
