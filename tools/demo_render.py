#!/usr/bin/env python
# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The extra variables of the demo's render step, as JSON on stdout (tools/demo.sh;
tests/integration/test_istio_examples.py renders the same way).

state=rendered reads no cluster, so it cannot follow dataplane auto (the module
refuses it there): the render names the sidecar data plane and leaves out the
services of the ambient namespace ledger.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
AMBIENT_NAMESPACE = "ledger"


def render_vars(examples: Path = EXAMPLES) -> dict:
    ruleset = yaml.safe_load((examples / "group_vars" / "egress_clusters.yml").read_text())
    default = ruleset["meshguard_egress_namespace"]
    services = [s for s in ruleset["meshguard_egress_services"] if s.get("namespace", default) != AMBIENT_NAMESPACE]
    return {
        "meshguard_egress_dataplane": "sidecar",
        "meshguard_egress_waypoint": None,
        "meshguard_egress_services": services,
    }


if __name__ == "__main__":
    print(json.dumps(render_vars()))
