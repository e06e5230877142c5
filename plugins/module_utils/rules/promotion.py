# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the runs that change an instance's release (promote.yml, rollback.yml), over live state.

The evidence is read elsewhere (module_utils/promotion/lock.py reads the instance's Lease) and handed in as named
inputs: ``promotion_lock`` ({holder, operation, expires (an aware datetime or None), namespace}), ``promotion_holder``
(this run) and ``now``.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule


@rule(
    "promotion.lock_free",
    layer="promotion",
    scope="live",
    reads=("promotion_lock", "promotion_holder", "now"),
    refuses="a promotion, rollback or restore of an instance while another run holds its lock (a Lease not expired)",
    example="the promotion lock of odoo-civil-prod is held by alice@ctl-1/20261206t110000-4821 (promote 2026.12.1) "
            "until 2026-12-06T12:00:00.000000Z: another promotion, rollback or restore of this instance is running",
)
def lock_free(i):
    lock = i.get("promotion_lock") or {}
    holder = lock.get("holder")
    if not holder or holder == i.get("promotion_holder"):
        return
    expires = lock.get("expires")
    if expires is None or expires <= i.get("now"):
        return  # a run that was killed: its hold expired and may be taken over
    what = f" ({lock['operation']})" if lock.get("operation") else ""
    yield (f"the promotion lock of {lock.get('namespace')} is held by {holder}{what} until "
           f"{expires.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}: another promotion, rollback or restore of this instance "
           "is running")
