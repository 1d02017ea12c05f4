# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How to resolve: the resolver options and the nameservers they name.

The options of the ``meshguard.egress.resolve`` lookup and of the resolver
option group of the modules, validated with messages that name the option.
What a failed host does (``on_error``) is not a resolver option: the lookup
and the modules each have their own policy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Optional

from .._errors import MeshguardError, MissingLibraryError, OptionError
from .._values import boolean, choice, integer, seconds

try:
    import dns.exception
    import dns.resolver

    HAS_DNSPYTHON = True
except ImportError:  # pragma: no cover - exercised only where dnspython is missing
    HAS_DNSPYTHON = False

FAMILY_CHOICES = ("both", "ipv4", "ipv6")
_BRACKETED_RE = re.compile(r"^\[([^\]]+)\](?::([0-9]+))?$")


@dataclass(frozen=True)
class Nameserver:
    """A nameserver as an IP literal and a port (None: the ``port`` option)."""

    address: str
    port: Optional[int] = None

    def endpoint(self, default_port: int) -> tuple[str, int]:
        return self.address, self.port if self.port is not None else default_port

    def label(self, default_port: int) -> str:
        address, port = self.endpoint(default_port)
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def parse_nameserver(text: Any) -> Nameserver:
    """Parse ``192.0.2.1``, ``192.0.2.1:5353``, ``2001:db8::1``, ``[2001:db8::1]`` or ``[2001:db8::1]:5353``."""
    if not isinstance(text, str) or not text.strip():
        raise OptionError(f"nameservers: expected an IP address, got {text!r}")
    value = text.strip()
    port_text = None
    bracketed = _BRACKETED_RE.match(value)
    if bracketed:
        address, port_text = bracketed.group(1), bracketed.group(2)
        valid_versions = (6,)
    elif value.count(":") == 1:
        address, port_text = value.split(":")
        valid_versions = (4,)
    else:
        address = value
        valid_versions = (4, 6)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        parsed = None
    if parsed is None or parsed.version not in valid_versions:
        raise OptionError(
            f"nameservers: {text!r} is not an IP address (use 192.0.2.1, 192.0.2.1:5353, 2001:db8::1 "
            "or [2001:db8::1]:5353; host names are not accepted)"
        )
    port = None
    if port_text is not None:
        port = integer(f"nameservers: port of {text!r}", port_text, 1, 65535)
    return Nameserver(str(parsed), port)


@dataclass(frozen=True)
class ResolverOptions:
    """How to resolve. ``nameservers`` empty means the system resolver configuration."""

    nameservers: tuple[Nameserver, ...] = ()
    port: int = 53
    families: str = "both"
    timeout: float = 2.0
    lifetime: float = 10.0
    retries: int = 2
    tcp: bool = False
    rounds: int = 1
    all_nameservers: bool = False
    concurrency: int = 32

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, data: Optional[Mapping[str, Any]] = None) -> ResolverOptions:
        """Validate user-facing options; None values mean the default. Errors name the option."""
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.option_names()))
        if unknown:
            raise OptionError(f"unknown resolver option(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        servers = data.get("nameservers")
        if servers is not None:
            if isinstance(servers, str):
                servers = [part for part in servers.split(",") if part.strip()]
            if not isinstance(servers, (list, tuple)):
                raise OptionError(f"nameservers must be a list of IP addresses, got {servers!r}")
            values["nameservers"] = tuple(parse_nameserver(server) for server in servers)
        checks = {
            "port": lambda v: integer("port", v, 1, 65535),
            "families": lambda v: choice("families", v, FAMILY_CHOICES),
            "timeout": lambda v: seconds("timeout", v, 0.001, 3600),
            "lifetime": lambda v: seconds("lifetime", v, 0.001, 86400),
            "retries": lambda v: integer("retries", v, 0, 10),
            "tcp": lambda v: boolean("tcp", v),
            "rounds": lambda v: integer("rounds", v, 1, 100),
            "all_nameservers": lambda v: boolean("all_nameservers", v),
            "concurrency": lambda v: integer("concurrency", v, 1, 256),
        }
        for name, check in checks.items():
            if data.get(name) is not None:
                values[name] = check(data[name])
        return cls(**values)

    @property
    def rdtypes(self) -> tuple[str, ...]:
        return {"both": ("A", "AAAA"), "ipv4": ("A",), "ipv6": ("AAAA",)}[self.families]


def system_nameservers() -> tuple[Nameserver, ...]:
    """Nameservers of the system resolver configuration (resolv.conf on POSIX)."""
    if not HAS_DNSPYTHON:
        raise MissingLibraryError("dnspython", "to resolve host names")
    try:
        resolver = dns.resolver.Resolver(configure=True)
    except dns.exception.DNSException as exc:
        raise MeshguardError(f"cannot read the system resolver configuration ({exc}); set nameservers") from None
    servers = []
    for entry in resolver.nameservers:
        # dnspython lists plain nameservers as strings and others (DoH, DoT) as objects: keep plain DNS only.
        address = entry if isinstance(entry, str) else getattr(entry, "address", None)
        port = resolver.nameserver_ports.get(address) if isinstance(entry, str) else getattr(entry, "port", None)
        try:
            ipaddress.ip_address((address or "").split("%")[0])
        except ValueError:
            continue
        servers.append(Nameserver(address, port if port not in (None, 53) else None))
    if not servers:
        raise MeshguardError("the system resolver configuration lists no nameserver; set nameservers")
    return tuple(servers)
