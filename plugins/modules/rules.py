#!/usr/bin/python
# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rules
short_description: Egress rules for external TCP services on one Kubernetes cluster with Istio
version_added: 0.1.0
description:
  - Validates a rule set of external services, resolves their host names to every address, renders Istio
    C(ServiceEntry) objects (or the legacy Istio 0.x C(EgressRule)), optionally Kubernetes C(NetworkPolicy)
    objects and a C(REGISTRY_ONLY) C(Sidecar), and applies them to one cluster.
  - Istio cannot route TCP by host name, so each rule lists the IP addresses or CIDR blocks of its service.
  - Idempotent. Only objects that differ from the desired state are written, with server-side apply as field
    manager C(meshguard.egress). A run where DNS answers did not change writes nothing.
  - Objects of the rule set carry the labels C(app.kubernetes.io/managed-by=meshguard.egress) and
    C(meshguard.egress/set=<set>). With O(prune), objects carrying both labels that the rule set no longer
    renders are deleted, after every other write succeeded. Objects without both labels are never changed or
    deleted unless O(force) is set.
  - Every problem of the input is reported at once, naming the service and field, before any DNS query or
    API request.
  - A host that does not resolve never shrinks or deletes a rule that is applied; see O(on_error).
  - With O(egress_gateway), the services' traffic leaves through Istio's egress gateway (C(Gateway),
    C(VirtualService), C(DestinationRule), optionally C(AuthorizationPolicy) objects besides the C(ServiceEntry)
    objects); the gateway's namespace, Service and ports are checked on the cluster before anything is written.
  - With O(dataplane=ambient) (or V(auto) and a namespace labelled C(istio.io/dataplane-mode=ambient)), the
    C(ServiceEntry) objects are bound to O(waypoint) and each gets an C(AuthorizationPolicy) admitting only its
    C(allowed_sources); the namespaces, and the waypoint when the set does not manage it, are checked on the cluster
    before anything is written. O(registry_only) has no effect in ambient mode and is refused there.
  - DNS answers never open the rules to addresses that are not external (loopback, link-local and the cloud
    metadata endpoints, unspecified, multicast, the cluster's own Service and pod ranges, O(internal_ranges)); private
    ones only inside a service's C(allow_ranges). A service with a refused address is treated as not resolved, with a
    message naming the service, host, address and range. See O(internal_ranges) and O(guardrail).
author:
  - meshguard.egress developers (@meshguard-egress)
extends_documentation_fragment:
  - meshguard.egress.ruleset
  - meshguard.egress.policy
  - meshguard.egress.cluster
  - meshguard.egress.resolver
  - meshguard.egress.aggregation
  - meshguard.egress.addresses
  - meshguard.egress.dnssec
  - meshguard.egress.attributes
options:
  state:
    description:
      - V(present) applies the rule set. V(absent) removes every object of the set. V(rendered) contacts no
        cluster and returns the objects; with O(dest) it also writes them, one YAML file per object.
      - O(services) is required unless O(state=absent).
    type: str
    choices: [present, absent, rendered]
    default: present
  force:
    description:
      - Take over objects of the same name that this set does not own, and fields of this set's objects that
        another field manager changed. Without it they are left untouched and reported, and the task fails.
    type: bool
    default: false
  dest:
    description:
      - With O(state=rendered), a folder to write one YAML file per object into. Files of this set that are no
        longer rendered are removed, so the folder always equals the rule set.
      - On the controller (a local connection) a relative path is relative to the working directory of
        C(ansible-playbook), whichever playbook runs the task.
    type: path
  return_resources:
    description:
      - Return the rendered objects in RV(resources). A play that only reads RV(plan) and RV(counts) (the role
        C(meshguard.egress.rollout)) sets it to V(false); for 500 services they are about 370 KB that Ansible
        would otherwise carry through every host's result.
    type: bool
    default: true
notes:
  - Istio must be installed on the cluster (its CRDs served); the module says so when it is not.
  - With a local connection and the controller's own Python as C(ansible_python_interpreter) (as the role
    C(meshguard.egress.rollout) recommends), the action plugin of this module runs it in the worker process of the
    task instead of starting a module process; the options, checks and result are the same. Any other connection
    or interpreter, C(become), C(async) or a task C(environment) runs the module process as usual.
  - To roll a rule set out to many clusters, use the role C(meshguard.egress.rollout).
  - Credentials never appear in messages, results or logs.
seealso:
  - plugin: meshguard.egress.resolve
    plugin_type: lookup
  - module: meshguard.egress.rules_info
  - ref: ansible_collections.meshguard.egress.docsite.apply
    description: How a cluster is brought to the rule set (planning, writes, address retention, check mode, errors).
  - ref: ansible_collections.meshguard.egress.docsite.rollout
    description: The rollout role in a pipeline (many clusters, snapshots, canaries, GitOps, the reachability report).
"""

EXAMPLES = r"""
- name: Allow the workloads of namespace shop to reach a MongoDB replica set and a MySQL server
  meshguard.egress.rules:
    set: shop-databases
    namespace: shop
    kubeconfig: ~/.kube/config
    context: prod-eu-1
    network_policy: true
    services:
      - name: orders-mongo
        hosts: [mongo-0.db.example.com, mongo-1.db.example.com, mongo-2.db.example.com]
        ports:
          - {number: 27017, protocol: MONGO}
      - name: billing-mysql
        hosts: [192.0.2.10]
        ports:
          - {number: 3306, protocol: MYSQL}

- name: Preview in a pipeline (run with --check --diff)
  meshguard.egress.rules:
    set: shop-databases
    context: prod-eu-1
    nameservers: [10.0.0.53]
    services: "{{ egress_services }}"
  check_mode: true
  diff: true

- name: Write the manifests for review, without any cluster
  meshguard.egress.rules:
    set: shop-databases
    state: rendered
    dest: manifests/prod-eu-1
    services: "{{ egress_services }}"

- name: Send the databases through the egress gateway (Istio's defaults), only namespace shop may reach orders-mongo
  meshguard.egress.rules:
    set: shop-databases
    namespace: shop
    context: prod-eu-1
    network_policy: true
    egress_gateway: {}
    services:
      - name: orders-mongo
        hosts: [mongo-0.db.example.com, mongo-1.db.example.com]
        ports:
          - {number: 27017, protocol: MONGO}
        allowed_sources: [shop]
      - name: billing-mysql
        hosts: [192.0.2.10]
        ports:
          - {number: 3306, protocol: MYSQL}
        egress_gateway: false  # direct, as without the gateway

- name: Ambient mode where the namespace says so, through a waypoint this set manages; billing/api may use the DB
  meshguard.egress.rules:
    set: shop-databases
    namespace: shop
    context: prod-eu-1
    dataplane: auto
    istio_version: "1.29"  # the oldest istiod/ztunnel: CIDR blocks are listed address by address
    network_policy: true
    waypoint:
      name: egress-waypoint
      namespace: istio-egress
      manage: true
    services:
      - name: payments-db
        hosts: [198.51.100.0/28]
        ports:
          - {number: 5432, protocol: TCP}
        allowed_sources: [shop, billing/api]

- name: Plain TCP to the gateway, one gateway port per service port from 41000 to 41049
  meshguard.egress.rules:
    set: partners
    namespace: shop
    context: prod-eu-1
    egress_gateway:
      mode: plain
      ports: {start: 41000, end: 41049}
    services: "{{ partner_services }}"
  register: partners

- name: The gateway ports the Service must expose
  ansible.builtin.debug:
    var: partners.egress_gateway.ports

- name: Remove everything the set owns
  meshguard.egress.rules:
    set: shop-databases
    context: prod-eu-1
    state: absent
"""

RETURN = r"""
errors:
  description:
    - Every problem with the input when the task failed because of it, as data (the same problems the task's
      C(msg) lists), so that a pipeline or AWX can show them by service and field. Empty when the failure is not
      about the input (an API server that cannot be reached, a host name that did not resolve).
  returned: on failure
  type: list
  elements: dict
  contains:
    service:
      description: The service's name; null for a problem of the rule set's own options (or of a service without a
        name).
      type: str
    index:
      description: The service's position in O(services); null for a problem of the rule set's own options.
      type: int
    field:
      description: The field, within the service or the rule set (C(ports[0].number), C(egress_gateway.mode));
        null when the problem concerns the whole.
      type: str
    message:
      description: What is wrong, without the service and field.
      type: str
  sample:
    - service: orders-mongo
      index: 0
      field: ports[0].number
      message: must be between 1 and 65535, got 70000
changed:
  description: Whether an object was (or in check mode would be) created, updated or deleted.
  returned: always
  type: bool
cluster:
  description: The cluster the set was applied to, as C(context <name>) or the API server URL.
  returned: unless O(state=rendered)
  type: str
  sample: context prod-eu-1
plan:
  description:
    - What was (in check mode would be) done, each object named C(Kind/namespace/name), under the keys C(create),
      C(update), C(delete), C(unchanged) (already as desired, or kept because their hosts did not resolve) and
      C(conflicts) (same-named objects this set does not own, left untouched; the task fails when there is one,
      after the rest of the set was applied).
    - C(failed) lists the creates, updates and deletes that were tried and failed (see RV(failures)), C(skipped)
      those not tried because an earlier write failed (a C(Sidecar) waits for its C(ServiceEntry) objects, and
      nothing is pruned after a failure). Both stay listed under their action as well.
    - C(update) is also the name of a dict method in Jinja, so read it as C(result.plan['update']).
    - With O(state=rendered), C(write) lists the objects whose files were (or would be) written.
  returned: always
  type: dict
  sample:
    create: [ServiceEntry/shop/shop-databases--orders-mongo]
    update: []
    delete: []
    unchanged: [NetworkPolicy/shop/shop-databases--orders-mongo]
    conflicts: []
    failed: []
    skipped: []
counts:
  description:
    - How many objects each key of RV(plan) holds, so that summaries need not count.
    - With O(state=rendered), C(files) (rendered into O(dest)), C(written) and C(removed) instead.
  returned: always
  type: dict
  sample: {create: 1, update: 0, delete: 0, unchanged: 1, conflicts: 0, failed: 0, skipped: 0}
resources:
  description: The rendered objects, as they are sent to the API server.
  returned: unless O(return_resources=false)
  type: list
  elements: dict
files:
  description: With O(state=rendered) and O(dest), the file names of the rendered objects.
  returned: when O(dest) is set
  type: list
  elements: str
failures:
  description: One message per object that could not be written, or that is in conflict.
  returned: always
  type: list
  elements: str
diff:
  description: With C(--diff), one entry per object created, updated or deleted, with the whole object as YAML.
  returned: in diff mode, unless O(state=rendered)
  type: list
  elements: dict
egress_gateway:
  description:
    - With O(egress_gateway), the gateway as this run used it.
  returned: when a service of the rule set goes through the egress gateway
  type: dict
  contains:
    service:
      description: The gateway Service, C(<namespace>/<name>).
      type: str
    mode:
      description: V(mtls) or V(plain).
      type: str
    checked:
      description:
        - Whether the gateway's namespace, Service and ports were read from the cluster and checked. V(false) with
          O(state=rendered), which reads no cluster; plain mode's ports were then kept from the C(Gateway) files in
          O(dest) (or assigned afresh), not from the live C(Gateway) objects.
      type: bool
    ports:
      description:
        - Plain mode's gateway port of each service port, by service, then service port (as a string). The gateway
          Service must expose each. Empty in mtls mode, where every service goes to port 443.
      type: dict
  sample:
    service: istio-system/istio-egressgateway
    mode: plain
    checked: true
    ports: {orders-mongo: {"27017": 40000}}
reachability:
  description:
    - What the run changes in reachability, the question a reviewer approves. A grant is who may reach
      which destination on which port by which way out, as the set's objects make it; RV(reachability.added) and
      RV(reachability.removed) are the grants of the objects live after the run against those live before (in
      check mode, the run it previews), in blocks (a V(/28) grown to a V(/27) adds the new half) and per source
      (a source that is no longer admitted is removed; the sources that keep a grant are not shown).
    - With O(state=rendered), every grant is added (against an empty cluster, as rendering reads none).
    - See the rollout guide for the summary the role prints across clusters.
  returned: always
  type: dict
  contains:
    added:
      description: Grants made by the run, one per destination block and port.
      type: list
      elements: dict
      contains:
        namespace:
          description: The namespace of the objects that make the grant.
          type: str
        sources:
          description:
            - Who may use it. Namespaces the C(ServiceEntry) is exported to (V(*) for every namespace), narrowed to
              C(namespace/service-account) or namespaces by the egress gateway's or the waypoint's
              C(AuthorizationPolicy) (C(allowed_sources)), and to pods by the service's C(NetworkPolicy)
              (C(shop (app=orders))).
          type: list
          elements: str
        service:
          description: The service of the rule set.
          type: str
        destination:
          description: An address or CIDR block, never expanded.
          type: str
        port:
          description: The destination port.
          type: int
        protocol:
          description: The protocol as declared.
          type: str
        way:
          description: V(direct), V(egress_gateway) or V(ambient) (through the waypoint).
          type: str
        hosts:
          description:
            - The host names that answered the destination (every host name of the service when unknown).
            - An internationalised name is shown in both forms, C(<ascii> (<unicode>)).
          type: list
          elements: str
        retained_until:
          description: When address retention alone keeps the destination, the time it expires (UTC); else null.
          type: str
    removed:
      description: Grants the run takes away, in the same form.
      type: list
      elements: dict
    unchanged:
      description: How many grants stay as they were.
      type: int
  sample:
    added:
      - namespace: shop
        sources: [shop]
        service: orders-mongo
        destination: 192.0.2.12
        port: 27017
        protocol: MONGO
        way: egress_gateway
        hosts: [mongo-2.db.example.com]
        retained_until: null
    removed: []
    unchanged: 5
network_policies:
  description:
    - With O(network_policy), what each C(NetworkPolicy) of the set allows (after this run, or in check mode after
      the run it previews), one entry per policy, as a reviewer reads it.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: The policy's namespace.
      type: str
    name:
      description: The policy's name.
      type: str
    pods:
      description: The pods it selects, C(all pods) or their labels.
      type: str
    allows:
      description:
        - One line per egress rule, the peers then the ports. C(every pod of the cluster (all ports)) is the
          allowance that keeps in-cluster calls (left out with O(network_policy_lockdown)).
      type: list
      elements: str
  sample:
    - namespace: shop
      name: shop-databases--billing-mysql
      pods: all pods
      allows:
        - 192.0.2.10/32 on TCP 3306
        - kube-system/k8s-app=kube-dns on UDP 53, TCP 53
        - istio-system/app=istiod on TCP 15012
        - every pod of the cluster (all ports)
tampered:
  description:
    - Address retention's records (the C(meshguard.egress/last-seen) annotation) that do not match what the
      collection applied, one message each, also given as a warning. Such a record is never used, so nothing
      planted there widens a rule. An entry is suspect when the live rule does not hold its address, when its
      time is in the future, or when a field manager other than C(meshguard.egress) wrote the record (then none
      of it is used).
  returned: unless O(state=rendered)
  type: list
  elements: str
  sample:
    - >-
      service 'orders-mongo': last-seen record names 198.51.100.66, which the applied rule does not hold:
      tampering suspected, not retained
refused:
  description:
    - Every address the address policy refused (see O(internal_ranges)), and every host whose answer O(dnssec) (or
      the service's own C(dnssec)) refused, one entry each; its service was not applied (with O(on_error=keep) its
      live objects were kept as they are; with O(on_error=fail) the task failed and nothing was changed).
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: The service.
      type: str
    host:
      description: The host name that answered the address (ASCII form), or the literal as written.
      type: str
    unicode:
      description: The host name as a person reads it (its C(xn--) labels decoded); the same as C(host) otherwise.
      type: str
    address:
      description: The address refused; null for a DNSSEC refusal (every address of the host's answer is refused).
      type: str
    range:
      description: The refused range it falls in (or that it contains); null for a DNSSEC refusal.
      type: str
    dnssec:
      description:
        - For a DNSSEC refusal, the host's status (V(insecure), V(bogus), or null when the answer given in
          O(resolved) carries none). Not present for an address refusal.
      type: str
    message:
      description:
        - Service, host, address, the range, what it is, its source and why it is refused; for a DNSSEC refusal,
          service, host (and CNAME chain), the status and why (the RRset and signature, or the unsigned delegation).
      type: str
  sample:
    - service: partner-api
      host: api.partner.example
      unicode: api.partner.example
      address: 169.254.169.254
      range: 169.254.169.254/32
      message: >-
        service 'partner-api': host api.partner.example answered 169.254.169.254: 169.254.169.254 is in
        169.254.169.254/32, cloud instance metadata endpoint (...): not an external destination, refused unless ...
dnssec:
  description:
    - DNSSEC's verdict on each host name of the rule set that was validated (O(dnssec) or a service's C(dnssec) not
      V(off), or answers in O(resolved) that carry one), sorted by host. Empty when nothing was validated.
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: The host name.
      type: str
    status:
      description: V(secure), V(insecure) or V(bogus); the weakest over both families and every CNAME hop.
      type: str
    reason:
      description: For V(secure), the zones that signed; otherwise why (the RRset and signature, or where the chain
        proves the zone unsigned).
      type: str
  sample:
    - host: api.partner.example
      status: secure
      reason: signed by partner.example
    - host: cdn.partner.example
      status: insecure
      reason: cdn-provider.example is delegated without DS (NSEC of example)
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import RULES, secrets_of
from ansible_collections.meshguard.egress.plugins.module_utils._engine import module_result
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._problems import errors_of


def main() -> None:
    # With a local connection and the controller's Python, the action plugin of
    # the same name runs this in-process instead (plugins/action/rules.py).
    module = AnsibleModule(supports_check_mode=True, **RULES.to_kwargs(env_fallback))
    p = module.params
    module.no_log_values.update(secrets_of(p["kubeconfig"]))
    try:
        result = module_result(p, check_mode=module.check_mode, diff=module._diff)
    except MeshguardError as e:
        module.fail_json(msg=str(e), errors=errors_of(e))
    for warning in result.pop("warnings"):
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
