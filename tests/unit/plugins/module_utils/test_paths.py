# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Relative paths of the modules that run on the controller: against ansible-playbook's working directory."""

from __future__ import annotations

from ansible_collections.meshguard.egress.plugins.module_utils._argspec import CONNECTION, RULES_OWN
from ansible_collections.meshguard.egress.plugins.module_utils._paths import PathOption, anchor, anchored, path_options


def test_the_path_options_of_the_rules_module():
    assert path_options(CONNECTION, RULES_OWN) == [
        PathOption(("kubeconfig",), "K8S_AUTH_KUBECONFIG"),
        PathOption(("ca_cert", "ssl_ca_cert"), "K8S_AUTH_SSL_CA_CERT"),
        PathOption(("client_cert", "cert_file"), "K8S_AUTH_CERT_FILE"),
        PathOption(("client_key", "key_file"), "K8S_AUTH_KEY_FILE"),
        PathOption(("dest",), None),
    ]


def test_anchored_paths(monkeypatch):
    monkeypatch.setenv("HOME", "/home/u")
    monkeypatch.setenv("SNAPSHOTS", "/srv/snapshots")
    assert anchored("egress-snapshot.yml", "/work/repo") == "/work/repo/egress-snapshot.yml"
    assert anchored("../rendered/./eu", "/work/repo") == "/work/rendered/eu"
    assert anchored("/abs/file.yml", "/work/repo") == "/abs/file.yml"
    assert anchored("~/kube/config", "/work/repo") == "/home/u/kube/config"
    assert anchored("$SNAPSHOTS/s.yml", "/work/repo") == "/srv/snapshots/s.yml"


def test_anchor_takes_names_aliases_and_environment_variables():
    options = path_options(CONNECTION, RULES_OWN)
    args = {"dest": "out", "cert_file": "certs/c.pem", "kubeconfig": {"apiVersion": "v1"}, "set": "s", "ca_cert": ""}
    environ = {"K8S_AUTH_KEY_FILE": "certs/k.pem", "K8S_AUTH_SSL_CA_CERT": "certs/ca.pem"}
    assert anchor(args, options, "/cwd", environ) == {
        "dest": "/cwd/out",
        "cert_file": "/cwd/certs/c.pem",  # under the alias it was given as
        "kubeconfig": {"apiVersion": "v1"},  # a kubeconfig given inline is no path
        "set": "s",
        "ca_cert": "",  # given (empty): the environment variable is not read, as the module would not
        "client_key": "/cwd/certs/k.pem",  # from the environment variable the module would fall back to
    }
    # Given as None: given (Ansible reads no environment variable for it either).
    assert anchor({"client_key": None}, options, "/cwd", environ) == {
        "client_key": None,
        "ca_cert": "/cwd/certs/ca.pem",
    }
    # Without the environment (a task environment of its own), only what was given.
    assert anchor({"dest": "out"}, options, "/cwd") == {"dest": "/cwd/out"}
