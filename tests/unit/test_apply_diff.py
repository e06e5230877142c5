"""Unit tests of plugins/module_utils/apply/diff.py: local "would an apply change this?" and noise."""

from __future__ import annotations

import base64
import copy
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.apply import diff as d  # noqa: E402

FM = "governed.odoo"
PART_OF = "applyset.kubernetes.io/part-of"
SET_ID = "applyset-test-v1"


def k(**keys):
    """A fieldsV1 list key, as the API server writes it: k:{"name":"odoo"}."""
    return "k:" + json.dumps(keys, separators=(",", ":"))


DECLARED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", PART_OF: SET_ID}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "odoo",
                        "image": "odoo:17",
                        "args": ["--workers", "2"],
                        "ports": [{"containerPort": 8069}],
                        "resources": {"requests": {"cpu": "0.5", "memory": "1024Mi"}, "limits": {"memory": "2Gi"}},
                    }
                ]
            },
        },
    },
}

FIELDS = {
    "f:metadata": {"f:labels": {"f:app": {}, f"f:{PART_OF}": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {
                    k(name="odoo"): {
                        ".": {},
                        "f:args": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {k(containerPort=8069, protocol="TCP"): {".": {}, "f:containerPort": {}}},
                        "f:resources": {"f:limits": {"f:memory": {}}, "f:requests": {"f:cpu": {}, "f:memory": {}}},
                    }
                }
            },
        },
    },
}


def live_of(declared=None, fields=None, manager=FM):
    """The live object the API server keeps after applying DECLARED: defaults and canonical values."""
    live = copy.deepcopy(declared or DECLARED)
    fields = fields or FIELDS
    live["metadata"].update(
        {
            "uid": "0b7c",
            "resourceVersion": "1234",
            "generation": 1,
            "creationTimestamp": "2025-01-01T00:00:00Z",
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "managedFields": [
                {
                    "manager": manager,
                    "operation": "Apply",
                    "apiVersion": "apps/v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": fields,
                    "time": "2025-01-01T00:00:00Z",
                },
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "subresource": "status",
                    "fieldsV1": {"f:status": {}},
                },
            ],
        }
    )
    spec = live["spec"]
    spec.update(
        {
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        }
    )
    pod = spec["template"]["spec"]
    pod.update(
        {
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "terminationGracePeriodSeconds": 30,
        }
    )
    for c in pod["containers"]:
        c.update(
            {
                "imagePullPolicy": "IfNotPresent",
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }
        )
        for p in c.get("ports", []):
            p.setdefault("protocol", "TCP")
        res = c.get("resources", {})
        if res.get("requests", {}).get("cpu") == "0.5":
            res["requests"]["cpu"] = "500m"
        if res.get("requests", {}).get("memory") == "1024Mi":
            res["requests"]["memory"] = "1Gi"
    live["status"] = {"observedGeneration": 1, "replicas": 2, "availableReplicas": 2}
    return live


def test_unchanged_despite_defaults_and_canonical_quantities():
    verdict, path = d.compare(DECLARED, live_of(), FM)
    assert (verdict, path) == (d.UNCHANGED, None)


def test_changed_scalar_names_the_path():
    declared = copy.deepcopy(DECLARED)
    declared["spec"]["replicas"] = 3
    verdict, path = d.compare(declared, live_of(), FM)
    assert verdict == d.CHANGED
    assert path == "spec.replicas"


def test_changed_image_inside_keyed_list():
    declared = copy.deepcopy(DECLARED)
    declared["spec"]["template"]["spec"]["containers"][0]["image"] = "odoo:18"
    verdict, path = d.compare(declared, live_of(), FM)
    assert verdict == d.CHANGED
    assert path.endswith(".image")


def test_field_dropped_from_declaration_is_a_change():
    # we applied 'limits' before; not declaring it any more makes the apply remove it
    declared = copy.deepcopy(DECLARED)
    del declared["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    verdict, path = d.compare(declared, live_of(), FM)
    assert verdict == d.CHANGED
    assert path.endswith("resources.limits")


def test_new_label_not_owned_is_a_change():
    declared = copy.deepcopy(DECLARED)
    declared["metadata"]["labels"]["tier"] = "frontend"
    live = live_of()
    live["metadata"]["labels"]["tier"] = "frontend"  # same value, set by someone else
    verdict, path = d.compare(declared, live, FM)
    assert verdict == d.CHANGED
    assert path == "metadata.labels.tier"


def test_other_manager_only_is_a_change():
    verdict, path = d.compare(DECLARED, live_of(manager="kubectl"), FM)
    assert verdict == d.CHANGED
    assert path == "metadata.managedFields"


def test_absent_object_is_a_change():
    assert d.compare(DECLARED, None, FM)[0] == d.CHANGED


def test_added_container_is_a_change():
    declared = copy.deepcopy(DECLARED)
    declared["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    assert d.compare(declared, live_of(), FM)[0] == d.CHANGED


def test_reordered_keyed_list_is_unsure():
    c2 = {"name": "nginx", "image": "nginx:1"}
    declared = copy.deepcopy(DECLARED)
    declared["spec"]["template"]["spec"]["containers"].append(c2)
    fields = copy.deepcopy(FIELDS)
    fields["f:spec"]["f:template"]["f:spec"]["f:containers"][k(name="nginx")] = {".": {}, "f:name": {}, "f:image": {}}
    live = live_of(declared, fields)
    assert d.compare(declared, live, FM)[0] == d.UNCHANGED
    swapped = copy.deepcopy(declared)
    cs = swapped["spec"]["template"]["spec"]["containers"]
    cs.reverse()
    assert d.compare(swapped, live, FM)[0] == d.UNSURE


def test_int_and_string_numbers_are_equal():
    declared = copy.deepcopy(DECLARED)
    declared["spec"]["replicas"] = "2"
    declared["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8069"
    assert d.compare(declared, live_of(), FM)[0] == d.UNCHANGED


def test_atomic_list_with_extra_live_fields_is_unsure_and_different_is_changed():
    declared = copy.deepcopy(DECLARED)
    declared["spec"]["template"]["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    fields = copy.deepcopy(FIELDS)
    fields["f:spec"]["f:template"]["f:spec"]["f:tolerations"] = {}
    live = live_of(declared, fields)
    assert d.compare(declared, live, FM)[0] == d.UNCHANGED
    live["spec"]["template"]["spec"]["tolerations"][0]["effect"] = "NoSchedule"
    assert d.compare(declared, live, FM)[0] == d.UNSURE
    live["spec"]["template"]["spec"]["tolerations"][0]["key"] = "other"
    assert d.compare(declared, live, FM)[0] == d.CHANGED


def test_atomic_args_list_compares_exactly():
    declared = copy.deepcopy(DECLARED)
    declared["spec"]["template"]["spec"]["containers"][0]["args"] = ["--workers", "4"]
    verdict, path = d.compare(declared, live_of(), FM)
    assert verdict == d.CHANGED
    assert path.endswith(".args")


SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db", "namespace": "shop", "labels": {PART_OF: SET_ID}},
    "type": "Opaque",
    "stringData": {"password": "s3cr3t-pa55"},
}


def secret_live(value="s3cr3t-pa55", owned="f:stringData"):
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "shop",
            "labels": {PART_OF: SET_ID},
            "resourceVersion": "7",
            "managedFields": [
                {
                    "manager": FM,
                    "operation": "Apply",
                    "apiVersion": "v1",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {f"f:{PART_OF}": {}}},
                        owned: {"f:password": {}},
                        "f:type": {},
                    },
                }
            ],
        },
        "type": "Opaque",
        "data": {"password": base64.b64encode(value.encode()).decode()},
    }


@pytest.mark.parametrize("owned", ["f:stringData", "f:data"])
def test_secret_string_data_compared_with_stored_data(owned):
    assert d.compare(SECRET, secret_live(owned=owned), FM)[0] == d.UNCHANGED
    verdict, path = d.compare(SECRET, secret_live("other-value", owned=owned), FM)
    assert verdict == d.CHANGED
    assert path == "data.password"


def test_null_and_empty_declared_values():
    declared = copy.deepcopy(DECLARED)
    declared["spec"]["template"]["metadata"]["creationTimestamp"] = None
    assert d.compare(declared, live_of(), FM)[0] == d.UNCHANGED


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", "0.5"),
        ("1Gi", str(2**30)),
        ("1024Mi", str(2**30)),
        ("2", "2"),
        ("1e3", "1000"),
        ("1.5k", "1500"),
        ("100n", "0.0000001"),
        (3, "3"),
    ],
)
def test_parse_quantity(text, value):
    from decimal import Decimal

    assert d.parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize("text", ["abc", "1Gb", "", None, True, "1..2"])
def test_parse_quantity_rejects(text):
    assert d.parse_quantity(text) is None


def test_quantity_canonicalization_only_where_quantities_live():
    assert d.scalars_equal("0.5", "500m", "cpu", "requests")
    assert d.scalars_equal("1024Mi", "1Gi", "storage", "requests")
    assert not d.scalars_equal("0.5", "500m", "image", "containers")  # a plain string field
    assert not d.scalars_equal("1Gi", "2Gi", "memory", "limits")
    assert not d.scalars_equal(True, 1)
    assert d.scalars_equal(1.0, 1)


def test_strip_noise_removes_bookkeeping_only():
    out = d.strip_noise(live_of())
    meta = out["metadata"]
    for key in ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"):
        assert key not in meta
    assert "status" not in out
    assert "annotations" not in meta  # only deployment.kubernetes.io/revision was there
    assert meta["labels"]["app"] == "web"
    assert out["spec"]["replicas"] == 2


def test_redaction_never_shows_values_but_shows_which_key_changed():
    before = secret_live("old-password-value")
    before["data"]["user"] = base64.b64encode(b"odoo-user").decode()
    after = secret_live("new-password-value")
    after["data"]["user"] = before["data"]["user"]
    entry = d.diff_entry(before, after, "Secret shop/db")
    text = entry["before"] + entry["after"]
    for secret in ("old-password-value", "new-password-value", "odoo-user"):
        assert secret not in text
        assert base64.b64encode(secret.encode()).decode() not in text
    assert "password: '<redacted: previous value>'" in entry["before"]
    assert "password: '<redacted: changed>'" in entry["after"]
    assert "user: <redacted>" in entry["before"] and "user: <redacted>" in entry["after"]
    assert "managedFields" not in text
    assert entry["before_header"] == "Secret shop/db (live)"


def test_redact_leaves_other_kinds_alone():
    cm = {"kind": "ConfigMap", "data": {"a": "b"}}
    assert d.redact(cm) is cm


def test_diff_entry_for_creation_and_pruning():
    created = d.diff_entry(None, live_of(), "Deployment shop/web")
    assert created["before"] == "" and "replicas: 2" in created["after"]
    assert created["before_header"].endswith("(absent)")
    pruned = d.diff_entry(live_of(), None, "Deployment shop/web")
    assert pruned["after"] == "" and pruned["after_header"].endswith("(pruned)")


def test_same_after_apply_ignores_times_and_resource_version():
    a = live_of()
    b = copy.deepcopy(a)
    b["metadata"]["resourceVersion"] = "9999"
    b["metadata"]["managedFields"][0]["time"] = "2030-01-01T00:00:00Z"
    assert d.same_after_apply(a, b)
    b["status"]["availableReplicas"] = 0  # a controller wrote in between: not the apply's doing
    b["metadata"]["managedFields"][1]["fieldsV1"] = {"f:status": {"f:availableReplicas": {}}}
    assert d.same_after_apply(a, b, FM)
    b["metadata"]["managedFields"][0]["fieldsV1"] = {}  # our ownership would change
    assert not d.same_after_apply(a, b, FM)
    b = copy.deepcopy(a)
    b["spec"]["replicas"] = 5
    assert not d.same_after_apply(a, b, FM)


def test_known_defaults_inside_atomic_lists_are_unchanged():
    # NetworkPolicy ingress is atomic; the server adds protocol: TCP to each port
    declared = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np"},
                "spec": {"ingress": [{"ports": [{"port": 8069}]}]}}
    live = copy.deepcopy(declared)
    live["spec"]["ingress"][0]["ports"][0]["protocol"] = "TCP"
    live["metadata"]["managedFields"] = [{"manager": FM, "operation": "Apply", "apiVersion": "networking.k8s.io/v1",
                                          "fieldsV1": {"f:spec": {"f:ingress": {}}}}]
    assert d.compare(declared, live, FM)[0] == d.UNCHANGED
    live["spec"]["ingress"][0]["ports"][0]["protocol"] = "UDP"  # not the default: someone meant it
    assert d.compare(declared, live, FM)[0] == d.UNSURE


def test_statefulset_volume_claim_template_defaults_are_unchanged():
    vct = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {"storage": "10Gi"}}}}
    declared = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "pg"},
                "spec": {"volumeClaimTemplates": [vct]}}
    live = copy.deepcopy(declared)
    item = live["spec"]["volumeClaimTemplates"][0]
    item.update({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}})
    item["spec"]["volumeMode"] = "Filesystem"
    live["metadata"]["managedFields"] = [{"manager": FM, "operation": "Apply", "apiVersion": "apps/v1",
                                          "fieldsV1": {"f:spec": {"f:volumeClaimTemplates": {}}}}]
    assert d.compare(declared, live, FM)[0] == d.UNCHANGED
    item["spec"]["volumeMode"] = "Block"
    assert d.compare(declared, live, FM)[0] == d.UNSURE
