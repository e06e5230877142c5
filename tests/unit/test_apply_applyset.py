"""Unit tests of the ApplySet specification helpers and the engine's pure parts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.apply import ApplyError, engine  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.apply import applyset as aset  # noqa: E402


def test_applyset_id_matches_the_specification():
    # applyset-<base64url(sha256("<name>.<namespace>.<Kind>.<group>")), unpadded>-v1; the value for a
    # Secret parent was cross-checked with kubectl (tests/integration/test_apply_set.py does it live).
    assert (
        aset.applyset_id("odoo-acme-dev", "odoo-acme-dev") == "applyset-mUobdH3_SeR-66jflUzkyxtgn6X1eos2yB9Q5b3JEN8-v1"
    )
    assert aset.applyset_id("demo", "default", "ConfigMap") == "applyset-6dAHdOng1govwjgvU19ChjzFH8yFbMYk2yCB2_KxvME-v1"


def test_applyset_id_is_a_valid_label_value_and_depends_on_every_part():
    ids = {
        aset.applyset_id("a", "ns"),
        aset.applyset_id("b", "ns"),
        aset.applyset_id("a", "ns2"),
        aset.applyset_id("a", "ns", "ConfigMap"),
        aset.applyset_id("a", "ns", "Secret", "example.com"),
    }
    assert len(ids) == 5
    for value in ids:
        assert len(value) <= 63
        assert value[0].isalnum() and value[-1].isalnum()
        assert set(value) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("odoo-acme", ("Secret", "odoo-acme")),
        ("secret/x", ("Secret", "x")),
        ("configmap/x", ("ConfigMap", "x")),
        ("ConfigMaps/x", ("ConfigMap", "x")),
    ],
)
def test_parse_parent_ref(ref, expected):
    assert aset.parse_parent_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "deployment/x", "secret/"])
def test_parse_parent_ref_rejects(ref):
    with pytest.raises(ApplyError, match="applyset"):
        aset.parse_parent_ref(ref)


def test_group_kinds_annotation_format_is_sorted_and_core_kinds_bare():
    gks = {
        ("apps", "Deployment"),
        ("", "Secret"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("", "ConfigMap"),
    }
    text = aset.format_group_kinds(gks)
    assert text == "ClusterRoleBinding.rbac.authorization.k8s.io,ConfigMap,Deployment.apps,Secret"
    assert aset.parse_group_kinds(text) == gks
    assert aset.parse_group_kinds("") == set()


def test_namespaces_annotation_leaves_out_the_parent_namespace():
    assert aset.format_namespaces({"b", "a", "home", None}, "home") == "a,b"
    assert aset.parse_namespaces("a,b") == {"a", "b"}


def _parent(tooling="governed.odoo/v0.1.0", set_id=None, gks="ConfigMap,Deployment.apps", ns=""):
    return {
        "metadata": {
            "labels": {aset.ID_LABEL: set_id or aset.applyset_id("p", "ns")},
            "annotations": {
                aset.TOOLING_ANNOTATION: tooling,
                aset.GROUP_KINDS_ANNOTATION: gks,
                aset.NAMESPACES_ANNOTATION: ns,
            },
        }
    }


def test_read_parent_accepts_our_own_and_reads_its_kinds():
    state = aset.read_parent(_parent(ns="other"), aset.applyset_id("p", "ns"), "Secret ns/p")
    assert state.exists
    assert state.group_kinds == {("", "ConfigMap"), ("apps", "Deployment")}
    assert state.namespaces == {"other"}
    assert not aset.read_parent(None, "x", "Secret ns/p").exists


def test_read_parent_refuses_another_tool_and_a_wrong_id():
    with pytest.raises(ApplyError, match=r"managed by 'kubectl/v1\.30'"):
        aset.read_parent(_parent(tooling="kubectl/v1.30"), aset.applyset_id("p", "ns"), "Secret ns/p")
    with pytest.raises(ApplyError, match="expected"):
        aset.read_parent(_parent(set_id="applyset-other-v1"), aset.applyset_id("p", "ns"), "Secret ns/p")
    plain = {"metadata": {"name": "p"}}
    with pytest.raises(ApplyError, match="not an ApplySet parent"):
        aset.read_parent(plain, aset.applyset_id("p", "ns"), "Secret ns/p")


def test_parent_manifest_and_up_to_date():
    set_id = aset.applyset_id("p", "ns")
    m = aset.parent_manifest("Secret", "p", "ns", set_id, {("apps", "Deployment"), ("", "ConfigMap")}, {"ns", "x"})
    ann = m["metadata"]["annotations"]
    assert ann[aset.GROUP_KINDS_ANNOTATION] == "ConfigMap,Deployment.apps"
    assert ann[aset.NAMESPACES_ANNOTATION] == "x"
    assert ann[aset.TOOLING_ANNOTATION] == aset.TOOLING
    assert m["metadata"]["labels"] == {aset.ID_LABEL: set_id}
    live = {"metadata": {"labels": dict(m["metadata"]["labels"]), "annotations": dict(ann)}}
    assert aset.parent_up_to_date(live, m)
    live["metadata"]["annotations"][aset.GROUP_KINDS_ANNOTATION] = "ConfigMap"
    assert not aset.parent_up_to_date(live, m)
    assert not aset.parent_up_to_date(None, m)


@pytest.mark.parametrize(
    ("group", "kind", "namespaced", "phase"),
    [
        ("", "Namespace", False, engine.PHASE_NAMESPACE_CRD),
        ("apiextensions.k8s.io", "CustomResourceDefinition", False, engine.PHASE_NAMESPACE_CRD),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", False, engine.PHASE_CLUSTER),
        ("", "Secret", True, engine.PHASE_CONFIG),
        ("apps", "Deployment", True, engine.PHASE_WORKLOAD),
        ("traefik.io", "IngressRoute", True, engine.PHASE_REST),
    ],
)
def test_phase_order(group, kind, namespaced, phase):
    assert engine.phase_of(group, kind, namespaced) == phase


def test_phases_put_namespaces_first_and_workloads_after_config():
    assert engine.PHASE_NAMESPACE_CRD < engine.PHASE_CLUSTER < engine.PHASE_CONFIG < engine.PHASE_WORKLOAD


def _deploy(replicas=2, generation=2, observed=2, updated=2, total=2, available=2, conditions=()):
    return {
        "kind": "Deployment",
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "replicas": total,
            "availableReplicas": available,
            "conditions": list(conditions),
        },
    }


def test_rollout_status_deployment():
    assert engine.rollout_status(_deploy())[0]
    assert not engine.rollout_status(_deploy(observed=1))[0]
    assert not engine.rollout_status(_deploy(updated=1))[0]
    assert not engine.rollout_status(_deploy(total=3))[0]  # an old replica is still there
    assert not engine.rollout_status(_deploy(available=1))[0]
    stalled = _deploy(updated=1, conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}])
    assert "progress deadline" in engine.rollout_status(stalled)[1]
    assert engine.rollout_status(_deploy(replicas=0, updated=0, total=0, available=0))[0]


def test_rollout_status_job_and_statefulset():
    job = {"kind": "Job", "metadata": {}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert engine.rollout_status(job)[0]
    failed = {
        "kind": "Job",
        "metadata": {},
        "status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]},
    }
    assert "BackoffLimitExceeded" in engine.rollout_status(failed)[1]
    sts = {
        "kind": "StatefulSet",
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "updatedReplicas": 1,
            "currentRevision": "r1",
            "updateRevision": "r1",
        },
    }
    assert engine.rollout_status(sts)[0]
    sts["status"]["updateRevision"] = "r2"
    assert not engine.rollout_status(sts)[0]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ("nope", r"objects\[0\] is a str"),
        ({"kind": "ConfigMap", "metadata": {"name": "x"}}, r"objects\[0\] \(ConfigMap\) lacks apiVersion"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "lacks metadata.name"),
    ],
)
def test_validate_names_the_offending_entry(obj, message):
    with pytest.raises(ApplyError, match=message):
        engine._validate(0, obj, "default")


def test_validate_strips_server_fields_and_status():
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "status": {"x": 1},
        "metadata": {"name": "x", "resourceVersion": "1", "uid": "u", "creationTimestamp": None, "labels": {}},
    }
    out = engine._validate(0, obj, "ns")
    assert "status" not in out
    assert out["metadata"] == {"name": "x", "_defaultNamespace": "ns"}
    assert obj["metadata"]["resourceVersion"] == "1"  # the input is not modified


def test_validate_turns_string_map_scalars_into_strings():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"v": 1.5, "on": True}},
           "data": {"workers": 4, "debug": False, "name": "odoo"}}
    out = engine._validate(0, obj, "ns")
    assert out["data"] == {"workers": "4", "debug": "false", "name": "odoo"}
    assert out["metadata"]["labels"] == {"v": "1.5", "on": "true"}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"pin": 1234}}
    assert engine._validate(0, secret, "ns")["stringData"] == {"pin": "1234"}
    with pytest.raises(ApplyError, match=r"objects\[3\].data.nested must be a string, got dict"):
        engine._validate(3, {**obj, "data": {"nested": {"a": 1}}}, "ns")
