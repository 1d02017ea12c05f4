# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``dnssec`` option: what a DNSSEC verdict (``_dnssec``) does to an answer.

- ``off`` (the default): answers are not validated; nothing changes.
- ``prefer``: a ``bogus`` answer is refused; an ``insecure`` one (proven
  unsigned) is accepted with a warning.
- ``require``: only a ``secure`` answer is accepted.

A refused answer is handled as an answer the address policy refuses: the
host fails in the lookup (``DNSSEC``), and a service of ``rules`` is not
applied (nothing written with on_error=fail, its live objects kept with
keep). An answer given without a verdict (``resolved`` or a snapshot taken
without validation) counts as not proven: ``require`` refuses it,
``prefer`` warns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .._dns.results import HostResult
from .._errors import OptionError
from .._terms import KIND_NAME
from .anchors import TrustAnchors, parse_trust_anchors, root_anchors
from .validate import BOGUS, SECURE

OFF = "off"
PREFER = "prefer"
REQUIRE = "require"
MODES = (OFF, PREFER, REQUIRE)
DEFAULT_MODE = OFF
NOT_VALIDATED = "not validated (the answer was given without a DNSSEC verdict)"


def parse_mode(value: Any, field: str = "dnssec") -> str:
    """The option's value (None: the default). YAML reads an unquoted ``off`` as false."""
    if value is None:
        return DEFAULT_MODE
    if value is False or value == "False":
        return OFF
    if isinstance(value, str) and value in MODES:
        return value
    raise OptionError(f"{field}: must be one of {', '.join(MODES)}, got {value!r}")


def strongest(modes: Iterable[str]) -> str:
    """The mode that validates if any does (the resolution serves every service)."""
    found = set(modes)
    return next((mode for mode in reversed(MODES) if mode in found), OFF)


@dataclass(frozen=True)
class Unproven:
    """One answer the dnssec mode of a service (or of the lookup) refuses, and why."""

    service: str
    host: str
    status: Optional[str]
    reason: str
    mode: str
    cname_chain: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """Names the service (when there is one), the host and its CNAME chain, the verdict and its reason."""
        service = f"service {self.service!r}: " if self.service else ""
        via = f" (via CNAME {' -> '.join(self.cname_chain)})" if self.cname_chain else ""
        verdict = f"DNSSEC {self.status}: {self.reason}" if self.status else NOT_VALIDATED
        accepted = "secure answers only" if self.mode == REQUIRE else "no bogus answer"
        return f"{service}host {self.host}{via}: {verdict}; dnssec {self.mode} accepts {accepted}"

    def to_dict(self) -> dict[str, Any]:
        """The modules' form (RV refused), next to the address policy's refusals."""
        return {
            "service": self.service,
            "host": self.host,
            "address": None,
            "range": None,
            "dnssec": self.status,
            "message": self.message,
        }


def judge(service: str, result: HostResult, mode: str) -> tuple[Optional[Unproven], Optional[str]]:
    """(the refusal, the warning) of one result under ``mode``; literals and failed hosts pass."""
    if mode == OFF or result.kind != KIND_NAME or result.error is not None:
        return None, None
    status = result.dnssec
    if status == SECURE:
        return None, None
    if status == BOGUS or mode == REQUIRE:
        return Unproven(service, result.host, status, result.dnssec_reason, mode, result.cname_chain), None
    where = f"service {service!r}: " if service else ""
    verdict = f"DNSSEC {status}: {result.dnssec_reason}" if status else NOT_VALIDATED
    return None, f"{where}host {result.host}: accepted without DNSSEC proof ({verdict}); dnssec {mode}"


def judge_all(service: str, results: Iterable[HostResult], mode: str) -> tuple[list[Unproven], list[str]]:
    """The refusals and warnings of a service's answers."""
    refused, warnings = [], []
    for result in results:
        refusal, warning = judge(service, result, mode)
        if refusal is not None:
            refused.append(refusal)
        if warning is not None:
            warnings.append(warning)
    return refused, warnings


def service_mode(ruleset: Any, service: Any) -> str:
    """A service's mode: its own ``dnssec``, else the rule set's."""
    return service.dnssec or ruleset.dnssec


def anchors_for(ruleset: Any) -> Optional[TrustAnchors]:
    """The anchors to validate a rule set's answers with, or None when no service asks for DNSSEC."""
    if all(service_mode(ruleset, s) == OFF for s in ruleset.services):
        return None
    return ruleset.trust_anchors or root_anchors()


def ruleset_options(spec: Any, error: Callable[[str, str], Any]) -> tuple[str, Optional[TrustAnchors]]:
    """The rule set's ``dnssec`` and ``trust_anchors`` (None: the root's), checked; problems go to
    ``error(field, message)``."""
    mode, anchors = DEFAULT_MODE, None
    try:
        mode = parse_mode(spec.get("dnssec"))
    except OptionError as exc:
        error("dnssec", str(exc).partition(": ")[2])
    if spec.get("trust_anchors") not in (None, []):
        try:
            anchors = parse_trust_anchors(spec.get("trust_anchors"))
        except OptionError as exc:
            error("", str(exc))
    return mode, anchors


def service_option(item: Any, error: Callable[[str, str], Any]) -> Optional[str]:
    """A service's own ``dnssec`` (None: the rule set's), checked; a problem goes to ``error``."""
    if item.get("dnssec") is None:
        return None
    try:
        return parse_mode(item.get("dnssec"))
    except OptionError as exc:
        error("dnssec", str(exc).partition(": ")[2])
        return None
