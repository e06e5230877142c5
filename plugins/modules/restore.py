#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: restore
short_description: Restore an Odoo backup (database and filestore) into an environment, verified
version_added: "0.1.0"
description:
  - Restores one backup written by M(governed.odoo.backup) - a named one, or the latest taken at or
    before a point in time - into a PostgreSQL server and an Odoo filestore.
  - Before anything is created, the manifest's seal is checked and every object is listed with the
    size the manifest records; every object's SHA-256 is then checked as it is downloaded, before it
    is used. A mismatch refuses the restore and leaves the target untouched.
  - Backups are found among the object versions of the store, and a backup of format version 3 is
    read by the S3 version ids its manifest pins, the manifest itself from its first, sealed version.
    A newer version written over an object or the manifest (someone holding the write keys) and a
    delete marker hiding the newest manifest change nothing restored; they are named in the warnings.
  - Restores into a new database named C(<target_db>__restore_<timestamp>) and the filestore
    directory of that name, verifies it (table list and row counts against the manifest; every
    attachment's file, SHA-1 and size), gives a copy a new C(database.uuid) and C(database.secret),
    neutralizes non-production targets and verifies the neutralization, and only then switches -
    in one transaction the live database is renamed C(<target_db>__prev_<timestamp>) and the new one
    C(<target_db>), after its sessions were terminated. The filestore is switched so that both
    databases find all their files at every moment.
  - The previous database is kept (O(keep_previous=true)) or dropped once the switch succeeded.
  - A production target that exists is only overwritten with O(allow_production_overwrite=true),
    and that is written to O(audit_log) before and after the switch.
  - A run killed at any point before the switch leaves the environment on the previous database;
    the next run removes what the killed one left behind.
  - In check mode the backup is selected, every object's checksum is verified (the objects are
    downloaded, nothing is written) and the plan is reported.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.postgres
  - governed.odoo.s3
  - governed.odoo.kubernetes
attributes:
  check_mode:
    description: Verifies every object of the backup and reports the plan; changes nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  bucket:
    description:
      - Bucket of the backup store.
    type: str
    required: true
  store_root:
    description:
      - Key prefix of the backup store inside O(bucket), if the store does not use the whole bucket.
    type: str
    default: ""
  environment:
    description:
      - Environment the backup was taken from (as recorded by M(governed.odoo.backup)).
    type: str
    required: true
  database:
    description:
      - Name of the backed-up database.
    type: str
    required: true
  backup_id:
    description:
      - Id of the backup to restore, for example V(20261126T020000Z-3fa9c1).
      - Mutually exclusive with O(before). Without both, the latest backup is restored.
    type: str
  before:
    description:
      - Restore the latest backup whose snapshot was taken at or before this time (ISO 8601; without
        a zone, UTC).
    type: str
  encryption_key:
    description:
      - The key of an encrypted backup (64 hex digits or base64 of 32 bytes).
      - If not set, the environment variable E(GOVERNED_ODOO_BACKUP_KEY) is used.
    type: str
  target_db:
    description:
      - Name of the database the environment uses. Defaults to O(database).
    type: str
  target_environment:
    description:
      - Name of the environment restored into; used to tell production (V(prod), V(production),
        V(prd), optionally with a suffix) and in the audit record.
    type: str
  target_production:
    description:
      - Whether the target is a production environment, overriding what O(target_environment) says.
      - Production targets are not neutralized; existing production databases are only
        overwritten with O(allow_production_overwrite=true).
    type: bool
  target_namespace:
    description:
      - Kubernetes namespace of the Odoo instance restored into, as C(site.yml) provisions it.
      - Its labels C(governed.odoo/tier) and C(governed.odoo/environment) are read from the cluster
        before anything changes. When they say production, the restore is refused unless the target
        is treated as production too, whatever O(target_environment) and O(target_production) say;
        a caller may mark a target production, never downgrade one. A namespace that does not exist
        is refused.
    type: str
  allow_production_overwrite:
    description:
      - Allow replacing an existing production database. The decision is written to O(audit_log).
    type: bool
    default: false
  copy:
    description:
      - Whether the restored database is a copy (gets a new C(database.uuid) and C(database.secret)).
      - Defaults to true unless a production environment is restored into itself.
    type: bool
  neutralize:
    description:
      - How to neutralize a non-production target. V(sql) does what the community addons'
        C(data/neutralize.sql) do (mail servers, crons except the autovacuum, webhooks, payment
        providers, IAP, carriers, websites, calendars, e-invoicing, terminals, C(database.is_neutralized)),
        only where their tables exist; V(job) runs
        C(odoo neutralize) (Odoo 16+) in a Kubernetes Job with the release image (O(neutralize_job));
        V(auto) picks V(job) when O(neutralize_job.image) is set, else V(sql).
      - Both are verified afterwards. V(none) is only accepted for production targets.
    type: str
    choices: [auto, sql, job, none]
    default: auto
  dummy_mail_server:
    description:
      - The dummy outgoing mail server SQL mode adds (host C(invalid)). V(active), as Odoo 17+ does,
        keeps Odoo from falling back to the SMTP server of its configuration file.
    type: str
    choices: [active, disabled, none]
    default: active
  neutralize_job:
    description:
      - The Job of O(neutralize=job).
    type: dict
    suboptions:
      namespace:
        description: Namespace of the target environment.
        type: str
        required: true
      image:
        description: The release image, pinned by digest (C(repository@sha256:...)).
        type: str
        required: true
      config_secret:
        description:
          - Secret holding the environment's C(odoo.conf) with the database host and credentials.
          - Exactly one of O(neutralize_job.config_secret) and O(neutralize_job.config_configmap).
        type: str
      config_configmap:
        description:
          - ConfigMap holding the instance's C(odoo.conf) without credentials (the odoo role's C(odoo-config)); the
            container then reaches the database with libpq's C(PG*) variables from O(neutralize_job.env_from), as the
            instance's pods do (the playbooks' default).
          - Exactly one of O(neutralize_job.config_secret) and O(neutralize_job.config_configmap).
        type: str
      config_key:
        description: Key of C(odoo.conf) in that Secret or ConfigMap.
        type: str
        default: odoo.conf
      env_from:
        description:
          - Sources of the container's environment, as Kubernetes writes C(envFrom) (C(configMapRef) or C(secretRef),
            each with a C(name)), for example the instance's C(odoo-db) ConfigMap and Secret (C(PGHOST), C(PGPORT),
            C(PGUSER), C(PGPASSWORD)).
        type: list
        elements: dict
      odoo_version:
        description: Odoo version of the image; defaults to the version recorded in the backup.
        type: str
      odoo_bin:
        description: The Odoo command inside the image.
        type: str
        default: odoo
      command:
        description: Container command overriding the image's entrypoint.
        type: list
        elements: str
      annotations:
        description: Annotations of the Job's pod.
        type: dict
      service_account:
        description: Service account of the Job's pod.
        type: str
      env:
        description: Environment variables of the Job's container (name to value). Not for secrets.
        type: dict
      node_selector:
        description:
          - Node labels the Job's pod must match, so that it runs where the instance's Jobs run
            (the playbooks pass the instance's C(odoo_job_node_selector)).
        type: dict
      tolerations:
        description:
          - Taints the Job's pod tolerates, as Kubernetes writes them (the playbooks pass the instance's
            C(odoo_job_tolerations)).
        type: list
        elements: dict
      run_as_user:
        description:
          - The uid the Job's container runs as (the playbooks pass the instance's C(odoo_uid)); without it, the
            image's own user, which must not be root.
        type: int
      timeout:
        description: Seconds to wait for the Job.
        type: int
        default: 1800
  filestore_path:
    description:
      - Odoo's data directory (C(data_dir)) as mounted where the module runs; the filestore is
        restored to C(<filestore_path>/filestore/<target_db>/).
      - Without it, only the database is restored.
    type: path
  filestore_s3:
    description:
      - The filestore is in a bucket (Odoo with attachments in object storage) instead of O(filestore_path).
      - Objects are C(<prefix><target_db>/<store_fname>), or C(<prefix><store_fname>) with
        O(filestore_s3.per_database=false). Restored files missing there are added before the switch (the
        key is a content hash, so the previous database keeps every file it references).
    type: dict
    suboptions:
      bucket:
        description: The attachments bucket.
        type: str
        required: true
      prefix:
        description: Key prefix of the instance inside the bucket, for example V(building-prod/).
        type: str
        default: ""
      per_database:
        description: Whether keys carry the database name after the prefix.
        type: bool
        default: true
      endpoint_url:
        description: URL of the S3 API of the attachments bucket.
        type: str
      access_key:
        description: Access key ID.
        type: str
      secret_key:
        description: Secret access key.
        type: str
      region:
        description: Region to sign requests for.
        type: str
      s3_validate_certs:
        description: Whether to verify the TLS certificate of O(filestore_s3.endpoint_url).
        type: bool
        default: true
  filestore_prune:
    description:
      - After the switch, remove files of the live filestore that the restored database does not
        reference. On a file system they stay in the previous database's snapshot directory; in a
        versioned bucket as noncurrent versions.
      - Defaults to true for O(filestore_path), false for O(filestore_s3).
    type: bool
  keep_previous:
    description:
      - Keep the replaced database (and its filestore snapshot) as C(<target_db>__prev_<timestamp>).
      - When false it is dropped, and only after the switch succeeded.
    type: bool
    default: true
  switch:
    description:
      - Switch the environment to the restored database. When false the verified database is left
        as C(<target_db>__restore_<timestamp>) and reported in RV(restored_database).
    type: bool
    default: true
  jobs:
    description:
      - Parallel jobs of C(pg_restore).
    type: int
    default: 2
  workers:
    description:
      - Parallel downloads of filestore objects.
    type: int
    default: 8
  owner:
    description:
      - Role that owns the restored database and its objects. Defaults to the owner of the database
        being replaced, else O(login_user).
    type: str
  work_dir:
    description:
      - Directory for the downloaded dump (it needs room for the database archive). Defaults to the
        system's temporary directory.
    type: path
  pg_bin_dir:
    description:
      - Directory of the PostgreSQL client tools. Defaults to the newest C(/usr/lib/postgresql/N/bin)
        that is at least the server's version.
    type: path
  compare_to:
    description:
      - A reference to compare the restored data with, beyond the manifest (used by DR drills) -
        content hashes of every table against this database, and every attachment byte for byte
        against this filestore directory.
    type: dict
    suboptions:
      login_host:
        description: Host of the reference database server.
        type: str
      login_port:
        description: Port of the reference database server.
        type: int
      login_user:
        description: Role to connect as.
        type: str
      login_password:
        description: Password of O(compare_to.login_user).
        type: str
      db:
        description: The reference database.
        type: str
        required: true
      filestore_path:
        description: The reference database's own filestore directory (C(<data_dir>/filestore/<db>)).
        type: path
  audit_log:
    description:
      - File that receives one JSON line per authorized production overwrite.
    type: path
  actor:
    description:
      - Who asked for the restore, for the audit record. Defaults to the operating system user.
    type: str
  progress_log:
    description:
      - File that receives a progress line (percent, throughput) every few seconds while the
        restore runs.
    type: path
requirements:
  - psycopg >= 3.1
  - boto3 >= 1.34
  - zstandard (for compressed backups)
  - cryptography (for encrypted backups)
  - PostgreSQL client tools (pg_restore) at least as new as the backup's pg_dump
notes:
  - O(login_user) needs to create, rename and drop databases and terminate sessions (a superuser,
    or a role with CREATEDB that owns the databases and is a member of C(pg_signal_backend)).
  - O(db) is the maintenance database the module connects to for the switch (default V(postgres)).
seealso:
  - module: governed.odoo.backup
  - module: governed.odoo.backup_verify
"""

EXAMPLES = r"""
- name: Restore last night's production backup into staging (neutralized, verified)
  governed.odoo.restore:
    bucket: odoo-backups
    endpoint_url: https://s3.example.org
    environment: production
    database: acme
    before: "2026-11-26T03:00:00Z"
    target_environment: staging
    target_db: acme
    filestore_path: /srv/odoo-staging
    login_host: pg-staging.example.org
    login_user: postgres
    login_password: "{{ vault_pg_password }}"

- name: Disaster recovery of production from a named backup
  governed.odoo.restore:
    bucket: odoo-backups
    environment: production
    database: acme
    backup_id: 20261126T020000Z-3fa9c1
    target_environment: production
    allow_production_overwrite: true
    actor: "{{ lookup('ansible.builtin.env', 'USER') }}"
    audit_log: /var/log/governed-odoo/restore-audit.jsonl
    filestore_path: /srv/odoo
    login_host: pg-prod.example.org

- name: What would a restore do? (verifies every object, changes nothing)
  governed.odoo.restore:
    bucket: odoo-backups
    environment: production
    database: acme
    target_environment: staging
  check_mode: true
"""

RETURN = r"""
backup:
  description: The backup restored (or that would be).
  returned: success
  type: dict
  sample:
    id: production/acme/20261126T020000Z-3fa9c1
    backup_id: 20261126T020000Z-3fa9c1
    created_at: "2026-11-26T02:00:00Z"
    odoo_version: "17.0"
    filestore_files: 20000
plan:
  description: What the run does, decided before anything changes.
  returned: success
  type: dict
switched:
  description: Whether the environment now uses the restored database.
  returned: always
  type: bool
target_db:
  description: The live database name.
  returned: success
  type: str
previous:
  description: Name under which the replaced database is kept, or null.
  returned: when switched
  type: str
restored_database:
  description: The verified database left unswitched (O(switch=false)).
  returned: when switch is false
  type: str
database:
  description: Verification of the restored database (tables, rows, comparison with the manifest and
    with O(compare_to)).
  returned: when restored
  type: dict
attachments:
  description: Verification of every attachment file (checked, bytes, problems).
  returned: when a filestore was restored
  type: dict
neutralization:
  description: Identity renewal, neutralization and its verification.
  returned: when restored
  type: dict
target_namespace:
  description: The labels of O(target_namespace) that decided whether the target is production.
  returned: when O(target_namespace) is set
  type: dict
verified_objects:
  description: Objects whose checksums were verified in check mode.
  returned: in check mode
  type: dict
audit:
  description: The audit record of a production overwrite.
  returned: when a production database was overwritten
  type: dict
phases:
  description: Name and duration in seconds of every step.
  returned: always
  type: list
  elements: dict
progress:
  description: Totals and throughput of the download and restore.
  returned: when restored
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError
from ansible_collections.governed.odoo.plugins.module_utils.common_args import (
    filestore_s3_spec,
    kubernetes_argument_spec,
    postgres_argument_spec,
    s3_argument_spec,
)
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import RestoreError
from ansible_collections.governed.odoo.plugins.module_utils.restore.pgconn import HAS_PSYCOPG, PSYCOPG_IMPORT_ERROR

PG_KEYS = ("login_host", "login_port", "login_user", "login_password", "db")
S3_KEYS = ("endpoint_url", "access_key", "secret_key", "region", "s3_validate_certs")
KUBE_KEYS = ("kubeconfig", "context", "host", "api_key", "validate_certs")


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(s3_argument_spec())
    spec.update(kubernetes_argument_spec())
    spec.update(
        bucket=dict(type="str", required=True),
        store_root=dict(type="str", default=""),
        environment=dict(type="str", required=True),
        database=dict(type="str", required=True),
        backup_id=dict(type="str"),
        before=dict(type="str"),
        encryption_key=dict(type="str", no_log=True, fallback=(env_fallback, ["GOVERNED_ODOO_BACKUP_KEY"])),
        target_db=dict(type="str"),
        target_environment=dict(type="str"),
        target_production=dict(type="bool"),
        target_namespace=dict(type="str"),
        allow_production_overwrite=dict(type="bool", default=False),
        copy=dict(type="bool"),
        neutralize=dict(type="str", default="auto", choices=["auto", "sql", "job", "none"]),
        dummy_mail_server=dict(type="str", default="active", choices=["active", "disabled", "none"]),
        neutralize_job=dict(
            type="dict",
            options=dict(
                namespace=dict(type="str", required=True),
                image=dict(type="str", required=True),
                config_secret=dict(type="str", no_log=False),
                config_configmap=dict(type="str"),
                config_key=dict(type="str", default="odoo.conf", no_log=False),
                env_from=dict(type="list", elements="dict"),
                odoo_version=dict(type="str"),
                odoo_bin=dict(type="str", default="odoo"),
                command=dict(type="list", elements="str"),
                annotations=dict(type="dict"),
                service_account=dict(type="str"),
                env=dict(type="dict"),
                node_selector=dict(type="dict"),
                tolerations=dict(type="list", elements="dict"),
                run_as_user=dict(type="int"),
                timeout=dict(type="int", default=1800),
            ),
            mutually_exclusive=[("config_secret", "config_configmap")],
            required_one_of=[("config_secret", "config_configmap")],
        ),
        filestore_path=dict(type="path"),
        filestore_s3=filestore_s3_spec(),
        filestore_prune=dict(type="bool"),
        keep_previous=dict(type="bool", default=True),
        switch=dict(type="bool", default=True),
        jobs=dict(type="int", default=2),
        workers=dict(type="int", default=8),
        owner=dict(type="str"),
        work_dir=dict(type="path"),
        pg_bin_dir=dict(type="path"),
        compare_to=dict(
            type="dict",
            options=dict(
                login_host=dict(type="str"),
                login_port=dict(type="int"),
                login_user=dict(type="str"),
                login_password=dict(type="str", no_log=True),
                db=dict(type="str", required=True),
                filestore_path=dict(type="path"),
            ),
        ),
        audit_log=dict(type="path"),
        actor=dict(type="str"),
        progress_log=dict(type="path"),
    )
    return spec


def build(module):
    """Store, options: everything the restore needs, from the module's parameters."""
    from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto, s3client
    from ansible_collections.governed.odoo.plugins.module_utils.backup.store import BackupStore
    from ansible_collections.governed.odoo.plugins.module_utils.restore.flow import Options

    p = module.params
    s3params = {k: p.get(k) for k in S3_KEYS}
    store = BackupStore(s3client.make_client(s3params), p["bucket"], root=p["store_root"],
                        endpoint=p.get("endpoint_url"))
    key = crypto.parse_key(p["encryption_key"]) if p["encryption_key"] else None

    def kube_client():
        from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kclient

        client = kclient.client_from_options(**{k: p.get(k) for k in KUBE_KEYS})
        module.no_log_values.update(client.secrets)
        return client

    target = {k: p.get(k) for k in PG_KEYS}
    target["db"] = target.get("db") or "postgres"
    opts = Options(
        environment=p["environment"], db_name=p["database"], target=target, backup_id=p["backup_id"],
        before=p["before"], encryption_key=key, target_db=p["target_db"], target_environment=p["target_environment"],
        target_production=p["target_production"], target_namespace=p["target_namespace"],
        allow_production_overwrite=p["allow_production_overwrite"],
        copy=p["copy"], neutralize=p["neutralize"], dummy_mail_server=p["dummy_mail_server"],
        job=p["neutralize_job"], kube_client_factory=kube_client, filestore_path=p["filestore_path"],
        filestore_s3=p["filestore_s3"],
        filestore_prune=p["filestore_prune"], keep_previous=p["keep_previous"], switch=p["switch"], jobs=p["jobs"],
        workers=p["workers"], owner=p["owner"], work_dir=p["work_dir"], pg_bin_dir=p["pg_bin_dir"],
        compare_to=p["compare_to"], audit_log=p["audit_log"], actor=p["actor"], progress_log=p["progress_log"],
        check_mode=module.check_mode,
    )
    return store, opts


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[("backup_id", "before"), ("filestore_path", "filestore_s3")],
    )
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(PSYCOPG_IMPORT_ERROR))
    from ansible_collections.governed.odoo.plugins.module_utils.restore import flow

    result = None
    try:
        store, opts = build(module)
        result = flow.run(store, opts)
    except (RestoreError, BackupError) as exc:
        module.fail_json(msg=exc.msg, **exc.as_result())
    if result.get("audit"):
        module.log(f"governed.odoo.restore audit: {result['audit']}")
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
