# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kinds the collection writes: the API version of each for a rule set's ``api``, how objects are named
and ordered, and the labels that say which set owns an object."""

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._kinds import (
    ADMISSION_BINDING,
    ADMISSION_POLICY,
    KINDS,
    LEGACY_API,
    SERVICE_ENTRY,
    SIDECAR,
    api_version,
    key,
    kind_of,
    owned_by,
    selector,
    sort_key,
)


def obj(kind="ServiceEntry", name="shop--pg", namespace="shop", api="networking.istio.io/v1", labels=None):
    metadata = {"name": name, "labels": labels or {}}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


def test_set_selector_matches_the_labels():
    assert selector("payments") == "app.kubernetes.io/managed-by=meshguard.egress,meshguard.egress/set=payments"


def test_kinds_of_the_apis_group_follow_it_and_the_others_keep_their_default():
    assert api_version(SERVICE_ENTRY, "networking.istio.io/v1beta1") == "networking.istio.io/v1beta1"
    assert api_version(SIDECAR, "networking.istio.io/v1alpha3") == "networking.istio.io/v1alpha3"
    # The legacy EgressRule's group has no Sidecar: it stays on networking.istio.io's default.
    assert api_version(SIDECAR, LEGACY_API) == "networking.istio.io/v1"
    assert api_version(ADMISSION_POLICY, "networking.istio.io/v1beta1") == "admissionregistration.k8s.io/v1"


def test_an_object_is_named_kind_namespace_name_whatever_its_version():
    assert key(obj()) == "ServiceEntry/shop/shop--pg"
    assert key(
        obj(kind="ValidatingAdmissionPolicy", name="meshguard", namespace=None, api=ADMISSION_POLICY.api_version())
    ) == ("ValidatingAdmissionPolicy/meshguard")
    assert kind_of(obj(api="networking.istio.io/v1alpha3")) is SERVICE_ENTRY
    assert sort_key(obj(api="networking.istio.io/v1beta1")) < sort_key(obj(kind="Sidecar", name="a"))


def test_ownership_needs_the_collections_label_and_for_a_set_its_name():
    ours = {"app.kubernetes.io/managed-by": "meshguard.egress", "meshguard.egress/set": "shop"}
    assert owned_by(obj(labels=ours), "shop")
    assert owned_by(obj(labels=ours))
    assert not owned_by(obj(labels=ours), "billing")
    assert not owned_by(obj(labels={"meshguard.egress/set": "shop"}), "shop")
    assert not owned_by({"metadata": {"name": "x", "labels": None}})


def test_the_guardrail_goes_live_first_and_the_registry_only_sidecar_last():
    # A REGISTRY_ONLY Sidecar must never go live before the rules that keep the allowed traffic flowing.
    order = sorted(KINDS, key=lambda kind: kind.write_order)
    assert order[:2] == [ADMISSION_POLICY, ADMISSION_BINDING]
    assert order[-1] is SIDECAR
    assert all(kind.write_order < SIDECAR.write_order for kind in KINDS if kind is not SIDECAR)
