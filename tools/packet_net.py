# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The packet check's network: Linux network namespaces of its own, with no
route out of them, and the sidecar's capture as istio-iptables makes it.

Three namespaces per check (names mgp<id>a, n, g):

- app: the workload, its sidecar Envoy (uid 1337) and the client; address
  10.244.0.10 and fd10:244::10 (the probe's workload addresses). Outbound TCP
  is redirected to Envoy's port 15001 by istio-iptables' own rules (nat
  table, REDIRECT mode; Envoy's uid and gid 1337 and loopback excepted).
- gw: the egress gateway's Envoy, at 10.244.0.20 (the address of the
  platform's gateway EndpointSlice, tools/istio/egress-gateway).
- net: every destination address (on its loopback interface) and the servers;
  it forwards between app and gw.

Routes are host routes, one per address: app has one to every address the
check holds (a pod has a route to everything, and istio-iptables' REDIRECT
comes after the route lookup) and to the gateway, gw to the addresses of
the services sent through it (and to app, to answer it); net refuses app's
connections to the addresses of the services sent through the gateway (but
on `open_port`, where ALLOW_ANY passes an undeclared port through), so only
the gateway reaches those.
Nothing else exists: no default route, no link to the host's namespace, so
no packet of the check can leave the machine, and a connection app's Envoy
should not carry has nowhere else to go.
"""

from __future__ import annotations

import ipaddress
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

APP_IPS = ("10.244.0.10", "fd10:244::10")
GATEWAY_IPS = ("10.244.0.20", "fd10:244::20")
# The net namespace's own address on both links: the next hop of app and gw.
HOP = ("10.244.1.1", "fd10:244:1::1")
PROXY_UID = 1337
OUTBOUND_PORT = 15001


def capture_rules(loopback: str, inbound_source: str) -> str:
    """istio-iptables' outbound capture for one IP family, as iptables-restore
    input: the rules of istio.io/istio tools/istio-iptables/pkg/capture
    (testdata/kube-virt-interfaces.golden, outbound ranges "*", the sidecar
    injector's default), without inbound capture, which the check does not use."""
    return "\n".join(
        [
            "*nat",
            ":ISTIO_REDIRECT - [0:0]",
            ":ISTIO_IN_REDIRECT - [0:0]",
            ":ISTIO_OUTPUT - [0:0]",
            f"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports {OUTBOUND_PORT}",
            "-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006",
            "-A OUTPUT -j ISTIO_OUTPUT",
            f"-A ISTIO_OUTPUT -o lo -s {inbound_source} -j RETURN",
            f"-A ISTIO_OUTPUT -o lo ! -d {loopback} -p tcp ! --dport 15008 -m owner --uid-owner {PROXY_UID}"
            " -j ISTIO_IN_REDIRECT",
            f"-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner {PROXY_UID} -j RETURN",
            f"-A ISTIO_OUTPUT -m owner --uid-owner {PROXY_UID} -j RETURN",
            f"-A ISTIO_OUTPUT -o lo ! -d {loopback} -p tcp ! --dport 15008 -m owner --gid-owner {PROXY_UID}"
            " -j ISTIO_IN_REDIRECT",
            f"-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner {PROXY_UID} -j RETURN",
            f"-A ISTIO_OUTPUT -m owner --gid-owner {PROXY_UID} -j RETURN",
            f"-A ISTIO_OUTPUT -d {loopback} -j RETURN",
            "-A ISTIO_OUTPUT -j ISTIO_REDIRECT",
            "COMMIT",
            "",
        ]
    )


def _run(cmd: list[str], stdin: str | None = None) -> None:
    res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"packets: {' '.join(cmd)} failed: {res.stderr.strip() or res.stdout.strip()}")


def _order(address: str) -> tuple[int, int]:
    a = ipaddress.ip_address(address)
    return a.version, int(a)


def _version(address: str) -> int:
    return ipaddress.ip_address(address).version


def _host(address: str) -> str:
    return f"{address}/{ipaddress.ip_address(address).max_prefixlen}"


@dataclass
class Network:
    """The namespaces of one check. `direct`: addresses app reaches itself;
    `via_gateway`: addresses only gw reaches. Every one of them is held in net."""

    direct: Iterable[str]
    via_gateway: Iterable[str] = ()
    # The IP versions of the workload (app): its addresses and the capture, as istio-iptables sets
    # ip6tables rules for a pod with IPv6 only.
    families: frozenset[int] = frozenset({4, 6})
    # The one port on which app may reach the gateway's addresses itself: what ALLOW_ANY passes through
    # to an address on a port no service declares (the check's undeclared port).
    open_port: int = 9
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def __post_init__(self) -> None:
        self.direct = sorted(set(self.direct), key=_order)
        self.via_gateway = sorted(set(self.via_gateway), key=_order)
        self.made: list[str] = []

    @property
    def app(self) -> str:
        return f"mgp{self.id}a"

    @property
    def gw(self) -> str:
        return f"mgp{self.id}g"

    @property
    def net(self) -> str:
        return f"mgp{self.id}n"

    def exec(self, ns: str) -> list[str]:
        """The command prefix that runs a program in namespace ns."""
        return ["ip", "netns", "exec", ns]

    def up(self) -> None:
        for ns in (self.app, self.gw, self.net):
            _run(["ip", "netns", "add", ns])
            self.made.append(ns)
        held = sorted({*self.direct, *self.via_gateway}, key=_order)
        # net: the two links, the destinations on a dummy interface, forwarding between app and gw.
        lines = [
            "link set lo up",
            f"link add app0 type veth peer name eth0 netns {self.app}",
            f"link add gw0 type veth peer name eth0 netns {self.gw}",
        ]
        for dev, (v4, v6) in (("app0", APP_IPS), ("gw0", GATEWAY_IPS)):
            lines += [
                f"link set {dev} up",
                f"addr add {HOP[0]}/32 dev {dev}",
                f"addr add {HOP[1]}/128 dev {dev} nodad",
                f"route add {v4}/32 dev {dev}",
                f"route add {v6}/128 dev {dev}",
            ]
        lines += [f"addr add {_host(a)} dev lo" + (" nodad" if ":" in a else "") for a in held]
        _run(["ip", "-n", self.net, "-batch", "-"], "\n".join(lines) + "\n")
        for key in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"):
            _run([*self.exec(self.net), "sysctl", "-qw", key])
        for ns, ips, reach in (
            (self.app, self.app_ips, [*self.direct, *self.via_gateway, *GATEWAY_IPS]),
            (self.gw, GATEWAY_IPS, [*self.via_gateway, *APP_IPS]),
        ):
            lines = ["link set lo up", "link set eth0 up"]
            lines += [f"addr add {_host(ip)} dev eth0" + (" nodad" if ":" in ip else "") for ip in ips]
            lines += [f"route add {_host(h)} dev eth0" for h in HOP if _version(h) in {_version(ip) for ip in ips}]
            lines += [
                f"route add {_host(a)} via {HOP[1] if ':' in a else HOP[0]} dev eth0"
                for a in sorted(set(reach), key=_order)
                if _version(a) in {_version(ip) for ip in ips}
            ]
            _run(["ip", "-n", ns, "-batch", "-"], "\n".join(lines) + "\n")
        # The addresses of the services sent through the gateway refuse app: only the gateway reaches them.
        for tool, version in (("iptables-restore", 4), ("ip6tables-restore", 6)):
            refused = [a for a in self.via_gateway if _version(a) == version]
            rules = [
                f"-A INPUT -i app0 -d {_host(a)} -p tcp ! --dport {self.open_port} -j REJECT --reject-with tcp-reset"
                for a in refused
            ]
            _run([*self.exec(self.net), tool, "--noflush"], "\n".join(["*filter", *rules, "COMMIT", ""]))
        if 4 in self.families:
            rules = capture_rules("127.0.0.1/32", "127.0.0.6/32")
            _run([*self.exec(self.app), "iptables-restore", "--noflush"], rules)
        if 6 in self.families:
            _run([*self.exec(self.app), "ip6tables-restore", "--noflush"], capture_rules("::1/128", "::6/128"))

    @property
    def app_ips(self) -> tuple[str, ...]:
        """The workload's addresses: those of its IP versions."""
        return tuple(ip for ip in APP_IPS if _version(ip) in self.families)

    def down(self) -> None:
        """Every namespace of the check deleted (their interfaces go with them)."""
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)
        self.made = []
