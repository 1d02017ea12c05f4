# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse and classify one destination term: a host name, an IP address or a CIDR block.

Only the standard library is used, so a spec can be validated before anything
else is imported or any network call is made.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Optional, Union

from ._errors import MeshguardError
from ._scripts import mixed_script_problem, shown

try:
    import idna as _idna
except ImportError:  # pragma: no cover - idna ships with requests, a dependency of kubernetes
    _idna = None

KIND_NAME = "name"
KIND_ADDRESS = "address"
KIND_NETWORK = "network"

MAX_LABEL = 63
MAX_NAME = 253

# Letters, digits, hyphen, and underscore (used by real service names such as _sip).
_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")
_DOTTED_NUMBERS_RE = re.compile(r"^(?=.*[0-9])[0-9.]+$")


@dataclass(frozen=True)
class Term:
    """One classified term.

    ``text`` is what the user wrote; ``value`` is the normal form: a lower-case
    ASCII name without trailing dot, a canonical IP address, or a canonical CIDR.
    """

    text: str
    kind: str
    value: str

    @property
    def is_name(self) -> bool:
        return self.kind == KIND_NAME

    @property
    def shown(self) -> str:
        """How people see it: an internationalised name in both forms, ASCII and Unicode (``_scripts.shown``)."""
        return shown(self.value) if self.kind == KIND_NAME else self.value

    @property
    def version(self) -> Optional[int]:
        """4 or 6 for addresses and networks, None for names."""
        if self.kind == KIND_ADDRESS:
            return ipaddress.ip_address(self.value).version
        if self.kind == KIND_NETWORK:
            return ipaddress.ip_network(self.value).version
        return None


class TermError(MeshguardError):
    """One or more terms are invalid; ``problems`` holds (term, reason) pairs."""

    def __init__(self, problems: list[tuple[Any, str]]) -> None:
        self.problems = list(problems)
        lines = [f"invalid term {term!r}: {reason}" for term, reason in self.problems]
        super().__init__("; ".join(lines))


def parse_term(text: Any, allow_mixed_scripts: bool = False) -> Term:
    """Classify and normalise one term; raise TermError naming the term and the problem.

    A name that mixes scripts (a look-alike, ``_scripts``) is refused unless ``allow_mixed_scripts``:
    callers that only collect names judged elsewhere pass True.
    """
    if not isinstance(text, str):
        raise TermError([(text, f"expected a string, got {type(text).__name__}")])
    stripped = text.strip()
    try:
        if not stripped:
            raise ValueError("empty term")
        if "/" in stripped:
            return Term(text, KIND_NETWORK, _parse_network(stripped))
        if ":" in stripped:
            return Term(text, KIND_ADDRESS, _parse_ipv6(stripped))
        if _DOTTED_NUMBERS_RE.match(stripped):
            return Term(text, KIND_ADDRESS, _parse_ipv4(stripped))
        name = _parse_name(stripped)
        problem = None if allow_mixed_scripts else mixed_script_problem(name)
        if problem:
            raise ValueError(problem)
        return Term(text, KIND_NAME, name)
    except ValueError as exc:
        raise TermError([(text, str(exc))]) from None


def parse_terms(texts: Iterable[Any], allow_mixed_scripts: Iterable[str] = ()) -> list[Term]:
    """Parse every term (Term instances pass through); report all invalid ones at once.

    ``allow_mixed_scripts``: names (in any form) that may mix scripts.
    """
    allowed = allowed_names(allow_mixed_scripts)
    terms: list[Term] = []
    problems: list[tuple[Any, str]] = []
    for text in texts:
        if isinstance(text, Term):
            terms.append(text)
            continue
        try:
            term = parse_term(text, allow_mixed_scripts=True)
            if term.is_name and term.value not in allowed:
                term = parse_term(text)
            terms.append(term)
        except TermError as exc:
            problems.extend(exc.problems)
    if problems:
        raise TermError(problems)
    return terms


def allowed_names(items: Iterable[str]) -> set[str]:
    """The normal forms of names allowed to mix scripts; TermError for an entry that is no host name."""
    names = set()
    problems: list[tuple[Any, str]] = []
    for item in items:
        try:
            term = parse_term(item, allow_mixed_scripts=True)
        except TermError as exc:
            problems.extend(exc.problems)
            continue
        if term.is_name:
            names.add(term.value)
        else:
            problems.append((item, "allow_mixed_scripts takes host names"))
    if problems:
        raise TermError(problems)
    return names


def _parse_ipv4(text: str) -> str:
    octets = text.split(".")
    if len(octets) != 4:
        raise ValueError(f"not a valid IPv4 address: expected 4 dot-separated numbers, got {len(octets)}")
    for octet in octets:
        if not octet:
            raise ValueError("not a valid IPv4 address: empty octet")
        if int(octet) > 255:
            raise ValueError(f"not a valid IPv4 address: octet {octet} is out of range (0-255)")
        if len(octet) > 1 and octet.startswith("0"):
            # Leading zeros are read as octal by some tools: refuse the ambiguity.
            raise ValueError(f"not a valid IPv4 address: octet {octet} has a leading zero")
    return str(ipaddress.IPv4Address(text))


def _parse_ipv6(text: str) -> str:
    if "%" in text:
        raise ValueError("not a valid IPv6 address: zone indexes (%...) are not allowed")
    try:
        return ipv6_text(ipaddress.IPv6Address(text))
    except ValueError:
        raise ValueError("not a valid IPv6 address") from None


def ipv6_text(address: ipaddress.IPv6Address) -> str:
    """RFC 5952 text; IPv4-mapped addresses as ::ffff:a.b.c.d on every Python version (3.13 changed str())."""
    if address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def ip_text(
    value: Union[ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network],
) -> str:
    """An address or network in the normal form of this module, whatever the Python version."""
    if isinstance(value, ipaddress.IPv6Address):
        return ipv6_text(value)
    if isinstance(value, ipaddress.IPv6Network):
        return f"{ipv6_text(value.network_address)}/{value.prefixlen}"
    return str(value)


def _parse_network(text: str) -> str:
    address, prefix = text.split("/", 1)
    version_max = 128 if ":" in address else 32
    host = _parse_ipv6(address) if ":" in address else _parse_ipv4(address)
    if not prefix.isdigit():
        raise ValueError(f"not a valid CIDR block: prefix length {prefix!r} is not a number")
    length = int(prefix)
    if length > version_max:
        family = "IPv6" if version_max == 128 else "IPv4"
        raise ValueError(
            f"not a valid CIDR block: prefix length /{length} is out of range for {family} (0-{version_max})"
        )
    network = ipaddress.ip_network(f"{host}/{length}", strict=False)
    base = network.network_address
    text = f"{ipv6_text(base) if base.version == 6 else base}/{length}"
    if int(base) != int(ipaddress.ip_address(host)):
        raise ValueError(f"not a valid CIDR block: host bits are set (did you mean {text}?)")
    return text


def _parse_name(text: str) -> str:
    name = text[:-1] if text.endswith(".") else text
    if not name:
        raise ValueError("not a valid host name: only a dot")
    if not name.isascii():
        name = _to_ascii(name)
    name = name.lower()
    labels = name.split(".")
    for label in labels:
        if not label:
            raise ValueError("not a valid host name: empty label (two dots in a row or a leading dot)")
        if len(label) > MAX_LABEL:
            raise ValueError(
                f"not a valid host name: label {label[:20]!r}... is {len(label)} characters long (at most {MAX_LABEL})"
            )
        if not _LABEL_RE.match(label):
            raise ValueError(
                f"not a valid host name: bad label {label!r} (letters, digits, '-' and '_' only, "
                "not starting or ending with '-')"
            )
    if len(name) > MAX_NAME:
        raise ValueError(f"not a valid host name: {len(name)} characters long (at most {MAX_NAME})")
    if labels[-1].isdigit():
        raise ValueError(f"not a valid host name: the last label {labels[-1]!r} is all digits")
    return name


def _to_ascii(name: str) -> str:
    """Internationalised name to its ASCII (punycode) form: IDNA 2008 with UTS 46 mapping when available."""
    try:
        if _idna is not None:
            return _idna.encode(name, uts46=True).decode("ascii")
        return name.encode("idna").decode("ascii")
    except (UnicodeError, ValueError) as exc:
        raise ValueError(f"not a valid internationalised host name: {exc}") from None
