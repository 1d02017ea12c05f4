# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""exportTo as Istio reads it, the default of each way out, and live objects exported wider."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._export import exported_to, exported_wider, wider
from ansible_collections.meshguard.egress.plugins.module_utils._render import ServiceAddresses, render
from ansible_collections.meshguard.egress.plugins.module_utils._spec import validate_ruleset

MYSQL = {"name": "mysql", "hosts": ["192.0.2.10"], "ports": [{"number": 3306, "protocol": "MYSQL"}]}


def entry(namespace="shop", export_to=None, kind="ServiceEntry", name="s--mysql"):
    spec = {} if export_to is None else {"exportTo": export_to}
    return {
        "kind": kind,
        "apiVersion": "networking.istio.io/v1",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("export_to", "want"),
    [
        (None, None),
        (["*"], None),
        (["."], {"shop"}),
        ([".", "billing"], {"shop", "billing"}),
        (["~"], set()),
    ],
)
def test_exported_to_reads_exportto_as_istio_does(export_to, want):
    assert exported_to(entry(export_to=export_to)) == (None if want is None else frozenset(want))


def test_wider_names_what_the_live_object_adds():
    assert wider(entry(), entry(export_to=["."])) == ["*"]
    assert wider(entry(export_to=[".", "billing", "audit"]), entry(export_to=["."])) == ["audit", "billing"]
    assert wider(entry(export_to=["shop"]), entry(export_to=["."])) == []
    assert wider(entry(export_to=["."]), entry(export_to=["*"])) == []


def test_exported_wider_lists_only_objects_of_the_desired_set_that_reach_further():
    live = [entry(), entry(name="s--other"), entry(kind="VirtualService", export_to=["."])]
    desired = [entry(export_to=["."]), entry(kind="VirtualService", export_to=["."])]
    assert exported_wider(live, desired) == [
        {
            "kind": "ServiceEntry",
            "namespace": "shop",
            "name": "s--mysql",
            "exported_to": ["*"],
            "wanted": ["."],
            "wider": ["*"],
        }
    ]


def rendered(*services, **options):
    ruleset = validate_ruleset({"set": "s", "namespace": "shop", "services": list(services), **options})
    addresses = {s["name"]: ServiceAddresses(cidrs=("192.0.2.10/32",), ips=("192.0.2.10",)) for s in services}
    return render(ruleset, addresses)


def test_a_direct_service_is_exported_to_its_own_namespace_unless_told_otherwise():
    (entry_,) = rendered(MYSQL)
    assert entry_["spec"]["exportTo"] == ["."]
    (entry_,) = rendered(MYSQL, export_to=["*"])
    assert entry_["spec"]["exportTo"] == ["*"]
    (entry_,) = rendered(dict(MYSQL, export_to=["billing", "."]), export_to=["*"])
    assert entry_["spec"]["exportTo"] == [".", "billing"]


def test_every_way_out_grants_no_other_namespace_by_default():
    objects = rendered(MYSQL, egress_gateway={})
    for obj in objects:
        if obj["kind"] in ("ServiceEntry", "VirtualService"):
            assert exported_to(obj) == {"shop", "istio-system"}, obj["metadata"]["name"]
    ambient = rendered(MYSQL, dataplane="ambient", waypoint={"name": "wp"})
    for obj in ambient:
        if obj["kind"] == "ServiceEntry":
            assert exported_to(obj) == {"shop"}
