"""postgresql_node_selector/postgresql_tolerations and redis_node_selector/redis_tolerations place the pods of the
in-cluster servers: the PostgreSQL primary's and replica's StatefulSets and Redis's, as site.yml renders them
(governed.odoo.render_instance) for the example inventory's production instance (which runs a replica); without them
the pods have neither (anywhere)."""

from __future__ import annotations

import json

import pytest
from test_render_instance import ANSIBLE_PLAYBOOK, PLUGIN_TASKS, _run

NODE = {"disktype": "ssd"}
TOLERATION = {"key": "dedicated", "operator": "Equal", "value": "database", "effect": "NoSchedule"}


def _pod_specs(out, host="civil-prod"):
    facts = json.loads((out / f"{host}.json").read_text())["facts_of_the_plugin"]
    objects = json.loads(facts["postgresql_objects"]) + json.loads(facts["redis_objects"])
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objects if o["kind"] == "StatefulSet"}


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="needs ansible-playbook")
def test_the_in_cluster_servers_pods_are_placed_by_their_roles_variables(tmp_path):
    placed = {
        "redis_placement": "in_cluster",
        "postgresql_replica_enabled": True,
        "postgresql_node_selector": NODE,
        "postgresql_tolerations": [TOLERATION],
        "redis_node_selector": {"pool": "cache"},
        "redis_tolerations": [dict(TOLERATION, value="cache")],
    }
    res, out = _run(tmp_path, "placed", PLUGIN_TASKS, ["facts_of_the_plugin"], "-e", json.dumps(placed))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    pods = _pod_specs(out)
    assert set(pods) == {"postgresql", "postgresql-replica", "redis"}
    for name in ("postgresql", "postgresql-replica"):
        assert pods[name]["nodeSelector"] == NODE and pods[name]["tolerations"] == [TOLERATION], name
    assert pods["redis"]["nodeSelector"] == {"pool": "cache"}
    assert pods["redis"]["tolerations"] == [dict(TOLERATION, value="cache")]

    res, out = _run(
        tmp_path, "anywhere", PLUGIN_TASKS, ["facts_of_the_plugin"], "-e", json.dumps({"redis_placement": "in_cluster"})
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for name, pod in _pod_specs(out).items():
        assert "nodeSelector" not in pod and "tolerations" not in pod, name
