# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of option values: what passes, and the message naming the option when it does not."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._errors import OptionError
from ansible_collections.meshguard.egress.plugins.module_utils._values import boolean, choice, integer, seconds


def test_integer_takes_ints_and_their_strings_within_the_bounds():
    assert integer("port", 53, 1, 65535) == 53
    assert integer("port", "5353", 1, 65535) == 5353
    assert integer("port", 1, 1, 65535) == 1
    assert integer("port", 65535, 1, 65535) == 65535


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "port must be an integer, got True"),
        (2.5, "port must be an integer, got 2.5"),
        ("53x", "port must be an integer, got '53x'"),
        (None, "port must be an integer, got None"),
        (0, "port must be between 1 and 65535, got 0"),
        ("65536", "port must be between 1 and 65535, got 65536"),
    ],
)
def test_integer_refuses_with_the_option_named(value, message):
    with pytest.raises(OptionError) as caught:
        integer("port", value, 1, 65535)
    assert str(caught.value) == message


def test_seconds_take_fractions_and_strings_within_the_bounds():
    assert seconds("timeout", 0.5, 0.1, 60) == 0.5
    assert seconds("timeout", "2", 0.1, 60) == 2.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (False, "timeout must be a number of seconds, got False"),
        ("soon", "timeout must be a number of seconds, got 'soon'"),
        (0, "timeout must be between 0.1 and 60 seconds, got 0"),
        (61, "timeout must be between 0.1 and 60 seconds, got 61"),
    ],
)
def test_seconds_refuse_with_the_option_named(value, message):
    with pytest.raises(OptionError) as caught:
        seconds("timeout", value, 0.1, 60)
    assert str(caught.value) == message


def test_boolean_takes_only_true_and_false():
    assert boolean("tcp", True) is True
    assert boolean("tcp", False) is False
    # "yes" is Ansible's to convert, not the library's to guess.
    for value in ("yes", 1, None):
        with pytest.raises(OptionError, match=r"^tcp must be true or false, got "):
            boolean("tcp", value)


def test_choice_lists_the_choices():
    assert choice("on_error", "keep", ("fail", "keep")) == "keep"
    with pytest.raises(OptionError) as caught:
        choice("on_error", "ignore", ("fail", "keep"))
    assert str(caught.value) == "on_error must be one of fail, keep, got 'ignore'"
