# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which layers exist, and where their default values live.

A layer is one of the collection's roles (its rules read that role's variables, with the role's defaults and
vars applied) or ``platform`` (the ``governed_odoo_*`` variables every instance declares in the inventory).
"""

from __future__ import annotations

from pathlib import Path

# the roles in the order site.yml runs them, then the backup role
ROLE_LAYERS = ("foundation", "postgresql", "redis", "storage", "odoo", "ingress", "monitoring", "backup")
LAYERS = ("platform", *ROLE_LAYERS)

COLLECTION_ROOT = Path(__file__).resolve().parents[3]


def role_files(layer):
    """(defaults file, vars file) of a role layer; either may be None when the role has none."""
    if layer not in ROLE_LAYERS:
        return None, None
    base = COLLECTION_ROOT / "roles" / layer
    defaults, role_vars = base / "defaults" / "main.yml", base / "vars" / "main.yml"
    return (defaults if defaults.is_file() else None), (role_vars if role_vars.is_file() else None)
