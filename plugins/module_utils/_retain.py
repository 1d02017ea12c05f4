# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address retention for DNS that answers with a rotating or shrinking set.

An address that DNS stops returning stays in the rule until it has been
missing for the retention window. What is needed to decide that lives on the
objects themselves, in one annotation per service object:

    meshguard.egress/last-seen: {"192.0.2.1": "", "192.0.2.2": "2026-11-26T12:00:00Z"}

Every address the service's host names resolved to is listed. An empty value
means "in the latest answer"; a time means "missing from every answer since
the run at that time" (the address was last seen by the run before). So the
annotation changes only when the answers change, and it is the same whichever
controller runs next. Literal IPs and CIDRs of the rule set are never
retained: removing one is the user's intent.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import OptionError

LAST_SEEN_ANNOTATION = "meshguard.egress/last-seen"
DEFAULT_RETAIN = "24h"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(?:(\d+)([smhdw]))+$")
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(value: Any, option: str = "retain") -> int:
    """Seconds in a duration such as ``24h``, ``90m``, ``1h30m``, ``7d`` or ``0``; errors name ``option``."""
    if isinstance(value, bool):
        raise OptionError(f"{option} must be a duration such as 24h, 30m or 0, got {value!r}")
    if isinstance(value, int) and value >= 0:
        return value
    text = str(value).strip().lower()
    if text == "0":
        return 0
    if not _DURATION.match(text):
        raise OptionError(f"{option} must be a duration such as 24h, 30m, 1h30m or 0, got {value!r}")
    return sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(text))


def timestamp(now: datetime.datetime) -> str:
    return now.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def parse_time(value: Any, option: str) -> datetime.datetime:
    """A time as ``timestamp`` writes it (UTC, RFC 3339, whole seconds); errors name ``option``."""
    try:
        return _parse_time(str(value))
    except ValueError:
        raise OptionError(f"{option}: expected a UTC time such as 2026-12-01T10:00:00Z, got {value!r}") from None


@dataclass(frozen=True)
class Retention:
    """The outcome for one service."""

    # addresses to render: the latest answer plus those still retained
    addresses: tuple[str, ...]
    # the annotation's value, as a dict
    last_seen: dict[str, str]
    # (address, missing since) still in the rule / dropped now
    retained: tuple[tuple[str, str], ...] = ()
    expired: tuple[tuple[str, str], ...] = ()
    warnings: list[str] = field(default_factory=list)


def record_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """The last-seen map of one object (empty when it has none, or a broken one: start afresh)."""
    text = ((obj.get("metadata") or {}).get("annotations") or {}).get(LAST_SEEN_ANNOTATION)
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {
        str(address): since
        for address, since in found.items()
        if isinstance(since, str) and (not since or _valid_time(since))
    }


def merge(records: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Records of one service's objects merged: an address missing on one and seen on another counts as seen."""
    merged: dict[str, str] = {}
    for record in records:
        for address, since in record.items():
            if address not in merged or since == "" or (merged[address] and since > merged[address]):
                merged[address] = since
    return merged


def previous(objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The last-seen map found on a service's live objects, merged."""
    return merge(record_of(obj) for obj in objects)


# A record "missing since" later than now by more than this is a forgery (clocks of two
# controllers may differ by a little).
CLOCK_SKEW = 300


@dataclass(frozen=True)
class Verified:
    """A service's last-seen record, checked against what its live objects hold."""

    # The entries retention may use.
    trusted: dict[str, str]
    # One message per entry (or record) that does not match what was applied: never used.
    tampered: tuple[str, ...] = ()


def verify(
    service: str,
    before: Mapping[str, str],
    held: Iterable[str],
    now: datetime.datetime,
    *,
    foreign_writers: Iterable[str] = (),
) -> Verified:
    """The entries of the last-seen record that the collection can have written.

    An address may come back into a rule from a retention record only when the rule really
    held it (``held``: the CIDR blocks and addresses of the service's live objects) and the
    record's time is not in the future. ``foreign_writers``: field managers other than the
    collection that wrote the record (the API server's managedFields): then no entry is used.
    Anything else is reported as tampering and never widens a rule.
    """
    writers = sorted(set(foreign_writers))
    if writers and before:
        return Verified(
            {},
            (
                f"service {service!r}: the last-seen record was written by {', '.join(writers)}, not by "
                "meshguard.egress: tampering suspected, the record is ignored and retains nothing",
            ),
        )
    networks = []
    for text in held:
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            continue
    trusted: dict[str, str] = {}
    tampered: list[str] = []
    for address, since in sorted(before.items()):
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            tampered.append(f"service {service!r}: last-seen record names {address!r}, not an address: ignored")
            continue
        if since and (_parse_time(since) - now).total_seconds() > CLOCK_SKEW:
            tampered.append(
                f"service {service!r}: last-seen record says {address} was missing since {since}, a time in the "
                "future: tampering suspected, not retained"
            )
        elif not any(ip in network for network in networks):
            tampered.append(
                f"service {service!r}: last-seen record names {address}, which the applied rule does not hold: "
                "tampering suspected, not retained"
            )
        else:
            trusted[address] = since
    return Verified(trusted, tuple(tampered))


def record_writers(obj: Mapping[str, Any], own_manager: str) -> list[str]:
    """The field managers besides ``own_manager`` that own the last-seen annotation of ``obj``."""
    key = f"f:{LAST_SEEN_ANNOTATION}"
    found = []
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        annotations = ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get("f:annotations") or {}
        manager = entry.get("manager", "")
        if key in annotations and manager != own_manager:
            found.append(manager or "(unnamed)")
    return found


def _valid_time(text: str) -> bool:
    try:
        _parse_time(text)
    except ValueError:
        return False
    return True


def retain(
    service: str, current: Iterable[str], before: Mapping[str, str], now: datetime.datetime, window: int
) -> Retention:
    """Which addresses stay, given this run's answer and the last-seen map."""
    seen = sorted(set(current))
    last_seen = dict.fromkeys(seen, "")
    retained, expired = [], []
    stamp = timestamp(now)
    for address, recorded in sorted(before.items()):
        if address in last_seen:
            continue
        since = recorded or stamp  # missing for the first time in this run
        if (now - _parse_time(since)).total_seconds() < window:
            last_seen[address] = since
            retained.append((address, since))
        else:
            expired.append((address, since))
    warnings = [
        f"service {service!r}: {address} is no longer returned by DNS (since {since}); kept for the retention window"
        for address, since in retained
    ]
    warnings += [
        f"service {service!r}: {address} has not been returned by DNS since {since}; removed (retention expired)"
        for address, since in expired
    ]
    return Retention(
        addresses=tuple(seen) + tuple(address for address, _since in retained),
        last_seen=dict(sorted(last_seen.items())),
        retained=tuple(retained),
        expired=tuple(expired),
        warnings=warnings,
    )


def annotation_value(last_seen: Mapping[str, str]) -> str:
    """Compact and sorted: the same map always gives the same string."""
    return json.dumps(dict(sorted(last_seen.items())), separators=(",", ":"))
