# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guardrail's objects as rendered (what the API server makes of them is
tests/integration/test_guardrail.py, on a real kube-apiserver)."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._engine import run
from ansible_collections.meshguard.egress.plugins.module_utils._kinds import ADMISSION_BINDING, ADMISSION_POLICY, KINDS
from ansible_collections.meshguard.egress.plugins.module_utils._policy.guardrail import cel_string, guardrail_objects
from ansible_collections.meshguard.egress.plugins.module_utils._policy.judge import CLUSTER, AddressPolicy, Range
from ansible_collections.meshguard.egress.plugins.module_utils._prepare import Settings
from ansible_collections.meshguard.egress.plugins.module_utils._spec import SpecError, validate_ruleset

DB = {"name": "db", "hosts": ["192.0.2.10"], "ports": [{"number": 5432, "protocol": "TCP"}]}


def rendered(**ruleset):
    spec = {"set": "shop", "services": [DB], **ruleset}
    return run(Settings(spec=spec, state="rendered"), None)["resources"]


def test_a_policy_and_its_binding_are_rendered_with_the_sets_labels():
    objects = rendered(guardrail={"writers": ["system:serviceaccount:ci:deployer", "alice"]})
    policy, binding = (o for o in objects if o["apiVersion"].startswith("admissionregistration.k8s.io/"))
    assert (policy["kind"], binding["kind"]) == ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    assert (
        policy["metadata"]
        == binding["metadata"]
        == {
            "name": "shop--meshguard-egress",
            "labels": {"app.kubernetes.io/managed-by": "meshguard.egress", "meshguard.egress/set": "shop"},
        }
    )
    assert binding["spec"] == {"policyName": "shop--meshguard-egress", "validationActions": ["Deny"]}
    assert policy["spec"]["failurePolicy"] == "Fail"
    guarded = {p for rule in policy["spec"]["matchConstraints"]["resourceRules"] for p in rule["resources"]}
    # Every kind the set writes, and WorkloadEntries (judged for their address).
    assert guarded == {k.plural for k in KINDS if k not in (ADMISSION_POLICY, ADMISSION_BINDING)} | {"workloadentries"}
    writers = policy["spec"]["validations"][-1]["expression"]
    assert "request.userInfo.username in ['system:serviceaccount:ci:deployer', 'alice']" in writers
    assert rendered(guardrail={"writers": ["alice"]}) == rendered(guardrail={"writers": ["alice"]})
    assert not [o for o in rendered() if o["kind"].startswith("ValidatingAdmission")]


def test_the_policy_holds_the_ranges_the_collection_judges_with():
    policy = AddressPolicy([Range("10.96.0.0/12", "the cluster's Service range", "ServiceCIDR kubernetes", CLUSTER)])
    ruleset = validate_ruleset({"set": "shop", "services": [DB], "guardrail": {"writers": ["alice"]}})
    (obj, _binding) = guardrail_objects(ruleset, policy.guardrail_ranges())
    variables = {v["name"]: v["expression"] for v in obj["spec"]["variables"]}
    assert variables["refused"] == "[" + ", ".join(cel_string(r.cidr) for r in policy.guardrail_ranges()) + "]"
    assert "'10.96.0.0/12'" in variables["ipv4"] and "'2002:a60::/28'" in variables["ipv6Global"]
    assert "'fe80::/10'" in variables["ipv6"] and "'fe80::/10'" not in variables["ipv6Global"]


def test_cel_strings_are_escaped():
    assert cel_string("it's a \\ path") == "'it\\'s a \\\\ path'"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"writers": []}, "guardrail.writers: is required"),
        ({}, "guardrail.writers: is required"),
        ({"writers": ["a", "a"]}, "guardrail.writers[1]: 'a' is listed twice"),
        ({"writers": [""]}, "guardrail.writers[0]: must be a user name"),
        ({"writers": ["a"], "writer": 1}, "guardrail: unknown key 'writer'"),
        ("alice", "guardrail: must be a dict with writers"),
    ],
)
def test_bad_guardrails_are_named(value, error):
    with pytest.raises(SpecError) as caught:
        rendered(guardrail=value)
    assert any(e.startswith(error) for e in caught.value.errors), caught.value.errors
