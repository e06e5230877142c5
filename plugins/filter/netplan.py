# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network plan filters over plugins/module_utils/netplan.py (the logic, also used by the rule package).

Documentation of each filter is in the YAML file of the same name beside this one
(netplan_carve.yml, netplan_validate_allowlist.yml, netplan_check_overlaps.yml).
"""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError
from ansible_collections.governed.odoo.plugins.module_utils import netplan


def _filter(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except netplan.NetplanError as exc:
            raise AnsibleFilterError(exc.msg) from None

    return wrapper


class FilterModule:
    def filters(self):
        return {
            "netplan_carve": _filter(netplan.netplan_carve),
            "netplan_validate_allowlist": _filter(netplan.netplan_validate_allowlist),
            "netplan_check_overlaps": _filter(netplan.netplan_check_overlaps),
        }
