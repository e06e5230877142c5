"""Unit tests of plugins/module_utils/restore/neutralize.py: SQL planning, verdicts, the Job manifest."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.restore import neutralize as nz  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import NeutralizationError  # noqa: E402

DIGEST = "registry.example.org/odoo@sha256:" + "0123456789abcdef" * 4

ODOO17 = nz.Schema(
    {
        "ir_mail_server": {"id", "name", "smtp_host", "smtp_port", "smtp_encryption", "smtp_authentication", "active"},
        "ir_cron": {"id", "cron_name", "active", "ir_actions_server_id"},
        "ir_act_server": {"id", "model_name", "state", "webhook_url"},
        "ir_model_data": {"id", "module", "name", "model", "res_id"},
        "ir_config_parameter": {"id", "key", "value"},
        "fetchmail_server": {"id", "name", "active"},
        "mail_template": {"id", "mail_server_id"},
        "ir_ui_view": {"id", "key", "active"},
    }
)
ODOO10 = nz.Schema(
    {
        "ir_mail_server": {"id", "name", "smtp_host", "smtp_port", "smtp_encryption", "active"},
        "ir_cron": {"id", "name", "model", "active"},
        "ir_config_parameter": {"id", "key", "value"},
    }
)


def names(steps):
    return [s.name for s in steps]


# --------------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------------
def test_plan_for_odoo17_covers_every_core_object():
    steps = nz.sql_plan(ODOO17, [7])
    assert names(steps) == [
        "disable outgoing mail servers",
        "dummy mail server state",
        "add dummy mail server",
        "disable incoming mail servers",
        "disable crons except the autovacuum",
        nz.CHECK_TEMPLATES,
        "disable webhooks",
        "show the neutralized banner",
        "set database.is_neutralized",
        "set database.is_neutralized",
    ]
    crons = next(s for s in steps if s.name == "disable crons except the autovacuum")
    assert crons.params == {"keep": [7]}
    insert = next(s for s in steps if s.name == "add dummy mail server")
    assert "smtp_authentication" in insert.query and insert.params["active"] is True
    assert insert.params["host"] == "invalid"


def test_plan_adapts_to_an_old_schema():
    steps = nz.sql_plan(ODOO10, [])
    assert "disable webhooks" not in names(steps) and "disable incoming mail servers" not in names(steps)
    insert = next(s for s in steps if s.name == "add dummy mail server")
    assert "smtp_authentication" not in insert.query
    assert next(s for s in steps if s.name.startswith("disable crons")).params == {"keep": []}


def test_dummy_mail_server_modes():
    assert (
        next(s for s in nz.sql_plan(ODOO17, [], "disabled") if s.name == "add dummy mail server").params["active"]
        is False
    )
    assert "add dummy mail server" not in names(nz.sql_plan(ODOO17, [], "none"))
    with pytest.raises(NeutralizationError, match="dummy_mail_server"):
        nz.sql_plan(ODOO17, [], "sometimes")


def test_plan_refuses_a_database_that_is_not_odoo():
    with pytest.raises(NeutralizationError, match="ir_cron, ir_config_parameter"):
        nz.sql_plan(nz.Schema({"ir_mail_server": {"id"}}), [])


def test_parameter_upsert_does_not_need_a_unique_constraint_and_uses_type_when_present():
    steps = nz._set_param_steps("x", "database.is_neutralized", "true", has_type=True)
    assert steps[0].query.startswith("UPDATE") and "NOT EXISTS" in steps[1].query and "'str'" in steps[1].query
    assert "type" not in nz._set_param_steps("x", "k", "v", has_type=False)[1].query


def test_autovacuum_rules_in_order_of_authority():
    assert names(nz.autovacuum_queries(ODOO17)) == [
        "autovacuum by xml id",
        "autovacuum by server action model",
        "autovacuum by name",
    ]
    assert names(nz.autovacuum_queries(ODOO10)) == ["autovacuum by cron model", "autovacuum by name"]


def test_identity_renewal_plan_and_values():
    ident = nz.new_identity()
    assert uuid.UUID(ident[nz.PARAM_UUID]).version == 1 and uuid.UUID(ident[nz.PARAM_SECRET]).version == 4
    steps = nz.renew_identity_plan(ODOO17, ident)
    assert [s.params["key"] for s in steps] == [nz.PARAM_UUID] * 2 + [nz.PARAM_SECRET] * 2 + [nz.PARAM_CREATE_DATE] * 2
    assert nz.new_identity()[nz.PARAM_SECRET] != ident[nz.PARAM_SECRET]


# the addons' integrations: Odoo 18-like schema with every table, and trimmed ones
FULL = nz.Schema(
    {
        **ODOO17.columns,
        "mail_partner_device": {"id", "partner_id", "endpoint"},
        "mail_notification_web_push": {"id", "user_device"},
        "payment_provider": {"id", "name", "code", "state"},
        "iap_account": {"id", "service_name", "account_token"},
        "delivery_carrier": {"id", "name", "delivery_type", "prod_environment", "active"},
        "website": {"id", "name", "domain", "cdn_activated", "robots_txt", "google_analytics_key", "plausible_site"},
        "res_users": {"id", "login", "microsoft_calendar_token", "microsoft_calendar_rtoken"},
        "res_users_settings": {
            "id",
            "user_id",
            "google_calendar_rtoken",
            "google_calendar_token",
            "google_calendar_sync_token",
            "microsoft_synchronization_stopped",
        },
        "account_edi_proxy_client_user": {"id", "proxy_type", "edi_mode", "active"},
        "res_company": {"id", "name", "l10n_sa_api_mode"},
        "pos_payment_method": {"id", "name", "test_mode", "razorpay_test_mode", "adyen_api_key"},
        "social_account": {"id", "name", "facebook_access_token", "twitter_oauth_token_secret", "facebook_account_id"},
    },
    {("payment_provider", "name"): "jsonb", ("website", "name"): "character varying"},
)
MINIMAL = nz.Schema(
    {
        "ir_mail_server": {"id", "name", "smtp_host", "active"},
        "ir_cron": {"id", "cron_name", "active"},
        "ir_config_parameter": {"id", "key", "value"},
        "payment_acquirer": {"id", "name", "provider", "state"},
        "delivery_carrier": {"id", "name", "delivery_type", "active"},
        "website": {"id", "name", "domain"},
    }
)


def step(steps, name):
    return next(s for s in steps if s.name == name)


def checks_of(schema):
    out = {}
    for probe in nz.integration_plan(schema)[1]:
        out[probe.check] = out.get(probe.check, False) or probe.required
    return out


def test_every_integration_has_its_step_and_its_check():
    steps, probes = nz.integration_plan(FULL)
    assert checks_of(FULL) == {
        nz.CHECK_TEMPLATES: True,
        nz.CHECK_WEBHOOKS: True,
        nz.CHECK_WEB_PUSH: True,
        nz.CHECK_PAYMENT: True,
        nz.CHECK_IAP: True,
        nz.CHECK_CARRIERS: True,
        nz.CHECK_WEBSITE: True,
        nz.CHECK_WEBSITE_EXTRA: False,
        nz.CHECK_CALENDAR: True,
        nz.CHECK_EDI: True,
        nz.CHECK_POS: True,
        nz.CHECK_SOCIAL: False,
    }
    tables = {p.table for p in probes}
    assert tables == {
        "mail_template",
        "ir_act_server",
        "mail_partner_device",
        "payment_provider",
        "iap_account",
        "delivery_carrier",
        "website",
        "res_users",
        "res_users_settings",
        "account_edi_proxy_client_user",
        "res_company",
        "pos_payment_method",
        "social_account",
    }
    assert all(p.query.startswith("SELECT id, ") and p.query.endswith("ORDER BY id") for p in probes)
    assert len(steps) >= len(tables)


def test_nothing_is_planned_for_tables_the_database_does_not_have():
    steps, probes = nz.integration_plan(ODOO10)
    assert steps == [] and probes == []
    assert checks_of(MINIMAL) == {nz.CHECK_PAYMENT: True, nz.CHECK_CARRIERS: True, nz.CHECK_WEBSITE: True}
    text = " ".join(s.query for s in nz.sql_plan(MINIMAL, []))
    for absent in (
        "payment_provider",
        "prod_environment",
        "cdn_activated",
        "iap_account",
        "smtp_encryption",
        "smtp_port",
        "smtp_authentication",
        "fetchmail_server",
        "mail_template",
        "ir_ui_view",
    ):
        assert absent not in text, absent


def test_dummy_mail_server_uses_only_the_columns_present():
    insert = step(nz.sql_plan(MINIMAL, []), "add dummy mail server")
    assert insert.query.startswith("INSERT INTO ir_mail_server (name, smtp_host, active) SELECT ")
    update = step(nz.sql_plan(MINIMAL, []), "dummy mail server state")
    assert update.query.startswith("UPDATE ir_mail_server SET active = %(active)s WHERE")
    insert = step(nz.sql_plan(ODOO17, []), "add dummy mail server")
    assert "(name, smtp_host, smtp_port, smtp_encryption, smtp_authentication, active)" in insert.query
    assert "1025, 'none', 'login'" in insert.query  # what Odoo's base/data/neutralize.sql inserts
    assert (
        "smtp_port = 1025, smtp_encryption = 'none'" in step(nz.sql_plan(ODOO17, []), "dummy mail server state").query
    )
    ten = step(nz.sql_plan(ODOO10, []), "add dummy mail server")
    assert "smtp_encryption" in ten.query and "smtp_authentication" not in ten.query


def test_payment_providers_disabled_unless_test_or_disabled_in_both_table_names():
    new = step(nz.integration_plan(FULL)[0], "disable live payment providers (payment_provider)")
    assert new.query == "UPDATE payment_provider SET state = 'disabled' WHERE state NOT IN ('test', 'disabled')"
    old = step(nz.integration_plan(MINIMAL)[0], "disable live payment providers (payment_acquirer)")
    assert old.query == "UPDATE payment_acquirer SET state = 'disabled' WHERE state NOT IN ('test', 'disabled')"
    live = nz.Schema({"payment_provider": {"id", "name", "code", "is_live"}})
    assert names(nz.integration_plan(live)[0]) == ["payment providers off live mode (payment_provider)"]
    probe = nz.integration_plan(FULL)[1][3]
    assert probe.table == "payment_provider" and "coalesce(name ->> 'en_US', name::text)" in probe.query


def test_iap_tokens_get_odoos_disabled_suffix_once():
    iap = step(nz.integration_plan(FULL)[0], "disable IAP accounts")
    assert "regexp_replace(account_token, '(\\+.*)?$', '+disabled')" in iap.query
    assert iap.query.endswith(
        "WHERE account_token IS NOT NULL AND right(account_token, 9) <> '+disabled' AND length(account_token) <= 33"
    )
    legacy = step(nz.integration_plan(FULL)[0], "disable legacy IAP accounts")
    assert legacy.query.startswith("UPDATE iap_account SET account_token = 'dummy_value+disabled' WHERE")
    assert legacy.query.endswith("AND length(account_token) > 33")


def test_carriers_websites_edi_and_terminals():
    plan = nz.integration_plan(FULL)[0]
    assert step(plan, "archive external shipping carriers").query.endswith(
        "WHERE active IS NOT FALSE AND delivery_type NOT IN ('fixed', 'base_on_rule')"
    )
    assert step(plan, "websites disallow crawling").params == {"robots": "User-agent: *\nDisallow: /"}
    assert step(plan, "clear website tracking keys").query.startswith(
        "UPDATE website SET google_analytics_key = NULL, plausible_site = NULL WHERE"
    )
    edi = step(plan, "e-invoicing connections to test mode").query
    assert "WHEN proxy_type IN ('l10n_it_edi', 'peppol', 'nemhandel') THEN 'demo'" in edi
    assert "proxy_type NOT IN ('l10n_my_edi', 'l10n_gr_edi')" in edi
    assert step(plan, "e-invoicing off production (l10n_sa_api_mode)").query == (
        "UPDATE res_company SET l10n_sa_api_mode = 'sandbox' WHERE l10n_sa_api_mode = 'prod'"
    )
    pos = step(plan, "payment terminals to test mode").query
    assert pos.startswith('UPDATE pos_payment_method SET "razorpay_test_mode" = true, "test_mode" = true WHERE')
    social = step(plan, "clear social media tokens").query
    assert '"facebook_access_token" = NULL' in social and '"twitter_oauth_token_secret" = NULL' in social
    assert "facebook_account_id" not in social
    old_edi = nz.Schema({"account_edi_proxy_client_user": {"id", "edi_mode"}})
    assert nz.integration_plan(old_edi)[0][0].query == (
        "UPDATE account_edi_proxy_client_user SET edi_mode = 'test' WHERE edi_mode = 'prod'"
    )


def test_calendar_tokens_in_settings_and_users():
    plan = nz.integration_plan(FULL)[0]
    settings = step(plan, "clear calendar sync tokens (res_users_settings)").query
    assert settings.startswith(
        "UPDATE res_users_settings SET google_calendar_rtoken = NULL, google_calendar_token = "
        "NULL, google_calendar_sync_token = NULL WHERE"
    )
    users = step(plan, "clear calendar sync tokens (res_users)").query
    assert "microsoft_calendar_rtoken = NULL" in users and "login" not in users
    assert "stop calendar sync (res_users_settings.microsoft_synchronization_stopped)" in names(plan)
    older = nz.Schema(
        {
            "google_calendar_credentials": {"id", "calendar_rtoken", "calendar_token", "synchronization_stopped"},
            "microsoft_calendar_credentials": {"id", "calendar_sync_token", "last_sync_date"},
        }
    )
    steps, probes = nz.integration_plan(older)
    assert names(steps) == [
        "clear calendar sync tokens (google_calendar_credentials)",
        "stop calendar sync (google_calendar_credentials.synchronization_stopped)",
        "clear calendar sync tokens (microsoft_calendar_credentials)",
    ]
    assert [(p.table, p.check) for p in probes] == [("google_calendar_credentials", nz.CHECK_CALENDAR)]


def test_odoo16_edi_users_are_put_in_demo_by_its_parameter():
    odoo16 = nz.Schema(
        {
            "account_edi_proxy_client_user": {"id", "id_client", "edi_format_id"},
            "ir_config_parameter": {"id", "key", "value"},
        }
    )
    steps, probes = nz.integration_plan(odoo16)
    assert [(s.name, s.params) for s in steps] == [
        ("e-invoicing connections to demo mode", {"key": "account_edi_proxy_client.demo", "value": "true"})
    ] * 2
    assert probes[0].table == "ir_config_parameter" and "NOT EXISTS" in probes[0].query


@pytest.mark.parametrize("name", ["Robert'); DROP TABLE x;--", "Upper", "a b", "", None, "x" * 64])
def test_unexpected_identifiers_are_refused(name):
    with pytest.raises(NeutralizationError, match="unexpected table or column name"):
        nz.ident(name)


def test_a_column_with_an_unexpected_name_stops_the_plan():
    bad = nz.Schema({"pos_payment_method": {"id", "Evil_test_mode"}})
    with pytest.raises(NeutralizationError, match="Evil_test_mode"):
        nz.integration_plan(bad)


# --------------------------------------------------------------------------------------------
# verdicts
# --------------------------------------------------------------------------------------------
def facts(**kw):
    base = {
        "active_mail_servers": [],
        "active_crons": [],
        "fetchmail_present": True,
        "active_fetchmail_servers": [],
        "is_neutralized": "true",
        nz.PARAM_UUID: "new-uuid",
        nz.PARAM_SECRET: "new-secret",
        "integrations": [
            {"name": nz.CHECK_PAYMENT, "required": True, "live": []},
            {"name": nz.CHECK_WEBSITE_EXTRA, "required": False, "live": []},
        ],
    }
    base.update(kw)
    return base


BEFORE = {nz.PARAM_UUID: "prod-uuid", nz.PARAM_SECRET: "prod-secret"}


def verdict(f, before=None, copy=True):
    return {c["name"]: c["ok"] for c in nz.evaluate(f, BEFORE if before is None else before, copy)}


def test_a_neutral_copy_passes_every_check():
    assert all(verdict(facts()).values())
    assert len(verdict(facts())) == 8


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        (
            {"active_mail_servers": [{"id": 1, "name": "O365", "smtp_host": "smtp.office365.com"}]},
            "no active outgoing mail server",
        ),
        ({"active_fetchmail_servers": ["invoices"]}, "no active incoming mail server"),
        ({"active_crons": ["Bank sync (id 3)"]}, "crons off except the autovacuum"),
        ({"is_neutralized": None}, "database.is_neutralized set"),
        ({"is_neutralized": "false"}, "database.is_neutralized set"),
        ({nz.PARAM_UUID: "prod-uuid"}, "database.uuid new for the copy"),
        ({nz.PARAM_SECRET: "prod-secret"}, "database.secret new for the copy"),
        ({nz.PARAM_UUID: None}, "database.uuid new for the copy"),
    ],
)
def test_each_check_catches_its_problem(change, failed):
    v = verdict(facts(**change))
    assert [name for name, ok in v.items() if not ok] == [failed]


def test_secret_never_appears_in_details():
    checks = nz.evaluate(facts(**{nz.PARAM_SECRET: "prod-secret"}), BEFORE, True)
    assert "prod-secret" not in str(checks)


def test_not_a_copy_keeps_its_identity():
    v = verdict(facts(**{nz.PARAM_UUID: "prod-uuid", nz.PARAM_SECRET: "prod-secret"}), copy=False)
    assert all(v.values()) and "database.uuid new for the copy" not in v


def test_unknown_previous_identity_is_accepted_when_set():
    assert all(verdict(facts(), before={}).values())


def test_no_fetchmail_table_no_check():
    assert "no active incoming mail server" not in verdict(facts(fetchmail_present=False))


# --------------------------------------------------------------------------------------------
# the Job
# --------------------------------------------------------------------------------------------
def job(**kw):
    args = dict(
        name="neutralize-acme-x",
        namespace="odoo-acme-staging",
        image=DIGEST,
        db_name="acme__restore_1",
        config_secret="odoo-config",
        odoo_version="17.0",
    )
    args.update(kw)
    return nz.render_neutralize_job(**args)


def test_job_runs_odoo_neutralize_on_the_new_database_with_the_release_image():
    j = job()
    c = j["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == DIGEST
    assert c["args"] == ["odoo", "neutralize", "--config", "/etc/odoo/odoo.conf", "--database", "acme__restore_1"]
    assert j["spec"]["backoffLimit"] == 0 and j["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert c["securityContext"]["runAsNonRoot"] and c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert j["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] == "odoo-config"
    assert "command" not in c  # the image's entrypoint (DB arguments from its environment) stays


def test_job_options():
    j = job(
        command=["/usr/bin/odoo"],
        annotations={"lab.governed.odoo/fail": "exit"},
        service_account="odoo",
        env={"PGHOST": "db"},
    )
    spec = j["spec"]["template"]
    assert spec["metadata"]["annotations"] == {"lab.governed.odoo/fail": "exit"}
    assert spec["spec"]["serviceAccountName"] == "odoo"
    assert spec["spec"]["containers"][0]["command"] == ["/usr/bin/odoo"]
    assert spec["spec"]["containers"][0]["env"] == [{"name": "PGHOST", "value": "db"}]


def test_job_takes_the_instance_configuration_as_its_pods_do():
    """The odoo role's odoo-config ConfigMap (no credentials) and libpq's PG* from the odoo-db ConfigMap and Secret."""
    sources = [{"configMapRef": {"name": "odoo-db"}}, {"secretRef": {"name": "odoo-db"}}]
    j = job(config_secret=None, config_configmap="odoo-config", env_from=sources)
    spec = j["spec"]["template"]["spec"]
    assert spec["volumes"] == [{"name": "odoo-config", "configMap": {"name": "odoo-config"}}]
    assert spec["containers"][0]["envFrom"] == sources
    assert spec["containers"][0]["volumeMounts"][0]["mountPath"] == "/etc/odoo/odoo.conf"
    assert "envFrom" not in job()["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize(
    "config",
    [{"config_secret": None}, {"config_configmap": "odoo-config"}, {"config_secret": "", "config_configmap": ""}],
)
def test_job_takes_its_configuration_from_exactly_one_place(config):
    with pytest.raises(NeutralizationError, match="exactly one of config_secret and config_configmap"):
        job(**config)


@pytest.mark.parametrize(
    "source",
    [{"configMapRef": {}}, {"secretRef": {"name": "a"}, "configMapRef": {"name": "b"}}, {"fieldRef": {"name": "x"}},
     "odoo-db"],
)
def test_job_env_from_is_written_as_kubernetes_writes_it(source):
    with pytest.raises(NeutralizationError, match="env_from takes configMapRef or secretRef"):
        job(env_from=[source])


@pytest.mark.parametrize("image", ["odoo:17", "odoo@sha256:abc", "", None, "odoo@sha256:" + "G" * 64])
def test_job_needs_an_image_pinned_by_digest(image):
    with pytest.raises(NeutralizationError, match="pinned by digest"):
        job(image=image)


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("17.0", True),
        ("16.0+e", True),
        ("saas~17.2", True),
        (18, True),
        ("15.0", False),
        ("12.0", False),
        (None, False),
    ],
)
def test_job_needs_odoo_16(version, ok):
    if ok:
        job(odoo_version=version)
    else:
        with pytest.raises(NeutralizationError, match="neutralize_mode=sql"):
            job(odoo_version=version)


def test_job_name_is_a_dns_label():
    name = nz.job_name("Very_Long.Database-Name_" * 5, "20261126T020000")
    assert len(name) <= 63 and name.endswith("-20261126t020000")
    assert all(ch.isalnum() or ch == "-" for ch in name) and name == name.lower()


def test_a_live_integration_fails_and_names_table_and_row():
    live = ["payment_provider id 4 (Stripe, stripe, state enabled)"]
    checks = nz.evaluate(facts(integrations=[{"name": nz.CHECK_PAYMENT, "required": True, "live": live}]), BEFORE)
    payment = next(c for c in checks if c["name"] == nz.CHECK_PAYMENT)
    assert payment == {
        "name": nz.CHECK_PAYMENT,
        "ok": False,
        "required": True,
        "detail": "still live: payment_provider id 4 (Stripe, stripe, state enabled)",
    }
    assert [c["name"] for c in checks if not c["ok"]] == [nz.CHECK_PAYMENT]


def test_what_odoo_does_not_do_is_a_warning():
    extra = {"name": nz.CHECK_WEBSITE_EXTRA, "required": False, "live": ["website id 1 (Shop, google_analytics_key)"]}
    checks = nz.evaluate(facts(integrations=[extra]), BEFORE)
    assert all(c["ok"] for c in checks)
    assert next(c for c in checks if c["name"] == nz.CHECK_WEBSITE_EXTRA)["detail"] == (
        "warning: still set: website id 1 (Shop, google_analytics_key)"
    )


def test_long_listings_are_cut():
    crons = [f"ir_cron id {i} (job {i})" for i in range(45)]
    detail = next(c for c in nz.evaluate(facts(active_crons=crons), BEFORE) if not c["ok"])["detail"]
    assert "ir_cron id 19 (job 19)" in detail and "ir_cron id 20 " not in detail and detail.endswith("and 25 more")


def test_job_placement_where_the_odoo_pods_run():
    tol = [{"key": "lab.governed.odoo/node", "operator": "Equal", "value": "real", "effect": "NoSchedule"}]
    spec = job(node_selector={"lab.governed.odoo/node": "real"}, tolerations=tol, run_as_user=101)["spec"]
    pod = spec["template"]["spec"]
    assert pod["nodeSelector"] == {"lab.governed.odoo/node": "real"}
    assert pod["tolerations"] == tol and pod["tolerations"] is not tol
    sc = pod["containers"][0]["securityContext"]
    assert sc["runAsUser"] == sc["runAsGroup"] == 101 and sc["runAsNonRoot"]
    assert pod["securityContext"] == {"fsGroup": 101}  # odoo.conf (0440) readable by the container's user


def test_job_without_placement_has_none():
    pod = job(node_selector={}, tolerations=[])["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert "runAsUser" not in pod["containers"][0]["securityContext"] and "securityContext" not in pod


@pytest.mark.parametrize(
    "kw",
    [{"node_selector": ["a=b"]}, {"tolerations": {"key": "x"}}, {"tolerations": ["x"]}, {"run_as_user": 0}],
)
def test_job_refuses_malformed_placement(kw):
    with pytest.raises(NeutralizationError):
        job(**kw)
