# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CronJob schedule and time zone filters over plugins/module_utils/cron.py (the logic, also used by the rule
package).

Documentation is in cron_validate.yml and time_zone_validate.yml beside this file.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.governed.odoo.plugins.module_utils import cron as logic


def cron_validate(value, field_name, time_zone=None, time_zone_field="timeZone"):
    """Problems of a CronJob schedule (and optionally its time zone), each naming ``field_name``; [] if none."""
    try:
        return logic.cron_validate(value, field_name, time_zone=time_zone, time_zone_field=time_zone_field)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


def time_zone_validate(value, field_name):
    """Problems of an IANA time zone name (as CronJob spec.timeZone takes it), each naming ``field_name``."""
    return logic.time_zone_validate(value, field_name)


class FilterModule:
    def filters(self):
        return {"cron_validate": cron_validate, "time_zone_validate": time_zone_validate}
