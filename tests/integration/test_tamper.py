# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 23, points 4 to 7, against a real kube-apiserver (Istio's CRDs) and the real filesystem.

- Rendered files: links planted in dest and a linked dest, through the module and the render playbook.
- Object names: the two sets whose names collided apply side by side; an object named the old way is
  replaced without a gap (the new one written first, the old one pruned last).
- Look-alike names: refused with both forms before any write; allowed explicitly, applied with its
  ASCII form.
- Guardrail writers and Istio's proxy ports: refused naming the field, nothing written or rendered.

What was written is read back with kubectl; writes are counted with the API server's own
apiserver_request_total.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from clusterlib import ANSIBLE_PLAYBOOK, ROOT, owned, run_module, writes

pytestmark = pytest.mark.integration

CTX = "local-2"
SE = "serviceentry.networking.istio.io"
PAYPAL = "p\u0430ypal.example"  # a Cyrillic a
PAYPAL_ACE = "xn--pypal-4ve.example"


def args(local_clusters, namespace: str, services: list, **extra) -> dict:
    return {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": CTX,
        "set": extra.pop("set", "shop"),
        "namespace": namespace,
        "services": services,
        **extra,
    }


def db(name: str = "db", **extra) -> dict:
    return {"name": name, "hosts": ["192.0.2.10"], "ports": [{"number": 5432, "protocol": "TCP"}], **extra}


OURS = {
    "serviceentries",
    "networkpolicies",
    "sidecars",
    "gateways",
    "virtualservices",
    "destinationrules",
    "authorizationpolicies",
    "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
}


def all_writes(local_clusters, before) -> dict:
    """Writes to the kinds the collection writes (controllers' own writes elsewhere aside)."""
    return {k: n for k, n in writes(before, local_clusters.requests(CTX)).items() if k[1] in OURS}


# --- 4. rendered files ----------------------------------------------------------------------------------------


def test_the_module_replaces_a_planted_link_and_never_writes_where_it_points(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "authorized_keys").write_text("ssh-ed25519 AAAA keep\n")
    dest = tmp_path / "rendered"
    dest.mkdir()
    name = f"{SE}_shop_shop--db.yaml"
    (dest / name).symlink_to(outside / "authorized_keys")
    (dest / "stale.yaml").symlink_to(outside, target_is_directory=True)
    rendered = {"set": "shop", "namespace": "shop", "state": "rendered", "dest": str(dest), "services": [db()]}
    result = run_module("rules", rendered)[0]
    assert not result.get("failed"), result.get("msg")
    assert (outside / "authorized_keys").read_text() == "ssh-ed25519 AAAA keep\n"
    assert not (dest / name).is_symlink() and "kind: ServiceEntry" in (dest / name).read_text()
    assert (dest / "stale.yaml").is_symlink(), "a link that is no file of the set is left alone"
    warnings = "\n".join(result.get("warnings", []))
    assert f"{name} was a symbolic link" in warnings and "stale.yaml is a symbolic link; it was left alone" in warnings


def test_the_module_refuses_a_dest_that_is_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "cluster-1").symlink_to(outside, target_is_directory=True)
    rendered = {
        "set": "shop",
        "namespace": "shop",
        "state": "rendered",
        "dest": str(tmp_path / "cluster-1"),
        "services": [db()],
    }
    result = run_module("rules", rendered)[0]
    assert result.get("failed") and "is a symbolic link" in result["msg"]
    assert list(outside.iterdir()) == []


def render_playbook(tmp_path, render_dir) -> subprocess.CompletedProcess:
    inventory = tmp_path / "inventory.yml"
    spec = {"meshguard_egress_set": "shop", "meshguard_egress_namespace": "shop", "meshguard_egress_services": [db()]}
    spec["ansible_python_interpreter"] = "{{ ansible_playbook_python }}"  # as the role's README says
    inventory.write_text(json.dumps({"egress_clusters": {"hosts": {"cluster-1": spec}}}))
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), "meshguard.egress.render"]
    cmd += ["-e", f"meshguard_egress_render_dir={render_dir}"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_the_render_playbook_refuses_a_render_folder_that_is_a_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "manifests").symlink_to(outside, target_is_directory=True)
    res = render_playbook(tmp_path, tmp_path / "manifests")
    assert res.returncode != 0
    assert "is a symbolic link" in res.stdout + res.stderr
    assert list(outside.iterdir()) == []
    real = render_playbook(tmp_path, tmp_path / "real")
    assert real.returncode == 0, real.stdout + real.stderr
    assert [p.name for p in (tmp_path / "real" / "cluster-1").iterdir()] == [f"{SE}_shop_shop--db.yaml"]


# --- 5. object names --------------------------------------------------------------------------------------------


@pytest.fixture
def pair(local_clusters):
    """The report's pair: set meshguard-egress with a service P, and set P (a name of this test's own)."""
    name = f"p{uuid.uuid4().hex[:8]}"
    yield name
    for set_name in (name, "meshguard-egress"):
        run_module(
            "rules", {"kubeconfig": str(local_clusters.kubeconfig), "context": CTX, "set": set_name, "state": "absent"}
        )


def test_the_two_sets_whose_names_collided_apply_side_by_side(local_clusters, namespace, pair):
    way = {"egress_gateway": {}, "network_policy": True}
    first = run_module("rules", args(local_clusters, namespace, [db(pair)], set="meshguard-egress", **way))[0]
    second = run_module("rules", args(local_clusters, namespace, [db("db")], set=pair, **way))[0]
    for result in (first, second):
        assert not result.get("failed"), result.get("msg")
        assert result["failures"] == [] and result["counts"]["conflicts"] == 0
    # Before: both sets named a NetworkPolicy istio-system/meshguard-egress--<P>--gateway.
    assert (
        f"istio-system/meshguard-egress--{pair}--gateway"
        in owned(local_clusters, CTX, "meshguard-egress")["NetworkPolicy"]
    )
    assert f"istio-system/{pair}--meshguard-egress--gateway" in owned(local_clusters, CTX, pair)["NetworkPolicy"]
    before = local_clusters.requests(CTX)
    for set_name, service in (("meshguard-egress", pair), (pair, "db")):
        again = run_module("rules", args(local_clusters, namespace, [db(service)], set=set_name, **way))[0]
        assert again["changed"] is False, again["plan"]
    assert all_writes(local_clusters, before) == {}, "a set overwrote the other's object"


def test_an_object_named_the_old_way_is_replaced_new_first_old_last(local_clusters, namespace, pair):
    # What an earlier version left: the set's base gateway NetworkPolicy under its old name.
    old = f"meshguard-egress--{pair}--gateway"
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": old,
            "namespace": "istio-system",
            "labels": {"app.kubernetes.io/managed-by": "meshguard.egress", "meshguard.egress/set": pair},
        },
        "spec": {"podSelector": {"matchLabels": {"istio": "egressgateway"}}, "policyTypes": ["Egress"], "egress": []},
    }
    local_clusters.kubectl(CTX, "apply", "-f", "-", stdin=json.dumps(policy))
    way = {"egress_gateway": {}, "network_policy": True}
    result = run_module("rules", args(local_clusters, namespace, [db()], set=pair, **way), diff=True)[0]
    assert not result.get("failed"), result.get("msg")
    new = f"NetworkPolicy/istio-system/{pair}--meshguard-egress--gateway"
    assert new in result["plan"]["create"] and f"NetworkPolicy/istio-system/{old}" in result["plan"]["delete"]
    order = [entry["before_header"].split(" ")[0] for entry in result["diff"]]
    # Writes go out kind by kind, prune only after every write succeeded: the new policy is in place first.
    assert order.index(new) < order.index(f"NetworkPolicy/istio-system/{old}")
    policies = owned(local_clusters, CTX, pair)["NetworkPolicy"]
    assert f"istio-system/{pair}--meshguard-egress--gateway" in policies and f"istio-system/{old}" not in policies


# --- 6. look-alike names ------------------------------------------------------------------------------------------


def test_a_look_alike_host_is_refused_with_both_forms_and_nothing_is_written(local_clusters, namespace):
    before = local_clusters.requests(CTX)
    result = run_module("rules", args(local_clusters, namespace, [db("pay", hosts=[PAYPAL])]))[0]
    assert result.get("failed")
    assert (
        f"services[0] 'pay': hosts[0]: invalid term '{PAYPAL}': {PAYPAL_ACE} ({PAYPAL}) mixes scripts" in result["msg"]
    )
    assert all_writes(local_clusters, before) == {}


def test_a_look_alike_the_service_allows_is_applied_under_its_ascii_name(local_clusters, namespace):
    answer = {"host": PAYPAL_ACE, "unicode": PAYPAL, "addresses": ["192.0.2.44"], "cidrs": ["192.0.2.44/32"]}
    service = db("pay", hosts=[PAYPAL], allow_mixed_scripts=[PAYPAL])
    result = run_module("rules", args(local_clusters, namespace, [service], resolved=[answer]))[0]
    assert not result.get("failed"), result.get("msg")
    (entry,) = local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, "shop--pay")
    assert entry["spec"]["hosts"] == [PAYPAL_ACE] and entry["spec"]["addresses"] == ["192.0.2.44/32"]


# --- 7. writers and Istio's proxy ports ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["present", "rendered"])
def test_a_writer_with_a_newline_is_named_and_nothing_is_written(local_clusters, namespace, tmp_path, state):
    before = local_clusters.requests(CTX)
    extra = {"guardrail": {"writers": ["admin", "ops\nadmin"]}, "state": state}
    if state == "rendered":
        extra["dest"] = str(tmp_path / "out")
    result = run_module("rules", args(local_clusters, namespace, [db()], **extra))[0]
    assert result.get("failed")
    assert "guardrail.writers[1]: holds U+000A, a control, format or separator character" in result["msg"]
    assert all_writes(local_clusters, before) == {}
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("way", [{}, {"egress_gateway": {}}], ids=["direct", "gateway"])
def test_istios_proxy_ports_are_refused_naming_service_and_field(local_clusters, namespace, way):
    before = local_clusters.requests(CTX)
    service = db(ports=[{"number": 5432, "protocol": "TCP"}, {"number": 15001, "protocol": "TCP"}])
    result = run_module("rules", args(local_clusters, namespace, [service], **way))[0]
    assert result.get("failed")
    assert "services[0] 'db': ports[1].number: 15001 is a port of Istio's own proxy in every pod" in result["msg"]
    assert all_writes(local_clusters, before) == {}
