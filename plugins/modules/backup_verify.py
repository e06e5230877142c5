#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_verify
short_description: Verify an Odoo backup against its manifest, optionally by a test restore
version_added: 0.1.0
description:
  - Reads the manifest of one backup (a named one, or the newest of an environment and database)
    and checks it is intact and unaltered (format and its own SHA-256 seal).
  - With O(level=full), downloads every object of the backup, streaming, and compares size and
    SHA-256 with the manifest - the database archive, the filestore index and every filestore object
    it lists; filestore contents are also checked against their SHA-1 name. With O(level=presence),
    only checks that every object exists with its recorded size (listing, no download).
  - With O(test_restore=true), restores the database with C(pg_restore) into a new scratch database
    and the filestore into a temporary directory, compares the row count of every table with the
    manifest, and drops both again, whatever the outcome.
  - Every object is read by the S3 version id its manifest pins (format version 3), and one listing
    of object versions shows what was written over it. A newer version over a pinned key or over the
    sealed manifest is reported as V(tampered) (someone holding PutObject; the backup itself is intact
    and still restores from the pinned versions); a delete marker hiding the manifest or an object is a
    warning. Without O(backup_id), the newest backup is found among object versions, so a newest
    manifest hidden by a delete marker is still the one verified (with a warning naming it), never an
    older backup.
  - A backup whose database references attachment files it does not hold fails as V(incomplete),
    unless the instance's policy accepted those gaps when it was taken (then a warning).
  - Fails when anything does not match, naming each object; RV(problems) lists them all.
  - Never changes the backup store. The scratch database exists only during the run, so the task
    reports no change.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.postgres
  - governed.odoo.s3
  - governed.odoo.backup_store
attributes:
  check_mode:
    description: Supported; the checksums are verified (read-only), the test restore is skipped.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  environment:
    description: Environment of the backup.
    type: str
    required: true
  database:
    description: Name of the backed-up database (the manifest's C(db_name)).
    type: str
    required: true
  backup_id:
    description: The backup to verify. If not set, the newest restorable backup is verified.
    type: str
  db:
    description:
      - Maintenance database to connect to for the test restore (the scratch database is created
        from there).
    type: str
    default: postgres
  level:
    description:
      - V(full) downloads and checksums every object; V(presence) checks existence and sizes only.
    type: str
    choices: [full, presence]
    default: full
  encryption_key:
    description:
      - Key of an encrypted backup (64 hex digits or base64); falls back to E(GOVERNED_ODOO_BACKUP_KEY).
      - Without it, an encrypted backup's checksums are verified, but not its plain content, and no
        test restore is possible.
    type: str
  test_restore:
    description: Also restore into a scratch database and a temporary directory, compare, and drop both.
    type: bool
    default: false
  scratch_db:
    description:
      - Name of the scratch database for the test restore. It must not exist.
      - If not set, C(verify_<database>_<random>) is used.
    type: str
  restore_jobs:
    description: Parallel jobs of C(pg_restore) in the test restore.
    type: int
    default: 2
  pg_bin_dir:
    description: Directory of the PostgreSQL client tools (C(pg_restore)); if not set, E(PATH) is searched.
    type: path
  workdir:
    description: Directory for the temporary files of the test restore (the archive and the filestore).
    type: path
requirements:
  - zstandard (for zstd-compressed backups)
  - cryptography (for encrypted backups)
seealso:
  - module: governed.odoo.backup
"""

EXAMPLES = r"""
- name: Checksum every object of the newest production backup
  governed.odoo.backup_verify:
    environment: production
    database: odoo
    bucket: odoo-backups
    endpoint_url: https://s3.region-a.example.org

- name: Prove the backup just taken restores, with equal row counts
  governed.odoo.backup_verify:
    environment: production
    database: odoo
    backup_id: "{{ backup.backup_id }}"
    bucket: odoo-backups
    test_restore: true
    login_host: pg-scratch.internal
    login_user: postgres
    pg_bin_dir: /usr/lib/postgresql/16/bin
"""

RETURN = r"""
ok:
  description: Whether every check passed.
  returned: always
  type: bool
backup_id:
  description: The backup verified.
  returned: when a manifest was found
  type: str
manifest_key:
  description: Key of its manifest.
  returned: when a manifest was found
  type: str
objects_checked:
  description: Number of objects checked.
  returned: when a manifest was found
  type: int
bytes_checked:
  description: Bytes downloaded and checksummed.
  returned: when a manifest was found
  type: int
problems:
  description:
    - One entry per object that failed, with C(key), C(problem) (V(missing), V(size), V(sha256),
      V(sha1), V(decrypt), V(index), V(unreadable), V(tampered), V(incomplete), V(manifest),
      V(test_restore)), and the expected and actual values; V(tampered) adds C(version_id) (the pinned
      version) and C(newer_versions).
  returned: always
  type: list
  elements: dict
  sample: [{key: filestore/sha1/0a/0a1b2c..., problem: sha256, expected: 9f8e..., actual: 11aa...}]
manifest_version_id:
  description: S3 version id of the manifest read (its sealed, first version), when the bucket is versioned.
  returned: when a manifest was found
  type: str
test_restore:
  description:
    - Report of the test restore - scratch database, timings, tables, rows, row count differences,
      files restored, and whether the scratch database was dropped.
  returned: with O(test_restore) outside check mode
  type: dict
seconds:
  description: Duration of the verification.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.backup import task


def argument_spec():
    return task.verify_argument_spec()


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    result, secrets = task.run_verify_task(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
