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
author:
  - meshguard.egress developers (@meshguard-egress)
extends_documentation_fragment:
  - meshguard.egress.cluster
  - meshguard.egress.resolver
  - meshguard.egress.attributes
options:
  set:
    description:
      - Name of the rule set, a DNS-1123 label. Everything the module creates carries it as a label, and only
        objects of this set are ever pruned.
    type: str
    required: true
  services:
    description:
      - The external services. Required unless O(state=absent).
      - 'Each item is a dict with these keys:'
      - C(name) (required) - a DNS-1123 label, unique in the set.
      - C(hosts) (required) - host names, IP addresses and CIDR blocks. Names are resolved to all their
        addresses; IPs and CIDRs are taken as written.
      - C(ports) (required) - a list of C(number) (1-65535, required), C(protocol) (required; V(TCP), V(MONGO),
        V(MYSQL), V(REDIS), V(TLS), V(HTTPS), V(HTTP), V(HTTP2), V(GRPC), any case) and C(name) (default
        C(<protocol>-<number>), lower case). Names and numbers are unique within a service.
      - C(namespace) - where its objects go; default O(namespace).
      - C(export_to) - Istio C(exportTo); V(.), V(*), V(~) or namespace names. V(*) and V(~) stand alone.
      - C(resolution) - V(NONE) (default) or V(STATIC) (endpoints for each resolved address).
      - C(addresses) - IPs and CIDR blocks already resolved; the service's hosts are then not resolved.
      - C(network_policy) - a dict with C(pod_selector), the labels of the pods allowed to reach the service
        when O(network_policy) is on (default all pods of the namespace).
      - C(labels), C(annotations) - extra metadata for the service's objects.
    type: list
    elements: dict
  namespace:
    description:
      - Namespace of services that do not name their own.
    type: str
    default: default
  api:
    description:
      - API of the egress rules. V(config.istio.io/v1alpha2) renders the legacy Istio 0.x C(EgressRule), one
        per IP or CIDR block.
    type: str
    choices:
      - networking.istio.io/v1
      - networking.istio.io/v1beta1
      - networking.istio.io/v1alpha3
      - config.istio.io/v1alpha2
    default: networking.istio.io/v1
  layout:
    description:
      - V(per_service) renders one C(ServiceEntry) per service, split into several when it has more than Istio's
        limit of 256 addresses. V(per_address) renders one object per IP or CIDR block.
      - Defaults to V(per_service), and to V(per_address) (the only layout it has) for the legacy API.
    type: str
    choices: [per_service, per_address]
  network_policy:
    description:
      - Also render a Kubernetes C(NetworkPolicy) per service allowing egress to its CIDR blocks and ports.
        The sidecar alone is not a firewall.
    type: bool
    default: false
  registry_only:
    description:
      - Namespaces that get a C(Sidecar) named C(default) with C(outboundTrafficPolicy.mode=REGISTRY_ONLY), so
        that what is not declared is not reachable through the sidecar.
    type: list
    elements: str
    default: []
  state:
    description:
      - V(present) applies the rule set. V(absent) removes every object of the set. V(rendered) contacts no
        cluster and returns the objects; with O(dest) it also writes them, one YAML file per object.
    type: str
    choices: [present, absent, rendered]
    default: present
  prune:
    description:
      - Delete objects of this set that the rule set no longer renders.
    type: bool
    default: true
  force:
    description:
      - Take over objects of the same name that this set does not own, and fields of this set's objects that
        another field manager changed. Without it they are left untouched and reported, and the task fails.
    type: bool
    default: false
  on_error:
    description:
      - What happens when a host of a service does not resolve.
      - V(fail) fails before any cluster is contacted, listing every host, error type and nameserver.
      - V(keep) leaves the live objects of that service exactly as they are (neither updated nor pruned), with a
        warning, and applies the other services.
      - A partial answer never shrinks a rule; that is why the lookup's V(warn) and V(omit) are not offered here.
    type: str
    choices: [fail, keep]
    default: fail
  retain:
    description:
      - How long an address that DNS stops returning stays in the rule, as a duration such as V(24h), V(90m),
        V(1h30m) or V(7d). For pools that answer with a rotating subset of their addresses, and so that a DNS
        change never cuts live connections off at once.
      - When each address was last seen is kept on the objects (annotation C(meshguard.egress/last-seen)), so it
        survives between runs and is the same whichever controller runs next. It only changes when the DNS
        answers change.
      - Literal IPs and CIDR blocks of the rule set are never retained. V(0) turns retention off.
      - With C(--check --diff) the diff shows what would expire.
    type: str
    default: 24h
  resolved:
    description:
      - The output of the M(meshguard.egress.resolve) lookup with C(detail=true) for the hosts of the rule set.
        No DNS query is made; the role resolves once and passes the same answers to every cluster.
      - Every host name of the rule set must be in it.
    type: list
    elements: dict
  dest:
    description:
      - With O(state=rendered), a folder to write one YAML file per object into. Files of this set that are no
        longer rendered are removed, so the folder always equals the rule set.
    type: path
notes:
  - Istio must be installed on the cluster (its CRDs served); the module says so when it is not.
  - To roll a rule set out to many clusters, use the role C(meshguard.egress.rollout).
  - Credentials never appear in messages, results or logs.
seealso:
  - plugin: meshguard.egress.resolve
    plugin_type: lookup
  - module: meshguard.egress.rules_info
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

- name: Remove everything the set owns
  meshguard.egress.rules:
    set: shop-databases
    context: prod-eu-1
    state: absent
"""

RETURN = r"""
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
    - C(update) is also the name of a dict method in Jinja, so read it as C(result.plan['update']).
  returned: unless O(state=rendered)
  type: dict
  sample:
    create: [ServiceEntry/shop/shop-databases--orders-mongo]
    update: []
    delete: []
    unchanged: [NetworkPolicy/shop/shop-databases--orders-mongo]
    conflicts: []
resources:
  description: The rendered objects, as they are sent to the API server.
  returned: always
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
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import (
    AGGREGATION,
    CONNECTION,
    POLICY,
    RESOLVER,
    RULESET,
    connection_options,
    merged,
    settings_from,
)
from ansible_collections.meshguard.egress.plugins.module_utils._engine import run
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError


def argument_spec() -> dict:
    spec = merged(CONNECTION, RESOLVER, AGGREGATION, RULESET, POLICY, env_fallback=env_fallback)
    spec.update(
        state={"type": "str", "choices": ["present", "absent", "rendered"], "default": "present"},
        force={"type": "bool", "default": False},
        dest={"type": "path"},
    )
    return spec


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[("state", "present", ("services",)), ("state", "rendered", ("services",))],
    )
    p = module.params
    settings = settings_from(p)
    connection = None if p["state"] == "rendered" else connection_options(p)
    try:
        result = run(settings, connection, check_mode=module.check_mode, diff=module._diff)
    except MeshguardError as e:
        module.fail_json(msg=str(e))
    for warning in result.pop("warnings"):
        module.warn(warning)
    if result["failures"]:
        module.fail_json(msg="\n".join(result["failures"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
