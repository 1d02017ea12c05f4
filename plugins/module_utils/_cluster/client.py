# Copyright: (c) 2026, meshguard.egress developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client for one Kubernetes API server.

Connection settings are resolved by the kubernetes Python client's own
kubeconfig loader (contexts, client certificates, tokens, exec and OIDC
plugins), exactly as kubernetes.core does. Requests go out through urllib3,
the transport that client uses, with that configuration: the generated API
classes changed shape between client releases 31 and 37, and the engine
needs exact control over each request (server-side apply, dryRun, label
selectors, pagination) and over how many are sent.

Every error is a KubeError whose message names the cluster, the verb, the
resource and the namespace, and never carries a credential.

The options kubernetes.core has beyond the kubeconfig are applied on top of
it, with its names: HTTP basic authentication (``username``, ``password``),
impersonation (the ``Impersonate-User`` and ``Impersonate-Group`` headers
the API server reads, one header per group), ``no_proxy`` and the headers
sent to the proxy (``proxy_headers``).
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import os
import re
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional, Union
from urllib.parse import quote, urlencode, urlsplit

from .._errors import MeshguardError, MissingLibraryError, OptionError

try:
    import urllib3
    import yaml
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from urllib3._collections import HTTPHeaderDict
except ImportError:  # pragma: no cover - reported when a client is built
    k8s_client = None

FIELD_MANAGER = "meshguard.egress"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"  # JSON is YAML


@dataclass(frozen=True)
class ConnectionOptions:
    """How to reach one cluster; the names are those of kubernetes.core."""

    kubeconfig: Optional[Union[str, dict]] = None
    context: Optional[str] = None
    host: Optional[str] = None
    api_key: Optional[str] = None
    validate_certs: Optional[bool] = None
    ca_cert: Optional[str] = None
    client_cert: Optional[str] = None
    client_key: Optional[str] = None
    proxy: Optional[str] = None
    no_proxy: Optional[str] = None
    # Keys of urllib3's make_headers: proxy_basic_auth, basic_auth, user_agent.
    proxy_headers: Optional[dict] = None
    username: Optional[str] = None
    password: Optional[str] = None
    impersonate_user: Optional[str] = None
    impersonate_groups: Optional[tuple[str, ...]] = None
    timeout: float = 30.0

    @property
    def impersonating(self) -> bool:
        return bool(self.impersonate_user or self.impersonate_groups)


@dataclass(frozen=True)
class Resource:
    """One API resource as discovery reports it."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def full_name(self) -> str:
        """Like kubectl: serviceentries.networking.istio.io, networkpolicies.networking.k8s.io."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: Optional[str] = None, name: Optional[str] = None) -> str:
        base = f"/apis/{self.api_version}" if "/" in self.api_version else f"/api/{self.api_version}"
        if namespace and self.namespaced:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        return base


class KubeError(MeshguardError):
    """A failed request; ``status`` is the HTTP status (None: no answer)."""

    def __init__(self, message: str, status: Optional[int] = None, reason: str = "", details: Optional[dict] = None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.details = details or {}


class KubeClient:
    """Requests against one API server, thread-safe."""

    def __init__(self, options: ConnectionOptions) -> None:
        if k8s_client is None:
            raise MissingLibraryError("kubernetes", "to talk to Kubernetes clusters")
        self.options = options
        self._config, self.where, self.user = _configure(options)
        self._pool = _pool_for(self._config, options.timeout)
        self._headers = base_headers(options)
        self._discovery: dict[str, Optional[dict[str, Resource]]] = {}
        self._lock = threading.Lock()

    # -- discovery -----------------------------------------------------------

    def resources(self, api_version: str) -> Optional[dict[str, Resource]]:
        """Kinds served under a group/version, or None when it is not served.

        Asked once per group/version and client: one discovery per run.
        """
        with self._lock:
            if api_version not in self._discovery:
                path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
                try:
                    doc = self.request("GET", path, verb="discover", what=api_version)
                except KubeError as e:
                    if e.status != 404:
                        raise
                    doc = None
                found = None
                if doc is not None:
                    found = {
                        r["kind"]: Resource(api_version, r["kind"], r["name"], bool(r.get("namespaced")))
                        for r in doc.get("resources", [])
                        if "/" not in r["name"]  # subresources such as serviceentries/status
                    }
                self._discovery[api_version] = found
            return self._discovery[api_version]

    def resource(self, api_version: str, kind: str) -> Optional[Resource]:
        return (self.resources(api_version) or {}).get(kind)

    # -- verbs ---------------------------------------------------------------

    def list(self, res: Resource, namespace: Optional[str] = None, label_selector: str = "") -> list[dict]:
        """Every object of a resource (all namespaces when namespace is None)."""
        items: list[dict] = []
        # No page size: with a label selector, pages are cut before filtering,
        # so a set's 500 objects among others came back in several requests.
        # The answer holds only the set's objects; a server that pages anyway
        # is followed through its continue tokens.
        query: dict[str, Any] = {}
        if label_selector:
            query["labelSelector"] = label_selector
        while True:
            page = self.request(
                "GET", res.path(namespace), query=query, verb="list", what=res.full_name, namespace=namespace
            )
            for item in page.get("items", []):
                # Lists of built-in kinds leave these out of each item.
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", res.kind)
                items.append(item)
            cont = page.get("metadata", {}).get("continue")
            if not cont:
                return items
            query["continue"] = cont

    def get(self, res: Resource, namespace: Optional[str], name: str) -> Optional[dict]:
        try:
            return self.request(
                "GET", res.path(namespace, name), verb="get", what=f"{res.full_name} {name}", namespace=namespace
            )
        except KubeError as e:
            if e.status == 404:
                return None
            raise

    def apply(self, res: Resource, obj: dict, dry_run: bool = False, force: bool = False) -> dict:
        """Server-side apply as field manager meshguard.egress."""
        meta = obj["metadata"]
        query: dict[str, Any] = {"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"]),
            query=query,
            body=obj,
            content_type=APPLY_CONTENT_TYPE,
            verb="patch",
            what=f"{res.full_name} {meta['name']}",
            namespace=meta.get("namespace"),
        )

    def replace(self, res: Resource, obj: dict, resource_version: str, dry_run: bool = False) -> dict:
        """PUT: the whole object, as of the version that was read."""
        body = dict(obj, metadata=dict(obj["metadata"], resourceVersion=resource_version))
        query: dict[str, Any] = {"fieldManager": FIELD_MANAGER}
        if dry_run:
            query["dryRun"] = "All"
        meta = obj["metadata"]
        return self.request(
            "PUT",
            res.path(meta.get("namespace"), meta["name"]),
            query=query,
            body=body,
            verb="update",
            what=f"{res.full_name} {meta['name']}",
            namespace=meta.get("namespace"),
        )

    def delete(self, res: Resource, live: dict, dry_run: bool = False) -> Optional[dict]:
        """Delete exactly the object that was read: a uid precondition keeps
        a same-named object created since from being deleted in its place."""
        meta = live["metadata"]
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        body["preconditions"] = {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]}
        if dry_run:
            # The server reads options from the body when there is one; the
            # query parameter as well makes the dry run visible in its metrics.
            body["dryRun"] = ["All"]
        try:
            return self.request(
                "DELETE",
                res.path(meta.get("namespace"), meta["name"]),
                query={"dryRun": "All"} if dry_run else None,
                body=body,
                verb="delete",
                what=f"{res.full_name} {meta['name']}",
                namespace=meta.get("namespace"),
            )
        except KubeError as e:
            if e.status == 404:
                return None
            raise

    def whoami(self) -> str:
        """The user name the API server authenticates these credentials as (a SelfSubjectReview:
        nothing is stored; every authenticated user may ask, Kubernetes 1.28 and later)."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        review = self.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            body=body,
            verb="create",
            what="selfsubjectreviews",
        )
        return str(((review.get("status") or {}).get("userInfo") or {}).get("username", ""))

    # -- transport -----------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[dict] = None,
        body: Any = None,
        content_type: str = "application/json",
        verb: str = "",
        what: str = "",
        namespace: Optional[str] = None,
    ) -> dict:
        url = self._config.host.rstrip("/") + path
        if query:
            url += "?" + urlencode(query)
        headers = self._headers.copy()
        # Asked per request: an exec or OIDC plugin of the kubeconfig may refresh it.
        token = self._config.get_api_key_with_prefix("authorization")
        if token:
            headers["Authorization"] = token
        data = None
        if body is not None:
            data = yaml_safe_json(body).encode()
            headers["Content-Type"] = content_type
        deadline = time.monotonic() + self.options.timeout
        while True:
            try:
                resp = self._pool.request(method, url, body=data, headers=headers, retries=False)
            except urllib3.exceptions.HTTPError as e:
                raise KubeError(
                    f"cannot reach the API server {self._config.host} ({self.where}): {_reason(e)}"
                ) from None
            # 429: the server did not take the request (overloaded, or its
            # storage still initialising after a restart); it says when to retry.
            if resp.status != 429 or time.monotonic() >= deadline:
                break
            time.sleep(min(_retry_after(resp), max(deadline - time.monotonic(), 0.1)))
        payload: dict = {}
        if resp.data:
            try:
                payload = json.loads(resp.data)
            except ValueError:
                payload = {"message": resp.data[:300].decode(errors="replace")}
        if 200 <= resp.status < 300:
            return payload
        raise self._error(resp.status, payload, verb, what, namespace)

    def _error(self, status: int, payload: dict, verb: str, what: str, namespace: Optional[str]) -> KubeError:
        reason = payload.get("reason", "")
        message = payload.get("message", "")
        scope = f" in namespace {namespace}" if namespace else ""
        if status == 401:
            text = (
                f"{self.where}: 401 Unauthorized: the API server rejected the credentials of user {self.user} "
                f"(expired or wrong token, certificate or password) when trying to {verb} {what}{scope}"
            )
        elif status == 403 and self.options.username and _ANONYMOUS in message:
            # Basic authentication is gone from Kubernetes (1.19): such a server ignores the header.
            text = (
                f"{self.where}: 403 Forbidden: the API server did not take the password of user {self.user} and "
                f"treated the request as {_ANONYMOUS} (Kubernetes has no basic authentication since 1.19; basic "
                f"authentication works only through a proxy in front of the API server that takes it) when trying "
                f"to {verb} {what}{scope}: {message}"
            )
        elif status == 403:
            text = f"{self.where}: 403 Forbidden: user {self._acting()} may not {verb} {what}{scope}: {message}"
        else:
            text = f"{self.where}: {verb} {what}{scope} failed: {status} {reason}: {message}".rstrip(": ")
        return KubeError(text, status, reason, payload.get("details"))

    def _acting(self) -> str:
        """Who the API server judged: the impersonated user and groups, when impersonating."""
        if not self.options.impersonating:
            return str(self.user)
        who = self.options.impersonate_user or self.user
        groups = self.options.impersonate_groups or ()
        in_groups = f" in groups {', '.join(groups)}" if groups else ""
        return f"{who}{in_groups} (impersonated by {self.user})"


_ANONYMOUS = "system:anonymous"
# urllib3 2 sends every value of an HTTPHeaderDict as a header line of its own.
_SENDS_REPEATED_HEADERS = k8s_client is not None and int(urllib3.__version__.split(".")[0]) >= 2
IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"
PROXY_HEADER_KEYS = ("proxy_basic_auth", "basic_auth", "user_agent")


def base_headers(options: ConnectionOptions) -> Any:
    """The headers of every request: what is accepted, who asks, basic authentication and
    impersonation. An HTTPHeaderDict, so that each impersonated group is a header of its own:
    the API server reads every Impersonate-Group header and never splits one at commas."""
    headers = HTTPHeaderDict({"Accept": "application/json", "User-Agent": "meshguard.egress"})
    if options.username is not None or options.password is not None:
        headers["Authorization"] = basic_authorization(options.username, options.password)
    for name, value in impersonation_headers(options):
        headers.add(name, value)
    return headers


def basic_authorization(username: Optional[str], password: Optional[str]) -> str:
    """The Authorization header of HTTP basic authentication (RFC 7617: user-id ":" password, UTF-8)."""
    if not username or password is None:
        missing = "password" if username else "username"
        raise OptionError(f"{missing}: username and password go together (HTTP basic authentication)")
    if ":" in username:
        raise OptionError("username: basic authentication cannot carry a user name with a colon (RFC 7617)")
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def impersonation_headers(options: ConnectionOptions) -> list[tuple[str, str]]:
    """(header, value) pairs asking the API server to act as another user: Impersonate-User,
    then one Impersonate-Group per group, in the order given. Groups alone impersonate the
    authenticated user in those groups, which the API server refuses: it wants a user too."""
    groups = [g for g in options.impersonate_groups or () if g]
    if groups and not options.impersonate_user:
        raise OptionError("impersonate_groups: needs impersonate_user (the API server impersonates groups of a user)")
    if len(groups) > 1 and not _SENDS_REPEATED_HEADERS:
        raise OptionError(
            f"impersonate_groups: more than one group needs urllib3 >= 2 (found {urllib3.__version__}), which sends "
            "a header per group; urllib3 1 joins them into one, which the API server reads as one group"
        )
    pairs = [(IMPERSONATE_USER, options.impersonate_user)] if options.impersonate_user else []
    pairs += [(IMPERSONATE_GROUP, g) for g in groups]
    for name, value in pairs:
        if not value.isprintable() or value != value.strip():
            raise OptionError(f"{_option_of(name)}: {value!r} cannot be sent as an HTTP header")
    return pairs


def _option_of(header: str) -> str:
    return "impersonate_user" if header == IMPERSONATE_USER else "impersonate_groups"


def bypasses_proxy(url: str, no_proxy: Optional[str]) -> bool:
    """Whether a request to ``url`` goes direct: ``no_proxy`` is a comma-separated list of
    host names (a name matches itself and its subdomains; a leading dot is the same),
    host:port, IP addresses, CIDR blocks, or ``*`` for every host."""
    if not no_proxy:
        return False
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    host_port = f"{host}:{parts.port}" if parts.port else host
    try:
        ip: Optional[Any] = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
        name = entry.lstrip(".")
        if name in (host, host_port) or host.endswith("." + name) or host_port.endswith("." + name):
            return True
    return False


def proxy_headers(given: Optional[dict]) -> Optional[dict]:
    """The headers sent to the proxy, as kubernetes.core builds them (urllib3's make_headers)."""
    values = {k: v for k, v in (given or {}).items() if k in PROXY_HEADER_KEYS and v}
    return urllib3.util.make_headers(**values) if values else None


# Characters YAML forbids raw or reads as line breaks (JSON escapes the C0 range itself).
_NOT_YAML_PRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")


def yaml_safe_json(body: Any) -> str:
    """JSON that a YAML parser reads back unchanged.

    Server-side apply bodies are parsed as YAML. Plain json.dumps writes
    characters outside the BMP as surrogate-pair escapes, which YAML rejects,
    so those go out as raw UTF-8; the few characters YAML forbids raw, or
    folds as line breaks, are escaped instead.
    """
    text = json.dumps(body, ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _retry_after(resp: Any) -> float:
    try:
        return min(max(float(resp.headers.get("Retry-After", 1)), 0.1), 5.0)
    except ValueError:
        return 1.0


def _reason(exc: Exception) -> str:
    inner = getattr(exc, "reason", None)
    return str(inner or exc)


def _configure(options: ConnectionOptions) -> tuple[Any, str, str]:
    """A client Configuration, a label for messages, and the user's name."""
    cfg = k8s_client.Configuration()
    where, user = options.host or "", "(token)" if options.api_key else "(unknown)"
    if options.kubeconfig is not None or options.context is not None or not options.host:
        where, user = _load_kubeconfig(cfg, options)
    # Explicit options win over the kubeconfig, as in kubernetes.core.
    overrides = {
        "host": options.host,
        "verify_ssl": options.validate_certs,
        "ssl_ca_cert": options.ca_cert,
        "cert_file": options.client_cert,
        "key_file": options.client_key,
        "proxy": options.proxy,
        "no_proxy": options.no_proxy,
    }
    for attr, value in overrides.items():
        if value is not None and value != "":
            setattr(cfg, attr, value)
    if options.api_key:
        cfg.api_key = {"authorization": "Bearer " + options.api_key}
    if options.username:
        user = options.username
        # The kubeconfig's token would take the header's place: the password is what was asked for.
        if not options.api_key:
            cfg.api_key = {}
    cfg.proxy_headers = proxy_headers(options.proxy_headers)
    if not cfg.host or cfg.host == "http://localhost":
        raise KubeError("no API server to talk to: set kubeconfig and context, or host")
    return cfg, where or cfg.host, user


def kubeconfig_files(options: ConnectionOptions, environ: Optional[dict] = None) -> tuple[list[str], str]:
    """The kubeconfig files to read, and where they were named: the kubeconfig option,
    else KUBECONFIG (files separated as in PATH, as kubectl reads it), else kubectl's default."""
    environ = os.environ if environ is None else environ
    if isinstance(options.kubeconfig, str) and options.kubeconfig:
        given, origin = options.kubeconfig, "the kubeconfig option"
    elif environ.get("KUBECONFIG"):
        given, origin = environ["KUBECONFIG"], "the KUBECONFIG environment variable"
    else:
        given, origin = "~/.kube/config", "the default, as for kubectl"
    paths = [os.path.expanduser(p) for p in given.split(os.pathsep) if p]
    return paths, origin


def _load_kubeconfig(cfg: Any, options: ConnectionOptions) -> tuple[str, str]:
    # kubernetes.core builds its loader the same way; the public
    # load_kube_config() would hide which context it picked.
    get_loader = k8s_config.kube_config._get_kube_config_loader
    named = ""
    try:
        if isinstance(options.kubeconfig, dict):
            loader = get_loader(config_dict=options.kubeconfig, active_context=options.context)
        else:
            paths, origin = kubeconfig_files(options)
            named = " " + ", ".join(paths)
            # The client's loader skips missing files and then says only that it found no configuration.
            if not any(os.path.exists(p) for p in paths):
                tried = " nor ".join(os.path.abspath(p) for p in paths)
                raise KubeError(f"no kubeconfig file at {tried} (from {origin})")
            found = [p for p in paths if os.path.exists(p)]
            if len(found) == 1:
                loader = get_loader(config_dict=_one_file(found[0]), active_context=options.context)
            else:
                loader = get_loader(filename=os.pathsep.join(paths), active_context=options.context)
        loader.load_and_set(cfg)
    except k8s_config.ConfigException as e:
        raise KubeError(f"cannot load the kubeconfig{named}: {e}") from None
    except OSError as e:
        raise KubeError(f"cannot read the kubeconfig: {e.strerror}: {e.filename}") from None
    ctx = loader.current_context
    return f"context {ctx['name']}", ctx["context"].get("user", "(unknown)")


def _one_file(path: str) -> Any:
    """One kubeconfig file as the client's merger reads it (``kube_config.KubeConfigMerger``: each entry
    remembers its file, for certificate paths relative to it; the first of a name wins), parsed with libyaml
    when PyYAML has it. Every cluster's task parses the file, and a file of many clusters is common (one
    context per cluster): the pure-Python parser took a tenth of a second per cluster at 24 contexts."""
    with open(path) as f:
        config = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if config is None:
        raise k8s_config.ConfigException(f"Invalid kube-config. {path} file is empty")
    node = k8s_config.kube_config.ConfigNode
    for item in ("clusters", "contexts", "users"):
        kept: dict[Any, Any] = {}
        for entry in config.get(item) or []:
            kept.setdefault(entry["name"], node(f"{path}/{entry}", entry, path))
        config[item] = list(kept.values())
    return node(path, config, path)


def _pool_for(cfg: Any, timeout: float):
    kwargs: dict[str, Any] = {
        "num_pools": 1,
        "maxsize": 8,
        "timeout": urllib3.Timeout(connect=min(timeout, 10.0), read=timeout),
        "cert_reqs": ssl.CERT_REQUIRED if cfg.verify_ssl else ssl.CERT_NONE,
    }
    if cfg.verify_ssl and cfg.ssl_ca_cert:
        kwargs["ca_certs"] = cfg.ssl_ca_cert
    if cfg.cert_file:
        kwargs["cert_file"] = cfg.cert_file
    if cfg.key_file:
        kwargs["key_file"] = cfg.key_file
    if cfg.tls_server_name:
        kwargs["server_hostname"] = cfg.tls_server_name
    if not cfg.verify_ssl:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    if cfg.proxy and not bypasses_proxy(cfg.host, getattr(cfg, "no_proxy", None)):
        return urllib3.ProxyManager(cfg.proxy, proxy_headers=cfg.proxy_headers, **kwargs)
    return urllib3.PoolManager(**kwargs)


@functools.lru_cache(maxsize=16)
def _kubeconfig_read(path: str, mtime_ns: int, size: int) -> Any:
    """A kubeconfig file's content, parsed once per version of the file (every cluster of a run is checked
    against it, and one file of many contexts is common); None when it cannot be parsed. Only read."""
    del mtime_ns, size  # part of the cache key only
    try:
        import yaml  # noqa: PLC0415 - a dependency of the kubernetes client, needed only here
    except ImportError:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return None


def api_server_of(options: ConnectionOptions) -> Optional[str]:
    """The API server URL these options reach, read from the options and the kubeconfig only (no
    request, no credential plugin run); None when it cannot be told. Two inventory hosts that
    reach the same server are the same cluster."""
    if options.host:
        return options.host.rstrip("/")
    config: Any = options.kubeconfig
    if not isinstance(config, dict):
        path = os.path.expanduser(config or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config")
        try:
            stat = os.stat(path)
        except OSError:
            return None  # unreadable here: the cluster's own task reports it
        config = _kubeconfig_read(path, stat.st_mtime_ns, stat.st_size)
    if not isinstance(config, dict):
        return None
    context_name = options.context or config.get("current-context")
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or [] if isinstance(c, dict)}
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or [] if isinstance(c, dict)}
    server = clusters.get(contexts.get(context_name, {}).get("cluster"), {}).get("server")
    return str(server).rstrip("/") if server else None
