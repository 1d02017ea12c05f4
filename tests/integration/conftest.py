# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the integration suite: real kube-apiservers and DNS servers."""

# pylint: disable=unused-import
# Fixtures are imported by name so that pytest finds them.

from clusterlib import local_clusters, namespace  # noqa: F401  (session fixtures)
from dnslib import (  # noqa: F401  (session fixtures)
    blackhole,
    dns_server,
    dns_server_alt,
    dns_server_hostile,
    dns_server_rotating,
)
