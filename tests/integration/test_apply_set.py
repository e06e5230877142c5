"""governed.odoo.k8s_apply_set against the lab's real kube-apiserver (kwok nodes).

One ApplySet of a dozen objects (Namespace, ClusterRole, ClusterRoleBinding, ServiceAccount,
ConfigMap, two Secrets, ResourceQuota, Deployment, Service, NetworkPolicy, RoleBinding) goes
through its life: check mode on nothing, create, rerun (nothing written), change one, drop
some (pruned, cluster-scoped ones too), drop the Namespace (kept), and a playbook run.
Requests are counted by the module's own client and returned as ``api_requests``; resource
versions confirm on the server's side that a rerun changed nothing.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from _modrun import ROOT, run_module_raw
from ansible_collections.governed.odoo.plugins.module_utils.apply import applyset as aset
from ansible_collections.governed.odoo.plugins.module_utils.apply.client import (
    KubeAPIError,
    client_from_options,
)

CONNECTION = ROOT / ".lab" / "connection.json"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
SECRET_VALUE = "pa55-w0rd-never-shown"
DB_URL = "postgresql://odoo:db-s3cret-value@pg:5432/odoo"

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    try:
        conf = json.loads(CONNECTION.read_text())
    except (OSError, ValueError):
        pytest.skip(f"lab not up: {CONNECTION} is missing or unreadable (scripts/lab up)")
    cp = conf.get("controlplane")
    if not cp or not cp.get("kubeconfig"):
        pytest.skip(f"lab control plane not up: {CONNECTION} has no controlplane.kubeconfig")
    client = client_from_options(kubeconfig=cp["kubeconfig"])
    try:
        client.get("/version")
    except KubeAPIError as exc:
        pytest.skip(f"lab API server not reachable: {exc}")
    return {"kubeconfig": cp["kubeconfig"], "client": client, "kubectl": cp.get("kubectl") or shutil.which("kubectl")}


@pytest.fixture(scope="module")
def names():
    suffix = uuid.uuid4().hex[:6]
    return {
        "ns": f"gov-it-{suffix}",
        "set": f"gov-it-{suffix}",
        "crb": f"gov-it-{suffix}-view",
        "cr": f"gov-it-{suffix}-reader",
    }


def objects(n):
    ns = n["ns"]
    labels = {"app.kubernetes.io/name": "odoo", "app.kubernetes.io/instance": ns}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": "odoo"}}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": n["cr"]},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": n["crb"]},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": n["cr"]},
            "subjects": [{"kind": "ServiceAccount", "name": "odoo", "namespace": ns}],
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "odoo"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "odoo-config", "labels": labels},
            "data": {"workers": "2", "log_level": "info"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "odoo-admin"},
            "type": "Opaque",
            "stringData": {"admin_passwd": SECRET_VALUE},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "odoo-db"},
            "type": "Opaque",
            "data": {"url": base64.b64encode(DB_URL.encode()).decode()},
        },
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "odoo"},
            "spec": {"hard": {"requests.cpu": "4", "requests.memory": "8192Mi", "limits.cpu": 8, "pods": "20"}},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "odoo", "labels": labels},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "odoo",
                        "containers": [
                            {
                                "name": "odoo",
                                "image": "odoo:17.0",
                                "args": ["--workers", "2"],
                                "ports": [{"name": "http", "containerPort": 8069}],
                                "env": [
                                    {"name": "PGHOST", "value": "pg"},
                                    {
                                        "name": "ADMIN",
                                        "valueFrom": {"secretKeyRef": {"name": "odoo-admin", "key": "admin_passwd"}},
                                    },
                                ],
                                "resources": {
                                    "requests": {"cpu": "0.5", "memory": "1024Mi"},
                                    "limits": {"cpu": 1, "memory": "2Gi"},
                                },
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "odoo", "labels": labels},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "odoo-ingress"},
            "spec": {
                "podSelector": {"matchLabels": labels},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 8069}]}],
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "odoo-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "odoo", "namespace": ns}],
        },
    ]


def find(objs, kind, name=None):
    return next(o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name))


def current(n, drop=(), workers="4"):
    """The declared set as the tests left it: ConfigMap workers changed, ``drop`` kinds removed."""
    objs = [o for o in objects(n) if o["kind"] not in drop]
    find(objs, "ConfigMap")["data"]["workers"] = workers
    return objs


def run(lab, n, objs, check=False, diff=False, **kw):
    args = {"kubeconfig": lab["kubeconfig"], "applyset": n["set"], "namespace": n["ns"], "objects": objs}
    args.update(kw)
    res, raw = run_module_raw("k8s_apply_set", args, check_mode=check, diff=diff)
    assert SECRET_VALUE not in raw and DB_URL not in raw
    assert base64.b64encode(DB_URL.encode()).decode() not in raw
    return res


def writes(res):
    return {k: v for k, v in res["api_requests"].items() if k in WRITES}


def actions(res):
    return {(a["kind"], a["name"]): a["action"] for a in res["applied"]}


def versions(lab, n):
    """resourceVersion of every member, read straight from the server."""
    c = lab["client"]
    ns = n["ns"]
    paths = [
        f"/api/v1/namespaces/{ns}",
        f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{n['cr']}",
        f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{n['crb']}",
        f"/api/v1/namespaces/{ns}/secrets/{n['set']}",
    ]
    for plural, name in (
        ("serviceaccounts", "odoo"),
        ("configmaps", "odoo-config"),
        ("secrets", "odoo-admin"),
        ("secrets", "odoo-db"),
        ("resourcequotas", "odoo"),
        ("services", "odoo"),
    ):
        paths.append(f"/api/v1/namespaces/{ns}/{plural}/{name}")
    paths.append(f"/apis/apps/v1/namespaces/{ns}/deployments/odoo")
    paths.append(f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/odoo-ingress")
    out = {}
    for p in paths:
        try:
            obj = c.get(p)
        except KubeAPIError as exc:
            if exc.not_found:
                continue
            raise
        # status updates by controllers (quota usage, deployment status) do not count: compare spec-side
        # state through generation for those with one, resourceVersion for the rest
        meta = obj["metadata"]
        managed = [e for e in meta.get("managedFields") or [] if e.get("manager", "").startswith("governed.odoo")]
        out[p] = (
            meta.get("generation"),
            json.dumps(managed, sort_keys=True),
            json.dumps({k: v for k, v in obj.items() if k not in ("metadata", "status")}, sort_keys=True),
        )
    return out


@pytest.fixture(scope="module", autouse=True)
def cleanup(lab, names):
    yield
    c = lab["client"]
    for path in (
        f"/api/v1/namespaces/{names['ns']}",
        f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{names['crb']}",
        f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{names['cr']}",
    ):
        with contextlib.suppress(KubeAPIError):
            c.request("DELETE", path)


def test_01_check_mode_on_an_empty_cluster_creates_nothing(lab, names):
    objs = objects(names)
    res = run(lab, names, objs, check=True, diff=True)
    assert not res.get("failed"), res
    assert res["changed"] is True
    assert set(actions(res).values()) == {"created"}
    assert len(res["applied"]) == len(objs)
    assert writes(res) == {}
    assert len(res["diff"]) == len(objs)
    with pytest.raises(KubeAPIError) as err:
        lab["client"].get(f"/api/v1/namespaces/{names['ns']}")
    assert err.value.not_found


def test_02_first_apply_creates_every_object_and_the_parent(lab, names):
    objs = objects(names)
    res = run(lab, names, objs)
    assert not res.get("failed"), res
    assert res["changed"] is True
    assert set(actions(res).values()) == {"created"}, res["applied"]
    set_id = aset.applyset_id(names["set"], names["ns"])
    assert res["applyset_id"] == set_id
    c = lab["client"]
    parent = c.get(f"/api/v1/namespaces/{names['ns']}/secrets/{names['set']}")
    assert parent["metadata"]["labels"][aset.ID_LABEL] == set_id
    ann = parent["metadata"]["annotations"]
    assert ann[aset.TOOLING_ANNOTATION].startswith("governed.odoo/")
    assert ann[aset.GROUP_KINDS_ANNOTATION] == (
        "ClusterRole.rbac.authorization.k8s.io,ClusterRoleBinding.rbac.authorization.k8s.io,ConfigMap,"
        "Deployment.apps,Namespace,NetworkPolicy.networking.k8s.io,ResourceQuota,RoleBinding.rbac.authorization.k8s.io,"
        "Secret,Service,ServiceAccount"
    )
    crb = c.get(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{names['crb']}")
    assert crb["metadata"]["labels"][aset.PART_OF_LABEL] == set_id
    dep = c.get(f"/apis/apps/v1/namespaces/{names['ns']}/deployments/odoo")
    assert dep["metadata"]["labels"][aset.PART_OF_LABEL] == set_id
    # one parent write, one apply per object, nothing else
    assert writes(res) == {"PATCH": len(objs) + 1}


def test_03_rerun_is_unchanged_and_writes_nothing(lab, names):
    before = versions(lab, names)
    res = run(lab, names, objects(names))
    assert not res.get("failed"), res
    assert res["changed"] is False
    assert set(actions(res).values()) == {"unchanged"}, res["applied"]
    assert res["pruned"] == []
    assert writes(res) == {}, res["api_requests"]
    assert "PATCH?dryRun" not in res["api_requests"]  # decided locally, not by dry runs
    assert versions(lab, names) == before
    # check mode agrees, also without a single request that could write
    res = run(lab, names, objects(names), check=True, diff=True)
    assert res["changed"] is False and res["diff"] == []
    assert writes(res) == {} and "PATCH?dryRun" not in res["api_requests"]


def test_04_applyset_id_is_the_one_kubectl_computes(lab, names, tmp_path):
    if not lab["kubectl"]:
        pytest.skip("kubectl not found")
    ns = names["ns"]
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "kubectl-made", "namespace": ns},
                "data": {"a": "b"},
            }
        )
    )
    env = dict(os.environ, KUBECTL_APPLYSET="true")
    proc = subprocess.run(
        [
            lab["kubectl"],
            "--kubeconfig",
            lab["kubeconfig"],
            "apply",
            "--server-side",
            "--prune",
            "--applyset=kubectl-set",
            "-n",
            ns,
            "-f",
            str(manifest),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    parent = lab["client"].get(f"/api/v1/namespaces/{ns}/secrets/kubectl-set")
    assert parent["metadata"]["labels"][aset.ID_LABEL] == aset.applyset_id("kubectl-set", ns)
    # and the set kubectl made is kubectl's: we refuse to take it over
    res = run(lab, {**names, "set": "kubectl-set"}, [])
    assert res["failed"] and "managed by 'kubectl/" in res["msg"]
    lab["client"].request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/kubectl-made")
    lab["client"].request("DELETE", f"/api/v1/namespaces/{ns}/secrets/kubectl-set")


def test_05_change_one_object_configures_only_that_one(lab, names):
    objs = current(names)  # the ConfigMap's workers changed
    res = run(lab, names, objs, check=True, diff=True)
    assert [k for k, v in actions(res).items() if v != "unchanged"] == [("ConfigMap", "odoo-config")]
    assert writes(res) == {}
    (entry,) = res["diff"]
    assert "workers: '2'" in entry["before"] and "workers: '4'" in entry["after"]
    assert "managedFields" not in entry["before"] + entry["after"]
    assert "resourceVersion" not in entry["after"] and "uid:" not in entry["after"]
    live = lab["client"].get(f"/api/v1/namespaces/{names['ns']}/configmaps/odoo-config")
    assert live["data"]["workers"] == "2"  # check mode changed nothing

    res = run(lab, names, objs)
    assert [k for k, v in actions(res).items() if v != "unchanged"] == [("ConfigMap", "odoo-config")]
    assert res["changed"] is True
    assert writes(res) == {"PATCH": 1}
    live = lab["client"].get(f"/api/v1/namespaces/{names['ns']}/configmaps/odoo-config")
    assert live["data"]["workers"] == "4"


def test_06_secret_diff_is_redacted(lab, names):
    objs = current(names)
    find(objs, "Secret", "odoo-admin")["stringData"]["admin_passwd"] = "another-secret-value-xyz"
    res = run(lab, names, objs, check=True, diff=True)
    assert [k for k, v in actions(res).items() if v != "unchanged"] == [("Secret", "odoo-admin")]
    text = json.dumps(res)
    assert "another-secret-value-xyz" not in text
    assert base64.b64encode(b"another-secret-value-xyz").decode() not in text
    (entry,) = res["diff"]
    assert "admin_passwd: '<redacted: previous value>'" in entry["before"]
    assert "admin_passwd: '<redacted: changed>'" in entry["after"]
    # reported arguments are redacted too
    shown = [o for o in res["invocation"]["module_args"]["objects"] if o["kind"] == "Secret"]
    assert all(
        set(o.get("stringData", o.get("data")).values()) == {"VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"} for o in shown
    )


def test_07_dropped_objects_are_pruned_cluster_scoped_too(lab, names):
    kept = current(names, drop=("Service", "ClusterRoleBinding"))
    res = run(lab, names, kept, check=True, diff=True)
    assert sorted((p["kind"], p["name"]) for p in res["pruned"]) == [
        ("ClusterRoleBinding", names["crb"]),
        ("Service", "odoo"),
    ]
    assert writes(res) == {}
    assert res["api_requests"].get("DELETE?dryRun") == 2
    assert {e["after_header"] for e in res["diff"]} == {
        f"ClusterRoleBinding {names['crb']} (pruned)",
        f"Service {names['ns']}/odoo (pruned)",
    }
    lab["client"].get(f"/api/v1/namespaces/{names['ns']}/services/odoo")  # still there

    res = run(lab, names, kept)
    assert not res.get("failed"), res
    assert res["changed"] is True
    assert set(actions(res).values()) == {"unchanged"}
    assert sorted((p["kind"], p["name"], p["action"]) for p in res["pruned"]) == [
        ("ClusterRoleBinding", names["crb"], "pruned"),
        ("Service", "odoo", "pruned"),
    ]
    for path in (
        f"/api/v1/namespaces/{names['ns']}/services/odoo",
        f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{names['crb']}",
    ):
        with pytest.raises(KubeAPIError) as err:
            lab["client"].get(path)
        assert err.value.not_found
    # two deletes and the parent's annotation narrowed once
    assert writes(res) == {"DELETE": 2, "PATCH": 1}
    parent = lab["client"].get(f"/api/v1/namespaces/{names['ns']}/secrets/{names['set']}")
    gks = parent["metadata"]["annotations"][aset.GROUP_KINDS_ANNOTATION]
    assert "ClusterRoleBinding" not in gks and ",Service," not in gks
    res = run(lab, names, kept)
    assert res["changed"] is False and writes(res) == {}


def test_08_namespace_is_never_pruned_unless_allowed(lab, names):
    objs = current(names, drop=("Service", "ClusterRoleBinding", "Namespace"))
    res = run(lab, names, objs)
    assert not res.get("failed"), res
    assert res["pruned"] == []
    assert [(r["kind"], r["name"]) for r in res["retained"]] == [("Namespace", names["ns"])]
    assert "allow_namespace_prune" in json.dumps(res.get("warnings"))
    assert lab["client"].get(f"/api/v1/namespaces/{names['ns']}")["status"]["phase"] == "Active"


def test_09_conflicts_and_invalid_objects_fail_naming_the_object(lab, names):
    c = lab["client"]
    ns = names["ns"]
    # another manager takes workers; without force the apply reports the conflict
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "odoo-config", "namespace": ns},
        "data": {"workers": "8"},
    }
    c.send(
        "PATCH",
        f"/api/v1/namespaces/{ns}/configmaps/odoo-config",
        query={"fieldManager": "someone-else", "force": "true"},
        body=cm,
        content_type="application/apply-patch+yaml",
    )
    objs = current(names, drop=("Service", "ClusterRoleBinding", "Namespace"))
    res = run(lab, names, objs, force_conflicts=False)
    assert res["failed"] is True
    assert res["error"]["kind"] == "ConfigMap" and res["error"]["name"] == "odoo-config"
    assert res["error"]["status"] == 409 and "force_conflicts" in res["msg"]
    res = run(lab, names, objs)  # force (the default) takes the field back
    assert actions(res)[("ConfigMap", "odoo-config")] == "configured"
    assert c.get(f"/api/v1/namespaces/{ns}/configmaps/odoo-config")["data"]["workers"] == "4"

    bad = copy.deepcopy(objs)
    find(bad, "Deployment")["spec"]["replicas"] = -1
    res = run(lab, names, bad)
    assert res["failed"] is True
    assert (res["error"]["kind"], res["error"]["name"], res["error"]["namespace"]) == ("Deployment", "odoo", ns)
    assert res["error"]["status"] == 422 and "replicas" in res["msg"]

    typo = copy.deepcopy(objs)
    find(typo, "ConfigMap")["dta"] = {"x": "y"}
    res = run(lab, names, typo)
    assert res["failed"] and "dta" in res["msg"]  # strict field validation


def test_10_wait_for_rollout(lab, names):
    objs = current(names, drop=("Service", "ClusterRoleBinding", "Namespace"))
    find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"] = "odoo:17.0-new"
    t0 = time.monotonic()
    res = run(lab, names, objs, wait=True, wait_timeout=120)
    assert not res.get("failed"), res
    assert actions(res)[("Deployment", "odoo")] == "configured"
    live = lab["client"].get(f"/apis/apps/v1/namespaces/{names['ns']}/deployments/odoo")
    st = live["status"]
    assert st["observedGeneration"] >= live["metadata"]["generation"]
    assert st["updatedReplicas"] == st["availableReplicas"] == 2
    assert time.monotonic() - t0 < 120


def test_11_playbook_wires_module_defaults_group(lab, names, tmp_path):
    objs = current(names, drop=("Service", "ClusterRoleBinding", "Namespace"))
    find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"] = "odoo:17.0-new"
    play = [
        {
            "name": "k8s_apply_set through ansible-playbook",
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/governed.odoo.all": {"kubeconfig": lab["kubeconfig"]}},
            "tasks": [
                {
                    "name": "Apply the set",
                    "governed.odoo.k8s_apply_set": {
                        "applyset": names["set"],
                        "namespace": names["ns"],
                        "objects": objs,
                    },
                    "register": "out",
                },
                {
                    "name": "Nothing changed and nothing was written",
                    "ansible.builtin.assert": {
                        "that": [
                            "out is not changed",
                            f"out.applied | length == {len(objs)}",
                            "out.applied | map(attribute='action') | unique == ['unchanged']",
                            "out.api_requests.PATCH is not defined",
                        ]
                    },
                },
            ],
        }
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ)
    cfg = ROOT / "ansible.cfg"
    if cfg.exists():
        env["ANSIBLE_CONFIG"] = str(cfg)
    else:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    env.pop("K8S_AUTH_KUBECONFIG", None)
    env.pop("KUBECONFIG", None)
    # implicit localhost: the module runs under the playbook's own Python (the venv)
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(playbook)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "changed=0" in proc.stdout and "failed=0" in proc.stdout
    assert SECRET_VALUE not in proc.stdout + proc.stderr


def test_12_crd_and_its_custom_resources_in_one_set(lab, names):
    group = f"{names['ns']}.governed.test"
    ns = f"{names['ns']}-crd"
    n = {**names, "ns": ns, "set": "widgets"}
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "properties": {"spec": {"type": "object", "properties": {
                    "size": {"type": "integer"}, "color": {"type": "string", "default": "blue"}}}}}}}],
        },
    }
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    objs = [widget, crd, namespace]  # declared in any order; applied Namespace/CRD first
    c = lab["client"]
    try:
        res = run(lab, n, objs, check=True)
        assert not res.get("failed"), res
        assert set(actions(res).values()) == {"created"} and writes(res) == {}
        assert "not validated by the server" in json.dumps(res.get("warnings"))

        res = run(lab, n, objs)
        assert not res.get("failed"), res
        assert set(actions(res).values()) == {"created"}
        live = c.get(f"/apis/{group}/v1/namespaces/{ns}/widgets/w1")
        assert live["spec"] == {"size": 3, "color": "blue"}  # defaulted by the CRD schema

        res = run(lab, n, objs)
        assert set(actions(res).values()) == {"unchanged"} and writes(res) == {}, res

        res = run(lab, n, [namespace])
        assert not res.get("failed"), res
        assert [(p["kind"], p["name"]) for p in res["pruned"]] == [
            ("CustomResourceDefinition", f"widgets.{group}"), ("Widget", "w1")]
        assert writes(res)["DELETE"] == 2
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                c.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}")
            except KubeAPIError as exc:
                assert exc.not_found
                break
            time.sleep(0.5)
        else:
            pytest.fail("the pruned CRD is still there after 60s")
    finally:
        for path in (f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.{group}",
                     f"/api/v1/namespaces/{ns}"):
            with contextlib.suppress(KubeAPIError):
                c.request("DELETE", path)


def platform_objects(ns):
    """More kinds the roles render, each with fields the API server defaults or canonicalizes."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "pg"}, "spec": {
            "serviceName": "pg", "replicas": 1, "selector": {"matchLabels": {"app": "pg"}},
            "template": {"metadata": {"labels": {"app": "pg"}}, "spec": {
                "containers": [{"name": "pg", "image": "postgres:16",
                                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}],
                                "readinessProbe": {"exec": {"command": ["pg_isready"]}},
                                "securityContext": {"runAsUser": 999}}],
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                        "labelSelector": {"matchLabels": {"app": "pg"}}}}]}},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}]}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup"}, "spec": {
            "schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{"name": "b", "image": "busybox", "command": ["sh", "-c", "echo hi"]}]}}}}}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {
            "name": "odoo", "annotations": {"traefik.ingress.kubernetes.io/router.entrypoints": "websecure"}},
         "spec": {"rules": [{"host": "odoo.example", "http": {"paths": [{
             "path": "/", "pathType": "Prefix", "backend": {"service": {"name": "odoo", "port": {"number": 80}}}}]}}],
             "tls": [{"hosts": ["odoo.example"], "secretName": "odoo-tls"}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pg"},
         "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "pg"}}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "odoo"}, "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "odoo"},
            "minReplicas": 1, "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 80}}}]}},
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults"}, "spec": {"limits": [{
            "type": "Container", "default": {"cpu": 1, "memory": "512Mi"},
            "defaultRequest": {"cpu": "0.1", "memory": "256Mi"}}]}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "filestore"},
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typed", "labels": {"version": 17}},
         "data": {"workers": 4, "proxy_mode": True}},
    ]


def test_13_more_kinds_rerun_without_requests_that_write(lab, names):
    ns = f"{names['ns']}-kinds"
    n = {**names, "ns": ns, "set": "platform"}
    objs = platform_objects(ns)
    try:
        res = run(lab, n, objs)
        assert not res.get("failed"), res
        assert set(actions(res).values()) == {"created"}
        cm = lab["client"].get(f"/api/v1/namespaces/{ns}/configmaps/typed")
        assert cm["data"] == {"workers": "4", "proxy_mode": "true"} and cm["metadata"]["labels"]["version"] == "17"
        for check in (False, True):
            res = run(lab, n, objs, check=check)
            assert set(actions(res).values()) == {"unchanged"}, res["applied"]
            assert writes(res) == {} and "PATCH?dryRun" not in res["api_requests"], res["api_requests"]
    finally:
        with contextlib.suppress(KubeAPIError):
            lab["client"].request("DELETE", f"/api/v1/namespaces/{ns}")
