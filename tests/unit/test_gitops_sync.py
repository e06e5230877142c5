"""What a GitOps commit puts on an instance (its audit record) and whether the live Deployments run it, rolled out
(plugins/module_utils/gitops/sync.py, the filters of playbooks/promote_verify.yml), and the commit message of a
rollback."""

from __future__ import annotations

import copy

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.governed.odoo.plugins.filter import gitops as gitops_filters
from ansible_collections.governed.odoo.plugins.module_utils.gitops import GitopsError, layout, sync

OLD = "registry.example/odoo@sha256:" + "a" * 64
NEW = "registry.example/odoo@sha256:" + "b" * 64


def promotion(**event):
    base = {
        "kind": "promotion",
        "outcome": "committed",
        "delivery": "gitops",
        "environment": "dev",
        "instance": "civil-dev",
        "release": {"id": "2026.12.1", "image": NEW, "digest": "sha256:" + "b" * 64, "record": {"id": "2026.12.1"}},
        "changes": {"image": {"from": OLD, "to": NEW}},
        "migration_job": "odoo-migrate-x",
        "backup": "20261206T2100Z",
    }
    return {"seq": 7, "hash": "h7", "time": "2026-12-06T21:00:00Z", "event": dict(base, **event)}


def deployment(name="odoo-web", image=NEW, replicas=2, generation=3, observed=3, updated=2, available=2, total=2,
               cond="True"):
    return {
        "metadata": {"name": name, "generation": generation},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "odoo", "image": image}]}}},
        "status": {
            "observedGeneration": observed,
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": available,
            "availableReplicas": available,
            "conditions": [{"type": "Available", "status": cond}],
        },
    }


COMMITTED = [
    deployment("odoo-web"),
    deployment("odoo-cron", replicas=0, updated=0, available=0, total=0),
    {"kind": "Deployment", "metadata": {"name": "redis"},
     "spec": {"template": {"spec": {"containers": [{"name": "redis", "image": "redis@sha256:" + "c" * 64}]}}}},
    {"kind": "ConfigMap", "metadata": {"name": "odoo-conf"}},
]
for obj in COMMITTED[:2]:
    obj["kind"] = "Deployment"


def test_a_committed_promotion_puts_its_release_image():
    got = sync.expected(promotion())
    assert got["kind"] == "promotion" and got["image"] == NEW and got["digest"] == "sha256:" + "b" * 64
    assert got["previous"] == OLD and got["migration_job"] == "odoo-migrate-x" and got["backup"] == "20261206T2100Z"
    assert got["release"]["record"] == {"id": "2026.12.1"} and (got["seq"], got["hash"]) == (7, "h7")


def test_a_committed_rollback_puts_the_release_it_goes_back_to():
    record = promotion(kind="rollback", release={"id": "2026.12.1", "image": NEW},
                       to={"id": "2026.11.3", "image": OLD, "record": {"id": "2026.11.3"}},
                       changes={"image": {"from": NEW, "to": OLD}}, restored="b1")
    got = sync.expected(record)
    assert got["kind"] == "rollback" and got["image"] == OLD and got["release"]["id"] == "2026.11.3"
    assert got["release"]["digest"] == "sha256:" + "a" * 64 and got["migration_job"] is None
    assert got["previous"] == NEW and got["restored"] == "b1"


def test_the_rollback_of_a_failed_verification_names_only_the_image():
    record = promotion(kind="rollback", outcome="rolled back", to={"image": OLD},
                       changes={"image": {"from": NEW, "to": OLD}})
    got = sync.expected(record)
    assert got["image"] == OLD and got["release"] == {"image": OLD, "digest": "sha256:" + "a" * 64}


@pytest.mark.parametrize(
    "event, words",
    [
        ({"delivery": None}, "not a committed promotion or rollback"),
        ({"outcome": "verified"}, "not a committed promotion or rollback"),
        ({"kind": "note"}, "note committed"),
        ({"release": {"id": "x", "image": "registry.example/odoo:17"}, "changes": {}}, "no image by digest"),
    ],
)
def test_a_record_that_commits_no_release_is_refused(event, words):
    with pytest.raises(GitopsError, match=words):
        sync.expected(promotion(**event))
    with pytest.raises(AnsibleFilterError, match=words):
        gitops_filters.gitops_expected(promotion(**event))


def test_only_the_deployments_that_run_odoo_are_waited_for():
    assert sync.odoo_deployments(COMMITTED) == ["odoo-cron", "odoo-web"]
    with pytest.raises(GitopsError, match="no Deployment"):
        sync.rollout([], sync.odoo_deployments(COMMITTED[2:]), NEW)


def test_synced_when_every_deployment_runs_the_image_rolled_out():
    live = [deployment("odoo-web"), deployment("odoo-cron", replicas=0, updated=0, available=0, total=0,
                                               cond="True"), deployment("redis", image="redis")]
    got = gitops_filters.gitops_rollout(live, COMMITTED, NEW)
    assert got["synced"] and got["applied"] and got["available"] and got["touched"] and got["reasons"] == []
    assert [d["name"] for d in got["deployments"]] == ["odoo-cron", "odoo-web"]


@pytest.mark.parametrize(
    "change, applied, words",
    [
        ({"image": OLD}, False, "odoo-web runs " + OLD),
        ({"observed": 2}, True, "generation 3 not observed"),
        ({"updated": 1}, True, "1 of 2 replicas updated"),
        ({"available": 1}, True, "1 of 2 replicas available"),
        ({"total": 3}, True, "1 replicas of the previous template still run"),
        ({"cond": "False"}, True, "not Available"),
    ],
)
def test_not_synced_names_why(change, applied, words):
    live = [deployment("odoo-web", **change), deployment("odoo-cron", replicas=0, updated=0, available=0, total=0)]
    got = sync.rollout(live, ["odoo-cron", "odoo-web"], NEW)
    assert not got["synced"] and got["applied"] is applied and got["touched"] is True
    assert any(words in r for r in got["reasons"]), got["reasons"]


def test_a_missing_deployment_is_not_applied_and_nothing_touched():
    got = sync.rollout([deployment("odoo-web", image=OLD)], ["odoo-cron", "odoo-web"], NEW)
    assert not got["applied"] and not got["touched"] and not got["synced"]
    assert "odoo-cron: no such Deployment in the cluster" in got["reasons"]


def test_a_progress_deadline_is_named():
    dep = deployment("odoo-web", available=1)
    dep["status"]["conditions"].append({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                        "message": 'ReplicaSet "odoo-web-1" has timed out progressing.'})
    got = sync.rollout([dep], ["odoo-web"], NEW)
    assert any("timed out progressing" in r for r in got["reasons"])


def test_the_filter_refuses_what_is_not_a_list():
    with pytest.raises(AnsibleFilterError, match="expected a list"):
        gitops_filters.gitops_rollout({"resources": []}, COMMITTED, NEW)


def test_a_rollback_commit_message_names_both_releases_and_why():
    record = copy.deepcopy(promotion(kind="rollback", outcome="rolled back", to={"image": OLD},
                                     failure="Verify the release: no ready web pod", deployer="bob"))
    message = layout.commit_message("dev/civil-dev", 12, record).splitlines()
    assert message[0] == f"roll back dev/civil-dev to {OLD}"
    assert "rolled back: 2026.12.1" in message and f"digest: sha256:{'a' * 64}" in message
    assert "because: Verify the release: no ready web pod" in message
    assert "audit record: seq 7, hash h7 (audit-record.json)" in message
    chosen = promotion(kind="rollback", to={"id": "2026.11.3", "image": OLD})
    assert layout.commit_message("dev/civil-dev", 12, chosen).splitlines()[0] == "roll back dev/civil-dev to 2026.11.3"
