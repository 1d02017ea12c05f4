# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain mode's gateway ports: lowest free, stable across runs, never a port another Gateway serves."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._gateway.ports import (
    annotation_value,
    assign,
    parse_annotation,
)

RANGE = range(40000, 40010)


def test_new_units_get_the_lowest_free_ports_in_service_and_port_order():
    result = assign([("pg", 5432), ("mongo", 27018), ("mongo", 27017)], {}, {}, RANGE)
    assert result.ports == {("mongo", 27017): 40000, ("mongo", 27018): 40001, ("pg", 5432): 40002}
    assert result.problems == ()
    assert result.of("mongo") == {27017: 40000, 27018: 40001}


def test_adding_a_service_never_renumbers_the_others():
    first = assign([("pg", 5432), ("redis", 6379)], {}, {}, RANGE).ports
    assert first == {("pg", 5432): 40000, ("redis", 6379): 40001}
    # "mongo" sorts first, but pg and redis keep what they had.
    second = assign([("mongo", 27017), ("pg", 5432), ("redis", 6379)], first, {}, RANGE).ports
    assert second == {("mongo", 27017): 40002, ("pg", 5432): 40000, ("redis", 6379): 40001}


def test_removing_a_unit_frees_its_port_for_the_next_new_one_and_keeps_the_rest():
    before = {("mongo", 27017): 40000, ("pg", 5432): 40001, ("redis", 6379): 40002}
    after = assign([("pg", 5432), ("redis", 6379)], before, {}, RANGE).ports
    assert after == {("pg", 5432): 40001, ("redis", 6379): 40002}
    again = assign([("kafka", 9092), ("pg", 5432), ("redis", 6379)], after, {}, RANGE).ports
    assert again[("kafka", 9092)] == 40000


def test_ports_other_gateways_serve_are_not_free():
    taken = {40000: "Gateway/istio-system/hand-made", 40001: "Gateway/other/team-b--db"}
    result = assign([("pg", 5432)], {}, taken, RANGE)
    assert result.ports == {("pg", 5432): 40002}


def test_a_kept_port_that_another_gateway_now_serves_is_a_clash_not_a_silent_move():
    result = assign([("pg", 5432)], {("pg", 5432): 40003}, {40003: "Gateway/istio-system/hand-made"}, RANGE)
    assert result.ports == {("pg", 5432): 40003}
    assert result.problems == (
        "service 'pg' port 5432: gateway port 40003 is also a server port of Gateway/istio-system/hand-made on the "
        "same gateway pods; Istio keeps only one of them. Remove that server, or this service's Gateway so that the "
        "next run assigns another port",
    )


def test_a_kept_port_outside_a_changed_range_is_assigned_again():
    result = assign([("pg", 5432)], {("pg", 5432): 39999}, {}, RANGE)
    assert result.ports == {("pg", 5432): 40000}


def test_two_units_recorded_on_one_port_keep_it_for_the_first_only():
    # Hand-edited annotations can say so; Istio would keep one server of the two.
    previous = {("a", 1): 40005, ("b", 1): 40005}
    assert assign([("a", 1), ("b", 1)], previous, {}, RANGE).ports == {("a", 1): 40005, ("b", 1): 40000}


def test_a_full_range_names_every_unit_left_without_a_port():
    result = assign([("a", 1), ("b", 2), ("c", 3)], {}, {40001: "Gateway/x/y"}, range(40000, 40002))
    assert result.ports == {("a", 1): 40000}
    assert result.problems == (
        "service 'b' port 2: no free gateway port left in egress_gateway.ports 40000-40001 (3 needed, 1 of the range "
        "used by other Gateways); widen the range",
        "service 'c' port 3: no free gateway port left in egress_gateway.ports 40000-40001 (3 needed, 1 of the range "
        "used by other Gateways); widen the range",
    )


def test_the_annotation_is_sorted_json_and_reads_back():
    text = annotation_value({27018: 40001, 27017: 40000})
    assert text == '{"27017":40000,"27018":40001}'
    assert parse_annotation(text) == {27017: 40000, 27018: 40001}


@pytest.mark.parametrize("text", [None, "", "not json", "[1, 2]", '{"x": 1, "27017": "40000", "80": true}'])
def test_a_broken_annotation_counts_as_no_assignment(text):
    assert parse_annotation(text) == {}
