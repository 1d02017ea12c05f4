# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A hostile or wrong DNS server (Knot serving tests/dns/zones-hostile) never opens the mesh.

Every name of hostile.test answers with an address egress rules must never
allow. The lookup, and meshguard.egress.rules against the real local
clusters, refuse each one with a message naming the service, the host, the
address and the range; nothing is written (apiserver_request_total), and with
on_error=keep the live objects stay exactly as they were (resourceVersion).
The guard reads the clusters' real ServiceCIDR objects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dns.resolver
import pytest
from clusterlib import ANSIBLE_PLAYBOOK, run_module, writes

from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import lookup

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CTX = "local-1"
OURS = {"serviceentries", "networkpolicies", "sidecars", "egressrules"}
PG = [{"number": 5432, "protocol": "TCP"}]

# name in hostile.test -> (what it answers, the refused range named)
HOSTILE = {
    "metadata": ("169.254.169.254", "169.254.169.254/32"),
    "loopback": ("127.0.0.1", "127.0.0.0/8"),
    "kube-service": ("10.96.0.1", "10.0.0.0/8"),
    "unspecified": ("0.0.0.0", "0.0.0.0/8"),
    "loopback6": ("::1", "::1/128"),
    "this-network": ("0.1.2.3", "0.0.0.0/8"),
    "link-local": ("169.254.10.10", "169.254.0.0/16"),
    "alibaba": ("100.100.100.200", "100.100.100.200/32"),
    "ietf": ("192.0.0.8", "192.0.0.0/24"),
    "multicast": ("224.0.0.251", "224.0.0.0/4"),
    "reserved": ("240.0.0.1", "240.0.0.0/4"),
    "broadcast": ("255.255.255.255", "255.255.255.255/32"),
    "unspecified6": ("::", "::/128"),
    "link-local6": ("fe80::1", "fe80::/10"),
    "site-local6": ("fec0::1", "fec0::/10"),
    "multicast6": ("ff02::1", "ff00::/8"),
    "aws-metadata6": ("fd00:ec2::254", "fd00:ec2::254/128"),
    "gcp-metadata6": ("fd20:ce::254", "fd20:ce::254/128"),
    "discard6": ("100::1", "100::/64"),
    "reserved6": ("4000::1", "4000::/2"),
    "local-nat64": ("64:ff9b:1::c000:20a", "64:ff9b:1::/48"),
    "mapped": ("::ffff:127.0.0.1", "::ffff:0:0/96"),
    "compatible": ("::127.0.0.1", "::/96"),
    "nat64-loopback": ("64:ff9b::7f00:1", "64:ff9b::7f00:0/104"),
    "nat64-metadata": ("64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe/128"),
    "sixtofour": ("2002:7f00:1::1", "2002:7f00::/24"),
    "sixtofour-link": ("2002:a9fe:a9fe::1", "2002:a9fe:a9fe::/48"),
    "teredo": ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32"),
    "private": ("10.20.0.5", "10.0.0.0/8"),
    "private6": ("fd12:3456::5", "fc00::/7"),
    "cgnat": ("100.64.0.5", "100.64.0.0/10"),
    "cluster-service": ("10.0.0.1", "10.0.0.0/8"),
}
# The issue's zone, as a rule set: one service per answer.
ISSUE = ["metadata", "loopback", "kube-service", "unspecified", "loopback6"]


def resolver(server) -> dict:
    return {"nameservers": ["127.0.0.1"], "port": server.port, "timeout": 2}


def host(name: str) -> str:
    return f"{name}.hostile.test"


def service(name: str, *hosts: str, **extra) -> dict:
    return {"name": name, "hosts": list(hosts) or [host(name)], "ports": PG, **extra}


def module_args(local_clusters, namespace, server, services, **extra) -> dict:
    return {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": CTX,
        "set": "guard",
        "namespace": namespace,
        "network_policy": True,
        "services": services,
        "nameservers": ["127.0.0.1"],
        "port": server.port,
        **extra,
    }


def our_writes(local_clusters, before, *, dry_run=False):
    after = local_clusters.requests(CTX)
    return {k: n for k, n in writes(before, after, dry_run=dry_run).items() if k[1] in OURS}


def snapshot(local_clusters, namespace) -> dict:
    """Name -> resourceVersion of every ServiceEntry and NetworkPolicy in the namespace (kubectl)."""
    out = {}
    for kind in ("serviceentries.networking.istio.io", "networkpolicies.networking.k8s.io"):
        for obj in local_clusters.get(CTX, kind, namespace):
            out[f"{obj['kind']}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    return out


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_zone_answers_what_it_says(dns_server_hostile, name):
    answer, _cidr = HOSTILE[name]
    ask = dns.resolver.Resolver(configure=False)
    ask.nameservers, ask.port = ["127.0.0.1"], dns_server_hostile.port
    rdtype = "AAAA" if ":" in answer else "A"
    assert [r.to_text() for r in ask.resolve(host(name), rdtype)] == [answer]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_lookup_refuses_every_hostile_answer(dns_server_hostile, name):
    answer, cidr = HOSTILE[name]
    (entry,), _warnings = lookup([host(name)], resolver=resolver(dns_server_hostile), detail=True, on_error="omit")
    assert entry["addresses"] == [answer]
    assert entry["cidrs"] == []
    assert entry["error"]["type"] == "FORBIDDEN_ADDRESS"
    assert entry["error"]["message"].startswith(f"host {host(name)} answered {answer}: {answer} is in {cidr}, ")


def test_the_lookup_fails_or_warns_naming_host_address_and_range(dns_server_hostile):
    terms = [host("ok"), host("mixed"), host("nat64-ok")]
    with pytest.raises(Exception) as caught:
        lookup(terms, resolver=resolver(dns_server_hostile))
    assert str(caught.value) == (
        "1 host(s) answered addresses egress rules never allow: FORBIDDEN_ADDRESS: host mixed.hostile.test answered "
        "169.254.169.254: 169.254.169.254 is in 169.254.169.254/32, cloud instance metadata endpoint (AWS, Azure, "
        "Google Cloud, Oracle Cloud, OpenStack) (the providers' documentation; link-local, RFC 3927): not an "
        "external destination, refused unless an allow_ranges block inside 169.254.169.254/32 accepts it knowingly"
    )
    # All or nothing: mixed's allowed 192.0.2.10 is not kept either; ok's 192.0.2.10 is.
    answer, warnings = lookup(terms, resolver=resolver(dns_server_hostile), on_error="warn")
    assert answer == ["192.0.2.10/32", "64:ff9b::c000:20b/128", "2001:db8::10/128"]
    assert len(warnings) == 1 and "host mixed.hostile.test answered 169.254.169.254" in warnings[0]
    assert lookup([host("private")], resolver=resolver(dns_server_hostile), allow_ranges=["10.20.0.0/24"])[0] == [
        "10.20.0.5/32"
    ]


def test_the_lookup_plugin_refuses_in_a_playbook(dns_server_hostile, tmp_path):
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.debug": {
                        "msg": "{{ query('meshguard.egress.resolve', 'chain.hostile.test', nameservers=['127.0.0.1'],"
                        f" port={dns_server_hostile.port}) }}}}"
                    }
                }
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    cmd = [
        str(ANSIBLE_PLAYBOOK),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
    ]
    res = subprocess.run(
        [*cmd, str(tmp_path / "play.yml")], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert res.returncode != 0
    out = " ".join((res.stdout + res.stderr).split())
    assert (
        "meshguard.egress.resolve: 1 host(s) answered addresses egress rules never allow: FORBIDDEN_ADDRESS: host "
        "chain.hostile.test (via CNAME chain-2.hostile.test -> metadata.hostile.test) answered 169.254.169.254: "
        "169.254.169.254 is in 169.254.169.254/32, cloud instance metadata endpoint" in out
    )


@pytest.mark.parametrize("check", [False, True], ids=["apply", "check"])
def test_rules_refuses_the_issues_zone_and_writes_nothing(local_clusters, namespace, dns_server_hostile, check):
    services = [service(name) for name in ISSUE]
    before = local_clusters.requests(CTX)
    result, _out = run_module(
        "rules", module_args(local_clusters, namespace, dns_server_hostile, services), check=check, diff=check
    )
    assert result["failed"]
    assert result["msg"].startswith("DNS answered addresses that egress rules never allow, nothing was changed:\n")
    lines = result["msg"].splitlines()[1:]
    assert len(lines) == len(ISSUE)
    for name in ISSUE:
        answer, cidr = HOSTILE[name]
        assert any(
            line.startswith(f"- service {name!r}: host {host(name)} answered {answer}: {answer} is in {cidr}, ")
            for line in lines
        ), name
    assert our_writes(local_clusters, before) == {}
    assert our_writes(local_clusters, before, dry_run=True) == {}
    assert snapshot(local_clusters, namespace) == {}


def test_with_keep_the_live_objects_of_a_refused_service_stay_exactly_as_they_are(
    local_clusters, namespace, dns_server_hostile
):
    # Applied while the partner's name answered an external address.
    good = [service("partner", "192.0.2.10"), service("db", host("ok"))]
    assert not run_module("rules", module_args(local_clusters, namespace, dns_server_hostile, good))[0]["failed"]
    kept = snapshot(local_clusters, namespace)
    # Now its DNS answers the metadata endpoint (through a CNAME chain), and another name a mix.
    hostile = [service("partner", host("chain")), service("db", host("mixed"))]
    before = local_clusters.requests(CTX)
    result, out = run_module(
        "rules", module_args(local_clusters, namespace, dns_server_hostile, hostile, on_error="keep"), check=True
    )
    assert not result["failed"], result.get("msg")
    assert result["changed"] is False
    assert sorted((r["service"], r["host"], r["address"], r["range"]) for r in result["refused"]) == [
        ("db", host("mixed"), "169.254.169.254", "169.254.169.254/32"),
        ("partner", host("chain"), "169.254.169.254", "169.254.169.254/32"),
    ]
    flat = " ".join(out.split())
    assert "service 'partner' is not applied, its live objects are kept as they are: service 'partner': host " in flat
    result = run_module("rules", module_args(local_clusters, namespace, dns_server_hostile, hostile, on_error="keep"))[
        0
    ]
    assert not result["failed"] and result["changed"] is False
    assert len(result["plan"]["unchanged"]) == 4
    assert our_writes(local_clusters, before) == {}
    assert snapshot(local_clusters, namespace) == kept


def test_a_private_answer_needs_allow_ranges(local_clusters, namespace, dns_server_hostile):
    base = [service("legacy", host("private"))]
    refused = run_module("rules", module_args(local_clusters, namespace, dns_server_hostile, base))[0]
    assert refused["failed"]
    assert (
        "host private.hostile.test answered 10.20.0.5: 10.20.0.5 is in 10.0.0.0/8, private-use (RFC 1918)"
        in (refused["msg"])
    )
    allowed = [service("legacy", host("private"), allow_ranges=["10.20.0.0/24"])]
    result = run_module("rules", module_args(local_clusters, namespace, dns_server_hostile, allowed))[0]
    assert not result["failed"], result.get("msg")
    se = local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, "guard--legacy")[0]
    assert se["spec"]["addresses"] == ["10.20.0.5/32"]


def test_the_guard_reads_the_clusters_service_cidr(local_clusters, namespace, dns_server_hostile):
    served = json.loads(local_clusters.kubectl(CTX, "get", "servicecidrs", "-o", "json").stdout)["items"]
    assert [(s["metadata"]["name"], s["spec"]["cidrs"]) for s in served] == [("kubernetes", ["10.0.0.0/24"])]
    # allow_ranges 10.0.0.0/8 open the private range, not the cluster's Service range inside it.
    svc = [service("internal", host("cluster-service"), allow_ranges=["10.0.0.0/8"])]
    before = local_clusters.requests(CTX)
    result = run_module("rules", module_args(local_clusters, namespace, dns_server_hostile, svc))[0]
    assert result["failed"]
    assert (
        "- service 'internal': host cluster-service.hostile.test answered 10.0.0.1: 10.0.0.1 is in 10.0.0.0/24, "
        f"the cluster's Service range (ServiceCIDR kubernetes on context {CTX}): inside the cluster, refused unless "
        "an allow_ranges block inside 10.0.0.0/24 accepts it knowingly (allow_ranges 10.0.0.0/8 is broader than "
        "10.0.0.0/24, so it does not open it)" in result["msg"]
    )
    assert our_writes(local_clusters, before) == {}
    # A literal in the Service range fails too, whatever on_error says.
    literal = [service("internal", "10.0.0.10")]
    result = run_module("rules", module_args(local_clusters, namespace, dns_server_hostile, literal, on_error="keep"))[
        0
    ]
    assert result["failed"] and "hosts[0]: 10.0.0.10 is in 10.0.0.0/24, the cluster's Service range" in result["msg"]
    # Without a cluster (state=rendered) only the built-in ranges and internal_ranges apply, and it says so.
    rendered, out = run_module(
        "rules", {**module_args(local_clusters, namespace, dns_server_hostile, svc), "state": "rendered"}
    )
    assert not rendered["failed"], rendered.get("msg")
    assert "state=rendered reads no cluster" in " ".join(out.split())
    refused = run_module(
        "rules",
        {
            **module_args(local_clusters, namespace, dns_server_hostile, svc),
            "state": "rendered",
            "internal_ranges": ["10.0.0.0/16"],
        },
    )[0]
    assert refused["failed"] and "10.0.0.1 is in 10.0.0.0/16, internal range (internal_ranges[0])" in refused["msg"]


def test_a_user_who_may_not_list_nodes_is_told_what_was_not_checked(local_clusters, namespace, dns_server_hostile):
    args = module_args(
        local_clusters, namespace, dns_server_hostile, [service("db", host("ok"))], context="local-1-readonly"
    )
    result, out = run_module("rules_info", args)
    assert not result["failed"], result.get("msg")
    flat = " ".join(out.split())
    assert (
        "context local-1-readonly: user local-1-readonly may not list nodes, so DNS answers were not checked against "
        "the pod ranges: list it in internal_ranges, or grant list on nodes" in flat
    )
    assert "servicecidrs" not in flat  # networking.k8s.io is readable: the Service range was checked


def test_a_rotating_pool_is_refused_in_the_rounds_that_answer_a_refused_address(
    local_clusters, namespace, dns_server_hostile
):
    seen = {"allowed": 0, "refused": 0}
    for _attempt in range(40):
        (entry,), _w = lookup(
            ["pool.sometimes.test"], resolver=resolver(dns_server_hostile), detail=True, on_error="omit"
        )
        if entry["error"] is None:
            assert entry["cidrs"] == ["192.0.2.20/32"]
            seen["allowed"] += 1
        else:
            assert entry["error"]["type"] == "FORBIDDEN_ADDRESS" and entry["cidrs"] == []
            seen["refused"] += 1
    assert seen["allowed"] and seen["refused"], seen
    # Unioned over rounds, the refused answer refuses the service: never a partial one.
    pool = [service("pool", "pool.sometimes.test")]
    outcomes = set()
    for _attempt in range(6):
        result = run_module(
            "rules", module_args(local_clusters, namespace, dns_server_hostile, pool, rounds=4, on_error="keep")
        )[0]
        assert not result["failed"], result.get("msg")
        if result["refused"]:
            outcomes.add("refused")
            assert {r["address"] for r in result["refused"]} == {"169.254.169.254"}
        else:
            outcomes.add("applied")
        for se in local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace):
            assert se["spec"]["addresses"] == ["192.0.2.20/32"]
    assert "refused" in outcomes
