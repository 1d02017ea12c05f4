# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubeconfigs of local clusters: a context per cluster (admin), and local-1-readonly on the first."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .cluster import Cluster


def kubeconfig_for(clusters: list[Cluster], readonly: bool = True) -> dict:
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    cfg: dict = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for c in clusters:
        pki = c.dir / "pki"
        cfg["clusters"].append(
            {"name": c.name, "cluster": {"server": c.server, "certificate-authority-data": b64(pki / "ca.crt")}}
        )
        users = [("admin", f"{c.name}-admin", c.name)]
        if readonly and c.name.endswith("-1"):
            users.append(("readonly", f"{c.name}-readonly", f"{c.name}-readonly"))
        for stem, user, context in users:
            cfg["users"].append(
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(pki / f"{stem}.crt"),
                        "client-key-data": b64(pki / f"{stem}.key"),
                    },
                }
            )
            cfg["contexts"].append({"name": context, "context": {"cluster": c.name, "user": user}})
    if clusters:
        cfg["current-context"] = clusters[0].name
    return cfg
