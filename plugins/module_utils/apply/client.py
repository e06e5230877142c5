# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One client for the Kubernetes API: connection options in, authenticated REST calls out.

``client_from_options()`` is the only factory. It reads the kubeconfig itself (token, token
file, client certificates, CA, insecure-skip-tls-verify, tls-server-name, proxy-url, exec
credential plugins) and talks plain JSON REST over the standard library's http.client, one
keep-alive connection per worker thread (urllib3 alone would double the module's start-up time).

Why not the ``kubernetes`` package's DynamicClient: importing it costs about a second
(it loads every generated model), and its discovery fetches every API group the server has.
A run here needs neither. The ``kubernetes`` package is still used, lazily, for the rare
kubeconfig users configured with a legacy ``auth-provider`` (oidc, gcp, azure).

``Discovery`` maps apiVersion+kind to a REST resource, fetching only the group/versions a run
asks for, once each.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections import Counter
from urllib.parse import quote, urlencode, urlsplit

from ansible_collections.governed.odoo.plugins.module_utils import proc as _proc
from ansible_collections.governed.odoo.plugins.module_utils.apply import KubeAPIError, KubeConfigError

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

USER_AGENT = "governed.odoo/0.1.0"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
APPLY_PATCH = "application/apply-patch+yaml"
WRITE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))


def _quote(segment):
    return quote(str(segment), safe=":@")


class Resource:
    """A REST resource of the API, as discovery describes it."""

    __slots__ = ("group", "kind", "namespaced", "plural", "verbs", "version")

    def __init__(self, group, version, kind, plural, namespaced, verbs=()):
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.namespaced = namespaced
        self.verbs = tuple(verbs)

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self):
        return (self.group, self.kind)

    def path(self, namespace=None, name=None):
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{_quote(namespace)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{_quote(name)}"
        return base

    def __repr__(self):
        return f"Resource({self.api_version}, {self.kind}, {self.plural}, namespaced={self.namespaced})"


def split_api_version(api_version):
    """'apps/v1' -> ('apps', 'v1'); 'v1' -> ('', 'v1')."""
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


class KubeClient:
    """Authenticated JSON REST calls against one API server.

    ``stats`` counts requests by method (dry runs counted apart as ``PATCH?dryRun``...);
    ``writes`` is the number of requests that changed (or could have changed) the cluster.
    """

    def __init__(
        self,
        server,
        headers=None,
        ssl_context=None,
        server_hostname=None,
        proxy_url=None,
        namespace=None,
        timeout=120.0,
        refresh_credentials=None,
    ):
        self.server = server.rstrip("/")
        self.namespace = namespace
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        self.headers.update(headers or {})
        self.stats = Counter()
        self._stats_lock = threading.Lock()
        self._refresh = refresh_credentials
        self._transport = Transport(
            self.server, ssl_context=ssl_context, server_hostname=server_hostname, proxy_url=proxy_url, timeout=timeout
        )

    def close(self):
        self._transport.close()

    # -- counting -------------------------------------------------------------------------------

    def _count(self, method, dry_run):
        key = f"{method}?dryRun" if dry_run else method
        with self._stats_lock:
            self.stats[key] += 1

    @property
    def writes(self):
        """Requests that were allowed to change the cluster (dry runs excluded)."""
        return sum(n for key, n in self.stats.items() if key in WRITE_METHODS)

    # -- requests -------------------------------------------------------------------------------

    def request(self, method, path, query=None, body=None, content_type="application/json"):
        """Send one request; return the decoded JSON body (None when empty).

        Raises KubeAPIError for any status >= 400, with the API's Status message and reason.
        """
        return self.send(method, path, query=query, body=body, content_type=content_type)[1]

    def send(self, method, path, query=None, body=None, content_type="application/json"):
        """Send one request; return (HTTP status, decoded JSON body or None)."""
        query = {k: v for k, v in (query or {}).items() if v is not None}
        dry_run = query.get("dryRun") == "All"
        url = path
        if query:
            url += "?" + urlencode(query, doseq=True)
        headers = dict(self.headers)
        payload = None
        if body is not None:
            headers["Content-Type"] = content_type
            payload = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self._count(method, dry_run)
        status, data = self._transport.request(method, url, payload, headers)
        if status == 401 and self._refresh is not None:
            # exec credentials may have expired: refresh once and retry
            self.headers.update(self._refresh())
            self._refresh = None
            return self.send(method, path, query=query, body=body, content_type=content_type)
        if status >= 400:
            raise api_error(status, data, method, path)
        if not data:
            return status, None
        try:
            return status, json.loads(data)
        except ValueError:
            raise KubeAPIError(
                f"{method} {path}: the API answered with something that is not JSON", status=status
            ) from None

    def get(self, path, **query):
        return self.request("GET", path, query=query)

    def watch(self, collection_path, name, resource_version, timeout):
        """Yield the watch events (type, object) of the object ``name`` of a collection after ``resource_version``.

        Ends after ``timeout`` seconds (the API server closes the stream then), or when the caller stops iterating.
        The events arrive as the API server sees the changes: a wait on them returns as soon as the object is ready,
        not at the next tick of a poll. Raises KubeAPIError when the watch cannot be opened (the caller polls then).
        """
        query = {
            "watch": "true",
            "fieldSelector": f"metadata.name={name}",
            "resourceVersion": resource_version,
            "timeoutSeconds": max(1, int(timeout)),
        }
        self._count("WATCH", False)
        url = collection_path + "?" + urlencode(query)
        with self._transport.stream("GET", url, dict(self.headers), timeout=max(1, int(timeout)) + 15) as resp:
            if resp.status >= 400:
                raise api_error(resp.status, resp.read(), "WATCH", collection_path)
            while True:
                try:
                    line = resp.readline()
                except (OSError, http.client.HTTPException):
                    return  # the stream broke off: as if it ended, the caller reads the object again
                if not line:
                    return
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise KubeAPIError(f"WATCH {collection_path}: the API sent something that is not JSON") from None
                if event.get("type") == "ERROR":
                    # e.g. 410 Gone: the resource version is too old; the caller reads the object again
                    obj = event.get("object") or {}
                    raise KubeAPIError(obj.get("message") or "watch error", status=obj.get("code"),
                                       reason=obj.get("reason"))
                yield event.get("type"), event.get("object") or {}

    def apply(self, resource, obj, field_manager, force=False, dry_run=False, validation="Strict"):
        """Server-side apply one object; return (HTTP status, resulting object). 201 means created."""
        meta = obj.get("metadata") or {}
        path = resource.path(meta.get("namespace"), meta["name"])
        query = {"fieldManager": field_manager, "fieldValidation": validation}
        if force:
            query["force"] = "true"
        if dry_run:
            query["dryRun"] = "All"
        return self.send("PATCH", path, query=query, body=obj, content_type=APPLY_PATCH)

    def delete(self, resource, name, namespace=None, uid=None, dry_run=False, propagation="Background"):
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        query = None
        if dry_run:
            # with a DeleteOptions body the API server reads dryRun from the body, not the query
            body["dryRun"] = ["All"]
            query = {"dryRun": "All"}
        return self.request("DELETE", resource.path(namespace, name), query=query, body=body)


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS with a TLS server name that may differ from the host (kubeconfig tls-server-name)."""

    def __init__(self, host, port, context, server_hostname, timeout):
        super().__init__(host, port, context=context, timeout=timeout)
        self._sni = server_hostname

    def connect(self):
        http.client.HTTPConnection.connect(self)  # TCP (and proxy tunnel) first
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._sni or self._tunnel_host or self.host)


class Transport:
    """HTTP/1.1 requests to one server: a keep-alive connection per thread, a few safe retries.

    Retried: a request on a reused connection that the server had closed (nothing was
    processed), a refused connection, and answers 429/503 (the API server's "come back later",
    honouring Retry-After). Nothing else: a timeout after sending could mean the request ran.
    """

    RETRY_STATUS = (429, 503)

    def __init__(self, server, ssl_context=None, server_hostname=None, proxy_url=None, timeout=120.0, attempts=4):
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise KubeConfigError(f"API server URL {server!r} is not an http(s) URL")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.base_path = parts.path.rstrip("/")
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.timeout = timeout
        self.attempts = attempts
        self.proxy = None
        if proxy_url:
            proxy = urlsplit(proxy_url)
            if proxy.scheme != "http" or not proxy.hostname:
                raise KubeConfigError(f"proxy-url {proxy_url!r}: only http:// proxies are supported")
            self.proxy = (proxy.hostname, proxy.port or 80)
        self._local = threading.local()
        self._all = []
        self._lock = threading.Lock()

    def _new_connection(self):
        host, port = self.proxy or (self.host, self.port)
        if self.https:
            conn = _HTTPSConnection(host, port, self.ssl_context, self.server_hostname, self.timeout)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        if self.proxy:
            conn.set_tunnel(self.host, self.port)
        with self._lock:
            self._all.append(conn)
        return conn

    def close(self):
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()

    @contextlib.contextmanager
    def stream(self, method, url, headers, timeout):
        """A response to read as it arrives (a watch), on a connection of its own that is closed afterwards."""
        host, port = self.proxy or (self.host, self.port)
        if self.https:
            conn = _HTTPSConnection(host, port, self.ssl_context, self.server_hostname, timeout)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        if self.proxy:
            conn.set_tunnel(self.host, self.port)
        try:
            try:
                conn.request(method, self.base_path + url, headers=headers)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise KubeAPIError(
                    f"request to the Kubernetes API at {self.host}:{self.port} failed: {exc or type(exc).__name__}"
                ) from None
            yield resp
        finally:
            conn.close()

    def request(self, method, url, body, headers):
        """Send; return (status, body bytes). Raises KubeAPIError when the server cannot be reached."""
        url = self.base_path + url
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            conn = getattr(self._local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self._local.conn = self._new_connection()
            try:
                conn.request(method, url, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                self._local.conn = None
                if reused and attempt < self.attempts:
                    continue  # the server closed an idle keep-alive connection; the request never ran
                raise KubeAPIError(f"cannot reach the Kubernetes API at {self.host}:{self.port}: {exc}") from None
            except ConnectionRefusedError as exc:
                conn.close()
                self._local.conn = None
                if attempt < self.attempts:
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise KubeAPIError(f"cannot reach the Kubernetes API at {self.host}:{self.port}: {exc}") from None
            except (OSError, socket.timeout, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                raise KubeAPIError(
                    f"request to the Kubernetes API at {self.host}:{self.port} failed: {exc or type(exc).__name__}"
                ) from None
            if resp.will_close:
                conn.close()
                self._local.conn = None
            if resp.status in self.RETRY_STATUS and attempt < self.attempts:
                try:
                    wait = min(float(resp.getheader("Retry-After") or delay), 10.0)
                except ValueError:
                    wait = delay
                time.sleep(wait)
                delay *= 2
                continue
            return resp.status, data
        raise KubeAPIError("unreachable")  # pragma: no cover


def await_change(client, collection_path, name, resource_version, timeout, poll=2.0, sleep=time.sleep):
    """Return when the object ``name`` changed after ``resource_version`` (its first watch event), or ``timeout``
    seconds passed. A client without watch, an object without resource version, or a watch the API server refuses
    falls back to a pause of at most ``poll`` seconds. The caller reads the object again either way."""
    watch = getattr(client, "watch", None)
    if watch is None or not resource_version or timeout <= 0:
        sleep(max(0.0, min(poll, timeout)))
        return
    started = time.monotonic()
    try:
        for _event in watch(collection_path, name, resource_version, timeout):
            return
    except KubeAPIError:
        # a pause that keeps the total within what the caller gave
        sleep(max(0.0, min(poll, timeout - (time.monotonic() - started))))


def api_error(status, data, method, path):
    """Build a KubeAPIError from an error response (a metav1.Status when the API sent one)."""
    message, reason = None, None
    try:
        st = json.loads(data)
        if isinstance(st, dict):
            message = st.get("message")
            reason = st.get("reason")
    except (ValueError, TypeError):
        pass
    if not message:
        text = (data or b"").decode("utf-8", "replace").strip()
        message = text[:500] or f"HTTP {status}"
    return KubeAPIError(message, status=status, reason=reason or f"HTTP{status}")


class Discovery:
    """apiVersion+kind -> Resource, from the group/versions asked for only; each fetched once."""

    def __init__(self, client):
        self.client = client
        self._lock = threading.Lock()
        self._gv = {}  # "apps/v1" -> {kind: Resource} or None (not served)
        self._preferred = None  # group -> preferred version

    def _fetch(self, api_version):
        group, version = split_api_version(api_version)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            doc = self.client.get(path)
        except KubeAPIError as exc:
            if exc.status in (404, 503):
                return None
            raise
        kinds = {}
        for item in doc.get("resources") or []:
            if "/" in item.get("name", ""):
                continue  # subresource
            kinds.setdefault(
                item["kind"],
                Resource(
                    group, version, item["kind"], item["name"], bool(item.get("namespaced")), item.get("verbs") or ()
                ),
            )
        return kinds

    def prefetch(self, api_versions, executor=None):
        todo = [gv for gv in sorted(set(api_versions)) if gv not in self._gv]
        if not todo:
            return
        results = executor.map(self._fetch, todo) if executor is not None and len(todo) > 1 else map(self._fetch, todo)
        for gv, kinds in zip(todo, results, strict=True):
            with self._lock:
                self._gv[gv] = kinds

    def forget(self, api_version):
        with self._lock:
            self._gv.pop(api_version, None)

    def resource(self, api_version, kind):
        """The Resource for apiVersion+kind, or None when the server does not serve it."""
        if api_version not in self._gv:
            self.prefetch([api_version])
        kinds = self._gv.get(api_version)
        return kinds.get(kind) if kinds else None

    def preferred_version(self, group):
        """The server's preferred version of an API group ('' is the core group), or None."""
        if group == "":
            return "v1"
        with self._lock:
            known = self._preferred
        if known is None:
            known = {}
            doc = self.client.get("/apis")
            for grp in doc.get("groups") or []:
                pref = (grp.get("preferredVersion") or {}).get("version")
                if pref:
                    known[grp["name"]] = pref
            with self._lock:
                self._preferred = known
        return known.get(group)

    def resource_for_group_kind(self, group, kind):
        version = self.preferred_version(group)
        if version is None:
            return None
        return self.resource(f"{group}/{version}" if group else version, kind)


# -- configuration ----------------------------------------------------------------------------


def _read_yaml_file(path):
    if yaml is None:
        raise KubeConfigError("the python library PyYAML is required to read a kubeconfig")
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh) or {}
    except OSError as exc:
        raise KubeConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise KubeConfigError(f"kubeconfig {path} is not valid YAML: {exc}") from None


def _named(entries, key):
    out = {}
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") is not None and entry["name"] not in out:
            out[entry["name"]] = entry.get(key) or {}
    return out


def load_kubeconfig(kubeconfig=None, env=None):
    """Load and merge kubeconfig(s); return (config dict, base directory) or (None, None).

    ``kubeconfig`` is a path, a list of paths, or an already-loaded dict. Without one, the
    E(KUBECONFIG) list is used, then ``~/.kube/config``. As kubectl does, the first file
    that defines a cluster/user/context/current-context wins.
    """
    env = os.environ if env is None else env
    if isinstance(kubeconfig, dict):
        return kubeconfig, os.getcwd()
    if kubeconfig:
        paths = list(kubeconfig) if isinstance(kubeconfig, (list, tuple)) else str(kubeconfig).split(os.pathsep)
        paths = [os.path.expanduser(p) for p in paths if p]
        for p in paths:
            if not os.path.exists(p):
                raise KubeConfigError(f"kubeconfig {p} does not exist")
    elif env.get("KUBECONFIG"):
        paths = [os.path.expanduser(p) for p in env["KUBECONFIG"].split(os.pathsep) if p]
        paths = [p for p in paths if os.path.exists(p)]
    else:
        default = os.path.expanduser("~/.kube/config")
        paths = [default] if os.path.exists(default) else []
    if not paths:
        return None, None
    merged = {"clusters": [], "users": [], "contexts": []}
    for p in paths:
        doc = _read_yaml_file(p)
        base = os.path.dirname(os.path.abspath(p))
        for section, key in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in doc.get(section) or []:
                entry = dict(entry)
                entry["_base"] = base
                if key in entry and isinstance(entry[key], dict):
                    entry[key] = dict(entry[key], _base=base)
                merged[section].append(entry)
        if doc.get("current-context") and "current-context" not in merged:
            merged["current-context"] = doc["current-context"]
    return merged, os.path.dirname(os.path.abspath(paths[0]))


def _resolve(base, path):
    if not path:
        return path
    path = os.path.expanduser(path)
    return path if os.path.isabs(path) else os.path.join(base, path)


def _b64(data, what):
    try:
        return base64.b64decode("".join(str(data).split()), validate=True)
    except (ValueError, TypeError):
        raise KubeConfigError(f"kubeconfig {what} is not valid base64") from None


def _run_exec_plugin(spec, base):
    """Run a client-go credential plugin; return its ExecCredential status."""
    command = spec.get("command")
    if not command:
        raise KubeConfigError("kubeconfig user exec plugin has no command")
    if os.sep in command and not os.path.isabs(command):
        command = os.path.join(base, command)
    env = dict(os.environ)
    for item in spec.get("env") or []:
        env[item["name"]] = item.get("value", "")
    api_version = spec.get("apiVersion", "client.authentication.k8s.io/v1")
    env["KUBERNETES_EXEC_INFO"] = json.dumps(
        {"apiVersion": api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    )
    try:
        proc = _proc.run(  # the command the kubeconfig names, as kubectl runs it
            [command, *(spec.get("args") or [])],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KubeConfigError(f"kubeconfig exec plugin {command} failed: {exc}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()[:500]
        raise KubeConfigError(f"kubeconfig exec plugin {command} exited {proc.returncode}: {err}")
    try:
        status = json.loads(proc.stdout).get("status") or {}
    except ValueError:
        raise KubeConfigError(f"kubeconfig exec plugin {command} did not print an ExecCredential") from None
    return status


def _legacy_auth_provider(kubeconfig_path, context):
    """Credentials for an ``auth-provider`` user, through the kubernetes package (slow import)."""
    try:
        from kubernetes import client as kclient
        from kubernetes import config as kconfig
    except ImportError:
        raise KubeConfigError("kubeconfig users with an auth-provider need the python library kubernetes") from None
    cfg = kclient.Configuration()
    try:
        kconfig.load_kube_config(config_file=kubeconfig_path, context=context, client_configuration=cfg)
    except Exception as exc:
        raise KubeConfigError(f"cannot load auth-provider credentials: {exc}") from None
    token = (cfg.api_key or {}).get("authorization")
    return {"Authorization": token} if token else {}


class ConnectionSettings:
    """What a client needs, resolved from options, kubeconfig, or the in-cluster service account."""

    def __init__(self):
        self.server = None
        self.token = None
        self.username = None
        self.password = None
        self.ca_file = None
        self.ca_data = None
        self.cert_file = None
        self.key_file = None
        self.cert_data = None
        self.key_data = None
        self.verify = True
        self.server_hostname = None
        self.proxy_url = None
        self.namespace = None
        self.exec_spec = None
        self.exec_base = None
        self.extra_headers = {}

    def secrets(self):
        """Values that must never appear in output (for a module's no_log_values)."""
        vals = [self.token, self.password]
        return [v for v in vals if v]


def resolve_settings(
    kubeconfig=None,
    context=None,
    host=None,
    api_key=None,
    ca_cert=None,
    validate_certs=None,
    client_cert=None,
    client_key=None,
    env=None,
):
    """Combine connection options with the kubeconfig; options win over the kubeconfig."""
    env = os.environ if env is None else env
    s = ConnectionSettings()
    config, _base = (None, None)
    explicit_only = host and (api_key or client_cert) and not kubeconfig
    if not explicit_only:
        config, _base = load_kubeconfig(kubeconfig, env)
    if config is not None:
        contexts = _named(config.get("contexts"), "context")
        ctx_name = context or config.get("current-context")
        if not ctx_name:
            raise KubeConfigError("the kubeconfig has no current-context; set the context option")
        if ctx_name not in contexts:
            raise KubeConfigError(
                f"context {ctx_name!r} is not in the kubeconfig (known: {', '.join(sorted(contexts)) or 'none'})"
            )
        ctx = contexts[ctx_name]
        clusters = _named(config.get("clusters"), "cluster")
        users = _named(config.get("users"), "user")
        cluster = clusters.get(ctx.get("cluster"))
        if cluster is None:
            raise KubeConfigError(
                f"context {ctx_name!r} names cluster {ctx.get('cluster')!r}, which is not in the kubeconfig"
            )
        user = users.get(ctx.get("user"), {}) if ctx.get("user") else {}
        cbase = cluster.get("_base") or os.getcwd()
        ubase = user.get("_base") or cbase
        s.server = cluster.get("server")
        s.ca_file = _resolve(cbase, cluster.get("certificate-authority"))
        if cluster.get("certificate-authority-data"):
            s.ca_data = _b64(cluster["certificate-authority-data"], "certificate-authority-data")
        s.verify = not cluster.get("insecure-skip-tls-verify", False)
        s.server_hostname = cluster.get("tls-server-name")
        s.proxy_url = cluster.get("proxy-url")
        s.namespace = ctx.get("namespace")
        if user.get("token"):
            s.token = user["token"]
        elif user.get("tokenFile"):
            try:
                with open(_resolve(ubase, user["tokenFile"]), encoding="utf-8") as fh:
                    s.token = fh.read().strip()
            except OSError as exc:
                raise KubeConfigError(f"cannot read tokenFile of user {ctx.get('user')!r}: {exc.strerror}") from None
        s.cert_file = _resolve(ubase, user.get("client-certificate"))
        s.key_file = _resolve(ubase, user.get("client-key"))
        if user.get("client-certificate-data"):
            s.cert_data = _b64(user["client-certificate-data"], "client-certificate-data")
        if user.get("client-key-data"):
            s.key_data = _b64(user["client-key-data"], "client-key-data")
        s.username = user.get("username")
        s.password = user.get("password")
        if user.get("exec"):
            s.exec_spec, s.exec_base = user["exec"], ubase
        elif user.get("auth-provider"):
            path = kubeconfig if isinstance(kubeconfig, str) else None
            s.extra_headers = _legacy_auth_provider(path, ctx_name)
    elif not host:
        token_path = os.path.join(SERVICE_ACCOUNT_DIR, "token")
        if env.get("KUBERNETES_SERVICE_HOST") and os.path.exists(token_path):
            h, p = env["KUBERNETES_SERVICE_HOST"], env.get("KUBERNETES_SERVICE_PORT", "443")
            s.server = f"https://[{h}]:{p}" if ":" in h else f"https://{h}:{p}"
            with open(token_path, encoding="utf-8") as fh:
                s.token = fh.read().strip()
            s.ca_file = os.path.join(SERVICE_ACCOUNT_DIR, "ca.crt")
            ns_path = os.path.join(SERVICE_ACCOUNT_DIR, "namespace")
            if os.path.exists(ns_path):
                with open(ns_path, encoding="utf-8") as fh:
                    s.namespace = fh.read().strip()
        else:
            raise KubeConfigError(
                "no Kubernetes connection configured: set kubeconfig (or host and api_key), "
                "or KUBECONFIG, or provide ~/.kube/config"
            )
    if host:
        s.server = host
    if api_key:
        s.token = api_key
        s.exec_spec = None
    if ca_cert:
        s.ca_file, s.ca_data = os.path.expanduser(ca_cert), None
    if client_cert:
        s.cert_file, s.cert_data = os.path.expanduser(client_cert), None
    if client_key:
        s.key_file, s.key_data = os.path.expanduser(client_key), None
    if validate_certs is not None:
        s.verify = bool(validate_certs)
    if not s.server:
        raise KubeConfigError("no API server URL: the kubeconfig cluster has no server and host is not set")
    if "://" not in s.server:
        s.server = "https://" + s.server
    return s


def _ssl_context(s):
    if s.verify:
        try:
            ctx = ssl.create_default_context(
                cafile=s.ca_file or None, cadata=s.ca_data.decode("ascii") if s.ca_data else None
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise KubeConfigError(f"cannot load the API server CA certificate: {exc}") from None
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert_file, key_file = s.cert_file, s.key_file
    if s.cert_data or s.key_data:
        # ssl only loads client certificates from files: write them to a private temporary
        # directory, load them, and remove them again at once.
        with tempfile.TemporaryDirectory(prefix="governed-odoo-") as tmp:
            if s.cert_data:
                cert_file = os.path.join(tmp, "client.crt")
                with open(os.open(cert_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as fh:
                    fh.write(s.cert_data)
            if s.key_data:
                key_file = os.path.join(tmp, "client.key")
                with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as fh:
                    fh.write(s.key_data)
            _load_cert_chain(ctx, cert_file, key_file)
    elif cert_file:
        _load_cert_chain(ctx, cert_file, key_file)
    return ctx


def _load_cert_chain(ctx, cert_file, key_file):
    try:
        ctx.load_cert_chain(cert_file, key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise KubeConfigError(f"cannot load the client certificate/key: {exc}") from None


def _auth_headers(s):
    headers = dict(s.extra_headers)
    if s.exec_spec:
        status = _run_exec_plugin(s.exec_spec, s.exec_base)
        if status.get("token"):
            s.token = status["token"]
        if status.get("clientCertificateData"):
            s.cert_data = status["clientCertificateData"].encode()
            s.key_data = (status.get("clientKeyData") or "").encode() or None
    if s.token:
        headers["Authorization"] = f"Bearer {s.token}"
    elif s.username and s.password:
        raw = f"{s.username}:{s.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    return headers


# the connection options of client_from_options, as the modules and lookups take them
CONNECTION_OPTIONS = ("kubeconfig", "context", "host", "api_key", "ca_cert", "validate_certs")


def client_from_options(
    kubeconfig=None,
    context=None,
    host=None,
    api_key=None,
    ca_cert=None,
    validate_certs=None,
    client_cert=None,
    client_key=None,
    env=None,
):
    """The client factory: connection options (as the modules take them) -> KubeClient.

    Returns the client; its ``secrets`` attribute lists credential values for no_log.
    """
    s = resolve_settings(
        kubeconfig=kubeconfig,
        context=context,
        host=host,
        api_key=api_key,
        ca_cert=ca_cert,
        validate_certs=validate_certs,
        client_cert=client_cert,
        client_key=client_key,
        env=env,
    )
    headers = _auth_headers(s)
    ctx = _ssl_context(s) if s.server.startswith("https://") else None
    refresh = None
    if s.exec_spec:

        def refresh():
            return _auth_headers(s)

    client = KubeClient(
        s.server,
        headers=headers,
        ssl_context=ctx,
        server_hostname=s.server_hostname,
        proxy_url=s.proxy_url,
        namespace=s.namespace,
        refresh_credentials=refresh,
    )
    client.secrets = s.secrets()
    return client
