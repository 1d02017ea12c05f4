# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A rollout's one check before any cluster is touched: every problem once, with its clusters."""

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._cluster.client import ConnectionOptions, api_server_of
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings
from ansible_collections.meshguard.egress.plugins.module_utils._rollout.check import (
    ClusterInput,
    check_clusters,
    judge,
    report,
    summary_lines,
)

MONGO = {"name": "mongo", "hosts": ["mongo.example.test"], "ports": [{"number": 27017, "protocol": "MONGO"}]}
HOSTS = ["c1", "c2", "c3"]


def cluster(host, services, server=None, **spec):
    return ClusterInput(host, Settings(spec={"set": "s", "services": services, **spec}), server=server)


def detail(host, *addresses, error=None):
    return {"host": host, "addresses": list(addresses), "cidrs": [], "cname_chain": [], "ttl": 30, "error": error}


def test_a_field_error_of_every_cluster_is_one_problem_naming_every_cluster():
    bad = dict(MONGO, ports=[{"number": 0, "protocol": "MONGO"}])
    checked = check_clusters([cluster(h, [bad]) for h in HOSTS])
    (problem,) = checked.problems
    assert problem.hosts == tuple(HOSTS)
    assert (
        problem.text(HOSTS)
        == "services[0] 'mongo': ports[0].number: must be between 1 and 65535, got 0 (every cluster)"
    )
    assert checked.names == ("mongo.example.test",)  # still resolved, so that one run reports everything


def test_a_problem_of_some_clusters_names_them():
    bad = dict(MONGO, ports=[{"number": 0, "protocol": "MONGO"}])
    checked = check_clusters([cluster("c1", [MONGO]), cluster("c2", [bad]), cluster("c3", [bad])])
    assert [p.text(HOSTS) for p in checked.problems] == [
        "services[0] 'mongo': ports[0].number: must be between 1 and 65535, got 0 (c2, c3)"
    ]
    assert set(checked.prepared) == {"c1"}


def test_hosts_that_reach_the_same_api_server_are_one_problem():
    checked = check_clusters(
        [
            cluster("c1", [MONGO], "https://10.0.0.1:6443"),
            cluster("c2", [MONGO], "https://10.0.0.2:6443"),
            cluster("c3", [MONGO], "https://10.0.0.1:6443/"),
        ]
    )
    (problem,) = checked.problems
    assert problem.message.startswith(
        "inventory hosts c1 and c3 reach the same cluster (API server https://10.0.0.1:6443/)"
    )


def test_different_resolvers_are_a_problem():
    first = cluster("c1", [MONGO])
    second = ClusterInput("c2", Settings(spec={"set": "s", "services": [MONGO]}, resolver={"timeout": 2}))
    (problem,) = check_clusters([first, second]).problems
    assert problem.message.startswith("meshguard_egress_resolver differs between the clusters of this run")


def test_answers_are_judged_by_each_clusters_own_policy_and_valid_services_of_invalid_clusters():
    bad = {"name": "bad", "hosts": ["192.0.2.1"], "ports": [{"number": 0, "protocol": "TCP"}]}
    clusters = [
        cluster("c1", [MONGO]),
        cluster("c2", [MONGO, bad]),
        ClusterInput("c3", Settings(spec={"set": "s", "services": [MONGO]}, internal_ranges=["198.51.100.0/24"])),
    ]
    checked = check_clusters(clusters)
    unresolved, refused = judge(checked.judged, [detail("mongo.example.test", "198.51.100.7")])
    assert unresolved == []
    # Only c3 calls that address internal; c2 is judged on its valid service.
    (only,) = refused
    assert only.hosts == ("c3",) and "198.51.100.7 is in 198.51.100.0/24" in only.message
    error = {"type": "NXDOMAIN", "message": "mongo.example.test: does not exist (NXDOMAIN from 127.0.0.1:53)"}
    unresolved, refused = judge(checked.judged, [detail("mongo.example.test", error=error)])
    assert [p.text(HOSTS) for p in unresolved] == [f"{error['message']} (every cluster)"] and refused == []


def test_the_report_stops_on_input_always_and_on_answers_only_with_on_error_fail():
    checked = check_clusters([cluster(h, [MONGO]) for h in HOSTS])
    error = {"type": "NXDOMAIN", "message": "mongo.example.test: does not exist"}
    unresolved, refused = judge(checked.judged, [detail("mongo.example.test", error=error)])
    stop, text = report(checked, unresolved, refused, on_error="fail", hosts=HOSTS)
    assert stop
    assert text.splitlines()[:3] == [
        "the rule set was applied to no cluster, 1 problem:",
        "host names that did not resolve:",
        "- mongo.example.test: does not exist (every cluster)",
    ]
    assert report(checked, unresolved, refused, on_error="keep", hosts=HOSTS) == (False, "")


def test_the_summary_prints_a_shared_failure_once():
    outcome = {"failed": True, "msg": "cannot reach the API server", "cluster": "context x"}
    fine = {"failed": False, "state": "present", "cluster": "context c3", "counts": {"create": 1, "unchanged": 2}}
    lines = summary_lines(
        "s",
        "present",
        check_mode=True,
        resolution={"time": "2026-12-06T10:00:00Z"},
        outcomes={"c1": outcome, "c2": outcome, "c3": fine},
        hosts=HOSTS,
        in_batch=HOSTS,
    )
    assert lines == [
        "set s, state present; addresses resolved from DNS at 2026-12-06T10:00:00Z, check mode: nothing was written",
        "c1: FAILED (context x): cannot reach the API server",
        "c2: FAILED (context x): the same failure as c1",
        "c3 (context c3): 1 created, 0 updated, 0 deleted, 2 unchanged",
    ]


def test_api_server_of_reads_the_kubeconfig_context_without_a_request():
    config = {
        "current-context": "a",
        "contexts": [{"name": "a", "context": {"cluster": "one"}}, {"name": "b", "context": {"cluster": "two"}}],
        "clusters": [
            {"name": "one", "cluster": {"server": "https://one:6443"}},
            {"name": "two", "cluster": {"server": "https://two:6443/"}},
        ],
    }
    assert api_server_of(ConnectionOptions(kubeconfig=config)) == "https://one:6443"
    assert api_server_of(ConnectionOptions(kubeconfig=config, context="b")) == "https://two:6443"
    assert api_server_of(ConnectionOptions(kubeconfig=config, context="nowhere")) is None
    assert api_server_of(ConnectionOptions(host="https://given:443/")) == "https://given:443"
    assert api_server_of(ConnectionOptions(kubeconfig="/nonexistent/kubeconfig")) is None
