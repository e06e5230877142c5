#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_retention
short_description: Apply a grandfather-father-son retention policy to Odoo backups
version_added: 0.1.0
description:
  - Applies a grandfather-father-son policy per environment and database, for example 7 daily,
    4 weekly and 12 monthly backups. O(policy.daily=7) keeps the newest backup of each of the 7 most
    recent days that have a backup; weekly uses ISO weeks, monthly and yearly calendar months and
    years. The newest O(policy.keep_last) backups are always kept.
  - A backup is deleted manifest first, so it stops being listed as restorable before any part of it
    goes. Object lock is never bypassed - if the object store refuses to delete a backup's manifest
    because it is locked, nothing of that backup is touched and it is reported in RV(locked) with the
    server's answer and the lock's date.
  - Filestore objects are shared by backups. One is deleted only if no remaining backup of any
    environment or database in the store references it, and it is older than O(grace_hours) (the new
    files of a running backup have no manifest yet). Locked filestore objects are reported, not
    attempted. If any manifest or filestore index cannot be read, no filestore object is deleted.
  - Table-data objects (backup format version 2, under C(dbdata/)) hold the data of one large table
    and are shared the same way - a later backup references the object an earlier backup wrote while
    the table did not change, so deleting the backup that wrote one does not delete it. One is deleted
    only if no remaining manifest of any environment or database references it and it is older than
    O(grace_hours); locked ones are reported, not attempted; if any manifest cannot be read, none is
    deleted. This collection runs whatever O(gc_filestore) says.
  - Also removes the debris of interrupted backups (backup directories without a manifest) and
    aborts incomplete multipart uploads (of backup directories and of table-data objects), once older
    than O(grace_hours).
  - In check mode nothing is deleted; the result lists what would be. A second run right after a
    first one changes nothing.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.s3
  - governed.odoo.backup_store
attributes:
  check_mode:
    description: Supported; lists the backups and objects that would be deleted and those that are locked.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  environment:
    description: Apply the policy to this environment's backups only. If not set, to every environment.
    type: str
  database:
    description: Apply the policy to this database's backups only. If not set, to every database.
    type: str
  policy:
    description: How many backups to keep.
    type: dict
    default: {}
    suboptions:
      daily:
        description: Newest backup of each of this many most recent days that have a backup.
        type: int
        default: 7
      weekly:
        description: Newest backup of each of this many most recent ISO weeks that have a backup.
        type: int
        default: 4
      monthly:
        description: Newest backup of each of this many most recent months that have a backup.
        type: int
        default: 12
      yearly:
        description: Newest backup of each of this many most recent years that have a backup.
        type: int
        default: 0
      keep_last:
        description: The newest this many backups are always kept (at least 1).
        type: int
        default: 1
      timezone:
        description: Time zone in which days, weeks, months and years begin, for example V(Europe/Berlin).
        type: str
        default: UTC
  gc_filestore:
    description: Delete filestore objects that no remaining backup references.
    type: bool
    default: true
  grace_hours:
    description:
      - Objects and backup directories younger than this are never deleted as garbage or debris.
        It must exceed the longest backup run.
    type: int
    default: 24
seealso:
  - module: governed.odoo.backup
"""

EXAMPLES = r"""
- name: Keep 7 daily, 4 weekly and 12 monthly backups of production
  governed.odoo.backup_retention:
    environment: production
    bucket: odoo-backups
    endpoint_url: https://s3.region-a.example.org
    policy:
      daily: 7
      weekly: 4
      monthly: 12
      timezone: Europe/Berlin

- name: Preview what retention would delete
  governed.odoo.backup_retention:
    bucket: odoo-backups
    policy: {daily: 3, weekly: 0, monthly: 0}
  check_mode: true
  register: preview
"""

RETURN = r"""
kept:
  description: Backups kept, each with the rules that keep it (for example V(daily 2025-03-04)).
  returned: always
  type: list
  elements: dict
deleted:
  description: Backups deleted (in check mode - that would be deleted).
  returned: always
  type: list
  elements: dict
locked:
  description:
    - Backups the policy would delete but that are under object lock; the object store refused (or
      would refuse) their deletion. Each has C(retain_until), C(lock_mode) and, outside check mode,
      C(server_refused) with the server's answer.
  returned: always
  type: list
  elements: dict
refused:
  description: Deleted backups of which the object store refused to delete some objects.
  returned: always
  type: list
  elements: dict
incomplete_deleted:
  description: Backup directories without a manifest (interrupted runs) removed.
  returned: always
  type: list
  elements: dict
uploads_aborted:
  description: Incomplete multipart uploads aborted.
  returned: always
  type: list
  elements: dict
filestore:
  description:
    - Filestore garbage collection - C(deleted) objects, C(locked) objects not deleted, samples of
      their keys, or C(skipped) with the reason.
  returned: always
  type: dict
dbdata:
  description:
    - Garbage collection of table-data objects (under C(dbdata/)) that no remaining manifest
      references - C(deleted) objects, C(locked) objects not deleted, samples of their keys
      (C(deleted_keys), C(locked_keys)), or C(skipped) with the reason. Same shape as RV(filestore).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.backup import task


def argument_spec():
    return task.retention_argument_spec()


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    result, secrets = task.run_retention_task(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
