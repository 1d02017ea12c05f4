# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``istio_version`` option, and every rendering that depends on the Istio version, stated once.

``istio_version`` is the oldest minor version of istiod *and* of ztunnel in
the mesh: during an upgrade ztunnel may lag istiod by one minor, and what
ztunnel cannot read it ignores. Only the newest version below was run
(istio.io/istio v0.0.0-20260827124520-eed52ebb66ad, VERSION 1.31); the older
behaviour is read from older sources and release notes (docs/docsite/rst/rendering.rst,
"Ambient mode").
"""

from __future__ import annotations

import re
from typing import Any, Optional

Version = tuple[int, int]

# The newest supported version, the default: the minor of the pinned istio.io/istio module.
NEWEST: Version = (1, 31)

# Ambient mode needs at least this version. Since 1.28 istiod sends a
# resolution NONE ServiceEntry to ztunnel as load balancing mode PASSTHROUGH,
# which older ztunnels refuse (istio.io, 1.28 upgrade notes); NONE is what lets
# the waypoint forward to the address dialled (docs/docsite/rst/rendering.rst).
AMBIENT_MINIMUM: Version = (1, 28)

# From this version istiod passes CIDR addresses of a ServiceEntry to ztunnel
# (istio/istio#59797, releasenotes/notes/59797.yaml). Before it, a ServiceEntry
# with an address wider than one IP is dropped from ztunnel's view altogether
# (parseCidrOrIP, "only single IP CIDR is allowed"; istio/istio#57677, #59173),
# so the traffic bypasses the waypoint: blocks are expanded to single addresses.
AMBIENT_CIDRS: Version = (1, 30)

# Below AMBIENT_CIDRS, at most this many single addresses per service: each is
# an address of ztunnel's view and a matcher entry on the waypoint, and the
# expansion never widens what was declared (_expand).
MAX_EXPANDED_ADDRESSES = 1024

_FORM = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


def parse_version(value: Any) -> tuple[Optional[Version], Optional[str]]:
    """The (major, minor) of ``istio_version`` (None: the default), or a problem.

    Takes ``1.29`` or ``1.29.3`` (the patch release does not change the rendering).
    """
    if value is None:
        return NEWEST, None
    match = _FORM.match(str(value).strip()) if isinstance(value, (str, float)) else None
    if not match or isinstance(value, bool):
        return None, f"must be an Istio version such as {text(NEWEST)} (major.minor), got {value!r}"
    found = (int(match.group(1)), int(match.group(2)))
    if found[0] != 1:
        return None, f"must be an Istio 1.x version, got {value!r}"
    return found, None


def text(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def ambient_problem(version: Version) -> Optional[str]:
    """Why the ambient rendering cannot target ``version``, or None."""
    if version < AMBIENT_MINIMUM:
        # An unquoted YAML 1.30 is the float 1.3.
        hint = f" (an unquoted 1.{version[1]}0 in YAML reads as {text(version)}: quote it)" if version[1] < 10 else ""
        return (
            f"{text(version)} is older than {text(AMBIENT_MINIMUM)}, the oldest Istio the ambient rendering targets: "
            "before it ztunnel refuses the PASSTHROUGH load balancing that istiod sends for resolution NONE, "
            f"which the waypoint needs to forward to the address dialled{hint}"
        )
    return None


def expands_cidrs(version: Version) -> bool:
    """Whether ambient services' CIDR blocks are rendered as single addresses for ``version``."""
    return version < AMBIENT_CIDRS
