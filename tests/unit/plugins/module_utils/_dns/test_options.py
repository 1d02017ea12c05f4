# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolver options and nameserver literals (no network)."""

from __future__ import annotations

import pytest

from ansible_collections.meshguard.egress.plugins.module_utils._dns.options import (
    Nameserver,
    ResolverOptions,
    parse_nameserver,
)
from ansible_collections.meshguard.egress.plugins.module_utils._errors import OptionError

# --------------------------------------------------------------------------- nameservers


@pytest.mark.parametrize(
    ("text", "address", "port", "label"),
    [
        ("127.0.0.1", "127.0.0.1", None, "127.0.0.1:53"),
        ("127.0.0.1:5353", "127.0.0.1", 5353, "127.0.0.1:5353"),
        ("::1", "::1", None, "[::1]:53"),
        ("2001:DB8::53", "2001:db8::53", None, "[2001:db8::53]:53"),
        ("[::1]", "::1", None, "[::1]:53"),
        ("[::1]:5353", "::1", 5353, "[::1]:5353"),
        (" 192.0.2.53 ", "192.0.2.53", None, "192.0.2.53:53"),
    ],
)
def test_nameserver_literals(text, address, port, label):
    server = parse_nameserver(text)
    assert server == Nameserver(address, port)
    assert server.label(53) == label


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ns1.example.com", "is not an IP address"),
        ("999.1.1.1", "is not an IP address"),
        ("[127.0.0.1]:53", "is not an IP address"),
        ("::1:5353x", "is not an IP address"),
        ("127.0.0.1:0", "port of '127.0.0.1:0' must be between 1 and 65535, got 0"),
        ("[::1]:70000", "must be between 1 and 65535, got 70000"),
        ("127.0.0.1:dns", "port of '127.0.0.1:dns' must be an integer, got 'dns'"),
        ("", "expected an IP address"),
        (53, "expected an IP address"),
    ],
)
def test_bad_nameservers_are_named(text, message):
    with pytest.raises(OptionError) as caught:
        parse_nameserver(text)
    assert message in str(caught.value)
    assert "nameservers" in str(caught.value)


def test_port_applies_to_servers_without_their_own():
    options = ResolverOptions.from_dict({"nameservers": ["127.0.0.1", "[::1]:5300"], "port": 5353})
    assert [s.label(options.port) for s in options.nameservers] == ["127.0.0.1:5353", "[::1]:5300"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"port": 0}, "port must be between 1 and 65535, got 0"),
        ({"port": "x"}, "port must be an integer, got 'x'"),
        ({"port": 53.5}, "port must be an integer, got 53.5"),
        ({"port": True}, "port must be an integer"),
        ({"families": "ipv5"}, "families must be one of both, ipv4, ipv6, got 'ipv5'"),
        ({"timeout": 0}, "timeout must be between"),
        ({"timeout": "soon"}, "timeout must be a number of seconds, got 'soon'"),
        ({"lifetime": -1}, "lifetime must be between"),
        ({"retries": -1}, "retries must be between 0 and 10, got -1"),
        ({"rounds": 0}, "rounds must be between 1 and 100, got 0"),
        ({"concurrency": 1000}, "concurrency must be between 1 and 256, got 1000"),
        ({"tcp": "yes"}, "tcp must be true or false, got 'yes'"),
        ({"all_nameservers": 1}, "all_nameservers must be true or false"),
        ({"on_error": "fail"}, "unknown resolver option(s): on_error"),
        ({"nameservers": {"a": 1}}, "nameservers must be a list of IP addresses"),
        ({"nameservers": ["ns1.example.com"]}, "'ns1.example.com' is not an IP address"),
        ({"nameserver": ["127.0.0.1"]}, "unknown resolver option(s): nameserver"),
    ],
)
def test_bad_options_are_named(data, message):
    with pytest.raises(OptionError) as caught:
        ResolverOptions.from_dict(data)
    assert message in str(caught.value)


def test_options_are_frozen():
    with pytest.raises(AttributeError):
        ResolverOptions().port = 5353  # type: ignore[misc]
