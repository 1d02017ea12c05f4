# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve the benchmark's names without Ansible, in a fresh interpreter.

    python bench/plain_resolve.py MODE NAMES_FILE NAMESERVER PORT [DS_FILE]

MODE is one of:
  sequential  dnspython's stub resolver, one name and type after the other
              (what a hand-written loop does)
  threads     the same resolver from a pool of 32 threads
  asyncio     dns.asyncresolver, 32 names in flight (the floor: plain
              concurrent dnspython)
  library     meshguard.egress's resolver library (the lookup without Ansible),
              concurrency 32; with DS_FILE, every answer validated by DNSSEC
              from that trust anchor (dnssec: require)

Prints one JSON line: {"seconds": ..., "addresses": [...], "dnssec": {status:
count}}; the time covers the resolution only, not the start of the
interpreter or the imports.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dns.asyncresolver
import dns.resolver

COLLECTIONS = Path(__file__).resolve().parent.parent / ".cache" / "collections"
CONCURRENCY = 32
PACKAGE = "ansible_collections.meshguard.egress.plugins.module_utils"
TYPES = ("A", "AAAA")


def _resolver(nameserver: str, port: int) -> dns.resolver.Resolver:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [nameserver]
    res.port = port
    res.lifetime = 10.0
    return res


def _addresses(res: dns.resolver.Resolver, name: str) -> list[str]:
    found = []
    for rdtype in TYPES:
        try:
            answer = res.resolve(name, rdtype, search=False)
        except dns.resolver.NoAnswer:
            continue
        found += [r.to_text() for r in answer]
    return found


def sequential(names: list[str], nameserver: str, port: int) -> list[str]:
    res = _resolver(nameserver, port)
    return [a for name in names for a in _addresses(res, name)]


def threads(names: list[str], nameserver: str, port: int) -> list[str]:
    res = _resolver(nameserver, port)
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return [a for found in pool.map(lambda n: _addresses(res, n), names) for a in found]


def asyncio_mode(names: list[str], nameserver: str, port: int) -> list[str]:
    async def resolve_all() -> list[str]:
        res = dns.asyncresolver.Resolver(configure=False)
        res.nameservers = [nameserver]
        res.port = port
        res.lifetime = 10.0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(name: str) -> list[str]:
            found = []
            async with gate:
                for rdtype in TYPES:
                    try:
                        answer = await res.resolve(name, rdtype, search=False)
                    except dns.resolver.NoAnswer:
                        continue
                    found += [r.to_text() for r in answer]
            return found

        results = await asyncio.gather(*(one(n) for n in names))
        return [a for found in results for a in found]

    return asyncio.run(resolve_all())


def _library():
    """The collection's resolver module, from the symlink tree of `make setup`."""
    if str(COLLECTIONS) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS))
    return importlib.import_module(f"{PACKAGE}._dns.resolve")


STATUSES: dict[str, int] = {}


def library(names: list[str], nameserver: str, port: int, anchors: object = None) -> list[str]:
    lib = _library()
    options = lib.ResolverOptions.from_dict({"nameservers": [f"{nameserver}:{port}"], "concurrency": CONCURRENCY})
    results = lib.resolve(names, options, anchors)
    for r in results:
        STATUSES[str(r.dnssec)] = STATUSES.get(str(r.dnssec), 0) + 1
    return [a for r in results for a in r.addresses]


MODES = {"sequential": sequential, "threads": threads, "asyncio": asyncio_mode, "library": library}


def main(argv: list[str]) -> int:
    mode, names_file, nameserver, port, *ds_file = argv
    names = json.loads(Path(names_file).read_text())
    extra = []
    if mode == "library":
        _library()  # imported before the clock starts, as dnspython is
        if ds_file:  # the anchor is read and parsed before the clock starts too
            anchors = importlib.import_module(f"{PACKAGE}._dnssec.anchors")
            extra = [anchors.parse_trust_anchors([Path(ds_file[0]).read_text()])]
    started = time.perf_counter()
    found = MODES[mode](names, nameserver, int(port), *extra)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": round(seconds, 4), "addresses": sorted(set(found)), "dnssec": STATUSES}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
