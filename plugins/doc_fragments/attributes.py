# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes shared by the modules of this collection."""

from __future__ import annotations


class ModuleDocFragment:
    # Modules that change clusters.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description:
      - Every write is sent to the API server with C(dryRun=All), so check mode reports what the server
        would store and fails where a real run would fail; nothing is written.
  diff_mode:
    support: full
    description:
      - One diff per object created, updated or deleted, with the whole object before and after as YAML.
  action_group:
    support: full
    membership: [meshguard.egress.cluster, meshguard.egress.egress, meshguard.egress.k8s]
    description:
      - C(module_defaults) of C(group/meshguard.egress.cluster) set its connection options once.
        C(group/meshguard.egress.k8s) covers kubernetes.core's C(k8s) group too (when installed), for the options
        both collections take.
"""

    INFO_MODULE = r"""
attributes:
  check_mode:
    support: full
    description:
      - This module only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description:
      - Nothing is changed, so there is nothing to show a diff of.
  action_group:
    support: full
    membership: [meshguard.egress.cluster, meshguard.egress.egress, meshguard.egress.k8s]
    description:
      - C(module_defaults) of C(group/meshguard.egress.cluster) set its connection options once.
        C(group/meshguard.egress.k8s) covers kubernetes.core's C(k8s) group too (when installed), for the options
        both collections take.
"""
