# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the promotion package; a module reports ``msg`` plus ``details`` in one place."""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError


class PromotionError(GovernedError):
    """Base class of the errors raised on purpose below ``module_utils/promotion``."""

    kind = "promotion_error"


class LockHeld(PromotionError):
    """The promotion lock of the instance is held by another run that has not expired."""

    kind = "lock_held"
