# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Istio releases the platform runs, stated once: where each one's
programs are built from and to, and the CRDs its clusters get.

Both are built from the Go module in tools/istio, each with its own go.mod
(`-modfile`): go.mod pins 1.31, go-1.30.mod the release-1.30 branch with
replace lines for the five versions the module proxy refuses. The probe is
built from the same source for each (build tag istio_1_30: the 1.30 proxy
version and workload API). tools/build-istio.sh builds them, tools/clusters.py
starts a cluster's istiod of either (`up --istio 1.30`), and the tests are
parametrised over RELEASES where a release can change the verdict
(docs/docsite/rst/istio-in-the-loop.rst, "Two Istio releases").
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".cache" / "bin"
GO_MODULE = ROOT / "tools" / "istio"


@dataclass(frozen=True)
class Release:
    name: str
    # The go.mod of tools/istio that pins it.
    modfile: str
    # Where tools/build-istio.sh puts its pilot-discovery, istioctl and meshguard-probe.
    bin_dir: Path
    # The istio.io/api module whose CRDs a cluster of this release gets (the
    # version its go.mod builds with, or the newest for the newest release).
    crd_module: str
    # Build tags of the probe for this release (its proxy version, its workload API).
    tags: str = ""

    def binary(self, name: str) -> Path:
        return self.bin_dir / name

    @property
    def goflags(self) -> str:
        """GOFLAGS for go commands in tools/istio that must see this release's module graph."""
        return "-mod=readonly" + ("" if self.modfile == "go.mod" else f" -modfile={self.modfile}")

    def go_env(self) -> dict[str, str]:
        return {**os.environ, "GOFLAGS": self.goflags}


RELEASES = {
    "1.31": Release("1.31", "go.mod", BIN, "istio.io/api@v1.32.0"),
    "1.30": Release("1.30", "go-1.30.mod", BIN / "istio-1.30", "istio.io/api@v1.30.8", "istio_1_30"),
}
NEWEST = "1.31"


def release(name: str | None) -> Release:
    """The release of that name (None: the newest); an unknown one is an error naming the known ones."""
    found = RELEASES.get(name or NEWEST)
    if found is None:
        raise SystemExit(f"istio release {name!r} is not one the platform builds: {', '.join(RELEASES)}")
    return found


if __name__ == "__main__":
    # For tools/build-istio.sh: `modfile bin_dir tags` of a release, one line.
    r = release(sys.argv[1] if len(sys.argv) > 1 else None)
    print(r.modfile, r.bin_dir, r.tags or "-")
