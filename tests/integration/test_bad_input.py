# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generated rule sets, valid and invalid, against a real API server.

Each generated rule set is built from valid services into which zero or more
known defects are injected. Invalid ones must fail with a message naming the
service and field, before any request reaches the API server (its own
request counters say so). Valid ones must render objects that the API server,
with Istio's CRDs and their CEL rules, accepts in a server-side dry run.

The library runs in-process here (each module run through ansible takes
seconds); tests/integration/test_rules_module.py covers the module itself.
"""

from __future__ import annotations

import sys

import pytest
from clusterlib import run_module, writes
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.meshguard.egress.plugins.module_utils._cluster.client import ConnectionOptions
from ansible_collections.meshguard.egress.plugins.module_utils._engine import Settings, run
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._gateway.spec import ISTIO_RESERVED_PORTS
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError

pytestmark = pytest.mark.integration

CTX = "local-2"
INVALID_EXAMPLES = 150
VALID_EXAMPLES = 60
OURS = {"serviceentries", "networkpolicies", "sidecars", "egressrules", "namespaces"}
PROTOCOLS = ["TCP", "MONGO", "MYSQL", "REDIS", "TLS", "HTTPS", "HTTP", "HTTP2", "GRPC", "tcp", "Mongo"]

label = st.from_regex(r"\A[a-z]([a-z0-9-]{0,20}[a-z0-9])?\Z")
octet = st.integers(1, 254)
ipv4 = st.builds(lambda a, b, c: f"10.{a}.{b}.{c}", octet, octet, octet)
ipv6 = st.builds(lambda a, b: f"2001:db8:{a:x}::{b:x}", st.integers(1, 65535), st.integers(1, 65535))
cidr4 = st.builds(lambda a, p: f"172.{16 + a % 16}.0.0/{p}", octet, st.integers(16, 24))
host = st.one_of(ipv4, ipv6, cidr4)
free_text = st.text(min_size=0, max_size=40)
injection = st.sampled_from(
    ["a: b\n- c", "{{ lookup('pipe', 'id') }}", "x\n---\nkind: Secret", '"; rm -rf /', "ünïcødé ✓", "a" * 300]
)


@st.composite
def valid_service(draw, name: str) -> dict:
    port = st.integers(1, 65535).filter(lambda n: n not in ISTIO_RESERVED_PORTS)
    ports = draw(st.lists(port, min_size=1, max_size=4, unique=True))
    protocol = draw(st.sampled_from(PROTOCOLS))
    service = {
        "name": name,
        "hosts": draw(st.lists(host, min_size=1, max_size=6, unique=True)),
        "ports": [{"number": n, "protocol": protocol} for n in ports],
    }
    if draw(st.booleans()):
        service["annotations"] = {"example.com/note": draw(st.one_of(free_text, injection))}
    if draw(st.booleans()):
        service["labels"] = {"team": draw(label)}
    return service


# Each defect: (how to break a service, the field its message must name).
DEFECTS = {
    "port-zero": (lambda s: s["ports"][0].update(number=0), "ports[0].number"),
    "port-too-big": (lambda s: s["ports"][0].update(number=65536), "ports[0].number"),
    "port-istio-proxy": (lambda s: s["ports"][0].update(number=15001), "ports[0].number"),
    "port-duplicate": (lambda s: s["ports"].insert(1, dict(s["ports"][0])), "ports[1]"),
    "protocol-unknown": (lambda s: s["ports"][0].update(protocol="SMTP"), "ports[0].protocol"),
    "name-unicode": (lambda s: s.update(name="dätenbank"), "name"),
    "name-too-long": (lambda s: s.update(name="a" * 64), "name"),
    "name-injection": (lambda s: s.update(name="db\n- evil"), "name"),
    "hosts-empty": (lambda s: s.update(hosts=[]), "hosts"),
    "host-too-broad": (lambda s: s["hosts"].append("10.0.0.0/8"), "hosts"),
    "host-any": (lambda s: s["hosts"].append("0.0.0.0/0"), "hosts"),
    "host-bad-ip": (lambda s: s["hosts"].append("999.1.1.1"), "hosts"),
    "host-label-too-long": (lambda s: s["hosts"].append("x" * 64 + ".example.com"), "hosts"),
    "label-injection": (lambda s: s.update(labels={"team": "a: b\n- c"}), "labels"),
    "label-key-bad": (lambda s: s.update(labels={"-bad-": "x"}), "labels"),
    "annotation-ours": (lambda s: s.update(annotations={"meshguard.egress/set": "x"}), "annotations"),
    "unknown-key": (lambda s: s.update(adresses=["10.0.0.1"]), "adresses"),
}


@st.composite
def rule_set(draw, defective: bool) -> tuple[dict, list[tuple[int, str, str]]]:
    names = draw(st.lists(label, min_size=1, max_size=6, unique=True))
    services = [draw(valid_service(name)) for name in names]
    injected: list[tuple[int, str, str]] = []
    if defective:
        for _round in range(draw(st.integers(1, 3))):
            index = draw(st.integers(0, len(services) - 1))
            defect = draw(st.sampled_from(sorted(DEFECTS)))
            if any(i == index for i, _d, _f in injected):
                continue  # one defect per service keeps the expected messages unambiguous
            DEFECTS[defect][0](services[index])
            injected.append((index, defect, DEFECTS[defect][1]))
        if draw(st.booleans()) and len(services) > 1 and not any(i == 1 for i, _d, _f in injected):
            services[1]["name"] = services[0]["name"]
            injected.append((1, "duplicate-name", "name"))
    return {"services": services, "network_policy": draw(st.booleans())}, injected


def connection(local_clusters) -> ConnectionOptions:
    return ConnectionOptions(kubeconfig=str(local_clusters.kubeconfig), context=CTX)


def test_invalid_rule_sets_name_service_and_field_and_send_nothing(local_clusters, namespace):
    conn = connection(local_clusters)
    before = local_clusters.requests(CTX)

    @settings(max_examples=INVALID_EXAMPLES, deadline=None, derandomize=True)
    @given(case=rule_set(defective=True))
    def check(case):
        spec, injected = case
        with pytest.raises(SpecError) as caught:
            run(Settings(spec={**spec, "set": "gen", "namespace": namespace}), conn, check_mode=False)
        errors = caught.value.errors
        for index, defect, field in injected:
            assert any(e.startswith(f"services[{index}]") and field in e for e in errors), (defect, errors)

    check()
    after = local_clusters.requests(CTX)
    # Any read or write of ours counts. WATCHes do not: the collection never
    # watches, and the cluster's istiod renews its informers' watches every
    # 5 to 10 minutes (client-go's reflector), whenever that falls.
    sent = {k: n for k, n in (after - before).items() if k[1] in OURS and k[0] != "WATCH"}
    assert sent == {}, "a request reached the API server"


def test_valid_rule_sets_are_accepted_by_the_api_server(local_clusters, namespace):
    conn = connection(local_clusters)
    before = local_clusters.requests(CTX)

    @settings(max_examples=VALID_EXAMPLES, deadline=None, derandomize=True)
    @given(case=rule_set(defective=False))
    def check(case):
        spec, _none = case
        result = run(Settings(spec={**spec, "set": "gen", "namespace": namespace}, retain="0"), conn, check_mode=True)
        assert result["failures"] == []
        assert result["plan"]["create"] == sorted(
            f"{o['kind']}/{o['metadata']['namespace']}/{o['metadata']['name']}" for o in result["resources"]
        )

    check()
    # Check mode: every write was a dry run, and there were some.
    after = local_clusters.requests(CTX)
    assert {k: n for k, n in writes(before, after).items() if k[1] in OURS} == {}
    assert writes(before, after, dry_run=True)[("APPLY", "serviceentries")] >= VALID_EXAMPLES


def test_a_missing_namespace_is_named_before_any_dns_query_or_write(local_clusters, namespace):
    """The services' and registry_only's namespaces are read first: the run fails naming each one that is
    missing, not with a 404 from a dry run half-way; no write, and no DNS query (the host name here has no
    nameserver that could answer, so a query would fail the run with another message)."""
    conn = connection(local_clusters)
    missing = f"{namespace}-nowhere"
    spec = {
        "set": "ns",
        "namespace": namespace,
        "registry_only": [f"{namespace}-absent"],
        "services": [
            {"name": "db", "hosts": ["db.nowhere.invalid"], "ports": [{"number": 5432, "protocol": "TCP"}]},
            {
                "name": "api",
                "namespace": missing,
                "hosts": ["192.0.2.9"],
                "ports": [{"number": 443, "protocol": "TLS"}],
            },
        ],
    }
    resolver = {"nameservers": ["127.0.0.1"], "port": 9, "timeout": 0.2, "retries": 0}
    before = local_clusters.requests(CTX)
    for check_mode in (True, False):
        with pytest.raises(MeshguardError) as caught:
            run(Settings(spec=spec, resolver=resolver), conn, check_mode=check_mode)
        assert str(caught.value) == (
            f"context {CTX}: namespaces '{namespace}-absent', '{missing}' of the rule set do not exist; the set "
            "writes objects there: create them first (or correct the namespace). Nothing was changed"
        )
    after = local_clusters.requests(CTX)
    assert {k: n for k, n in writes(before, after).items() if k[1] in OURS} == {}
    assert {k: n for k, n in writes(before, after, dry_run=True).items() if k[1] in OURS} == {}


def test_the_modules_failure_carries_each_problem_as_data(local_clusters, namespace, tmp_path):
    """What a pipeline or AWX reads: ``errors`` names the service and field of each problem, from the
    module process and from the action plugin that runs the module in-process, and nothing is written."""
    other_python = tmp_path / "python"  # another path to this Python: Ansible runs the module process with it
    other_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    other_python.chmod(0o755)
    services = [
        {"name": "db", "hosts": ["192.0.2.10"], "ports": [{"number": 5432, "protocol": "TCP"}]},
        {"name": "mail", "hosts": ["192.0.2.25"], "ports": [{"number": 25, "protocol": "SMTP"}]},
    ]
    args = {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": CTX,
        "set": "errors",
        "namespace": namespace,
        "services": services,
        # Not a choice the argument spec checks: a problem of the rule set that the library reports.
        "registry_only": ["Shop"],
    }
    before = local_clusters.requests(CTX)
    for interpreter in (str(other_python), "{{ ansible_playbook_python }}"):
        result = run_module("rules", args, interpreter=interpreter)[0]
        assert result["failed"] is True, result
        assert result.get("errors") == [
            {
                "service": None,
                "index": None,
                "field": "registry_only[0]",
                "message": "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a "
                "letter or digit, got 'Shop'",
            },
            {
                "service": "mail",
                "index": 1,
                "field": "ports[0].protocol",
                "message": "must be one of TCP, MONGO, MYSQL, REDIS, TLS, HTTPS, HTTP, HTTP2, GRPC, got 'SMTP'",
            },
        ], interpreter
        assert "services[1] 'mail': ports[0].protocol: must be one of" in result["msg"]
    assert {k: n for k, n in writes(before, local_clusters.requests(CTX)).items() if k[1] in OURS} == {}
