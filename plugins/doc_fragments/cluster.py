# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How to reach one Kubernetes cluster: the option names, types, aliases and
K8S_AUTH_* environment variables of kubernetes.core (its k8s_auth_options)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, or the kubeconfig itself as a dictionary.
      - When neither O(kubeconfig), O(context) nor O(host) is set, the files named by E(KUBECONFIG) or
        C(~/.kube/config) are used, as with kubectl. A missing file is an error that names the path tried.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
      - On the controller (a local connection), a relative path in this or any other path option, or in its
        environment variable, is relative to the working directory of C(ansible-playbook).
    type: raw
  context:
    description:
      - The kubeconfig context to use; the kubeconfig's current context when not set.
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the API server, for example V(https://10.0.0.1:6443). Overrides the kubeconfig.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - A bearer token for the API server. Never shown in output or logs.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
      - Can also be set with the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA certificate that signed the API server's certificate.
      - Can also be set with the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate for the API server.
      - Can also be set with the E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert).
      - Can also be set with the E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy to reach the API server through.
      - Can also be set with the E(K8S_AUTH_PROXY) environment variable.
    type: str
  no_proxy:
    description:
      - Hosts reached without O(proxy), comma separated; each a host name (which also matches its subdomains), a
        host name and port, an IP address, a CIDR block, or V(*) for every host. For example
        V(localhost,.example.com,127.0.0.1,10.0.0.0/8).
      - Can also be set with the E(K8S_AUTH_NO_PROXY) environment variable.
    type: str
  proxy_headers:
    description:
      - Headers sent to O(proxy), built as urllib3's C(make_headers) builds them.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - C(username:password) for the proxy's basic authentication (C(Proxy-Authorization)). Never shown in
            output or logs.
          - Can also be set with the E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH) environment variable.
        type: str
      basic_auth:
        description:
          - C(username:password) for an C(Authorization) header of basic authentication sent to the proxy. Never
            shown in output or logs.
          - Can also be set with the E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH) environment variable.
        type: str
      user_agent:
        description:
          - The C(User-Agent) sent to the proxy, such as V(ansible/2.21).
          - Can also be set with the E(K8S_AUTH_PROXY_HEADERS_USER_AGENT) environment variable.
        type: str
  username:
    description:
      - A user name for HTTP basic authentication, with O(password), sent when no bearer token (O(api_key), or one
        of the kubeconfig) is.
      - Kubernetes itself has no basic authentication since 1.19; this is for API servers behind a proxy that
        takes it. Such an API server treats the request as C(system:anonymous), and the error says so.
      - Can also be set with the E(K8S_AUTH_USERNAME) environment variable.
    type: str
  password:
    description:
      - The password of O(username). Never shown in output or logs.
      - Can also be set with the E(K8S_AUTH_PASSWORD) environment variable.
    type: str
  impersonate_user:
    description:
      - Act as this user (the C(Impersonate-User) header). The API server authenticates the credentials, checks
        that their user may C(impersonate) this one, then authorizes every request as this user.
      - Can also be set with the E(K8S_AUTH_IMPERSONATE_USER) environment variable.
    type: str
  impersonate_groups:
    description:
      - Act as O(impersonate_user) in these groups (one C(Impersonate-Group) header each). Needs
        O(impersonate_user).
      - Can also be set with the E(K8S_AUTH_IMPERSONATE_GROUPS) environment variable, comma separated, for example
        V(group1,group2).
    type: list
    elements: str
  request_timeout:
    description:
      - Seconds to wait for each answer of the API server.
    type: float
    default: 30
requirements:
  - kubernetes >= 31.0.0 (Python library, on the controller)
"""
