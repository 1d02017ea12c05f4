# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn addresses and CIDR blocks into a sorted, deduplicated, optionally merged list of CIDRs.

Each input block carries where it came from, so a block that the guard
rejects can be traced back to the host name or literal that produced it.
This is the only place where addresses are aggregated and guarded: the
lookup, the modules and the rule-set validation all come here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from ._dns.results import HostResult
from ._errors import MissingLibraryError, OptionError
from ._scripts import shown
from ._terms import KIND_NAME
from ._values import boolean, integer

try:
    import netaddr
except ImportError:  # pragma: no cover - exercised only where netaddr is missing
    netaddr = None

COLLAPSE_CHOICES = ("merge", "none")
DEFAULT_BROADEST = {"ipv4": 16, "ipv6": 48}
_MAX_PREFIX = {"ipv4": 32, "ipv6": 128}
_FAMILY_LABEL = {"ipv4": "IPv4", "ipv6": "IPv6"}


class AggregationError(OptionError):
    """One or more blocks are broader than the guard allows; ``problems`` lists one message per block."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Block:
    """One address or CIDR block and where it came from.

    ``widen`` marks resolved addresses: only those are widened to
    ``ipv4_prefix`` / ``ipv6_prefix``; literals are taken as written.
    """

    cidr: str
    source: str
    widen: bool = False


@dataclass(frozen=True)
class AggregateOptions:
    collapse: str = "merge"
    ipv4_prefix: int = 32
    ipv6_prefix: int = 128
    broadest_ipv4: int = DEFAULT_BROADEST["ipv4"]
    broadest_ipv6: int = DEFAULT_BROADEST["ipv6"]
    allow_any: bool = False

    OPTION_NAMES = ("collapse", "ipv4_prefix", "ipv6_prefix", "broadest_prefix", "allow_any")

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]] = None) -> AggregateOptions:
        """Build from the user-facing option names; None values mean the default.

        ``broadest_prefix`` is a dict ``{ipv4: 16, ipv6: 48}``; a key left out keeps its default.
        """
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.OPTION_NAMES))
        if unknown:
            raise OptionError(f"unknown aggregation option(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        collapse = data.get("collapse")
        if collapse is not None:
            if collapse not in COLLAPSE_CHOICES:
                raise OptionError(f"collapse must be one of {', '.join(COLLAPSE_CHOICES)}, got {collapse!r}")
            values["collapse"] = collapse
        for family in ("ipv4", "ipv6"):
            name = f"{family}_prefix"
            if data.get(name) is not None:
                values[name] = integer(name, _prefix(data[name]), 0, _MAX_PREFIX[family])
        broadest = data.get("broadest_prefix")
        if broadest is not None:
            if not isinstance(broadest, Mapping):
                raise OptionError(f"broadest_prefix must be a dict like {{ipv4: 16, ipv6: 48}}, got {broadest!r}")
            unknown = sorted(set(broadest) - set(DEFAULT_BROADEST))
            if unknown:
                raise OptionError(f"broadest_prefix: unknown key(s) {', '.join(map(str, unknown))} (use ipv4, ipv6)")
            for family in ("ipv4", "ipv6"):
                if broadest.get(family) is not None:
                    values[f"broadest_{family}"] = integer(
                        f"broadest_prefix.{family}", _prefix(broadest[family]), 1, _MAX_PREFIX[family]
                    )
        if data.get("allow_any") is not None:
            values["allow_any"] = boolean("allow_any", data["allow_any"])
        options = cls(**values)
        options._check_widening()
        return options

    def to_dict(self) -> dict[str, Any]:
        """The user-facing form that from_dict accepts."""
        return {
            "collapse": self.collapse,
            "ipv4_prefix": self.ipv4_prefix,
            "ipv6_prefix": self.ipv6_prefix,
            "broadest_prefix": {"ipv4": self.broadest_ipv4, "ipv6": self.broadest_ipv6},
            "allow_any": self.allow_any,
        }

    def _check_widening(self) -> None:
        # Catch a widening the guard would reject for every address before any DNS query.
        for family, prefix, broadest in (
            ("ipv4", self.ipv4_prefix, self.broadest_ipv4),
            ("ipv6", self.ipv6_prefix, self.broadest_ipv6),
        ):
            if prefix < broadest and not (prefix == 0 and self.allow_any):
                raise OptionError(
                    f"{family}_prefix /{prefix} is broader than broadest_prefix.{family} /{broadest}: "
                    "every resolved address would be rejected"
                )


def _prefix(value: Any) -> Any:
    """A prefix length may be written as "/24"."""
    return value.lstrip("/") if isinstance(value, str) else value


def _require_netaddr() -> None:
    if netaddr is None:
        raise MissingLibraryError("netaddr", "to aggregate addresses")


def sort_key(network: Any) -> tuple:
    """IPv4 before IPv6, then numeric by first address, then narrower after broader."""
    return (network.version, network.first, network.prefixlen)


def aggregate(blocks: Iterable[Block], options: Optional[AggregateOptions] = None) -> list[str]:
    """Deduplicate, widen, guard, optionally merge and sort blocks; return CIDR strings.

    Raises AggregationError listing every input block (after widening)
    broader than the guard allows. With ``collapse: merge`` the result covers
    exactly the (widened) input addresses; a merged block broader than the
    guard is kept as blocks of the broadest allowed size.
    """
    _require_netaddr()
    options = options or AggregateOptions()
    networks = {}
    problems: list[str] = []
    for block in blocks:
        network = _to_network(block, options)
        problem = _guard(network, block, options)
        if problem:
            problems.append(problem)
        else:
            networks.setdefault(str(network), network)
    if problems:
        raise AggregationError(problems)
    result = list(networks.values())
    if options.collapse == "merge":
        result = [piece for merged in netaddr.cidr_merge(result) for piece in _cap(merged, options)]
    return [str(network) for network in sorted(result, key=sort_key)]


def _cap(network: Any, options: AggregateOptions) -> list[Any]:
    """Split a merged block broader than the guard into blocks of the broadest allowed size.

    Merging never adds addresses, but its output must pass the guard too, so
    that aggregating the output again gives the same output.
    """
    broadest = options.broadest_ipv4 if network.version == 4 else options.broadest_ipv6
    if network.prefixlen >= broadest or (network.prefixlen == 0 and options.allow_any):
        return [network]
    return list(network.subnet(broadest))


def _to_network(block: Block, options: AggregateOptions) -> Any:
    try:
        network = netaddr.IPNetwork(block.cidr).cidr
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise OptionError(f"{block.cidr!r} (from {block.source}) is not an IP address or CIDR block") from None
    if block.widen:
        prefix = options.ipv4_prefix if network.version == 4 else options.ipv6_prefix
        if network.prefixlen > prefix:
            network = netaddr.IPNetwork(f"{network.ip}/{prefix}").cidr
    return network


def widened(address: str, options: Optional[AggregateOptions] = None) -> str:
    """A resolved address as aggregation renders it: widened to ipv4_prefix / ipv6_prefix."""
    _require_netaddr()
    network = _to_network(Block(address, address, widen=True), options or AggregateOptions())
    return f"{network.ip}/{network.prefixlen}"


def _guard(network: Any, block: Block, options: AggregateOptions) -> Optional[str]:
    family = "ipv4" if network.version == 4 else "ipv6"
    origin = f"from {block.source}"
    if block.widen and str(network) != str(netaddr.IPNetwork(block.cidr).cidr):
        origin += f", widened by {family}_prefix"
    if network.prefixlen == 0:
        if options.allow_any:
            return None
        label = _FAMILY_LABEL[family]
        return f"{network} ({origin}) allows every {label} address; set allow_any: true if this is intended"
    broadest = options.broadest_ipv4 if network.version == 4 else options.broadest_ipv6
    if network.prefixlen < broadest:
        return (
            f"{network} ({origin}) is broader than broadest_prefix.{family} /{broadest}; "
            f"list narrower blocks or raise broadest_prefix.{family}"
        )
    return None


# --------------------------------------------------------------------------- from resolution results


def blocks_of(result: HostResult) -> list[Block]:
    """The blocks a result contributes (none when it has an error).

    Resolved addresses may be widened; an IP literal or CIDR block is taken as written.
    """
    if result.error is not None:
        return []
    if result.kind != KIND_NAME:
        return [_literal(result.host)]
    return [Block(address, f"{address} of {shown(result.host)}", widen=True) for address in result.addresses]


def cidrs_of(results: Sequence[HostResult], options: Optional[AggregateOptions] = None) -> list[tuple[str, ...]]:
    """Each result's own CIDR blocks, in order; guard violations of every result are reported at once."""
    cidrs: list[tuple[str, ...]] = []
    problems: list[str] = []
    for result in results:
        try:
            cidrs.append(tuple(aggregate(blocks_of(result), options)))
        except AggregationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise AggregationError(problems)
    return cidrs


def merged_cidrs(results: Sequence[HostResult], options: Optional[AggregateOptions] = None) -> list[str]:
    """Every error-free result aggregated into one sorted CIDR list."""
    return aggregate([block for result in results for block in blocks_of(result)], options)


def literal_problem(literal: str, options: Optional[AggregateOptions] = None) -> Optional[str]:
    """Why an IP literal or CIDR block written by the user breaks the guard, or None.

    Checked before any DNS query, so that a too-broad literal fails at once.
    """
    try:
        aggregate([_literal(literal)], options)
    except AggregationError as exc:
        return "; ".join(exc.problems)
    return None


def _literal(value: str) -> Block:
    """An IP or CIDR block the user wrote: taken as written, never widened."""
    return Block(value, f"literal {value}")
