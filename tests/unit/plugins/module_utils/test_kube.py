# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of the API client."""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.meshguard.egress.plugins.module_utils._kube import Resource, yaml_safe_json


@given(st.text())
def test_apply_bodies_read_back_unchanged_as_yaml(text):
    # Server-side apply parses the body as YAML: any annotation text must survive.
    body = {"metadata": {"annotations": {"note": text}}}
    assert yaml.safe_load(yaml_safe_json(body)) == body


def test_resource_paths_and_names():
    se = Resource("networking.istio.io/v1", "ServiceEntry", "serviceentries", namespaced=True)
    assert se.full_name == "serviceentries.networking.istio.io"
    assert se.path() == "/apis/networking.istio.io/v1/serviceentries"
    assert se.path("shop", "db") == "/apis/networking.istio.io/v1/namespaces/shop/serviceentries/db"
    ns = Resource("v1", "Namespace", "namespaces", namespaced=False)
    assert ns.full_name == "namespaces"
    assert ns.path("ignored", "shop") == "/api/v1/namespaces/shop"
