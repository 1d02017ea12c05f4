# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The desired objects of a rule set: DNS answers and literals per service,
the address policy, address retention, aggregation, then ``render``.

A service whose hosts did not resolve, or whose answers hold an address the
policy refuses (``_policy.judge``) or an answer its dnssec mode refuses
(``_dnssec.policy``), is never rendered from a partial answer: with
on_error=fail nothing is done at all, with on_error=keep it is left out, and
its live objects stay exactly as they are (neither updated nor pruned). A
retained address the policy refuses is dropped, never brought back.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Union

from ._addresses import AggregateOptions, Block, aggregate, blocks_of, widened
from ._ambient.render import ambient_warnings
from ._cluster.client import FIELD_MANAGER
from ._dns.resolve import resolve_names
from ._dns.results import HostResult
from ._dnssec.policy import Unproven, anchors_for, judge_all, service_mode
from ._errors import MeshguardError
from ._gateway.render import GatewayView
from ._kinds import identity
from ._policy.judge import AddressPolicy, Range
from ._policy.refusals import RefusedAddress, as_dicts, literal_problems, refusal_of, refused_addresses, summarised
from ._prepare import Prepared, Settings, prepare
from ._problems import InputError
from ._render import ServiceAddresses, render, service_of
from ._retain import Retention, annotation_value, merge, record_of, record_writers, retain, verify
from ._spec import Service, SpecError
from ._terms import KIND_ADDRESS, KIND_NAME, KIND_NETWORK


@dataclass(frozen=True)
class Desired:
    objects: list[dict] = field(default_factory=list)
    # service name -> why its hosts did not resolve, or why an answer was refused (on_error=keep)
    unresolved: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Every refused address and every answer refused by DNSSEC, as the modules return them (RV refused).
    refused: list[dict] = field(default_factory=list)
    # Retention records that do not match what was applied: never used (RV tampered).
    tampered: tuple[str, ...] = ()
    # DNSSEC's verdict on each host name that was validated (RV dnssec): host, status, reason.
    dnssec: list[dict] = field(default_factory=list)

    def kept(self, live: Iterable[dict]) -> frozenset:
        """Identities of the live objects of services that did not resolve: they stay as they are."""
        return frozenset(identity(o) for o in live if service_of(o) in self.unresolved)


def host_results(prepared: Prepared) -> dict[str, HostResult]:
    """DNS answers for every host name of the rule set, asked once each (or the pre-resolved ones);
    validated by DNSSEC when a service's dnssec mode asks for it."""
    if prepared.resolved is not None:
        return prepared.resolved
    names = sorted({name for s in prepared.ruleset.services if s.addresses is None for name in s.host_names})
    if not names:
        return {}
    return dict(zip(names, resolve_names(names, prepared.resolver, anchors_for(prepared.ruleset))))


def desired_objects(
    prepared: Prepared,
    results: Mapping[str, HostResult],
    live: Optional[Iterable[dict]] = None,
    cluster: tuple[Range, ...] = (),
    gateway: Optional[GatewayView] = None,
) -> Desired:
    """Render the rule set from the DNS answers.

    ``live``: the set's objects on the cluster, for address retention (None
    when rendering without a cluster: then only this run's answers count).
    ``cluster``: the ranges the cluster reports as its own (``_policy.internal``).
    ``gateway``: the egress gateway as the cluster has it (``_gateway.cluster``).
    """
    policy = prepared.policy(cluster)
    _check_literals(prepared, policy)
    now = prepared.now or datetime.datetime.now(datetime.timezone.utc)
    live_by_service: dict[Optional[str], list[dict]] = {}
    for obj in live or ():
        live_by_service.setdefault(service_of(obj), []).append(obj)
    by_service: dict[str, ServiceAddresses] = {}
    unresolved: dict[str, list[str]] = {}
    refused: dict[str, list[Union[RefusedAddress, Unproven]]] = {}
    warnings: list[str] = []
    tampered: list[str] = []
    for service in prepared.ruleset.services:
        answers = service_answers(service, results)
        failed = [str(r.error) for r in answers if r.error is not None]
        if failed:
            unresolved[service.name] = failed
            continue
        unproven, insecure = judge_all(service.name, answers, service_mode(prepared.ruleset, service))
        found = refused_addresses(service.name, answers, policy, prepared.aggregation, service.allow_ranges)
        if unproven or found:
            refused[service.name] = [*unproven, *found]
            continue
        warnings.extend(insecure)
        kept = None
        # Literals are never retained: removing one is the user's intent.
        if prepared.retain and service.addresses is None:
            mine = live_by_service.get(service.name, ())
            held = _held(mine)
            # Each object's record checked on its own: a forged entry must not hide behind another's.
            records = [
                verify(service.name, record_of(obj), held, now, foreign_writers=record_writers(obj, FIELD_MANAGER))
                for obj in mine
            ]
            for record in records:
                tampered.extend(m for m in record.tampered if m not in tampered)
            before = merge(record.trusted for record in records)
            kept = retain(service.name, _resolved(answers), before, now, prepared.retain)
            kept = _without_refused(service, kept, policy, prepared.aggregation)
            warnings.extend(kept.warnings)
        by_service[service.name] = service_addresses(service, answers, prepared.aggregation, kept)
    if (unresolved or refused) and prepared.on_error == "fail":
        raise MeshguardError(_failure(unresolved, refused))
    ruleset = replace(prepared.ruleset, services=tuple(s for s in prepared.ruleset.services if s.name in by_service))
    warnings += [
        f"service {name!r} did not resolve ({'; '.join(why)}); its live objects are kept as they are"
        for name, why in sorted(unresolved.items())
    ]
    warnings += [
        f"service {name!r} is not applied, its live objects are kept as they are: " + "; ".join(_sentences(found))
        for name, found in sorted(refused.items())
    ]
    unresolved.update({name: _sentences(found) for name, found in refused.items()})
    warnings += ambient_warnings(ruleset)
    objects = render(
        ruleset,
        by_service,
        policy.guardrail_ranges() if ruleset.guardrail else (),
        gateway,
        ambient_in_use=prepared.ruleset.has_ambient,
    )
    return Desired(
        objects,
        unresolved,
        [*tampered, *warnings],
        as_dicts(refused),
        tuple(tampered),
        dnssec=verdicts(prepared.ruleset.services, results),
    )


def _held(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """The addresses and blocks a service's live objects hold: what the collection applied (ServiceEntry
    addresses and endpoints, NetworkPolicy ipBlocks, EgressRule destinations)."""
    found: list[str] = []
    for obj in objects:
        spec = obj.get("spec") or {}
        found += [a for a in spec.get("addresses") or [] if isinstance(a, str)]
        found += [e.get("address", "") for e in spec.get("endpoints") or [] if isinstance(e, Mapping)]
        destination = spec.get("destination")
        if isinstance(destination, Mapping) and isinstance(destination.get("service"), str):
            found.append(destination["service"])
        for rule in spec.get("egress") or []:
            for peer in (rule or {}).get("to") or []:
                block = (peer or {}).get("ipBlock") or {}
                if isinstance(block.get("cidr"), str):
                    found.append(block["cidr"])
    return found


def verdicts(services: Iterable[Service], results: Mapping[str, HostResult]) -> list[dict]:
    """The DNSSEC verdict of each host name of the services that has one, sorted by host."""
    names = sorted({name for s in services if s.addresses is None for name in s.host_names})
    return [
        {"host": name, "status": results[name].dnssec, "reason": results[name].dnssec_reason}
        for name in names
        if name in results and results[name].dnssec is not None
    ]


def _failure(unresolved: Mapping[str, list[str]], refused: Mapping[str, list[Union[RefusedAddress, Unproven]]]) -> str:
    parts = []
    if unresolved:
        lines = [f"service {name!r}: {'; '.join(why)}" for name, why in sorted(unresolved.items())]
        parts.append("DNS resolution failed, nothing was changed:\n" + "\n".join(f"- {x}" for x in lines))
    every = [r for _name, found in sorted(refused.items()) for r in found]
    unproven = [r.message for r in every if isinstance(r, Unproven)]
    if unproven:
        parts.append(
            "DNS answers DNSSEC does not prove authentic, nothing was changed:\n"
            + "\n".join(f"- {x}" for x in unproven)
        )
    addresses = summarised([r for r in every if not isinstance(r, Unproven)])
    if addresses:
        parts.append(
            "DNS answered addresses that egress rules never allow, nothing was changed:\n"
            + "\n".join(f"- {x}" for x in addresses)
        )
    return "\n".join(parts)


def _sentences(found: Iterable[Union[RefusedAddress, Unproven]]) -> list[str]:
    """One sentence per DNSSEC refusal, and the address policy's refusals summarised."""
    items = list(found)
    return [r.message for r in items if isinstance(r, Unproven)] + summarised(
        [r for r in items if not isinstance(r, Unproven)]
    )


def judged_values(prepared: Prepared, results: Mapping[str, HostResult], live: Iterable[dict]) -> list[str]:
    """Every address and block ``desired_objects`` puts before the address policy, as it is judged: each
    answer widened by ipv4_prefix / ipv6_prefix, each literal as written, each address that retention may keep
    (from the live objects' last-seen records). Kept next to the judging, so that the two stay in step: the
    engine shares a rendering between clusters whose ranges overlap none of these (``_engine._rendered``)."""
    options = prepared.aggregation or AggregateOptions()
    # As refusal_of judges: widened only when a prefix option widens.
    widen = options.ipv4_prefix < 32 or options.ipv6_prefix < 128
    found: list[str] = []
    for result in results.values():
        if result.kind != KIND_NAME:
            found.append(result.host)
        found += [widened(a, options) for a in result.addresses] if widen else list(result.addresses)
    for service in prepared.ruleset.services:
        found += [h.value for h in service.hosts if h.kind != KIND_NAME]
        found += list(service.addresses or ())
    for obj in live:
        found += [widened(a, options) if widen else a for a in record_of(obj) if _is_address(a)]
    return found


@functools.lru_cache(maxsize=1 << 16)
def _is_address(text: str) -> bool:
    # Every cluster of a run holds the same retention records: each text parsed once per process.
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_literals(prepared: Prepared, policy: AddressPolicy) -> None:
    """The rule set's literals against the cluster's ranges too (prepare judged the rest):
    the user's own word, so a refusal always fails the run, whatever on_error says."""
    problems = literal_problems(prepared.ruleset, policy)
    if problems:
        lines = "\n".join(f"- {p}" for p in problems)
        raise InputError(
            f"the rule set allows addresses that egress rules never allow, nothing was changed:\n{lines}", problems
        )


def _without_refused(
    service: Service, kept: Retention, policy: AddressPolicy, aggregation: AggregateOptions
) -> Retention:
    """Retention never brings a refused address back: it is dropped from the rule and from last-seen."""
    dropped = {
        address: refusal
        for address, _since in kept.retained
        if (refusal := refusal_of(address, policy, aggregation, service.allow_ranges))
    }
    if not dropped:
        return kept
    return replace(
        kept,
        addresses=tuple(a for a in kept.addresses if a not in dropped),
        last_seen={a: since for a, since in kept.last_seen.items() if a not in dropped},
        retained=tuple((a, since) for a, since in kept.retained if a not in dropped),
        warnings=[
            *kept.warnings,
            *(f"service {service.name!r}: {a} is no longer retained: {why}" for a, why in sorted(dropped.items())),
        ],
    )


def refused_answers(
    services: list, resolved: list, internal_ranges: Optional[list] = None, dnssec: Optional[str] = None
) -> list[dict]:
    """What the address policy and the dnssec modes refuse in a list of services, given the lookup's
    detail answers, before any cluster is read (the rollout role's check for the whole run): the
    built-in ranges, internal_ranges and each service's allow_ranges; each service's dnssec mode, or
    ``dnssec`` (the rule set's). Services that are not valid input are left out: the rules task of
    each cluster names their problems."""
    # The egress gateway's options do not change what the policy refuses, and need the rule
    # set's egress_gateway, which this check has not got.
    services = [_without_gateway(s) for s in services]
    spec = {"set": "run", "services": services, "dnssec": dnssec}
    try:
        prepared = prepare(Settings(spec=spec, resolved=resolved, internal_ranges=internal_ranges))
    except SpecError:
        return []
    policy = prepared.policy()
    found: list[Union[RefusedAddress, Unproven]] = []
    for service in prepared.ruleset.services:
        answers = service_answers(service, prepared.resolved or {})
        if not any(r.error is not None for r in answers):
            found += judge_all(service.name, answers, service_mode(prepared.ruleset, service))[0]
            found += refused_addresses(service.name, answers, policy, prepared.aggregation, service.allow_ranges)
    return [r.to_dict() for r in found]


def _without_gateway(service: object) -> object:
    if not isinstance(service, dict):
        return service
    return {k: v for k, v in service.items() if k not in ("egress_gateway", "allowed_sources")}


def service_addresses(
    service: Service, answers: list[HostResult], aggregation: AggregateOptions, kept: Optional[Retention] = None
) -> ServiceAddresses:
    """One service's addresses: its literals and DNS answers, plus what address retention ``kept``."""
    blocks = [block for result in answers for block in blocks_of(result)]
    ips = [address for result in answers if result.kind != KIND_NETWORK for address in result.addresses]
    extra = [address for address, _since in kept.retained] if kept else []
    blocks += [Block(address, f"{address} (retained)", widen=True) for address in extra]
    return ServiceAddresses(
        cidrs=tuple(aggregate(blocks, aggregation)),
        ips=tuple(ips + extra),
        # Provenance names what was resolved; pre-resolved addresses have none.
        sources=tuple(service.host_names) if service.addresses is None else (),
        last_seen=annotation_value(kept.last_seen) if kept else "",
    )


def _resolved(answers: list[HostResult]) -> list[str]:
    """The addresses DNS gave for the service's host names (not its literals)."""
    return sorted({address for result in answers if result.kind == KIND_NAME for address in result.addresses})


def service_answers(service: Service, results: Mapping[str, HostResult]) -> list[HostResult]:
    """One result per host of a service: literals as they are, names from DNS."""
    if service.addresses is not None:
        given = [(a, KIND_NETWORK if "/" in a else KIND_ADDRESS) for a in service.addresses]
    else:
        given = [(h.value, h.kind) for h in service.hosts if h.kind != KIND_NAME]
    literals = [HostResult(host=v, kind=k, addresses=(v,) if k == KIND_ADDRESS else ()) for v, k in given]
    if service.addresses is not None:
        return literals
    return literals + [results[name] for name in service.host_names]
