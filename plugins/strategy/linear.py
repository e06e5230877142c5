# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: linear
short_description: The linear strategy, with compiled templates kept and plugins loaded once
version_added: 0.2.0
description:
  - Runs tasks exactly as R(ansible.builtin.linear,ansible_collections.ansible.builtin.linear_strategy) does.
  - Before the first task it loads, in the controller process, the plugins the collection's playbooks use
    on every host (so each forked worker inherits them instead of importing them again), and keeps
    compiled Jinja templates in memory and on disk (see the C(GOVERNED_ODOO_TEMPLATE_CACHE) environment
    variable), because ansible-core compiles every template again in every worker. Rendering the objects of
    many instances is dominated by both.
  - The output of a play is the same as with the builtin strategy; only its cost changes.
  - The cache lives in C($XDG_CACHE_HOME/governed-odoo/jinja) (by default C(~/.cache/governed-odoo/jinja)),
    keyed by the template source, the compile settings and the versions of Python, Jinja2 and ansible-core.
    C(GOVERNED_ODOO_TEMPLATE_CACHE=off) turns it off; any other value names the directory.
author:
  - governed.odoo maintainers (@governed-odoo)
"""

import contextlib

from ansible.plugins.loader import filter_loader, lookup_loader, test_loader
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible_collections.governed.odoo.plugins.plugin_utils import template_cache

# plugins that every host of the collection's playbooks uses; loading them here makes them part of the
# process every worker is forked from
_PRELOAD = (
    (
        lookup_loader,
        (
            "governed.odoo.manifests",
            "governed.odoo.postgresql_probe",
            "governed.odoo.k8s_crds",
            "ansible.builtin.file",
            "ansible.builtin.env",
            "ansible.builtin.password",
        ),
    ),
    (filter_loader, ("governed.odoo.netplan_carve", "ansible.builtin.to_json", "ansible.builtin.b64encode")),
    (test_loader, ("ansible.builtin.match",)),
)


def _preload():
    for loader, names in _PRELOAD:
        for name in names:
            with contextlib.suppress(Exception):  # preloading is an optimisation only
                loader.get(name)


class StrategyModule(LinearStrategyModule):
    def __init__(self, tqm):
        super().__init__(tqm)
        template_cache.install()
        _preload()
