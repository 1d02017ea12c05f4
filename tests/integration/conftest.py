# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the integration suite: real kube-apiservers and DNS servers."""

from clusterlib import local_clusters, namespace  # noqa: F401  (session fixtures)
