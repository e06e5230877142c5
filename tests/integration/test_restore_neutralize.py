"""SQL-mode neutralization and its verification against the lab's real PostgreSQL.

Each test gets its own scratch database with a small Odoo-shaped schema (see restore_lab.py).
"""

from __future__ import annotations

import sys

import psycopg
import pytest
from restore_lab import REPO, lab_postgres, pg_dsn, scratch_database, seed_odoo10, seed_odoo17

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.restore import neutralize as nz
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import NeutralizationError

pytestmark = pytest.mark.lab


@pytest.fixture
def primary():
    return lab_postgres()["primary"]


@pytest.fixture
def odoo17(primary):
    with scratch_database(primary) as db, psycopg.connect(pg_dsn(primary, db), autocommit=True) as conn:
        before = seed_odoo17(conn)
        yield conn, before


def _one(conn, query, *args):
    return conn.execute(query, args).fetchone()


def test_production_copy_fails_verification_before_neutralization(odoo17):
    conn, before = odoo17
    with pytest.raises(NeutralizationError) as err:
        nz.verify(conn, before=before)
    failed = {c["name"] for c in err.value.details["verification"]["checks"] if not c["ok"]}
    assert failed == {
        "no active outgoing mail server",
        "no active incoming mail server",
        "crons off except the autovacuum",
        "database.is_neutralized set",
        "database.uuid new for the copy",
        "database.secret new for the copy",
    }
    assert "smtp.office365.com" in err.value.msg


def test_sql_mode_neutralizes_and_verifies(odoo17):
    conn, before = odoo17
    ident = nz.renew_identity(conn)
    assert "********" in str(ident["queries"]) and before["database.secret"] not in str(ident)
    result = nz.apply_sql(conn)
    assert result["autovacuum_cron_ids"] == [1]
    report = nz.verify(conn, before=before)
    assert report["ok"], report

    # what Odoo's neutralize.sql files do, row by row
    assert _one(conn, "SELECT count(*) FROM ir_mail_server WHERE active AND smtp_host <> 'invalid'")[0] == 0
    dummy = conn.execute(
        "SELECT name, smtp_host, smtp_port, active FROM ir_mail_server WHERE smtp_host = 'invalid'"
    ).fetchall()
    assert dummy == [(nz.DUMMY_MAIL_SERVER_NAME, "invalid", 1025, True)]
    assert dict(conn.execute("SELECT cron_name, active FROM ir_cron").fetchall()) == {
        "Base: Auto-vacuum internal data": True,
        "Mail: Email Queue Manager": False,
        "Sync invoices to the bank": False,
        "Old disabled cron": False,
    }
    assert _one(conn, "SELECT active FROM fetchmail_server")[0] is False
    assert _one(conn, "SELECT mail_server_id FROM mail_template")[0] is None
    assert _one(conn, "SELECT webhook_url FROM ir_act_server WHERE state = 'webhook'")[0] == nz.WEBHOOK_NEUTRALIZED
    params = dict(conn.execute("SELECT key, value FROM ir_config_parameter").fetchall())
    assert params["database.is_neutralized"] == "true"
    assert params["database.uuid"] != before["database.uuid"] and len(params["database.uuid"]) == 36
    assert params["database.secret"] != before["database.secret"]
    assert params["web.base.url"] == "https://erp.example.com"


def test_sql_mode_is_idempotent(odoo17):
    conn, before = odoo17
    nz.renew_identity(conn)
    nz.apply_sql(conn)
    second = nz.apply_sql(conn)
    changed = {r["name"]: r["rows"] for r in second["rows"]}
    assert changed["add dummy mail server"] == 0
    assert changed["disable outgoing mail servers"] == 0
    assert changed["disable crons except the autovacuum"] == 0
    assert _one(conn, "SELECT count(*) FROM ir_mail_server WHERE smtp_host = 'invalid'")[0] == 1
    assert _one(conn, "SELECT count(*) FROM ir_config_parameter WHERE key = 'database.is_neutralized'")[0] == 1
    nz.verify(conn, before=before)


def test_check_mode_changes_nothing(odoo17):
    conn, _before = odoo17
    snapshot = conn.execute(
        "SELECT (SELECT json_agg(m ORDER BY id) FROM ir_mail_server m)::text, "
        "(SELECT json_agg(c ORDER BY id) FROM ir_cron c)::text, "
        "(SELECT json_agg(p ORDER BY id) FROM ir_config_parameter p)::text"
    ).fetchone()
    plan = nz.apply_sql(conn, check_mode=True)
    nz.renew_identity(conn, check_mode=True)
    assert plan["rows"] == [] and plan["queries"][0]["name"] == "disable outgoing mail servers"
    after = conn.execute(
        "SELECT (SELECT json_agg(m ORDER BY id) FROM ir_mail_server m)::text, "
        "(SELECT json_agg(c ORDER BY id) FROM ir_cron c)::text, "
        "(SELECT json_agg(p ORDER BY id) FROM ir_config_parameter p)::text"
    ).fetchone()
    assert after == snapshot


def test_disabled_dummy_and_no_dummy(odoo17):
    conn, before = odoo17
    nz.renew_identity(conn)
    nz.apply_sql(conn, dummy_mail_server="disabled")
    assert conn.execute("SELECT active FROM ir_mail_server WHERE smtp_host = 'invalid'").fetchall() == [(False,)]
    nz.verify(conn, before=before)
    nz.apply_sql(conn, dummy_mail_server="active")  # switching modes updates the one dummy
    assert conn.execute("SELECT active FROM ir_mail_server WHERE smtp_host = 'invalid'").fetchall() == [(True,)]


def test_verification_catches_what_a_custom_module_re_enabled(odoo17):
    conn, before = odoo17
    nz.renew_identity(conn)
    nz.apply_sql(conn)
    # a custom module's own data (or a post-restore hook) turns a cron and a mail server back on
    conn.execute("UPDATE ir_cron SET active = true WHERE cron_name = 'Sync invoices to the bank'")
    conn.execute("UPDATE ir_mail_server SET active = true WHERE name = 'Bulk mailer'")
    report = nz.verify(conn, before=before, raise_on_failure=False)
    bad = {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}
    assert set(bad) == {"no active outgoing mail server", "crons off except the autovacuum"}
    assert "Sync invoices to the bank" in bad["crons off except the autovacuum"]
    assert "smtp.sendgrid.net" in bad["no active outgoing mail server"]


def test_same_uuid_as_production_fails_the_copy_check(odoo17):
    conn, before = odoo17
    nz.apply_sql(conn)  # neutralized, but the identity was not renewed
    report = nz.verify(conn, before=before, raise_on_failure=False)
    bad = {c["name"] for c in report["checks"] if not c["ok"]}
    assert bad == {"database.uuid new for the copy", "database.secret new for the copy"}
    # a database that is not a copy (expect_copy=False) keeps its identity legitimately
    assert nz.verify(conn, before=before, expect_copy=False)["ok"]


def test_old_odoo_schema(primary):
    with scratch_database(primary) as db, psycopg.connect(pg_dsn(primary, db), autocommit=True) as conn:
        before = seed_odoo10(conn)
        nz.renew_identity(conn)
        result = nz.apply_sql(conn)
        assert result["autovacuum_cron_ids"] == [1]  # found by ir_cron.model, no xml id in this database
        nz.verify(conn, before=before)
        assert dict(conn.execute("SELECT name, active FROM ir_cron").fetchall()) == {
            "Auto-vacuum internal data": True,
            "Email Queue Manager": False,
        }


def test_not_an_odoo_database(primary):
    with scratch_database(primary) as db, psycopg.connect(pg_dsn(primary, db), autocommit=True) as conn:
        conn.execute("CREATE TABLE res_partner (id serial)")
        with pytest.raises(NeutralizationError, match="does not look like an Odoo database"):
            nz.apply_sql(conn)
        with pytest.raises(NeutralizationError, match="ir_mail_server"):
            nz.verify(conn)


def test_failed_statement_rolls_back_everything(odoo17):
    conn, _before = odoo17
    schema = nz.read_schema(conn)
    steps = [*nz.sql_plan(schema, [1]), nz.Step("boom", "SELECT 1/0")]
    with pytest.raises(NeutralizationError, match="nothing was changed"):
        nz.execute(conn, steps)
    assert _one(conn, "SELECT count(*) FROM ir_mail_server WHERE active")[0] == 2
