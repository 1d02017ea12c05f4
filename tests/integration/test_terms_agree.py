# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules module and the resolve lookup read every host term alike, through
ansible-playbook against the real Knot server (the offline table is in
tests/unit/plugins/module_utils/test_terms.py)."""

from __future__ import annotations

import json

import pytest
from test_lookup_playbook import run_playbook

pytestmark = pytest.mark.integration

# (term, normal form, address): both resolve it to the same name and address.
AGREE = [
    ("bücher.meshguard.test", "xn--bcher-kva.meshguard.test", "192.0.2.40"),
    ("BÜCHER.MeshGuard.test.", "xn--bcher-kva.meshguard.test", "192.0.2.40"),
    ("V4.MeshGuard.TEST", "v4.meshguard.test", "192.0.2.10"),
    ("v4.meshguard.test.", "v4.meshguard.test", "192.0.2.10"),
    (" v4.meshguard.test", "v4.meshguard.test", "192.0.2.10"),
    ("2001:DB8:0:0::20", "2001:db8::20", "2001:db8::20"),
]
# IPv4-mapped literals (::FFFF:C000:0201) are refused alike by both, by the address policy:
# tests/unit/plugins/module_utils/test_terms.py, and test_hostile_dns.py against this server.
UNDERSCORE = ("_ldap._tcp.MeshGuard.test", "_ldap._tcp.meshguard.test", "192.0.2.41")


def both(dns_server, tmp_path, terms, layout="per_service"):
    out = tmp_path / "out.json"
    extra = json.dumps({"terms": terms, "layout": layout, "dns_port": dns_server.port, "out_file": str(out)})
    run = run_playbook("terms_agree.yml", "-e", extra)
    assert run.returncode == 0, run.stdout + run.stderr
    answers = json.loads(out.read_text())
    return answers["lookup"], answers["rules"]


def test_rules_and_the_lookup_agree_on_every_term(dns_server, tmp_path):
    by_lookup, by_rules = both(dns_server, tmp_path, [term for term, _n, _a in AGREE])
    for (term, normal, address), (found,), module in zip(AGREE, by_lookup, by_rules):
        assert (found["host"], found["addresses"], found["error"]) == (normal, [address], None), term
        assert not module.get("failed"), (term, module.get("msg"))
        (entry,) = module["resources"]
        assert entry["spec"]["addresses"] == found["cidrs"], term
        if normal != address:  # a name: the ServiceEntry's host is the lookup's name
            assert entry["spec"]["hosts"] == [normal], term


def test_an_underscore_name_resolves_alike_where_istio_does_not_see_it(dns_server, tmp_path):
    term, normal, address = UNDERSCORE
    ([found],), (refused,) = both(dns_server, tmp_path, [term])
    assert (found["host"], found["addresses"]) == (normal, [address])
    assert refused["failed"]
    assert f"{term!r} cannot be a ServiceEntry host: Istio takes letters, digits and '-'" in refused["msg"]
    _lookup, (module,) = both(dns_server, tmp_path, [term], layout="per_address")
    assert not module.get("failed"), module.get("msg")
    (entry,) = module["resources"]
    assert entry["spec"]["addresses"] == found["cidrs"] == [f"{address}/32"]
    assert entry["metadata"]["annotations"]["meshguard.egress/sources"] == normal
