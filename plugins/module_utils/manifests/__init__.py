# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes objects of each layer of an instance, built as data in Python.

``build(name, variables)`` gives what the layer ``name`` renders: a list of objects (dicts), or text for
``odoo.conf``. ``variables`` maps variable names to their values as a task would see them (templated); a variable
that is not defined is not in it (``KeyError``), as Jinja's ``default`` filter would see it. The
``governed.odoo.manifests`` lookup passes the task's variables, templated as they are read.
"""

from __future__ import annotations

import importlib

# name -> (module of this package, function)
BUILDERS = {
    "foundation": ("foundation", "objects"),
    "postgresql": ("postgresql", "objects"),
    "redis": ("redis", "objects"),
    "storage": ("storage", "objects"),
    "odoo": ("odoo", "objects"),
    "odoo.conf": ("odoo", "conf_text"),
    "odoo_migration": ("odoo_jobs", "migration_objects"),
    "odoo_health_probe": ("odoo_jobs", "health_probe_objects"),
    "ingress": ("ingress", "objects"),
    "monitoring": ("monitoring", "objects"),
    "backup": ("backup", "objects"),
}


def builder(name):
    """The function that builds layer ``name``."""
    module, function = BUILDERS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def build(name, variables):
    """The objects (or the text) of layer ``name`` from ``variables``."""
    return builder(name)(variables)
