# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: snapshot
short_description: Read an address snapshot, checked against the host names of a rule set and a maximum age
version_added: 0.1.0
author: meshguard.egress developers (@meshguard)
description:
  - Reads a snapshot written by M(meshguard.egress.snapshot) and returns its addresses for the host names given, in
    the form of the P(meshguard.egress.resolve#lookup) lookup with C(detail=true), with the snapshot's time, ready
    for the O(meshguard.egress.rules#module:resolved) and O(meshguard.egress.rules#module:resolved_at) options of
    M(meshguard.egress.rules). No DNS query is made.
  - Fails, naming the file, when a host name of O(hosts) is not in the snapshot, when the snapshot is older than
    O(max_age), or when the file is not a valid snapshot. The role C(meshguard.egress.rollout) calls it once per run,
    before any cluster is touched.
options:
  _terms:
    description:
      - The snapshot file (one path). A relative path is relative to the working directory of
        C(ansible-playbook), as for the O(meshguard.egress.snapshot#module:path) the module writes.
    required: true
    type: list
    elements: path
  hosts:
    description: Host names (normal form, as P(meshguard.egress.resolvable#filter) gives them) that must be in it.
    type: list
    elements: str
    default: []
  max_age:
    description:
      - The oldest snapshot accepted, as a duration such as V(24h), V(90m) or V(7d). V(0) accepts any age.
    type: str
    default: 24h
notes:
  - The lookup runs on the controller and reads the file there.
seealso:
  - module: meshguard.egress.snapshot
  - ref: ansible_collections.meshguard.egress.docsite.rollout
    description: Address snapshots in a pipeline and an AWX workflow (the rollout guide, "Address snapshots").
"""

EXAMPLES = r"""
- name: Apply the addresses of a reviewed snapshot to one cluster, without DNS
  meshguard.egress.rules:
    set: shop-egress
    context: prod-eu-1
    services: "{{ services }}"
    resolved: "{{ taken.results }}"
    resolved_at: "{{ taken.time }}"
  vars:
    taken: >-
      {{ lookup('meshguard.egress.snapshot', 'egress-snapshot.yml', hosts=services | meshguard.egress.resolvable) }}
"""

RETURN = r"""
_raw:
  description: One dictionary.
  type: list
  elements: dict
  contains:
    path:
      description: The file read, an absolute path.
      type: str
    time:
      description: The time of the snapshot, UTC, RFC 3339.
      type: str
      sample: "2026-12-01T10:00:00Z"
    digest:
      description: SHA-256 of the file's bytes, to tell two snapshots apart.
      type: str
    results:
      description: One entry per host of O(hosts), sorted, as the resolve lookup's C(detail=true) gives them.
      type: list
      elements: dict
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._paths import anchored
from ansible_collections.meshguard.egress.plugins.module_utils._snapshot import for_rollout


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        paths = [t for term in terms for t in (term if isinstance(term, list) else [term])]
        if len(paths) != 1:
            raise AnsibleLookupError(f"meshguard.egress.snapshot: expected one snapshot file, got {len(paths)}")
        try:
            # Lookups run in ansible-playbook's working directory; anchored, the result names the file read.
            path = anchored(paths[0], os.getcwd())
            return [for_rollout(path, self.get_option("hosts"), self.get_option("max_age"))]
        except MeshguardError as exc:
            raise AnsibleLookupError(f"meshguard.egress.snapshot: {exc}") from None
