# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the integration suite: real kube-apiservers and DNS servers."""

# pylint: disable=unused-import
# Fixtures are imported by name so that pytest finds them.

from __future__ import annotations

from clusterlib import live, local_clusters, namespace, release_clusters  # noqa: F401  (fixtures)
from dnslib import (  # noqa: F401  (session fixtures)
    blackhole,
    dns_server,
    dns_server_alt,
    dns_server_hostile,
    dns_server_rotating,
)

# The files that take longest, longest first (per-file times of a run, see
# docs/docsite/rst/development.rst). `make integration` hands whole files to its two
# workers in collection order (--dist loadfile --no-loadscope-reorder); by
# default xdist would hand out the files with most tests first, which left
# the bench smoke test (5 tests, minutes of setup) for the end, with the
# other worker idle. Files not listed follow in their usual order.
LONGEST_FIRST = (
    "test_bench_smoke.py",
    "test_rollout.py",
    "test_packets.py",
    "test_rules_module.py",
    "test_snapshot.py",
    "test_kube_options.py",
    "test_installed.py",
    "test_targets.py",
    "test_dnssec.py",
    "test_hostile_dns.py",
    "test_istio_matrix.py",
    "test_action_plugin.py",
    "test_istio_live.py",
    "test_gateway_module.py",
    "test_gateway_istio.py",
    "test_ambient_istio.py",
    "test_probe_gateway.py",
    "test_faults.py",
    "test_istio_examples.py",
    "test_reachability_istio.py",
)


def pytest_collection_modifyitems(items: list) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    # sort is stable: tests keep their order within a file, unlisted files theirs.
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
