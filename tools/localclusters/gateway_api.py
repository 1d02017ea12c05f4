# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Gateway API's standard channel (CRDs a waypoint needs), from the Go module the pinned istio.io/istio requires."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from istio_releases import Release, release

from .common import ROOT

# The Gateway API's standard channel (a waypoint is a Gateway of class
# istio-waypoint), from the sigs.k8s.io/gateway-api module that the pinned
# istio.io/istio requires (tools/istio/go.mod): its own kustomization lists
# the files (the CRDs and the safe-upgrades ValidatingAdmissionPolicy).
GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
GATEWAY_API_KUSTOMIZATION = "config/crd/kustomization.yaml"
ISTIO_GO_MODULE_DIR = ROOT / "tools" / "istio"


GATEWAY_API_GROUP = "gateway.networking.k8s.io"


@dataclass
class GatewayAPI:
    """The Gateway API's standard channel: one bundle of its files, and the
    names of its CRDs."""

    version: str
    bundle: Path
    crds: list[str]


def gateway_api_crds(wanted: Optional[Release] = None) -> GatewayAPI:
    """The Gateway API standard channel of the version the release's go.mod
    in tools/istio pins (the one its istio.io/istio requires), from the Go module cache:
    `go mod download` there fetches it (checked against go.sum) only if the
    cache lacks it. The files are the ones the module's kustomization lists,
    in its order, bundled into one file under .cache/istio."""
    res = subprocess.run(
        ["go", "mod", "download", "-json", GATEWAY_API_MODULE],
        capture_output=True,
        text=True,
        check=False,
        cwd=ISTIO_GO_MODULE_DIR,
        env=(wanted or release(None)).go_env(),
    )
    if res.returncode != 0:
        raise SystemExit(
            f"clusters: cannot get the Gateway API CRDs: go mod download {GATEWAY_API_MODULE}"
            f" in {ISTIO_GO_MODULE_DIR}: {res.stderr.strip() or res.stdout.strip()}"
        )
    info = json.loads(res.stdout)
    version, source = info["Version"], Path(info["Dir"])
    files = []
    for line in (source / GATEWAY_API_KUSTOMIZATION).read_text().splitlines():
        entry = line.strip()
        if entry.startswith("- ") and entry.endswith(".yaml"):
            files.append(source / "config" / "crd" / entry[2:].strip())
    if not files:
        raise SystemExit(f"clusters: {source / GATEWAY_API_KUSTOMIZATION} lists no files")
    # gateway.networking.k8s.io_<plural>.yaml holds the CRD <plural>.gateway.networking.k8s.io.
    prefix = GATEWAY_API_GROUP + "_"
    crds = [f"{f.stem[len(prefix) :]}.{GATEWAY_API_GROUP}" for f in files if "_vap_" not in f.name]
    bundle = ROOT / ".cache" / "istio" / f"gateway-api-{version}" / "standard.yaml"
    text = "\n---\n".join(f.read_text() for f in files)
    if not bundle.exists() or bundle.read_text() != text:
        bundle.parent.mkdir(parents=True, exist_ok=True)
        bundle.write_text(text)
    return GatewayAPI(version, bundle, crds)
