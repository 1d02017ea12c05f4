# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of option values, with messages that name the option.

The library is called with plain data (from Ansible, or from tests and
benchmarks directly), so it checks types itself rather than trusting them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._errors import OptionError


def integer(name: str, value: Any, low: int, high: int) -> int:
    """An int, or a string of one, within [low, high]."""
    if isinstance(value, bool):
        raise OptionError(f"{name} must be an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be an integer, got {value!r}") from None
    if number != value and not isinstance(value, str):
        raise OptionError(f"{name} must be an integer, got {value!r}")
    if not low <= number <= high:
        raise OptionError(f"{name} must be between {low} and {high}, got {number}")
    return number


def seconds(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool):
        raise OptionError(f"{name} must be a number of seconds, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number of seconds, got {value!r}") from None
    if not low <= number <= high:
        raise OptionError(f"{name} must be between {low} and {high} seconds, got {value!r}")
    return number


def boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise OptionError(f"{name} must be true or false, got {value!r}")


def choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise OptionError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
