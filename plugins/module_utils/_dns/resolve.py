# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve destination terms to addresses: the entry point of the resolver.

``resolve(terms, options)`` parses the terms (``_terms``), lets IP literals
and CIDR blocks pass through, and resolves every distinct host name once
(``_dns.engine`` for the logic, ``_dns.transport`` for the I/O). It returns
addresses; aggregating them into CIDR blocks is ``_addresses``' job. Given
trust anchors, every name's answer is validated by DNSSEC as well
(``_dnssec.validate``); what a verdict does is the caller's policy (``_dnssec.policy``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Union

from .._dnssec.anchors import TrustAnchors
from .._terms import Term, parse_terms
from .engine import Engine
from .options import ResolverOptions
from .results import HostResult, literal_result
from .transport import Pipeline, perform, run_blocking


def resolve(
    terms: Union[str, Iterable[Union[str, Term]]],
    options: Optional[ResolverOptions] = None,
    anchors: Optional[TrustAnchors] = None,
) -> list[HostResult]:
    """One HostResult per term, in input order.

    Invalid terms raise TermError (all of them at once) before any query.
    DNS failures are returned in the results' ``error``: what they do is the
    caller's policy.
    """
    parsed = parse_terms([terms] if isinstance(terms, str) else terms)
    names = sorted({t.value for t in parsed if t.is_name})
    by_name = dict(zip(names, resolve_names(names, options or ResolverOptions(), anchors))) if names else {}
    return [by_name[t.value] if t.is_name else literal_result(t) for t in parsed]


def resolve_names(
    names: Sequence[str], options: ResolverOptions, anchors: Optional[TrustAnchors] = None
) -> list[HostResult]:
    """Host names in normal form to one HostResult each, ``concurrency`` at a time; with
    ``anchors``, validated by DNSSEC (the keys of each zone asked for once)."""
    engine = Engine(options, anchors)
    workers = min(options.concurrency, len(names))
    if workers <= 1:
        return [run_blocking(engine.resolution(name), perform) for name in names]
    if options.tcp:
        # TCP exchanges block, so they run in threads.
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="meshguard-dns") as pool:
            return list(pool.map(lambda name: run_blocking(engine.resolution(name), perform), names))
    return Pipeline([engine.resolution(name) for name in names], workers).run()
