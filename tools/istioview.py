# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a workload may reach, as each cluster's istiod says: the end of `make demo`.

For every cluster of an inventory, the calls a real client of the rule set
makes (every declared address:port, the first and last address of each
block, with the name it connects to as TLS SNI or HTTP Host), each expected
to be routed to the declared service and to reach the address dialled; and
calls that must be blackholed (an undeclared address and an undeclared port
of each service, the services of other clusters). The probe (tools/probe)
connects to the cluster's istiod as a sidecar of the workload's namespace,
prints Istio's view and the verdict of each call, and exits non-zero when a
call is not as expected; so does this tool.

    .venv/bin/python tools/istioview.py --inventory examples/inventory.yml --dns-port 5353

Host names are resolved through the given DNS server (the demo's). The
tests build their calls with the same functions (tests/integration/istiolib.py).
"""

from __future__ import annotations

import argparse
import ipaddress
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlencode

import dns.rdatatype
import dns.resolver
import yaml

ROOT = Path(__file__).resolve().parent.parent

# The port a client uses for each protocol the module accepts, and how it
# calls: what the simulator sends (tcp, tls, http, http2, https) and whether
# the name it connects to travels as SNI or as the Host/:authority header.
PROTOCOLS = {
    "TCP": (5432, "tcp"),
    "MONGO": (27017, "tcp"),
    "MYSQL": (3306, "tcp"),
    "REDIS": (6379, "tcp"),
    "TLS": (443, "tls"),
    "HTTPS": (443, "https"),
    "HTTP": (80, "http"),
    "HTTP2": (8080, "http2"),
    "GRPC": (50051, "grpc"),
}
UNDECLARED_PORT = 9
# Addresses no rule set of the tests or the demo declares.
UNDECLARED = {4: "100.64.0.9", 6: "2001:db8:ffff::9"}


def host_header(name: str, port: int, protocol: str) -> str:
    """What an HTTP client puts in Host (HTTP/1.1) or :authority (HTTP/2,
    gRPC): the name or address it was given, with the port unless it is the
    scheme's default (gRPC always writes it)."""
    if ":" in name:
        name = f"[{name}]"
    default = {"http": 80, "https": 443}.get(protocol)
    return name if port == default else f"{name}:{port}"


def client_call(address: str, port: int, protocol: str, name: Optional[str], tag: str) -> dict:
    """A call as a real client makes it: a TLS client sends the host name it
    connects to as SNI (never an IP: RFC 6066), an HTTP client sends it (or
    the address it dialled) in Host."""
    kind = PROTOCOLS[protocol.upper()][1]
    call = {"name": tag, "address": address, "port": port, "protocol": kind}
    if kind in ("tls", "https") and name:
        call["sni"] = name
    if kind in ("http", "http2", "grpc", "https"):
        call["host"] = host_header(name or address, port, kind)
    return call


def first_last(cidr: str) -> list[str]:
    net = ipaddress.ip_network(cidr, strict=False)
    return sorted({str(net[0]), str(net[-1])}, key=ipaddress.ip_address)


def call_url(call: dict, expect: str) -> str:
    """The probe's --call form: PROTO://ADDRESS:PORT?sni=..&host=..&expect=.."""
    address = f"[{call['address']}]" if ":" in call["address"] else call["address"]
    query = {k: call[k] for k in ("sni", "host") if call.get(k)}
    query["expect"] = expect
    return f"{call['protocol']}://{address}:{call['port']}?{urlencode(query)}"


def resolve(name: str, resolver: dns.resolver.Resolver) -> list[str]:
    """A and AAAA of a name, following CNAMEs across zones (an authoritative
    server answers the CNAME only when the target is in another zone)."""
    out = []
    for rdtype in ("A", "AAAA"):
        target = name
        for _hop in range(8):
            answer = resolver.resolve(target, rdtype, raise_on_no_answer=False)
            if answer.rrset is not None:
                out += [r.address for r in answer.rrset]
                break
            cnames = [rrset for rrset in answer.response.answer if rrset.rdtype == dns.rdatatype.CNAME]
            if not cnames:
                break
            target = str(cnames[-1][0].target)
    if not out:
        raise SystemExit(f"istioview: {name} has no address")
    return out


def inventory_clusters(inventory: dict) -> dict[str, set[str]]:
    """Every host of the inventory and the groups it is in."""
    out: dict[str, set[str]] = {}

    def walk(name: str, group: dict, parents: tuple[str, ...]) -> None:
        for host in (group or {}).get("hosts") or {}:
            out.setdefault(host, set()).update((*parents, name))
        for child, sub in ((group or {}).get("children") or {}).items():
            walk(child, sub, (*parents, name))

    for name, group in inventory.items():
        walk(name, group, ())
    return out


def calls_for(services: list[dict], groups: set[str], host: str, resolver) -> list[str]:
    """The declared calls of the services that apply to this cluster (routed),
    an undeclared address and port of each, and the other clusters' services (denied)."""
    out = []
    for service in services:
        applies = not service.get("clusters") or bool({host, *groups} & set(service["clusters"]))
        for port in service["ports"]:
            protocol, number = port["protocol"].upper(), port["number"]
            targets = []
            for h in service["hosts"]:
                try:
                    targets += [(a, None) for a in first_last(h)]
                except ValueError:
                    targets += [(a, h) for a in resolve(h, resolver)]
            expect = "routed" if applies else "denied"
            for address, name in targets:
                out.append(call_url(client_call(address, number, protocol, name, service["name"]), expect))
            families = {ipaddress.ip_address(a).version for a, _name in targets}
            for family in sorted(families):
                name = next((n for a, n in targets if n and ipaddress.ip_address(a).version == family), None)
                out.append(call_url(client_call(UNDECLARED[family], number, protocol, name, "undeclared"), "denied"))
            out.append(call_url({"protocol": "tcp", "address": targets[0][0], "port": UNDECLARED_PORT}, "denied"))
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", type=Path, required=True, help="inventory with group_vars/ beside it")
    parser.add_argument("--group", default="egress_clusters", help="the group whose group_vars hold the rule set")
    parser.add_argument("--dns-port", type=int, default=53)
    parser.add_argument("--dns-server", default="127.0.0.1")
    parser.add_argument("--state", type=Path, default=ROOT / ".cache" / "clusters")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds istiod may take to catch up")
    args = parser.parse_args(argv)
    inventory = yaml.safe_load(args.inventory.read_text())
    ruleset = yaml.safe_load((args.inventory.parent / "group_vars" / f"{args.group}.yml").read_text())
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [args.dns_server]
    resolver.port = args.dns_port
    namespace = ruleset.get("meshguard_egress_namespace", "default")
    status = 0
    for host, groups in sorted(inventory_clusters(inventory).items()):
        calls = calls_for(ruleset["meshguard_egress_services"], groups, host, resolver)
        cmd = [str(ROOT / "tools" / "probe"), "--state", str(args.state), "--cluster", host]
        cmd += ["--namespace", namespace, "--ip-family", "dual", "--summary"]
        cmd += [arg for call in calls for arg in ("--call", call)]
        # istiod pushes a change a moment after the API server stored it: a
        # result that is not as expected is asked again for a few seconds.
        deadline = time.monotonic() + args.settle
        while True:
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if res.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        sys.stdout.write(res.stdout)
        sys.stderr.write(res.stderr)
        print(f"{host}: {'every call as expected' if res.returncode == 0 else 'NOT as expected'}\n", flush=True)
        status = status or res.returncode
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
