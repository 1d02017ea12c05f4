# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The detail form of resolution results: plain dicts, written by the lookup
(``detail=true``) and read back by the modules (``resolved``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .._addresses import AggregateOptions, cidrs_of
from .._dnssec.validate import STATUSES
from .._errors import MeshguardError, OptionError
from .._scripts import to_unicode
from .._terms import KIND_NAME, parse_term
from .results import ERROR_TYPES, HostResult, ResolveError

DETAIL_KEYS = ("host", "unicode", "addresses", "cidrs", "cname_chain", "ttl", "error", "dnssec", "dnssec_reason")


def results_to_detail(results: Sequence[HostResult], aggregation: Optional[AggregateOptions] = None) -> list[dict]:
    """Plain dicts, one per result: the lookup's ``detail=true`` output.

    ``cidrs`` are each result's addresses aggregated with ``aggregation``.
    """
    return [
        {
            "host": r.host,
            # A reviewer reads the Unicode form: an internationalised name shows both (docs/docsite/rst/resolve.rst).
            "unicode": to_unicode(r.host) if r.kind == KIND_NAME else r.host,
            "addresses": list(r.addresses),
            "cidrs": list(cidrs),
            "cname_chain": list(r.cname_chain),
            "ttl": r.ttl,
            "error": None if r.error is None else {"type": r.error.type, "message": r.error.message},
            "dnssec": r.dnssec,
            "dnssec_reason": r.dnssec_reason,
        }
        for r, cidrs in zip(results, cidrs_of(results, aggregation))
    ]


def results_from_detail(items: Any) -> list[HostResult]:
    """Read the ``detail=true`` form back (e.g. a module's ``resolved`` input); errors name the entry and field.

    ``cidrs`` must be CIDR blocks, as the lookup writes them, but are not
    kept: whoever renders aggregates the addresses with its own options.
    """
    if not isinstance(items, (list, tuple)):
        raise OptionError(f"resolved: expected a list of results, got {type(items).__name__}")
    results = []
    problems = []
    for index, item in enumerate(items):
        try:
            results.append(_result_from_dict(item))
        except (MeshguardError, ValueError) as exc:
            problems.append(f"resolved[{index}]: {exc}")
    if problems:
        raise OptionError("; ".join(problems))
    return results


def _host_of(item: Mapping) -> Any:
    """The entry's host term; its ``unicode``, when given, must be the host's own Unicode form."""
    # The names were judged where they were written (the spec, with its allowance, or the lookup).
    term = parse_term(item["host"], allow_mixed_scripts=True)
    unicode = item.get("unicode")
    expected = to_unicode(term.value) if term.is_name else term.value
    if unicode is not None and unicode != expected:
        # The form a reviewer reads must be the host's own.
        raise ValueError(f"unicode {unicode!r} is not the Unicode form of host {term.value} ({expected})")
    return term


def _result_from_dict(item: Any) -> HostResult:
    if not isinstance(item, Mapping):
        raise ValueError(f"expected a dict with keys {', '.join(DETAIL_KEYS)}, got {type(item).__name__}")
    unknown = sorted(set(item) - set(DETAIL_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(map(str, unknown))}")
    if "host" not in item:
        raise ValueError("host is missing")
    term = _host_of(item)

    def strings(key: str) -> tuple[str, ...]:
        value = item.get(key) or []
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of strings")
        return tuple(value)

    addresses = strings("addresses")
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"addresses: {address!r} is not an IP address") from None
    for cidr in strings("cidrs"):
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            raise ValueError(f"cidrs: {cidr!r} is not a CIDR block") from None
    ttl = item.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0):
        raise ValueError(f"ttl must be a non-negative integer or null, got {ttl!r}")
    error = item.get("error")
    if error is not None:
        if not isinstance(error, Mapping) or error.get("type") not in ERROR_TYPES:
            raise ValueError(f"error must be null or {{type, message}} with type one of {', '.join(ERROR_TYPES)}")
        error = ResolveError(error["type"], str(error.get("message", "")))
    status = item.get("dnssec")
    if status is not None and status not in STATUSES:
        raise ValueError(f"dnssec must be null or one of {', '.join(STATUSES)}, got {status!r}")
    reason = item.get("dnssec_reason") or ""
    if not isinstance(reason, str):
        raise ValueError("dnssec_reason must be a string")
    return HostResult(
        host=term.value,
        kind=term.kind,
        addresses=addresses,
        cname_chain=strings("cname_chain"),
        ttl=ttl,
        error=error,
        dnssec=status,
        dnssec_reason=reason,
    )
