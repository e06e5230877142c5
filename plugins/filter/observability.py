# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Observability filters over plugins/module_utils/observability.py: the one definition of an instance's
Traefik services, for the monitoring role's alert rules and dashboards (release_observation uses the same).

Documentation of each filter is in the YAML file of the same name beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.governed.odoo.plugins.module_utils import observability


def traefik_service_selector(namespace):
    try:
        return observability.traefik_service_selector(namespace)
    except observability.ObservationError as exc:
        raise AnsibleFilterError(exc.msg) from None


class FilterModule:
    def filters(self):
        return {"traefik_service_selector": traefik_service_selector}
