# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a rule set meets what is live on a cluster: prune, failed hosts, address retention, pre-resolved answers
and their time."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  prune:
    description:
      - Objects of this set that the rule set no longer renders are deleted (and reported as drift by
        M(meshguard.egress.rules_info)). Without it they are left in place.
    type: bool
    default: true
  on_error:
    description:
      - What happens when a host of a service does not resolve.
      - V(fail) fails before any cluster is contacted, listing every host, error type and nameserver.
      - V(keep) leaves the live objects of that service exactly as they are (neither updated nor pruned), with a
        warning, and goes on with the other services. Rendered manifests
        (O(meshguard.egress.rules#module:state=rendered)) have no live objects to keep, so there V(keep) fails
        as V(fail) does.
      - A partial answer never shrinks a rule; that is why the lookup's V(warn) and V(omit) are not offered here.
    type: str
    choices: [fail, keep]
    default: fail
  retain:
    description:
      - How long an address that DNS stops returning stays in the rule, as a duration such as V(24h), V(90m),
        V(1h30m) or V(7d). For pools that answer with a rotating subset of their addresses, and so that a DNS
        change never cuts live connections off at once.
      - When each address was last seen is kept on the objects (annotation C(meshguard.egress/last-seen)), so it
        survives between runs and is the same whichever controller runs next. It only changes when the DNS
        answers change. Addresses still within it are not drift.
      - Literal IPs and CIDR blocks of the rule set are never retained. V(0) turns retention off.
      - With C(--check --diff) the diff shows what would expire.
    type: str
    default: 24h
  resolved:
    description:
      - The output of the P(meshguard.egress.resolve#lookup) lookup with C(detail=true) for the hosts of the rule set.
        No DNS query is made; the role resolves once and passes the same answers to every cluster.
      - Every host name of the rule set must be in it.
      - The C(cidrs) of each entry are not used; the C(addresses) are aggregated with this module's own options.
      - The P(meshguard.egress.snapshot#lookup) lookup gives them from a snapshot file.
    type: list
    elements: dict
  resolved_at:
    description:
      - When the answers in O(resolved) were taken, in UTC as V(2026-12-01T10:00:00Z) (a snapshot's C(time)).
      - It is the clock of address retention (O(retain)), so every cluster given the same answers records the same
        C(meshguard.egress/last-seen) times, whenever its run happens. Without it, the time of the module run.
      - Only with O(resolved).
    type: str
"""
