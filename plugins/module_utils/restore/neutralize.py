# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Neutralization of a copy of production, and the check that it really is neutral.

Two ways to neutralize, one way to check:

* **Job mode** (Odoo 16+): :func:`render_neutralize_job` renders a Kubernetes Job that runs
  ``odoo neutralize -d DB`` with the release image, pinned by digest. Odoo then runs every installed
  module's ``data/neutralize.sql`` (mail servers, crons, webhooks, payment providers...).
* **SQL mode** (when Odoo cannot run: older versions, a broken image, no cluster): :func:`sql_plan`
  and :func:`apply_sql` do what Odoo's ``base`` module does for the core objects, written to be
  idempotent and to adapt to the columns the database really has:

  - every outgoing mail server (``ir_mail_server``) set inactive, and one dummy server added,
    pointing at the host ``invalid`` (RFC 6761: never resolves). Odoo 17+ adds the same dummy as an
    *active* server, because without any active server Odoo falls back to the SMTP server of its
    configuration file; ``dummy_mail_server='disabled'`` adds it inactive instead, ``'none'`` not at
    all;
  - ``mail_template.mail_server_id`` cleared (mail's neutralize.sql) when that table exists;
  - incoming mail servers (``fetchmail_server``) inactive when that table exists, so a copy does
    not fetch (and thereby steal) production's mail;
  - every cron inactive except the autovacuum (XML id ``base.autovacuum_job``, or failing that the
    cron whose server action runs on the model ``ir.autovacuum``);
  - server-action webhooks pointed nowhere when the column exists (Odoo 17+);
  - the parameter ``database.is_neutralized`` set to ``true``.

* **Copy identity** (:func:`renew_identity_plan`): what Odoo's restore with ``copy=True`` does, a new
  ``database.uuid`` (uuid1), ``database.secret`` (uuid4) and ``database.create_date``, so the copy
  does not impersonate production towards Odoo's services (IAP, the publisher warranty).

* **Check** (:func:`verify`): no active outgoing mail server except the dummy, no active incoming
  mail server, no active cron but the autovacuum, ``database.is_neutralized`` true, and -- for a
  copy -- ``database.uuid`` and ``database.secret`` different from the values the copy had before.
  The check runs after both modes: custom modules may talk to systems that no neutralize script
  knows, and a Job that "succeeded" may not have run at all.

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
    """Which tables and columns the database has (``public`` schema), as read by :func:`read_schema`."""

    columns: dict = field(default_factory=dict)  # table -> set of column names

    def has(self, table, column=None):
        cols = self.columns.get(table)
        if cols is None:
            return False
        return column is None or column in cols


def read_schema(conn):
    """Read the tables and columns neutralization may touch."""
    tables = [
        "ir_mail_server",
        "ir_cron",
        "ir_config_parameter",
        "ir_model_data",
        "ir_act_server",
        "fetchmail_server",
        "mail_template",
    ]
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
            (tables,),
        )
        out = {}
        for table, column in cur.fetchall():
            out.setdefault(table, set()).add(column)
    return Schema(out)


def require_odoo_schema(schema):
    missing = [t for t in REQUIRED_TABLES if not schema.has(t)]
    if missing:
        raise NeutralizationError(
            "the database does not look like an Odoo database: missing table(s) " + ", ".join(missing),
            missing_tables=missing,
        )


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


def _show(value):
    if isinstance(value, (list, tuple)):
        return list(value)
    return value


def _set_param_steps(name, key, value, has_type):
    """Upsert an ir_config_parameter without relying on a unique constraint on ``key``."""
    update = "UPDATE ir_config_parameter SET value = %(value)s WHERE key = %(key)s"
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


def sql_plan(schema, keep_cron_ids, dummy_mail_server="active"):
    """The statements of SQL mode for ``schema``; ``keep_cron_ids`` are the autovacuum crons."""
    require_odoo_schema(schema)
    if dummy_mail_server not in DUMMY_MAIL_MODES:
        raise NeutralizationError(f"dummy_mail_server must be one of {', '.join(DUMMY_MAIL_MODES)}")
    steps = [
        Step(
            "disable outgoing mail servers",
            "UPDATE ir_mail_server SET active = false WHERE active IS NOT FALSE "
            "AND NOT (coalesce(name, '') = %(dummy)s AND coalesce(smtp_host, '') = %(host)s)",
            {"dummy": DUMMY_MAIL_SERVER_NAME, "host": DUMMY_MAIL_HOST},
        )
    ]
    if dummy_mail_server != "none":
        active = dummy_mail_server == "active"
        steps.append(
            Step(
                "dummy mail server state",
                "UPDATE ir_mail_server SET active = %(active)s, smtp_port = 1025, smtp_encryption = 'none' "
                "WHERE name = %(dummy)s AND smtp_host = %(host)s",
                {"active": active, "dummy": DUMMY_MAIL_SERVER_NAME, "host": DUMMY_MAIL_HOST},
            )
        )
        if schema.has("ir_mail_server", "smtp_authentication"):
            insert = (
                "INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, smtp_authentication, "
                "active) SELECT CAST(%(dummy)s AS varchar), CAST(%(host)s AS varchar), 1025, 'none', 'login', "
                "CAST(%(active)s AS boolean) WHERE NOT EXISTS (SELECT 1 FROM ir_mail_server "
                "WHERE name = CAST(%(dummy)s AS varchar) AND smtp_host = CAST(%(host)s AS varchar))"
            )
        else:
            insert = (
                "INSERT INTO ir_mail_server (name, smtp_host, smtp_port, smtp_encryption, active) "
                "SELECT CAST(%(dummy)s AS varchar), CAST(%(host)s AS varchar), 1025, 'none', "
                "CAST(%(active)s AS boolean) WHERE NOT EXISTS (SELECT 1 FROM ir_mail_server "
                "WHERE name = CAST(%(dummy)s AS varchar) AND smtp_host = CAST(%(host)s AS varchar))"
            )
        steps.append(
            Step(
                "add dummy mail server",
                insert,
                {"dummy": DUMMY_MAIL_SERVER_NAME, "host": DUMMY_MAIL_HOST, "active": active},
            )
        )
    if schema.has("mail_template", "mail_server_id"):
        steps.append(
            Step(
                "mail templates use no fixed server",
                "UPDATE mail_template SET mail_server_id = NULL WHERE mail_server_id IS NOT NULL",
            )
        )
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
    if schema.has("ir_act_server", "webhook_url") and schema.has("ir_act_server", "state"):
        steps.append(
            Step(
                "disable webhooks",
                "UPDATE ir_act_server SET webhook_url = %(url)s WHERE state = 'webhook' "
                "AND webhook_url IS DISTINCT FROM %(url)s",
                {"url": WEBHOOK_NEUTRALIZED},
            )
        )
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
                cur.execute(step.query, step.params)
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
def evaluate(facts, before=None, expect_copy=True):
    """Pure verdicts from the facts :func:`collect_facts` read. Returns a list of check dicts."""
    checks = []

    def check(name, ok, detail):
        checks.append({"name": name, "ok": bool(ok), "detail": detail})

    servers = facts["active_mail_servers"]
    check(
        "no active outgoing mail server",
        not servers,
        "none" if not servers else "active: " + ", ".join(f"{s['name']} ({s['smtp_host']})" for s in servers),
    )
    if facts.get("fetchmail_present"):
        incoming = facts["active_fetchmail_servers"]
        check(
            "no active incoming mail server", not incoming, "none" if not incoming else "active: " + ", ".join(incoming)
        )
    crons = facts["active_crons"]
    check(
        "crons off except the autovacuum",
        not crons,
        "only the autovacuum may run" if not crons else "active: " + ", ".join(crons),
    )
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
        crons = [f"{r[1]} (id {r[0]})" for r in cur.fetchall()]
        fetchmail = schema.has("fetchmail_server", "active")
        incoming = []
        if fetchmail:
            cur.execute("SELECT name FROM fetchmail_server WHERE active IS NOT FALSE ORDER BY id")
            incoming = [r[0] for r in cur.fetchall()]
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
    report = {
        "ok": not failed,
        "checks": checks,
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
    config_secret,
    config_key="odoo.conf",
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
):
    """The Job that runs ``odoo neutralize -d <db_name>`` in the release image.

    ``image`` must be pinned by digest (``repo@sha256:<64 hex>``): what neutralizes a copy of
    production is exactly the release that will run on it. ``config_secret``/``config_key`` is the
    Secret holding the environment's ``odoo.conf`` (database host and credentials), mounted
    read-only. ``annotations`` go on the pod (the lab uses ``lab.governed.odoo/fail``).
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
    if command:
        container["command"] = list(command)
    if env:
        container["env"] = [{"name": k, "value": str(v)} for k, v in sorted(env.items())]
    pod_spec = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": [{"name": "odoo-config", "secret": {"secretName": config_secret, "defaultMode": 0o440}}],
    }
    if service_account:
        pod_spec["serviceAccountName"] = service_account
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
