"""k8s_apply_set's validate_only: every object that would change is sent as a dry run, every refusal is collected,
objects of a Namespace the set creates go to the stand-in namespace, and nothing is written.

A small in-memory API stands in for the server here (discovery, GET, LIST and apply); the lab test
tests/integration/test_apply_validate_lab.py runs the same against the real kube-apiserver.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.apply import (  # noqa: E402
    ApplyError,
    KubeAPIError,
    engine,
)

DISCOVERY = {
    "/api/v1": [("Namespace", "namespaces", False), ("ConfigMap", "configmaps", True), ("Service", "services", True)],
    "/apis/apps/v1": [("Deployment", "deployments", True)],
}


class FakeAPI:
    """Answers discovery, GETs (existing namespaces only) and dry-run applies; refuses what ``refuse`` names."""

    def __init__(self, namespaces=("default",), refuse=None):
        self.namespaces = set(namespaces)
        self.refuse = refuse or {}
        self.applied = []  # (path, dryRun)
        self.stats = {}

    def get(self, path, **_query):
        if path in DISCOVERY:
            return {
                "resources": [
                    {"kind": k, "name": n, "namespaced": ns, "verbs": ["list"]} for k, n, ns in DISCOVERY[path]
                ]
            }
        if path.startswith("/api/v1/namespaces/") and path.count("/") == 4:
            name = path.rsplit("/", 1)[1]
            if name in self.namespaces:
                return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        raise KubeAPIError("not found", status=404, reason="NotFound")

    def apply(self, resource, obj, _field_manager, force=False, dry_run=False, validation="Strict"):
        del force, validation
        meta = obj["metadata"]
        path = resource.path(meta.get("namespace"), meta["name"])
        self.applied.append((path, dry_run))
        if meta.get("namespace") and meta["namespace"] not in self.namespaces:
            raise KubeAPIError(f'namespaces "{meta["namespace"]}" not found', status=404, reason="NotFound")
        if meta["name"] in self.refuse:
            raise KubeAPIError(self.refuse[meta["name"]], status=422, reason="Invalid")
        return 201, obj


def objects(ns="new-ns"):
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": ns},
            "data": {"a": "1"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": -1},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"ports": [{"port": 0}]},
        },
    ]


def run(api, objs, **options):
    return engine.apply_set(api, objs, "odoo-x", namespace="new-ns", validate_only=True, **options)


def test_every_refusal_is_collected_and_nothing_is_written():
    api = FakeAPI(refuse={"web": "spec: Invalid value"})
    result = run(api, objects())
    assert [(r["kind"], r["name"], r["index"]) for r in result.rejected] == [
        ("Deployment", "web", 2),
        ("Service", "web", 3),
    ]
    assert all(r["status"] == 422 and r["namespace"] == "new-ns" for r in result.rejected)
    assert api.applied and all(dry for _path, dry in api.applied), "a request was sent without dryRun"
    assert not result.changed
    summary = result.rejection_summary()
    assert "would refuse 2 object(s)" in summary and "Deployment new-ns/web" in summary
    assert {a["name"]: a["action"] for a in result.applied if a["kind"] != "Service"} == {
        "new-ns": "created",
        "settings": "created",
        "web": "rejected",
    }


def test_objects_of_a_namespace_the_set_creates_are_sent_to_the_stand_in():
    api = FakeAPI(namespaces=("default", "stand-in"))
    result = run(api, objects(), stand_in_namespace="stand-in")
    assert result.rejected == []
    paths = [p for p, _dry in api.applied]
    assert "/api/v1/namespaces/new-ns" in paths  # the Namespace itself, cluster-scoped
    assert "/api/v1/namespaces/stand-in/configmaps/settings" in paths
    assert "/apis/apps/v1/namespaces/stand-in/deployments/web" in paths
    assert not [p for p in paths if "/namespaces/new-ns/" in p]


def test_without_a_stand_in_the_missing_namespace_would_hide_every_other_problem():
    # what the stand-in is for: into a missing namespace the server answers NotFound for every object
    api = FakeAPI(refuse={"web": "spec: Invalid value"})
    result = run(api, objects(), stand_in_namespace="")
    assert result.rejected == []
    assert any("its Namespace does not exist yet" in w for w in result.warnings)


def test_a_stand_in_namespace_that_does_not_exist_is_named():
    with pytest.raises(ApplyError, match="stand_in_namespace nowhere cannot be read"):
        run(FakeAPI(), objects(), stand_in_namespace="nowhere")


def test_an_unknown_kind_is_one_more_rejection():
    objs = [*objects(), {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "x"}}]
    api = FakeAPI(refuse={"settings": "data: Invalid value"})
    result = run(api, objs)
    assert [(r["kind"], r["name"]) for r in result.rejected] == [("ConfigMap", "settings"), ("Widget", "w")]
    assert "does not serve kind Widget" in result.rejected[1]["message"]
    assert [a["action"] for a in result.applied] == ["created", "rejected", "created", "created", "rejected"]


def test_existing_namespace_objects_go_to_their_own_namespace():
    api = FakeAPI(namespaces=("default", "new-ns"))
    result = run(api, objects()[1:])
    assert result.rejected == []
    assert "/api/v1/namespaces/new-ns/configmaps/settings" in [p for p, _dry in api.applied]
