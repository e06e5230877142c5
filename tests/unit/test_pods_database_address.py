"""postgresql_external.cluster_host/cluster_port: the address the instance's pods reach the database at, apart from the
controller's (host/port). Rendered by the postgresql role (the odoo-db ConfigMap Odoo and its probes read through libpq,
the egress policy's port) and the backup role (the CronJob's runner settings, its egress port); the controller's side
(postgresql_connection.host/port, backup_settings.database.host/port) keeps host/port."""

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
    governed_odoo_size: small
    governed_odoo_rules: {rules_checked: [postgresql, backup]}
    postgresql_placement: external
    postgresql_external: EXTERNAL
    postgresql_server_limits:
      "127.0.0.1:15432": {max_connections: 100, superuser_reserved_connections: 3}
    postgresql_database: civil_dev
    postgresql_owner_role: civil_dev_owner
    postgresql_app_role: civil_dev_app
    postgresql_reporting_role: civil_dev_reporting
    postgresql_app_password: "{{ 'a' * 20 }}"
    postgresql_reporting_password: "{{ 'r' * 20 }}"
    backup_runner_image: "ghcr.io/governed-odoo/backup-runner@sha256:{{ 'cd' * 32 }}"
    storage_s3:
      {endpoint_url: "http://127.0.0.1:9000", region: us-east-1, access_key: k, secret_key: s, cidr: 127.0.0.1/32}
    odoo_filestore: object_storage
  tasks:
    - name: Render the database objects
      ansible.builtin.include_role:
        name: governed.odoo.postgresql
        tasks_from: render.yml
        public: true
    - name: Render the backup CronJob
      ansible.builtin.include_role:
        name: governed.odoo.backup
        tasks_from: validate.yml
        public: true
      vars:
        backup_install_schedule: true
    - ansible.builtin.copy:
        dest: "{{ playbook_dir }}/out.json"
        content: >-
          {{ {'connection': postgresql_connection, 'objects': postgresql_objects | from_json,
              'backup_database': backup_settings.database, 'backup_objects': backup_objects} | to_json }}
        mode: "0600"
"""


def render(tmp_path, external):
    (tmp_path / "play.yml").write_text(PLAY.replace("EXTERNAL", json.dumps(external)))
    run_local_play(tmp_path / "play.yml")
    return json.loads((tmp_path / "out.json").read_text())


def find(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


BASE = {"host": "127.0.0.1", "port": 15432, "admin_user": "postgres", "admin_password": "p" * 20,
        "ssl_mode": "disable"}


@pytest.mark.parametrize("pods", [None, ("198.19.1.1", 15433)], ids=["same-address", "pod-side-address"])
def test_pods_use_the_cluster_address_and_the_controller_keeps_its_own(tmp_path, pods):
    external = dict(BASE, cidr="127.0.0.1/32")
    if pods:
        external.update(cluster_host=pods[0], cluster_port=pods[1], cidr=f"{pods[0]}/32")
    host, port = pods or ("127.0.0.1", 15432)
    out = render(tmp_path, external)
    conn = out["connection"]
    # the controller's way to the server (provisioning, backups now, restores, drift)
    assert (conn["host"], conn["port"]) == ("127.0.0.1", 15432)
    assert (conn["cluster_host"], conn["cluster_port"]) == (host, port)
    data = find(out["objects"], "ConfigMap", "odoo-db")["data"]
    assert (data["PGHOST"], data["PGPORT"]) == (host, str(port))
    egress = find(out["objects"], "NetworkPolicy", "allow-odoo-to-postgresql")["spec"]["egress"][0]
    assert egress["ports"] == [{"protocol": "TCP", "port": port}]
    assert egress["to"] == [{"ipBlock": {"cidr": f"{host}/32"}}]
    # the backup taken now from the controller, and the CronJob's pods
    db = out["backup_database"]
    assert (db["host"], db["port"], db["cluster_host"], db["cluster_port"]) == ("127.0.0.1", 15432, host, port)
    runner = json.loads(find(out["backup_objects"], "ConfigMap", "odoo-backup")["data"]["backup-vars.json"])
    assert (runner["backup_database"]["host"], runner["backup_database"]["port"]) == (host, port)
    policy = find(out["backup_objects"], "NetworkPolicy", "allow-backup-egress")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": f"{host}/32"}}], "ports": [{"protocol": "TCP", "port": port}]} in policy
