"""SQL-mode neutralization and its verification against the lab's real PostgreSQL.

Each test gets its own scratch database with a small Odoo-shaped schema: the core tables of
restore_lab.py, and the addons' tables of tests/fixtures/odoo_addons.py in the shapes of Odoo 16, 17,
18 and of a database missing optional columns.
"""

from __future__ import annotations

import contextlib
import sys

import psycopg
import pytest
from restore_lab import REPO, lab_postgres, pg_dsn, scratch_database, seed_odoo10, seed_odoo17

sys.path.insert(0, str(REPO / "collections"))

import odoo_addons  # tests/fixtures, on the path through restore_lab
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
        "mail templates use no fixed server",
        "webhooks disabled",
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


# --------------------------------------------------------------------------------------------
# the addons: payment providers, IAP, carriers, websites, calendars, EDI, terminals, web push...
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def addons_database(primary, shape):
    """A scratch database with the addons' tables of ``shape``, live as production has them."""
    with scratch_database(primary) as db, psycopg.connect(pg_dsn(primary, db), autocommit=True) as conn:
        odoo_addons.create(conn, shape)
        yield conn, odoo_addons.seed_production(conn, shape)


@pytest.fixture(params=odoo_addons.SHAPES)
def addons(request, primary):
    with addons_database(primary, request.param) as (conn, seeded):
        yield request.param, conn, seeded


# the verdicts a live production copy of each shape fails (every table of the shape has something live)
REQUIRED_FAILS = {
    "16": {
        nz.CHECK_PAYMENT,
        nz.CHECK_IAP,
        nz.CHECK_CARRIERS,
        nz.CHECK_WEBSITE,
        nz.CHECK_CALENDAR,
        nz.CHECK_EDI,
        nz.CHECK_POS,
    },
    "minimal": {nz.CHECK_PAYMENT, nz.CHECK_WEBSITE, nz.CHECK_CARRIERS, nz.CHECK_CALENDAR},
}
REQUIRED_FAILS["17"] = REQUIRED_FAILS["18"] = REQUIRED_FAILS["16"] | {nz.CHECK_WEBHOOKS, nz.CHECK_WEB_PUSH}
CORE_FAILS = {
    "no active outgoing mail server",
    "no active incoming mail server",
    "crons off except the autovacuum",
    nz.CHECK_TEMPLATES,
    "database.is_neutralized set",
    "database.uuid new for the copy",
    "database.secret new for the copy",
}


def test_live_addons_fail_the_check_naming_table_and_row(addons):
    shape, conn, seeded = addons
    report = nz.verify(conn, before=seeded["identity"], raise_on_failure=False)
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    # what names a live row is never one of its secrets (tokens, keys, webhook and push URLs)
    for secret in (
        "a1b2c3d4e5",
        "g-refresh",
        "g-access",
        "ms-token",
        "sk_live_x",
        "pk_live_x",
        "fb-token",
        "hub.example.com/hook",
        "fcm.googleapis.com",
        "vapid-private",
        "gsc-token",
        "pls-key",
        seeded["identity"]["database.secret"],
    ):
        assert secret not in str(report), secret
    assert failed == CORE_FAILS | REQUIRED_FAILS[shape]
    detail = {c["name"]: c["detail"] for c in report["checks"]}
    payment_table = "payment_acquirer" if shape == "minimal" else "payment_provider"
    assert (
        f"{payment_table} id {seeded['ids']['payment_live']} (Stripe, stripe, state enabled)"
        in detail[nz.CHECK_PAYMENT]
    )
    assert "state test" not in detail[nz.CHECK_PAYMENT] and "state disabled" not in detail[nz.CHECK_PAYMENT]
    assert (
        f"fetchmail_server id {seeded['ids']['fetchmail']} (Incoming invoices"
        in detail["no active incoming mail server"]
    )
    assert f"delivery_carrier id {seeded['ids']['carrier_external']} (FedEx" in detail[nz.CHECK_CARRIERS]
    if shape != "minimal":
        assert f"iap_account id {seeded['ids']['iap']}" in detail[nz.CHECK_IAP]
        assert f"res_users_settings id {seeded['ids']['calendar']}" in detail[nz.CHECK_CALENDAR]
        assert f"pos_payment_method id {seeded['ids']['pos']} (Adyen terminal" in detail[nz.CHECK_POS]
        # what Odoo's own scripts leave alone is only a warning
        assert nz.CHECK_WEBSITE_EXTRA not in failed and "G-PROD123" not in detail[nz.CHECK_WEBSITE_EXTRA]
        assert "google_analytics_key" in detail[nz.CHECK_WEBSITE_EXTRA]
    # the raised error carries the same names
    with pytest.raises(NeutralizationError, match=rf"{payment_table} id {seeded['ids']['payment_live']}"):
        nz.verify(conn, before=seeded["identity"])


def _rows(conn, query):
    return conn.execute(query).fetchall()


def test_sql_mode_neutralizes_every_addon_and_verifies(addons):
    shape, conn, seeded = addons
    nz.renew_identity(conn)
    result = nz.apply_sql(conn)
    assert result["autovacuum_cron_ids"] == [1]
    report = nz.verify(conn, before=seeded["identity"])
    assert report["ok"] and report["warnings"] == [], report
    assert all(c["ok"] for c in report["checks"])

    # row by row, what Odoo's neutralize.sql files do
    assert _rows(conn, "SELECT cron_name FROM ir_cron WHERE active") == [("Base: Auto-vacuum internal data",)]
    assert _rows(conn, "SELECT name, active FROM ir_mail_server WHERE smtp_host = 'invalid'") == [
        (nz.DUMMY_MAIL_SERVER_NAME, True)
    ]
    assert _rows(conn, "SELECT count(*) FROM ir_mail_server WHERE active AND smtp_host <> 'invalid'") == [(0,)]
    assert _rows(conn, "SELECT active FROM fetchmail_server") == [(False,)]
    assert _rows(conn, "SELECT count(*) FROM mail_template WHERE mail_server_id IS NOT NULL") == [(0,)]
    if shape == "minimal":  # adapted to the columns present: no smtp_port, smtp_encryption, smtp_authentication
        assert dict(_rows(conn, "SELECT name, state FROM payment_acquirer")) == {
            "Stripe": "disabled",
            "PayPal sandbox": "test",
            "Ogone": "disabled",
        }
        assert dict(_rows(conn, "SELECT delivery_type, active FROM delivery_carrier")) == {
            "fedex": False,
            "fixed": True,
        }
        assert _rows(conn, "SELECT domain FROM website") == [(None,)]
        assert _rows(
            conn,
            "SELECT calendar_rtoken, calendar_token, calendar_sync_token, synchronization_stopped "
            "FROM google_calendar_credentials",
        ) == [(None, None, None, True)]
        return
    assert _rows(
        conn, "SELECT smtp_port, smtp_encryption, smtp_authentication FROM ir_mail_server WHERE smtp_host = 'invalid'"
    ) == [(1025, "none", "login")]
    assert dict(_rows(conn, "SELECT code, state FROM payment_provider")) == {
        "stripe": "disabled",
        "custom": "disabled",
        "paypal": "test",
        "adyen": "disabled",
    }
    tokens = {t for (t,) in _rows(conn, "SELECT account_token FROM iap_account WHERE account_token IS NOT NULL")}
    assert tokens == (
        {"a1b2c3d4e5+disabled"}
        if shape == "18"
        else {"a1b2c3d4e5+disabled", "f6e5+disabled", "dummy_value+disabled"}  # the last: a legacy token
    )
    assert sorted(_rows(conn, "SELECT delivery_type, prod_environment, active FROM delivery_carrier")) == [
        ("base_on_rule", False, True),
        ("fedex", False, False),
        ("fixed", False, True),
    ]
    site = _rows(conn, "SELECT domain, cdn_activated, google_analytics_key, google_search_console FROM website")
    assert site == [(None, False, None, None)]
    assert _rows(conn, "SELECT count(*) FROM ir_ui_view WHERE active AND key LIKE '%neutralize%'") == [(2,)]
    assert _rows(
        conn,
        "SELECT google_calendar_rtoken, google_calendar_token, google_calendar_sync_token, "
        "microsoft_calendar_sync_token, google_synchronization_stopped, microsoft_synchronization_stopped "
        "FROM res_users_settings",
    ) == [(None, None, None, None, True, True)]
    assert _rows(
        conn,
        "SELECT count(*) FROM res_users WHERE microsoft_calendar_token IS NOT NULL "
        "OR microsoft_calendar_rtoken IS NOT NULL",
    ) == [(0,)]
    if shape == "16":
        assert _rows(conn, "SELECT value FROM ir_config_parameter WHERE key = 'account_edi_proxy_client.demo'") == [
            ("true",)
        ]
        assert _rows(conn, "SELECT l10n_eg_production_env FROM res_company") == [(False,)]
        assert _rows(conn, "SELECT adyen_test_mode FROM pos_payment_method") == [(True,)]
        return
    assert dict(_rows(conn, "SELECT proxy_type, (edi_mode, active)::text FROM account_edi_proxy_client_user")) == {
        "peppol": "(demo,t)",
        "l10n_it_edi": "(demo,t)",
        "l10n_my_edi": "(prod,f)",
    }
    company = "l10n_hu_edi_server_mode" if shape == "17" else "l10n_sa_api_mode"
    assert _rows(conn, f"SELECT {company} FROM res_company") == [("test" if shape == "17" else "sandbox",)]
    assert _rows(conn, "SELECT test_mode, razorpay_test_mode FROM pos_payment_method") == [(True, True)]
    assert _rows(conn, "SELECT count(*) FROM mail_partner_device") == [(0,)]
    assert _rows(conn, "SELECT count(*) FROM mail_notification_web_push") == [(0,)]
    assert _rows(conn, "SELECT count(*) FROM ir_config_parameter WHERE key LIKE 'mail.web_push%'") == [(0,)]
    assert _rows(conn, "SELECT webhook_url FROM ir_act_server WHERE state = 'webhook'") == [(nz.WEBHOOK_NEUTRALIZED,)]
    assert _rows(conn, "SELECT plausible_shared_key, robots_txt FROM website") == [(None, nz.ROBOTS_DISALLOW_ALL)]
    if shape == "18":
        assert _rows(conn, "SELECT facebook_account_id, facebook_access_token FROM social_account") == [("fb-1", None)]


def test_sql_mode_on_addons_is_idempotent(addons):
    _shape, conn, seeded = addons
    nz.renew_identity(conn)
    nz.apply_sql(conn)
    second = nz.apply_sql(conn)
    changed = {r["name"]: r["rows"] for r in second["rows"] if r["rows"]}
    # the dummy server's state is set every time (one row); nothing else is touched twice
    assert set(changed) == {"dummy mail server state"}, changed
    assert changed.get("dummy mail server state") == 1
    nz.verify(conn, before=seeded["identity"])


# One thing put back live after neutralization (as a custom module's data, a hook or a hand could):
# (shapes whose tables have it, statement, failing check, the row named in the detail)
ALL, FULL, NEW = odoo_addons.SHAPES, ("16", "17", "18"), ("17", "18")
RELIVE = [
    (
        FULL,
        "UPDATE payment_provider SET state = 'enabled' WHERE code = 'stripe'",
        nz.CHECK_PAYMENT,
        "payment_provider id {payment_live} (Stripe, stripe, state enabled)",
    ),
    (
        ("minimal",),
        "UPDATE payment_acquirer SET state = 'enabled' WHERE provider = 'stripe'",
        nz.CHECK_PAYMENT,
        "payment_acquirer id {payment_live} (Stripe, stripe, state enabled)",
    ),
    (
        ALL,
        "UPDATE fetchmail_server SET active = true",
        "no active incoming mail server",
        "fetchmail_server id {fetchmail} (Incoming invoices, imap.example.com)",
    ),
    (
        ALL,
        "UPDATE ir_cron SET active = true WHERE id = 3",
        "crons off except the autovacuum",
        "ir_cron id 3 (Payment: post-process transactions)",
    ),
    (
        ALL,
        "UPDATE ir_mail_server SET active = true WHERE name = 'Office 365'",
        "no active outgoing mail server",
        "ir_mail_server id 1 (Office 365, smtp.office365.com)",
    ),
    (
        FULL,
        "UPDATE iap_account SET account_token = 'a1b2c3d4e5' WHERE id = {iap}",
        nz.CHECK_IAP,
        "iap_account id {iap}",
    ),
    (
        FULL,
        "UPDATE delivery_carrier SET prod_environment = true WHERE id = {carrier_fixed}",
        nz.CHECK_CARRIERS,
        "delivery_carrier id {carrier_fixed} (Local delivery, fixed, production mode)",
    ),
    (
        ("minimal",),
        "UPDATE delivery_carrier SET active = true WHERE id = {carrier_external}",
        nz.CHECK_CARRIERS,
        "delivery_carrier id {carrier_external} (FedEx, fedex, active)",
    ),
    (
        ALL,
        "UPDATE website SET domain = 'https://shop.example.com'",
        nz.CHECK_WEBSITE,
        "website id {website} (Shop, https://shop.example.com)",
    ),
    (
        FULL,
        "UPDATE res_users_settings SET google_calendar_rtoken = 'g-refresh'",
        nz.CHECK_CALENDAR,
        "res_users_settings id {calendar} (2, google_calendar_rtoken)",
    ),
    (
        NEW,
        "UPDATE account_edi_proxy_client_user SET edi_mode = 'prod' WHERE id = {edi}",
        nz.CHECK_EDI,
        "account_edi_proxy_client_user id {edi}",
    ),
    (
        ("16",),
        "DELETE FROM ir_config_parameter WHERE key = 'account_edi_proxy_client.demo'",
        nz.CHECK_EDI,
        "ir_config_parameter (account_edi_proxy_client.demo is not true)",
    ),
    (
        ("minimal",),
        "UPDATE google_calendar_credentials SET calendar_token = 'g-access'",
        nz.CHECK_CALENDAR,
        "google_calendar_credentials id {calendar} (calendar_token)",
    ),
    (
        ("16",),
        "UPDATE pos_payment_method SET adyen_test_mode = false",
        nz.CHECK_POS,
        "pos_payment_method id {pos} (Adyen terminal, adyen, adyen_test_mode off)",
    ),
    (
        NEW,
        "UPDATE pos_payment_method SET razorpay_test_mode = false",
        nz.CHECK_POS,
        "pos_payment_method id {pos} (Adyen terminal, adyen, razorpay_test_mode off)",
    ),
    (
        NEW,
        "INSERT INTO mail_partner_device (partner_id, endpoint, keys) VALUES (3, 'https://push', '{{}}')",
        nz.CHECK_WEB_PUSH,
        "mail_partner_device id",
    ),
    (
        NEW,
        "UPDATE ir_act_server SET webhook_url = 'https://hub.example.com/hook?token=s3cret' WHERE state = 'webhook'",
        nz.CHECK_WEBHOOKS,
        "ir_act_server id 11 (Notify ERP hub, webhook URL set)",
    ),
]
RELIVE_CASES = [
    pytest.param(shape, statement, check, named, id=f"{shape}-{check}-{statement.split()[1]}")
    for shapes, statement, check, named in RELIVE
    for shape in shapes
]


@pytest.mark.parametrize(("shape", "statement", "check", "named"), RELIVE_CASES)
def test_one_thing_left_live_is_refused(primary, shape, statement, check, named):
    with addons_database(primary, shape) as (conn, seeded):
        nz.renew_identity(conn)
        nz.apply_sql(conn)
        assert nz.verify(conn, before=seeded["identity"])["ok"]
        conn.execute(statement.format(**seeded["ids"]))
        with pytest.raises(NeutralizationError) as err:
            nz.verify(conn, before=seeded["identity"])
        checks = err.value.details["verification"]["checks"]
        assert [c["name"] for c in checks if not c["ok"]] == [check]
        assert named.format(**seeded["ids"]) in err.value.msg
        # rows are named by name, code and id: never a token, key or capability URL
        for secret in ("s3cret", "g-refresh", "a1b2c3d4e5", "https://push", "client-1"):
            assert secret not in str(err.value.msg) and secret not in str(err.value.details)


def test_what_odoo_leaves_alone_is_a_warning_not_a_refusal(primary):
    with addons_database(primary, "17") as (conn, seeded):
        nz.renew_identity(conn)
        nz.apply_sql(conn)
        conn.execute("UPDATE website SET google_analytics_key = 'G-PROD123', cdn_activated = true")
        report = nz.verify(conn, before=seeded["identity"])
        assert report["ok"]
        extra = next(c for c in report["checks"] if c["name"] == nz.CHECK_WEBSITE_EXTRA)
        assert extra["ok"] and not extra["required"] and extra["detail"].startswith("warning:")
        assert "google_analytics_key" in extra["detail"] and "CDN on" in extra["detail"]
        assert report["warnings"] == [f"{nz.CHECK_WEBSITE_EXTRA}: {extra['detail']}"]
