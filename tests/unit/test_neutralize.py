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
        "mail templates use no fixed server",
        "disable incoming mail servers",
        "disable crons except the autovacuum",
        "disable webhooks",
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
    }
    base.update(kw)
    return base


BEFORE = {nz.PARAM_UUID: "prod-uuid", nz.PARAM_SECRET: "prod-secret"}


def verdict(f, before=None, copy=True):
    return {c["name"]: c["ok"] for c in nz.evaluate(f, BEFORE if before is None else before, copy)}


def test_a_neutral_copy_passes_every_check():
    assert all(verdict(facts()).values())
    assert len(verdict(facts())) == 6


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
