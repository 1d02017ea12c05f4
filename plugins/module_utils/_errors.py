# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exception types shared by the meshguard.egress library.

The Ansible adapters (lookup, modules) catch MeshguardError and turn its
message into a task failure, so every message is written for the user.
"""

from __future__ import annotations


class MeshguardError(Exception):
    """Base class of every error the library reports to the user."""


class OptionError(MeshguardError):
    """An option has a value the library cannot work with."""


class MissingLibraryError(MeshguardError):
    """A Python library the controller needs is not installed."""

    def __init__(self, library: str, purpose: str) -> None:
        super().__init__(
            f"the Python library '{library}' is required {purpose}; "
            f"install it on the controller (pip install {library})"
        )
        self.library = library
