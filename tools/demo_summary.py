#!/usr/bin/env python
# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""make demo, step 4: the DNS change's reachability report must list exactly that change.

Reads the JSON report the preview wrote (meshguard_egress_report) and fails unless the only changes are
mongo-1's new address 192.0.2.12 and its old 192.0.2.11, now kept by address retention, on every cluster,
each for orders-mongo on port 27017, and nothing removed.
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> int:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    every = data["clusters"]
    found = sorted((c["change"], c["destination"], bool(c["retained_until"])) for c in data["changes"])
    want = [("+", "192.0.2.11", True), ("+", "192.0.2.12", False)]
    problems = []
    if found != want:
        problems.append(f"changes {found}, expected {want}")
    for change in data["changes"]:
        if (change["service"], change["port"], change["clusters"]) != ("orders-mongo", 27017, every):
            problems.append(f"unexpected change {change}")
    if problems:
        print("demo: the DNS change's report is not what was changed: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"demo: the preview reports exactly the DNS change, once for {len(every)} clusters")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
