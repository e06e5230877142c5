"""The GitOps mode of promote.yml, rollback.yml and promote_verify.yml shares its code paths: one task file commits
(tasks/release_commit.yml, the only gitops_write of the playbooks besides site.yml's), the rollbacks commit through
the direct mode's tasks/release_restore_previous.yml (restore first), and rollback.yml counts promote_verify.yml's
verifications as verified releases (its history template rendered on records)."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "playbooks"


def load(path):
    return yaml.safe_load((PLAYBOOKS / path).read_text())


def walk(tasks):
    for t in tasks or []:
        yield t
        for key in ("block", "rescue", "always"):
            yield from walk(t.get(key))


def tasks_of(path):
    doc = load(path)
    if isinstance(doc, dict):  # a vars file (vars/release.yml): no tasks
        return []
    if doc and isinstance(doc[0], dict) and "hosts" in doc[0]:
        return [t for play in doc for key in ("pre_tasks", "tasks") for t in walk(play.get(key))]
    return list(walk(doc))


def includes(path, target):
    return [t for t in tasks_of(path) if t.get("ansible.builtin.include_tasks") == target]


def test_one_task_file_commits_in_gitops_mode():
    writers = sorted(
        str(p.relative_to(PLAYBOOKS))
        for p in PLAYBOOKS.rglob("*.yml")
        if any("governed.odoo.gitops_write" in t for t in tasks_of(p.relative_to(PLAYBOOKS)))
    )
    assert writers == ["site.yml", "tasks/release_commit.yml"]
    # the promotion's commit and every rollback's (rollback.yml, promote_verify.yml) go through it
    assert includes("tasks/release_promote_one.yml", "release_commit.yml")
    (commit,) = includes("tasks/release_restore_previous.yml", "release_commit.yml")
    assert commit["when"] == "promote_delivery | default('direct') == 'gitops'"
    assert commit["vars"] == {"release_commit_event": "{{ release_restore_commit_event }}"}


def test_both_rollbacks_restore_first_through_the_direct_modes_task_file():
    (restore,) = includes("tasks/release_restore_previous.yml", "release_restore_backup.yml")
    names = [t.get("name") for t in tasks_of("tasks/release_restore_previous.yml")]
    assert names.index(restore["name"]) == 0  # the restore comes before the render and the commit or apply
    for path in ("tasks/release_rollback_one.yml", "tasks/release_verify_commit.yml"):
        # the first include is the rollback's (rollback_one's second puts the instance back in the direct mode)
        event = includes(path, "release_restore_previous.yml")[0]["vars"]["release_restore_commit_event"]
        assert event["kind"] == "rollback" and "restored" in event and "backup" in event, path
    # promote_verify.yml rolls back only where the controller applied the commit (the direct mode would)
    (verify_rollback,) = [t for t in tasks_of("tasks/release_verify_commit.yml") if t.get("block")
                          and any(b.get("ansible.builtin.include_tasks") == "release_restore_previous.yml"
                                  for b in t["block"])]
    assert verify_rollback["when"] == "promote_verify_rolls_back | bool"


def test_the_direct_mode_applies_and_verifies_only_in_the_direct_mode():
    tasks = {t["name"]: t for t in tasks_of("tasks/release_restore_previous.yml")}
    apply = next(t for t in tasks.values() if "governed.odoo.k8s_apply_set" in t)
    verify = next(t for t in tasks.values() if t.get("ansible.builtin.include_tasks") == "release_verify.yml")
    assert apply["when"] == verify["when"] == "promote_delivery | default('direct') == 'direct'"
    rollback = tasks_of("tasks/release_rollback_one.yml")
    scale = next(t for t in rollback if "replicas" in (t.get("governed.odoo.k8s_workload") or {}))
    assert scale["when"] == "promote_delivery == 'direct'"


def history(records, instance="civil-dev"):
    """rollback.yml's template of the releases verified on the instance, rendered on ``records``."""
    task = next(t for t in tasks_of("rollback.yml") if t.get("name") == "Find the releases verified on the instance")
    template = task["vars"]["rollback_history_json"]
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    env.filters["to_json"] = json.dumps
    env.filters["bool"] = bool
    return json.loads(env.from_string(template).render(rollback_records=records, governed_odoo_instance=instance))


def test_rollback_counts_the_verification_of_a_gitops_commit():
    release = {"id": "c", "image": "r/odoo@sha256:c", "digest": "sha256:c", "record": {"id": "c"}}
    records = [
        {"seq": 1, "event": {"kind": "promotion", "outcome": "committed", "instance": "civil-dev",
                             "release": dict(release, id="b", image="r/odoo@sha256:b", record={"id": "b"})}},
        {"seq": 2, "event": {"kind": "promotion", "outcome": "committed", "instance": "civil-dev", "release": release}},
        {"seq": 3, "event": {"kind": "verification", "outcome": "failed", "ok": False, "instance": "civil-dev",
                             "release": release}},
        {"seq": 4, "event": {"kind": "verification", "outcome": "verified", "ok": True, "instance": "civil-dev",
                             "release": release, "migrated": True, "backup": "bk-4"}},
        {"seq": 5, "event": {"kind": "verification", "outcome": "verified", "ok": True, "instance": "other-dev",
                             "release": release}},
    ]
    found = history(records)
    assert found == [{"seq": 4, "kind": "verification", "image": release["image"], "release": release,
                      "migrated": True, "backup": "bk-4"}]
