"""Odoo's cron backlog as a metric something really publishes: the lab's postgres_exporter (Debian's
prometheus-postgres-exporter) runs the monitoring role's query file
(roles/monitoring/files/postgres_exporter_queries.yml) in every database of the lab's PostgreSQL, and the lab's
Prometheus scrapes it.

A database of the test's own holds Odoo's ir_cron table (the columns the query reads, as Odoo 17 declares them:
``active`` boolean, ``nextcall`` timestamp without time zone in UTC). Two active actions overdue and one inactive
overdue give a backlog of 2 whose oldest is about two hours due, which the OdooCronBacklog alert's condition sees;
moved into the future, the backlog is 0 and the condition is quiet. The lab's own databases (no ir_cron) report 0.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from node_lab import prom_query, prometheus
from restore_lab import lab_postgres, pg_dsn, scratch_database, unique

pytestmark = pytest.mark.lab
# the OdooCronBacklog alert's condition for the default monitoring_cron_backlog_max_minutes (30)
ALERT_EXPR = 'max(governed_odoo_cron_oldest_due_seconds{{datname="{db}"}}) > 1800'


def query(expr: str) -> list:
    prometheus("postgres")  # fails unless the lab's Prometheus scrapes its postgres_exporter
    return prom_query(expr)


def wait_for(expr: str, want, timeout: float = 120) -> list:
    """Poll until ``want(result)``; the exporter runs the query at each scrape (every second in the lab)."""
    deadline = time.monotonic() + timeout
    result = query(expr)
    while not want(result) and time.monotonic() < deadline:
        time.sleep(2)
        result = query(expr)
    return result


def value(result) -> float | None:
    return float(result[0]["value"][1]) if result else None


@pytest.fixture
def odoo_db():
    server = lab_postgres()["primary"]
    with scratch_database(server, unique("t_cron")) as name:
        with psycopg.connect(pg_dsn(server, name), autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE ir_cron (id serial PRIMARY KEY, cron_name varchar NOT NULL, active boolean,"
                " nextcall timestamp without time zone NOT NULL)"
            )
            conn.execute(
                "INSERT INTO ir_cron (cron_name, active, nextcall) VALUES"
                " ('Mail: Email Queue Manager', true, (now() AT TIME ZONE 'UTC') - interval '2 hours'),"
                " ('Base: Auto-vacuum internal data', true, (now() AT TIME ZONE 'UTC') - interval '10 minutes'),"
                " ('Payroll: disabled', false, (now() AT TIME ZONE 'UTC') - interval '3 days'),"
                " ('Calendar: Event Reminder', true, (now() AT TIME ZONE 'UTC') + interval '1 hour')"
            )
        yield {"name": name, "server": server}


def test_due_scheduled_actions_are_published_and_the_alert_condition_sees_them(odoo_db):
    db = odoo_db["name"]
    jobs = wait_for(f'governed_odoo_cron_backlog_jobs{{datname="{db}"}}', lambda r: value(r) == 2)
    assert value(jobs) == 2, jobs  # the two active overdue actions; not the inactive one nor the future one
    oldest = value(query(f'governed_odoo_cron_oldest_due_seconds{{datname="{db}"}}'))
    assert 7000 < oldest < 7200 + 600, oldest  # about two hours, whatever the server's time zone
    assert query(ALERT_EXPR.format(db=db)), "the OdooCronBacklog condition does not see a two-hour-old due action"

    # Odoo ran them: their next calls are in the future again
    with psycopg.connect(pg_dsn(odoo_db["server"], db), autocommit=True) as conn:
        conn.execute("UPDATE ir_cron SET nextcall = (now() AT TIME ZONE 'UTC') + interval '1 day'")
    jobs = wait_for(f'governed_odoo_cron_backlog_jobs{{datname="{db}"}}', lambda r: value(r) == 0)
    assert value(jobs) == 0, jobs
    assert value(query(f'governed_odoo_cron_oldest_due_seconds{{datname="{db}"}}')) == 0
    assert query(ALERT_EXPR.format(db=db)) == []


def test_a_database_without_ir_cron_reports_no_backlog_and_no_scrape_error():
    # the lab's own postgres database has no ir_cron: the query gives 0 there instead of failing the scrape
    result = wait_for('governed_odoo_cron_backlog_jobs{datname="postgres"}', bool)
    assert value(result) == 0, result
    assert value(query("pg_exporter_last_scrape_error")) == 0
    assert value(query("pg_up")) == 1
