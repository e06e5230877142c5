"""Unit tests of the connection settings of plugins/module_utils/apply/client.py (no server needed)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.apply import KubeConfigError  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kc  # noqa: E402


def kubeconfig(path, clusters, users, contexts, current=None):
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": c} for n, c in contexts.items()],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return str(path)


@pytest.fixture
def config(tmp_path):
    (tmp_path / "ca.crt").write_text("not really a cert")
    (tmp_path / "token").write_text("file-token\n")
    return kubeconfig(
        tmp_path / "config",
        clusters={"lab": {"server": "https://127.0.0.1:6443", "certificate-authority": "ca.crt",
                          "tls-server-name": "kubernetes"},
                  "other": {"server": "https://other:443", "insecure-skip-tls-verify": True}},
        users={"admin": {"token": "inline-token"}, "bot": {"tokenFile": "token"}},
        contexts={"lab": {"cluster": "lab", "user": "admin", "namespace": "odoo"},
                  "bot": {"cluster": "other", "user": "bot"}},
        current="lab",
    )


def test_current_context_with_relative_paths(config, tmp_path):
    s = kc.resolve_settings(kubeconfig=config, env={})
    assert s.server == "https://127.0.0.1:6443"
    assert s.ca_file == str(tmp_path / "ca.crt")
    assert s.token == "inline-token"
    assert s.namespace == "odoo"
    assert s.verify is True
    assert s.server_hostname == "kubernetes"
    assert s.secrets() == ["inline-token"]


def test_named_context_token_file_and_insecure(config):
    s = kc.resolve_settings(kubeconfig=config, context="bot", env={})
    assert (s.server, s.token, s.verify) == ("https://other:443", "file-token", False)


def test_options_override_the_kubeconfig(config, tmp_path):
    s = kc.resolve_settings(kubeconfig=config, host="https://override:8443", api_key="opt-token",
                            ca_cert=str(tmp_path / "x.pem"), validate_certs=False, env={})
    expected = ("https://override:8443", "opt-token", str(tmp_path / "x.pem"), False)
    assert (s.server, s.token, s.ca_file, s.verify) == expected


def test_host_and_api_key_need_no_kubeconfig(tmp_path):
    s = kc.resolve_settings(host="127.0.0.1:6443", api_key="t", env={"HOME": str(tmp_path)})
    assert s.server == "https://127.0.0.1:6443" and s.token == "t"


def test_kubeconfig_env_list_merges_first_wins(tmp_path):
    a = kubeconfig(tmp_path / "a", {"c": {"server": "https://a"}}, {"u": {"token": "ta"}},
                   {"ctx": {"cluster": "c", "user": "u"}}, current="ctx")
    b = kubeconfig(tmp_path / "b", {"c": {"server": "https://b"}, "c2": {"server": "https://b2"}},
                   {"u": {"token": "tb"}}, {"ctx2": {"cluster": "c2", "user": "u"}}, current="ctx2")
    s = kc.resolve_settings(env={"KUBECONFIG": f"{a}{os.pathsep}{b}"})
    assert (s.server, s.token) == ("https://a", "ta")
    s = kc.resolve_settings(context="ctx2", env={"KUBECONFIG": f"{a}{os.pathsep}{b}"})
    assert (s.server, s.token) == ("https://b2", "ta")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"context": "nope"}, r"context 'nope' is not in the kubeconfig \(known: bot, lab\)"),
    ],
)
def test_errors_say_what_is_wrong(config, kwargs, message):
    with pytest.raises(KubeConfigError, match=message):
        kc.resolve_settings(kubeconfig=config, env={}, **kwargs)


def test_missing_file_and_no_configuration(tmp_path, monkeypatch):
    with pytest.raises(KubeConfigError, match="does not exist"):
        kc.resolve_settings(kubeconfig=str(tmp_path / "missing"), env={})
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config, no KUBECONFIG, not in a pod
    with pytest.raises(KubeConfigError, match="no Kubernetes connection configured"):
        kc.resolve_settings(env={})


def test_bad_base64_names_the_field(tmp_path):
    cfg = kubeconfig(tmp_path / "c", {"c": {"server": "https://x", "certificate-authority-data": "%%%"}},
                     {"u": {}}, {"ctx": {"cluster": "c", "user": "u"}}, current="ctx")
    with pytest.raises(KubeConfigError, match="certificate-authority-data is not valid base64"):
        kc.resolve_settings(kubeconfig=cfg, env={})


def test_exec_credential_plugin_runs_and_its_token_is_used(tmp_path):
    plugin = tmp_path / "plugin.sh"
    plugin.write_text(
        "#!/bin/sh\n"
        'test -n "$KUBERNETES_EXEC_INFO" || exit 3\n'
        'echo \'{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",'
        '"status":{"token":"exec-\'"$EXTRA"\'"}}\'\n')
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    cfg = kubeconfig(tmp_path / "c", {"c": {"server": "http://127.0.0.1:1"}},
                     {"u": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "./plugin.sh",
                                     "env": [{"name": "EXTRA", "value": "42"}]}}},
                     {"ctx": {"cluster": "c", "user": "u"}}, current="ctx")
    client = kc.client_from_options(kubeconfig=cfg, env={})
    assert client.headers["Authorization"] == "Bearer exec-42"
    assert client.secrets == ["exec-42"]


def test_exec_plugin_failure_is_reported(tmp_path):
    cfg = kubeconfig(tmp_path / "c", {"c": {"server": "http://x"}}, {"u": {"exec": {"command": "false"}}},
                     {"ctx": {"cluster": "c", "user": "u"}}, current="ctx")
    with pytest.raises(KubeConfigError, match="exec plugin false exited 1"):
        kc.client_from_options(kubeconfig=cfg, env={})


def test_resource_paths_quote_names():
    res = kc.Resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False)
    assert res.path(None, "system:odoo") == "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:odoo"
    cm = kc.Resource("", "v1", "ConfigMap", "configmaps", True)
    assert cm.path("ns", "a b") == "/api/v1/namespaces/ns/configmaps/a%20b"
    assert cm.path("ns") == "/api/v1/namespaces/ns/configmaps"
    assert kc.split_api_version("apps/v1") == ("apps", "v1") and kc.split_api_version("v1") == ("", "v1")


def test_api_error_carries_status_message():
    body = json.dumps({"kind": "Status", "message": 'configmaps "x" not found', "reason": "NotFound", "code": 404})
    err = kc.api_error(404, body.encode(), "GET", "/api/v1/namespaces/a/configmaps/x")
    assert (err.status, err.reason, err.message, err.not_found) == (404, "NotFound", 'configmaps "x" not found', True)
    err = kc.api_error(502, b"<html>bad gateway</html>", "GET", "/")
    assert err.message == "<html>bad gateway</html>" and err.reason == "HTTP502"


def test_transport_rejects_unsupported_urls():
    with pytest.raises(KubeConfigError, match="not an http"):
        kc.Transport("ftp://x")
    with pytest.raises(KubeConfigError, match="only http:// proxies"):
        kc.Transport("https://x", proxy_url="socks5://p:1080")
