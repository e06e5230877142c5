# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Promote a PostgreSQL streaming replica to primary, with a real lag measurement and a policy.

Lag is measured, not guessed: the primary's ``pg_current_wal_lsn()`` against the replica's
``pg_last_wal_replay_lsn()`` (what the replica has applied, the brief's "replay lag") and
``pg_last_wal_receive_lsn()`` (what it has received: WAL received but not yet applied is applied
during promotion; WAL not received is what a failover loses). Both servers must share the same
``system_identifier``, so a wrong pair is refused.

The steps, in order:

1. read both servers (the primary may be unreachable: that is the usual disaster);
2. decide (pure, :func:`decide`): refuse when the replica is not in recovery and not already
   promoted, when the pair does not match, when the replay lag exceeds ``max_lag_bytes``, or when
   the lag cannot be measured because the primary is unreachable -- each unless ``force``;
3. fence the old primary when it is reachable: ``default_transaction_read_only`` on (ALTER SYSTEM
   and reload) and its client sessions terminated, so nothing more is written to it; then wait
   until the replica has replayed up to the primary's last LSN (zero data loss for a planned
   switchover);
4. ``pg_promote(wait => true)`` on the replica;
5. check the new primary: not in recovery, and a transaction id can be assigned (a real write).

Re-pointing Odoo's configuration and the write check through it are the playbook's job
(playbooks/db_failover.yml).
"""

from __future__ import annotations

import time

from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import (
    DatabaseError,
    FailoverError,
    RefusedError,
)
from ansible_collections.governed.odoo.plugins.module_utils.restore.pgconn import connect, psycopg


def parse_lsn(text):
    """'16/B374D848' -> int (pure). None stays None."""
    if text is None:
        return None
    high, _sep, low = str(text).partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def format_lsn(value):
    return None if value is None else f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def read_primary(conn):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_is_in_recovery(), (SELECT system_identifier FROM pg_control_system())::text, "
            "CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END, "
            "CASE WHEN pg_is_in_recovery() THEN NULL ELSE "
            "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END, "
            "current_setting('server_version_num')::int, current_setting('default_transaction_read_only') = 'on'"
        )
        recovery, sysid, lsn, timeline, version, read_only = cur.fetchone()
        cur.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
        streaming = cur.fetchone()[0]
    return {"in_recovery": recovery, "system_identifier": sysid, "current_lsn": lsn, "timeline": timeline,
            "version_num": version, "streaming_replicas": streaming, "read_only": read_only}


def read_replica(conn):
    with conn.cursor() as cur:
        cur.execute(
            "SELECT pg_is_in_recovery(), (SELECT system_identifier FROM pg_control_system())::text, "
            "pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text, "
            "pg_last_xact_replay_timestamp(), "
            "CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END, "
            "(SELECT status FROM pg_stat_wal_receiver LIMIT 1), "
            "CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1) ELSE "
            "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END, "
            "current_setting('server_version_num')::int"
        )
        row = cur.fetchone()
    recovery, sysid, received, replayed, replay_ts, paused, receiver, timeline, version = row
    return {"in_recovery": recovery, "system_identifier": sysid, "receive_lsn": received, "replay_lsn": replayed,
            "last_replay_timestamp": replay_ts.isoformat() if replay_ts else None, "replay_paused": paused,
            "wal_receiver": receiver, "timeline": timeline, "version_num": version}


def lag(primary, replica):
    """Lag in bytes from the two readings (pure); None where it cannot be measured."""
    cur = parse_lsn(primary.get("current_lsn")) if primary else None
    replay = parse_lsn(replica.get("replay_lsn"))
    received = parse_lsn(replica.get("receive_lsn"))
    out = {"primary_lsn": primary.get("current_lsn") if primary else None,
           "replay_lsn": replica.get("replay_lsn"), "receive_lsn": replica.get("receive_lsn"),
           "replay_lag_bytes": None, "receive_lag_bytes": None, "measured": False}
    if cur is not None and replay is not None:
        out["replay_lag_bytes"] = max(0, cur - replay)
        out["measured"] = True
    if cur is not None and received is not None:
        out["receive_lag_bytes"] = max(0, cur - received)
    return out


def decide(primary, replica, lag_info, max_lag_bytes, force, primary_error=None):
    """The policy verdict (pure): ``{"action": "promote"|"noop"|"refuse", "reasons": [...], "forced": [...]}``."""
    reasons, forced = [], []

    def rule(text):
        (forced if force else reasons).append(text)

    if not replica["in_recovery"]:
        if primary is not None and not primary["in_recovery"] and not primary.get("read_only") and \
                primary["system_identifier"] == replica["system_identifier"]:
            return {"action": "refuse", "forced": [],
                    "reasons": ["both servers are writable primaries of the same cluster: split brain, "
                                "resolve by hand"]}
        fenced = "; the old primary is fenced (read-only)" if primary and primary.get("read_only") else ""
        return {"action": "noop", "forced": [],
                "reasons": ["the replica is already a primary (promoted before)" + fenced]}
    if primary is None:
        rule("the primary is unreachable, so the replica's lag cannot be measured"
             + (f" ({primary_error})" if primary_error else "")
             + "; transactions the replica has not received would be lost")
    else:
        if primary["in_recovery"]:
            reasons.append("the server given as primary is itself in recovery (a replica)")
        if primary["system_identifier"] != replica["system_identifier"]:
            reasons.append(f"the replica (system {replica['system_identifier']}) is not a copy of this primary "
                           f"(system {primary['system_identifier']})")
        measured = lag_info.get("replay_lag_bytes")
        if measured is not None and measured > max_lag_bytes:
            rule(f"the replica's replay lag is {measured} bytes, over the policy's {max_lag_bytes}")
    if reasons:
        return {"action": "refuse", "reasons": reasons, "forced": forced}
    return {"action": "promote", "reasons": [], "forced": forced}


def fence(conn):
    """Make the old primary refuse writes and drop its client sessions (replication stays)."""
    with conn.cursor() as cur:
        cur.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        cur.execute("SELECT pg_reload_conf()")
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        terminated = cur.fetchone()[0]
        cur.execute("SELECT pg_current_wal_lsn()::text")
        final_lsn = cur.fetchone()[0]
    return {"terminated_sessions": terminated, "final_lsn": final_lsn}


def unfence(conn):
    with conn.cursor() as cur:
        cur.execute("ALTER SYSTEM RESET default_transaction_read_only")
        cur.execute("SELECT pg_reload_conf()")


def wait_replayed(replica_conn, target_lsn, timeout, sleep=time.sleep, clock=time.monotonic):
    """Wait until the replica has replayed ``target_lsn``; returns the last replay LSN seen."""
    target = parse_lsn(target_lsn)
    deadline = clock() + timeout
    while True:
        with replica_conn.cursor() as cur:
            cur.execute("SELECT pg_last_wal_replay_lsn()::text, pg_is_wal_replay_paused()")
            replayed, paused = cur.fetchone()
        if parse_lsn(replayed) is not None and parse_lsn(replayed) >= target:
            return {"reached": True, "replay_lsn": replayed}
        if paused or clock() > deadline:
            return {"reached": False, "replay_lsn": replayed, "replay_paused": paused}
        sleep(0.2)


def promote(replica_conn, timeout):
    with replica_conn.cursor() as cur:
        try:
            cur.execute("SELECT pg_promote(true, %s)", (int(timeout),))
        except psycopg.Error as exc:
            raise FailoverError(f"pg_promote failed: {exc}") from exc
        ok = cur.fetchone()[0]
    if not ok:
        raise FailoverError(f"the replica did not finish promotion within {timeout} seconds")


def check_writable(conn):
    """Assign a transaction id on the new primary: fails on a server still in recovery."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery()")
        if cur.fetchone()[0]:
            raise FailoverError("the promoted server is still in recovery")
        cur.execute("SELECT txid_current()::text, pg_current_wal_lsn()::text, "
                    "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")
        xid, lsn, timeline = cur.fetchone()
    return {"txid": xid, "lsn": lsn, "timeline": timeline}


def run(replica_params, primary_params=None, max_lag_bytes=16 * 1024 * 1024, force=False, fence_old_primary=True,
        catchup_timeout=60, promote_timeout=60, check_mode=False, connector=connect):
    """The whole failover (see the module doc). Returns the result dict for the module."""
    result = {"changed": False, "promoted": False, "fenced_old_primary": False, "steps": []}
    replica_conn = connector(replica_params, dbname=replica_params.get("db") or "postgres")
    primary_conn, primary, primary_error = None, None, None
    try:
        replica = read_replica(replica_conn)
        if primary_params and primary_params.get("login_host") is not None:
            try:
                primary_conn = connector(primary_params, dbname=primary_params.get("db") or "postgres")
                primary = read_primary(primary_conn)
            except (DatabaseError, psycopg.Error) as exc:
                primary_error = str(exc).splitlines()[0]
        lag_info = lag(primary, replica)
        verdict = decide(primary, replica, lag_info, max_lag_bytes, force, primary_error)
        result.update({"replica": replica, "primary": primary, "primary_error": primary_error, "lag": lag_info,
                       "policy": {"max_lag_bytes": max_lag_bytes, "force": force}, "verdict": verdict})
        if verdict["action"] == "refuse":
            raise RefusedError("failover refused: " + "; ".join(verdict["reasons"])
                               + ("" if force else " (force=true overrides the lag rules)"), **_public(result))
        if verdict["action"] == "noop":
            result["new_primary"] = check_writable(replica_conn) if not check_mode else None
            return result
        plan = []
        if primary_conn is not None and fence_old_primary:
            plan.append("fence the old primary (read-only, sessions terminated), wait for the replica to catch up")
        plan.append("pg_promote() on the replica")
        plan.append("check the new primary accepts writes")
        result["plan"] = plan
        if check_mode:
            result["changed"] = True
            return result
        if primary_conn is not None and fence_old_primary:
            fenced = fence(primary_conn)
            result["fenced_old_primary"] = True
            result["changed"] = True
            result["steps"].append({"fence": fenced})
            caught = wait_replayed(replica_conn, fenced["final_lsn"], catchup_timeout)
            result["steps"].append({"catch_up": caught})
            if not caught["reached"] and not force:
                unfence(primary_conn)
                result["fenced_old_primary"] = False
                raise RefusedError(
                    f"the replica did not replay up to the primary's last LSN {fenced['final_lsn']} within "
                    f"{catchup_timeout}s (at {caught['replay_lsn']}"
                    + (", replay paused" if caught.get("replay_paused") else "")
                    + "); the old primary was un-fenced and nothing was promoted", **_public(result))
        promote(replica_conn, promote_timeout)
        result["changed"] = True
        result["promoted"] = True
        result["steps"].append({"promote": "done"})
        result["new_primary"] = check_writable(replica_conn)
        return result
    finally:
        for c in (replica_conn, primary_conn):
            if c is not None:
                c.close()


PUBLIC_KEYS = ("replica", "primary", "primary_error", "lag", "policy", "verdict", "steps", "fenced_old_primary")


def _public(result):
    return {k: v for k, v in result.items() if k in PUBLIC_KEYS}
