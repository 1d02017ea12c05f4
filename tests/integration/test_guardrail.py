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

import istiolib
import pytest
import yaml
from clusterlib import KUBECTL, LocalClusters, run_module, writes
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from localclusters.clusterset import ClusterSet
from localclusters.pki import issue

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CTX = "guard-1"
ADMIN = "admin-guard-1"
DEVELOPER = "mesh-developer"
POLICY = "guarded--meshguard-egress"
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
    cs = ClusterSet(state, state / "kubeconfig", prefix="guard")
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
    key, cert = issue(ca_key, ca, DEVELOPER, [], False)

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
            f"ServiceEntry {namespace}/hostile allows {why}" in res.stderr
        ), (addresses, res.stderr)
        assert NEVER in res.stderr
    # For everyone: the cluster's admin too.
    res = guard_cluster.kubectl(
        CTX, "apply", *extra, "-f", "-", stdin=service_entry(namespace, "hostile", "127.0.0.1"), check=False
    )
    assert res.returncode != 0 and f"{PREFIX}ServiceEntry {namespace}/hostile allows 127.0.0.1" in res.stderr
    assert guard_cluster.kubectl(CTX, "get", "serviceentries", "-n", namespace, "-o", "name").stdout.split() == [
        "serviceentry.networking.istio.io/guarded--db"
    ]


def test_what_is_external_or_mesh_internal_passes(guarded, developer):
    namespace, _args = guarded
    for name, text in [
        ("partner", service_entry(namespace, "partner", "203.0.113.0/28", "2001:db8:5::/64")),
        # Private addresses are not the guardrail's (the cluster's own ranges are, in every location).
        ("inside", service_entry(namespace, "inside", "10.20.0.5", location="MESH_INTERNAL")),
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
    assert f"{DENIED}{PREFIX}ServiceEntry {namespace}/knowingly--imds allows 169.254.169.254" in plain["msg"]


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


# --------------------------------------------------------------------------- what a hostile writer plants


def probe(guard_cluster, namespace: str, calls: dict[str, tuple[str, int]], want: dict[str, str]) -> None:
    """guard-1's istiod, asked as a sidecar of ``namespace``: each call's verdict (routed, denied, passthrough)
    as ``want`` says, once istiod has caught up with the writes."""
    istiod = {"istiod": str(guard_cluster.members[0].dir / "istiod.json")}
    case = {
        "id": "client",
        **istiod,
        "workload": {"namespace": namespace, "labels": {"app": "client"}},
        "calls": [istiolib.tcp(address, port, name) for name, (address, port) in calls.items()],
    }

    def check(results):
        got = {name: call["verdict"] for name, call in istiolib.by_name(results["client"]).items()}
        assert got == want, got

    istiolib.judge_until([case], check, timeout=60)


def sidecar(namespace: str, name: str, mode=None, selector=None) -> str:
    spec: dict = {"egress": [{"hosts": ["*/*"]}]}
    if mode:
        spec["outboundTrafficPolicy"] = {"mode": mode}
    if selector:
        spec["workloadSelector"] = {"labels": selector}
    obj = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Sidecar",
        "metadata": {"name": name, "namespace": namespace},
    }
    return yaml.safe_dump({**obj, "spec": spec})


CALLS = {"declared": ("192.0.2.10", 5432), "metadata": ("169.254.169.254", 5432), "other": ("198.51.100.66", 5432)}
LOCKED = {"declared": "routed", "metadata": "denied", "other": "denied"}


def test_what_would_reopen_a_locked_namespace_is_denied_to_a_non_writer(guard_cluster, guarded, developer):
    """Every object the review planted as a non-writer, judged by the guardrail (server-side dry runs and real
    writes): entries that match every address, internal entries and WorkloadEntries in refused ranges, a patch
    that turns an entry internal, egress rules without peers, Sidecars that leave REGISTRY_ONLY. istiod then
    routes, for the locked namespace, what the set declared and nothing else."""
    namespace, args = guarded
    assert not run_module("rules", {**args, "registry_only": [namespace]})[0]["failed"]
    every = yaml.safe_load(service_entry(namespace, "every", "192.0.2.99"))
    del every["spec"]["addresses"]
    internal = service_entry(namespace, "internal", "169.254.169.254", location="MESH_INTERNAL")
    no_peers = yaml.safe_load(network_policy(namespace, "open", {"cidr": "192.0.2.0/24"}))
    no_peers["spec"]["egress"] = [{"ports": [{"protocol": "TCP", "port": 5432}]}]
    empty_peers = yaml.safe_load(network_policy(namespace, "open", {"cidr": "192.0.2.0/24"}))
    empty_peers["spec"]["egress"] = [{"to": []}]
    workload_entry = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": "imds", "namespace": namespace},
        "spec": {"address": "169.254.169.254", "labels": {"app": "imds"}},
    }
    attempts = {
        "has resolution NONE and no addresses: Istio matches every destination address": yaml.safe_dump(every),
        f"ServiceEntry {namespace}/internal allows 169.254.169.254": internal,
        f"NetworkPolicy {namespace}/open has an egress rule without to": yaml.safe_dump(no_peers),
        f"NetworkPolicy {namespace}/open has an egress rule without to: it": yaml.safe_dump(empty_peers),
        f"Sidecar {namespace}/escape is not REGISTRY_ONLY in namespace {namespace}": sidecar(
            namespace, "escape", "ALLOW_ANY", {"app": "client"}
        ),
        f"Sidecar {namespace}/inherits is not REGISTRY_ONLY": sidecar(namespace, "inherits", None, {"app": "client"}),
        f"WorkloadEntry {namespace}/imds allows 169.254.169.254": yaml.safe_dump(workload_entry),
    }
    for why, text in attempts.items():
        for dry_run in (["--dry-run=server"], []):
            res = as_developer(developer, "apply", *dry_run, "-f", "-", stdin=text)
            assert res.returncode != 0, (why, dry_run)
            assert f"{DENIED}{PREFIX}" in res.stderr and why in res.stderr, (why, res.stderr)
    # An external entry passes; a patch that turns it internal with a refused address does not.
    assert (
        as_developer(developer, "apply", "-f", "-", stdin=service_entry(namespace, "partner", "203.0.113.7")).returncode
        == 0
    )
    patch = json.dumps(
        [
            {"op": "replace", "path": "/spec/location", "value": "MESH_INTERNAL"},
            {"op": "replace", "path": "/spec/addresses", "value": ["169.254.169.254"]},
        ]
    )
    res = as_developer(developer, "patch", "serviceentry", "partner", "-n", namespace, "--type=json", "-p", patch)
    assert res.returncode != 0 and f"ServiceEntry {namespace}/partner allows 169.254.169.254" in res.stderr, res.stderr
    # Outside the locked namespaces a Sidecar is the developer's business.
    other = f"g-{uuid.uuid4().hex[:8]}"
    guard_cluster.kubectl(CTX, "create", "namespace", other)
    res = as_developer(developer, "apply", "--dry-run=server", "-f", "-", stdin=sidecar(other, "mine", "ALLOW_ANY"))
    assert res.returncode == 0, res.stderr
    calls = {**CALLS, "partner": ("203.0.113.7", 5432)}
    probe(guard_cluster, namespace, calls, {**LOCKED, "partner": "routed"})
    as_developer(developer, "delete", "serviceentry", "partner", "-n", namespace)


def resolved(*addresses: str) -> list[dict]:
    """A DNS answer given to the module (its resolved option): the test needs no DNS server."""
    return [
        {
            "host": "db.tamper.test",
            "addresses": list(addresses),
            "cidrs": [],
            "cname_chain": [],
            "ttl": 30,
            "error": None,
        }
    ]


@pytest.fixture
def unguarded(guard_cluster):
    """A namespace and a set without the guardrail (what a writer may change there), removed after."""
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    guard_cluster.kubectl(CTX, "create", "namespace", namespace)
    args = {
        "kubeconfig": str(guard_cluster.kubeconfig),
        "context": CTX,
        "set": "unguarded",
        "namespace": namespace,
        "network_policy": True,
        "registry_only": [namespace],
        "services": [{"name": "db", "hosts": ["db.tamper.test"], "ports": [{"number": 5432, "protocol": "TCP"}]}],
        "resolved": resolved("192.0.2.10"),
    }
    result = run_module("rules", args)[0]
    assert not result["failed"], result.get("msg")
    yield namespace, args
    run_module("rules", {**args, "services": [], "state": "absent"})


def last_seen(guard_cluster, namespace: str) -> dict:
    (entry,) = guard_cluster.get(CTX, "serviceentries.networking.istio.io", namespace, "unguarded--db")
    return json.loads(entry["metadata"]["annotations"]["meshguard.egress/last-seen"])


@pytest.mark.parametrize(
    "case",
    [
        ({"192.0.2.10": "", "198.51.100.66": ""}, "annotate", "written by kubectl-annotate"),
        ({"192.0.2.10": "", "198.51.100.66": ""}, "as-the-collection", "which the applied rule does not hold"),
        ({"192.0.2.10": "2099-01-01T00:00:00Z"}, "as-the-collection", "a time in the future"),
    ],
    ids=["annotate", "unheld-address", "future"],
)
def test_a_forged_retention_record_is_reported_and_widens_nothing(guard_cluster, unguarded, developer, case):
    """A writer plants an address (or a time that never expires) in the last-seen record, with kubectl
    annotate or with a server-side apply under the collection's own field manager name: the next run reports
    it as tampering, writes it neither into the ServiceEntry nor the NetworkPolicy, and istiod does not
    route it."""
    forged, how, why = case
    namespace, args = unguarded
    record = json.dumps(forged, separators=(",", ":"))
    if how == "annotate":
        res = as_developer(
            developer,
            "annotate",
            "--overwrite",
            "serviceentry",
            "unguarded--db",
            "-n",
            namespace,
            f"meshguard.egress/last-seen={record}",
        )
    else:
        (entry,) = guard_cluster.get(CTX, "serviceentries.networking.istio.io", namespace, "unguarded--db")
        meta = entry["metadata"]
        meta["annotations"]["meshguard.egress/last-seen"] = record
        planted = {
            "apiVersion": entry["apiVersion"],
            "kind": entry["kind"],
            "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations")},
            "spec": entry["spec"],
        }
        res = as_developer(
            developer,
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=meshguard.egress",
            "-f",
            "-",
            stdin=yaml.safe_dump(planted),
        )
    assert res.returncode == 0, res.stderr
    result, printed = run_module("rules", args)
    assert not result["failed"], result.get("msg")
    (message,) = result["tampered"]
    assert why in message and "tampering suspected" in message and message in printed
    (entry,) = guard_cluster.get(CTX, "serviceentries.networking.istio.io", namespace, "unguarded--db")
    assert entry["spec"]["addresses"] == ["192.0.2.10/32"]
    (policy,) = guard_cluster.get(CTX, "networkpolicies.networking.k8s.io", namespace, "unguarded--db")
    assert [p["ipBlock"]["cidr"] for p in policy["spec"]["egress"][0]["to"]] == ["192.0.2.10/32"]
    assert last_seen(guard_cluster, namespace) == {"192.0.2.10": ""}
    probe(guard_cluster, namespace, CALLS, LOCKED)
    # The address DNS really stopped returning is retained as before.
    result = run_module("rules", {**args, "resolved": resolved("192.0.2.11")})[0]
    assert result["tampered"] == []
    (entry,) = guard_cluster.get(CTX, "serviceentries.networking.istio.io", namespace, "unguarded--db")
    assert entry["spec"]["addresses"] == ["192.0.2.10/31"]


def test_a_field_added_beside_the_sets_own_is_drift_and_restored(guard_cluster, unguarded):
    """A workloadSelector on the set's REGISTRY_ONLY Sidecar that matches nothing lifts the lockdown (istiod
    passes an undeclared address through); rules_info reports the drift, rules restores the Sidecar whole,
    and istiod blackholes it again."""
    namespace, args = unguarded
    probe(guard_cluster, namespace, CALLS, LOCKED)
    selector = json.dumps({"spec": {"workloadSelector": {"labels": {"app": "nothing"}}}})
    guard_cluster.kubectl(
        CTX, "-n", namespace, "patch", "sidecars.networking.istio.io", "default", "--type=merge", "-p", selector
    )
    probe(guard_cluster, namespace, CALLS, {"declared": "routed", "metadata": "passthrough", "other": "passthrough"})
    info, printed = run_module("rules_info", args)
    assert info["in_sync"] is False and info["plan"]["update"] == [f"Sidecar/{namespace}/default"]
    assert "fields the set does not write: spec.workloadSelector (by kubectl-patch)" in printed
    result, printed = run_module("rules", args)
    assert result["changed"] is True and result["plan"]["update"] == [f"Sidecar/{namespace}/default"]
    assert "spec.workloadSelector (by kubectl-patch); restored" in printed
    (live,) = guard_cluster.get(CTX, "sidecars.networking.istio.io", namespace, "default")
    assert "workloadSelector" not in live["spec"]
    probe(guard_cluster, namespace, CALLS, LOCKED)
    assert run_module("rules", args)[0]["changed"] is False
