# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Problems with the input, as data: which service, which field, what is wrong.

Validation records each problem where it finds it (``Report.error`` knows the
field, ``Report.scoped`` the service), so that the adapters return them as
data (``errors``: service, field, message) beside the one message that lists
them all (``SpecError``). The rule-set core (``_spec``) and each feature's own
rules (``_gateway.spec``, ``_ambient.spec``) report into the same ``Report``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional, Union

from ._errors import MeshguardError, OptionError


@dataclass(frozen=True)
class Problem:
    """One problem with the input. ``service`` and ``index``: the service's name (None when it has
    none) and position in ``services``; both None for the rule set's own options. ``field``: the
    field within the service or the rule set ("" when the problem is about the whole)."""

    message: str
    field: str = ""
    service: Optional[str] = None
    index: Optional[int] = None

    @property
    def where(self) -> str:
        """The service as messages name it: ``services[0] 'mongo'``."""
        if self.index is None:
            return "" if self.service is None else repr(self.service)
        return f"services[{self.index}]" + ("" if self.service is None else f" {self.service!r}")

    def __str__(self) -> str:
        location = ": ".join(part for part in (self.where, self.field) if part)
        return f"{location}: {self.message}" if location else self.message

    def as_dict(self) -> dict[str, Any]:
        """As results return it (``errors``)."""
        return {"service": self.service, "index": self.index, "field": self.field or None, "message": self.message}


class Report:
    """Collects every problem; ``scoped`` records them for one service."""

    def __init__(self, problems: Optional[list[Problem]] = None, index: Optional[int] = None, service: Any = None):
        self.problems: list[Problem] = [] if problems is None else problems
        self.index = index
        # A name that is not a string is reported by the name's own rule; the service is then named by position.
        self.service = service if isinstance(service, str) else None

    def scoped(self, index: int, service: Any) -> Report:
        return Report(self.problems, index, service)

    def error(self, field: str, message: str) -> None:
        self.problems.append(Problem(message, field, self.service, self.index))


class InputError(MeshguardError):
    """Problems with the input: said in the message, and listed as data in ``problems``."""

    def __init__(self, message: str, problems: Iterable[Problem]) -> None:
        super().__init__(message)
        self.problems = list(problems)


class SpecError(InputError):
    """The input is invalid: ``problems`` lists every problem as data, ``errors`` one message each."""

    def __init__(self, problems: Iterable[Union[Problem, str]]) -> None:
        # A plain string is a problem of the whole input, without a field.
        found = [p if isinstance(p, Problem) else Problem(p) for p in problems]
        self.errors = [str(p) for p in found]
        count = len(self.errors)
        lines = "\n".join(f"- {error}" for error in self.errors)
        super().__init__(f"invalid rule set ({count} error{'s' if count != 1 else ''}):\n{lines}", found)


class ProblemsError(OptionError):
    """Several problems with an option, in one line (as OptionError says them), and as data."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(map(str, self.problems)))


def errors_of(error: BaseException) -> list[dict[str, Any]]:
    """The ``errors`` of a failed task's result: the error's problems with the input, as data
    (empty when the failure is not about the input, such as an API server that cannot be reached)."""
    # Other errors carry ``problems`` too, as text (what a cluster holds: its gateway, its namespaces).
    return [p.as_dict() for p in getattr(error, "problems", None) or () if isinstance(p, Problem)]
