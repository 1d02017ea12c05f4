# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe itself (tools/istio/probe) on hand-written manifests: what it
reports must be what Istio's code generates, including where it fills the
gaps of Istio's simulator (the IPv6 wildcard listener, the port of an IPv6
Host header), and its errors must name what is wrong."""

from __future__ import annotations

import json
import subprocess

import istiolib
import pytest

pytestmark = pytest.mark.integration


def se(name: str, addresses: list[str], port: int, protocol: str, *, hosts=None, resolution="NONE"):
    spec = {
        "hosts": hosts or [f"{name}.shop.example.test"],
        "addresses": addresses,
        "ports": [{"number": port, "name": f"p-{port}", "protocol": protocol}],
        "location": "MESH_EXTERNAL",
        "resolution": resolution,
    }
    meta = {"name": name, "namespace": "shop"}
    return {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry", "metadata": meta, "spec": spec}


REGISTRY_ONLY = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "Sidecar",
    "metadata": {"name": "default", "namespace": "shop"},
    "spec": {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}, "egress": [{"hosts": ["*/*"]}]},
}


def judge(objects: list[dict], calls: list[dict], family: str = "ipv4", **case) -> dict:
    text = "\n---\n".join(json.dumps(o) for o in objects)
    workload = {"namespace": "shop", "ip_family": family}
    request = {"id": "t", "objects": text, "workload": workload, "calls": calls, **case}
    return istiolib.probe([request], shards=1)["t"]


def verdicts(result: dict) -> list[tuple]:
    return [(c["call"]["name"], c["verdict"], c.get("service")) for c in result["calls"]]


def test_an_ipv6_workload_reaches_an_ipv6_block_through_the_wildcard_listener():
    result = judge(
        [se("v6", ["2001:db8:2::/124"], 27017, "TCP"), REGISTRY_ONLY],
        [
            {"name": "in", "address": "2001:db8:2::f", "port": 27017, "protocol": "tcp"},
            {"name": "out", "address": "2001:db8:2::10", "port": 27017, "protocol": "tcp"},
        ],
        family="ipv6",
    )
    # Istio binds the block's listener on [::] for an IPv6-only proxy.
    assert result["calls"][0]["listener"] == "::_27017"
    assert verdicts(result) == [("in", "routed", "v6.shop.example.test"), ("out", "denied", None)]


def test_an_ipv6_host_header_with_a_port_matches_the_address_domain():
    result = judge(
        [se("g", ["2001:db8:1::50/128"], 50051, "GRPC")],
        [
            {
                "name": "grpc",
                "address": "2001:db8:1::50",
                "port": 50051,
                "protocol": "grpc",
                "host": "[2001:db8:1::50]:50051",
            }
        ],
        family="ipv6",
    )
    assert verdicts(result) == [("grpc", "routed", "g.shop.example.test")]


def test_conflicts_endpoints_and_the_fallback_are_reported():
    # Two names on one TCP object with STATIC endpoints: Istio keys listeners
    # by host, records the conflict, and puts every endpoint behind every address.
    obj = se("two", ["192.0.2.10/32", "192.0.2.11/32"], 5432, "TCP", hosts=["a.example.test"], resolution="STATIC")
    obj["spec"]["endpoints"] = [{"address": "192.0.2.10"}, {"address": "192.0.2.11"}]
    result = judge([obj], [{"name": "a", "address": "192.0.2.10", "port": 5432, "protocol": "tcp"}])
    assert result["fallback"] == "PassthroughCluster"
    (cluster,) = [c for c in result["clusters"] if c["name"] == "outbound|5432||a.example.test"]
    assert cluster["type"] == "EDS" and cluster["endpoints"] == 4
    call = result["calls"][0]
    assert (call["verdict"], call["upstream"], call["dialled_only"]) == ("routed", "endpoints", False)


def test_invalid_objects_are_reported_with_istios_message_and_left_out():
    bad = se("bad", [], 5432, "TCP", hosts=["a.example.test", "b.example.test"], resolution="DNS")
    result = judge([bad], [{"name": "a", "address": "192.0.2.10", "port": 5432, "protocol": "tcp"}])
    (v,) = result["validation"]
    assert v["object"] == {"kind": "ServiceEntry", "namespace": "shop", "name": "bad"}
    assert "multiple hosts provided with non-HTTP, non-TLS ports" in v["error"]
    assert result.get("objects") is None
    assert verdicts(result) == [("a", "passthrough", None)]


def test_bad_requests_are_errors_that_name_the_field():
    result = judge([], [], family="ipv5")
    assert result["error"] == 'workload.ip_family "ipv5": want ipv4, ipv6 or dual'
    res = subprocess.run(
        [str(istiolib.PROBE), "--call", "tcp://db.example.test:5432"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 2
    assert "is not an IP address" in res.stderr


def test_a_call_that_is_not_as_expected_fails_the_probe_and_says_so(tmp_path):
    # What `make demo` relies on to fail: expect=routed also wants the
    # connection to reach the address dialled only.
    (tmp_path / "rules.yaml").write_text(
        "\n---\n".join(json.dumps(o) for o in (se("db", ["192.0.2.0/28"], 5432, "TCP"), REGISTRY_ONLY))
    )
    base = [str(istiolib.PROBE), "--manifests", str(tmp_path), "--namespace", "shop", "--summary"]

    def run(*calls: str) -> subprocess.CompletedProcess:
        cmd = base + [arg for c in calls for arg in ("--call", c)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    ok = run("tcp://192.0.2.1:5432?expect=routed", "tcp://192.0.2.16:5432?expect=denied")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("as expected") == 2, ok.stdout
    bad = run("tcp://192.0.2.1:5432?expect=routed", "tcp://192.0.2.16:5432?expect=routed")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "tcp://192.0.2.16:5432" in bad.stdout and "UNEXPECTED: want routed" in bad.stdout, bad.stdout
    wrong = run("tcp://192.0.2.1:5432?expect=open")
    assert wrong.returncode == 2 and "expect must be routed, denied or passthrough" in wrong.stderr
