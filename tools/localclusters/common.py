# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of the local platform shares: paths of the binaries, the log, private files, free ports,
a process's memory, the binaries checked."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Optional

from istio_releases import Release, release

ROOT = Path(__file__).resolve().parents[2]
KUBE_BIN = ROOT / ".cache" / "bin" / "kube-local"
KUBECTL = ROOT / ".venv" / "bin" / "kubectl"
START_TIMEOUT = 180.0
ISTIO_NAMESPACE = "istio-system"


def log(msg: str) -> None:
    print(msg, flush=True)


def write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay bound until every port is known."""
    socks = [socket.socket() for _index in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def rss_mib(pid: int | None) -> int | None:
    if not pid:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return None


def check_binaries(istio: bool = True, wanted: Optional[Release] = None) -> None:
    if not KUBE_BIN.exists():
        raise SystemExit(f"clusters: {KUBE_BIN} is missing; run `make clusters` (it builds it with Go >= 1.26)")
    istiod = (wanted or release(None)).binary("pilot-discovery")
    if istio and not istiod.exists():
        name = (wanted or release(None)).name
        raise SystemExit(
            f"clusters: {istiod} is missing; run `make clusters ISTIO={name}` (it builds it with Go >= 1.26)"
        )
    if not KUBECTL.exists():
        raise SystemExit(f"clusters: {KUBECTL} is missing; run `make setup`")
