"""Unit tests of the pure parts of plugins/module_utils/restore: names and the switch statements, backup
selection, modes, table comparison, odoo.conf editing, pg_restore checks, failover policy, Job status,
filestore switch on a temporary directory."""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.restore import (  # noqa: E402
    dbops,
    failover,
    fetch,
    flow,
    k8sjob,
    odooconf,
    pgtools,
    selection,
    tablecheck,
)
from ansible_collections.governed.odoo.plugins.module_utils.restore import filestore as fsmod  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import (  # noqa: E402
    BackupNotFound,
    RefusedError,
)

UTC = dt.UTC


# --------------------------------------------------------------------------------------------
# names and the switch
# --------------------------------------------------------------------------------------------
def test_derived_names_fit_63_bytes_and_stay_distinct():
    assert dbops.candidate_name("acme", "20261126T020000") == "acme__restore_20261126T020000"
    assert dbops.previous_name("acme", "20261126T020000") == "acme__prev_20261126T020000"
    long = "a" * 60
    c, p = dbops.candidate_name(long, "20261126T020000"), dbops.previous_name(long, "20261126T020000")
    assert len(c.encode()) <= 63 and len(p.encode()) <= 63 and c != p
    assert dbops.is_leftover_of(long, c) and not dbops.is_leftover_of(long, p)
    assert dbops.is_leftover_of("acme", "acme__restore_1") and not dbops.is_leftover_of("acme", "acme2__restore_1")
    assert dbops.candidate_name("é" * 30, "20261126T020000").encode()  # multi-byte names cut on a boundary


@pytest.mark.parametrize("name", ["", "a b", "x;drop", "a" * 64, "../etc", '"quoted"'])
def test_unsafe_database_names_are_refused(name):
    with pytest.raises(RefusedError):
        dbops.check_db_name(name)


def test_switch_renames_live_first_then_candidate():
    stmts = dbops.switch_statements("acme", "acme__restore_1", "acme__prev_1", live_exists=True)
    assert [desc for desc, _stmt in stmts] == ["rename acme -> acme__prev_1", "rename acme__restore_1 -> acme"]
    assert [desc for desc, _stmt in dbops.switch_statements("acme", "acme__restore_1", "acme__prev_1", False)] == [
        "rename acme__restore_1 -> acme"]


def test_lock_key_is_stable_per_database():
    assert dbops.lock_key("acme") == dbops.lock_key("acme") != dbops.lock_key("acme2")
    assert -(2**63) <= dbops.lock_key("acme") < 2**63


# --------------------------------------------------------------------------------------------
# selection and modes
# --------------------------------------------------------------------------------------------
@dataclass
class Ref:
    backup_id: str

    @property
    def started_at(self):
        return dt.datetime.strptime(self.backup_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


REFS = [Ref("20261124T020000Z-aaaaaa"), Ref("20261126T020000Z-cccccc"), Ref("20261125T020000Z-bbbbbb")]


def test_choose_latest_named_and_before():
    assert selection.choose(REFS).backup_id.startswith("20261126")
    assert selection.choose(REFS, backup_id="20261124T020000Z-aaaaaa").backup_id.startswith("20261124")
    assert selection.choose(REFS, before="2026-11-25T23:00:00Z").backup_id.startswith("20261125")
    assert selection.choose(REFS, before="2026-11-25T02:00:00+00:00").backup_id.startswith("20261125")  # inclusive
    assert selection.choose(REFS, before="2026-11-25 03:00:00").backup_id.startswith("20261125")  # naive = UTC
    with pytest.raises(BackupNotFound, match="at or before"):
        selection.choose(REFS, before="2026-11-01T00:00:00Z")
    with pytest.raises(BackupNotFound, match="not in the store"):
        selection.choose(REFS, backup_id="20990101T000000Z-ffffff")


def opts(**kw):
    base = dict(environment="prod", db_name="acme", target={})
    base.update(kw)
    return flow.Options(**base)


@pytest.mark.parametrize(("kw", "expected"), [
    ({"target_environment": "staging"}, (False, True, "sql")),
    ({"target_environment": "staging", "job": {"image": "x@sha256:" + "0" * 64}}, (False, True, "job")),
    ({"target_environment": "prod"}, (True, False, "none")),
    ({"target_environment": "production-eu"}, (True, True, "none")),  # another production: a copy
    ({"target_environment": "preprod"}, (False, True, "sql")),
    ({"target_environment": "staging", "target_production": True}, (True, True, "none")),
    ({"target_environment": "qa", "copy": False}, (False, False, "sql")),
])
def test_resolve_modes(kw, expected):
    assert flow.resolve_modes(opts(**kw)) == expected


def test_modes_refused():
    with pytest.raises(RefusedError, match="always neutralized"):
        flow.resolve_modes(opts(target_environment="dev", neutralize="none"))
    with pytest.raises(RefusedError, match="not neutralized"):
        flow.resolve_modes(opts(target_environment="prod", neutralize="sql"))


def test_audit_record_names_who_what_and_where():
    rec = flow.audit_record("production_overwrite_authorized", opts(actor="alice", allow_production_overwrite=True,
                                                                    target_environment="prod"),
                            "acme", {"id": "prod/acme/1"}, "db:5432")
    assert rec["actor"] == "alice" and rec["allow_production_overwrite"] is True
    assert rec["target"] == {"server": "db:5432", "database": "acme", "environment": "prod"}
    assert rec["backup"] == "prod/acme/1" and rec["time"].endswith("Z")


def test_write_audit_appends_lines(tmp_path):
    path = tmp_path / "audit" / "restore.jsonl"
    flow.write_audit(str(path), {"a": 1})
    flow.write_audit(str(path), {"b": 2})
    assert path.read_text().splitlines() == ['{"a":1}', '{"b":2}']
    flow.write_audit(None, {"c": 3})  # no log configured: nothing


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def test_compare_counts_hashes_missing_extra():
    expected = {"a": 10, "b": {"rows": 5, "hash": "5-x"}, "gone": 1}
    actual = {"a": {"rows": 10, "hash": "a-1"}, "b": {"rows": 5, "hash": "5-y"}, "new": {"rows": 0}}
    cmp = tablecheck.compare(expected, actual)
    assert not cmp["ok"] and cmp["missing"] == ["gone"] and cmp["extra"] == ["new"] and cmp["mismatched"] == ["b"]
    assert cmp["hashes_compared"] == 1
    ok = tablecheck.compare({"a": 10}, {"a": {"rows": 10}}, hashes=False)
    assert ok["ok"] and ok["compared"] == 1
    assert tablecheck.compare({"a": 1, "x": 1}, {"a": {"rows": 1}}, ignore=["x"])["ok"]


def test_table_hash_and_digest():
    assert tablecheck.table_hash(3, 1, 2) == "3-00000000000000010000000000000002"
    fp = {"b": {"rows": 1, "hash": "h"}, "a": {"rows": 2, "hash": "g"}}
    assert tablecheck.digest_of(fp) == tablecheck.digest_of(dict(reversed(fp.items())))
    assert tablecheck.qualified("public", "t") == "t" and tablecheck.qualified("x", "t") == "x.t"


# --------------------------------------------------------------------------------------------
# odoo.conf
# --------------------------------------------------------------------------------------------
CONF = """[options]
; rendered by governed.odoo
addons_path = /opt/odoo/addons
db_name = acme
db_host=old-db
list_db = False

[queue_job]
channels = root:2
db_name = not-this-one
"""


def test_get_options_reads_the_options_section_only():
    o = odooconf.get_options(CONF)
    assert o["db_name"] == "acme" and o["db_host"] == "old-db" and "channels" not in o
    assert odooconf.get_options(CONF, "queue_job")["db_name"] == "not-this-one"


def test_set_options_changes_only_what_it_is_given():
    out = odooconf.set_options(CONF, {"db_name": "acme2", "db_port": 5433, "db_host": "new-db", "proxy_mode": True})
    assert odooconf.get_options(out) == {"addons_path": "/opt/odoo/addons", "db_name": "acme2", "db_host": "new-db",
                                         "list_db": "False", "db_port": "5433", "proxy_mode": "True"}
    assert "; rendered by governed.odoo" in out and "db_name = not-this-one" in out
    assert out.index("db_port = 5433") < out.index("[queue_job]")  # appended inside [options]
    assert odooconf.set_options(out, {"db_name": "acme2"}) == out  # idempotent


def test_set_options_creates_the_section_and_refuses_bad_input():
    assert odooconf.get_options(odooconf.set_options("", {"db_name": "x"})) == {"db_name": "x"}
    with pytest.raises(ValueError, match="single lines"):
        odooconf.set_options(CONF, {"db_name": "x\nadmin_passwd = y"})
    with pytest.raises(ValueError, match="option name"):
        odooconf.set_options(CONF, {"db name": "x"})


def test_set_options_keeps_crlf():
    out = odooconf.set_options("[options]\r\ndb_name = a\r\n", {"db_name": "b", "db_host": "h"})
    assert out == "[options]\r\ndb_name = b\r\ndb_host = h\r\n"


# --------------------------------------------------------------------------------------------
# pg_restore
# --------------------------------------------------------------------------------------------
def test_versions():
    assert pgtools.parse_version("pg_restore (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)") == (15, 18)
    assert pgtools.parse_version("pg_restore (PostgreSQL) 17beta1") == (17, 0)
    assert pgtools.major_of("15.18 (Debian)") == 15 and pgtools.major_of(150018) == 15
    assert pgtools.major_of(90624) == 9 and pgtools.major_of("150018") == 15 and pgtools.major_of(None) is None


def test_compatibility_rules():
    assert pgtools.check_compatible(16, 15, 15, 16) == ["restoring a PostgreSQL 15 backup into PostgreSQL 16"]
    assert pgtools.check_compatible(15, 15, 15, 15) == []
    with pytest.raises(RefusedError, match="cannot read an archive written by pg_dump 16"):
        pgtools.check_compatible(15, 16, 16, 16)
    with pytest.raises(RefusedError, match="older server"):
        pgtools.check_compatible(16, 16, 16, 15)


def test_restore_command():
    cmd = pgtools.restore_command("/bin/pg_restore", "acme__restore_1", "/w/db.dump", jobs=2, role="odoo")
    assert cmd == ["/bin/pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--dbname=acme__restore_1",
                   "--jobs=2", "--role=odoo", "/w/db.dump"]
    assert "--jobs=1" not in pgtools.restore_command("p", "d", "a", jobs=1)


# --------------------------------------------------------------------------------------------
# failover policy
# --------------------------------------------------------------------------------------------
PRIMARY = {"in_recovery": False, "system_identifier": "7", "current_lsn": "0/3000148", "read_only": False}
REPLICA = {"in_recovery": True, "system_identifier": "7", "replay_lsn": "0/3000000", "receive_lsn": "0/3000148"}


def test_lsn_arithmetic():
    assert failover.parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert failover.format_lsn(failover.parse_lsn("16/B374D848")) == "16/B374D848"
    lag = failover.lag(PRIMARY, REPLICA)
    assert lag == {"primary_lsn": "0/3000148", "replay_lsn": "0/3000000", "receive_lsn": "0/3000148",
                   "replay_lag_bytes": 0x148, "receive_lag_bytes": 0, "measured": True}
    assert failover.lag(None, REPLICA)["measured"] is False


def test_policy():
    within = failover.decide(PRIMARY, REPLICA, failover.lag(PRIMARY, REPLICA), 1024, force=False)
    assert within == {"action": "promote", "reasons": [], "forced": []}
    over = failover.decide(PRIMARY, REPLICA, {"replay_lag_bytes": 5000}, 1024, force=False)
    assert over["action"] == "refuse" and "over the policy" in over["reasons"][0]
    forced = failover.decide(PRIMARY, REPLICA, {"replay_lag_bytes": 5000}, 1024, force=True)
    assert forced["action"] == "promote" and forced["forced"]
    down = failover.decide(None, REPLICA, {}, 1024, force=False, primary_error="refused")
    assert down["action"] == "refuse" and "unreachable" in down["reasons"][0]
    assert failover.decide(None, REPLICA, {}, 1024, force=True)["action"] == "promote"


def test_policy_never_forces_a_wrong_pair():
    other = dict(PRIMARY, system_identifier="8")
    v = failover.decide(other, REPLICA, failover.lag(other, REPLICA), 1 << 30, force=True)
    assert v["action"] == "refuse" and "not a copy" in v["reasons"][0]
    v = failover.decide(dict(PRIMARY, in_recovery=True), REPLICA, {}, 1 << 30, force=True)
    assert v["action"] == "refuse"


def test_policy_after_promotion():
    promoted = dict(REPLICA, in_recovery=False)
    assert failover.decide(dict(PRIMARY, read_only=True), promoted, {}, 0, False)["action"] == "noop"
    assert failover.decide(None, promoted, {}, 0, False)["action"] == "noop"
    assert "split brain" in failover.decide(PRIMARY, promoted, {}, 0, True)["reasons"][0]


# --------------------------------------------------------------------------------------------
# Job status, filestore names
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "outcome"), [
    ({"conditions": [{"type": "Complete", "status": "True"}]}, "succeeded"),
    ({"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}, "succeeded"),
    ({"conditions": [{"type": "Failed", "status": "True"}]}, "failed"),
    ({"conditions": [{"type": "Failed", "status": "False"}], "active": 1}, None),
    ({"succeeded": 1}, "succeeded"),
    ({}, None),
])
def test_job_outcome(status, outcome):
    assert k8sjob.job_outcome({"status": status}) == outcome


class FakeClient:
    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.calls = []
        self.server = "https://x"
        self.headers = {}

    def request(self, method, path, query=None, body=None, content_type=None):
        self.calls.append((method, path))
        return {}

    def get(self, path, **query):
        self.calls.append(("GET", path))
        if path.endswith("/pods"):
            return {"items": []}
        return {"status": self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]}


def test_run_job_waits_and_deletes():
    client = FakeClient([{}, {"active": 1}, {"conditions": [{"type": "Complete", "status": "True"}]}])
    out = k8sjob.run_job(client, {"metadata": {"name": "j", "namespace": "ns"}}, sleep=lambda s: None)
    assert out["outcome"] == "succeeded"
    assert client.calls[0] == ("POST", "/apis/batch/v1/namespaces/ns/jobs")
    assert client.calls[-1] == ("DELETE", "/apis/batch/v1/namespaces/ns/jobs/j")


def test_run_job_failure_is_an_error():
    from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import KubernetesError

    client = FakeClient([{"conditions": [{"type": "Failed", "status": "True"}]}])
    with pytest.raises(KubernetesError, match="failed"):
        k8sjob.run_job(client, {"metadata": {"name": "j", "namespace": "ns"}}, sleep=lambda s: None)
    ticks = iter(range(0, 10000, 100))
    client = FakeClient([{"active": 1}])
    with pytest.raises(KubernetesError, match="timeout"):
        k8sjob.run_job(client, {"metadata": {"name": "j", "namespace": "ns"}}, timeout=250, sleep=lambda s: None,
                       clock=lambda: next(ticks))


@pytest.mark.parametrize(("fname", "safe"), [("ab/abcdef", True), ("checklist/ab/cd", True), ("/etc/passwd", False),
                                             ("ab/../../x", False), ("", False), ("a//b", False), ("a\\b", False)])
def test_safe_fname(fname, safe):
    assert (fetch.safe_fname(fname) is not None) is safe


# --------------------------------------------------------------------------------------------
# filestore switch (a real directory tree)
# --------------------------------------------------------------------------------------------
def write(base, rel, data):
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_filestore_switch_keeps_both_databases_whole(tmp_path):
    target = fsmod.PathTarget(str(tmp_path))
    live, cand, prev = tmp_path / "filestore" / "acme", tmp_path / "filestore" / "acme__restore_1", None
    write(live, "aa/old", b"old file")
    write(live, "bb/shared", b"shared")
    write(cand, "bb/shared", b"shared")
    write(cand, "cc/new", b"new file")
    write(cand, "dd/fixed", b"right content")
    write(live, "dd/fixed", b"wrong")  # same name, other size: replaced by the verified one
    snap = target.snapshot("acme", "acme__prev_1")
    assert snap["files"] == 3
    merged = target.merge("acme__restore_1", "acme")
    assert merged == {"added": 1, "replaced": 1, "already_present": 1}
    # between merge and switch: the live directory serves both databases
    assert target.list_files("acme") == {"aa/old": 8, "bb/shared": 6, "cc/new": 8, "dd/fixed": 13}
    pruned = target.prune("acme", {"bb/shared", "cc/new", "dd/fixed"})
    assert pruned == {"removed": 1} and not (live / "aa").exists()
    prev = tmp_path / "filestore" / "acme__prev_1"
    assert (prev / "aa" / "old").read_bytes() == b"old file" and (prev / "dd" / "fixed").read_bytes() == b"wrong"
    assert (live / "dd" / "fixed").read_bytes() == b"right content"
    assert os.stat(live / "cc" / "new").st_ino == os.stat(cand / "cc" / "new").st_ino  # linked, not copied
    assert target.leftovers(lambda n: "__restore_" in n) == ["acme__restore_1"]
    assert target.remove("acme__restore_1") and not target.remove("acme__restore_1")


def test_filestore_first_restore_creates_the_live_directory(tmp_path):
    target = fsmod.PathTarget(str(tmp_path))
    staging = Path(target.prepare_staging("acme__restore_1"))
    write(staging, "ab/abc", b"x")
    assert target.snapshot("acme", "acme__prev_1") == {"snapshot": None, "files": 0}
    assert target.merge("acme__restore_1", "acme")["added"] == 1
    assert target.list_files("acme") == {"ab/abc": 1}
    with pytest.raises(Exception, match="unsafe"):
        target.db_dir("../x")
