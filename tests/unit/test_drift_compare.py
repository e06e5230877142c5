"""Unit tests of plugins/module_utils/drift: the field-by-field comparison, findings per layer, staging against
production parity, the report and its page. No Secret value may reach a finding, the report or the page."""

from __future__ import annotations

import base64
import copy
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.filter import drift as drift_filter  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils import pgprovision  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.drift import buckets, kube, parity, report  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.drift.compare import (  # noqa: E402
    ABSENT,
    SecretHasher,
    differences,
    ini_options,
)

PASSWORD = "s3cr3t-Value-Never-Shown"
IMAGE = "docker.io/library/odoo@sha256:" + "ab" * 32
OTHER_IMAGE = "docker.io/library/odoo@sha256:" + "cd" * 32


def b64(text):
    return base64.b64encode(text.encode()).decode()


def deployment(replicas=2, image=IMAGE, env=None):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "odoo-web", "namespace": "odoo-x-dev", "labels": {"app.kubernetes.io/name": "odoo"},
                     "resourceVersion": "7", "generation": 3, "uid": "u", "managedFields": [{"manager": "m"}]},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [
                {"name": "odoo", "image": image, "env": env or [{"name": "A", "value": "1"}]},
                {"name": "exporter", "image": "exp@sha256:" + "ee" * 32},
            ]}},
        },
        "status": {"replicas": replicas},
    }


# -- differences ---------------------------------------------------------------------------------------------------


def test_equal_values_have_no_difference():
    assert differences(deployment(), copy.deepcopy(deployment())) == []


def test_a_replica_count_and_an_image_are_named_by_their_path():
    found = differences(deployment(replicas=2), deployment(replicas=5, image=OTHER_IMAGE))
    assert ("spec.replicas", 2, 5) in found
    assert ("spec.template.spec.containers[name=odoo].image", IMAGE, OTHER_IMAGE) in found
    assert ("status.replicas", 2, 5) in found  # the walker is generic; kube.comparable strips status
    assert len(found) == 3


def test_list_items_are_matched_by_their_key_not_their_position():
    mine = {"ports": [{"name": "http", "port": 8069}, {"name": "ws", "port": 8072}]}
    theirs = {"ports": [{"name": "ws", "port": 8072}, {"name": "http", "port": 8069}]}
    found = differences(mine, theirs)
    # same items, another order: one finding for the order, none per field
    assert found == [("ports", ["http", "ws"], ["ws", "http"])]
    assert differences(mine, {"ports": [{"name": "http", "port": 8069}]}) == [
        ("ports[name=ws]", {"name": "ws", "port": 8072}, ABSENT)
    ]


def test_fields_on_one_side_only_are_reported_absent_on_the_other():
    assert differences({"a": 1}, {"b": 2}) == [("a", 1, ABSENT), ("b", ABSENT, 2)]


def test_keys_that_are_not_plain_words_are_quoted():
    found = differences({"data": {"odoo.conf": "x"}}, {"data": {"odoo.conf": "y"}})
    assert found == [('data["odoo.conf"]', "x", "y")]


def test_an_odoo_conf_is_compared_option_by_option():
    conf = "[options]\n; rendered\nworkers = 2\nlist_db = False\n"
    found = differences({"c": conf}, {"c": conf.replace("workers = 2", "workers = 9") + "extra = 1\n"})
    assert found == [("c#options.extra", ABSENT, "1"), ("c#options.workers", "2", "9")]
    assert ini_options("one line") is None
    assert ini_options("a = 1\nnot an option line\n") is None


def test_numbers_and_booleans_are_not_confused():
    assert differences({"a": True}, {"a": 1}) == [("a", True, 1)]
    assert differences({"a": 1}, {"a": 1.0}) == []


# -- secrets -------------------------------------------------------------------------------------------------------


def test_secret_hashes_are_stable_within_a_run_and_keyed():
    hasher = SecretHasher(key=b"k" * 32)
    assert hasher(PASSWORD) == hasher(PASSWORD.encode())
    assert hasher(PASSWORD) != hasher(PASSWORD + "x")
    assert PASSWORD not in hasher(PASSWORD)
    assert SecretHasher(key=b"j" * 32)(PASSWORD) != hasher(PASSWORD)
    assert hasher.secret_data({"PGPASSWORD": b64(PASSWORD)}) == {"PGPASSWORD": hasher(PASSWORD)}


def secret(value, key="PGPASSWORD"):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "odoo-db", "namespace": "ns"},
            "data": {key: b64(value), "PGHOST": b64("db.example")}}


def test_a_changed_secret_key_is_named_with_hashes_only():
    hasher = SecretHasher()
    found = kube.member_findings("Secret ns/odoo-db", secret("changed-by-hand"), secret(PASSWORD), hasher)
    assert [f["field"] for f in found] == ["data.PGPASSWORD"]
    assert found[0]["declared"].startswith("hmac-sha256:") and found[0]["live"].startswith("hmac-sha256:")
    text = json.dumps(found)
    for value in (PASSWORD, "changed-by-hand", b64(PASSWORD), b64("changed-by-hand"), "db.example"):
        assert value not in text


def test_string_data_is_compared_as_the_server_stores_it():
    hasher = SecretHasher()
    declared = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"K": PASSWORD}}
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"K": b64(PASSWORD)}}
    assert kube.member_findings("Secret s", live, declared, hasher) == []


# -- kubernetes findings from a dry run ----------------------------------------------------------------------------


def member(index, obj, action, live=None, after=None):
    return SimpleNamespace(index=index, obj=obj, action=action, live=live, after=after)


def test_findings_of_a_dry_run_name_fields_absent_and_extra_objects():
    live = deployment(replicas=5)
    after = deployment(replicas=2)
    after["metadata"]["generation"] = 4  # a dry run bumps it: bookkeeping, not drift
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odoo-config", "namespace": "odoo-x-dev"}}
    engine = SimpleNamespace(members=[
        member(1, cm, "created"),
        member(0, deployment(), "configured", live=live, after=after),
        member(2, {"kind": "Service", "metadata": {"name": "odoo"}}, "unchanged", live={}, after=None),
    ])
    result = SimpleNamespace(pruned=[{"kind": "ConfigMap", "namespace": "odoo-x-dev", "name": "old"}])
    found = kube.findings_of_run(engine, result, SecretHasher())
    assert [(f["object"], f["field"], f["declared"], f["live"]) for f in found] == [
        ("Deployment odoo-x-dev/odoo-web", "spec.replicas", 2, 5),
        ("ConfigMap odoo-x-dev/odoo-config", "(object)", "present", ABSENT),
        ("ConfigMap odoo-x-dev/old", "(object)", ABSENT, "present"),
    ]
    assert {f["layer"] for f in found} == {"kubernetes"}


def test_an_ownership_only_change_is_no_finding():
    live = deployment()
    after = deployment()
    after["metadata"]["managedFields"] = [{"manager": "governed.odoo"}]
    engine = SimpleNamespace(members=[member(0, deployment(), "configured", live=live, after=after)])
    assert kube.findings_of_run(engine, SimpleNamespace(pruned=[]), SecretHasher()) == []


# -- database ------------------------------------------------------------------------------------------------------


def declared_db():
    return pgprovision.Declared({
        "name": "x_dev", "owner": "x_dev_owner",
        "app": {"name": "x_dev_app", "password": PASSWORD, "connection_limit": 8},
        "reporting": {"name": "x_dev_reporting", "password": PASSWORD, "connection_limit": 2},
    })


def test_a_revoked_connect_grant_is_named_in_the_database_acl():
    decl = declared_db()
    acl = [(decl.owner, p, False) for p in ("CONNECT", "CREATE", "TEMPORARY")]
    acl += [("x_dev_app", "TEMPORARY", False), ("x_dev_reporting", "CONNECT", False)]
    flags = {attr: False for attr, _w in pgprovision.FLAG_ATTRS}
    roles = {
        decl.owner: dict(flags, rolcanlogin=False),
        "x_dev_app": dict(flags, rolcanlogin=True, rolconnlimit=8, rolconfig=["role=x_dev_owner"]),
        "x_dev_reporting": dict(flags, rolcanlogin=True, rolconnlimit=2,
                                rolconfig=["default_transaction_read_only=on"]),
    }
    server = {"roles": roles, "member": True, "database": {"owner": decl.owner, "encoding": "UTF8"}}
    privileges = {"acl": acl, "public_create": False, "reporting_usage": True, "default_select": True,
                  "tables_without_select": []}
    live = pgprovision.view(decl, server, privileges, {"x_dev_app": True, "x_dev_reporting": True})
    found = differences(pgprovision.declared_view(decl, acl), live)
    assert found == [("database.acl.x_dev_app", "CONNECT, TEMPORARY", "TEMPORARY")]


# -- buckets -------------------------------------------------------------------------------------------------------

RULES = [
    {"ID": "expire-old-backups", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 400}},
    {"ID": "abort-incomplete-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
]


def bucket_params(**over):
    p = {"name": "b", "endpoint_url": "http://s3", "region": "us-east-1", "versioning": True,
         "object_lock": {"enabled": True, "mode": "COMPLIANCE", "days": 35, "years": None},
         "lifecycle_rules": copy.deepcopy(RULES), "tags": {"governed.odoo/purpose": "backups"}}
    p.update(over)
    return p


def live_bucket(**over):
    state = {"name": "b", "exists": True, "versioning": "Enabled",
             "object_lock": {"enabled": True, "mode": "COMPLIANCE", "days": 35, "years": None},
             "lifecycle_rules": copy.deepcopy(RULES), "tags": {"governed.odoo/purpose": "backups"}}
    state.update(over)
    return state


def test_a_bucket_as_declared_has_no_finding():
    assert buckets.plan_findings(bucket_params(), live_bucket()) == []


def test_a_changed_lifecycle_rule_is_named_by_its_id():
    rules = copy.deepcopy(RULES)
    rules[0]["Expiration"]["Days"] = 3
    found = buckets.plan_findings(bucket_params(), live_bucket(lifecycle_rules=rules))
    assert [(f["field"], f["declared"], f["live"]) for f in found] == [
        ("lifecycle_rules[ID=expire-old-backups].Expiration.Days", 400, 3)
    ]


def test_suspended_versioning_and_a_shorter_lock_are_named():
    found = buckets.plan_findings(
        bucket_params(),
        live_bucket(versioning="Suspended", object_lock={"enabled": True, "mode": "GOVERNANCE", "days": 1,
                                                         "years": None}),
    )
    fields = {f["field"]: (f["declared"], f["live"]) for f in found}
    assert fields["versioning"] == ("Enabled", "Suspended")
    assert fields["object_lock.mode"] == ("COMPLIANCE", "GOVERNANCE")
    assert fields["object_lock.days"] == (35, 1)


def test_a_missing_bucket_and_a_lock_that_cannot_be_turned_on_are_findings():
    assert buckets.plan_findings(bucket_params(), {"name": "b", "exists": False})[0]["field"] == "(bucket)"
    unlocked = {"enabled": False, "mode": None, "days": None, "years": None}
    found = buckets.plan_findings(bucket_params(), live_bucket(object_lock=unlocked))
    assert found[0]["field"] == "object_lock" and found[0]["note"]


# -- parity --------------------------------------------------------------------------------------------------------


def instance_set(env, replicas, image=IMAGE, workers=2, extra=()):
    ns = f"odoo-acme-{env}"
    conf = f"[options]\ndb_name = acme_{env}\nworkers = {workers}\nlist_db = False\n"
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"env": env}}},
        dict(deployment(replicas=replicas, image=image), metadata={"name": "odoo-web", "namespace": ns}),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odoo-config", "namespace": ns},
         "data": {"odoo.conf": conf}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "odoo-db", "namespace": ns},
         "stringData": {"PGPASSWORD": f"{PASSWORD}-{env}"}},
        *extra,
    ]
    return {"instance": f"acme-{env}", "tenant": "acme", "environment": env, "objects": objects,
            "tokens": {"namespace": ns, "instance": f"acme-{env}", "environment": env, "database": f"acme_{env}"}}


def test_staging_and_production_differ_only_where_the_policy_expects():
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "odoo-web"}}
    found = parity.parity([instance_set("staging", 1), instance_set("prod", 3, workers=5, extra=[hpa])])
    assert len(found) == 1
    entry = found[0]
    assert entry["unexpected"] == 0, entry
    fields = {(d["object"], d["field"]): d for d in entry["differences"]}
    assert fields[("Deployment/odoo-web", "spec.replicas")]["expected"]
    assert fields[("ConfigMap/odoo-config", 'data["odoo.conf"]#options.workers')]["expected"]
    assert fields[("HorizontalPodAutoscaler/odoo-web", "(object)")]["category"] == "topology"
    assert PASSWORD not in json.dumps(found)


def test_an_image_that_differs_is_an_unexpected_version_difference():
    found = parity.parity([instance_set("staging", 1, image=OTHER_IMAGE), instance_set("prod", 1)])[0]
    assert found["unexpected"] == 1
    (diff,) = found["differences"]
    assert (diff["category"], diff["field"], diff["staging"], diff["production"]) == (
        "version", "spec.template.spec.containers[name=odoo].image", OTHER_IMAGE, IMAGE)


def test_a_tenant_without_both_environments_has_no_parity_entry():
    assert parity.parity([instance_set("staging", 1)]) == []


def test_the_policy_can_be_replaced():
    found = parity.parity([instance_set("staging", 1), instance_set("prod", 3)], policy=[])[0]
    assert found["unexpected"] == 1 and found["expected"] == 0


# -- report --------------------------------------------------------------------------------------------------------


def result(instance, drift=(), errors=()):
    return {"instance": instance, "tenant": "acme", "environment": "dev", "drift": list(drift),
            "errors": list(errors), "counts": {}, "checked": {"objects": 3, "database": None, "buckets": []}}


def test_the_report_says_clean_drift_or_error():
    assert report.build([result("a")])["summary"]["verdict"] == "clean"
    finding = {"layer": "kubernetes", "object": "Deployment n/w", "field": "spec.replicas", "declared": 2, "live": 5}
    doc = report.build([result("a", [finding]), result("b")], generated_at="2026-12-06T10:00:00+00:00")
    assert doc["summary"] == {"instances": 2, "drifted": ["a"], "findings": 1, "errors": 0, "parity_unexpected": 0,
                              "verdict": "drift"}
    assert report.build([result("a", errors=[{"layer": "database", "message": "x"}])])["summary"]["verdict"] == "error"


def test_the_page_names_each_field_escapes_values_and_loads_nothing():
    finding = {"layer": "kubernetes", "object": "ConfigMap n/<c>", "field": 'data["k"]', "declared": "<b>x</b>",
               "live": "y"}
    doc = drift_filter.drift_report([result("a", [finding])], instances=[
        dict(instance_set("staging", 1), objects=[json.dumps(instance_set("staging", 1)["objects"])]),
        instance_set("prod", 3),
    ], generated_at="now")
    page = drift_filter.drift_report_html(doc)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "ConfigMap n/&lt;c&gt;" in page and "data[&quot;k&quot;]" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "Deployment/odoo-web" in page and "expected: replica counts" in page
    assert PASSWORD not in page and PASSWORD not in json.dumps(doc)


def test_the_html_filter_refuses_anything_but_a_report():
    with pytest.raises(Exception, match="drift_report"):
        drift_filter.drift_report_html({"summary": {}})


# -- the task ------------------------------------------------------------------------------------------------------


def test_an_unreachable_layer_is_an_error_of_the_report_not_a_crash_and_nothing_leaks():
    from ansible_collections.governed.odoo.plugins.module_utils.drift import task

    objects = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
                "stringData": {"K": PASSWORD}}]
    params = {k: None for k in task.argument_spec()}
    params.update(instance="x-dev", host="https://127.0.0.1:9", api_key="token-" + "t" * 20, validate_certs=False,
                  objects_json=[json.dumps(objects)], field_manager="governed.odoo", buckets=[])
    result, secrets = task.run(params)
    assert result["changed"] is False and result["drifted"] is False
    assert [e["layer"] for e in result["errors"]] == ["kubernetes"], result
    assert PASSWORD in secrets and params["api_key"] in secrets
    assert PASSWORD not in json.dumps(result) and params["api_key"] not in json.dumps(result)


def test_policy_patterns_take_brackets_literally():
    policy = [{"pattern": '*annotations["governed.odoo/*-hash"]', "reason": "checksums"}]
    assert parity.expectation("Deployment/w", 'spec.template.metadata.annotations["governed.odoo/env-hash"]', policy)
    assert parity.expectation("Deployment/w", 'metadata.annotations["x"]', policy) is None
    assert parity.expectation("Deployment/w", "spec.replicas", [{"pattern": "Deployment/?", "reason": "r"}]) == "r"
