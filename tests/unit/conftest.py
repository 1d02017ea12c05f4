# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hypothesis without its per-example deadline: the unit tests check results, never timings (speed is
measured in bench/), and a loaded CI machine makes a first example slow enough to fail a deadline."""

from hypothesis import settings

settings.register_profile("meshguard", deadline=None)
settings.load_profile("meshguard")
