# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options the adapters declare: the connection group as kubernetes.core has it, and module parameters
read into the library's connection options."""

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import CONNECTION, connection_options


def test_the_options_group_matches_kubernetes_core():
    """The names, types, aliases and environment variables kubernetes.core's
    k8s_auth_options give (persist_config aside: this collection keeps no refreshed token)."""
    kubernetes_core = {
        "kubeconfig": ("raw", (), "K8S_AUTH_KUBECONFIG"),
        "context": ("str", (), "K8S_AUTH_CONTEXT"),
        "host": ("str", (), "K8S_AUTH_HOST"),
        "api_key": ("str", (), "K8S_AUTH_API_KEY"),
        "username": ("str", (), "K8S_AUTH_USERNAME"),
        "password": ("str", (), "K8S_AUTH_PASSWORD"),
        "validate_certs": ("bool", ("verify_ssl",), "K8S_AUTH_VERIFY_SSL"),
        "ca_cert": ("path", ("ssl_ca_cert",), "K8S_AUTH_SSL_CA_CERT"),
        "client_cert": ("path", ("cert_file",), "K8S_AUTH_CERT_FILE"),
        "client_key": ("path", ("key_file",), "K8S_AUTH_KEY_FILE"),
        "proxy": ("str", (), "K8S_AUTH_PROXY"),
        "no_proxy": ("str", (), "K8S_AUTH_NO_PROXY"),
        "proxy_headers": ("dict", (), None),
        "impersonate_user": ("str", (), "K8S_AUTH_IMPERSONATE_USER"),
        "impersonate_groups": ("list", (), "K8S_AUTH_IMPERSONATE_GROUPS"),
    }
    ours = {
        name: (o["type"], tuple(o.get("aliases", ())), o.get("env"))
        for name, o in CONNECTION.items()
        if name != "request_timeout"
    }
    assert ours == kubernetes_core
    assert {k: v.get("env") for k, v in CONNECTION["proxy_headers"]["options"].items()} == {
        "proxy_basic_auth": "K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH",
        "basic_auth": "K8S_AUTH_PROXY_HEADERS_BASIC_AUTH",
        "user_agent": "K8S_AUTH_PROXY_HEADERS_USER_AGENT",
    }
    secret = {name for name, o in CONNECTION.items() if o.get("no_log")}
    secret |= {f"proxy_headers.{k}" for k, o in CONNECTION["proxy_headers"]["options"].items() if o.get("no_log")}
    assert secret == {"api_key", "password", "proxy_headers.proxy_basic_auth", "proxy_headers.basic_auth"}


def test_connection_options_from_module_params():
    params = {name: None for name in CONNECTION}
    params.update(
        request_timeout=5,
        proxy_headers={"user_agent": "ua", "basic_auth": None, "proxy_basic_auth": None},
        impersonate_groups=["a", "b"],
        impersonate_user="bob",
    )
    got = connection_options(params)
    assert got.proxy_headers == {"user_agent": "ua"}
    assert got.impersonate_groups == ("a", "b")
    assert got.timeout == 5.0 and got.impersonating
    params.update(proxy_headers={"user_agent": None}, impersonate_groups=[], impersonate_user=None)
    got = connection_options(params)
    assert got.proxy_headers is None and got.impersonate_groups is None and not got.impersonating
