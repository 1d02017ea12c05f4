# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address retention: which addresses stay when DNS stops returning them."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._errors import OptionError
from ansible_collections.meshguard.egress.plugins.module_utils._retain import (
    LAST_SEEN_ANNOTATION,
    annotation_value,
    parse_duration,
    previous,
    retain,
)

NOON = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone.utc)
DAY = 86400


def at(hours: float) -> datetime.datetime:
    return NOON + datetime.timedelta(hours=hours)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("24h", DAY), ("90m", 5400), ("1h30m", 5400), ("7d", 7 * DAY), ("2w", 14 * DAY), ("45s", 45), ("0", 0), (0, 0)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1y", "h", "-1h", "24 hours", True, "1.5h"])
def test_bad_durations_name_the_option(text):
    with pytest.raises(OptionError, match="retain must be a duration"):
        parse_duration(text)


def test_a_steady_answer_gives_the_same_map_every_run():
    first = retain("mongo", ["192.0.2.1", "192.0.2.2"], {}, at(0), DAY)
    second = retain("mongo", ["192.0.2.2", "192.0.2.1"], first.last_seen, at(5), DAY)
    assert first.last_seen == second.last_seen == {"192.0.2.1": "", "192.0.2.2": ""}
    assert annotation_value(first.last_seen) == annotation_value(second.last_seen)
    assert second.addresses == ("192.0.2.1", "192.0.2.2")
    assert second.warnings == []


def test_a_dropped_address_stays_until_the_window_has_passed():
    seen = retain("mongo", ["192.0.2.1", "192.0.2.2"], {}, at(0), DAY).last_seen
    dropped = retain("mongo", ["192.0.2.1"], seen, at(1), DAY)
    assert dropped.addresses == ("192.0.2.1", "192.0.2.2")
    assert dropped.last_seen == {"192.0.2.1": "", "192.0.2.2": "2026-11-26T13:00:00Z"}
    assert "192.0.2.2 is no longer returned by DNS (since 2026-11-26T13:00:00Z)" in dropped.warnings[0]
    # Later runs keep the time it was first missed: nothing changes on the object.
    later = retain("mongo", ["192.0.2.1"], dropped.last_seen, at(20), DAY)
    assert later.last_seen == dropped.last_seen
    expired = retain("mongo", ["192.0.2.1"], later.last_seen, at(25), DAY)
    assert expired.addresses == ("192.0.2.1",)
    assert expired.last_seen == {"192.0.2.1": ""}
    assert expired.expired == (("192.0.2.2", "2026-11-26T13:00:00Z"),)
    assert "retention expired" in expired.warnings[0]


def test_an_address_seen_again_is_current_again():
    gone = {"192.0.2.1": "", "192.0.2.2": "2026-11-26T13:00:00Z"}
    back = retain("mongo", ["192.0.2.1", "192.0.2.2"], gone, at(3), DAY)
    assert back.last_seen == {"192.0.2.1": "", "192.0.2.2": ""}


def test_a_rotating_subset_keeps_the_whole_pool():
    last = {}
    for hour, answer in enumerate([["192.0.2.1", "192.0.2.2"], ["192.0.2.3", "192.0.2.4"], ["192.0.2.1", "192.0.2.3"]]):
        outcome = retain("pool", answer, last, at(hour), DAY)
        last = outcome.last_seen
    assert set(outcome.addresses) == {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}


def test_window_zero_keeps_nothing():
    outcome = retain("mongo", ["192.0.2.1"], {"192.0.2.2": ""}, at(0), 0)
    assert outcome.addresses == ("192.0.2.1",)


def test_previous_merges_the_objects_of_a_service_and_ignores_broken_annotations():
    def obj(value):
        return {"metadata": {"annotations": {LAST_SEEN_ANNOTATION: value}}}

    objects = [
        obj(json.dumps({"192.0.2.1": "", "192.0.2.2": "2026-11-26T13:00:00Z"})),
        obj(json.dumps({"192.0.2.2": "", "192.0.2.3": "not a time"})),
        obj("{broken"),
        {"metadata": {}},
    ]
    assert previous(objects) == {"192.0.2.1": "", "192.0.2.2": ""}
