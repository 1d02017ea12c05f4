"""Who a proxy's AuthorizationPolicy admits: shared by every way out through a proxy (egress gateway, waypoint)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Why allowed_sources needs a proxy: a sidecar sends straight out and checks no source (validation's message).
ALLOWED_SOURCES_ENFORCED = (
    "can only be enforced by the egress gateway (the rule set's egress_gateway) or, in an ambient namespace "
    "(dataplane), by the waypoint"
)


def source_rules(allowed_sources: Sequence[str]) -> list[dict[str, Any]]:
    """An AuthorizationPolicy rule's ``from``: the namespaces, then the service accounts (``ns/name``)."""
    namespaces = sorted(s for s in allowed_sources if "/" not in s)
    accounts = sorted(s for s in allowed_sources if "/" in s)
    sources = [{"source": {"namespaces": namespaces}}] if namespaces else []
    # Istio's CRD: serviceAccounts cannot share a source with namespaces.
    sources += [{"source": {"serviceAccounts": accounts}}] if accounts else []
    return sources
