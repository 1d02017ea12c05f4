# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The reachability report of a rollout: every cluster's change, grouped across clusters.

The same change on forty clusters is one line naming them (or counting them past a few). The
report is plain data (``report_data``, what the role publishes with ``set_stats`` and writes as
JSON), lines for the play's output (``report_lines``) and Markdown for a merge request
(``report_markdown``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .model import ITEM_KEYS, WAY_TEXT

# Clusters named in a line before they are counted instead.
NAMED_CLUSTERS = 3


def _destination(item: Mapping[str, Any]) -> str:
    where = str(item["destination"])
    return f"[{where}]:{item['port']}" if ":" in where else f"{where}:{item['port']}"


def _who(item: Mapping[str, Any]) -> str:
    sources = list(item.get("sources") or [])
    return ", ".join(sources) if sources else "nobody"


def _clusters(names: Sequence[str], every: Sequence[str]) -> str:
    if len(every) > 1 and set(names) >= set(every):
        return f"every cluster ({len(every)})"
    if len(names) > NAMED_CLUSTERS:
        return f"{len(names)} clusters ({', '.join(names[:NAMED_CLUSTERS])}, ...)"
    return ", ".join(names)


def report_data(
    set_name: str,
    *,
    check_mode: bool,
    outcomes: Mapping[str, Optional[Mapping[str, Any]]],
    hosts: Sequence[str],
    resolution: Mapping[str, Any],
) -> dict[str, Any]:
    """The run's reachability change grouped across clusters: ``changes`` (each with ``change`` ``+`` or
    ``-``, the item's keys and ``clusters``), ``unchanged`` per cluster, ``failed`` clusters, the
    answers refused or not resolved (each with the clusters it concerns), and the DNSSEC status of
    each host name that was validated (``dnssec``)."""
    grouped: dict[tuple, list[str]] = {}
    unchanged: dict[str, int] = {}
    failed: list[str] = []
    for host in hosts:
        outcome = outcomes.get(host)
        if outcome is None:
            continue
        if outcome.get("failed"):
            failed.append(host)
            continue
        found = outcome.get("reachability") or {}
        unchanged[host] = int(found.get("unchanged", 0))
        for sign, key in (("+", "added"), ("-", "removed")):
            for item in found.get(key) or []:
                frozen = (sign, *(_frozen(item.get(k)) for k in ITEM_KEYS))
                grouped.setdefault(frozen, []).append(host)
    changes = []
    for frozen, clusters in sorted(grouped.items(), key=lambda kv: (kv[0][1:], kv[0][0])):
        item = {k: _thawed(v) for k, v in zip(ITEM_KEYS, frozen[1:])}
        changes.append({"change": frozen[0], **item, "clusters": clusters})
    return {
        "set": set_name,
        "check_mode": check_mode,
        "clusters": [h for h in hosts if outcomes.get(h) is not None],
        "changes": changes,
        "unchanged": unchanged,
        "failed": failed,
        "refused": list(resolution.get("refused") or []),
        "unresolved": list(resolution.get("unresolved") or []),
        "dnssec": {r["host"]: r["dnssec"] for r in resolution.get("results") or [] if r.get("dnssec")},
    }


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _thawed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _hosts(change: Mapping[str, Any], dnssec: Mapping[str, str]) -> str:
    """The host names that answered, each with its DNSSEC status when it was validated."""
    return ", ".join(f"{h} (DNSSEC {dnssec[h]})" if h in dnssec else h for h in change.get("hosts") or [])


def _line(change: Mapping[str, Any], every: Sequence[str], dnssec: Mapping[str, str]) -> str:
    hosts = _hosts(change, dnssec)
    retained = f", retained until {change['retained_until']}" if change.get("retained_until") else ""
    provenance = f" ({hosts}{retained})" if hosts or retained else ""
    return (
        f"{change['change']} {_who(change)} -> {_destination(change)} {change['protocol']}  {change['service']} "
        f"{WAY_TEXT.get(change['way'], change['way'])}{provenance}  {_clusters(change['clusters'], every)}"
    )


def report_lines(data: Mapping[str, Any]) -> list[str]:
    """The report for the play's output: a heading, one line per change, then what stays and what failed."""
    every = data["clusters"]
    mode = ", check mode: nothing was written" if data["check_mode"] else ""
    lines = [f"reachability of set {data['set']} on {len(every)} cluster(s){mode}:"]
    lines += [_line(c, every, data.get("dnssec") or {}) for c in data["changes"]] or ["no change in reachability"]
    counts = sorted(set(data["unchanged"].values()))
    if len(counts) == 1:
        lines.append(f"unchanged: {counts[0]} grant(s) on every cluster")
    elif counts:
        lines.append("unchanged: " + ", ".join(f"{h} {n}" for h, n in data["unchanged"].items()))
    if data["failed"]:
        lines.append(f"not known, the run failed there: {', '.join(data['failed'])}")
    for key, title in (("refused", "refused, live rules kept"), ("unresolved", "not resolved, live rules kept")):
        lines += [f"{title}: {p['message']} ({_clusters(p['hosts'], every)})" for p in data[key]]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def report_markdown(data: Mapping[str, Any]) -> str:
    """The report as a merge-request comment."""
    every = data["clusters"]
    mode = " (check mode: nothing was written)" if data["check_mode"] else ""
    out = [f"### meshguard.egress: reachability of set `{data['set']}`{mode}", ""]
    if data["changes"]:
        out += [
            "| | who | destination | protocol | service | way out | hosts | clusters |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in data["changes"]:
            hosts = _hosts(c, data.get("dnssec") or {})
            if c.get("retained_until"):
                hosts += f" (retained until {c['retained_until']})"
            cells = [
                c["change"],
                _who(c),
                f"`{_destination(c)}`",
                c["protocol"],
                c["service"],
                WAY_TEXT.get(c["way"], c["way"]),
                hosts,
                _clusters(c["clusters"], every),
            ]
            out.append("| " + " | ".join(_cell(str(x)) for x in cells) + " |")
    else:
        out.append("No change in reachability.")
    out.append("")
    counts = sorted(set(data["unchanged"].values()))
    if len(counts) == 1:
        out.append(f"Unchanged: {counts[0]} grant(s) on every cluster ({len(every)}).")
    if data["failed"]:
        out.append(f"Not known, the run failed there: {', '.join(data['failed'])}.")
    for key, title in (("refused", "Refused, live rules kept"), ("unresolved", "Not resolved, live rules kept")):
        for p in data[key]:
            out.append(f"- {title}: {_cell(p['message'])} ({_clusters(p['hosts'], every)})")
    return "\n".join(out).rstrip() + "\n"
