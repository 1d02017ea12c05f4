# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio's CRDs of a release, from its istio.io/api Go module (a cached bundle under .cache/istio)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Optional

from istio_releases import Release, release

from .common import ROOT, log

# Istio's CRDs come from the istio.io/api Go module (pinned per release in
# istio_releases, checked against the Go checksum database by `go mod
# download`); the copy in ../shared is only a fallback for machines without
# the module proxy (the newest release's only).
ISTIO_API_MODULE = release(None).crd_module
ISTIO_CRD_PATH = "kubernetes/customresourcedefinitions.gen.yaml"
SHARED_CRDS = ROOT.parent / "shared" / "istio" / "crd-all.gen.yaml"


def istio_crds(wanted: Optional[Release] = None) -> Path:
    """Path of Istio's CRD bundle, from the istio.io/api Go module of the release (default the newest)."""
    module = (wanted or release(None)).crd_module
    cached = ROOT / ".cache" / "istio" / module.replace("/", "_").replace("@", "-") / "crds.yaml"
    if cached.exists():
        return cached
    download = ["go", "mod", "download", "-json", module]
    res = subprocess.run(download, capture_output=True, text=True, check=False, cwd="/")
    source = None
    if res.returncode == 0:
        source = Path(json.loads(res.stdout)["Dir"]) / ISTIO_CRD_PATH
    elif SHARED_CRDS.exists() and module == ISTIO_API_MODULE:
        log(f"clusters: go mod download {module} failed ({res.stderr.strip()}); using {SHARED_CRDS}")
        source = SHARED_CRDS
    if source is None or not source.exists():
        raise SystemExit(f"clusters: cannot get Istio's CRDs: go mod download {module}: {res.stderr.strip()}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(source.read_bytes())
    return cached
