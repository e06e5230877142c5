#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_list
short_description: List the Odoo backups of an environment and database, newest first
version_added: 0.2.0
description:
  - Lists the restorable backups (those with a manifest) of one environment, and one database of it,
    in a backup store, newest first - id, start and end time, size, whether the manifest is sealed
    (it validates, its own SHA-256 included) and whether it is under object lock now.
  - Backups are found among object versions, so a manifest hidden by a delete marker, or with a newer
    version written over it, is still listed, with C(hidden_by_delete_marker) or
    C(newer_manifest_versions) and C(tampered); its sealed first version is the one read.
  - A manifest that does not validate is listed with C(sealed=false) and the reason in C(error).
  - Reads only; never changes the store.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.s3
  - governed.odoo.backup_store
attributes:
  check_mode:
    description: Supported; the module only reads.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  environment:
    description: Environment of the backups.
    type: str
    required: true
  database:
    description:
      - Name of the backed-up database (the manifests' C(db_name)).
      - If not set, every database of the environment.
    type: str
seealso:
  - module: governed.odoo.backup
  - module: governed.odoo.backup_verify
"""

EXAMPLES = r"""
- name: List the backups of the production database
  governed.odoo.backup_list:
    environment: prod
    database: civil_prod
    bucket: governed-odoo-prod-backups
    endpoint_url: https://s3.region-a.example.org
  register: listing

- name: Show the newest
  ansible.builtin.debug:
    msg: "{{ listing.backups[0].backup_id }} ({{ listing.backups[0].size }} bytes)"
  when: listing.backups | length > 0
"""

RETURN = r"""
backups:
  description:
    - The backups, newest first. Each has C(backup_id), C(environment), C(db_name), C(started_at), C(manifest_key),
      C(sealed), C(locked), C(lock_mode), C(retain_until) (of the manifest's version) and C(tampered); a sealed one
      also C(finished_at), C(size) (bytes in the store - its own objects and the filestore objects it references),
      C(database_size), C(filestore_count), C(filestore_size), C(encrypted), C(odoo_version) and C(format_version);
      one that is not sealed C(error).
  returned: always
  type: list
  elements: dict
  sample:
    - {backup_id: 20261206T013000Z-4f2a9c, environment: prod, db_name: civil_prod, started_at: "2026-12-06T01:30:00Z",
       finished_at: "2026-12-06T01:34:12Z", size: 1073741824, sealed: true, locked: true, lock_mode: COMPLIANCE,
       retain_until: "2027-01-10T01:34:12Z", tampered: false,
       manifest_key: backups/prod/civil_prod/20261206T013000Z-4f2a9c/manifest.json}
lines:
  description: The same backups as text, one line each - id, start time, size, sealed or not, lock, tampering.
  returned: always
  type: list
  elements: str
  sample:
    - "20261206T013000Z-4f2a9c  2026-12-06T01:30:00Z  1.0 GiB  sealed  locked COMPLIANCE until 2027-01-10T01:34:12Z"
count:
  description: Number of backups listed.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.governed.odoo.plugins.module_utils.backup import args as bargs
from ansible_collections.governed.odoo.plugins.module_utils.backup import s3client
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError
from ansible_collections.governed.odoo.plugins.module_utils.backup.listing import line, list_backups
from ansible_collections.governed.odoo.plugins.module_utils.common_args import s3_argument_spec


def argument_spec():
    spec = s3_argument_spec()
    spec.update(bargs.store_argument_spec())
    spec.update(
        environment=dict(type="str", required=True),
        database=dict(type="str"),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if not s3client.HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(s3client.BOTO3_IMPORT_ERROR))
    try:
        store = bargs.store_target(p).open(pool=max(8, p["threads"] + 4))
        backups = list_backups(store, p["environment"], p["database"])
    except BackupError as exc:
        module.fail_json(msg=exc.msg, **exc.as_result())
    for item in backups:
        if item["tampered"]:
            module.warn(f"backup {item['environment']}/{item['db_name']}/{item['backup_id']}: its manifest was hidden "
                        "or written over after it was sealed (run governed.odoo.backup_verify)")
    module.exit_json(changed=False, backups=backups, lines=[line(item) for item in backups], count=len(backups))


if __name__ == "__main__":
    main()
