# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNSSEC against zones Knot signs, and against servers that lie about them.

Three real Knot servers, nothing mocked:

- ``signed``: tests/dns/zones-dnssec, signed by Knot (tools/dnsserver.py
  --dnssec, algorithm 13): ``test`` stands in for the root (its DS is the
  trust anchor) and delegates partner.test and cdn.test (signed, NSEC),
  n3.test (signed, NSEC3) and plain.test (unsigned).
- ``spoofer``: tests/dns/zones-dnssec-spoof, a second, unsigned server
  answering for test and partner.test with the attacker's address, as in
  the issue.
- ``replayer``: an unsigned server for a copy of the signed zones (read
  with ``knotc zone-read``, genuine keys and signatures) in which an address
  was changed under its genuine signature, a signature was replaced by one
  made with the zone's own key but expired, and a name got another zone's
  valid signature.

The resolver library, the lookup in a playbook, ``rules`` on a real cluster
(nothing written with on_error=fail, live objects kept byte for byte with
keep), the rollout role and its snapshot, on whichever ansible-core runs
the suite (`make integration` and `make integration-2.19`).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest
import yaml
from clusterlib import ANSIBLE_PLAYBOOK, run_module, writes
from cryptography.hazmat.primitives.asymmetric import ec
from dnslib import dnstool, start_server
from test_rollout import CLUSTERS, Rollout, Zone, live, ok, stopped, untouched

from ansible_collections.meshguard.egress.plugins.module_utils._dns.lookup import ResolutionFailed, lookup

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ZONES = ROOT / "tests" / "dns" / "zones-dnssec"
SPOOF_ZONES = ROOT / "tests" / "dns" / "zones-dnssec-spoof"
CTX = "local-1"
OURS = {"serviceentries", "networkpolicies", "sidecars", "egressrules"}
TLS = [{"number": 443, "protocol": "TLS"}]
ATTACKER = "198.51.100.66"
UNSIGNED = "plain.test is delegated without DS (NSEC of test)"
ONLY_SECURE = "dnssec require accepts secure answers only"
REACHABILITY = "Reachability across clusters"


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    state = tmp_path_factory.mktemp("dns-signed")
    try:
        server = dnstool.up(ZONES, dnstool.free_port(), state_dir=state, dnssec=True)
    except dnstool.DnsToolError as exc:
        pytest.fail(f"cannot start the signed DNS server: {exc}", pytrace=False)
    yield server
    dnstool.down(server.port, server.state_dir)


@pytest.fixture(scope="module")
def anchor(signed) -> str:
    return signed.ds("test")


@pytest.fixture(scope="module")
def spoofer(tmp_path_factory):
    server = start_server(tmp_path_factory, SPOOF_ZONES, "spoofer")
    yield server
    dnstool.down(server.port, server.state_dir)


def zone_of(server, zone: str):
    """The zone as Knot serves it, signatures included (knotc zone-read), as a dnspython zone."""
    lines = server.knotc("zone-read", f"{zone}.").stdout.splitlines()
    text = "\n".join(line.split("] ", 1)[1] for line in lines if line.startswith("["))
    return dns.zone.from_text(text, origin=f"{zone}.", relativize=False, check_origin=False)


def put(zone, owner: str, rrset_text: list[str]) -> None:
    """Replace what ``owner`` holds of the types in ``rrset_text`` ('ttl TYPE data' lines)."""
    node = zone.find_node(dns.name.from_text(owner), create=True)
    for text in rrset_text:
        ttl, rdtype, data = text.split(" ", 2)
        rdata = dns.rdata.from_text("IN", rdtype, data)
        covers = rdata.covers() if rdtype == "RRSIG" else dns.rdatatype.NONE
        rdataset = node.find_rdataset(dns.rdataclass.IN, rdata.rdtype, covers, create=True)
        rdataset.clear()
        rdataset.add(rdata, int(ttl))


def private_key(pem: bytes):
    """A zone's ECDSA key from Knot's key store. GnuTLS writes the private scalar as 33 bytes when its
    top bit is set (a leading zero), which cryptography refuses: the scalar is read from the DER here."""
    der = base64.b64decode(b"".join(line for line in pem.splitlines() if not line.startswith(b"-----")))
    inner = der[der.index(b"\x02\x01\x01\x04") + 4 :]  # ECPrivateKey: version 1, then the scalar
    return ec.derive_private_key(int.from_bytes(inner[1 : 1 + inner[0]], "big"), ec.SECP256R1())


@pytest.fixture(scope="module")
def replayer(signed, tmp_path_factory):
    zones = tmp_path_factory.mktemp("replayed-zones")
    copies = {name: zone_of(signed, name) for name in ("test", "partner.test", "cdn.test")}
    partner, cdn = copies["partner.test"], copies["cdn.test"]
    # 1. The genuine signature of api's A record kept over the attacker's address.
    sig = partner.find_rdataset("api.partner.test.", "RRSIG", "A")[0]
    put(partner, "api.partner.test.", [f"300 A {ATTACKER}", f"300 RRSIG {sig.to_text()}"])
    # 2. v4only's A record signed with the zone's own key, but the signature expired an hour ago.
    key = private_key(signed.key_file("partner.test").read_bytes())
    dnskey = partner.find_rdataset("partner.test.", "DNSKEY")[0]
    record = dns.rrset.from_text("v4only.partner.test.", 300, "IN", "A", "192.0.2.11")
    now = time.time()
    expired = dns.dnssec.sign(
        record, key, dns.name.from_text("partner.test."), dnskey, inception=now - 7200, expiration=now - 3600
    )
    put(partner, "v4only.partner.test.", [f"300 RRSIG {expired.to_text()}"])
    # 3. A name of partner.test carrying cdn.test's valid signature over cdn's address.
    edge = cdn.find_rdataset("edge.cdn.test.", "RRSIG", "A")[0]
    put(partner, "stolen.partner.test.", ["300 A 198.51.100.7", f"300 RRSIG {edge.to_text()}"])
    for name, zone in copies.items():
        (zones / f"{name}.zone").write_text(zone.to_text(relativize=False))
    server = start_server(tmp_path_factory, zones, "replayer")
    yield server
    dnstool.down(server.port, server.state_dir)


def resolver(server) -> dict:
    return {"nameservers": ["127.0.0.1"], "port": server.port, "timeout": 2}


def detail(server, anchor, *hosts, dnssec="require", **options):
    """The lookup's detail form by host; ``options`` are resolver options."""
    found, warnings = lookup(
        list(hosts),
        resolver={**resolver(server), **options},
        detail=True,
        on_error="omit",
        dnssec=dnssec,
        trust_anchors=[anchor],
    )
    return {entry["host"]: entry for entry in found}, warnings


# --------------------------------------------------------------------------- the test platform


def test_make_dns_signs_the_zones_and_writes_each_ds(signed):
    for zone in ("test", "partner.test", "cdn.test", "n3.test"):
        records = signed.ds(zone).splitlines()
        assert records and all(r.startswith(f"{zone}. DS ") and " 13 " in r for r in records), zone
    assert not (signed.ds_dir / "plain.test.ds").exists()
    # The parent's copy carries the DS of its signed children, not of the unsigned one.
    parent = (signed.state_dir / "zones" / "test.zone").read_text()
    assert signed.ds("partner.test").splitlines()[0] in parent
    assert "plain.test. DS" not in parent
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "dnsserver.py"), "status"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0


# --------------------------------------------------------------------------- secure, insecure


def test_a_signed_zone_is_secure(signed, anchor):
    found, warnings = detail(signed, anchor, "api.partner.test")
    entry = found["api.partner.test"]
    assert (entry["addresses"], entry["error"]) == (["192.0.2.10", "2001:db8::10"], None)
    assert (entry["dnssec"], entry["dnssec_reason"]) == ("secure", "signed by partner.test")
    assert warnings == []


def test_a_cname_across_two_signed_zones_is_secure(signed, anchor):
    entry = detail(signed, anchor, "alias.partner.test")[0]["alias.partner.test"]
    assert entry["cname_chain"] == ["edge.cdn.test"]
    assert (entry["addresses"], entry["dnssec"]) == (["198.51.100.7", "2001:db8:7::7"], "secure")
    assert entry["dnssec_reason"] == "signed by partner.test, cdn.test"


@pytest.mark.parametrize("host", ["www.plain.test", "out.partner.test"], ids=["unsigned child", "cname into it"])
def test_an_unsigned_child_is_insecure_refused_by_require_and_warned_by_prefer(signed, anchor, host):
    entry = detail(signed, anchor, host)[0][host]
    assert entry["dnssec"] == "insecure"
    assert entry["addresses"] == ["203.0.113.9"]  # what DNS answered, kept in the detail form
    assert entry["error"] == {
        "type": "DNSSEC",
        "message": f"host {host}{' (via CNAME www.plain.test)' if host.startswith('out') else ''}: "
        f"DNSSEC insecure: {UNSIGNED}; {ONLY_SECURE}",
    }
    with pytest.raises(ResolutionFailed, match=f"1 host\\(s\\) answered without DNSSEC proof: DNSSEC: host {host}"):
        lookup([host], resolver=resolver(signed), dnssec="require", trust_anchors=[anchor])
    cidrs, warnings = lookup([host], resolver=resolver(signed), dnssec="prefer", trust_anchors=[anchor])
    assert cidrs == ["203.0.113.9/32"]
    assert warnings == [f"host {host}: accepted without DNSSEC proof (DNSSEC insecure: {UNSIGNED}); dnssec prefer"]


def test_a_wildcard_is_secure_with_nsec_and_nsec3(signed, anchor):
    found = detail(signed, anchor, "anything.wild.partner.test", "anything.wild.n3.test", families="ipv4")[0]
    assert [(e["addresses"], e["dnssec"]) for e in found.values()] == [
        (["192.0.2.20"], "secure"),
        (["192.0.2.41"], "secure"),
    ]


def test_nxdomain_and_nodata_under_require(signed, anchor):
    hosts = ("nope.partner.test", "txt.partner.test", "v4only.partner.test", "nope.n3.test", "n3.test")
    found = detail(signed, anchor, *hosts)[0]
    assert {h: (e["error"] or {}).get("type") for h, e in found.items()} == {
        "nope.partner.test": "NXDOMAIN",
        "txt.partner.test": "NODATA",
        "v4only.partner.test": None,  # its AAAA NODATA is proven too
        "nope.n3.test": "NXDOMAIN",
        "n3.test": "NODATA",
    }
    assert {e["dnssec"] for e in found.values()} == {"secure"}
    assert found["v4only.partner.test"]["addresses"] == ["192.0.2.11"]


def test_off_validates_nothing(signed):
    (entry,), _warnings = lookup(["api.partner.test"], resolver=resolver(signed), detail=True)
    assert (entry["dnssec"], entry["dnssec_reason"]) == (None, "")


# --------------------------------------------------------------------------- bogus


def test_a_spoofer_for_the_signed_zone_is_refused(spoofer, anchor):
    # What the issue found: without DNSSEC the attacker's address would become an allow rule.
    assert lookup(["api.partner.test"], resolver=resolver(spoofer))[0] == [f"{ATTACKER}/32"]
    for mode in ("prefer", "require"):
        entry = detail(spoofer, anchor, "api.partner.test", dnssec=mode)[0]["api.partner.test"]
        assert entry["dnssec"] == "bogus", mode
        assert entry["error"]["type"] == "DNSSEC"
        assert entry["dnssec_reason"].startswith(
            "no RRSIG over api.partner.test A; test has no DNSKEY, although trust anchor test (key tag "
        )


@pytest.mark.parametrize(
    "case",
    [
        ("api.partner.test", ATTACKER, "RRSIG over api.partner.test A by partner.test key {tag}: does not verify"),
        ("v4only.partner.test", "192.0.2.11", "RRSIG over v4only.partner.test A by partner.test key {tag} expired at"),
        (
            "stolen.partner.test",
            "198.51.100.7",
            "RRSIG over stolen.partner.test A by cdn.test, whose zone does not own the name",
        ),
    ],
    ids=["genuine signature over another address", "expired signature", "another zone's signature"],
)
def test_replayed_and_expired_signatures_are_bogus(signed, replayer, anchor, case):
    host, address, why = case
    off = lookup([host], resolver={**resolver(replayer), "families": "ipv4"})[0]
    assert off == [f"{address}/32"]  # without DNSSEC: accepted
    entry = detail(replayer, anchor, host, dnssec="prefer", families="ipv4")[0][host]
    assert (entry["addresses"], entry["dnssec"], entry["error"]["type"]) == ([address], "bogus", "DNSSEC")
    tag = signed.ds("partner.test").split()[2]
    assert entry["dnssec_reason"].startswith(why.format(tag=tag))


def test_the_lookup_in_a_playbook_reads_the_anchor_from_the_ds_file(signed, spoofer, tmp_path):
    def play(server):
        query = (
            f"query('meshguard.egress.resolve', 'api.partner.test', nameservers=['127.0.0.1'], port={server.port}, "
            f"dnssec='require', trust_anchors=[lookup('ansible.builtin.file', '{signed.ds_dir / 'test.ds'}')])"
        )
        tasks = [{"ansible.builtin.debug": {"msg": "{{ " + query + " }}"}}]
        path = tmp_path / f"play-{server.port}.yml"
        path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
        cmd = [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(path)]
        cmd += ["-e", f"ansible_python_interpreter={sys.executable}"]
        env = dict(os.environ, ANSIBLE_NOCOLOR="1")
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        return res.returncode, " ".join((res.stdout + res.stderr).split())

    rc, out = play(signed)
    assert rc == 0, out
    assert '"msg": [ "192.0.2.10/32", "2001:db8::10/128" ]' in out
    rc, out = play(spoofer)
    assert rc != 0
    assert (
        "meshguard.egress.resolve: 1 host(s) answered without DNSSEC proof: DNSSEC: host api.partner.test: "
        "DNSSEC bogus: no RRSIG over api.partner.test A;" in out
    )


# --------------------------------------------------------------------------- rules on a real cluster


def module_args(local_clusters, namespace, server, anchor, services, **extra) -> dict:
    return {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": CTX,
        "set": "signed",
        "namespace": namespace,
        "network_policy": True,
        "services": services,
        "nameservers": ["127.0.0.1"],
        "port": server.port,
        "families": "ipv4",
        "dnssec": "require",
        "trust_anchors": [anchor],
        **extra,
    }


def service(name, *hosts, **extra):
    return {"name": name, "hosts": list(hosts), "ports": TLS, **extra}


def versions(local_clusters, namespace) -> dict:
    """Name -> resourceVersion of every ServiceEntry and NetworkPolicy in the namespace (kubectl)."""
    out = {}
    for kind in ("serviceentries.networking.istio.io", "networkpolicies.networking.k8s.io"):
        for obj in local_clusters.get(CTX, kind, namespace):
            out[f"{obj['kind']}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    return out


def our_writes(local_clusters, before):
    after = local_clusters.requests(CTX)
    found = {}
    for dry_run in (False, True):
        found.update({k: n for k, n in writes(before, after, dry_run=dry_run).items() if k[1] in OURS})
    return found


def test_rules_refuses_what_is_not_secure_and_writes_nothing(local_clusters, namespace, signed, anchor):
    services = [service("partner", "api.partner.test"), service("cdn", "www.plain.test")]
    before = local_clusters.requests(CTX)
    result = run_module("rules", module_args(local_clusters, namespace, signed, anchor, services))[0]
    assert result["failed"]
    assert result["msg"] == (
        "DNS answers DNSSEC does not prove authentic, nothing was changed:\n"
        f"- service 'cdn': host www.plain.test: DNSSEC insecure: {UNSIGNED}; {ONLY_SECURE}"
    )
    assert our_writes(local_clusters, before) == {}
    assert versions(local_clusters, namespace) == {}

    # The service's own mode: prefer accepts the unsigned zone, with a warning; the secure one is applied.
    services[1]["dnssec"] = "prefer"
    result, out = run_module("rules", module_args(local_clusters, namespace, signed, anchor, services))
    assert not result["failed"], result.get("msg")
    assert result["dnssec"] == [
        {"host": "api.partner.test", "status": "secure", "reason": "signed by partner.test"},
        {"host": "www.plain.test", "status": "insecure", "reason": UNSIGNED},
    ]
    assert "service 'cdn': host www.plain.test: accepted without DNSSEC proof (DNSSEC insecure" in " ".join(out.split())
    se = local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, "signed--partner")[0]
    assert se["spec"]["addresses"] == ["192.0.2.10/32"]


def test_a_spoofed_answer_is_refused_and_the_live_objects_stay_as_they_are(
    local_clusters, namespace, signed, replayer, anchor
):
    services = [service("partner", "api.partner.test"), service("cdn", "alias.partner.test")]
    first = run_module("rules", module_args(local_clusters, namespace, signed, anchor, services))[0]
    assert not first["failed"], first.get("msg")
    kept = versions(local_clusters, namespace)
    assert len(kept) == 4

    # An on-path attacker (the replaying server) answers the partner's name with its address.
    before = local_clusters.requests(CTX)
    failed = run_module("rules", module_args(local_clusters, namespace, replayer, anchor, services))[0]
    assert failed["failed"]
    assert failed["msg"].startswith(
        "DNS answers DNSSEC does not prove authentic, nothing was changed:\n"
        "- service 'partner': host api.partner.test: DNSSEC bogus: RRSIG over api.partner.test A by partner.test key "
    )
    result, out = run_module(
        "rules", module_args(local_clusters, namespace, replayer, anchor, services, on_error="keep")
    )
    assert not result["failed"], result.get("msg")
    assert result["changed"] is False
    (refused,) = result["refused"]
    assert (refused["service"], refused["host"], refused["dnssec"], refused["address"]) == (
        "partner",
        "api.partner.test",
        "bogus",
        None,
    )
    assert "service 'partner' is not applied, its live objects are kept as they are" in " ".join(out.split())
    assert our_writes(local_clusters, before) == {}
    assert versions(local_clusters, namespace) == kept
    se = local_clusters.get(CTX, "serviceentries.networking.istio.io", namespace, "signed--partner")[0]
    assert se["spec"]["addresses"] == ["192.0.2.10/32"]


# --------------------------------------------------------------------------- the role and the snapshot


@pytest.fixture
def signed_rollout(tmp_path, namespace, signed, anchor) -> Rollout:
    zone = Zone(signed, ZONES / "partner.test.zone", "")
    rollout = Rollout(tmp_path / "inventory", namespace, f"d{uuid.uuid4().hex[:8]}", zone)
    rollout.write(
        [service("partner", "api.partner.test"), service("cdn", "alias.partner.test")],
        meshguard_egress_dnssec="require",
        meshguard_egress_trust_anchors=[anchor],
    )
    return rollout


def test_the_role_applies_secure_answers_and_stops_a_spoofed_one_before_any_cluster(
    local_clusters, signed_rollout, replayer, anchor
):
    first = ok(signed_rollout.rollout())
    (report,) = [r["result"]["msg"] for r in first.records if r["task"] == REACHABILITY and r["status"] == "ok"]
    assert any("(api.partner.test (DNSSEC secure))" in line and line.startswith("+ ") for line in report), report
    for ctx in CLUSTERS:
        objects = live(local_clusters, ctx, signed_rollout.namespace, signed_rollout.set_name)
        partner = objects[f"ServiceEntry/{signed_rollout.set_name}--partner"]
        assert partner["spec"]["addresses"] == ["192.0.2.10/32", "2001:db8::10/128"]
    before = {ctx: live(local_clusters, ctx, signed_rollout.namespace, signed_rollout.set_name) for ctx in CLUSTERS}

    spoofed = {"nameservers": ["127.0.0.1"], "port": replayer.port, "timeout": 2}
    run = signed_rollout.rollout("-e", json.dumps({"meshguard_egress_resolver": spoofed}))
    assert run.rc != 0
    report = stopped(run)
    assert report.startswith("the rule set was applied to no cluster, 1 problem:\nanswers egress rules never allow:\n")
    assert report.splitlines()[2].startswith(
        "- service 'partner': host api.partner.test: DNSSEC bogus: RRSIG over api.partner.test A by partner.test key "
    )
    assert report.splitlines()[2].endswith("; dnssec require accepts secure answers only (every cluster)")
    untouched(local_clusters, signed_rollout, run, before)


def test_a_rollout_from_a_snapshot_with_require_refuses_a_host_not_recorded_secure(
    local_clusters, signed_rollout, anchor, tmp_path
):
    signed_rollout.write(
        [service("partner", "api.partner.test"), service("cdn", "www.plain.test")],
        meshguard_egress_dnssec="require",
        meshguard_egress_trust_anchors=[anchor],
        meshguard_egress_on_error="keep",
    )
    path = tmp_path / "snapshot.yml"
    taken = ok(signed_rollout.play("meshguard.egress.snapshot", meshguard_egress_snapshot=str(path)))
    hosts = yaml.safe_load(path.read_text())["hosts"]
    assert (hosts["api.partner.test"]["dnssec"], hosts["api.partner.test"]["dnssec_reason"]) == (
        "secure",
        "signed by partner.test",
    )
    assert (hosts["www.plain.test"]["dnssec"], hosts["www.plain.test"]["dnssec_reason"]) == ("insecure", UNSIGNED)
    assert (
        f"service 'cdn': host www.plain.test: DNSSEC insecure: {UNSIGNED}; {ONLY_SECURE}; a rollout from this "
        "snapshot refuses it" in " ".join(taken.out.split())
    )

    run = ok(signed_rollout.rollout(meshguard_egress_snapshot=str(path)))
    for ctx in CLUSTERS:
        objects = live(local_clusters, ctx, signed_rollout.namespace, signed_rollout.set_name)
        assert sorted(objects) == [
            f"NetworkPolicy/{signed_rollout.set_name}--partner",
            f"ServiceEntry/{signed_rollout.set_name}--partner",
        ]
    (summary,) = run.summary()
    assert summary[-1] == (
        f"refused, live rules kept: service 'cdn': host www.plain.test: DNSSEC insecure: {UNSIGNED}; {ONLY_SECURE} "
        "(every cluster)"
    )

    # A snapshot that does not record the partner's host as secure (its verdict removed): refused too.
    data = yaml.safe_load(path.read_text())
    del data["hosts"]["api.partner.test"]["dnssec"], data["hosts"]["api.partner.test"]["dnssec_reason"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    before = {ctx: live(local_clusters, ctx, signed_rollout.namespace, signed_rollout.set_name) for ctx in CLUSTERS}
    run = ok(signed_rollout.rollout(meshguard_egress_snapshot=str(path)))
    (summary,) = run.summary()
    assert (
        "refused, live rules kept: service 'partner': host api.partner.test: not validated (the answer was given "
        f"without a DNSSEC verdict); {ONLY_SECURE} (every cluster)" in summary
    )
    after = {ctx: live(local_clusters, ctx, signed_rollout.namespace, signed_rollout.set_name) for ctx in CLUSTERS}
    assert after == before
