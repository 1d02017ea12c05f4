# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parts of the API client."""

from __future__ import annotations

import base64
import json
import os

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.meshguard.egress.plugins.module_utils._cluster.client import (
    ConnectionOptions,
    KubeClient,
    KubeError,
    Resource,
    base_headers,
    bypasses_proxy,
    impersonation_headers,
    kubeconfig_files,
    proxy_headers,
    yaml_safe_json,
)
from ansible_collections.meshguard.egress.plugins.module_utils._errors import OptionError


@given(st.text())
def test_apply_bodies_read_back_unchanged_as_yaml(text):
    # Server-side apply parses the body as YAML: any annotation text must survive.
    body = {"metadata": {"annotations": {"note": text}}}
    assert yaml.safe_load(yaml_safe_json(body)) == body


def test_resource_paths_and_names():
    se = Resource("networking.istio.io/v1", "ServiceEntry", "serviceentries", namespaced=True)
    assert se.full_name == "serviceentries.networking.istio.io"
    assert se.path() == "/apis/networking.istio.io/v1/serviceentries"
    assert se.path("shop", "db") == "/apis/networking.istio.io/v1/namespaces/shop/serviceentries/db"
    ns = Resource("v1", "Namespace", "namespaces", namespaced=False)
    assert ns.full_name == "namespaces"
    assert ns.path("ignored", "shop") == "/api/v1/namespaces/shop"


# --------------------------------------------------------------------------- the options of kubernetes.core


def options(**given) -> ConnectionOptions:
    return ConnectionOptions(host="https://127.0.0.1:6443", **given)


def test_basic_authentication_is_an_authorization_header():
    headers = base_headers(options(username="alice", password="pa:ss wörd"))
    assert headers["Authorization"] == "Basic " + base64.b64encode("alice:pa:ss wörd".encode()).decode()
    assert "Authorization" not in base_headers(options())


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"username": "alice"}, "password: username and password go together"),
        ({"password": "secret"}, "username: username and password go together"),
        ({"username": "a:b", "password": "x"}, "username: basic authentication cannot carry a user name with a colon"),
    ],
)
def test_basic_authentication_needs_both_halves(given, message):
    with pytest.raises(OptionError, match=message) as caught:
        base_headers(options(**given))
    assert "secret" not in str(caught.value)


def test_impersonation_sends_the_user_and_one_header_per_group_in_order():
    headers = base_headers(options(impersonate_user="bob", impersonate_groups=("devs", "ops, eu", "auditors")))
    assert headers.getlist("Impersonate-User") == ["bob"]
    # A group name may hold a comma: the API server reads one group per header, never splitting one.
    assert headers.getlist("Impersonate-Group") == ["devs", "ops, eu", "auditors"]
    # A copy per request keeps every group.
    assert headers.copy().getlist("Impersonate-Group") == ["devs", "ops, eu", "auditors"]
    assert impersonation_headers(options()) == []
    assert impersonation_headers(options(impersonate_user="bob")) == [("Impersonate-User", "bob")]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"impersonate_groups": ("devs",)}, "impersonate_groups: needs impersonate_user"),
        ({"impersonate_user": "bob\r\nX-Evil: 1"}, "impersonate_user: .* cannot be sent as an HTTP header"),
        ({"impersonate_user": "bob", "impersonate_groups": (" devs",)}, "impersonate_groups: ' devs' cannot be sent"),
    ],
)
def test_impersonation_refuses_what_cannot_be_meant(given, message):
    with pytest.raises(OptionError, match=message):
        base_headers(options(**given))


@pytest.mark.parametrize(
    ("url", "no_proxy", "bypass"),
    [
        ("https://api.prod.example.com:6443", "example.com", True),
        ("https://api.prod.example.com:6443", ".example.com", True),
        ("https://example.com:6443", ".example.com", True),
        ("https://notexample.com:6443", "example.com", False),
        ("https://api.example.com:6443", "api.example.com:6443", True),
        ("https://api.example.com:6443", "api.example.com:443", False),
        ("https://10.1.2.3:6443", "10.0.0.0/8", True),
        ("https://10.1.2.3:6443", "10.1.2.3", True),
        ("https://11.1.2.3:6443", "10.0.0.0/8", False),
        ("https://[2001:db8::1]:6443", "2001:db8::/32", True),
        ("https://[2001:db8::1]:6443", "[2001:db8::1]", True),
        ("https://api.example.com", "localhost, *", True),
        ("https://api.example.com", " , localhost", False),
        ("https://api.example.com", "", False),
        ("https://API.Example.COM", "example.com", True),
    ],
)
def test_no_proxy_entries(url, no_proxy, bypass):
    assert bypasses_proxy(url, no_proxy) is bypass


def test_proxy_headers_are_urllib3s():
    built = proxy_headers({"proxy_basic_auth": "u:p", "user_agent": "ansible/2.21", "basic_auth": None})
    assert built == {
        "proxy-authorization": "Basic " + base64.b64encode(b"u:p").decode(),
        "user-agent": "ansible/2.21",
    }
    assert proxy_headers({"basic_auth": None}) is None
    assert proxy_headers(None) is None


def test_a_missing_kubeconfig_names_the_path_it_tried(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KubeError) as caught:
        KubeClient(ConnectionOptions(kubeconfig="nowhere/kubeconfig", context="prod"))
    assert str(caught.value) == f"no kubeconfig file at {tmp_path}/nowhere/kubeconfig (from the kubeconfig option)"

    monkeypatch.setenv("KUBECONFIG", f"{tmp_path}/a{os.pathsep}{tmp_path}/b")
    with pytest.raises(KubeError) as caught:
        KubeClient(ConnectionOptions(context="prod"))
    message = f"no kubeconfig file at {tmp_path}/a nor {tmp_path}/b (from the KUBECONFIG environment variable)"
    assert str(caught.value) == message

    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeError) as caught:
        KubeClient(ConnectionOptions())
    assert str(caught.value) == f"no kubeconfig file at {tmp_path}/.kube/config (from the default, as for kubectl)"

    (tmp_path / "empty").write_text("")
    with pytest.raises(KubeError, match=f"cannot load the kubeconfig {tmp_path}/empty: "):
        KubeClient(ConnectionOptions(kubeconfig=str(tmp_path / "empty")))


def test_kubeconfig_files_are_read_as_kubectl_reads_them(monkeypatch):
    given = ConnectionOptions(kubeconfig="/k")
    assert kubeconfig_files(given, {"KUBECONFIG": "/e"}) == (["/k"], "the kubeconfig option")
    assert kubeconfig_files(ConnectionOptions(), {"KUBECONFIG": f"/a{os.pathsep}{os.pathsep}/b"}) == (
        ["/a", "/b"],
        "the KUBECONFIG environment variable",
    )
    monkeypatch.setenv("HOME", "/home/u")
    assert kubeconfig_files(ConnectionOptions(kubeconfig={"apiVersion": "v1"}), {}) == (
        ["/home/u/.kube/config"],
        "the default, as for kubectl",
    )


def test_one_kubeconfig_file_is_read_as_the_clients_merger_reads_it(tmp_path):
    # Certificate paths relative to the file, the first entry of a name wins, the context given is used.
    (tmp_path / "ca.crt").write_text("not used before a request")
    cluster = {"server": "https://127.0.0.1:6443", "certificate-authority": "ca.crt"}
    config = {
        "apiVersion": "v1",
        "clusters": [{"name": "one", "cluster": cluster}, {"name": "one", "cluster": {"server": "https://wrong"}}],
        "users": [{"name": "admin", "user": {"token": "t0k"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "one", "user": "admin"}}],
        "current-context": "prod",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    fast = KubeClient(ConnectionOptions(kubeconfig=str(path), context="prod"))
    other = tmp_path / "other"
    dev = [{"name": "dev", "context": {"cluster": "one", "user": "admin"}}]
    other.write_text(json.dumps({**config, "contexts": dev}))
    # Two files: the client's own merger.
    merged = KubeClient(ConnectionOptions(kubeconfig=f"{path}{os.pathsep}{other}", context="prod"))
    for client in (fast, merged):
        assert (client.where, client.user) == ("context prod", "admin")
        assert client._config.host == "https://127.0.0.1:6443"
        assert client._config.ssl_ca_cert == str(tmp_path / "ca.crt")
