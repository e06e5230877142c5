# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Neutralization of a copy of production, and the check that it really is neutral.

Two ways to neutralize, one way to check:

* **Job mode** (Odoo 16+): :func:`render_neutralize_job` renders a Kubernetes Job that runs
  ``odoo neutralize -d DB`` with the release image, pinned by digest. Odoo then runs every installed
  module's ``data/neutralize.sql`` (mail servers, crons, webhooks, payment providers...).
* **SQL mode** (when Odoo cannot run: older versions, a broken image, no cluster): :func:`sql_plan`
  and :func:`apply_sql` do what the ``data/neutralize.sql`` files of Odoo's community addons do
  (Odoo 16 to 18; docs/neutralization.md has the table per addon and version), written to be
  idempotent and to run each statement only where its table and columns exist:

  - every outgoing mail server (``ir_mail_server``) set inactive, and one dummy server added,
    pointing at the host ``invalid`` (RFC 6761: never resolves), with ``smtp_port``,
    ``smtp_encryption`` and ``smtp_authentication`` only when the table has them. Odoo 17+ adds the
    same dummy as an *active* server, because without any active server Odoo falls back to the SMTP
    server of its configuration file; ``dummy_mail_server='disabled'`` adds it inactive instead,
    ``'none'`` not at all;
  - incoming mail servers (``fetchmail_server``) inactive, so a copy does not fetch (and thereby
    steal) production's mail; ``mail_template.mail_server_id`` cleared;
  - every cron inactive except the autovacuum (XML id ``base.autovacuum_job``, or failing that the
    cron whose server action runs on the model ``ir.autovacuum``);
  - the addons' integrations (:data:`INTEGRATIONS`): webhooks, web push devices, payment providers,
    IAP accounts, shipping carriers, websites, calendar tokens, e-invoicing, payment terminals,
    social media tokens, the neutralized banner;
  - the parameter ``database.is_neutralized`` set to ``true``.

* **Copy identity** (:func:`renew_identity_plan`): what Odoo's restore with ``copy=True`` does, a new
  ``database.uuid`` (uuid1), ``database.secret`` (uuid4) and ``database.create_date``, so the copy
  does not impersonate production towards Odoo's services (IAP, the publisher warranty).

* **Check** (:func:`verify`): no active outgoing mail server except the dummy, no active incoming
  mail server, no active cron but the autovacuum, nothing live in any integration of
  :data:`INTEGRATIONS` whose table exists (each failure names table and row),
  ``database.is_neutralized`` true, and -- for a copy -- ``database.uuid`` and ``database.secret``
  different from the values the copy had before. The check runs after both modes: custom modules
  may talk to systems that no neutralize script knows, and a Job that "succeeded" may not have run
  at all. What governed.odoo does beyond Odoo's own scripts is reported as a warning only, so that
  a real ``odoo neutralize`` Job is not refused for it.

The planning functions are pure (schema facts in, SQL out) and unit-tested; :func:`apply_sql` and
:func:`verify` take an open psycopg connection.
"""

from __future__ import annotations

import datetime
import re
import uuid
from dataclasses import dataclass, field

from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import NeutralizationError

PARAM_NEUTRALIZED = "database.is_neutralized"
PARAM_UUID = "database.uuid"
PARAM_SECRET = "database.secret"  # noqa: S105 - the name of an Odoo parameter, not a secret
PARAM_CREATE_DATE = "database.create_date"
DUMMY_MAIL_SERVER_NAME = "neutralization - disable emails"
DUMMY_MAIL_HOST = "invalid"
DUMMY_MAIL_MODES = ("active", "disabled", "none")
WEBHOOK_NEUTRALIZED = "neutralization - disable webhook"
AUTOVACUUM_XMLID = ("base", "autovacuum_job")
AUTOVACUUM_MODEL = "ir.autovacuum"
REQUIRED_TABLES = ("ir_mail_server", "ir_cron", "ir_config_parameter")
JOB_MIN_ODOO_MAJOR = 16
_DIGEST_IMAGE = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}$")


# --------------------------------------------------------------------------------------------
# Schema facts
# --------------------------------------------------------------------------------------------
@dataclass
class Schema:
    """Which tables and columns the database has (``public`` schema), as read by :func:`read_schema`.

    ``types`` maps ``(table, column)`` to PostgreSQL's ``data_type`` when known (``jsonb`` names are
    labelled by their ``en_US`` value); the planning works without it.
    """

    columns: dict = field(default_factory=dict)  # table -> set of column names
    types: dict = field(default_factory=dict)  # (table, column) -> data_type

    def has(self, table, column=None):
        cols = self.columns.get(table)
        if cols is None:
            return False
        return column is None or column in cols

    def present(self, table, candidates):
        """The columns of ``candidates`` that ``table`` has, in the order given."""
        return [c for c in candidates if self.has(table, c)]


# Every table neutralization may read or change; see INTEGRATIONS below for what each is for.
SCHEMA_TABLES = (
    "ir_mail_server",
    "ir_cron",
    "ir_config_parameter",
    "ir_model_data",
    "ir_act_server",
    "ir_ui_view",
    "fetchmail_server",
    "mail_template",
    "mail_partner_device",
    "mail_notification_web_push",
    "payment_provider",
    "payment_acquirer",
    "iap_account",
    "delivery_carrier",
    "website",
    "res_users",
    "res_users_settings",
    "google_calendar_credentials",
    "microsoft_calendar_credentials",
    "account_edi_proxy_client_user",
    "res_company",
    "pos_payment_method",
    "social_account",
)


def read_schema(conn):
    """Read the tables and columns neutralization may touch."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
            (list(SCHEMA_TABLES),),
        )
        out = {}
        types = {}
        for table, column, data_type in cur.fetchall():
            out.setdefault(table, set()).add(column)
            types[(table, column)] = data_type
    return Schema(out, types)


REQUIRED_COLUMNS = {
    "ir_mail_server": ("name", "smtp_host", "active"),
    "ir_cron": ("id", "active"),
    "ir_config_parameter": ("key", "value"),
}


def require_odoo_schema(schema):
    missing = [t for t in REQUIRED_TABLES if not schema.has(t)]
    if missing:
        raise NeutralizationError(
            "the database does not look like an Odoo database: missing table(s) " + ", ".join(missing),
            missing_tables=missing,
        )
    missing = [f"{t}.{c}" for t, cols in REQUIRED_COLUMNS.items() for c in cols if not schema.has(t, c)]
    if missing:
        raise NeutralizationError(
            "the database does not look like an Odoo database: missing column(s) " + ", ".join(missing),
            missing_columns=missing,
        )


_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def ident(name):
    """``name`` as a quoted SQL identifier; only plain lower-case names (as Odoo makes them) pass."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise NeutralizationError(f"refusing an unexpected table or column name: {name!r}")
    return '"' + name + '"'


# --------------------------------------------------------------------------------------------
# SQL mode: planning (pure) and applying
# --------------------------------------------------------------------------------------------
@dataclass
class Step:
    """One statement of a plan: what it is for, the SQL, its parameters."""

    name: str
    query: str
    params: dict = field(default_factory=dict)

    def as_dict(self):
        return {"name": self.name, "query": self.query, "params": {k: _show(v) for k, v in self.params.items()}}


@dataclass
class Probe:
    """A query whose rows are things still live after neutralization: ``(id, description)``.

    ``check`` names the verdict it feeds; probes sharing a check are one verdict. ``required``
    probes fail the verification; the others (what governed.odoo does beyond Odoo's own scripts,
    which an `odoo neutralize` Job does not do) are reported as warnings.
    """

    check: str
    table: str
    query: str
    params: dict = field(default_factory=dict)
    required: bool = True


def _show(value):
    if isinstance(value, (list, tuple)):
        return list(value)
    return value


def _set_param_steps(name, key, value, has_type):
    """Upsert an ir_config_parameter without relying on a unique constraint on ``key``."""
    update = "UPDATE ir_config_parameter SET value = %(value)s WHERE key = %(key)s AND value IS DISTINCT FROM %(value)s"
    if has_type:
        insert = (
            "INSERT INTO ir_config_parameter (key, value, type) "
            "SELECT CAST(%(key)s AS varchar), CAST(%(value)s AS text), 'str' "
            "WHERE NOT EXISTS (SELECT 1 FROM ir_config_parameter WHERE key = CAST(%(key)s AS varchar))"
        )
    else:
        insert = (
            "INSERT INTO ir_config_parameter (key, value) SELECT CAST(%(key)s AS varchar), CAST(%(value)s AS text) "
            "WHERE NOT EXISTS (SELECT 1 FROM ir_config_parameter WHERE key = CAST(%(key)s AS varchar))"
        )
    return [Step(name, update, {"key": key, "value": value}), Step(name, insert, {"key": key, "value": value})]


AUTOVACUUM_BY_XMLID = (
    "SELECT res_id FROM ir_model_data WHERE model = 'ir.cron' AND module = %(module)s AND name = %(name)s"
)
AUTOVACUUM_BY_ACTION_MODEL = (
    "SELECT c.id FROM ir_cron c JOIN ir_act_server a ON a.id = c.ir_actions_server_id WHERE a.model_name = %(model)s"
)
AUTOVACUUM_BY_CRON_MODEL = "SELECT id FROM ir_cron WHERE model = %(model)s"
AUTOVACUUM_BY_CRON_NAME = "SELECT id FROM ir_cron WHERE lower(cron_name::text) SIMILAR TO %(pattern)s"
AUTOVACUUM_BY_NAME = "SELECT id FROM ir_cron WHERE lower(name::text) SIMILAR TO %(pattern)s"
AUTOVACUUM_NAME_PATTERN = "%(auto-vacuum|autovacuum|auto vacuum)%"


def autovacuum_queries(schema):
    """The queries that find the autovacuum cron(s), most authoritative first.

    Odoo identifies it by its XML id ``base.autovacuum_job``; then by the model its action runs on
    (``ir.autovacuum``); the name ("Base: Auto-vacuum internal data") is the last resort, for
    databases without ``ir_model_data`` rows for it.
    """
    out = []
    if schema.has("ir_model_data", "res_id"):
        out.append(
            Step(
                "autovacuum by xml id",
                AUTOVACUUM_BY_XMLID,
                {"module": AUTOVACUUM_XMLID[0], "name": AUTOVACUUM_XMLID[1]},
            )
        )
    if schema.has("ir_cron", "ir_actions_server_id") and schema.has("ir_act_server", "model_name"):
        out.append(Step("autovacuum by server action model", AUTOVACUUM_BY_ACTION_MODEL, {"model": AUTOVACUUM_MODEL}))
    if schema.has("ir_cron", "model"):  # Odoo before 11: the cron names its model itself
        out.append(Step("autovacuum by cron model", AUTOVACUUM_BY_CRON_MODEL, {"model": AUTOVACUUM_MODEL}))
    if schema.has("ir_cron", "cron_name"):
        out.append(Step("autovacuum by name", AUTOVACUUM_BY_CRON_NAME, {"pattern": AUTOVACUUM_NAME_PATTERN}))
    elif schema.has("ir_cron", "name"):
        out.append(Step("autovacuum by name", AUTOVACUUM_BY_NAME, {"pattern": AUTOVACUUM_NAME_PATTERN}))
    return out


def mail_server_steps(schema, dummy_mail_server):
    """Outgoing mail servers off, and the dummy server, with only the columns the table has.

    Odoo's base script inserts ``(name, smtp_port, smtp_host, smtp_encryption, active,
    smtp_authentication)``; ``smtp_port``, ``smtp_encryption`` and ``smtp_authentication`` are set
    only where they exist (``smtp_authentication`` arrived in Odoo 15; a trimmed or very old table
    may lack the others).
    """
    steps = [
        Step(
            "disable outgoing mail servers",
            "UPDATE ir_mail_server SET active = false WHERE active IS NOT FALSE "
            "AND NOT (coalesce(name, '') = %(dummy)s AND coalesce(smtp_host, '') = %(host)s)",
            {"dummy": DUMMY_MAIL_SERVER_NAME, "host": DUMMY_MAIL_HOST},
        )
    ]
    if dummy_mail_server == "none":
        return steps
    active = dummy_mail_server == "active"
    # column -> SQL value; the dummy's optional settings, as Odoo's base/data/neutralize.sql sets them
    optional = [
        (c, v)
        for c, v in (("smtp_port", "1025"), ("smtp_encryption", "'none'"), ("smtp_authentication", "'login'"))
        if schema.has("ir_mail_server", c)
    ]
    sets = "".join(f", {c} = {v}" for c, v in optional if c != "smtp_authentication")
    params = {"active": active, "dummy": DUMMY_MAIL_SERVER_NAME, "host": DUMMY_MAIL_HOST}
    steps.append(
        Step(
            "dummy mail server state",
            _q(
                "UPDATE ir_mail_server SET active = %(active)s{sets} WHERE name = %(dummy)s AND smtp_host = %(host)s",
                sets=sets,
            ),
            params,
        )
    )
    cols = ", ".join(["name", "smtp_host", *(c for c, _v in optional), "active"])
    values = ", ".join(
        [
            "CAST(%(dummy)s AS varchar)",
            "CAST(%(host)s AS varchar)",
            *(v for _c, v in optional),
            "CAST(%(active)s AS boolean)",
        ]
    )
    steps.append(
        Step(
            "add dummy mail server",
            _q(
                "INSERT INTO ir_mail_server ({cols}) SELECT {values} WHERE NOT EXISTS (SELECT 1 FROM ir_mail_server "
                "WHERE name = CAST(%(dummy)s AS varchar) AND smtp_host = CAST(%(host)s AS varchar))",
                cols=cols,
                values=values,
            ),
            dict(params),
        )
    )
    return steps


# --------------------------------------------------------------------------------------------
# The integrations of the addons: what Odoo's data/neutralize.sql files do, as steps and probes
# --------------------------------------------------------------------------------------------
NEUTRAL_PAYMENT_STATES = ("test", "disabled")
OFFLINE_CARRIER_TYPES = ("fixed", "base_on_rule")
IAP_DISABLED_SUFFIX = "+disabled"
IAP_TOKEN_LENGTH = 33  # a real IAP token; longer ones are legacy values (Odoo's iap/data/neutralize.sql)
ROBOTS_DISALLOW_ALL = "User-agent: *\nDisallow: /"
EDI_DEMO_PROXY_TYPES = ("l10n_it_edi", "peppol", "nemhandel")  # these proxies have a 'demo' mode, the rest 'test'
EDI_ARCHIVED_PROXY_TYPES = ("l10n_my_edi", "l10n_gr_edi")  # switching them may clash with a test user: archived
WEB_PUSH_PARAMS = ("mail.web_push_vapid_private_key", "mail.web_push_vapid_public_key", "mail.sfu_server_key")
WEBSITE_TRACKING_COLUMNS = ("google_analytics_key", "google_search_console", "plausible_shared_key", "plausible_site")
# Calendar sync: the tables holding tokens across versions (res_users_settings 16+, res_users, and the
# *_calendar_credentials tables of older versions), the tokens that grant access (checked), everything
# cleared with them, and the "synchronization stopped" switches set.
CALENDAR_TABLES = ("res_users_settings", "res_users", "google_calendar_credentials", "microsoft_calendar_credentials")
CALENDAR_TOKENS = (
    "google_calendar_rtoken",
    "google_calendar_token",
    "microsoft_calendar_rtoken",
    "microsoft_calendar_token",
    "calendar_rtoken",
    "calendar_token",
)
CALENDAR_CLEARED = (
    *CALENDAR_TOKENS,
    "google_calendar_token_validity",
    "google_calendar_sync_token",
    "microsoft_calendar_token_validity",
    "microsoft_calendar_sync_token",
    "microsoft_last_sync_date",
    "calendar_token_validity",
    "calendar_sync_token",
    "last_sync_date",
)
CALENDAR_STOPPED = ("google_synchronization_stopped", "microsoft_synchronization_stopped", "synchronization_stopped")
EDI_DEMO_PARAM = "account_edi_proxy_client.demo"  # Odoo 16: one switch for every EDI proxy user
# res_company switches of the localisations' e-invoicing services: column, live value, neutral value, required
COMPANY_EDI_SWITCHES = (
    ("l10n_eg_production_env", "true", "false", True),  # l10n_eg_edi_eta
    ("l10n_sa_api_mode", "'prod'", "'sandbox'", True),  # l10n_sa_edi
    ("l10n_hu_edi_server_mode", "'production'", "'test'", True),  # l10n_hu_edi
    ("l10n_in_edi_production_env", "true", "false", False),  # l10n_in_edi (older versions)
)
SOCIAL_TOKEN_SUFFIXES = ("_access_token", "_refresh_token", "_oauth_token", "_oauth_token_secret")

CHECK_TEMPLATES = "mail templates use no fixed server"
CHECK_WEBHOOKS = "webhooks disabled"
CHECK_PAYMENT = "payment providers not live"
CHECK_IAP = "IAP accounts disabled"
CHECK_CARRIERS = "shipping carriers not in production"
CHECK_WEBSITE = "website domains cleared"
CHECK_WEBSITE_EXTRA = "website tracking, CDN and crawling off"
CHECK_CALENDAR = "calendar sync tokens cleared"
CHECK_EDI = "e-invoicing connections not in production"
CHECK_POS = "POS payment terminals in test mode"
CHECK_WEB_PUSH = "web push devices removed"
CHECK_SOCIAL = "social media tokens cleared"


def _label(schema, table, candidates):
    """SQL text describing a row by those of ``candidates`` it has (jsonb names by their en_US value).

    Candidates are names, codes and ids only: a row's description ends up in the result and the
    logs, so no token, key, password or capability URL (webhook, push endpoint) is ever one.
    """
    parts = []
    for col in schema.present(table, candidates):
        if schema.types.get((table, col)) == "jsonb":
            parts.append(f"coalesce({col} ->> 'en_US', {col}::text)")
        else:
            parts.append(f"{col}::text")
    return "concat_ws(', ', " + ", ".join(parts) + ")" if parts else "NULL::text"


def _probe(check, table, label, where, schema, required=True, params=None):
    query = _q(
        "SELECT id, {label} FROM {table} WHERE {where} ORDER BY id", label=label, table=ident(table), where=where
    )
    if not schema.has(table, "id"):
        query = _q(
            "SELECT NULL::integer, {label} FROM {table} WHERE {where}", label=label, table=ident(table), where=where
        )
    return Probe(check, table, query, dict(params or {}), required)


def _q(template, **parts):
    """``template`` with ``parts`` put in: the one place where SQL text is assembled.

    Every part is built in this module from its own constants and from table and column names that
    :func:`read_schema` found and that are either fixed here or passed through :func:`ident`; no
    value of the database or of the caller ever goes into SQL text (values are parameters).
    """
    return template.format(**parts)


def _sql_list(values):
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def _templates_and_webhooks(schema):
    steps, probes = [], []
    if schema.has("mail_template", "mail_server_id"):
        steps.append(
            Step(CHECK_TEMPLATES, "UPDATE mail_template SET mail_server_id = NULL WHERE mail_server_id IS NOT NULL")
        )
        probes.append(
            _probe(
                CHECK_TEMPLATES,
                "mail_template",
                "concat_ws(', ', "
                + _label(schema, "mail_template", ("name",))
                + ", 'server ' || mail_server_id::text)",
                "mail_server_id IS NOT NULL",
                schema,
            )
        )
    if schema.has("ir_act_server", "webhook_url") and schema.has("ir_act_server", "state"):
        steps.append(
            Step(
                "disable webhooks",
                "UPDATE ir_act_server SET webhook_url = %(url)s WHERE state = 'webhook' "
                "AND webhook_url IS DISTINCT FROM %(url)s",
                {"url": WEBHOOK_NEUTRALIZED},
            )
        )
        probes.append(
            _probe(
                CHECK_WEBHOOKS,
                "ir_act_server",
                "concat_ws(', ', " + _label(schema, "ir_act_server", ("name",)) + ", 'webhook URL set')",
                "state = 'webhook' AND webhook_url IS DISTINCT FROM %(url)s",
                schema,
                params={"url": WEBHOOK_NEUTRALIZED},
            )
        )
    return steps, probes


def _web_push(schema):
    """mail (Odoo 17+): browsers subscribed to production's push notifications, and its VAPID keys."""
    steps, probes = [], []
    if schema.has("mail_notification_web_push"):
        steps.append(Step(CHECK_WEB_PUSH, "DELETE FROM mail_notification_web_push"))
    if schema.has("mail_partner_device"):
        steps.append(Step(CHECK_WEB_PUSH, "DELETE FROM mail_partner_device"))
        probes.append(
            _probe(
                CHECK_WEB_PUSH,
                "mail_partner_device",
                _label(schema, "mail_partner_device", ("partner_id",)),
                "true",
                schema,
            )
        )
    if schema.has("mail_partner_device") or schema.has("mail_notification_web_push"):
        steps.append(
            Step(
                CHECK_WEB_PUSH,
                "DELETE FROM ir_config_parameter WHERE key = ANY(%(keys)s)",
                {"keys": list(WEB_PUSH_PARAMS)},
            )
        )
    return steps, probes


def _payment(schema):
    """payment (16+: payment_provider; before: payment_acquirer): live providers disabled."""
    steps, probes = [], []
    for table in ("payment_provider", "payment_acquirer"):
        label = _label(schema, table, ("name", "code", "provider"))
        if schema.has(table, "state"):
            states = _sql_list(NEUTRAL_PAYMENT_STATES)
            steps.append(
                Step(
                    f"disable live payment providers ({table})",
                    _q("UPDATE {t} SET state = 'disabled' WHERE state NOT IN {states}", t=table, states=states),
                )
            )
            probes.append(
                _probe(
                    CHECK_PAYMENT,
                    table,
                    f"concat_ws(', ', {label}, 'state ' || state)",
                    f"state NOT IN {states}",
                    schema,
                )
            )
        if schema.has(table, "is_live"):
            steps.append(
                Step(
                    f"payment providers off live mode ({table})",
                    _q("UPDATE {t} SET is_live = false WHERE is_live IS TRUE", t=table),
                )
            )
            probes.append(
                _probe(CHECK_PAYMENT, table, f"concat_ws(', ', {label}, 'is_live')", "is_live IS TRUE", schema)
            )
    return steps, probes


def _iap(schema):
    """iap: every account token suffixed '+disabled', so IAP services refuse the copy (credits are not spent).

    As Odoo's script does since 17: a token longer than a real one (33 characters) is a legacy value
    that cannot take the suffix; it becomes ``dummy_value+disabled``.
    """
    if not schema.has("iap_account", "account_token"):
        return [], []
    n = len(IAP_DISABLED_SUFFIX)
    where = f"account_token IS NOT NULL AND right(account_token, {n}) <> '{IAP_DISABLED_SUFFIX}'"
    steps = [
        Step(
            "disable IAP accounts",
            _q(
                "UPDATE iap_account SET account_token = regexp_replace(account_token, '(\\+.*)?$', "
                "'{suffix}') WHERE {where} AND length(account_token) <= {max}",
                suffix=IAP_DISABLED_SUFFIX,
                where=where,
                max=IAP_TOKEN_LENGTH,
            ),
        ),
        Step(
            "disable legacy IAP accounts",
            _q(
                "UPDATE iap_account SET account_token = 'dummy_value{suffix}' WHERE {where} "
                "AND length(account_token) > {max}",
                suffix=IAP_DISABLED_SUFFIX,
                where=where,
                max=IAP_TOKEN_LENGTH,
            ),
        ),
    ]
    return steps, [
        _probe(CHECK_IAP, "iap_account", _label(schema, "iap_account", ("service_name", "name")), where, schema)
    ]


def _carriers(schema):
    """delivery: no carrier in production mode; carriers of external providers archived."""
    steps, probes = [], []
    label = _label(schema, "delivery_carrier", ("name", "delivery_type"))
    if schema.has("delivery_carrier", "prod_environment"):
        steps.append(
            Step(
                "shipping carriers off production",
                "UPDATE delivery_carrier SET prod_environment = false WHERE prod_environment IS TRUE",
            )
        )
        probes.append(
            _probe(
                CHECK_CARRIERS,
                "delivery_carrier",
                f"concat_ws(', ', {label}, 'production mode')",
                "prod_environment IS TRUE",
                schema,
            )
        )
    if schema.has("delivery_carrier", "active") and schema.has("delivery_carrier", "delivery_type"):
        where = f"active IS NOT FALSE AND delivery_type NOT IN {_sql_list(OFFLINE_CARRIER_TYPES)}"
        steps.append(
            Step(
                "archive external shipping carriers",
                _q("UPDATE delivery_carrier SET active = false WHERE {where}", where=where),
            )
        )
        probes.append(_probe(CHECK_CARRIERS, "delivery_carrier", f"concat_ws(', ', {label}, 'active')", where, schema))
    return steps, probes


def _website(schema):
    """website: no domain (the copy does not answer as production), plus CDN, robots and tracking."""
    steps, probes = [], []
    label = _label(schema, "website", ("name",))
    if schema.has("website", "domain"):
        steps.append(Step("clear website domains", "UPDATE website SET domain = NULL WHERE domain IS NOT NULL"))
        probes.append(
            _probe(CHECK_WEBSITE, "website", f"concat_ws(', ', {label}, domain)", "coalesce(domain, '') <> ''", schema)
        )
    if schema.has("website", "cdn_activated"):
        steps.append(Step("disable website CDN", "UPDATE website SET cdn_activated = false WHERE cdn_activated"))
        probes.append(
            _probe(
                CHECK_WEBSITE_EXTRA,
                "website",
                f"concat_ws(', ', {label}, 'CDN on')",
                "cdn_activated IS TRUE",
                schema,
                required=False,
            )
        )
    if schema.has("website", "robots_txt"):
        steps.append(
            Step(
                "websites disallow crawling",
                "UPDATE website SET robots_txt = %(robots)s WHERE robots_txt IS DISTINCT FROM %(robots)s",
                {"robots": ROBOTS_DISALLOW_ALL},
            )
        )
        probes.append(
            _probe(
                CHECK_WEBSITE_EXTRA,
                "website",
                f"concat_ws(', ', {label}, 'crawling allowed')",
                "robots_txt IS DISTINCT FROM %(robots)s",
                schema,
                required=False,
                params={"robots": ROBOTS_DISALLOW_ALL},
            )
        )
    tracking = schema.present("website", WEBSITE_TRACKING_COLUMNS)
    if tracking:
        sets = ", ".join(f"{c} = NULL" for c in tracking)
        where = " OR ".join(f"coalesce({c}::text, '') <> ''" for c in tracking)
        steps.append(
            Step("clear website tracking keys", _q("UPDATE website SET {sets} WHERE {where}", sets=sets, where=where))
        )
        which = ", ".join(f"CASE WHEN coalesce({c}::text, '') <> '' THEN '{c}' END" for c in tracking)
        probes.append(
            _probe(CHECK_WEBSITE_EXTRA, "website", f"concat_ws(', ', {label}, {which})", where, schema, required=False)
        )
    return steps, probes


def _watermarks(schema):
    """web and website: the 'neutralized' banner and ribbon views switched on (no check: cosmetic)."""
    if not (schema.has("ir_ui_view", "key") and schema.has("ir_ui_view", "active")):
        return [], []
    return [
        Step(
            "show the neutralized banner",
            "UPDATE ir_ui_view SET active = true WHERE key = ANY(%(keys)s) AND active IS NOT TRUE",
            {"keys": ["web.neutralize_banner", "website.neutralize_ribbon"]},
        )
    ], []


def _calendars(schema):
    """google_calendar, microsoft_calendar: the users' sync tokens, wherever the version keeps them."""
    steps, probes = [], []
    for table in CALENDAR_TABLES:
        cleared = schema.present(table, CALENDAR_CLEARED)
        tokens = schema.present(table, CALENDAR_TOKENS)
        if cleared:
            sets = ", ".join(f"{c} = NULL" for c in cleared)
            where = " OR ".join(f"{c} IS NOT NULL" for c in cleared)
            steps.append(
                Step(
                    f"clear calendar sync tokens ({table})",
                    _q("UPDATE {t} SET {sets} WHERE {where}", t=table, sets=sets, where=where),
                )
            )
        for stop in schema.present(table, CALENDAR_STOPPED):
            steps.append(
                Step(
                    f"stop calendar sync ({table}.{stop})",
                    _q("UPDATE {t} SET {c} = true WHERE {c} IS NOT TRUE", t=table, c=stop),
                )
            )
        if tokens:
            who = _label(schema, table, ("login", "user_id"))
            which = ", ".join(f"CASE WHEN {c} IS NOT NULL THEN '{c}' END" for c in tokens)
            probes.append(
                _probe(
                    CHECK_CALENDAR,
                    table,
                    f"concat_ws(', ', {who}, {which})",
                    " OR ".join(f"{c} IS NOT NULL" for c in tokens),
                    schema,
                )
            )
    return steps, probes


def _edi(schema):
    """account_edi_proxy_client and the localisations: e-invoicing connections out of production."""
    steps, probes = [], []
    table = "account_edi_proxy_client_user"
    if schema.has(table) and not schema.has(table, "edi_mode"):
        # Odoo 16 has no mode per user: one parameter puts every proxy user in demo mode
        steps += _set_param_steps(
            "e-invoicing connections to demo mode", EDI_DEMO_PARAM, "true", schema.has("ir_config_parameter", "type")
        )
        probes.append(
            Probe(
                CHECK_EDI,
                "ir_config_parameter",
                "SELECT NULL::integer, %(what)s WHERE NOT EXISTS (SELECT 1 FROM ir_config_parameter "
                "WHERE key = %(key)s AND lower(value) IN ('true', '1'))",
                {"key": EDI_DEMO_PARAM, "what": f"{EDI_DEMO_PARAM} is not true"},
            )
        )
    if schema.has(table, "edi_mode"):
        label = _label(schema, table, ("proxy_type", "company_id"))
        if schema.has(table, "proxy_type"):
            archived = _sql_list(EDI_ARCHIVED_PROXY_TYPES)
            steps.append(
                Step(
                    "e-invoicing connections to test mode",
                    _q(
                        "UPDATE {t} SET edi_mode = CASE WHEN proxy_type IN {demo} THEN 'demo' "
                        "ELSE 'test' END WHERE edi_mode = 'prod' AND proxy_type NOT IN {archived}",
                        t=table,
                        demo=_sql_list(EDI_DEMO_PROXY_TYPES),
                        archived=archived,
                    ),
                )
            )
            if schema.has(table, "active"):
                steps.append(
                    Step(
                        "archive production e-invoicing connections that cannot switch",
                        _q(
                            "UPDATE {t} SET active = false WHERE edi_mode = 'prod' "
                            "AND active IS NOT FALSE AND proxy_type IN {archived}",
                            t=table,
                            archived=archived,
                        ),
                    )
                )
        else:
            steps.append(
                Step(
                    "e-invoicing connections to test mode",
                    _q("UPDATE {t} SET edi_mode = 'test' WHERE edi_mode = 'prod'", t=table),
                )
            )
        where = "edi_mode = 'prod'" + (" AND active IS NOT FALSE" if schema.has(table, "active") else "")
        probes.append(_probe(CHECK_EDI, table, f"concat_ws(', ', {label}, 'edi_mode prod')", where, schema))
    label = _label(schema, "res_company", ("name",))
    for column, live, neutral, required in COMPANY_EDI_SWITCHES:
        if schema.has("res_company", column):
            where = f"{column} = {live}"
            steps.append(
                Step(
                    f"e-invoicing off production ({column})",
                    _q("UPDATE res_company SET {c} = {v} WHERE {where}", c=column, v=neutral, where=where),
                )
            )
            probes.append(
                _probe(
                    CHECK_EDI, "res_company", f"concat_ws(', ', {label}, '{column}')", where, schema, required=required
                )
            )
    return steps, probes


def _pos_terminals(schema):
    """pos_adyen and the other terminal addons: every ``test_mode`` / ``<terminal>_test_mode`` switched on."""
    cols = sorted(
        c for c in schema.columns.get("pos_payment_method", ()) if c == "test_mode" or c.endswith("_test_mode")
    )
    if not cols:
        return [], []
    label = _label(schema, "pos_payment_method", ("name", "use_payment_terminal"))
    sets = ", ".join(f"{ident(c)} = true" for c in cols)
    where = " OR ".join(f"{ident(c)} IS NOT TRUE" for c in cols)
    which = ", ".join(f"CASE WHEN {ident(c)} IS NOT TRUE THEN '{c} off' END" for c in cols)
    return (
        [
            Step(
                "payment terminals to test mode",
                _q("UPDATE pos_payment_method SET {sets} WHERE {where}", sets=sets, where=where),
            )
        ],
        [_probe(CHECK_POS, "pos_payment_method", f"concat_ws(', ', {label}, {which})", where, schema)],
    )


def _social(schema):
    """social (Enterprise; done when its table is there): the accounts' access tokens."""
    cols = sorted(c for c in schema.columns.get("social_account", ()) if c.endswith(SOCIAL_TOKEN_SUFFIXES))
    if not cols:
        return [], []
    label = _label(schema, "social_account", ("name", "media_type"))
    sets = ", ".join(f"{ident(c)} = NULL" for c in cols)
    where = " OR ".join(f"{ident(c)} IS NOT NULL" for c in cols)
    return (
        [
            Step(
                "clear social media tokens",
                _q("UPDATE social_account SET {sets} WHERE {where}", sets=sets, where=where),
            )
        ],
        [_probe(CHECK_SOCIAL, "social_account", label, where, schema, required=False)],
    )


# In the order of the plan; each takes the Schema and returns (steps, probes).
INTEGRATIONS = (
    _templates_and_webhooks,
    _web_push,
    _payment,
    _iap,
    _carriers,
    _website,
    _watermarks,
    _calendars,
    _edi,
    _pos_terminals,
    _social,
)


def integration_plan(schema):
    """Steps and probes of every integration the database has (pure)."""
    steps, probes = [], []
    for build in INTEGRATIONS:
        more_steps, more_probes = build(schema)
        steps += more_steps
        probes += more_probes
    return steps, probes


def sql_plan(schema, keep_cron_ids, dummy_mail_server="active"):
    """The statements of SQL mode for ``schema``; ``keep_cron_ids`` are the autovacuum crons."""
    require_odoo_schema(schema)
    if dummy_mail_server not in DUMMY_MAIL_MODES:
        raise NeutralizationError(f"dummy_mail_server must be one of {', '.join(DUMMY_MAIL_MODES)}")
    steps = mail_server_steps(schema, dummy_mail_server)
    if schema.has("fetchmail_server", "active"):
        steps.append(
            Step(
                "disable incoming mail servers", "UPDATE fetchmail_server SET active = false WHERE active IS NOT FALSE"
            )
        )
    steps.append(
        Step(
            "disable crons except the autovacuum",
            "UPDATE ir_cron SET active = false WHERE active IS NOT FALSE AND id <> ALL(%(keep)s)",
            {"keep": sorted(set(keep_cron_ids))},
        )
    )
    steps += integration_plan(schema)[0]
    steps += _set_param_steps(
        "set database.is_neutralized", PARAM_NEUTRALIZED, "true", schema.has("ir_config_parameter", "type")
    )
    return steps


def new_identity(now=None):
    """Fresh values, generated like Odoo's ir.config_parameter defaults."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {
        PARAM_UUID: str(uuid.uuid1()),
        PARAM_SECRET: str(uuid.uuid4()),
        PARAM_CREATE_DATE: now.strftime("%Y-%m-%d %H:%M:%S"),
    }


def renew_identity_plan(schema, identity):
    """Statements giving a copy its own database.uuid, database.secret and create date."""
    if not schema.has("ir_config_parameter"):
        raise NeutralizationError("the database has no ir_config_parameter table")
    has_type = schema.has("ir_config_parameter", "type")
    steps = []
    for key in (PARAM_UUID, PARAM_SECRET, PARAM_CREATE_DATE):
        steps += _set_param_steps(f"new {key}", key, identity[key], has_type)
    return steps


def find_autovacuum(conn, schema, how=None):
    """Ids of the autovacuum cron(s); ``how`` (a list) receives the name of the rule that found them."""
    ids = set()
    with conn.cursor() as cur:
        for step in autovacuum_queries(schema):
            cur.execute(step.query, step.params)
            ids.update(row[0] for row in cur.fetchall() if row[0] is not None)
            if ids:
                if how is not None:
                    how.append(step.name)
                break
    return sorted(ids)


def execute(conn, steps):
    """Run ``steps`` in one transaction (all or nothing); returns row counts per step."""
    counts = []
    try:
        with conn.transaction(), conn.cursor() as cur:
            for step in steps:
                cur.execute(step.query, step.params or None)
                counts.append({"name": step.name, "rows": cur.rowcount})
    except Exception as exc:
        raise NeutralizationError(f"neutralization SQL failed, nothing was changed: {exc}") from exc
    return counts


def apply_sql(conn, dummy_mail_server="active", check_mode=False):
    """SQL mode. Returns ``{"queries": [...], "rows": [...], "autovacuum_cron_ids": [...]}``."""
    schema = read_schema(conn)
    require_odoo_schema(schema)
    how = []
    keep = find_autovacuum(conn, schema, how)
    steps = sql_plan(schema, keep, dummy_mail_server)
    rows = [] if check_mode else execute(conn, steps)
    return {
        "queries": [s.as_dict() for s in steps],
        "rows": rows,
        "autovacuum_cron_ids": keep,
        "autovacuum_found_by": how[0] if how else None,
    }


def read_identity(conn):
    """Current database.uuid and database.secret (None when absent)."""
    with conn.cursor() as cur:
        cur.execute("SELECT key, value FROM ir_config_parameter WHERE key = ANY(%s)", ([PARAM_UUID, PARAM_SECRET],))
        found = dict(cur.fetchall())
    return {PARAM_UUID: found.get(PARAM_UUID), PARAM_SECRET: found.get(PARAM_SECRET)}


def renew_identity(conn, check_mode=False, identity=None):
    """Give the copy a new uuid and secret; returns the plan and the new uuid (never the secret)."""
    schema = read_schema(conn)
    identity = identity or new_identity()
    steps = renew_identity_plan(schema, identity)
    if not check_mode:
        execute(conn, steps)
    shown = [s.as_dict() for s in steps]
    for s in shown:  # the new secret is a secret: keep it out of results and logs
        if s["params"].get("key") == PARAM_SECRET:
            s["params"]["value"] = "********"
    return {"queries": shown, "uuid": identity[PARAM_UUID]}


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------
MAX_LISTED = 20


def _listing(rows):
    shown = "; ".join(rows[:MAX_LISTED])
    return shown + (f"; and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else "")


def evaluate(facts, before=None, expect_copy=True):
    """Pure verdicts from the facts :func:`collect_facts` read. Returns a list of check dicts.

    A check that fails names the table and row of everything still live. Checks of what
    governed.odoo does beyond Odoo's own scripts (``required`` false) never fail: what they find is
    in their detail, prefixed ``warning:``.
    """
    checks = []

    def check(name, ok, detail, required=True):
        checks.append({"name": name, "ok": bool(ok) or not required, "detail": detail, "required": required})

    servers = facts["active_mail_servers"]
    check(
        "no active outgoing mail server",
        not servers,
        "none"
        if not servers
        else "active: " + _listing([f"ir_mail_server id {s['id']} ({s['name']}, {s['smtp_host']})" for s in servers]),
    )
    if facts.get("fetchmail_present"):
        incoming = facts["active_fetchmail_servers"]
        check(
            "no active incoming mail server", not incoming, "none" if not incoming else "active: " + _listing(incoming)
        )
    crons = facts["active_crons"]
    check(
        "crons off except the autovacuum",
        not crons,
        "only the autovacuum may run" if not crons else "active: " + _listing(crons),
    )
    for item in facts.get("integrations", []):
        live = item["live"]
        if not live:
            detail = "none live"
        elif item["required"]:
            detail = "still live: " + _listing(live)
        else:
            detail = "warning: still set: " + _listing(live)
        check(item["name"], not live, detail, item["required"])
    flag = (facts.get("is_neutralized") or "").strip().lower()
    check("database.is_neutralized set", flag in ("true", "1", "yes"), f"value: {facts.get('is_neutralized')!r}")
    if expect_copy:
        before = before or {}
        for key, label in ((PARAM_UUID, "database.uuid"), (PARAM_SECRET, "database.secret")):
            now = facts.get(key)
            old = before.get(key)
            ok = bool(now) and (old is None or now != old)
            if key == PARAM_SECRET:
                detail = "changed" if ok else ("missing" if not now else "same as production's")
            else:
                detail = f"{old} -> {now}" if ok else ("missing" if not now else f"unchanged ({now})")
            if old is None and now:
                detail = "set (the value before the copy was not known)"
            check(f"{label} new for the copy", ok, detail)
    return checks


def run_probes(conn, probes):
    """``[{"name", "required", "live": ["<table> id <n> (<what>)", ...]}]``, one per check, in order."""
    out = {}
    with conn.cursor() as cur:
        for probe in probes:
            item = out.setdefault(probe.check, {"name": probe.check, "required": False, "live": []})
            item["required"] = item["required"] or probe.required
            cur.execute(probe.query, probe.params or None)
            for row_id, what in cur.fetchall():
                where = f"{probe.table} id {row_id}" if row_id is not None else probe.table
                item["live"].append(f"{where} ({what})" if what else where)
    return list(out.values())


def collect_facts(conn):
    """Read what :func:`evaluate` needs."""
    schema = read_schema(conn)
    require_odoo_schema(schema)
    keep = find_autovacuum(conn, schema)
    name_col = None
    if schema.has("ir_cron", "cron_name"):
        name_col = "cron_name"
    elif schema.has("ir_cron", "name"):
        name_col = "name"
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, name, smtp_host FROM ir_mail_server WHERE active IS NOT FALSE "
            "AND coalesce(smtp_host, '') <> %s ORDER BY id",
            (DUMMY_MAIL_HOST,),
        )
        servers = [{"id": r[0], "name": r[1], "smtp_host": r[2]} for r in cur.fetchall()]
        where = " FROM ir_cron WHERE active IS NOT FALSE AND id <> ALL(%s) ORDER BY id"
        queries = {
            "cron_name": "SELECT id, cron_name::text" + where,
            "name": "SELECT id, name::text" + where,
            None: "SELECT id, id::text" + where,
        }
        cur.execute(queries[name_col], (keep,))
        crons = [f"ir_cron id {r[0]} ({r[1]})" for r in cur.fetchall()]
        fetchmail = schema.has("fetchmail_server", "active")
        incoming = []
        if fetchmail:
            label = _label(schema, "fetchmail_server", ("name", "server"))
            cur.execute(
                _q("SELECT id, {label} FROM fetchmail_server WHERE active IS NOT FALSE ORDER BY id", label=label)
            )
            incoming = [f"fetchmail_server id {r[0]} ({r[1]})" for r in cur.fetchall()]
        cur.execute(
            "SELECT key, value FROM ir_config_parameter WHERE key = ANY(%s)",
            ([PARAM_NEUTRALIZED, PARAM_UUID, PARAM_SECRET],),
        )
        params = dict(cur.fetchall())
    return {
        "active_mail_servers": servers,
        "active_crons": crons,
        "fetchmail_present": fetchmail,
        "active_fetchmail_servers": incoming,
        "integrations": run_probes(conn, integration_plan(schema)[1]),
        "is_neutralized": params.get(PARAM_NEUTRALIZED),
        PARAM_UUID: params.get(PARAM_UUID),
        PARAM_SECRET: params.get(PARAM_SECRET),
        "autovacuum_cron_ids": keep,
    }


def verify(conn, before=None, expect_copy=True, raise_on_failure=True):
    """Check the database is neutralized; raises :class:`NeutralizationError` listing what is not."""
    facts = collect_facts(conn)
    checks = evaluate(facts, before, expect_copy)
    failed = [c for c in checks if not c["ok"]]
    warnings = [f"{c['name']}: {c['detail']}" for c in checks if not c["required"] and c["detail"] != "none live"]
    report = {
        "ok": not failed,
        "checks": checks,
        "warnings": warnings,
        "autovacuum_cron_ids": facts["autovacuum_cron_ids"],
        "uuid": facts.get(PARAM_UUID),
    }
    if failed and raise_on_failure:
        raise NeutralizationError(
            "the database is not neutralized: " + "; ".join(f"{c['name']}: {c['detail']}" for c in failed),
            verification=report,
        )
    return report


# --------------------------------------------------------------------------------------------
# Job mode: `odoo neutralize -d DB` with the release image
# --------------------------------------------------------------------------------------------
def parse_major(version):
    """'17.0', '17.0+e', 'saas~17.2', 17 -> 17; None stays None."""
    if version is None:
        return None
    match = re.search(r"(\d+)", str(version))
    return int(match.group(1)) if match else None


def job_name(db_name, stamp):
    """A DNS-1123 Job name (at most 63 characters) for neutralizing ``db_name``."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"neutralize-{db_name}".lower()).strip("-")
    suffix = re.sub(r"[^a-z0-9]+", "", str(stamp).lower())[-16:]
    return f"{base[: 62 - len(suffix)].rstrip('-')}-{suffix}"


def render_neutralize_job(
    *,
    name,
    namespace,
    image,
    db_name,
    config_secret=None,
    config_key="odoo.conf",
    config_configmap=None,
    env_from=None,
    odoo_version=None,
    command=None,
    odoo_bin="odoo",
    labels=None,
    annotations=None,
    service_account=None,
    active_deadline_seconds=1800,
    ttl_seconds_after_finished=3600,
    resources=None,
    env=None,
    node_selector=None,
    tolerations=None,
    run_as_user=None,
):
    """The Job that runs ``odoo neutralize -d <db_name>`` in the release image.

    ``image`` must be pinned by digest (``repo@sha256:<64 hex>``): what neutralizes a copy of
    production is exactly the release that will run on it. The ``odoo.conf`` (key ``config_key``) is
    mounted read-only from exactly one of ``config_secret``, a Secret holding the environment's
    ``odoo.conf`` with the database host and credentials, or ``config_configmap``, a ConfigMap holding
    one without credentials (the odoo role's ``odoo-config``), whose pods take the database from libpq's
    PG* variables: ``env_from`` (as Kubernetes writes ``envFrom``: ``configMapRef``/``secretRef``) gives
    the container those, as the instance's own pods get them (ConfigMap and Secret ``odoo-db``).
    ``annotations`` go on the pod (the lab uses ``lab.governed.odoo/fail``).
    ``node_selector`` (labels) and ``tolerations`` (as Kubernetes writes them) place the pod where the
    instance's Jobs run (the odoo role's ``odoo_job_node_selector``/``odoo_job_tolerations``);
    ``run_as_user`` the uid the container runs as (the odoo role's ``odoo_uid``), for an image whose
    own user is root or unnamed (the container must not run as root); it is also the pod's ``fsGroup``, so that
    the user can read the mounted ``odoo.conf`` (mode 0440).
    """
    if not image or not _DIGEST_IMAGE.match(image):
        raise NeutralizationError(f"the neutralize Job needs the release image pinned by digest, got {image!r}")
    major = parse_major(odoo_version)
    if major is None:
        raise NeutralizationError(
            "the Odoo version of the backup is unknown: cannot tell whether `odoo neutralize` "
            "exists (Odoo 16+); use neutralize_mode=sql"
        )
    if major < JOB_MIN_ODOO_MAJOR:
        raise NeutralizationError(
            f"`odoo neutralize` exists from Odoo {JOB_MIN_ODOO_MAJOR}; this backup is Odoo "
            f"{major}: use neutralize_mode=sql",
            odoo_major=major,
        )
    if bool(config_secret) == bool(config_configmap):
        raise NeutralizationError(
            "the neutralize Job takes its odoo.conf from exactly one of config_secret and config_configmap"
        )
    env_sources = []
    for source in env_from or []:
        kinds = [k for k in ("configMapRef", "secretRef") if k in (source if isinstance(source, dict) else {})]
        if len(kinds) != 1 or len(source) != 1 or not (source[kinds[0]] or {}).get("name"):
            raise NeutralizationError(
                f"env_from takes configMapRef or secretRef entries with a name, as Kubernetes writes envFrom, "
                f"got {source!r}"
            )
        env_sources.append({kinds[0]: {"name": str(source[kinds[0]]["name"])}})
    conf_path = f"/etc/odoo/{config_key}"
    base_labels = {
        "app.kubernetes.io/name": "odoo",
        "app.kubernetes.io/component": "neutralize",
        "app.kubernetes.io/managed-by": "governed.odoo",
    }
    base_labels.update(labels or {})
    container = {
        "name": "neutralize",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": [odoo_bin, "neutralize", "--config", conf_path, "--database", db_name],
        "volumeMounts": [{"name": "odoo-config", "mountPath": conf_path, "subPath": config_key, "readOnly": True}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": resources or {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }
    if run_as_user is not None:
        if int(run_as_user) <= 0:
            raise NeutralizationError(f"run_as_user must be a uid other than root's, got {run_as_user!r}")
        container["securityContext"]["runAsUser"] = int(run_as_user)
        container["securityContext"]["runAsGroup"] = int(run_as_user)
    if command:
        container["command"] = list(command)
    if env:
        container["env"] = [{"name": k, "value": str(v)} for k, v in sorted(env.items())]
    if env_sources:
        container["envFrom"] = env_sources
    volume = (
        {"name": "odoo-config", "secret": {"secretName": config_secret, "defaultMode": 0o440}}
        if config_secret
        else {"name": "odoo-config", "configMap": {"name": config_configmap}}
    )
    pod_spec = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": [volume],
    }
    if service_account:
        pod_spec["serviceAccountName"] = service_account
    if run_as_user is not None:  # the Secret's files (mode 0440) are then readable through their group
        pod_spec["securityContext"] = {"fsGroup": int(run_as_user)}
    if node_selector:
        if not isinstance(node_selector, dict):
            raise NeutralizationError(f"node_selector must be a mapping of labels, got {node_selector!r}")
        pod_spec["nodeSelector"] = {str(k): str(v) for k, v in node_selector.items()}
    if tolerations:
        if not isinstance(tolerations, list) or not all(isinstance(t, dict) for t in tolerations):
            raise NeutralizationError(f"tolerations must be a list of mappings, got {tolerations!r}")
        pod_spec["tolerations"] = [dict(t) for t in tolerations]
    template_meta = {"labels": dict(base_labels)}
    if annotations:
        template_meta["annotations"] = dict(annotations)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(base_labels),
            "annotations": {"governed.odoo/database": db_name},
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": int(active_deadline_seconds),
            "ttlSecondsAfterFinished": int(ttl_seconds_after_finished),
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }
