# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options naming a backup store (bucket and key prefix), shared by backup, backup_verify and
backup_retention. The matching argument spec is
plugins/module_utils/backup/args.py:store_argument_spec()."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  bucket:
    description:
      - Bucket of the backup store.
      - For object lock, the bucket must have been created with object lock enabled
        (for example with M(governed.odoo.s3_bucket)).
    type: str
    required: true
  prefix:
    description:
      - Key prefix of the store inside O(bucket), so that one bucket can hold several stores.
      - Empty means the bucket root. The layout below it is described in C(docs/backup-format.md).
    type: str
    default: ""
  threads:
    description:
      - Number of parallel object transfers.
    type: int
    default: 8
notes:
  - The backup format (object layout, manifest, filestore index, encryption) is described in
    C(docs/backup-format.md) of the collection and implemented in C(plugins/module_utils/backup/manifest.py).
"""
