# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who a proxy's AuthorizationPolicy admits: namespaces and service accounts, each in a source of its own."""

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._proxy.authorization import source_rules


def test_namespaces_and_service_accounts_are_separate_sources_each_sorted():
    # Istio's CRD refuses serviceAccounts next to namespaces in one source.
    assert source_rules(["shop", "billing/api", "audit", "billing/batch"]) == [
        {"source": {"namespaces": ["audit", "shop"]}},
        {"source": {"serviceAccounts": ["billing/api", "billing/batch"]}},
    ]


def test_only_the_kinds_given_appear():
    assert source_rules(["shop"]) == [{"source": {"namespaces": ["shop"]}}]
    assert source_rules(["shop/api"]) == [{"source": {"serviceAccounts": ["shop/api"]}}]
    assert source_rules([]) == []
