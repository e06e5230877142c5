"""storage_s3.cluster_endpoint_url (and backup_s3's, which defaults to it): the S3 endpoint as the instance's pods
reach it, apart from the controller's (endpoint_url). Rendered by the storage role (the odoo-object-storage ConfigMap,
the egress policy's port) and the backup role (the CronJobs' runner settings, their egress port); the controller's side
(storage_connection, backup_settings.endpoint_url) keeps endpoint_url. And backup_node_selector/backup_tolerations,
which place the backup CronJobs' pods, by default where the odoo role places Odoo's. And
backup_verify_restore.cluster_host: the test restore's server as the verify pods reach it, apart from the controller's
(host, which playbooks/backup_verify.yml uses)."""

from __future__ import annotations

import json

import pytest
from _localplay import run_local_play

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    governed_odoo_tenant: civil
    governed_odoo_environment: dev
    governed_odoo_instance: civil-dev
    governed_odoo_namespace: odoo-civil-dev
    governed_odoo_rules: {rules_checked: [storage, backup]}
    storage_s3: S3
    storage_attachments_bucket: go-dev-attachments
    storage_backups_bucket: go-dev-backups
    storage_instance_prefix: civil-dev/
    postgresql_placement: external
    postgresql_external: {host: 10.1.0.7, port: 5432, cidr: 10.1.0.7/32}
    postgresql_app_password: "{{ 'a' * 20 }}"
    backup_runner_image: "ghcr.io/governed-odoo/backup-runner@sha256:{{ 'cd' * 32 }}"
    odoo_filestore: object_storage
    backup_verify_restore_password: "{{ 'v' * 20 }}"
    PLACEMENT
  tasks:
    - name: Render the object storage objects
      ansible.builtin.include_role:
        name: governed.odoo.storage
        public: true
    - name: Render the backup CronJobs
      ansible.builtin.include_role:
        name: governed.odoo.backup
        tasks_from: validate.yml
        public: true
      vars:
        backup_install_schedule: true
    - ansible.builtin.copy:
        dest: "{{ playbook_dir }}/out.json"
        content: >-
          {{ {'storage_connection': storage_connection, 'storage_objects': storage_objects | from_json,
              'backup_settings': backup_settings, 'backup_objects': backup_objects} | to_json }}
        mode: "0600"
"""

S3 = {"endpoint_url": "http://127.0.0.1:18333", "region": "us-east-1", "access_key": "k", "secret_key": "s"}
NODE = {"lab.governed.odoo/node": "real"}
TOLERATION = {"key": "lab.governed.odoo/node", "operator": "Equal", "value": "real", "effect": "NoSchedule"}


def render(tmp_path, s3, placement="", verify_restore=None):
    play = PLAY.replace("S3", json.dumps(s3)).replace("PLACEMENT", placement)
    play = play.replace("  tasks:", f"    backup_verify_restore: {json.dumps(verify_restore or {})}\n  tasks:", 1)
    (tmp_path / "play.yml").write_text(play)
    run_local_play(tmp_path / "play.yml")
    return json.loads((tmp_path / "out.json").read_text())


def find(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


ODOO_PLACED = f"odoo_node_selector: {json.dumps(NODE)}\n    odoo_tolerations: {json.dumps([TOLERATION])}"
BACKUP_PLACED = f"backup_node_selector: {json.dumps(NODE)}\n    backup_tolerations: {json.dumps([TOLERATION])}"


# one render per case (each runs ansible-playbook): the endpoint and the placement are checked together
@pytest.mark.parametrize(
    ("pods", "placement"),
    [(None, ""), (("198.19.2.1", 28333), ODOO_PLACED), (("198.19.2.1", 28333), BACKUP_PLACED)],
    ids=["same-endpoint-anywhere", "pod-side-endpoint-placed-like-odoo", "pod-side-endpoint-placed-by-backup-vars"],
)
def test_pods_use_the_cluster_endpoint_and_the_controller_keeps_its_own(tmp_path, pods, placement):
    s3 = dict(S3, cidr="127.0.0.1/32")
    if pods:
        s3.update(cluster_endpoint_url=f"http://{pods[0]}:{pods[1]}", cidr=f"{pods[0]}/32")
    host, port = pods or ("127.0.0.1", 18333)
    # the verification's scratch server: the controller reaches it on loopback, the pods (when placed) at the node's
    verify_restore = {"host": "127.0.0.1", "port": 15432, "user": "postgres", "cidr": f"{host}/32"}
    if pods:
        verify_restore["cluster_host"] = host
    out = render(tmp_path, s3, placement, verify_restore)
    # the controller's way to the store (buckets, backups now, restores)
    assert out["storage_connection"]["endpoint_url"] == "http://127.0.0.1:18333"
    assert out["backup_settings"]["endpoint_url"] == "http://127.0.0.1:18333"
    # the pods'
    assert find(out["storage_objects"], "ConfigMap", "odoo-object-storage")["data"]["AWS_HOST"] == f"http://{host}:{port}"
    egress = find(out["storage_objects"], "NetworkPolicy", "allow-egress-to-object-storage")["spec"]["egress"]
    assert egress == [{"to": [{"ipBlock": {"cidr": f"{host}/32"}}], "ports": [{"protocol": "TCP", "port": port}]}]
    runner = json.loads(find(out["backup_objects"], "ConfigMap", "odoo-backup")["data"]["backup-vars.json"])
    assert runner["governed_odoo_backup_s3"]["endpoint_url"] == f"http://{host}:{port}"
    assert runner["governed_odoo_backup_s3"]["port"] == port
    policy = find(out["backup_objects"], "NetworkPolicy", "allow-backup-egress")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": f"{host}/32"}}], "ports": [{"protocol": "TCP", "port": port}]} in policy
    # the test restore: the controller's host in its settings, the pods' in the verify CronJob's
    assert out["backup_settings"]["verify_restore"]["host"] == "127.0.0.1"
    verify = json.loads(find(out["backup_objects"], "ConfigMap", "odoo-backup")["data"]["verify-vars.json"])
    assert verify["backup_verify_restore"]["host"] == host and "cluster_host" not in verify["backup_verify_restore"]
    assert verify["verify_test_restore"] is True
    assert {"to": [{"ipBlock": {"cidr": f"{host}/32"}}], "ports": [{"protocol": "TCP", "port": 15432}]} in policy
    # both CronJobs' pods: where the odoo role places Odoo's unless the backup role is told otherwise
    for name in ("odoo-backup", "odoo-backup-verify"):
        pod = find(out["backup_objects"], "CronJob", name)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        if not placement:
            assert "nodeSelector" not in pod and "tolerations" not in pod
        else:
            assert pod["nodeSelector"] == NODE and pod["tolerations"] == [TOLERATION]
