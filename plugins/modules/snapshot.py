#!/usr/bin/python
# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: snapshot
short_description: Resolve every host name of a rule set once and write the addresses to a snapshot file
version_added: 0.1.0
description:
  - Resolves every host name of O(services) and writes, to one YAML file at O(path), per host its addresses,
    CNAME chain, smallest TTL and the nameservers it was asked of, which service reaches which host names, and
    the time of the snapshot (UTC).
  - The file is what a merge request reviews. A rollout with C(meshguard_egress_snapshot) (role
    C(meshguard.egress.rollout)) applies exactly its addresses to every cluster and asks no DNS server, so
    pipelines started at different times, or slices of one job, apply the same addresses.
  - The file is deterministic (sorted keys, addresses in numeric order); the same answers at the same time give
    the same bytes.
  - Rerun, it reports the addresses added and removed per service and host (RV(changes)) and is C(changed) only
    when an address changed. It rewrites the file on every run outside check mode, so that the time says when the
    addresses were last confirmed (a rollout refuses a snapshot older than its maximum age).
  - A host that does not resolve fails the task and leaves the file as it is, unless O(on_error=keep).
  - With O(dnssec) (or a service's own C(dnssec)) not V(off), each host's answer is validated and the file records
    its status, V(secure), V(insecure) or V(bogus), with the reason (C(dnssec) and C(dnssec_reason)); a status
    that changed is a change. The snapshot refuses nothing; a rollout from it judges each host by its services'
    modes, so a host the file does not record as V(secure) is refused by V(require). The task warns about each
    host a service's mode will refuse.
  - Runs where the file is, normally the controller (with C(delegate_to=localhost) and C(run_once)); the playbook
    C(meshguard.egress.snapshot) does that for every cluster of an inventory.
author:
  - meshguard.egress developers (@meshguard-egress)
extends_documentation_fragment:
  - meshguard.egress.resolver
  - meshguard.egress.dnssec
options:
  path:
    description:
      - The snapshot file. Its folder is created when missing. An existing file must be a snapshot; it is compared
        with the new one and replaced atomically.
      - On the controller (a local connection, as with C(delegate_to=localhost)) a relative path is relative to the
        working directory of C(ansible-playbook), whichever playbook runs the task, as for the
        P(meshguard.egress.snapshot#lookup) lookup that reads it back.
      - Required unless O(return_data=true); without it no file is written and no change can be told.
    type: path
  return_data:
    description:
      - Return the snapshot as data in RV(snapshot) (and its RV(digest)), for C(ansible.builtin.set_stats). A
        workflow (AWX, Automation Controller) passes it to a later rollout as C(meshguard_egress_snapshot_data),
        with no file shared between the nodes.
    type: bool
    default: false
  services:
    description:
      - The services whose host names are resolved, as for the O(meshguard.egress.rules#module:services) option
        of M(meshguard.egress.rules), usually those of every cluster of a run. Only C(name), C(hosts),
        C(addresses) and C(dnssec) are read; a service name on several clusters gets the union of their host names
        (and the strongest C(dnssec)).
      - IP addresses and CIDR blocks need no DNS and are not in the file, nor are the hosts of services that give
        their own C(addresses).
    type: list
    elements: dict
    required: true
  on_error:
    description:
      - What a host that does not resolve does.
      - V(fail) fails, naming every such host, its error and nameserver, and writes nothing.
      - V(keep) writes the host with its C(error) and no address; a rollout from the snapshot then keeps the live
        rules of its services (with C(meshguard_egress_on_error=keep)) or fails before any cluster is touched.
    type: str
    choices: [fail, keep]
    default: fail
attributes:
  check_mode:
    support: full
    description:
      - Resolves and compares, writes nothing.
  diff_mode:
    support: full
    description:
      - The file before and after, as text.
notes:
  - The file holds addresses and host names, no credentials.
seealso:
  - plugin: meshguard.egress.snapshot
    plugin_type: lookup
  - module: meshguard.egress.rules
  - ref: ansible_collections.meshguard.egress.docsite.rollout
    description: Address snapshots in a pipeline and an AWX workflow (the rollout guide, "Address snapshots").
"""

EXAMPLES = r"""
- name: Snapshot the addresses of every cluster's services, for review in a merge request
  meshguard.egress.snapshot:
    path: "{{ inventory_dir }}/egress-snapshot.yml"
    services: "{{ egress_services }}"
    nameservers: [10.0.0.53]
  delegate_to: localhost
  run_once: true
  register: snapshot

- name: Show what changed
  ansible.builtin.debug:
    msg: "{{ snapshot.summary }}"
  run_once: true
"""

RETURN = r"""
errors:
  description:
    - Every problem with the input when the task failed because of it, as data, as
      RV(meshguard.egress.rules#module:errors) of M(meshguard.egress.rules) gives them (C(service), C(index),
      C(field), C(message)). Empty when the failure is not about the input.
  returned: on failure
  type: list
  elements: dict
  sample:
    - service: orders-mongo
      index: 0
      field: hosts
      message: must be a non-empty list of host names, IP addresses or CIDR blocks
changed:
  description: Whether an address changed (or the file is new); always false without O(path).
  returned: always
  type: bool
path:
  description: The snapshot file, absolute when the module ran on the controller; empty without O(path).
  returned: always
  type: str
snapshot:
  description:
    - The snapshot as data, the file's content (C(version), C(time), C(services), C(hosts)); what a rollout accepts as
      C(meshguard_egress_snapshot_data).
  returned: when O(return_data=true)
  type: dict
digest:
  description: SHA-256 of the snapshot's file text (the same as the file's when O(path) is given).
  returned: when O(return_data=true)
  type: str
time:
  description: The time of the snapshot, UTC, RFC 3339.
  returned: always
  type: str
  sample: "2026-12-01T10:00:00Z"
hosts:
  description: How many host names the snapshot holds.
  returned: always
  type: int
changes:
  description:
    - The addresses added and removed, per service and host, sorted by service and host.
    - C(dnssec) (C(before) and C(after)) when the host's DNSSEC status changed; null means not validated.
  returned: always
  type: list
  elements: dict
  sample: [{service: orders-mongo, host: mongo-1.db.example.com, added: [192.0.2.21], removed: [192.0.2.11]}]
summary:
  description: RV(changes) as lines for people, or C(no address changed).
  returned: always
  type: list
  elements: str
  sample: ["service 'orders-mongo': mongo-1.db.example.com: +192.0.2.21 -192.0.2.11"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import RESOLVER, SNAPSHOT, pick
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._problems import errors_of
from ansible_collections.meshguard.egress.plugins.module_utils._snapshot import write_snapshot


def main() -> None:
    module = AnsibleModule(supports_check_mode=True, **SNAPSHOT.to_kwargs(env_fallback=None))
    p = module.params
    try:
        result = write_snapshot(
            p["path"],
            p["services"],
            pick(p, RESOLVER),
            p["on_error"],
            check_mode=module.check_mode,
            diff=module._diff,
            dnssec=p["dnssec"],
            trust_anchors=p["trust_anchors"],
            return_data=p["return_data"],
        )
    except MeshguardError as e:
        module.fail_json(msg=str(e), errors=errors_of(e))
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
