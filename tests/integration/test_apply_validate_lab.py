"""governed.odoo.k8s_apply_set with validate_only against the lab's real kube-apiserver.

One set in a namespace that does not exist yet holds six objects that only the API server refuses (negative
replicas, a container port of 70000, a probe without a handler, the quantity "8 GB", a Service port 0 and the
schedule "61 25 * * *") beside valid ones. The dry run names all six at once, sent into the stand-in namespace
(the API server would answer NotFound for the missing namespace before validating anything), and writes nothing:
no namespace, no object in the stand-in namespace, no ApplySet parent, not one request without dryRun.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _modrun import ROOT, run_module

LAB_DIR = ROOT / ".lab"
CONNECTION = LAB_DIR / "connection.json"
RUN_ID = secrets.token_hex(3)
NS = f"vo-{RUN_ID}"
STAND_IN = "default"
IMAGE = "registry.invalid/app@sha256:" + "ab" * 32
WRITES = ("POST", "PUT", "PATCH", "DELETE")

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    try:
        conf = json.loads(CONNECTION.read_text())
    except (OSError, ValueError):
        pytest.skip(f"lab not up: {CONNECTION} is missing (scripts/lab up)")
    cp = conf.get("controlplane") or {}
    if not cp.get("kubeconfig"):
        pytest.skip(f"lab not up: {CONNECTION} has no controlplane")
    kubectl = [cp.get("kubectl") or "kubectl", "--kubeconfig", cp["kubeconfig"]]
    if subprocess.run([*kubectl, "get", "--raw", "/readyz"], capture_output=True, check=False).returncode != 0:
        pytest.skip("lab API server not reachable")
    return {"kubeconfig": cp["kubeconfig"], "kubectl": kubectl}


def container(**more):
    return dict({"name": "app", "image": IMAGE}, **more)


def deployment(name, replicas=1, **container_fields):
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container(**container_fields)]}},
        },
    }


def good_objects():
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{NS}-settings", "namespace": NS},
            "data": {"workers": "2"},
        },
        deployment(f"{NS}-web", ports=[{"name": "http", "containerPort": 8069}]),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{NS}-web", "namespace": NS},
            "spec": {"selector": {"app": f"{NS}-web"}, "ports": [{"port": 8069, "targetPort": "http"}]},
        },
    ]


# name -> (object, a text the API server's refusal contains)
BAD = {
    f"{NS}-replicas": (deployment(f"{NS}-replicas", replicas=-1), "spec.replicas"),
    f"{NS}-port": (deployment(f"{NS}-port", ports=[{"containerPort": 70000}]), "containerPort"),
    f"{NS}-probe": (deployment(f"{NS}-probe", readinessProbe={"periodSeconds": 10}), "handler"),
    f"{NS}-quantity": (deployment(f"{NS}-quantity", resources={"limits": {"memory": "8 GB"}}), "quantities must match"),
    f"{NS}-svc": (
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{NS}-svc", "namespace": NS},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 0}]},
        },
        "spec.ports[0].port",
    ),
    f"{NS}-cron": (
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": f"{NS}-cron", "namespace": NS},
            "spec": {
                "schedule": "61 25 * * *",
                "jobTemplate": {
                    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container()]}}}
                },
            },
        },
        "spec.schedule",
    ),
}


def validate(lab, objects, **more):
    args = dict(
        kubeconfig=lab["kubeconfig"],
        applyset=f"governed-odoo-{NS}",
        namespace=NS,
        objects=objects,
        validate_only=True,
        stand_in_namespace=STAND_IN,
    )
    args.update(more)
    return run_module("k8s_apply_set", args)


def left_behind(lab):
    """What of the test's objects exists: its namespace, or any object of its names in the stand-in namespace."""
    found = []
    res = subprocess.run(
        [*lab["kubectl"], "get", "namespace", NS, "--ignore-not-found", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    )
    found += res.stdout.split()
    res = subprocess.run(
        [*lab["kubectl"], "-n", STAND_IN, "get", "deployments,services,configmaps,cronjobs,secrets", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    )
    found += [n for n in res.stdout.split() if NS in n]
    return found


def test_every_refusal_is_named_at_once_and_nothing_is_written(lab):
    objects = good_objects() + [obj for obj, _text in BAD.values()]
    result = validate(lab, objects)
    assert result.get("failed"), result
    rejected = {r["name"]: r for r in result["rejected"]}
    assert set(rejected) == set(BAD), json.dumps(result["rejected"], indent=1)
    for name, (_obj, text) in BAD.items():
        assert text in rejected[name]["message"], (name, rejected[name])
        assert rejected[name]["namespace"] == NS
        assert name in result["msg"]
    assert "would refuse 6 object(s)" in result["msg"]
    assert result["changed"] is False
    assert not [k for k in result["api_requests"] if k in WRITES], result["api_requests"]
    assert result["api_requests"].get("PATCH?dryRun", 0) >= len(objects)
    assert left_behind(lab) == []


def test_a_valid_set_passes_and_nothing_is_written(lab):
    result = validate(lab, good_objects())
    assert not result.get("failed"), result
    assert result["rejected"] == []
    assert result["changed"] is False
    assert [a["action"] for a in result["applied"]] == ["created"] * 4
    assert not [k for k in result["api_requests"] if k in WRITES], result["api_requests"]
    assert left_behind(lab) == []


def test_without_the_stand_in_the_missing_namespace_hides_the_refusals(lab):
    """Why the stand-in exists: into the missing namespace the objects could not be judged at all."""
    result = validate(lab, [*good_objects(), BAD[f"{NS}-replicas"][0]], stand_in_namespace="")
    assert not result.get("failed"), result
    # (ansible-core 2.21 reports warnings as structured events: search their text)
    assert "its Namespace does not exist yet" in json.dumps(result.get("warnings")), result
    assert left_behind(lab) == []
