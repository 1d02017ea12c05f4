# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Session fixtures for real DNS: Knot servers on free ports, and a nameserver that never answers.

Every server runs with its own state directory under pytest's temp dir, so
the suite never touches the server of `make dns`; the fixtures stop what
they started. A missing knotd fails the suite with the install hint.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

import dnsserver as dnstool  # tools/dnsserver.py, on sys.path through pyproject.toml
import pytest

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "tests" / "dns" / "zones"
ZONES_ALT = ROOT / "tests" / "dns" / "zones-alt"
ZONES_ROTATING = ROOT / "tests" / "dns" / "zones-rotating"
ZONES_HOSTILE = ROOT / "tests" / "dns" / "zones-hostile"


def start_server(tmp_path_factory, zones: Path, name: str):
    """Start knot for `zones` on a free port with its own state dir; fail loudly when it cannot."""
    state = tmp_path_factory.mktemp(f"dns-{name}")
    try:
        return dnstool.up(zones, dnstool.free_port(), state_dir=state)
    except dnstool.DnsToolError as exc:
        pytest.fail(f"cannot start the {name} DNS server: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory):
    """Knot serving tests/dns/zones (meshguard.test, other.test, broken.test)."""
    server = start_server(tmp_path_factory, ZONES, "main")
    yield server
    dnstool.down(server.port, server.state_dir)


@pytest.fixture(scope="session")
def dns_server_alt(tmp_path_factory):
    """A second Knot on another port: tests/dns/zones-alt, the other view of meshguard.test."""
    server = start_server(tmp_path_factory, ZONES_ALT, "alt")
    yield server
    dnstool.down(server.port, server.state_dir)


@pytest.fixture(scope="session")
def dns_server_rotating(tmp_path_factory):
    """Knot with the geoip module in weighted mode: rotating.pool.test answers one of four addresses per query."""
    server = start_server(tmp_path_factory, ZONES_ROTATING, "rotating")
    yield server
    dnstool.down(server.port, server.state_dir)


@pytest.fixture(scope="session")
def dns_server_hostile(tmp_path_factory):
    """Knot serving tests/dns/zones-hostile: answers egress rules must never allow (hostile.test),
    and a pool that answers one of them in some rounds only (pool.sometimes.test)."""
    server = start_server(tmp_path_factory, ZONES_HOSTILE, "hostile")
    yield server
    dnstool.down(server.port, server.state_dir)


@dataclass
class Blackhole:
    """A nameserver address that receives queries (UDP, and TCP connections) and never answers."""

    port: int
    udp: socket.socket
    tcp: socket.socket
    received: list = field(default_factory=list)

    def drain(self) -> list:
        """Datagrams received since the last call."""
        self.udp.setblocking(False)
        while True:
            try:
                self.received.append(self.udp.recv(4096))
            except BlockingIOError:
                break
        got, self.received = self.received, []
        return got


def _bind_blackhole() -> Blackhole:
    for _attempt in range(20):
        port = dnstool.free_port()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind(("127.0.0.1", port))
            tcp.bind(("127.0.0.1", port))
        except OSError:  # taken since free_port looked: try another
            udp.close()
            tcp.close()
            continue
        tcp.listen(64)  # never accepted: connections complete in the backlog, queries go unanswered
        return Blackhole(port, udp, tcp)
    raise RuntimeError("no free port for the blackhole nameserver")


@pytest.fixture(scope="session")
def blackhole():
    hole = _bind_blackhole()
    udp, tcp = hole.udp, hole.tcp
    yield hole
    udp.close()
    tcp.close()
