# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of releases, policies, windows and approvals."""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError


class ReleaseError(GovernedError):
    """A release file, policy, calendar or statement cannot be read at all (refusals are rule findings)."""

    kind = "release"
