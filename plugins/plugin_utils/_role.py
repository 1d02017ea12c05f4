# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the rollout role's variables become a cluster's options of
meshguard.egress.rules: read once here for the two plugins that read them
for every cluster of a run, rollout_prepare (to check them) and rollout_apply
(to apply with them), so both see the same options."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from typing import Any, Optional

from ansible.template import Templar

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import RESOLVER
from ansible_collections.meshguard.egress.plugins.module_utils._rollout.check import ROLE_PREFIX

# Options of the rules module the role does not take from a variable of the same name (meshguard_egress_<option>):
# the services and answers come from rollout_prepare, the resolver options from meshguard_egress_resolver.
NOT_FROM_VARIABLES = ("services", "resolved", "resolved_at", "return_resources", *RESOLVER)


def plain(value: Any) -> Any:
    """Plain data: Ansible's lazily templated containers and tagged strings cost a deep copy of their templating
    context each time they are copied (the argument spec's validation copies them)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    # bool before int: a bool is an int.
    for kind in (str, bool, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value


# What starts a Jinja construct: a value without any is what templating would return (only trusted strings are
# templated at all, and a string without these is returned as it is).
_JINJA_STARTS = ("{{", "{%", "{#")


def template_free(value: Any) -> bool:
    """Whether ``value`` holds no Jinja construct, so that templating it for any host gives it back."""
    if isinstance(value, str):
        return not any(start in value for start in _JINJA_STARTS)
    if isinstance(value, Mapping):
        return all(template_free(k) and template_free(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(template_free(v) for v in value)
    return True


def host_templar(templar: Templar, own: Mapping[str, Any], variables: Mapping[str, Any]) -> Templar:
    """A templar for another host: ``own``, its variables as ``hostvars.raw_get(host)`` gives them (its inventory,
    its facts, ``inventory_hostname``), first; then the current host's ``variables`` (role defaults, play and role
    variables, the same for every host of the play)."""
    return templar.copy_with_new_env(available_variables=ChainMap(own, variables))


def host_value(own: Mapping[str, Any], variables: Mapping[str, Any], name: str, templar: Templar) -> Any:
    """A host's variable, templated for that host (``host_templar``), as plain data. One it does not hold itself
    (a role default, a play variable) is the current host's, templated for the host: ``dest: "out/{{
    inventory_hostname }}"`` as a role variable differs per host."""
    value = own[name] if name in own else variables.get(name)
    if value is None:
        return None
    # Ansible's templating walks (and lazily wraps) the whole value: 500 services cost a tenth of a second
    # per cluster, for nothing when no string of them is a template.
    return plain(value if template_free(value) else templar.template(value))


def rules_options(
    own: Mapping[str, Any], variables: Mapping[str, Any], options: list[str], templar: Templar
) -> dict[str, Any]:
    """The options of ``options`` a host sets through the role's variables; one left unset (or null) is left out,
    so that the module's default applies, as the role's ``default(omit)`` did."""
    params = {}
    for name in options:
        value = host_value(own, variables, ROLE_PREFIX + name, templar)
        if value is not None:
            params[name] = value
    return params


def options_from_variables(argument_spec: Mapping[str, Any]) -> list[str]:
    """The rules options the role takes from variables of the same name."""
    return [name for name in argument_spec if name not in NOT_FROM_VARIABLES]


# What the role records for each cluster (the registered result of its rollout_outcome task).
OUTCOME_VAR = "meshguard_egress_outcome"


def recorded_outcomes(
    hostvars: Mapping[str, Any], hosts: list[str], batch: Optional[Mapping[str, Any]] = None
) -> dict[str, Any]:
    """Each host's outcome: the current batch's from ``batch`` (rollout_apply's, before the hosts record them),
    the others' as recorded on their hosts (None: not applied)."""
    batch = batch or {}
    return {host: batch[host] if host in batch else hostvars[host].get(OUTCOME_VAR) for host in hosts}
