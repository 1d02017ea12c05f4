# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects as YAML for people: block style, the same text from the fast and the pure-Python dumper, and
text that does not parse read as None."""

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._yaml import from_yaml, to_yaml

ENTRY = {
    "kind": "ServiceEntry",
    "apiVersion": "networking.istio.io/v1",
    "metadata": {"name": "shop--pg", "labels": {"meshguard.egress/set": "shop"}},
    "spec": {"hosts": ["db.example.com"], "ports": [{"number": 5432, "name": "tcp-5432", "protocol": "TCP"}]},
}


def test_block_style_with_sorted_keys_by_default():
    text = to_yaml(ENTRY)
    assert "{" not in text and "[" not in text  # block style: a diff shows one field a line
    assert text.splitlines()[:2] == ["apiVersion: networking.istio.io/v1", "kind: ServiceEntry"]


def test_keys_keep_their_order_when_asked():
    assert to_yaml(ENTRY, sort_keys=False).splitlines()[0] == "kind: ServiceEntry"


def test_the_fast_and_the_pure_python_dumper_write_the_same_text():
    # Manifest files must be byte-identical on every controller, with or without libyaml.
    assert to_yaml(ENTRY, fast=True) == to_yaml(ENTRY, fast=False)


def test_round_trip_and_nothing_for_an_empty_object():
    assert from_yaml(to_yaml(ENTRY)) == ENTRY
    assert to_yaml({}) == ""


def test_text_that_does_not_parse_is_none():
    assert from_yaml("spec: [unclosed") is None
    assert from_yaml("a: 1\n") == {"a": 1}
