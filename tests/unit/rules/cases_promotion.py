"""For every promotion rule: inputs that trigger it and inputs that pass it (see cases_redis.py).

Instants are fixed (no wall clock)."""

from __future__ import annotations

import datetime as dt

NOW = dt.datetime(2026, 12, 6, 11, 0, tzinfo=dt.UTC)


def held(holder="alice@ctl-1/run-1", minutes=5, operation="promote 2026.12.1", me="bob@ctl-2/run-2"):
    return {"promotion_lock": {"holder": holder, "operation": operation, "namespace": "odoo-civil-prod",
                               "expires": NOW + dt.timedelta(minutes=minutes) if minutes is not None else None},
            "promotion_holder": me, "now": NOW}


CASES = {
    "promotion.lock_free": {
        "bad": [
            (held(), "held by alice@ctl-1/run-1 (promote 2026.12.1) until 2026-12-06T11:05:00.000000Z"),
            (held(operation="", minutes=1), "odoo-civil-prod is held by alice@ctl-1/run-1 until"),
        ],
        "good": [
            {"promotion_lock": None, "promotion_holder": "bob", "now": NOW},  # nobody holds it
            held(minutes=-1),  # a killed run's hold expired: it may be taken over
            held(minutes=0),  # expires exactly now
            held(me="alice@ctl-1/run-1"),  # this run's own lock
            held(minutes=None),  # a Lease without a renew time holds nothing
            held(holder=None),
        ],
    },
}
