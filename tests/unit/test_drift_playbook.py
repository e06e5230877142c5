"""playbooks/drift.yml compares what site.yml applies: the same ApplySet, namespace, object sets and field manager,
the declared state rendered by site.yml itself (render only), and the same bucket and database declarations the
storage and postgresql roles hand their modules."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load(path):
    return yaml.safe_load((ROOT / path).read_text())


def task(plays, module):
    for play in plays:
        for t in play.get("tasks") or []:
            if module in t:
                return play, t
    raise AssertionError(f"no {module} task")


def test_drift_hands_the_drift_module_what_site_hands_k8s_apply_set():
    site_play, apply = task(load("playbooks/site.yml"), "governed.odoo.k8s_apply_set")
    _play, drift = task(load("playbooks/drift.yml"), "governed.odoo.drift")
    apply, drift = apply["governed.odoo.k8s_apply_set"], drift["governed.odoo.drift"]
    assert apply["objects_json"] == "{{ governed_odoo_object_sets }}"
    assert drift["objects_json"] == site_play["vars"]["governed_odoo_object_sets"]
    for key in ("applyset", "namespace", "field_manager"):
        assert drift[key] == apply[key], key


def test_drift_renders_with_site_itself_and_applies_nothing():
    first = load("playbooks/drift.yml")[0]
    assert first["ansible.builtin.import_playbook"] == "site.yml"
    assert first["vars"] == {"governed_odoo_render_only": True}
    site = load("playbooks/site.yml")
    stop = site[1]["tasks"][0]
    assert stop["ansible.builtin.meta"] == "end_play"
    assert "governed_odoo_render_only" in stop["when"]


def test_the_declarations_of_buckets_and_databases_are_shared_with_provisioning():
    drift = load("playbooks/drift.yml")[1]["tasks"]
    imported = {(t["ansible.builtin.import_role"]["name"], t["ansible.builtin.import_role"]["tasks_from"])
                for t in drift if "ansible.builtin.import_role" in t}
    assert imported == {("governed.odoo.storage", "plan.yml"), ("governed.odoo.postgresql", "declared.yml")}
    storage = load("roles/storage/tasks/provision.yml")
    assert storage[0]["ansible.builtin.import_tasks"] == "plan.yml"
    pg = load("roles/postgresql/tasks/provision.yml")
    assert pg[0]["ansible.builtin.import_tasks"] == "declared.yml"
    # the pg_database task is create.yml's (site.yml runs it alone, after its render evaluated declared.yml)
    assert pg[1]["ansible.builtin.import_tasks"] == "create.yml"
    args = load("roles/postgresql/tasks/create.yml")[0]["governed.odoo.pg_database"]
    assert all("postgresql_declared." in str(v) for v in args.values())
    bucket = storage[1]["governed.odoo.s3_bucket"]
    for key in ("versioning", "lifecycle_rules", "tags", "name"):
        assert f"storage_bucket_plan[item].{key}" in bucket[key]
