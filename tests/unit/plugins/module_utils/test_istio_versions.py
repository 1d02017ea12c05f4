# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``istio_version`` option: the forms it takes, the problem a user reads, and what depends on it."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._istio_versions import (
    AMBIENT_CIDRS,
    AMBIENT_MINIMUM,
    NEWEST,
    ambient_problem,
    expands_cidrs,
    parse_version,
    text,
)


def test_not_given_is_the_newest_and_a_patch_release_reads_as_its_minor():
    assert parse_version(None) == (NEWEST, None)
    assert parse_version("1.29") == ((1, 29), None)
    assert parse_version(" 1.29.3 ") == ((1, 29), None)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("latest", "must be an Istio version such as 1.31 (major.minor), got 'latest'"),
        (True, "must be an Istio version such as 1.31 (major.minor), got True"),
        (29, "must be an Istio version such as 1.31 (major.minor), got 29"),
        ("2.0", "must be an Istio 1.x version, got '2.0'"),
    ],
)
def test_bad_versions_say_what_is_expected(value, problem):
    assert parse_version(value) == (None, problem)
    assert text(NEWEST) == "1.31"


def test_ambient_needs_its_minimum_and_says_why_and_how_yaml_misread_it():
    assert ambient_problem(AMBIENT_MINIMUM) is None
    # An unquoted YAML 1.30 is the float 1.3: parsed, it is 1.3, and the message says to quote it.
    version, _problem = parse_version(1.3)
    problem = ambient_problem(version)
    assert problem.startswith("1.3 is older than 1.28, the oldest Istio the ambient rendering targets")
    assert problem.endswith("(an unquoted 1.30 in YAML reads as 1.3: quote it)")
    assert "quote it" not in ambient_problem((1, 27))


def test_cidr_blocks_are_listed_address_by_address_below_the_version_that_reads_them():
    assert expands_cidrs((1, 29))
    assert not expands_cidrs(AMBIENT_CIDRS)
    assert not expands_cidrs(NEWEST)
