# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GitOps filters over plugins/module_utils/gitops/sync.py: what a commit puts on an instance (its audit record), and
whether the live Deployments run it (playbooks/promote_verify.yml).

Documentation of each filter is in the YAML file of the same name beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.governed.odoo.plugins.module_utils.gitops import GitopsError, sync


def gitops_expected(record):
    try:
        return sync.expected(record)
    except GitopsError as exc:
        raise AnsibleFilterError(exc.msg) from None


def gitops_rollout(live, manifests, image):
    if not isinstance(live, list) or not isinstance(manifests, list):
        raise AnsibleFilterError("gitops_rollout: expected a list of live Deployments and a list of committed objects")
    try:
        return sync.rollout(live, sync.odoo_deployments(manifests), image)
    except GitopsError as exc:
        raise AnsibleFilterError(exc.msg) from None


class FilterModule:
    def filters(self):
        return {"gitops_expected": gitops_expected, "gitops_rollout": gitops_rollout}
