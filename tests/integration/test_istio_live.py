# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the istiod of every local cluster makes of a real rollout, and of a
DNS change.

The meshguard.egress.rollout playbook applies a rule set to the three test
clusters (host names answered by a Knot server of this module, serving a copy
of files/istio-live-dns that the test edits). The probe then connects to each
cluster's istiod as a sidecar of the rule set's namespace (xDS, the way a
proxy does) and Istio's simulator judges the calls; the same objects, listed
from the cluster and loaded into Istio's in-process discovery server, must
give the same verdicts (that is also how the test knows istiod has caught up).
istioctl analyze runs on each cluster's live state. The module's dry runs go
through Istio's webhook too: istiod counts every object it validates.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import istiolib
import pytest
import yaml
from clusterlib import ANSIBLE_PLAYBOOK, KUBECONFIG, KUBECTL, ROOT, run_module
from dnslib import dnstool

pytestmark = pytest.mark.integration

FILES = Path(__file__).parent / "files" / "istio-live-dns"
ZONE = "live.test.zone"
CLUSTERS = ["local-1", "local-2", "local-3"]
# Port 27018, not MongoDB's 27017: the objects of other tests stay on the
# shared clusters, and another owner's MONGO block on a port still makes
# istiod drop a block of another protocol there (docs/docsite/rst/rendering.rst).
DB = {"name": "db", "hosts": ["db.live.test"], "ports": [{"number": 27018, "protocol": "MONGO"}]}
API = {"name": "api", "hosts": ["api.live.test"], "ports": [{"number": 443, "protocol": "TLS"}]}
MYSQL = {"name": "mysql", "hosts": ["192.0.2.201"], "ports": [{"number": 3306, "protocol": "MYSQL"}]}
SERVICES = [DB, API, MYSQL]


@dataclass
class LiveDns:
    server: object
    path: Path
    original: str

    def edit(self, old: str, new: str) -> None:
        text = self.path.read_text()
        assert old in text, f"{old!r} is not in the zone"
        self.path.write_text(text.replace(old, new))
        dnstool.reload(self.server.port, self.server.state_dir)

    def reset(self) -> None:
        if self.path.read_text() != self.original:
            self.path.write_text(self.original)
            dnstool.reload(self.server.port, self.server.state_dir)


@pytest.fixture(scope="module")
def live_dns(tmp_path_factory):
    zones = tmp_path_factory.mktemp("istio-live-zones")
    shutil.copy(FILES / ZONE, zones / ZONE)
    state = tmp_path_factory.mktemp("dns-istio-live")
    try:
        server = dnstool.up(zones, dnstool.free_port(), state_dir=state)
    except dnstool.DnsToolError as exc:
        pytest.fail(f"cannot start the DNS server of the live Istio tests: {exc}", pytrace=False)
    yield LiveDns(server, zones / ZONE, (zones / ZONE).read_text())
    dnstool.down(server.port, server.state_dir)


@pytest.fixture
def dns(live_dns):
    live_dns.reset()
    yield live_dns
    live_dns.reset()


@pytest.fixture
def emptied(local_clusters, namespace):
    """The test's namespace, emptied of Istio objects afterwards: no
    controller-manager runs, so a deleted namespace keeps its objects, and
    every istiod would keep seeing them in later tests."""
    yield namespace
    for ctx in CLUSTERS:
        kinds = "serviceentries,sidecars,networkpolicies"
        local_clusters.kubectl(ctx, "-n", namespace, "delete", kinds, "--all", check=False)


def rollout(tmp_path: Path, namespace: str, set_name: str, dns: LiveDns, **group_vars) -> str:
    """meshguard.egress.rollout on the three test clusters; what it printed."""
    inventory = {
        "egress_clusters": {
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "meshguard_egress_kubeconfig": str(KUBECONFIG),
            },
            "hosts": {c: {"meshguard_egress_context": c} for c in CLUSTERS},
        }
    }
    values = {
        "meshguard_egress_set": set_name,
        "meshguard_egress_namespace": namespace,
        "meshguard_egress_registry_only": [namespace],
        "meshguard_egress_resolver": {"nameservers": ["127.0.0.1"], "port": dns.server.port, "timeout": 2},
        "meshguard_egress_services": SERVICES,
        **group_vars,
    }
    (tmp_path / "group_vars").mkdir(exist_ok=True)
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "group_vars" / "egress_clusters.yml").write_text(yaml.safe_dump(values))
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "inventory.yml"), "meshguard.egress.rollout"]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return res.stdout + res.stderr


def calls(reachable: list[str], unreachable: list[str]) -> list[dict]:
    """The rule set's calls: db on 27018 (MONGO), api on 443 (TLS with its
    name as SNI), mysql on 3306; addresses expected denied get the same call."""
    out = []
    for tag, addresses in (("declared", reachable), ("undeclared", unreachable)):
        for a in addresses:
            if a.startswith("198.51.100."):
                out.append(istiolib.client_call(a, 27018, "MONGO", None, f"{tag} {a}:27018"))
            elif a.startswith("203.0.113."):
                out.append(istiolib.client_call(a, 443, "TLS", "api.live.test", f"{tag} {a}:443"))
            else:
                out.append(istiolib.client_call(a, 3306, "MYSQL", None, f"{tag} {a}:3306"))
    return out


def verdicts(result: dict) -> list[tuple]:
    return [(c["call"]["name"], c["verdict"], c.get("service")) for c in result["calls"]]


def istio_view(local_clusters, context: str, namespace: str, want: list[dict], timeout: float = 60.0) -> dict:
    """What the cluster's istiod pushes to a sidecar of `namespace`, judged by
    Istio's simulator; once it agrees with Istio's in-process discovery server
    loaded with the cluster's live objects (istiod has seen every change)."""
    cluster = local_clusters.by_context(context)
    workload = {"namespace": namespace, "labels": {"app": "client"}}
    objects = {"kubeconfig": str(local_clusters.kubeconfig), "context": context}
    cases = [
        # istiod's xDS; its conflict records from the same objects in process.
        {"id": "istiod", "istiod": str(cluster.dir / "istiod.json"), **objects, "workload": workload, "calls": want},
        {"id": "objects", **objects, "workload": workload, "calls": want},
    ]
    deadline = time.monotonic() + timeout
    while True:
        results = istiolib.probe(cases, shards=1)
        live, objects = results["istiod"], results["objects"]
        assert not live.get("error"), live["error"]
        assert not objects.get("error"), objects["error"]
        if verdicts(live) == verdicts(objects):
            return live
        assert time.monotonic() < deadline, (
            f"istiod of {context} never agreed with its objects:\n{verdicts(live)}\n{verdicts(objects)}"
        )
        time.sleep(0.5)


def our_hosts(local_clusters, context: str, namespace: str) -> set[str]:
    return istiolib.service_hosts(local_clusters.get(context, "serviceentries.networking.istio.io", namespace))


def ours(problems: list[str], hosts: set[str]) -> list[str]:
    """Conflicts about this set's hosts: istiod's records are cluster-wide,
    and other tests share the clusters."""
    return [p for p in problems if any(h in p for h in hosts)]


def judged(local_clusters, namespace: str, reachable: list[str], unreachable: list[str]) -> None:
    problems = []
    for ctx in CLUSTERS:
        live = istio_view(local_clusters, ctx, namespace, calls(reachable, unreachable))
        hosts = our_hosts(local_clusters, ctx, namespace)
        problems += [f"{ctx}: {p}" for p in istiolib.unreachable(live, hosts)]
        problems += [f"{ctx}: {p}" for p in istiolib.leaks(live, registry_only=True)]
        problems += [f"{ctx}: {p}" for p in ours(istiolib.conflicts(live), hosts)]
        assert live["fallback"] == "BlackHoleCluster", ctx
    assert not problems, "\n".join(problems)


def test_after_a_rollout_every_istiod_routes_what_was_declared(local_clusters, emptied, dns, tmp_path):
    namespace = emptied
    rollout(tmp_path, namespace, f"l{uuid.uuid4().hex[:6]}", dns)
    judged(
        local_clusters,
        namespace,
        reachable=["198.51.100.201", "198.51.100.202", "203.0.113.201", "192.0.2.201"],
        unreachable=["198.51.100.203", "203.0.113.202", "192.0.2.202"],
    )


def test_after_a_dns_change_istiod_routes_new_and_retained_addresses_until_they_expire(
    local_clusters, emptied, dns, tmp_path
):
    namespace = emptied
    set_name = f"l{uuid.uuid4().hex[:6]}"
    retain = 12
    rollout(tmp_path, namespace, set_name, dns, meshguard_egress_retain=f"{retain}s")
    dns.edit("db                A     198.51.100.202", "db                A     198.51.100.203")
    changed = time.monotonic()
    printed = rollout(tmp_path, namespace, set_name, dns, meshguard_egress_retain=f"{retain}s")
    assert "198.51.100.202 is no longer returned by DNS" in printed
    # The new address is reachable at once, the one DNS dropped still is (retained).
    judged(local_clusters, namespace, ["198.51.100.201", "198.51.100.202", "198.51.100.203"], ["198.51.100.204"])
    time.sleep(max(0.0, retain + 2 - (time.monotonic() - changed)))
    rollout(tmp_path, namespace, set_name, dns, meshguard_egress_retain=f"{retain}s")
    # Its time is up: gone, as Istio sees it.
    judged(local_clusters, namespace, ["198.51.100.201", "198.51.100.203"], ["198.51.100.202"])


def test_istioctl_analyze_finds_nothing_in_a_cluster_after_a_rollout(local_clusters, emptied, dns, tmp_path):
    namespace = emptied
    rollout(tmp_path, namespace, f"l{uuid.uuid4().hex[:6]}", dns, meshguard_egress_network_policy=True)
    for ctx in CLUSTERS:
        messages = istiolib.analyze("--kubeconfig", str(local_clusters.kubeconfig), "--context", ctx, "-n", namespace)
        # Only what is about the set's objects: istioctl also reports on the
        # namespace (IST0102, not labelled for sidecar injection) and on the
        # platform (IST0164, the webhook's URL is an IP address).
        ours = [istiolib.analyze_message(m) for m in messages if f" {namespace}/" in m.get("origin", "")]
        assert ours == [], ctx


_PASSED = re.compile(r"^galley_validation_passed\{([^}]*)\} ([0-9.e+]+)$", re.MULTILINE)


def validated(local_clusters, context: str) -> dict[str, int]:
    """Objects istiod's webhook found valid, by resource (its own counter)."""
    url = f"http://{local_clusters.by_context(context).istiod.addresses()['monitoring']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out: dict[str, int] = {}
    for labels, value in _PASSED.findall(text):
        resource = dict(re.findall(r'(\w+)="([^"]*)"', labels)).get("resource", "")
        out[resource] = out.get(resource, 0) + int(float(value))
    return out


def test_check_mode_dry_runs_go_through_istios_webhook(local_clusters, namespace):
    # --check sends every object as a server-side dry run; the API server
    # calls Istio's webhook for those too, so check mode fails where Istio
    # would refuse the real write.
    args = {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": "local-2",
        "set": "dry",
        "namespace": namespace,
        "registry_only": [namespace],
        "services": [MYSQL, {**MYSQL, "name": "mysql-b", "hosts": ["192.0.2.202"]}],
    }
    before = validated(local_clusters, "local-2")
    result, _out = run_module("rules", args, check=True)
    assert not result["failed"], result.get("msg")
    assert result["changed"]
    after = validated(local_clusters, "local-2")
    assert after.get("serviceentries", 0) - before.get("serviceentries", 0) >= 2
    assert after.get("sidecars", 0) - before.get("sidecars", 0) >= 1
    assert local_clusters.get("local-2", "serviceentries.networking.istio.io", namespace) == []


def test_the_probe_summary_names_every_destination_a_workload_may_reach(local_clusters, emptied, dns, tmp_path):
    namespace = emptied
    rollout(tmp_path, namespace, f"l{uuid.uuid4().hex[:6]}", dns)
    istio_view(local_clusters, "local-1", namespace, calls(["192.0.2.201"], []))
    cmd = [str(ROOT / "tools" / "probe"), "--state", str(local_clusters.set.state), "--cluster", "local-1"]
    cmd += [
        "--namespace",
        namespace,
        "--summary",
        "--call",
        "tcp://192.0.2.201:3306",
        "--call",
        "tcp://192.0.2.202:3306",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert text.startswith("local-1 (istiod)\n"), text
    assert "traffic no rule matches: BlackHoleCluster (dropped: REGISTRY_ONLY)" in text
    assert re.search(r"192\.0\.2\.201 port 3306 +-> outbound\|3306\|\|\S+" + namespace, text), text
    assert re.search(r"tcp://192\.0\.2\.201:3306 +routed +\S+", text), text
    assert re.search(r"tcp://192\.0\.2\.202:3306 +denied +BlackHoleCluster", text), text


def watch_events(text: str) -> list[tuple[str, str]]:
    """(type, name) of each event `kubectl get --watch --output-watch-events -o json` printed."""
    decoder, out, at = json.JSONDecoder(), [], 0
    text = text.strip()
    while at < len(text):
        event, end = decoder.raw_decode(text, at)
        out.append((event["type"], event["object"]["metadata"]["name"]))
        at = end
        while at < len(text) and text[at].isspace():
            at += 1
    return out


def test_an_upgrade_from_the_previous_rendering_converges_in_one_run_and_creates_before_it_prunes(
    local_clusters, emptied
):
    # What the release before this rendering wrote: a STATIC service as one
    # object with every endpoint for every address (Istio: n^2 endpoints, a
    # connection load balanced to any of them), and a service of two names as
    # one object with both hosts and MONGO (a listener conflict per address).
    namespace, ctx, set_name = emptied, "local-1", f"u{uuid.uuid4().hex[:6]}"
    static = ["192.0.2.211", "192.0.2.212"]
    replicas = ["192.0.2.213", "192.0.2.214"]

    def previous(service: str, hosts: list[str], addresses: list[str], resolution: str) -> dict:
        spec = {
            "hosts": hosts,
            "addresses": [f"{a}/32" for a in addresses],
            "ports": [{"name": "mongo-27019", "number": 27019, "protocol": "MONGO"}],
            "location": "MESH_EXTERNAL",
            "resolution": resolution,
        }
        if resolution == "STATIC":
            spec["endpoints"] = [{"address": a} for a in addresses]
        labels = {"app.kubernetes.io/managed-by": "meshguard.egress", "meshguard.egress/set": set_name}
        return {
            "apiVersion": "networking.istio.io/v1",
            "kind": "ServiceEntry",
            "metadata": {
                "name": f"{set_name}--{service}",
                "namespace": namespace,
                "labels": labels,
                "annotations": {"meshguard.egress/service": service},
            },
            "spec": spec,
        }

    for obj in (
        previous("db", ["db.upgrade.test"], static, "STATIC"),
        previous("replicas", ["r0.upgrade.test", "r1.upgrade.test"], replicas, "NONE"),
    ):
        # Written as the module writes: server-side apply, its field manager.
        apply = ("apply", "--server-side", "--field-manager=meshguard.egress", "-f", "-")
        local_clusters.kubectl(ctx, *apply, stdin=json.dumps(obj))
    watch = subprocess.Popen(
        [
            *(str(KUBECTL), f"--kubeconfig={local_clusters.kubeconfig}", f"--context={ctx}", "-n", namespace),
            *("get", "serviceentries.networking.istio.io", "--watch", "--output-watch-events", "-o", "json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    port = [{"number": 27019, "protocol": "MONGO"}]
    services = [
        {"name": "db", "hosts": ["db.upgrade.test"], "addresses": static, "ports": port, "resolution": "STATIC"},
        {"name": "replicas", "hosts": ["r0.upgrade.test", "r1.upgrade.test"], "addresses": replicas, "ports": port},
    ]
    args = {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": ctx,
        "set": set_name,
        "namespace": namespace,
        "services": services,
    }
    try:
        time.sleep(1)  # the watch lists what is there first
        first = run_module("rules", args)[0]
        again = run_module("rules", args)[0]
        time.sleep(1)
    finally:
        watch.terminate()
        printed, _err = watch.communicate(timeout=10)
    old, new = f"{set_name}--db", [f"{set_name}--db--192-0-2-211-32", f"{set_name}--db--192-0-2-212-32"]
    assert not first["failed"], first.get("msg")
    assert first["plan"]["create"] == [f"ServiceEntry/{namespace}/{n}" for n in new]
    assert first["plan"]["update"] == [f"ServiceEntry/{namespace}/{set_name}--replicas"]
    assert first["plan"]["delete"] == [f"ServiceEntry/{namespace}/{old}"]
    assert again["changed"] is False, again["plan"]
    events = watch_events(printed)
    assert ("ADDED", old) in events and ("DELETED", old) in events, events
    gone = events.index(("DELETED", old))
    for name in new:
        assert events.index(("ADDED", name)) < gone, f"{old} was deleted before {name} existed: {events}"
    want = [istiolib.client_call(a, 27019, "MONGO", None, f"declared {a}:27019") for a in static + replicas]
    live = istio_view(local_clusters, ctx, namespace, want)
    hosts = our_hosts(local_clusters, ctx, namespace)
    assert istiolib.unreachable(live, hosts) == []
    assert ours(istiolib.conflicts(live), hosts) == []
