# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lifecycle rules of a backups bucket, over plugins/module_utils/backup/lifecycle.py (the logic).

Documentation is in backup_bucket_lifecycle.yml beside this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.governed.odoo.plugins.module_utils.backup import lifecycle


def backup_bucket_lifecycle(prefixes, expire_days, noncurrent_days, abort_days):
    """Lifecycle rules of a backups bucket whose stores live at ``prefixes``."""
    try:
        return lifecycle.backups_bucket_rules(prefixes, expire_days, noncurrent_days, abort_days)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {"backup_bucket_lifecycle": backup_bucket_lifecycle}
