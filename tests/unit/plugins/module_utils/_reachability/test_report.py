# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability report: changes grouped into lines a reviewer reads."""

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._reachability.report import report_data, report_lines
from ansible_collections.meshguard.egress.tests.unit.plugins.module_utils.helper import reachability_grant as grant


def test_the_report_groups_one_change_of_many_clusters_into_one_line():
    item = grant("192.0.2.12", hosts=("mongo-2.example.test",)).as_dict()
    outcome = {"failed": False, "reachability": {"added": [item], "removed": [], "unchanged": 4}}
    hosts = [f"c{i}" for i in range(5)]
    data = report_data("s", check_mode=True, outcomes=dict.fromkeys(hosts, outcome), hosts=hosts, resolution={})
    lines = report_lines(data)
    assert lines == [
        "reachability of set s on 5 cluster(s), check mode: nothing was written:",
        "+ shop -> 192.0.2.12:5432 TCP  pg direct (mongo-2.example.test)  every cluster (5)",
        "unchanged: 4 grant(s) on every cluster",
    ]
    some = {h: (outcome if h != "c4" else {"failed": True}) for h in hosts}
    lines = report_lines(report_data("s", check_mode=False, outcomes=some, hosts=hosts, resolution={}))
    assert lines[1].endswith("4 clusters (c0, c1, c2, ...)") and lines[-1] == "not known, the run failed there: c4"
