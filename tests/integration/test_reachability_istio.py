# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability change meshguard.egress.rules reports in check mode is what istiod then programs
(issue 25, point 7).

One rule set on a live cluster goes through a series of changes. Before each change the cluster's
istiod is asked what it programs, over xDS, as every proxy that can carry the set's traffic: a sidecar
of each namespace that matters (the set's, a namespace the set names, the egress gateway's, one it
never names), the egress gateway's router, ztunnel (WDS) and the waypoint. Then the module previews
the change (check mode) and applies it, and istiod is asked again until it has caught up. The test
fails unless the preview's ``reachability`` is exactly the difference between the two views.

istiod's grants are read from its answer alone, never through the library's model: a sidecar's
outbound filter chains (destination prefix ranges or the listener's address, the port, the cluster:
ORIGINAL_DST is direct, the gateway's subset is the way through the egress gateway), the router's
chain for the subset's SNI (mtls) or its plain port, with the endpoints of the cluster it routes to
and the RBAC on it, ztunnel's services with their waypoint, and the waypoint's main_internal ranges,
chains and RBAC. Both sides are expanded to units (address block, port, way, source) and compared as
sets of addresses per (port, way, source), in both directions. ztunnel's services without a waypoint
(the sidecar ways' ServiceEntries, exported everywhere) are no grant: ztunnel passes them on as any
address. Each step also names the changes it is there to show (a block grown, split, shrunk; a port
added, removed; an address retained, then expired; a service moved to another way out), so a step
that stops exercising its case fails too.

Cost: about 70 s on a warm cluster (six steps; each waits for istiod to catch up, a probe of eight
proxies per look).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import istiolib
import netaddr
import pytest
from clusterlib import run_module

pytestmark = pytest.mark.integration

# Addresses no other test declares: what istiod programs for them is the set's, or a finding.
UNIVERSE = netaddr.IPSet(["203.0.113.144/28", "203.0.113.160/27", "2001:db8:25::/48"])
PASSTHROUGH, BLACKHOLE = "PassthroughCluster", "BlackHoleCluster"
DIRECT, GATEWAY, AMBIENT = "direct", "egress_gateway", "ambient"
EVERYONE = "*"
# The ports of the set's services (below); no other test declares them either.
PORTS = range(7401, 7407)
API_HOST = "api.reach.test"

# (port, way, source) -> addresses
Units = dict[tuple[int, str, str], Any]


def _add(units: Units, port: int, way: str, source: str, addresses: Any) -> None:
    addresses = netaddr.IPSet(addresses)
    if addresses:
        key = (int(port), way, source)
        units[key] = units.get(key, netaddr.IPSet()) | addresses


def _minus(a: Units, b: Units) -> Units:
    out: Units = {}
    for key, addresses in a.items():
        _add(out, *key, addresses - b.get(key, netaddr.IPSet()))
    return out


def _and(a: Units, b: Units) -> Units:
    out: Units = {}
    for key, addresses in a.items():
        _add(out, *key, addresses & b.get(key, netaddr.IPSet()))
    return out


def _text(addresses: Any) -> str:
    return ", ".join(str(c) for c in addresses.iter_cidrs())


def differences(what: str, report: Units, istiod: Units) -> list[str]:
    """One line per (port, way, source) where the report and istiod differ, both directions."""
    out = []
    for key in sorted(set(report) | set(istiod)):
        said, done = report.get(key, netaddr.IPSet()), istiod.get(key, netaddr.IPSet())
        port, way, source = key
        if said - done:
            out.append(f"{what}: the report says {_text(said - done)}:{port} {way} for {source}; istiod does not")
        if done - said:
            out.append(f"{what}: istiod programs {_text(done - said)}:{port} {way} for {source}; the report misses it")
    return out


# --------------------------------------------------------------------------- the report's side


def _source(text: str) -> str:
    # A NetworkPolicy's pods ("shop (app=client)") are not istiod's to judge; this set renders none.
    return text.split(" (", 1)[0]


def report_units(items: Iterable[Mapping[str, Any]], sidecars: Iterable[str]) -> Units:
    """The units of reachability items. A sidecar way's ``*`` is every namespace whose sidecar is asked;
    every namespace the report names for a sidecar way must be one of them. The waypoint's sources stay
    as they are (its RBAC names them)."""
    sidecars = sorted(sidecars)
    units: Units = {}
    for item in items:
        for text in item["sources"]:
            source = _source(text)
            if item["way"] == AMBIENT:
                labels = [source]
            elif source == EVERYONE:
                labels = sidecars
            else:
                assert source.split("/")[0] in sidecars, f"the report names {source}, whose sidecar is not asked"
                labels = [source]
            for label in labels:
                _add(units, item["port"], item["way"], label, [item["destination"]])
    return units


# --------------------------------------------------------------------------- istiod's side


def _applies(policy: Mapping[str, Any], *, sni: Optional[str] = None, port: Optional[int] = None) -> bool:
    """Whether an RBAC policy's permissions admit a connection with this SNI (the router) or to this
    port (the waypoint). Anything else in them is not judged here, and fails the test."""
    if policy.get("server_names"):
        return f"exact:{sni}" in policy["server_names"]
    ports = [p for p in policy["permissions"] if p.startswith("destination_port:")]
    other = [p for p in policy["permissions"] if p != "any" and not p.startswith("destination_port:")]
    assert not other, f"RBAC policy {policy['name']}: permissions {other} are not judged by this test"
    return not ports or f"destination_port:{port}" in ports


def admitted(rbac: list[dict], *, sni: Optional[str] = None, port: Optional[int] = None) -> set[str]:
    """Who a chain's network RBAC lets through: namespaces and namespace/service-account pairs, ``*``
    for anyone (no ALLOW filter, or a policy for any principal); empty: nobody."""
    filters = [f for f in rbac if not f.get("shadow")]
    assert all(f["action"] == "ALLOW" for f in filters), f"RBAC other than ALLOW is not judged: {filters}"
    if not filters:
        return {EVERYONE}
    found: set[str] = set()
    for f in filters:
        for policy in f["policies"]:
            if not _applies(policy, sni=sni, port=port):
                continue
            if "any" in policy["principals"]:
                return {EVERYONE}
            names, accounts = policy.get("namespaces") or [], policy.get("service_accounts") or []
            assert len(names) + len(accounts) == len(policy["principals"]), (
                f"RBAC policy {policy['name']}: principals {policy['principals']} are not all namespaces or "
                "service accounts"
            )
            found.update(names, accounts)
    return found


def _for_namespace(admits: set[str], namespace: str) -> list[str]:
    """What a sidecar's namespace gets from a policy: all of it, or only some of its service accounts."""
    if EVERYONE in admits or namespace in admits:
        return [namespace]
    return sorted(a for a in admits if a.split("/")[0] == namespace and "/" in a)


def _chains(listener: Mapping[str, Any]) -> list[dict]:
    default = listener.get("default_filter_chain")
    return [*(listener.get("filter_chains") or []), *([default] if default else [])]


def _destination(listener: Mapping[str, Any], chain: Mapping[str, Any]) -> Any:
    """The addresses a sidecar's chain claims: its prefix ranges, else the listener's own address
    (a wildcard listener: every address)."""
    if chain.get("prefix_ranges"):
        return netaddr.IPSet(chain["prefix_ranges"])
    if listener["address"] in ("0.0.0.0", "::"):
        return netaddr.IPSet(["0.0.0.0/0", "::/0"])
    return netaddr.IPSet([listener["address"]])


@dataclass
class View:
    """What istiod programs for the set's addresses, as units, and what could not be read as a grant."""

    units: Units = field(default_factory=dict)
    unexplained: list[str] = field(default_factory=list)


def _clusters(result: Mapping[str, Any]) -> dict[str, dict]:
    return {c["name"]: c for c in result["clusters"]}


def _router_units(view: View, router: Mapping[str, Any], namespace: str, cluster: Mapping[str, Any]) -> None:
    """Where the egress gateway's router sends what a sidecar sends to the gateway subset ``cluster``:
    mtls, the chain of the subset's SNI; plain, the listener of the gateway port. Each destination is
    the endpoint of the router's cluster, on that cluster's port, for the sources its RBAC admits."""
    clusters = _clusters(router)
    tls = cluster.get("tls") or {}
    gateway_port = int(cluster["name"].split("|")[1])
    found = []
    for listener in router.get("listeners") or []:
        for chain in _chains(listener):
            if tls.get("mode") == "ISTIO_MUTUAL":
                if tls.get("sni") in (chain.get("server_names") or []):
                    found.append((chain, admitted(chain.get("rbac") or [], sni=tls["sni"])))
            elif not tls and listener["port"] == gateway_port and not chain.get("server_names"):
                found.append((chain, admitted(chain.get("rbac") or [])))
    if not found:
        view.unexplained.append(f"sidecar of {namespace}: {cluster['name']} ({tls}) has no chain at the router")
    for chain, admits in found:
        for name in chain.get("weighted_clusters") or [chain.get("cluster")]:
            target = clusters.get(name)
            if target is None or not name.startswith("outbound|"):
                view.unexplained.append(f"router: chain {chain.get('name')} goes to {name}")
                continue
            port = int(name.split("|")[1])
            for label in _for_namespace(admits, namespace):
                _add(view.units, port, GATEWAY, label, target.get("addresses") or [])
            if target.get("addresses_truncated"):
                view.unexplained.append(f"router: {name} has more endpoints than the probe lists")


def sidecar_units(view: View, result: Mapping[str, Any], namespace: str, router: Mapping[str, Any]) -> None:
    """A sidecar of ``namespace``: every outbound TCP chain that claims addresses of the universe."""
    assert not result.get("error"), result["error"]
    clusters = _clusters(result)
    for listener in result.get("listeners") or []:
        if listener["name"] in ("virtualOutbound", "virtualInbound") or not listener["address"]:
            # The capture listeners hand on by address; internal listeners (connect_originate) are not dialled.
            continue
        for chain in _chains(listener):
            claimed = _destination(listener, chain) & UNIVERSE
            if not claimed or chain.get("route_config"):
                # HTTP chains route by Host, and no service of the set is HTTP: one on a port of the set is a finding.
                if claimed and chain.get("route_config") and listener["port"] in PORTS:
                    view.unexplained.append(
                        f"sidecar of {namespace}: HTTP chain {chain.get('name')} on {_text(claimed)}"
                    )
                continue
            name = chain.get("cluster") or ""
            if name in (PASSTHROUGH, BLACKHOLE):
                continue
            cluster = clusters.get(name)
            parts = name.split("|")
            if cluster is None or len(parts) != 4:
                view.unexplained.append(f"sidecar of {namespace}: {_text(claimed)}:{listener['port']} goes to {name!r}")
            elif parts[3] == istiolib.GATEWAY_HOST:
                _router_units(view, router, namespace, cluster)
            elif cluster["type"] == "ORIGINAL_DST":
                # To the address the client dialled, on the port it dialled.
                _add(view.units, listener["port"], DIRECT, namespace, claimed)
            else:
                view.unexplained.append(
                    f"sidecar of {namespace}: {_text(claimed)}:{listener['port']} goes to {name} ({cluster['type']})"
                )


def _waypoint_ranges(waypoint: Mapping[str, Any]) -> list[tuple[Any, dict[int, str]]]:
    """main_internal's ranges, longest prefix first, each with its chain per port."""
    out = []
    for line in waypoint.get("waypoint_ranges") or []:
        ranges, _arrow, ports = line.partition(" -> ")
        by_port = {}
        for item in filter(None, ports.split(",")):
            number, _eq, chain = item.partition("=")
            by_port[int(number)] = chain
        out += [(netaddr.IPNetwork(r), by_port) for r in ranges.split(",")]
    return sorted(out, key=lambda entry: -entry[0].prefixlen)


def ambient_units(view: View, ztunnel: Mapping[str, Any], waypoint: Mapping[str, Any]) -> None:
    """ztunnel's services with addresses of the universe: sent to the waypoint, whose main_internal
    range for the address (longest prefix first, as Envoy's IP matcher) and chain for the port lead to
    an ORIGINAL_DST cluster, for the sources the chain's RBAC admits."""
    assert not waypoint.get("error"), waypoint["error"]
    chains = {
        c.get("name"): c
        for listener in waypoint.get("listeners") or []
        if listener["name"] == "main_internal"
        for c in _chains(listener)
    }
    clusters = _clusters(waypoint)
    ranges = _waypoint_ranges(waypoint)
    for service in istiolib.wds_services(ztunnel).values():
        sent = netaddr.IPSet(a.split("/", 1)[1] for a in service["addresses"]) & UNIVERSE
        if not sent:
            continue
        ports = [p["service_port"] for p in service["ports"]]
        via = service.get("waypoint") or {}
        if not via:
            # ztunnel passes such a service on as it would any address (ambient has no REGISTRY_ONLY):
            # the sidecar ways' ServiceEntries, exported everywhere, are no ambient grant.
            continue
        if via.get("hostname") != istiolib.WAYPOINT_HOST:
            view.unexplained.append(f"ztunnel: {service['resource']} {_text(sent)} goes to {via or 'no waypoint'}")
            continue
        for port in ports:
            left = netaddr.IPSet(sent)
            for network, by_port in ranges:
                part = left & netaddr.IPSet([network])
                if not part or port not in by_port:
                    continue
                left -= part
                chain = chains.get(by_port[port]) or {}
                target = clusters.get(chain.get("cluster") or "") or {}
                if target.get("type") != "ORIGINAL_DST":
                    view.unexplained.append(f"waypoint: {_text(part)}:{port} goes to {chain.get('cluster')}")
                    continue
                for label in admitted(chain.get("rbac") or [], port=port):
                    _add(view.units, port, AMBIENT, label, part)


def istiod_view(results: Mapping[str, dict], sidecars: Iterable[str]) -> View:
    view = View()
    router = results["router"]
    assert not router.get("error"), router["error"]
    for namespace in sidecars:
        sidecar_units(view, results[f"sidecar {namespace}"], namespace, router)
    ambient_units(view, results["ztunnel"], results["waypoint"])
    return view


def cases(istiod: str, sidecars: Iterable[str]) -> list[dict]:
    source = {"istiod": istiod}
    out = [
        {"id": f"sidecar {ns}", **source, "workload": {"namespace": ns, "ip_family": "dual"}, "detail": True}
        for ns in sidecars
    ]
    out += [
        {"id": "router", **source, "workload": istiolib.router_workload(), "detail": True},
        {"id": "ztunnel", **source, "workload": istiolib.ztunnel_workload()},
        {"id": "waypoint", **source, "workload": istiolib.waypoint_workload(), "detail": True},
    ]
    return out


# --------------------------------------------------------------------------- the comparison


def judge(
    report: Mapping[str, Any], before: Units, after: Units, asked_before: Iterable[str], asked_after: Iterable[str]
) -> list[str]:
    """Every way the report differs from istiod's change from ``before`` to ``after`` (the sidecars of
    ``asked_before`` and ``asked_after`` asked).

    Removed: exactly what istiod stopped programming. Added: exactly what istiod started programming,
    plus restatements of addresses that only retention keeps now (items with ``retained_until``): those
    istiod programmed before and still programs."""
    added = report_units(report["added"], asked_after)
    removed = report_units(report["removed"], asked_before)
    restated = report_units([i for i in report["added"] if i["retained_until"]], asked_after)
    problems = differences("removed", removed, _minus(before, after))
    problems += differences("added", _minus(added, before), _minus(after, before))
    kept = _and(added, before)
    for (port, way, source), addresses in _minus(kept, restated).items():
        problems.append(f"added {_text(addresses)}:{port} {way} for {source}, which istiod programmed before")
    for (port, way, source), addresses in _minus(kept, after).items():
        problems.append(f"restated {_text(addresses)}:{port} {way} for {source}, which istiod no longer programs")
    return problems


@dataclass
class Step:
    name: str
    services: list[dict]
    ambient: bool = True
    answers: Optional[list[str]] = None
    at: int = 0
    extra: dict = field(default_factory=dict)
    state: str = "present"
    # What the step is there to show: (sign, destination, port, way), "retained" last for a retained address.
    # The comparison with istiod proves the report right; this proves the step changes what it says it does.
    shows: list[tuple] = field(default_factory=list)


def missing(report: Mapping[str, Any], shows: Iterable[tuple]) -> list[tuple]:
    items = {
        (sign, i["destination"], i["port"], i["way"], *(["retained"] if i["retained_until"] else []))
        for sign, key in (("+", "added"), ("-", "removed"))
        for i in report[key]
    }
    return [s for s in shows if s not in items]


def resolved(addresses: list[str]) -> list[dict]:
    """API_HOST's answer, as the resolve lookup gives it with detail=true."""
    return [{"host": API_HOST, "addresses": addresses, "cidrs": [], "cname_chain": [], "ttl": 30, "error": None}]


def tcp(number: int) -> dict:
    return {"number": number, "protocol": "TCP"}


def test_the_check_mode_reachability_is_what_istiod_then_programs(local_clusters, namespace):
    ctx = local_clusters.contexts[0]
    istiod = str(local_clusters.by_context(ctx).dir / "istiod.json")
    own, amb, out, billing = namespace, f"{namespace}-amb", f"{namespace}-out", f"{namespace}-bill"
    for ns in (amb, out, billing):
        local_clusters.kubectl(ctx, "create", "namespace", ns)
    set_name = f"rq{uuid.uuid4().hex[:8]}"
    # The retention clock is the answers' time (resolved_at): an hour's window passes between two runs.
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(hours=3)

    pg = {"name": "pg", "hosts": ["203.0.113.160/29"], "ports": [tcp(7401)], "egress_gateway": False}
    v6 = {"name": "v6", "hosts": ["2001:db8:25::/124"], "ports": [tcp(7402)], "egress_gateway": False}
    api = {"name": "api", "hosts": [API_HOST], "ports": [tcp(7403)], "allowed_sources": [own, f"{billing}/api"]}
    mv = {"name": "mv", "hosts": ["203.0.113.150"], "ports": [tcp(7406)], "egress_gateway": False}
    ambient = {
        "name": "amb",
        "namespace": amb,
        "hosts": ["203.0.113.184/29", "2001:db8:25:2::/124"],
        "ports": [tcp(7404)],
        "egress_gateway": False,
    }
    mv_gateway = {k: v for k, v in mv.items() if k != "egress_gateway"}
    v4_first, v6_answer = "203.0.113.152", "2001:db8:25:1::10"
    plain_ports = {"start": istiolib.GATEWAY_PLAIN_PORTS[5], "end": istiolib.GATEWAY_PLAIN_PORTS[-1]}
    steps = [
        Step(
            "a set from nothing: direct, IPv6, through the gateway (mtls), ambient",
            [pg, v6, api, mv, ambient],
            answers=[v4_first, v6_answer],
            shows=[
                ("+", "203.0.113.160/29", 7401, DIRECT),
                ("+", "2001:db8:25::/124", 7402, DIRECT),
                ("+", v4_first, 7403, GATEWAY),
                ("+", v6_answer, 7403, GATEWAY),
                ("+", "203.0.113.184/29", 7404, AMBIENT),
                ("+", "2001:db8:25:2::/124", 7404, AMBIENT),
            ],
        ),
        Step(
            "a block grows, a port is added, DNS changes (the old address retained), direct to the gateway",
            [{**pg, "hosts": ["203.0.113.160/28"]}, {**v6, "ports": [tcp(7402), tcp(7405)]}, api, mv_gateway, ambient],
            answers=["203.0.113.153", v6_answer],
            at=60,
            shows=[
                ("+", "203.0.113.168/29", 7401, DIRECT),
                ("+", "2001:db8:25::/124", 7405, DIRECT),
                ("+", "203.0.113.153", 7403, GATEWAY),
                ("+", v4_first, 7403, GATEWAY, "retained"),
                ("-", "203.0.113.150", 7406, DIRECT),
                ("+", "203.0.113.150", 7406, GATEWAY),
            ],
        ),
        Step(
            "the block splits, a port is removed, the retained address expires, ambient to sidecar",
            [
                {**pg, "hosts": ["203.0.113.160/30", "203.0.113.172/30"]},
                {**v6, "ports": [tcp(7405)]},
                api,
                mv_gateway,
                ambient,
            ],
            ambient=False,
            answers=["203.0.113.153", v6_answer],
            at=7200,
            shows=[
                ("-", "203.0.113.164/30", 7401, DIRECT),
                ("-", "203.0.113.168/30", 7401, DIRECT),
                ("-", "2001:db8:25::/124", 7402, DIRECT),
                ("-", v4_first, 7403, GATEWAY, "retained"),
                ("-", "203.0.113.184/29", 7404, AMBIENT),
                ("+", "203.0.113.184/29", 7404, DIRECT),
            ],
        ),
        Step(
            "the block shrinks, the gateway to direct, sidecar to ambient",
            [{**pg, "hosts": ["203.0.113.160/31"]}, {**v6, "ports": [tcp(7405)]}, api, mv, ambient],
            answers=["203.0.113.153", v6_answer],
            at=7260,
            shows=[
                ("-", "203.0.113.162/31", 7401, DIRECT),
                ("-", "203.0.113.172/30", 7401, DIRECT),
                ("-", "203.0.113.150", 7406, GATEWAY),
                ("+", "203.0.113.150", 7406, DIRECT),
                ("-", "203.0.113.184/29", 7404, DIRECT),
                ("+", "203.0.113.184/29", 7404, AMBIENT),
            ],
        ),
        Step(
            "the egress gateway in plain mode, direct to the gateway",
            [
                {**pg, "hosts": ["203.0.113.160/31"]},
                {**v6, "ports": [tcp(7405)]},
                {k: v for k, v in api.items() if k != "allowed_sources"},
                mv_gateway,
                ambient,
            ],
            answers=["203.0.113.153", v6_answer],
            at=7320,
            extra={"egress_gateway": {"mode": "plain", "ports": plain_ports}},
            # api's allowed_sources go: billing's service account loses it, the set's namespace keeps it.
            shows=[("-", "203.0.113.153", 7403, GATEWAY), ("+", "203.0.113.150", 7406, GATEWAY)],
        ),
        Step("the set removed", [pg], state="absent", at=7380, shows=[("-", "203.0.113.150", 7406, GATEWAY)]),
    ]
    base = {
        "kubeconfig": str(local_clusters.kubeconfig),
        "context": ctx,
        "set": set_name,
        "namespace": own,
        "registry_only": [own],
        "egress_gateway": {"mode": "mtls"},
        "dataplane": "auto",
        "waypoint": {"name": istiolib.WAYPOINT_NAME, "namespace": istiolib.WAYPOINT_NAMESPACE, "manage": True},
        "retain": "1h",
    }

    def args_of(step: Step) -> dict:
        args = {**base, **step.extra, "services": step.services, "state": step.state}
        if step.answers:
            args["resolved"] = resolved(step.answers)
            args["resolved_at"] = (start + datetime.timedelta(seconds=step.at)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return args

    def sidecars_of(ambient_mode: bool) -> list[str]:
        # The gateway's namespace: the set exports its units there (the router must see them).
        names = [own, out, billing, istiolib.GATEWAY_NAMESPACE]
        return names if ambient_mode else [*names, amb]

    def ask(sidecars: list[str], check=None) -> View:
        found: dict[str, View] = {}

        def judged(results: dict[str, dict]) -> None:
            view = istiod_view(results, sidecars)
            found["view"] = view
            assert not view.unexplained, "\n".join(view.unexplained)
            if check is not None:
                check(view)

        istiolib.judge_until(cases(istiod, sidecars), judged, timeout=90)
        return found["view"]

    # A namespace in ambient mode has no sidecars: its sidecar is asked only while it is in sidecar mode,
    # and a view is taken before the label changes (the world before the change) or after it (after).
    ambient_mode = True
    sidecars = sidecars_of(ambient_mode)
    local_clusters.kubectl(ctx, "label", "namespace", amb, "istio.io/dataplane-mode=ambient")
    try:
        before = ask(sidecars).units
        assert before == {}, f"istiod programs addresses of this test before the set exists: {before}"
        for step in steps:
            # Unchanged since the last step caught up: that view was istiod's settled state, not a moment of it.
            now = ask(sidecars).units
            assert now == before, f"{step.name}: istiod's view moved on its own: {differences('moved', now, before)}"
            if step.ambient != ambient_mode:
                ambient_mode = step.ambient
                mode = "ambient" if ambient_mode else "none"
                local_clusters.kubectl(ctx, "label", "namespace", amb, f"istio.io/dataplane-mode={mode}", "--overwrite")
            later = sidecars_of(ambient_mode)
            preview, _printed = run_module("rules", args_of(step), check=True)
            assert not preview.get("failed"), (step.name, preview.get("msg"))
            report = preview["reachability"]
            assert not missing(report, step.shows), f"{step.name}: the report lacks {missing(report, step.shows)}"
            applied, _printed = run_module("rules", args_of(step))
            assert not applied.get("failed"), (step.name, applied.get("msg"))
            assert applied["reachability"] == report, f"{step.name}: the real run reported another change"

            def agrees(view: View, report=report, before=before, asked=(sidecars, later), step=step) -> None:
                problems = judge(report, before, view.units, *asked)
                assert not problems, f"{step.name}:\n" + "\n".join(problems)

            before, sidecars = ask(later, agrees).units, later
        assert before == {}
    finally:
        run_module("rules", {**base, "state": "absent"})
        for ns in (amb, out, billing):
            local_clusters.kubectl(ctx, "delete", "namespace", ns, "--wait=false", check=False)
