#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup
short_description: Back up an Odoo database and its filestore as one unit to S3
version_added: 0.1.0
description:
  - Takes one backup of an Odoo database and its filestore together, into an S3 backup store laid
    out as C(docs/backup-format.md) describes.
  - The database is dumped with C(pg_dump --format=custom) from one exported snapshot and streamed,
    compressed with zstd and optionally encrypted, into an S3 multipart upload, without a local copy.
  - The attachment files referenced by C(ir_attachment) in the same snapshot are stored
    content-addressed by their SHA-1; a file already in the store is never uploaded again (the store
    is listed once, not probed per file). Database and filestore are backed up concurrently.
  - The attachments are read from a filestore directory (O(filestore_path)) or, for an Odoo that keeps
    them in object storage, from a bucket (O(filestore_s3)), listed once as well.
  - A manifest recording Odoo's dump fields (db_name, version, major_version, pg_version, modules),
    the source, the time, sizes, exact row counts and the SHA-256 of every object is written last.
    A backup without its manifest does not exist; an interrupted run leaves no manifest and a retry
    reuses what was uploaded.
  - A C(pg_dump) older than the server's major version is refused before anything is written.
  - Every run creates a new backup, so the task always reports a change. In check mode nothing is
    written; the result says how many files and bytes would be uploaded.
  - Progress (percent, throughput) is written to stderr and to O(progress_log) while it runs, and
    summarized in RV(progress).
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.postgres
  - governed.odoo.s3
  - governed.odoo.backup_store
attributes:
  check_mode:
    description: >-
      Supported; connects, checks versions and lock settings, lists the store and reports what
      would be uploaded.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  environment:
    description:
      - Name of the environment the database belongs to, for example V(production). Backups are
        stored and retained per environment and database.
    type: str
    required: true
  db:
    description:
      - The Odoo database to back up (also the database the connection uses).
    type: str
    required: true
  filestore_path:
    description:
      - The database's filestore directory, C(<data_dir>/filestore/<db>).
      - Required when the database has attachments stored in the filestore, unless they are in a
        bucket (O(filestore_s3)).
    type: path
  filestore_s3:
    description:
      - The attachments are in a bucket (Odoo with attachments in object storage) instead of
        O(filestore_path).
      - Objects are C(<prefix><db>/<store_fname>), or C(<prefix><store_fname>) with
        O(filestore_s3.per_database=false), the layout M(governed.odoo.restore) writes with its
        C(filestore_s3) option, so a backup of the bucket restores into it.
      - The prefix is listed once; each object not yet in the backup store is read (one GET, two
        streaming reads above 16 MiB), checked against its SHA-1 name and stored like a file of a
        filestore directory. The bucket is only read.
      - Mutually exclusive with O(filestore_path).
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
  filestore_scope:
    description:
      - V(referenced) saves the files that C(ir_attachment) references in the backup's snapshot,
        so the filestore matches the database exactly.
      - V(all) also saves every other file found under O(filestore_path), or every object under the
        database's prefix of O(filestore_s3).
    type: str
    choices: [referenced, all]
    default: referenced
  pg_bin_dir:
    description:
      - Directory of the PostgreSQL client tools (C(pg_dump)). If not set, C(pg_dump) is looked up on
        E(PATH). Its major version must be at least the server's.
    type: path
  compression:
    description:
      - Compression of the database archive. The archive itself is written uncompressed by
        C(pg_dump) and compressed by this module (much faster than C(pg_dump)'s own gzip).
    type: str
    choices: [zstd, none]
    default: zstd
  compression_level:
    description: zstd level (1 fastest, 19 smallest).
    type: int
    default: 3
  encryption_key:
    description:
      - Encrypt database and filestore objects client-side (AES-256-GCM) with this 32-byte key,
        given as 64 hex digits or base64 (C(openssl rand -hex 32)).
      - If not set, the environment variable E(GOVERNED_ODOO_BACKUP_KEY) is used; if neither is set,
        objects are stored unencrypted. Keep the key outside the backup store; without it, an
        encrypted backup cannot be restored.
    type: str
  object_lock_mode:
    description:
      - Put S3 object lock retention on every object written, and extend it on reused filestore
        objects. The bucket must have object lock enabled, or the module fails before writing.
      - V(COMPLIANCE) cannot be shortened or bypassed by anyone; V(GOVERNANCE) can be by users with
        the bypass permission.
    type: str
    choices: [COMPLIANCE, GOVERNANCE]
  object_lock_days:
    description: Days of object lock retention from the backup's time. Required with O(object_lock_mode).
    type: int
  object_lock_slack_days:
    description:
      - Filestore objects are locked for O(object_lock_days) plus between one and two times this many
        days, so that an unchanged file needs its retention extended only about once per this period.
    type: int
    default: 7
  copy_to:
    description:
      - Copy the complete backup to a second store (another region's endpoint) after it is written.
        Filestore objects are copied only if missing there; the manifest is written there last.
    type: dict
    suboptions:
      endpoint_url:
        description: URL of the second endpoint's S3 API.
        type: str
      access_key:
        description: Access key ID for the second endpoint.
        type: str
      secret_key:
        description: Secret access key for the second endpoint.
        type: str
      region:
        description: Region to sign requests for.
        type: str
      s3_validate_certs:
        description: Whether to verify the TLS certificate of the second endpoint.
        type: bool
        default: true
      bucket:
        description: Bucket on the second endpoint.
        type: str
        required: true
      prefix:
        description: Key prefix of the store in that bucket.
        type: str
        default: ""
  accept_missing_files:
    description:
      - Attachment files (C(ir_attachment.store_fname) values) that the database references but the
        source may lack (the instance's accepted gaps).
      - A backup whose database references files it could not capture is a B(failed) backup (nothing is
        sealed; in check mode the preflight fails), unless every missing file is named here or counted
        by O(accept_missing_count). Accepted gaps are recorded in the manifest
        (C(filestore.missing), C(filestore.missing_accepted)) and reported as a warning.
    type: list
    elements: str
    default: []
  accept_missing_count:
    description:
      - How many missing attachment files not named in O(accept_missing_files) are accepted.
      - V(0) (the default) accepts none.
    type: int
    default: 0
  row_counts:
    description:
      - Record the exact row count of every table, from the dump's snapshot, in the manifest
        (what a test restore compares). Costs one sequential scan per table, concurrent with the dump.
    type: bool
    default: true
  split_min_size:
    description:
      - Tables of at least this many bytes (heap and TOAST) are stored as their own data archives,
        outside C(db.dump), and the next backup reuses an archive without dumping or uploading it
        again when the table's fingerprint (row count, a hash of every row's text, its columns) is
        unchanged. This is what makes an incremental backup cheap when a few tables change.
      - Only tables whose columns all have built-in types are split; the rest stay in C(db.dump).
      - V(-1) keeps every table in C(db.dump) (format version 1 backups).
    type: int
    default: 16777216
  table_jobs:
    description: Large tables fingerprinted and dumped at the same time (see O(split_min_size)).
    type: int
    default: 2
  lock_wait_timeout:
    description: Passed to C(pg_dump --lock-wait-timeout), for example V(60s); fail instead of waiting for table locks.
    type: str
  progress_log:
    description: File to append progress lines to while the backup runs.
    type: path
  progress_interval:
    description: Seconds between progress lines.
    type: int
    default: 10
requirements:
  - zstandard (for O(compression=zstd))
  - cryptography (for O(encryption_key))
seealso:
  - module: governed.odoo.backup_verify
  - module: governed.odoo.backup_retention
"""

EXAMPLES = r"""
- name: Back up production with a 30-day compliance lock and a copy in the second region
  governed.odoo.backup:
    environment: production
    db: odoo
    filestore_path: /var/lib/odoo/filestore/odoo
    login_host: pg.internal
    login_user: backup
    login_password: "{{ vault_pg_backup_password }}"
    endpoint_url: https://s3.region-a.example.org
    access_key: "{{ s3_access_key }}"
    secret_key: "{{ vault_s3_secret_key }}"
    bucket: odoo-backups
    object_lock_mode: COMPLIANCE
    object_lock_days: 30
    copy_to:
      endpoint_url: https://s3.region-b.example.org
      access_key: "{{ s3_b_access_key }}"
      secret_key: "{{ vault_s3_b_secret_key }}"
      bucket: odoo-backups
    progress_log: /var/log/odoo-backup.log
  register: backup

- name: Back up an instance whose attachments are in object storage (<prefix><db>/<store_fname>)
  governed.odoo.backup:
    environment: production
    db: building
    filestore_s3:
      endpoint_url: https://s3.region-a.example.org
      access_key: "{{ s3_access_key }}"
      secret_key: "{{ vault_s3_secret_key }}"
      bucket: governed-odoo-prod-attachments
      prefix: building-prod/
    login_host: pg.internal
    login_user: backup
    login_password: "{{ vault_pg_backup_password }}"
    endpoint_url: https://s3.region-a.example.org
    access_key: "{{ s3_access_key }}"
    secret_key: "{{ vault_s3_secret_key }}"
    bucket: governed-odoo-prod-backups
    object_lock_mode: COMPLIANCE
    object_lock_days: 35

- name: What would be uploaded?
  governed.odoo.backup:
    environment: staging
    db: odoo_staging
    filestore_path: /var/lib/odoo/filestore/odoo_staging
    bucket: odoo-backups
  check_mode: true
"""

RETURN = r"""
backup_id:
  description: Id of the new backup (UTC time of its snapshot and a random suffix).
  returned: success, not in check mode
  type: str
  sample: 20250301T020000Z-4f2a9c
manifest_key:
  description: Key of the backup's manifest.
  returned: success, not in check mode
  type: str
  sample: backups/production/odoo/20250301T020000Z-4f2a9c/manifest.json
manifest_version_id:
  description:
    - S3 version id of the manifest written (null in an unversioned bucket). Readers read this first
      version of the manifest; a version written over it later is reported as tampering.
  returned: success, not in check mode
  type: str
format_version:
  description:
    - Backup format version of the manifest, V(3) when every object is pinned by its S3 version id
      (a versioned bucket; see docs/backup-format.md).
  returned: success, not in check mode
  type: int
  sample: 3
environment:
  description: The environment.
  returned: always
  type: str
db_name:
  description: The database backed up.
  returned: always
  type: str
started_at:
  description: Time of the database snapshot (the backup's point in time).
  returned: success, not in check mode
  type: str
odoo_version:
  description: Odoo series of the database, from the C(base) module.
  returned: success
  type: str
  sample: "17.0"
database:
  description: Sizes of the database archive and the number of tables and rows recorded.
  returned: success, not in check mode
  type: dict
  sample: {raw_size: 1073741824, stored_size: 201326592, uploaded_size: 20132659, tables: 152, rows: 8423112,
           table_archives: 8, tables_reused: [mail_message], tables_dumped: [ir_attachment]}
filestore:
  description: Files in the backup, how many were uploaded and how many reused from the store.
  returned: success, not in check mode
  type: dict
  sample: {count: 20000, size: 2147483648, uploaded: 200, uploaded_bytes: 21474836, reused: 19800,
           retention_extended: 0, missing: []}
would_upload:
  description: In check mode, the files that would be uploaded and reused.
  returned: check mode
  type: dict
copied_to:
  description: Result of O(copy_to) (objects copied and reused on the second endpoint).
  returned: success with O(copy_to), not in check mode
  type: dict
object_lock:
  description: Lock mode, days and retain-until date of the backup's objects.
  returned: success with O(object_lock_mode)
  type: dict
encrypted:
  description: Whether the objects were encrypted client-side.
  returned: success, not in check mode
  type: bool
seconds:
  description: Duration of the backup.
  returned: success, not in check mode
  type: float
timings:
  description: Seconds spent in each phase (checks, plan, dump, filestore, row counts, index and manifest).
  returned: success, not in check mode
  type: dict
  sample: {checks: 0.2, plan: 3.7, dump: 11.5, filestore: 0.7, row_counts: 0.5, index_and_manifest: 0.6}
progress:
  description: Progress summary (bytes, throughput, a few samples of the run).
  returned: success, not in check mode
  type: dict
requests:
  description: S3 requests made (put, get, list, head, retention) and bytes transferred.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.governed.odoo.plugins.module_utils.backup import args as bargs
from ansible_collections.governed.odoo.plugins.module_utils.backup import dump, pgsource, s3client
from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import BackupOptions, run_backup
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError
from ansible_collections.governed.odoo.plugins.module_utils.common_args import (
    filestore_s3_spec,
    postgres_argument_spec,
    s3_argument_spec,
)


def argument_spec():
    spec = postgres_argument_spec()
    spec.update(s3_argument_spec())
    spec.update(bargs.store_argument_spec())
    spec.update(
        environment=dict(type="str", required=True),
        db=dict(type="str", required=True),
        filestore_path=dict(type="path"),
        filestore_s3=filestore_s3_spec(),
        filestore_scope=dict(type="str", choices=["referenced", "all"], default="referenced"),
        pg_bin_dir=dict(type="path"),
        compression=dict(type="str", choices=["zstd", "none"], default="zstd"),
        compression_level=dict(type="int", default=3),
        encryption_key=bargs.encryption_key_spec(),
        object_lock_mode=dict(type="str", choices=["COMPLIANCE", "GOVERNANCE"]),
        object_lock_days=dict(type="int"),
        object_lock_slack_days=dict(type="int", default=7),
        copy_to=bargs.copy_to_spec(),
        accept_missing_files=dict(type="list", elements="str", default=[]),
        accept_missing_count=dict(type="int", default=0),
        row_counts=dict(type="bool", default=True),
        split_min_size=dict(type="int", default=16 * 1024 * 1024),
        table_jobs=dict(type="int", default=2),
        lock_wait_timeout=dict(type="str"),
        progress_log=dict(type="path"),
        progress_interval=dict(type="int", default=10),
    )
    return spec


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_by={"object_lock_mode": ["object_lock_days"]},
        mutually_exclusive=[("filestore_path", "filestore_s3")],
    )
    p = module.params
    if not s3client.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(s3client.BOTO3_IMPORT_ERROR))
    if not pgsource.HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(pgsource.PSYCOPG_IMPORT_ERROR))
    if p["compression"] == "zstd" and not dump.HAS_ZSTD:
        module.fail_json(msg=missing_required_lib("zstandard"), exception=str(dump.ZSTD_IMPORT_ERROR))
    try:
        opts = BackupOptions(
            environment=p["environment"],
            pg=bargs.pg_options(p),
            target=bargs.store_target(p),
            filestore_path=p["filestore_path"],
            filestore_s3=p["filestore_s3"],
            filestore_scope=p["filestore_scope"],
            pg_bin_dir=p["pg_bin_dir"],
            compression=p["compression"],
            compression_level=p["compression_level"],
            encryption_key=bargs.parse_key(p),
            object_lock_mode=p["object_lock_mode"],
            object_lock_days=p["object_lock_days"] or 0,
            lock_slack_days=p["object_lock_slack_days"],
            copy_to=bargs.copy_target(p),
            threads=p["threads"],
            row_counts=p["row_counts"],
            accept_missing_files=p["accept_missing_files"],
            accept_missing_count=p["accept_missing_count"],
            split_min_size=None if p["split_min_size"] < 0 else p["split_min_size"],
            table_jobs=p["table_jobs"],
            lock_wait_timeout=p["lock_wait_timeout"],
            progress_log=p["progress_log"],
            progress_interval=p["progress_interval"],
            check_mode=module.check_mode,
        )
        result = run_backup(opts)
    except BackupError as exc:
        module.fail_json(msg=exc.msg, **exc.as_result())
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
