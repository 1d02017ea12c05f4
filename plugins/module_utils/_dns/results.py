# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What resolving one term gives: its addresses, or a typed error.

Plain data, shared by the resolver, the detail form, the lookup and the
modules. Aggregation into CIDR blocks is not part of a result: it is
``_addresses``' job, with the options of whoever aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .._terms import KIND_ADDRESS, KIND_NAME, Term

NXDOMAIN = "NXDOMAIN"
NODATA = "NODATA"
TIMEOUT = "TIMEOUT"
SERVFAIL = "SERVFAIL"
REFUSED = "REFUSED"
CNAME_LOOP = "CNAME_LOOP"
CNAME_DEPTH = "CNAME_DEPTH"
NETWORK = "NETWORK"
BAD_RESPONSE = "BAD_RESPONSE"
# An answer the address policy refuses (_policy.judge): special-purpose, private or internal.
FORBIDDEN_ADDRESS = "FORBIDDEN_ADDRESS"
# An answer the dnssec policy refuses (_dnssec.policy): not proven authentic.
DNSSEC = "DNSSEC"
ERROR_TYPES = (
    NXDOMAIN,
    NODATA,
    TIMEOUT,
    SERVFAIL,
    REFUSED,
    CNAME_LOOP,
    CNAME_DEPTH,
    NETWORK,
    BAD_RESPONSE,
    FORBIDDEN_ADDRESS,
    DNSSEC,
)
# Verdicts of a policy on an answer that did resolve: its addresses stay in the detail form.
POLICY_TYPES = (FORBIDDEN_ADDRESS, DNSSEC)
# The name does not exist or has no addresses: an answer, not a failure of the servers.
NEGATIVE_TYPES = (NXDOMAIN, NODATA)


@dataclass(frozen=True)
class ResolveError:
    """A typed failure: ``type`` is one of ERROR_TYPES; ``message`` names the host and the nameserver."""

    type: str
    message: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


@dataclass(frozen=True)
class HostResult:
    """The outcome for one term. A result with an error contributes no address.

    ``kind`` is the term's (name, address or network); ``addresses`` are the
    IP addresses found (the address itself for an IP literal, none for a CIDR
    block, whose ``host`` is the block).
    """

    host: str
    kind: str = KIND_NAME
    addresses: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    ttl: Optional[int] = None
    error: Optional[ResolveError] = None
    # DNSSEC's verdict on every record used (secure, insecure, bogus; _dnssec), None when not validated,
    # and why (the signer, or what is missing).
    dnssec: Optional[str] = None
    dnssec_reason: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def literal_result(term: Term) -> HostResult:
    """An IP literal or CIDR block needs no DNS: it stands for itself."""
    return HostResult(host=term.value, kind=term.kind, addresses=(term.value,) if term.kind == KIND_ADDRESS else ())
