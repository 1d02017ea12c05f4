# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drivers of the engine's resolutions, on resolutions that only pause or whose requests a test performs
(no network): each request performed in turn, a failure raised into the resolution, and results in input order.

The UDP and TCP exchanges themselves run against real DNS servers in tests/integration
(test_resolve_dns.py, test_hostile_dns.py).
"""

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._dns.engine import Pause
from ansible_collections.meshguard.egress.plugins.module_utils._dns.transport import Pipeline, run_blocking


def asks(*requests):
    """A resolution that sends each request and returns what it got back (a failure by its type)."""
    got = []
    for request in requests:
        try:
            got.append((yield request))
        except OSError as e:
            got.append(type(e).__name__)
    return got


def test_run_blocking_performs_each_request_in_turn_and_hands_back_the_answer():
    assert run_blocking(asks("a", "b"), lambda request: request.upper()) == ["A", "B"]


def test_run_blocking_raises_a_failure_into_the_resolution():
    def perform(request):
        if request == "down":
            raise ConnectionRefusedError("refused")
        return request

    assert run_blocking(asks("up", "down", "up"), perform) == ["up", "ConnectionRefusedError", "up"]


def test_the_pipeline_returns_results_in_input_order_whatever_order_they_finish_in():
    def pausing(name, seconds):
        yield Pause(seconds)
        return name

    slow_first = [pausing("slow", 0.05), pausing("quick", 0.0), pausing("quicker", 0.0)]
    assert Pipeline(slow_first, concurrency=2).run() == ["slow", "quick", "quicker"]
    assert Pipeline([], concurrency=4).run() == []
