# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_prepare
short_description: Check every cluster of a rollout and resolve its host names once, before any cluster is touched
version_added: 0.1.0
author: meshguard.egress developers (@meshguard)
description:
  - The first step of the role C(meshguard.egress.rollout), once per run, on the controller. For every inventory host
    of O(hosts) (each a cluster) it reads the host's C(meshguard_egress_*) variables as the role's apply task passes
    them to M(meshguard.egress.rules) (a variable the host does not have, such as a role default or play variable,
    is the current host's), assembles its services with P(meshguard.egress.cluster_services#filter), and validates
    them with the module's own checks, every field of every cluster, without any request.
  - It also finds inventory hosts that reach the same cluster (the same API server, read from the kubeconfig and
    context, or C(meshguard_egress_host)) and clusters that use different resolvers.
  - Then it resolves every host name of every cluster once (or reads them from the snapshot file
    C(meshguard_egress_snapshot) or the snapshot given as data in C(meshguard_egress_snapshot_data), checked for
    missing names and age), and judges the answers by each cluster's
    address policy (built-in ranges, C(meshguard_egress_internal_ranges), each service's C(allow_ranges)).
  - Every problem is reported once in RV(_raw[0].report), with the clusters it concerns, and RV(_raw[0].stop) says
    whether the run must stop before any cluster is touched (input problems always; names that did not resolve
    and refused answers with C(meshguard_egress_on_error=fail)). The lookup itself fails only when its own
    options are wrong.
  - A later serial batch of the same run, with the same host names and resolver (or snapshot), reuses the answers
    stored in C(hostvars['localhost'].meshguard_egress_resolution) instead of asking DNS again.
options:
  hosts:
    description: The inventory hosts (clusters) of the run, usually C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
notes:
  - Runs on the controller; DNS is asked from there.
seealso:
  - module: meshguard.egress.rules
  - ref: ansible_collections.meshguard.egress.docsite.rollout
    description: What a run of the rollout role does, and the one resolution of a run.
"""

EXAMPLES = r"""
- name: Check every cluster and resolve once
  ansible.builtin.set_fact:
    meshguard_egress_resolution: "{{ lookup('meshguard.egress.rollout_prepare', hosts=ansible_play_hosts_all) }}"
  delegate_to: localhost
  delegate_facts: true
  run_once: true
"""

RETURN = r"""
_raw:
  description: One dictionary.
  type: list
  elements: dict
  contains:
    key:
      description:
        - What the answers depend on (host names, resolver or snapshot); a later batch with the same key reuses them.
      type: dict
    results:
      description: One entry per host name, sorted, as the resolve lookup's C(detail=true) gives them.
      type: list
      elements: dict
    time:
      description: When the names were resolved, or the snapshot's time (UTC, RFC 3339).
      type: str
    path:
      description: The snapshot file, when the addresses come from one.
      type: str
    source:
      description: C(meshguard_egress_snapshot_data), when the addresses come from a snapshot given as data.
      type: str
    digest:
      description:
        - SHA-256 of the snapshot file, when the addresses come from one (of the file the same snapshot makes, when
          it is given as data).
      type: str
    problems:
      description: Invalid input, each message once with the clusters (C(hosts)) it concerns.
      type: list
      elements: dict
    errors:
      description:
        - The problems of RV(_raw[0].problems) that are the rule set's own (its options and services), as data, as
          RV(meshguard.egress.rules#module:errors) of M(meshguard.egress.rules) gives them, each with the clusters
          (C(hosts)) it concerns.
      type: list
      elements: dict
    unresolved:
      description: Host names that did not resolve, each message once with the clusters whose services use it.
      type: list
      elements: dict
    refused:
      description: Answers the address policy refuses, each message once with the clusters it concerns.
      type: list
      elements: dict
    stop:
      description: Whether the run must stop before any cluster is touched.
      type: bool
    report:
      description: Why, in one message (empty when it need not stop).
      type: str
    prepared:
      description:
        - For each cluster (inventory host) to apply to, the digest of its services and the run's answers, stored once
          per distinct content in the controller's private temporary directory of this run (removed when
          C(ansible-playbook) exits); the role passes it to O(meshguard.egress.rollout_apply#module:prepared), which
          reads each cluster's services and answers from there. Empty when the run stops or nothing is applied.
      type: dict
"""

import datetime
import hashlib
import json
import os
from dataclasses import replace

from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.lookup import LookupBase

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import (
    RULES,
    connection_options,
    settings_from,
)
from ansible_collections.meshguard.egress.plugins.module_utils._cluster.client import api_server_of
from ansible_collections.meshguard.egress.plugins.module_utils._dns.options import ResolverOptions
from ansible_collections.meshguard.egress.plugins.module_utils._errors import MeshguardError
from ansible_collections.meshguard.egress.plugins.module_utils._paths import anchored
from ansible_collections.meshguard.egress.plugins.module_utils._rollout import prepared as prepared_entries
from ansible_collections.meshguard.egress.plugins.module_utils._rollout.check import (
    ROLE_PREFIX,
    ClusterInput,
    Problem,
    check_clusters,
    judge,
    report,
    resolution_key,
    resolve_run,
)
from ansible_collections.meshguard.egress.plugins.module_utils._rollout.scope import (
    SERVICES_VAR,
    ScopeError,
    cluster_services,
    is_services_variable,
)
from ansible_collections.meshguard.egress.plugins.module_utils._snapshot import DATA_VAR, for_rollout, for_rollout_data
from ansible_collections.meshguard.egress.plugins.plugin_utils._role import (
    host_templar,
    host_value,
    options_from_variables,
    plain,
    rules_options,
)

RESULT = "meshguard_egress_resolution"


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        hosts = list(self.get_option("hosts"))
        if not hosts:
            raise AnsibleLookupError("meshguard.egress.rollout_prepare: no hosts given")
        spec = RULES.to_kwargs(env_fallback)
        options = options_from_variables(spec["argument_spec"])
        # Each host's validated services, for the entries the apply task reads (prepared).
        self._services = {}
        # A play or role variable: the same for every host (hostvars do not hold it).
        self._play_services = plain(variables.get(SERVICES_VAR))
        clusters = [self._cluster(host, variables, spec, options) for host in hosts]
        checked = check_clusters(clusters)
        state = variables.get("meshguard_egress_state") or "present"
        on_error = variables.get("meshguard_egress_on_error") or "fail"
        answer = {}
        if state != "absent":
            # The resolver every cluster was validated with (templated per host, as the apply task sees it):
            # the play's raw variable may still hold a template. check_clusters refuses resolvers that differ.
            resolver = next((c.settings.resolver for c in clusters if c.settings is not None), {})
            answer = self._answers(checked, variables, resolver)
        if "error" in answer:
            checked = replace(checked, problems=(*checked.problems, Problem(answer.pop("error"), tuple(hosts))))
        unresolved, refused = judge(checked.judged, answer["results"]) if "results" in answer else ([], [])
        stop, text = report(checked, unresolved, refused, on_error=on_error, hosts=hosts)
        answer.update(
            problems=[p.as_dict() for p in checked.problems],
            errors=[error for p in checked.problems if (error := p.as_error()) is not None],
            unresolved=[p.as_dict() for p in unresolved],
            refused=[p.as_dict() for p in refused],
            stop=stop,
            report=text,
            prepared={} if stop or "results" not in answer else self._prepare(answer),
        )
        return [answer]

    def _prepare(self, answer):
        """Each distinct (services, answers) written once; each host's digest of it."""
        digests = {}
        written = set()
        results = plain(answer["results"])  # reused from an earlier batch: localhost's facts
        for host, services in self._services.items():
            digest, data = prepared_entries.entry(services, results, answer.get("time"))
            if digest not in written:
                prepared_entries.write(C.DEFAULT_LOCAL_TMP, digest, data)
                written.add(digest)
            digests[host] = digest
        return digests

    def _cluster(self, host, variables, spec, options):
        """One inventory host: its module options from its variables, validated as the module's argument spec
        validates them; its services; the API server it reaches."""
        hostvars = variables["hostvars"][host]
        problems = []
        own = variables["hostvars"].raw_get(host)
        templar = host_templar(self._templar, own, variables)
        try:
            params = rules_options(own, variables, options, templar)
        except AnsibleError as exc:
            # A template of this cluster's options that fails (an undefined variable): this cluster's problem.
            return ClusterInput(host, None, problems=(f"{ROLE_PREFIX}*: {exc.message}",))
        if own.get(SERVICES_VAR) is None and variables.get(SERVICES_VAR) is None:
            # The role's argument spec does not declare it (Ansible would copy the list for every cluster): a
            # play that forgets it must fail here, not apply an empty set that prunes every object of the set.
            problems.append(f"{SERVICES_VAR}: required (give [] with meshguard_egress_state=absent to remove the set)")
        if params.get("state", "present") != "absent":
            try:
                groups = variables["groups"]
                known = list(groups) + list(groups.get("all", []))
                # The host's service lists only, each templated for it (host_value: not at all when it holds no
                # template, the usual case), instead of its hostvars, which template them on every read.
                lists = {name: host_value(own, {}, name, templar) for name in own if is_services_variable(name)}
                params["services"] = plain(
                    cluster_services(lists, host, hostvars.get("group_names", []), known, self._play_services)
                )
            except ScopeError as exc:
                problems.extend(exc.problems)
                params["services"] = []
        resolver = host_value(own, variables, "meshguard_egress_resolver", templar) or {}
        if not isinstance(resolver, dict):
            problems.append(f"meshguard_egress_resolver: must be a dict, got {type(resolver).__name__}")
            resolver = {}
        params.update(resolver)
        result = ArgumentSpecValidator(**spec).validate(params)
        if result.error_messages:
            problems.extend(f"{ROLE_PREFIX}*: {message}" for message in result.error_messages)
            return ClusterInput(host, None, problems=tuple(problems))
        validated = result.validated_parameters
        if validated["state"] != "absent":
            self._services[host] = validated["services"]
        return ClusterInput(
            host,
            settings_from(validated),
            server=api_server_of(connection_options(validated)),
            problems=tuple(problems),
        )

    def _answers(self, checked, variables, resolver):
        """The run's answers: reused from an earlier batch, read from the snapshot, or resolved now."""
        snapshot = variables.get("meshguard_egress_snapshot") or ""
        data = plain(variables.get(DATA_VAR)) or None
        max_age = variables.get("meshguard_egress_snapshot_max_age", "24h")
        both = bool(snapshot) and data is not None
        if data is not None and not both:
            # The data is the key: a later batch with the same data reuses its checked answers.
            snapshot = {DATA_VAR: hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()}
        key = resolution_key(checked.names, resolver, snapshot, max_age, checked.anchors)
        if both:
            return {"key": key, "error": f"give meshguard_egress_snapshot or {DATA_VAR}, not both"}
        try:
            earlier = variables["hostvars"]["localhost"].get(RESULT) or {}
        except KeyError:
            earlier = {}
        if earlier.get("key") == key and "results" in earlier:
            return {k: earlier[k] for k in ("key", "results", "time", "path", "source", "digest") if k in earlier}
        if not snapshot:
            try:
                ResolverOptions.from_dict(resolver)
            except MeshguardError:
                # Reported for every cluster already (its options were validated); nothing to ask DNS with.
                return {"key": key}
        try:
            if data is not None:
                taken = for_rollout_data(data, checked.names, max_age)
            elif snapshot:
                # Relative to ansible-playbook's working directory, named absolute in the summary
                # (docs/docsite/rst/rollout.rst).
                taken = for_rollout(anchored(snapshot, os.getcwd()), checked.names, max_age)
            else:
                taken = {}
            if taken:
                return {"key": key, **taken}
            time = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            return {"key": key, "results": resolve_run(checked.names, resolver, checked.anchors), "time": time}
        except MeshguardError as exc:
            return {"key": key, "error": str(exc)}
