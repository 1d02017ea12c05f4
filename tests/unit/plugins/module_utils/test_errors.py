# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The library's errors: one root the adapters catch, and a missing library named with how to install it."""

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._errors import (
    MeshguardError,
    MissingLibraryError,
    OptionError,
)


def test_every_error_is_a_meshguard_error():
    assert issubclass(OptionError, MeshguardError)
    assert issubclass(MissingLibraryError, MeshguardError)


def test_a_missing_library_says_what_for_and_how_to_install_it():
    error = MissingLibraryError("dnspython", "to resolve host names")
    assert error.library == "dnspython"
    assert str(error) == (
        "the Python library 'dnspython' is required to resolve host names; "
        "install it on the controller (pip install dnspython)"
    )
