# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo's rule set, and the cases the matrix cannot express, judged by
Istio's own code: the manifests the meshguard.egress.render playbook writes
for every cluster of examples/ (DNS answered by a Knot server of this module
serving examples/dns), loaded into Istio's discovery server by the probe;
and the facts about istioctl this project relies on.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import istiolib
import pytest
import yaml
from clusterlib import ANSIBLE_PLAYBOOK, ROOT, run_module
from demo_render import render_vars
from dnslib import dnstool, start_server
from localclusters.istiod import webhook_probe_object

from ansible_collections.meshguard.egress.plugins.module_utils._render import SERVICE_ANNOTATION

pytestmark = pytest.mark.integration

EXAMPLES = ROOT / "examples"
CLUSTERS = ["local-1", "local-2", "local-3"]
SHOP = {"namespace": "shop", "labels": {"app": "orders"}, "ip_family": "dual"}
# What the example rule set (examples/group_vars/egress_clusters.yml) declares,
# with the answers of its zone (examples/dns): address, port, protocol, and
# the name a client connects to. The databases leave through the egress
# gateway; the partner's block and the cache are sent direct.
DEMO_THROUGH_GATEWAY = [
    ("192.0.2.10", 27017, "MONGO", "mongo-0.orders-db.acme.test"),
    ("192.0.2.11", 27017, "MONGO", "mongo-1.orders-db.acme.test"),
    ("198.51.100.23", 27017, "MONGO", "mongo-2.orders-db.acme.test"),
    ("2001:db8:23::17", 27017, "MONGO", "mongo-2.orders-db.acme.test"),
    ("192.0.2.50", 3306, "MYSQL", None),
]
DEMO_GATEWAY_SERVICES = {"orders-mongo", "billing-mysql"}
DEMO_DECLARED = [
    # The partner publishes a block; its clients connect by whatever name the
    # partner gives them (the rule set does not know it), or by address.
    ("203.0.113.64", 443, "TLS", None),
    ("203.0.113.95", 443, "TLS", "api.payments-partner.example"),
]
DEMO_LOCAL_3 = [("192.0.2.40", 6379, "REDIS", None)]
DEMO_UNDECLARED = [
    ("192.0.2.12", 27017, "MONGO", None),
    ("192.0.2.51", 3306, "MYSQL", None),
    ("203.0.113.96", 443, "TLS", "api.payments-partner.example"),
    ("192.0.2.50", 5432, "TCP", None),
]


def call(address: str, port: int, protocol: str, name, tag: str) -> dict:
    c = istiolib.client_call(address, port, protocol, name, tag)
    c["port"] = port
    return c


def demo_calls(cluster: str) -> list[dict]:
    declared = DEMO_DECLARED + (DEMO_LOCAL_3 if cluster == "local-3" else [])
    undeclared = DEMO_UNDECLARED + ([] if cluster == "local-3" else [("192.0.2.40", 6379, "REDIS", None)])
    calls = [call(a, p, proto, n, f"declared {a}:{p}") for a, p, proto, n in declared]
    calls += [call(a, p, proto, n, f"undeclared {a}:{p}") for a, p, proto, n in undeclared]
    return calls


def rendered_objects(folder) -> list[dict]:
    objects = []
    for f in sorted(Path(folder).glob("*.yaml")):
        objects += [o for o in yaml.safe_load_all(f.read_text()) if o]
    return objects


def gateway_units(folder) -> list[tuple[str, str, int]]:
    """The units of the services through the gateway: (address, SNI, port)."""
    objects = rendered_objects(folder)
    return istiolib.units(
        [o for o in objects if o["metadata"].get("annotations", {}).get(SERVICE_ANNOTATION) in DEMO_GATEWAY_SERVICES]
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict[str, dict]:
    """The example rule set rendered per cluster by the render playbook, and
    Istio's view of each folder."""
    server = start_server(tmp_path_factory, EXAMPLES / "dns", "examples")
    out = tmp_path_factory.mktemp("demo-rendered")
    resolver = {"meshguard_egress_resolver": {"nameservers": ["127.0.0.1"], "port": server.port, "timeout": 2}}
    try:
        cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(EXAMPLES / "inventory.yml"), "meshguard.egress.render"]
        cmd += ["-e", f"meshguard_egress_render_dir={out}", "-e", json.dumps(resolver), "-e", json.dumps(render_vars())]
        env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    finally:
        dnstool.down(server.port, server.state_dir)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    cases = []
    for c in CLUSTERS:
        manifests = istiolib.with_gateway(out / c)
        cases.append({"id": c, "manifests": manifests, "workload": SHOP, "calls": demo_calls(c), "detail": True})
        units = gateway_units(out / c)
        calls = istiolib.sidecar_calls(units, "192.0.2.12")
        cases.append({"id": f"{c}-gateway-sidecar", "manifests": manifests, "workload": SHOP, "calls": calls})
        calls = istiolib.mtls_router_calls(units)
        cases.append(
            {"id": f"{c}-gateway", "manifests": manifests, "workload": istiolib.router_workload(), "calls": calls}
        )
    results = istiolib.probe(cases, shards=1)
    for c in CLUSTERS:
        results[c]["folder"] = str(out / c)
    return results


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_every_destination_of_the_demo_is_reachable_as_declared(demo, cluster):
    r = demo[cluster]
    assert r.get("error") is None, r.get("error")
    bad = istiolib.unreachable(r, istiolib.service_hosts(rendered_objects(r["folder"])))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_the_demo_databases_leave_through_the_egress_gateway(demo, cluster):
    units = gateway_units(demo[cluster]["folder"])
    assert sorted((a, p) for a, _sni, p in units) == sorted((a, p) for a, p, _proto, _name in DEMO_THROUGH_GATEWAY)
    istiolib.check_mtls_sidecar(demo[f"{cluster}-gateway-sidecar"], units)
    istiolib.check_mtls_router(demo[f"{cluster}-gateway"], units)


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_nothing_undeclared_leaves_the_demo_shop(demo, cluster):
    r = demo[cluster]
    assert r["fallback"] == "BlackHoleCluster"
    bad = istiolib.leaks(r, registry_only=True)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_istiod_records_no_conflict_for_the_demo(demo, cluster):
    assert istiolib.conflicts(demo[cluster]) == []


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_istioctl_analyze_finds_nothing_in_the_demo_manifests(demo, cluster):
    assert istiolib.validation_messages(demo[cluster]) == []
    messages = istiolib.analyze_folder(demo[cluster]["folder"])
    assert [istiolib.analyze_message(m) for m in messages] == []


# --------------------------------------------------------------------------- what the matrix cannot express


def rendered(args: dict) -> dict:
    result, out = run_module("rules", {"state": "rendered", "set": "x", "namespace": "shop", **args})
    result["printed"] = out
    return result


TCP_SERVICE = {"name": "db", "hosts": ["192.0.2.50"], "ports": [{"number": 5432, "protocol": "TCP"}]}


def test_the_legacy_api_with_registry_only_is_an_input_error():
    # REGISTRY_ONLY is a networking.istio.io Sidecar; no Istio version serves
    # both it and the 0.x EgressRule, and on current Istio (which ignores
    # EgressRules) the Sidecar would drop the very traffic the set declares.
    result = rendered({"api": "config.istio.io/v1alpha2", "registry_only": ["shop"], "services": [TCP_SERVICE]})
    assert result["failed"], f"rendered {[o['kind'] for o in result.get('resources', [])]}"
    assert "registry_only" in result["msg"] and "config.istio.io/v1alpha2" in result["msg"], result["msg"]


def test_export_to_nowhere_is_an_input_error(tmp_path):
    # exportTo ["~"]: no namespace sees the rule, not even its own (Istio's
    # ValidateExportTo allows it on a ServiceEntry for the service's own
    # proxies only, and an egress rule has none): the shop's calls are
    # blackholed. So the module refuses it, before anything is written.
    base = rendered({"registry_only": ["shop"], "services": [TCP_SERVICE], "dest": str(tmp_path / "istio")})
    assert not base["failed"], base.get("msg")
    (path,) = [
        f for f in (tmp_path / "istio").glob("*.yaml") if yaml.safe_load(f.read_text())["kind"] == "ServiceEntry"
    ]
    obj = yaml.safe_load(path.read_text())
    obj["spec"]["exportTo"] = ["~"]
    path.write_text(yaml.safe_dump(obj))
    judged = istiolib.probe(
        [
            {
                "id": "nowhere",
                "manifests": [str(tmp_path / "istio")],
                "workload": {"namespace": "shop"},
                "calls": [call("192.0.2.50", 5432, "TCP", None, "declared 192.0.2.50:5432")],
            }
        ],
        shards=1,
    )["nowhere"]
    assert judged["calls"][0]["verdict"] == "denied", "Istio lets a rule exported nowhere through"
    service = {**TCP_SERVICE, "export_to": ["~"]}
    result = rendered({"registry_only": ["shop"], "services": [service], "dest": str(tmp_path / "module")})
    assert result["failed"], f"rendered {[o['kind'] for o in result.get('resources', [])]}"
    assert "services[0] 'db': export_to: '~' exports the ServiceEntries to no namespace" in result["msg"], result["msg"]
    assert not list((tmp_path / "module").glob("*")), "files were written"


def test_istioctl_validate_does_not_enforce_the_256_address_cap_the_schema_does(local_clusters, namespace, tmp_path):
    # Why the module checks the cap itself: Istio's Go validation has no such
    # rule; only the CRD schema (maxItems) refuses the object.
    obj = webhook_probe_object(namespace, "wide")
    obj["spec"].update(
        resolution="NONE",
        hosts=["wide.example.test"],
        addresses=[f"198.18.{i // 256}.{i % 256}" for i in range(257)],
    )
    path = tmp_path / "wide.yaml"
    path.write_text(json.dumps(obj))
    cmd = [str(istiolib.ISTIOCTL), "validate", "-f", str(path)]
    validate = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    res = local_clusters.kubectl("local-1", "create", "--dry-run=server", "-f", str(path), check=False)
    assert res.returncode != 0 and "must have at most 256 items" in res.stderr, res.stderr


def test_istioctl_analyze_recursive_analyses_nothing(tmp_path):
    # A VirtualService bound to a Gateway that does not exist: IST0101.
    (tmp_path / "sub").mkdir()
    vs = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "vs", "namespace": "shop"},
        "spec": {
            "hosts": ["a.example.test"],
            "gateways": ["missing"],
            "tcp": [{"route": [{"destination": {"host": "a.example.test"}}]}],
        },
    }
    (tmp_path / "sub" / "vs.yaml").write_text(yaml.safe_dump(vs))
    # A folder is read recursively without any flag (with -A: else only
    # namespace "default" is analysed, and it would find nothing here)...
    codes = [m["code"] for m in istiolib.analyze_folder(tmp_path)]
    assert "IST0101" in codes
    assert istiolib.analyze("--use-kube=false", str(tmp_path)) == []
    # ...and with --recursive istioctl only says the flag is gone, and exits 0.
    res = subprocess.run(
        [str(istiolib.ISTIOCTL), "analyze", "--use-kube=false", "-A", "--recursive", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0
    assert "recursive flag has been removed" in res.stdout + res.stderr
    assert "IST0101" not in res.stdout + res.stderr


def test_another_sets_protocol_on_the_same_port_does_not_silently_drop_a_rule(tmp_path):
    # Two rule sets of a mesh, in two namespaces, each exported to all
    # (export_to: ["*"], the shared-services case; the default exports each
    # to its own namespace only): one declares a block on 27017 as TCP, the
    # other a block on 27017 as MONGO. istiod refuses to put MONGO (or MYSQL)
    # next to another protocol on one port ("conflict happens on a well known
    # port", a log line, no conflict record) and drops the later one. A user
    # who declares a port must get it reachable, or be told.
    tcp = {"name": "reports", "hosts": ["192.0.2.0/28"], "ports": [{"number": 27017, "protocol": "TCP"}]}
    mongo = {"name": "orders", "hosts": ["198.51.100.0/28"], "ports": [{"number": 27017, "protocol": "MONGO"}]}
    for set_name, namespace, service in (("a", "reports", tcp), ("b", "orders", mongo)):
        args = {"state": "rendered", "set": set_name, "namespace": namespace, "services": [service], "export_to": ["*"]}
        result = run_module("rules", {**args, "dest": str(tmp_path / set_name)})[0]
        assert not result["failed"], result["msg"]
    judged = istiolib.probe(
        [
            {
                "id": "both",
                "manifests": [str(tmp_path)],
                "workload": {"namespace": "orders"},
                "calls": [
                    call("198.51.100.0", 27017, "MONGO", None, "declared 198.51.100.0:27017"),
                    call("192.0.2.0", 27017, "TCP", None, "declared 192.0.2.0:27017"),
                ],
            }
        ],
        shards=1,
    )["both"]
    hosts = {"a--reports.reports.meshguard-egress.invalid", "b--orders.orders.meshguard-egress.invalid"}
    assert istiolib.unreachable(judged, hosts) == []
