# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Requests a kube-apiserver counted, from its /metrics (apiserver_request_total).

Shared by the integration tests and the benchmarks, which count the writes
and reads the collection causes. Standard library only.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Union

_METRIC = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_counts(metrics: Union[bytes, str]) -> Counter:
    """Requests summed by (verb, resource, dry_run).

    ``resource`` is the plural (``serviceentries``), with its subresource
    when there is one (``serviceentries/status``: written by controllers such
    as istiod, not by the collection), or ``path <path>`` for requests
    outside the resource API (discovery, /openapi, /metrics).
    """
    text = metrics.decode() if isinstance(metrics, bytes) else metrics
    counts: Counter = Counter()
    for line in text.splitlines():
        m = _METRIC.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(1)))
        resource = labels.get("resource", "")
        if not resource:
            resource = f"path {labels.get('subresource', '')}"
        elif labels.get("subresource"):
            resource += "/" + labels["subresource"]
        counts[(labels["verb"], resource, labels.get("dry_run", ""))] += int(float(m.group(2)))
    return counts
