# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guardrail, enforced by a real kube-apiserver (v1.37, Istio's CRDs).

A cluster of its own (guard-1): the ValidatingAdmissionPolicy is cluster-wide,
and must never deny the other suites' objects. meshguard.egress.rules applies
it with the admin as writer; then kubectl, as a user generated at run time
(a client certificate signed by the cluster's CA) whom RBAC lets write
ServiceEntries and NetworkPolicies, is denied hostile objects and changes
to the set's objects with the policy's message, server-side dry runs
included, while the collection's own runs pass.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from clusterlib import KUBECTL, LocalClusters, clustertool, run_module, writes
from cryptography import x509
from cryptography.hazmat.primitives import serialization

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CTX = "guard-1"
ADMIN = "admin-guard-1"
DEVELOPER = "mesh-developer"
POLICY = "meshguard-egress--guarded"
DB = {"name": "db", "hosts": ["192.0.2.10", "2001:db8::10"], "ports": [{"number": 5432, "protocol": "TCP"}]}
OURS = {"serviceentries", "networkpolicies", "validatingadmissionpolicies", "validatingadmissionpolicybindings"}

DEVELOPER_RBAC = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: mesh-developer}}
rules:
- apiGroups: ["networking.istio.io", "networking.k8s.io"]
  resources: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: mesh-developer}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: mesh-developer}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: {DEVELOPER}}}]
"""


@pytest.fixture(scope="module")
def guard_cluster():
    state = ROOT / ".cache" / "test-guard"
    cs = clustertool.ClusterSet(state, state / "kubeconfig", prefix="guard")
    already = {c.name for c in cs.known() if c.pid()}
    (member,) = cs.up(1)
    view = LocalClusters(cs, [member], cs.kubeconfig)
    view.kubectl(CTX, "apply", "--server-side", "--field-manager=meshguard-tests", "-f", "-", stdin=DEVELOPER_RBAC)
    yield view
    if os.environ.get("MESHGUARD_KEEP_CLUSTERS") != "1" and member.name not in already:
        member.shutdown()


@pytest.fixture(scope="module")
def developer(guard_cluster, tmp_path_factory):
    """A kubeconfig for mesh-developer: a key and certificate made now, signed by guard-1's CA."""
    member = guard_cluster.members[0]
    pki = member.dir / "pki"
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    key, cert = clustertool._issue(ca_key, ca, DEVELOPER, [], False)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CTX,
                "cluster": {"server": member.server, "certificate-authority-data": b64((pki / "ca.crt").read_bytes())},
            }
        ],
        "users": [
            {
                "name": DEVELOPER,
                "user": {
                    "client-certificate-data": b64(cert.public_bytes(serialization.Encoding.PEM)),
                    "client-key-data": b64(key_pem),
                },
            }
        ],
        "contexts": [{"name": DEVELOPER, "context": {"cluster": CTX, "user": DEVELOPER}}],
        "current-context": DEVELOPER,
    }
    path = tmp_path_factory.mktemp("developer") / "kubeconfig"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


@pytest.fixture
def guarded(guard_cluster):
    """A namespace, and the set 'guarded' applied there with the guardrail; every object of the set removed after."""
    namespace = f"g-{uuid.uuid4().hex[:8]}"
    guard_cluster.kubectl(CTX, "create", "namespace", namespace)
    args = base_args(guard_cluster, namespace)
    result = run_module("rules", args)[0]
    assert not result["failed"], result.get("msg")
    yield namespace, args
    run_module("rules", {**args, "services": [], "state": "absent"})
    assert our_admission_policies(guard_cluster) == []


def our_admission_policies(guard_cluster) -> list[str]:
    """The cluster's ValidatingAdmissionPolicies but the Gateway API's own (its standard
    bundle ships safe-upgrades.gateway.networking.k8s.io, which the local platform installs)."""
    names = guard_cluster.kubectl(CTX, "get", "validatingadmissionpolicies", "-o", "name").stdout.split()
    return [n for n in names if not n.endswith(".gateway.networking.k8s.io")]


def base_args(guard_cluster, namespace, **extra) -> dict:
    return {
        "kubeconfig": str(guard_cluster.kubeconfig),
        "context": CTX,
        "set": "guarded",
        "namespace": namespace,
        "network_policy": True,
        "guardrail": {"writers": [ADMIN]},
        "services": [DB],
        **extra,
    }


def as_developer(developer: Path, *args: str, stdin: str | None = None):
    cmd = [str(KUBECTL), f"--kubeconfig={developer}", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)


def service_entry(namespace: str, name: str, *addresses: str, endpoints=(), location="MESH_EXTERNAL") -> str:
    spec = {
        "hosts": [f"{name}.example.com"],
        "addresses": list(addresses),
        "ports": [{"number": 5432, "name": "tcp", "protocol": "TCP"}],
        "location": location,
        "resolution": "STATIC" if endpoints else "NONE",
    }
    if endpoints:
        spec["endpoints"] = [{"address": e} for e in endpoints]
    obj = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return yaml.safe_dump(obj)


def network_policy(namespace: str, name: str, block: dict) -> str:
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": block}]}]},
    }
    return yaml.safe_dump(obj)


DENIED = f"is forbidden: ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: "
PREFIX = "meshguard.egress guardrail of set guarded: "
NEVER = (
    ". Special-purpose addresses and the cluster's own ranges are never external destinations; "
    "this guardrail denies them for every user"
)


def test_the_collection_applies_the_guardrail_like_its_other_objects(guard_cluster, guarded):
    _namespace, args = guarded
    policy = json.loads(guard_cluster.kubectl(CTX, "get", "validatingadmissionpolicy", POLICY, "-o", "json").stdout)
    assert policy["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "meshguard.egress",
        "meshguard.egress/set": "guarded",
    }
    assert policy["spec"]["failurePolicy"] == "Fail"
    refused = next(v["expression"] for v in policy["spec"]["variables"] if v["name"] == "refused")
    assert "'169.254.0.0/16'" in refused and "'10.0.0.0/24'" in refused  # the cluster's ServiceCIDR, read from it
    binding = json.loads(
        guard_cluster.kubectl(CTX, "get", "validatingadmissionpolicybinding", POLICY, "-o", "json").stdout
    )
    assert binding["spec"] == {"policyName": POLICY, "validationActions": ["Deny"]}
    before = guard_cluster.requests(CTX)
    again = run_module("rules", args)[0]
    assert (again["changed"], again["counts"]["unchanged"]) == (False, 4)
    assert {k: n for k, n in writes(before, guard_cluster.requests(CTX)).items() if k[1] in OURS} == {}


HOSTILE_ENTRIES = [
    # (addresses, endpoints, what the denial says about them)
    (["169.254.169.254"], [], "169.254.169.254 (refused range 169.254.0.0/16: link-local, RFC 3927)"),
    (["203.0.113.7"], ["127.0.0.1"], "127.0.0.1 (refused range 127.0.0.0/8: loopback, RFC 1122 §3.2.1.3)"),
    (["64:ff9b::7f00:1"], [], "64:ff9b::7f00:1 (refused range 64:ff9b::7f00:0/104: 127.0.0.0/8 (loopback) in NAT64"),
    (["::ffff:169.254.169.254"], [], "::ffff:169.254.169.254 (cannot be judged: not an IP address or CIDR block"),
    (["10.0.0.5"], [], "10.0.0.5 (refused range 10.0.0.0/24: the cluster's Service range, ServiceCIDR kubernetes"),
    (["0.0.0.0/0"], [], "0.0.0.0/0 (refused range 0.0.0.0/8: "),
]


@pytest.mark.parametrize("dry_run", [False, True], ids=["create", "server dry run"])
def test_a_user_who_may_write_service_entries_is_denied_hostile_ones(guard_cluster, guarded, developer, dry_run):
    namespace, _args = guarded
    extra = ["--dry-run=server"] if dry_run else []
    for addresses, endpoints, why in HOSTILE_ENTRIES:
        text = service_entry(namespace, "hostile", *addresses, endpoints=endpoints)
        res = as_developer(developer, "apply", *extra, "-f", "-", stdin=text)
        assert res.returncode != 0, addresses
        assert (
            f'serviceentries.networking.istio.io "hostile" {DENIED}{PREFIX}'
            f"ServiceEntry {namespace}/hostile is MESH_EXTERNAL and allows {why}" in res.stderr
        ), (addresses, res.stderr)
        assert NEVER in res.stderr
    # For everyone: the cluster's admin too.
    res = guard_cluster.kubectl(
        CTX, "apply", *extra, "-f", "-", stdin=service_entry(namespace, "hostile", "127.0.0.1"), check=False
    )
    assert (
        res.returncode != 0
        and f"{PREFIX}ServiceEntry {namespace}/hostile is MESH_EXTERNAL and allows 127.0.0.1" in res.stderr
    )
    assert guard_cluster.kubectl(CTX, "get", "serviceentries", "-n", namespace, "-o", "name").stdout.split() == [
        "serviceentry.networking.istio.io/guarded--db"
    ]


def test_what_is_external_or_mesh_internal_passes(guarded, developer):
    namespace, _args = guarded
    for name, text in [
        ("partner", service_entry(namespace, "partner", "203.0.113.0/28", "2001:db8:5::/64")),
        ("inside", service_entry(namespace, "inside", "10.0.0.5", location="MESH_INTERNAL")),
        ("private", service_entry(namespace, "private", "10.20.0.0/24")),
        (
            "egress",
            network_policy(
                namespace,
                "egress",
                {"cidr": "0.0.0.0/1", "except": ["0.0.0.0/8", "10.0.0.0/24", "100.100.100.200/32", "127.0.0.0/8"]},
            ),
        ),
    ]:
        res = as_developer(developer, "apply", "--dry-run=server", "-f", "-", stdin=text)
        assert res.returncode == 0, (name, res.stderr)


def test_network_policies_that_allow_refused_ranges_are_denied(guarded, developer):
    namespace, _args = guarded
    for block, why in [
        ({"cidr": "169.254.169.254/32"}, "169.254.169.254/32 (refused range 169.254.0.0/16: link-local, RFC 3927)"),
        ({"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}, "0.0.0.0/0 (refused range 0.0.0.0/8: "),
        ({"cidr": "10.0.0.0/8"}, "10.0.0.0/8 (refused range 10.0.0.0/24: the cluster's Service range"),
    ]:
        text = network_policy(namespace, "open", block)
        res = as_developer(developer, "apply", "--dry-run=server", "-f", "-", stdin=text)
        assert res.returncode != 0, block
        assert f"{DENIED}{PREFIX}NetworkPolicy {namespace}/open allows egress to {why}" in res.stderr, res.stderr


def test_only_the_writers_may_change_the_sets_objects(guard_cluster, guarded, developer):
    namespace, args = guarded
    who = (
        f"{PREFIX}ServiceEntry {namespace}/guarded--db is managed by meshguard.egress; "
        f"only {ADMIN} may change it, not {DEVELOPER}"
    )
    for verb in (
        ["label", "serviceentry", "guarded--db", "-n", namespace, "team=mine"],
        ["label", "serviceentry", "guarded--db", "-n", namespace, "meshguard.egress/set-"],
        ["delete", "serviceentry", "guarded--db", "-n", namespace, "--dry-run=server"],
        ["delete", "serviceentry", "guarded--db", "-n", namespace],
    ):
        res = as_developer(developer, *verb)
        assert res.returncode != 0, verb
        assert f'"guarded--db" {DENIED}{who}' in res.stderr, (verb, res.stderr)
    # Creating an object that claims to be the set's is a change to the set too.
    claimed = yaml.safe_load(service_entry(namespace, "claimed", "203.0.113.9"))
    claimed["metadata"]["labels"] = {
        "app.kubernetes.io/managed-by": "meshguard.egress",
        "meshguard.egress/set": "guarded",
    }
    res = as_developer(developer, "apply", "-f", "-", stdin=yaml.safe_dump(claimed))
    assert res.returncode != 0 and "is managed by meshguard.egress; only admin-guard-1 may change it" in res.stderr
    # The collection's own runs pass: a new service, an address change, and a check-mode preview.
    more = [
        dict(DB, hosts=["192.0.2.11"]),
        {"name": "cache", "hosts": ["198.51.100.7"], "ports": [{"number": 6379, "protocol": "REDIS"}]},
    ]
    preview = run_module("rules", {**args, "services": more}, check=True, diff=True)[0]
    assert not preview["failed"], preview.get("msg")
    result = run_module("rules", {**args, "services": more})[0]
    assert not result["failed"], result.get("msg")
    assert result["plan"] == preview["plan"]
    assert sorted(result["plan"]["create"]) == [
        f"NetworkPolicy/{namespace}/guarded--cache",
        f"ServiceEntry/{namespace}/guarded--cache",
    ]
    se = guard_cluster.get(CTX, "serviceentries.networking.istio.io", namespace, "guarded--db")[0]
    assert se["spec"]["addresses"] == ["192.0.2.11/32"]


def test_a_run_whose_user_is_not_a_writer_changes_nothing(guard_cluster, guarded):
    _namespace, args = guarded
    before = guard_cluster.requests(CTX)
    result = run_module(
        "rules", {**args, "services": [dict(DB, hosts=["192.0.2.12"])], "guardrail": {"writers": ["pipeline"]}}
    )[0]
    assert result["failed"]
    assert result["msg"] == (
        f"context {CTX}: this run is user {ADMIN!r}, which is not in guardrail.writers (pipeline): the guardrail would "
        "deny this run's own changes; nothing was changed"
    )
    assert {k: n for k, n in writes(before, guard_cluster.requests(CTX)).items() if k[1] in OURS} == {}


def test_with_the_guardrail_allow_ranges_cannot_open_special_or_cluster_ranges(guard_cluster, guarded):
    namespace, args = guarded
    metadata = {
        "name": "imds",
        "hosts": ["169.254.169.254"],
        "allow_ranges": ["169.254.169.254/32"],
        "ports": [{"number": 80, "protocol": "TCP"}],
    }
    result = run_module("rules", {**args, "services": [DB, metadata]})[0]
    assert result["failed"]
    assert (
        "services[1] 'imds': hosts[0]: 169.254.169.254 is in 169.254.169.254/32, cloud instance metadata endpoint"
        in result["msg"]
    )
    assert "the guardrail denies it for everyone, so allow_ranges cannot open it" in result["msg"]
    # Without the guardrail, allow_ranges are the one way to accept it knowingly.
    plain = run_module("rules", {**args, "set": "knowingly", "guardrail": None, "services": [metadata]}, check=True)[0]
    assert plain["failed"]  # ... but the live guardrail of set 'guarded' denies it for everyone, even in a dry run
    assert (
        f"{DENIED}{PREFIX}ServiceEntry {namespace}/knowingly--imds is MESH_EXTERNAL and allows 169.254.169.254"
        in plain["msg"]
    )


def test_deletes_in_a_namespace_being_deleted_pass(guard_cluster, guarded, developer):
    namespace, args = guarded
    doomed = f"g-{uuid.uuid4().hex[:8]}"
    guard_cluster.kubectl(CTX, "create", "namespace", doomed)
    assert not run_module("rules", {**args, "services": [DB, dict(DB, name="db2", namespace=doomed)]})[0]["failed"]
    guard_cluster.kubectl(CTX, "delete", "namespace", doomed, "--wait=false")
    # No controller-manager runs here: the namespace stays Terminating, as it does while the
    # namespace controller empties it; deleting its objects must not be denied.
    res = as_developer(developer, "delete", "serviceentry", "guarded--db2", "-n", doomed)
    assert res.returncode == 0, res.stderr
    # The set in the live namespace is still protected.
    assert as_developer(developer, "delete", "serviceentry", "guarded--db", "-n", namespace).returncode != 0


def test_removing_the_guardrail_prunes_its_policy_and_binding(guard_cluster, guarded):
    _namespace, args = guarded
    preview = run_module("rules", {**args, "guardrail": None}, check=True, diff=True)[0]
    assert sorted(preview["plan"]["delete"]) == [
        f"ValidatingAdmissionPolicy/{POLICY}",
        f"ValidatingAdmissionPolicyBinding/{POLICY}",
    ]
    assert any(
        d["after_header"] == f"ValidatingAdmissionPolicy/{POLICY} (context {CTX}) [deleted]" for d in preview["diff"]
    )
    result = run_module("rules", {**args, "guardrail": None})[0]
    assert result["plan"]["delete"] == preview["plan"]["delete"]
    assert our_admission_policies(guard_cluster) == []
