# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local authoritative DNS server (Knot DNS) for tests, benchmarks and the demo.

    tools/dnsserver.py up --zones DIR --port PORT    # idempotent; returns once it answers
    tools/dnsserver.py up --zones DIR --port PORT --dnssec   # the same, every zone signed
    tools/dnsserver.py reload --port PORT            # re-read the zone files (and new/removed ones)
    tools/dnsserver.py down --port PORT              # stop it; no process left
    tools/dnsserver.py status                        # every server started from this tree

knotd listens on 127.0.0.1 and ::1 at PORT and is authoritative for every
<zone>.zone file in DIR (BIND format). A <zone>.weighted file next to a zone
file turns on Knot's geoip module in weighted mode for that zone: each query
gets one of the listed record sets at random (Debian package
knot-module-geoip), a real rotating answer. State (config, pid, log, control
socket, databases) lives in .cache/dns/<port>/, or in the state_dir a test
passes to up().

A zone file Knot cannot load stays configured and is answered with SERVFAIL;
the test zones use that on purpose. Only the standard library is used here,
so the tests can check the resolver against it without sharing its code.

With --dnssec (``make dns DNSSEC=1``), Knot signs every zone itself
(automatic signing, ECDSA P-256 SHA-256, algorithm 13, one key per zone
that never rolls, signatures valid for 2 hours and renewed) except a zone
with a <zone>.dnssec file that says ``unsigned``; one that says ``nsec3``
denies with NSEC3 (no salt, no extra iterations, RFC 9276) instead of NSEC.
Keys are made before the server starts, so every zone's DS is known then:
it is written to <state dir>/ds/<zone>.ds, and a served parent zone (say
``test``, standing in for the root) gets the DS of each signed child it
delegates (its NS records are the zone file's), so a chain of trust runs
from the parent's DS through the children. The zone files are served from
copies in <state dir>/zones (the parents with those DS records added).
Keys and signatures never touch the zones directory.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
STATE_ROOT = ROOT / ".cache" / "dns"
INSTALL_HINT = "install Debian's knot package: tools/apt-install.sh knotd:knot (or apt-get install knot)"
GEOIP_HINT = "install Debian's knot-module-geoip package (apt-get install knot-module-geoip)"
START_TIMEOUT = 20.0
LISTEN = ("127.0.0.1", "::1")


class DnsToolError(Exception):
    """Something the user has to fix; the message says what."""


@dataclass
class Server:
    """A running (or configured) knotd instance."""

    port: int
    zones_dir: Path
    state_dir: Path
    zones: list[str]
    failed_zones: list[str]
    pid: Optional[int] = None
    dnssec: bool = False

    @property
    def config(self) -> Path:
        return self.state_dir / "knot.conf"

    @property
    def log(self) -> Path:
        return self.state_dir / "knot.log"

    @property
    def pidfile(self) -> Path:
        return self.state_dir / "knot.pid"

    @property
    def socket(self) -> Path:
        return control_socket(self.state_dir)

    def knotc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return knotc(self.state_dir, *args, check=check)

    def stats(self) -> dict[str, int]:
        """Knot's query counters (mod-stats), e.g. {'response-code[SERVFAIL]': 3, 'server-operation[query]': 40}."""
        out = self.knotc("stats", "mod-stats").stdout
        counters: dict[str, int] = {}
        for line in out.splitlines():
            key, sep, value = line.partition(" = ")
            if sep and key.startswith("mod-stats."):
                counters[key[len("mod-stats.") :]] = int(value)
        return counters

    @property
    def ds_dir(self) -> Path:
        """With dnssec: <zone>.ds, the DS records of each signed zone (what its parent, or a trust anchor, holds)."""
        return self.state_dir / "ds"

    def ds(self, zone: str) -> str:
        """The DS records of a signed zone, one a line (keymgr's form: ``<zone>. DS <tag> 13 <digest type> <hex>``)."""
        return (self.ds_dir / f"{zone}.ds").read_text()

    def key_file(self, zone: str) -> Path:
        """The private key a signed zone is signed with (PEM, in the state dir's key store): tests sign
        records of their own with it, as an attacker who replays or forges the zone's signatures would."""
        (key_id, *_rest) = _keymgr(self.state_dir, zone, "list").split()
        return self.state_dir / "db" / "keys" / "keys" / f"{key_id}.pem"

    def describe(self) -> str:
        loaded = [z for z in self.zones if z not in self.failed_zones]
        text = f"knot (pid {self.pid}) answering on 127.0.0.1@{self.port} and [::1]@{self.port} for {', '.join(loaded)}"
        if self.failed_zones:
            text += f"; not loaded (answered with SERVFAIL): {', '.join(self.failed_zones)}"
        if self.dnssec:
            signed = sorted(p.name[: -len(".ds")] for p in self.ds_dir.glob("*.ds"))
            text += f"; signed: {', '.join(signed) or 'none'}, their DS records in {self.ds_dir}/<zone>.ds"
        return text


# --------------------------------------------------------------------------- helpers


def find_knotd() -> str:
    path = shutil.which("knotd") or ("/usr/sbin/knotd" if os.access("/usr/sbin/knotd", os.X_OK) else None)
    if not path:
        raise DnsToolError(f"knotd (Knot DNS) is not installed: {INSTALL_HINT}")
    return path


def find_keymgr() -> str:
    path = shutil.which("keymgr") or ("/usr/sbin/keymgr" if os.access("/usr/sbin/keymgr", os.X_OK) else None)
    if not path:
        raise DnsToolError(f"keymgr (Knot DNS) is not installed: {INSTALL_HINT}")
    return path


def find_knotc() -> str:
    path = shutil.which("knotc") or ("/usr/sbin/knotc" if os.access("/usr/sbin/knotc", os.X_OK) else None)
    if not path:
        raise DnsToolError(f"knotc (Knot DNS) is not installed: {INSTALL_HINT}")
    return path


def state_dir_for(port: int) -> Path:
    return STATE_ROOT / str(port)


def control_socket(state_dir: Path) -> Path:
    path = state_dir / "knot.sock"
    if len(str(path)) < 100:
        return path
    # Unix socket paths are limited to about 108 bytes; deep checkouts get one in the temp dir.
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"meshguard-knot-{digest}.sock"


def knotc(state_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [find_knotc(), "-s", str(control_socket(state_dir)), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise DnsToolError(f"{' '.join(cmd[1:])} failed: {(result.stderr or result.stdout).strip()}")
    return result


def zones_in(zones_dir: Path) -> list[str]:
    zones = sorted(p.name[: -len(".zone")] for p in zones_dir.glob("*.zone"))
    if not zones:
        raise DnsToolError(f"no <zone>.zone files in {zones_dir}")
    return zones


def geoip_available() -> bool:
    return bool(glob.glob("/usr/lib/*/knot/modules-*/geoip.so") or glob.glob("/usr/lib/knot/modules-*/geoip.so"))


def signing(zones_dir: Path, zone: str) -> str:
    """How a zone is served with --dnssec: "nsec", "nsec3" or "unsigned" (its <zone>.dnssec file)."""
    marker = zones_dir / f"{zone}.dnssec"
    if not marker.is_file():
        return "nsec"
    word = marker.read_text().split("#", 1)[0].strip()
    if word not in ("nsec3", "unsigned"):
        raise DnsToolError(f"{marker}: expected 'nsec3' or 'unsigned', got {word!r}")
    return word


def render_config(zones_dir: Path, state_dir: Path, port: int, zones: list[str], dnssec: bool = False) -> str:
    """knot.conf for these zones; weighted zones get the geoip module; with dnssec, zones are signed."""
    weighted = [z for z in zones if (zones_dir / f"{z}.weighted").is_file()]
    if weighted and not geoip_available():
        raise DnsToolError(f"zones {', '.join(weighted)} need Knot's geoip module: {GEOIP_HINT}")
    listen = ", ".join(f'"{address}@{port}"' for address in LISTEN)
    lines = [
        "# Written by tools/dnsserver.py; rewritten on every up/reload.",
        "server:",
        f'    rundir: "{state_dir}"',
        f'    pidfile: "{state_dir / "knot.pid"}"',
        f"    listen: [ {listen} ]",
        "database:",
        f'    storage: "{state_dir / "db"}"',
        "control:",
        f'    listen: "{control_socket(state_dir)}"',
        "log:",
        f'  - target: "{state_dir / "knot.log"}"',
        "    any: info",
        # Counters read by tests (queries, response codes): Server.stats().
        "mod-stats:",
        "  - id: counters",
        "    request-protocol: on",
        "    server-operation: on",
        "    response-code: on",
    ]
    if dnssec:
        # One key per zone that never rolls (ksk-lifetime 0: the DS stays the trust anchor),
        # short-lived signatures that Knot renews, TTLs short enough for tests.
        lines.append("policy:")
        for policy, nsec3 in (("meshguard", False), ("meshguard-nsec3", True)):
            lines += [
                f"  - id: {policy}",
                "    algorithm: ecdsap256sha256",
                "    single-type-signing: on",
                "    ksk-lifetime: 0",
                "    zsk-lifetime: 0",
                "    rrsig-lifetime: 2h",
                "    rrsig-refresh: 30m",
                "    rrsig-pre-refresh: 5m",
                "    dnskey-ttl: 300",
                "    zone-max-ttl: 300",
                "    propagation-delay: 0",
            ]
            if nsec3:
                lines += ["    nsec3: on", "    nsec3-iterations: 0", "    nsec3-salt-length: 0"]
    if weighted:
        lines.append("mod-geoip:")
        for zone in weighted:
            lines += [
                f"  - id: {zone}",
                f'    config-file: "{zones_dir / (zone + ".weighted")}"',
                "    mode: weighted",
                "    ttl: 60",
            ]
    lines += [
        "template:",
        "  - id: default",
        # Signed: the copies with the children's DS records (served_zones).
        f'    storage: "{state_dir / "zones" if dnssec else zones_dir}"',
        '    file: "%s.zone"',
        "    global-module: mod-stats/counters",
        # The zone files are the only source of truth: never write back, no journal,
        # so an edited file is loaded whole even when its SOA serial did not change.
        "    zonefile-sync: -1",
        "    zonefile-load: whole",
        "    journal-content: none",
        "zone:",
    ]
    for zone in zones:
        lines.append(f'  - domain: "{zone}."')
        if zone in weighted:
            lines.append(f"    module: mod-geoip/{zone}")
        how = signing(zones_dir, zone) if dnssec else "unsigned"
        if how != "unsigned":
            lines += [
                "    dnssec-signing: on",
                f"    dnssec-policy: {'meshguard-nsec3' if how == 'nsec3' else 'meshguard'}",
            ]
    return "\n".join(lines) + "\n"


def _keymgr(state_dir: Path, zone: str, *args: str) -> str:
    cmd = [find_keymgr(), "-c", str(state_dir / "knot.conf"), f"{zone}.", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise DnsToolError(f"keymgr {zone}. {' '.join(args)} failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def prepare_signing(zones_dir: Path, state_dir: Path, zones: list[str]) -> dict[str, str]:
    """Keys for every zone to sign (made once, kept in the state dir), their DS files, and the
    served copies of the zone files, each parent with its signed children's DS. Returns the DS by zone."""
    signed = [z for z in zones if signing(zones_dir, z) != "unsigned"]
    ds: dict[str, str] = {}
    ds_dir = state_dir / "ds"
    ds_dir.mkdir(exist_ok=True)
    for old in ds_dir.glob("*.ds"):
        if old.name[: -len(".ds")] not in signed:
            old.unlink()
    for zone in signed:
        if not _keymgr(state_dir, zone, "list").strip():
            _keymgr(state_dir, zone, "generate", "algorithm=13", "ksk=yes", "zsk=yes")
        ds[zone] = _keymgr(state_dir, zone, "ds")
        (ds_dir / f"{zone}.ds").write_text(ds[zone])
    served = state_dir / "zones"
    served.mkdir(exist_ok=True)
    for old in served.glob("*.zone"):
        if old.name[: -len(".zone")] not in zones:
            old.unlink()
    for zone in zones:
        text = (zones_dir / f"{zone}.zone").read_text()
        children = [c for c in signed if _parent_zone(c, zones) == zone]
        if children:
            text = text.rstrip("\n") + "\n; DS of the signed children, added by tools/dnsserver.py\n"
            text += "".join(ds[child] for child in children)
        path = served / f"{zone}.zone"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return ds


def _parent_zone(zone: str, zones: list[str]) -> Optional[str]:
    """The closest served zone above ``zone``."""
    labels = zone.split(".")
    for cut in range(1, len(labels)):
        candidate = ".".join(labels[cut:])
        if candidate in zones:
            return candidate
    return None


def _read_pid(state_dir: Path) -> Optional[int]:
    try:
        return int((state_dir / "knot.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_knotd(pid: Optional[int], state_dir: Path) -> bool:
    """True when pid is a live (not zombie) knotd started with this state dir's config."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    config = str(state_dir / "knot.conf").encode()
    return any(part.endswith(b"knotd") for part in cmdline) and config in cmdline


def running_pid(state_dir: Path) -> Optional[int]:
    pid = _read_pid(state_dir)
    return pid if _is_our_knotd(pid, state_dir) else None


def port_is_free(port: int) -> bool:
    for address in LISTEN:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(family, kind) as sock:
                try:
                    sock.bind((address, port))
                except OSError:
                    return False
    return True


def free_port() -> int:
    """A port free for UDP and TCP on 127.0.0.1 and ::1 (for tests)."""
    for _attempt in range(200):
        port = random.randint(20000, 60000)
        if port_is_free(port):
            return port
    raise DnsToolError("no free port found")


def query_rcode(address: str, port: int, name: str, qtype: int = 6, timeout: float = 1.0) -> Optional[str]:
    """Send one UDP query (default SOA) and return the response code's name, or None without an answer."""
    qid = random.randint(0, 0xFFFF)
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, (address, port))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = sock.recv(4096)
                if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                    rcode = struct.unpack("!H", data[2:4])[0] & 0xF
                    names = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}
                    return names.get(rcode, str(rcode))
        except OSError:
            return None
    return None


def _fingerprint(zones_dir: Path, zones: list[str], config: str) -> str:
    return hashlib.sha256(json.dumps([str(zones_dir), zones, config]).encode()).hexdigest()


def _log_tail(state_dir: Path, lines: int = 15) -> str:
    try:
        return "\n".join((state_dir / "knot.log").read_text().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _failed_zones(state_dir: Path, zones: list[str]) -> list[str]:
    """Zones Knot has configured but not loaded (zone-status shows no serial)."""
    out = knotc(state_dir, "zone-status", check=False).stdout
    failed = []
    for line in out.splitlines():
        if line.startswith("[") and "serial: -" in line:
            failed.append(line[1 : line.index("]")].rstrip("."))
    return [z for z in zones if z in failed]


def _wait_answering(server: Server, timeout: float) -> None:
    """Every loaded zone answers SOA with NOERROR, every failed one with SERVFAIL, on both addresses."""
    deadline = time.monotonic() + timeout
    while True:
        pending = []
        for zone in server.zones:
            want = "SERVFAIL" if zone in server.failed_zones else "NOERROR"
            for address in LISTEN:
                got = query_rcode(address, server.port, zone, timeout=0.5)
                if got != want:
                    pending.append(f"{zone} at {address}: {got or 'no answer'} (want {want})")
        if not pending:
            return
        if time.monotonic() > deadline:
            raise DnsToolError(f"knot does not answer as expected: {'; '.join(pending)}\n{_log_tail(server.state_dir)}")
        time.sleep(0.1)


def _load_server(state_dir: Path) -> Optional[Server]:
    try:
        info = json.loads((state_dir / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return Server(
        port=info["port"],
        zones_dir=Path(info["zones_dir"]),
        state_dir=state_dir,
        zones=info["zones"],
        failed_zones=info.get("failed_zones", []),
        pid=running_pid(state_dir),
        dnssec=info.get("dnssec", False),
    )


def _save_server(server: Server, fingerprint: str) -> None:
    info = {
        "port": server.port,
        "zones_dir": str(server.zones_dir),
        "zones": server.zones,
        "failed_zones": server.failed_zones,
        "dnssec": server.dnssec,
        "fingerprint": fingerprint,
    }
    (server.state_dir / "server.json").write_text(json.dumps(info, indent=2) + "\n")


# --------------------------------------------------------------------------- commands


def up(zones_dir: os.PathLike, port: int, state_dir: Optional[os.PathLike] = None, dnssec: bool = False) -> Server:
    """Start knotd for the zones in zones_dir (signed with ``dnssec``), or do nothing when it
    already runs with the same zones."""
    zones_dir = Path(zones_dir).resolve()
    if not zones_dir.is_dir():
        raise DnsToolError(f"zones directory {zones_dir} does not exist")
    state = Path(state_dir).resolve() if state_dir else state_dir_for(port)
    knotd = find_knotd()
    zones = zones_in(zones_dir)
    config = render_config(zones_dir, state, port, zones, dnssec)
    fingerprint = _fingerprint(zones_dir, zones, config)

    current = _load_server(state)
    if current and current.pid:
        saved = json.loads((state / "server.json").read_text()).get("fingerprint")
        if saved == fingerprint:
            _wait_answering(current, START_TIMEOUT)
            return current
        down(port, state)  # other zones: start again with the new set

    if not port_is_free(port):
        raise DnsToolError(f"port {port} is already in use on 127.0.0.1 or ::1 by another process")
    state.mkdir(parents=True, exist_ok=True)
    (state / "db").mkdir(exist_ok=True)
    control_socket(state).unlink(missing_ok=True)  # left by a knotd that was killed
    (state / "knot.conf").write_text(config)
    if dnssec:
        prepare_signing(zones_dir, state, zones)  # before the start: the keys, so every DS is known
    result = subprocess.run(
        [knotd, "-c", str(state / "knot.conf"), "-d"], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise DnsToolError(f"knotd failed to start: {result.stderr.strip()}\n{_log_tail(state)}")
    deadline = time.monotonic() + START_TIMEOUT
    while running_pid(state) is None or not control_socket(state).exists():
        if time.monotonic() > deadline:
            raise DnsToolError(f"knotd did not come up within {START_TIMEOUT:g}s\n{_log_tail(state)}")
        time.sleep(0.05)
    # Blocks until every zone's load has finished (or failed), so failed zones are known.
    knotc(state, "-b", "zone-reload", check=False)
    server = Server(port, zones_dir, state, zones, _failed_zones(state, zones), running_pid(state), dnssec)
    _wait_answering(server, START_TIMEOUT)
    _save_server(server, fingerprint)
    return server


def reload(port: int, state_dir: Optional[os.PathLike] = None) -> Server:
    """Re-read the zone files (also when their SOA serial is unchanged) and pick up added or removed zones."""
    state = Path(state_dir).resolve() if state_dir else state_dir_for(port)
    current = _load_server(state)
    if not current or not current.pid:
        raise DnsToolError(f"no knot running for port {port} (state {state}); start it with up")
    zones = zones_in(current.zones_dir)
    config = render_config(current.zones_dir, state, port, zones, current.dnssec)
    (state / "knot.conf").write_text(config)
    if current.dnssec:
        prepare_signing(current.zones_dir, state, zones)  # new zones' keys, the copies anew
    knotc(state, "reload")  # configuration: zones added or removed, module files
    knotc(state, "-b", "zone-reload", check=False)  # failed zones make this exit non-zero; reported below
    failed = _failed_zones(state, zones)
    server = Server(port, current.zones_dir, state, zones, failed, running_pid(state), current.dnssec)
    _wait_answering(server, START_TIMEOUT)
    _save_server(server, _fingerprint(current.zones_dir, zones, config))
    return server


def down(port: int, state_dir: Optional[os.PathLike] = None, timeout: float = 15.0) -> bool:
    """Stop the knotd of this port/state dir; True when one was running. Leaves no process."""
    state = Path(state_dir).resolve() if state_dir else state_dir_for(port)
    pid = running_pid(state)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_our_knotd(pid, state):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.05)
    # The daemon's parent is init: give it a moment to reap the exited process, so that
    # nothing named knotd is listed any more, not even a zombie.
    reaped = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < reaped:
        time.sleep(0.05)
    control_socket(state).unlink(missing_ok=True)
    return True


def status(state_root: Optional[os.PathLike] = None) -> list[Server]:
    root = Path(state_root) if state_root else STATE_ROOT
    servers = []
    for state in sorted(root.glob("*/")):
        server = _load_server(state)
        if server:
            servers.append(server)
    return servers


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/dnsserver.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start (idempotent); returns once it answers")
    p_up.add_argument("--zones", required=True, help="directory of <zone>.zone files")
    p_up.add_argument("--port", type=int, default=5353)
    p_up.add_argument("--dnssec", action="store_true", help="sign the zones; DS records in <state dir>/ds/<zone>.ds")
    for name, text in (("down", "stop"), ("reload", "re-read the zone files")):
        sub.add_parser(name, help=text).add_argument("--port", type=int, default=5353)
    sub.add_parser("status", help="servers started from this tree")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            print(up(args.zones, args.port, dnssec=args.dnssec).describe())
        elif args.command == "reload":
            print("reloaded: " + reload(args.port).describe())
        elif args.command == "down":
            print(f"knot on port {args.port} stopped" if down(args.port) else f"no knot running on port {args.port}")
        else:
            servers = status()
            for server in servers:
                state = server.describe() if server.pid else f"stopped (port {server.port})"
                print(f"{server.port}: {state} [zones from {server.zones_dir}]")
            if not servers:
                print("no DNS server state under .cache/dns")
    except DnsToolError as exc:
        print(f"tools/dnsserver.py {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
