# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guardrail: a ValidatingAdmissionPolicy and its binding, which the API server enforces.

It denies, for everyone (this collection included):

- ServiceEntries (of any ``location``) whose ``addresses`` or endpoint addresses,
  and WorkloadEntries whose ``address``, fall in (or contain) a range of
  ``_policy.judge.AddressPolicy.guardrail_ranges``, or that Kubernetes' CEL
  cannot parse as an IP address or CIDR block;
- ServiceEntries with resolution ``NONE`` and no ``addresses``: Istio matches
  every destination address on their ports;
- NetworkPolicy egress ``ipBlock``s that allow an address of such a range
  (a refused range covered by one ``except`` entry is not allowed by the block),
  and egress rules without peers (``to`` left out or empty: every destination);
- in the namespaces the set locks down (``registry_only``), a Sidecar that is not
  ``REGISTRY_ONLY``: with a ``workloadSelector`` it would take the selected
  workloads out of the lockdown;
- any change to the objects of this rule set (its ownership and set labels,
  before or after the change) by an identity other than ``writers``. Deletes
  in a namespace being deleted are let through, so that namespaces can go.

Written in CEL with Kubernetes' IP and CIDR library (``isIP``, ``isCIDR``,
``cidr().containsIP/containsCIDR``), admissionregistration.k8s.io/v1, and
nothing newer than Kubernetes 1.30 offers. The ranges are written from the
same list the collection judges DNS answers with, so its own runs pass.
Limits (docs/docsite/rst/address-policy.rst, "What the guardrail covers"): a ServiceEntry
that leaves resolution to Envoy's DNS (endpoints given as names, resolution
DNS) is beyond what an admission policy can see; an EnvoyFilter can rewrite
any listener or cluster and cannot be judged by its fields; a ServiceEntry of
another namespace exported to a locked namespace with an external address is
allowed (the policy cannot tell a wanted address from an unwanted one).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from .._kinds import ADMISSION_BINDING, ADMISSION_POLICY, KINDS, KUBERNETES_ADMISSION, Kind
from .._names import OWNER_LABEL, OWNER_VALUE, SET_LABEL, set_object_name
from .._spec import RuleSet
from .judge import Range

# The kinds whose objects the guardrail protects: everything the collection writes but itself
# (the API server never sends admission policies and bindings to admission policies).
GUARDED_KINDS = tuple(kind for kind in KINDS if kind.group != KUBERNETES_ADMISSION)
OPERATIONS = ["CREATE", "UPDATE", "DELETE"]
# Judged for their address although the collection never writes one: a ServiceEntry selects them
# (workloadSelector) as its endpoints.
WORKLOAD_ENTRIES = ("networking.istio.io", "workloadentries")
WHY = (
    ". Special-purpose addresses and the cluster's own ranges are never external destinations; "
    "this guardrail denies them for every user"
)


def guardrail_name(set_name: str) -> str:
    """The policy's and the binding's name, cluster-wide: one pair per rule set."""
    return set_object_name(set_name)


def guardrail_objects(ruleset: RuleSet, ranges: Sequence[Range]) -> list[dict[str, Any]]:
    """The policy and its binding, or nothing when the rule set has no guardrail."""
    if ruleset.guardrail is None:
        return []
    name = guardrail_name(ruleset.name)
    metadata = {"name": name, "labels": {OWNER_LABEL: OWNER_VALUE, SET_LABEL: ruleset.name}}
    policy = {
        "apiVersion": ADMISSION_POLICY.api_version(),
        "kind": ADMISSION_POLICY.kind,
        "metadata": metadata,
        "spec": {
            # An expression that cannot be evaluated denies: this is a security control.
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": _resource_rules(GUARDED_KINDS, [WORKLOAD_ENTRIES])},
            "variables": _variables(ruleset, ranges),
            "validations": _validations(ruleset, ruleset.guardrail.writers),
        },
    }
    binding = {
        "apiVersion": ADMISSION_BINDING.api_version(),
        "kind": ADMISSION_BINDING.kind,
        "metadata": dict(metadata, labels=dict(metadata["labels"])),
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    return [policy, binding]


def _resource_rules(kinds: Sequence[Kind], more: Sequence[tuple[str, str]] = ()) -> list[dict[str, Any]]:
    by_group: dict[str, list[str]] = {}
    for kind in kinds:
        by_group.setdefault(kind.group, []).append(kind.plural)
    for group, plural in more:
        by_group.setdefault(group, []).append(plural)
    return [
        {"apiGroups": [group], "apiVersions": ["*"], "operations": OPERATIONS, "resources": sorted(plurals)}
        for group, plurals in sorted(by_group.items())
    ]


def cel_string(text: str) -> str:
    """A CEL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _cel_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(cel_string(item) for item in items) + "]"


def _overlaps(address: str, refused: str) -> str:
    """CEL: the address (IP or CIDR string) is in the refused block, or the block is in it."""
    return (
        f"(isCIDR({address}) ? (cidr({refused}).containsCIDR({address}) || cidr({address}).containsCIDR({refused}))"
        f" : cidr({refused}).containsIP({address}))"
    )


def _covered(block: str, target: str) -> str:
    """CEL: one entry of the ipBlock's except holds the whole target block."""
    return f"(has({block}.except) && {block}.except.exists(x, isCIDR(x) && cidr(x).containsCIDR({target})))"


def _block_holds(block: str, refused: str) -> str:
    """CEL: the NetworkPolicy ipBlock allows an address of the refused range (its except aside)."""
    cidr = f"{block}.cidr"
    return (
        f"(cidr({refused}).containsCIDR({cidr}) ? !{_covered(block, cidr)}"
        f" : (cidr({cidr}).containsCIDR({refused}) && !{_covered(block, refused)}))"
    )


def _allows_refused(block: str) -> str:
    """CEL: the ipBlock allows some address of a refused range, or cannot be judged."""
    return f"(!isCIDR({block}.cidr) || variables.refused.exists(r, {_block_holds(block, 'r')}))"


def _parsed(ranges) -> str:
    return _cel_list([r.cidr for r in ranges]) + ".map(r, cidr(r))"


def _global_unicast(refused: Range) -> bool:
    """Inside 2000::/3, where nearly every real IPv6 destination is: few refused ranges there."""
    return (
        ipaddress.ip_network(refused.cidr).subnet_of(ipaddress.IPv6Network("2000::/3"))
        if ":" in refused.cidr
        else False
    )


def _variables(ruleset: RuleSet, ranges: Sequence[Range]) -> list[dict[str, str]]:
    why = ", ".join(f"{cel_string(r.cidr)}: {cel_string(f'{r.name}, {r.source}')}" for r in ranges)
    labelled = (
        f"o != null && has(o.metadata.labels) && {cel_string(OWNER_LABEL)} in o.metadata.labels"
        f" && o.metadata.labels[{cel_string(OWNER_LABEL)}] == {cel_string(OWNER_VALUE)}"
        f" && {cel_string(SET_LABEL)} in o.metadata.labels"
        f" && o.metadata.labels[{cel_string(SET_LABEL)}] == {cel_string(ruleset.name)}"
    )
    # Endpoint addresses that are IPs (or look like one): names are resolved by Envoy, beyond this policy.
    endpoint_ip = "!e.address.startsWith('unix://') && (e.address.contains(':') || e.address.matches('^[0-9.]+$'))"
    # Every location: a MESH_INTERNAL entry routes to its addresses as well.
    entry = "request.kind.kind == 'ServiceEntry' && object != null && has(object.spec)"
    workload_entry = (
        "request.kind.kind == 'WorkloadEntry' && object != null && has(object.spec) && has(object.spec.address)"
        " && !object.spec.address.startsWith('unix://')"
    )
    return [
        {"name": "refused", "expression": _cel_list([r.cidr for r in ranges])},
        {"name": "why", "expression": "{" + why + "}"},
        {"name": "ours", "expression": f"[object, oldObject].exists(o, {labelled})"},
        {
            "name": "serviceEntryAddresses",
            "expression": (
                f"{entry} ? (has(object.spec.addresses) ? object.spec.addresses : [])"
                " + (has(object.spec.endpoints) ? object.spec.endpoints"
                f".filter(e, has(e.address) && {endpoint_ip}).map(e, e.address) : [])"
                f" : {workload_entry} ? [object.spec.address] : []"
            ),
        },
        {
            # Resolution NONE (the default) without addresses: Istio matches every destination on the ports.
            "name": "everyAddress",
            "expression": (
                f"{entry} && (!has(object.spec.resolution) || object.spec.resolution == 'NONE')"
                " && (!has(object.spec.addresses) || object.spec.addresses.size() == 0)"
            ),
        },
        {
            # An egress rule without peers allows every destination.
            "name": "openEgress",
            "expression": (
                "request.kind.kind == 'NetworkPolicy' && object != null && has(object.spec.egress)"
                " && object.spec.egress.exists(e, !has(e.to) || e.to.size() == 0)"
            ),
        },
        {
            # A Sidecar that is not REGISTRY_ONLY in a namespace the set locks down.
            "name": "unlocks",
            "expression": (
                "request.kind.kind == 'Sidecar' && object != null"
                f" && request.namespace in {_cel_list(list(ruleset.registry_only))}"
                " && !(has(object.spec.outboundTrafficPolicy) && has(object.spec.outboundTrafficPolicy.mode)"
                " && object.spec.outboundTrafficPolicy.mode == 'REGISTRY_ONLY')"
            ),
        },
        # Parsed once, and judged against the ranges of their own family only: a STATIC entry may carry
        # 4096 endpoints, and each CEL expression has a cost limit.
        {"name": "ipv4", "expression": _parsed(r for r in ranges if ":" not in r.cidr)},
        {"name": "ipv6", "expression": _parsed(r for r in ranges if ":" in r.cidr and not _global_unicast(r))},
        {"name": "ipv6Global", "expression": _parsed(r for r in ranges if _global_unicast(r))},
        {
            "name": "refusedAddresses",
            "expression": (
                "variables.serviceEntryAddresses.filter(a, !isIP(a) && !isCIDR(a))"
                " + variables.serviceEntryAddresses.filter(a, isIP(a)).map(a, ip(a)).filter(i,"
                " (i.family() == 4 ? variables.ipv4 : cidr('2000::/3').containsIP(i) ? variables.ipv6Global"
                " : variables.ipv6).exists(r, r.containsIP(i))).map(i, string(i))"
                " + variables.serviceEntryAddresses.filter(a, isCIDR(a)).map(a, cidr(a)).filter(c,"
                " (c.ip().family() == 4 ? variables.ipv4 : variables.ipv6 + variables.ipv6Global)"
                ".exists(r, r.containsCIDR(c) || c.containsCIDR(r))).map(c, string(c))"
            ),
        },
        {
            "name": "egressBlocks",
            "expression": (
                "request.kind.kind == 'NetworkPolicy' && object != null && has(object.spec.egress)"
                " ? object.spec.egress.filter(e, has(e.to)).map(e, e.to.filter(t, has(t.ipBlock)).map(t, t.ipBlock))"
                " : []"
            ),
        },
    ]


def _validations(ruleset: RuleSet, writers: Sequence[str]) -> list[dict[str, str]]:
    prefix = f"meshguard.egress guardrail of set {ruleset.name}: "
    where = "request.kind.kind + ' ' + (request.namespace != '' ? request.namespace + '/' : '') + request.name"
    in_range = (
        "(isIP(a) || isCIDR(a)"
        f" ? ' (refused range ' + variables.refused.filter(r, {_overlaps('a', 'r')})"
        ".map(r, r + ': ' + variables.why[r]).join('; ') + ')'"
        " : ' (cannot be judged: not an IP address or CIDR block as Kubernetes parses them)')"
    )
    holds = (
        "(isCIDR(b.cidr)"
        f" ? ' (refused range ' + variables.refused.filter(r, {_block_holds('b', 'r')})"
        ".map(r, r + ': ' + variables.why[r]).join('; ') + ')'"
        " : ' (cannot be judged: not a CIDR block as Kubernetes parses them)')"
    )
    bad_blocks = (
        f"variables.egressBlocks.map(l, l.filter(b, {_allows_refused('b')}).map(b, b.cidr + {holds}).join('; '))"
        ".filter(s, s != '').join('; ')"
    )
    return [
        {
            "expression": "variables.refusedAddresses.size() == 0",
            "messageExpression": (
                f"{cel_string(prefix)} + {where} + ' allows '"
                f" + variables.refusedAddresses.map(a, a + {in_range}).join(', ')"
                f" + {cel_string(WHY)}"
            ),
            "reason": "Forbidden",
        },
        {
            "expression": "!variables.everyAddress",
            "messageExpression": (
                f"{cel_string(prefix)} + {where} + ' has resolution NONE and no addresses: Istio matches every "
                "destination address on its ports, special-purpose and cluster addresses included; list its "
                "addresses'"
            ),
            "reason": "Forbidden",
        },
        {
            "expression": "!variables.openEgress",
            "messageExpression": (
                f"{cel_string(prefix)} + {where} + ' has an egress rule without to: it allows every destination, "
                "special-purpose and cluster addresses included; name the peers'"
            ),
            "reason": "Forbidden",
        },
        {
            "expression": "!variables.unlocks",
            "messageExpression": (
                f"{cel_string(prefix)} + {where} + ' is not REGISTRY_ONLY in namespace ' + request.namespace"
                " + ', which the set locks down (registry_only): it would take the workloads it selects out of the"
                " lockdown; set outboundTrafficPolicy.mode REGISTRY_ONLY'"
            ),
            "reason": "Forbidden",
        },
        {
            "expression": "variables.egressBlocks.all(l, l.all(b, !" + _allows_refused("b") + "))",
            "messageExpression": (
                f"{cel_string(prefix)} + {where} + ' allows egress to ' + {bad_blocks} + {cel_string(WHY)}"
            ),
            "reason": "Forbidden",
        },
        {
            "expression": (
                f"!variables.ours || request.userInfo.username in {_cel_list(list(writers))}"
                " || (request.operation == 'DELETE' && namespaceObject != null"
                " && has(namespaceObject.metadata.deletionTimestamp))"
            ),
            "messageExpression": (
                f"{cel_string(prefix)} + {where} + ' is managed by meshguard.egress; only '"
                f" + {cel_string(', '.join(writers))} + ' may change it, not ' + request.userInfo.username"
            ),
            "reason": "Forbidden",
        },
    ]
