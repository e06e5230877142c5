# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Imports every rule module, so that importing this one registers every rule (engine.load_all)."""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.rules import (
    backup,
    foundation,
    ingress,
    monitoring,
    observation,
    odoo,
    platform,
    postgresql,
    promotion,
    redis,
    release,
    storage,
)

# the modules whose import registers their rules (named here so that the imports are used)
MODULES = (
    backup,
    foundation,
    ingress,
    monitoring,
    observation,
    odoo,
    platform,
    postgresql,
    promotion,
    redis,
    release,
    storage,
)
