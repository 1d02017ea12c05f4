# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builders and checks the unit tests share: Istio's CRD schemas and their check, and the rule sets,
answers and settings that tests of more than one library file build. Each feature's builders carry its
prefix here (GATEWAY_PG, ambient_ruleset, ...) and are imported under the short name its tests use
(``from ...helper import GATEWAY_PG as PG``). Test files import from here, never from each other."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.meshguard.egress.plugins.module_utils._desired import desired_objects
from ansible_collections.meshguard.egress.plugins.module_utils._dns.results import HostResult, ResolveError
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import prepare
from ansible_collections.meshguard.egress.plugins.module_utils._reachability.model import (
    Grant,
)
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError, validate_ruleset, with_dataplanes

ROOT = Path(__file__).resolve().parents[4]
# Istio's CRDs as the local clusters install them: from the pinned istio.io/api
# Go module, cached by `make units` (tools/clusters.py crds). The bundle in
# ../shared (outside the repository) is the fallback.
CRD_BUNDLES = [
    *sorted((ROOT / ".cache" / "istio").glob("*/crds.yaml")),
    ROOT.parent / "shared" / "istio" / "crd-all.gen.yaml",
]
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# --- Istio's CRD schemas --------------------------------------------------------------

# Python versions of the CEL rules (x-kubernetes-validations) Istio puts on the
# fields this collection writes, keyed by Istio's message. A rule met on a
# rendered field without a translation here fails the test.
CEL_RULES = {
    "only one of WorkloadSelector or Endpoints can be set": lambda n: (
        not ("workloadSelector" in n and "endpoints" in n)
    ),
    "CIDR addresses are allowed only for NONE/STATIC resolution types": lambda n: (
        not (any("/" in a for a in n.get("addresses", [])) and n.get("resolution", "NONE") not in ("STATIC", "NONE"))
    ),
    "NONE mode cannot set endpoints": lambda n: n.get("resolution", "NONE") != "NONE" or "endpoints" not in n,
    "DNS_ROUND_ROBIN mode cannot have multiple endpoints": lambda n: (
        n.get("resolution", "") != "DNS_ROUND_ROBIN" or len(n.get("endpoints", [])) <= 1
    ),
    "hostname cannot be wildcard": lambda n: n != "*",
    "port number cannot be duplicated": lambda n: len({p["number"] for p in n}) == len(n),
    "port must be between 1-65535": lambda n: 0 < n <= 65535,
    "Address is required": lambda n: "address" in n or "network" in n,
    "UDS may not include ports": lambda n: not n.get("address", "").startswith("unix://") or "ports" not in n,
    "UDS must be an absolute path or abstract socket": lambda n: not n.startswith("unix://") or n[7:8] in ("/", "@"),
    "UDS may not be a dir": lambda n: not (n.startswith("unix://") and n.endswith("/")),
}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def schema_problems(value, schema, path=""):
    """The subset of OpenAPI v3 + Kubernetes extensions that the API server checks on these fields."""
    problems = []
    kind = schema.get("type")
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected integer, got {value!r}"]
    elif kind in TYPES and not isinstance(value, TYPES[kind]):
        return [f"{path}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    for key, check in (
        ("maxLength", lambda limit: len(value) <= limit),
        ("maxItems", lambda limit: len(value) <= limit),
        ("minItems", lambda limit: len(value) >= limit),
        ("maxProperties", lambda limit: len(value) <= limit),
        ("minimum", lambda limit: value >= limit),
        ("maximum", lambda limit: value <= limit),
    ):
        if key in schema and not check(schema[key]):
            problems.append(f"{path}: violates {key} {schema[key]}")
    for rule in schema.get("x-kubernetes-validations", []):
        message = rule["message"]
        if message not in CEL_RULES:
            problems.append(f"{path}: CEL rule {message!r} has no Python translation in this test")
        elif not CEL_RULES[message](value):
            problems.append(f"{path}: {message}")
    if kind == "object":
        for required in schema.get("required", []):
            if required not in value:
                problems.append(f"{path}: missing required field {required!r}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                problems += schema_problems(item, properties[key], f"{path}.{key}" if path else key)
            elif isinstance(extra, dict):
                problems += schema_problems(item, extra, f"{path}[{key!r}]")
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                # The API server would prune it, and the next comparison would differ.
                problems.append(f"{path}: unknown field {key!r}")
    if kind == "array":
        keys = schema.get("x-kubernetes-list-map-keys")
        if keys:
            seen = [tuple(item.get(k) for k in keys) for item in value]
            if len(seen) != len(set(seen)):
                problems.append(f"{path}: duplicate list-map keys {keys}")
        for index, item in enumerate(value):
            problems += schema_problems(item, schema.get("items", {}), f"{path}[{index}]")
    return problems


def load_istio_schemas():
    """(apiVersion, kind) -> the openAPIV3Schema of Istio's CRDs."""
    found = [path for path in CRD_BUNDLES if path.exists()]
    if not found:
        pytest.fail("Istio's CRDs are missing: run `make units`, which fetches them (tools/clusters.py crds)")
    bundle = found[0]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    schemas = {}
    with bundle.open() as stream:
        for crd in yaml.load_all(stream, Loader=loader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            for version in crd["spec"]["versions"]:
                key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


# --- the egress gateway's rule sets (_gateway/test_render.py, test_spec.py, test_engine.py) -------------

GATEWAY_PG = {"name": "payments-db", "hosts": ["198.51.100.0/31"], "ports": [{"number": 5432, "protocol": "TCP"}]}
GATEWAY_MONGO = {
    "name": "orders-mongo",
    "hosts": ["mongo.db.example.com"],
    "ports": [{"number": 27017, "protocol": "MONGO"}, {"number": 27018, "protocol": "TCP"}],
}


def gateway_ruleset(*services, gateway=None, **extra):
    spec = {"set": "egress", "namespace": "shop", "services": list(services), **extra}
    spec["egress_gateway"] = {} if gateway is None else gateway
    return validate_ruleset(spec)


def gateway_errors(*services, gateway=None, **extra):
    with pytest.raises(SpecError) as caught:
        gateway_ruleset(*services, gateway=gateway, **extra)
    return caught.value.errors


GATEWAY_CEL_RULES = {
    "only one of targetRefs or selector can be set": lambda n: not ("targetRefs" in n and "selector" in n),
    "Cannot set serviceAccounts with namespaces or principals": lambda n: (
        "serviceAccounts" not in n or not ({"namespaces", "principals"} & set(n))
    ),
    "key must not be empty": lambda n: all(k for k in n),
    "wildcard not allowed in label key match": lambda n: all("*" not in k for k in n),
    "wildcard not allowed in label value match": lambda n: "*" not in n,
    "only one of credentialName or credentialNames can be set": lambda n: (
        not ("credentialName" in n and "credentialNames" in n)
    ),
    "only one of credentialName or tlsCertificates can be set": lambda n: (
        not ("credentialName" in n and "tlsCertificates" in n)
    ),
    "only one of credentialNames or tlsCertificates can be set": lambda n: (
        not ("credentialNames" in n and "tlsCertificates" in n)
    ),
}
# --- ambient's rule sets (_ambient/test_render.py, test_spec.py, test_engine.py) ----------------------

AMBIENT_WAYPOINT = {"name": "egress-waypoint", "namespace": "istio-egress"}
AMBIENT_PG = {"name": "payments-db", "hosts": ["198.51.100.0/28"], "ports": [{"number": 5432, "protocol": "TCP"}]}


def ambient_ruleset(*services, **extra):
    spec = {"set": "egress", "namespace": "shop", "dataplane": "ambient", "waypoint": dict(AMBIENT_WAYPOINT)}
    spec.update(extra)
    spec["services"] = [copy.deepcopy(s) for s in services]
    return validate_ruleset(spec)


def ambient_errors(*services, **extra):
    with pytest.raises(SpecError) as caught:
        ambient_ruleset(*services, **extra)
    return caught.value.errors


# --- a set over both kinds of namespace (dataplane auto) -------------------------------------------------


def ambient_auto(*services, ambient=(), **extra):
    return with_dataplanes(ambient_ruleset(*services, dataplane="auto", **extra), ambient)


# --- a grant of the reachability model (_reachability/test_model.py, test_report.py) -------------------


def reachability_grant(destination, **extra):
    return Grant("shop", ("shop",), "pg", destination, 5432, "TCP", "direct", **extra)


# --- resolved hosts (_dns/test_lookup.py, test_detail.py, test_addresses.py) ---------------------------

DNS_OK = HostResult(
    host="db.example.com", addresses=("192.0.2.7", "2001:db8::7"), cname_chain=("x.example.net",), ttl=60
)
DNS_NX = HostResult(host="gone.example.com", error=ResolveError("NXDOMAIN", "gone.example.com: does not exist"))


# --- a run's settings and desired objects (test_prepare.py, test_desired.py, test_manifests.py) ---------

PIPELINE_NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone.utc)
PIPELINE_TCP = [{"number": 5432, "protocol": "TCP"}]


def pipeline_spec(*services, **extra):
    return {"set": "shop", "namespace": "db", "services": list(services), **extra}


def pipeline_detail(host, addresses=(), error=None):
    return {"host": host, "addresses": list(addresses), "cidrs": [], "cname_chain": [], "ttl": 30, "error": error}


def pipeline_desired(settings, live=None, now=PIPELINE_NOW):
    prepared = prepare(dataclasses.replace(settings, now=now))
    return desired_objects(prepared, prepared.resolved or {}, live)


# --- a service of the address policy's tests (_policy/test_refusals.py, test_engine.py) ----------------


def policy_svc(name, *hosts, **extra):
    return {"name": name, "hosts": list(hosts), "ports": PIPELINE_TCP, **extra}
