"""playbooks/db_failover.yml from the inventory alone, on an instance that site.yml provisions (issue 14, items 8, 10).

Promoting a replica cannot be undone, so the instance's "external server" is a throw-away primary and streaming
replica (tests/integration/pg_pair.py), never the lab's own pair: the inventory names the primary as
postgresql_external.host/port and the replica as its reporting_host/reporting_port. site.yml provisions the instance
(database and roles on the primary, the namespace with the odoo-db ConfigMap and Secret the postgresql role renders);
then `db_failover.yml --limit <instance>`, with nothing but the lag policy as an extra variable, promotes the replica,
re-points the instance's ConfigMap (the Secret keeps only the password) and proves that a write through the
instance's own credentials reaches the new primary.
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import time

import pg_pair
import psycopg
import pytest
from backup_lab import Lab, wipe_bucket
from inventory_lab import kubectl_cmd, output, run_playbook, write_inventory
from psycopg import sql

pytestmark = [pytest.mark.lab, pytest.mark.timeout(3600)]

RUN_ID = secrets.token_hex(3)
TENANT = f"fo{RUN_ID}"
HOST = f"{TENANT}-dev"
NAMESPACE = f"odoo-{HOST}"
DB = f"{TENANT}_dev"


def wait_caught_up(p, timeout=300):
    deadline = time.monotonic() + timeout
    with psycopg.connect(p.primary.dsn(), autocommit=True) as pc, \
            psycopg.connect(p.replica.dsn(), autocommit=True) as rc:
        target = pc.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        while not rc.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(target),)).fetchone()[0]:
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.5)


def in_recovery(server):
    with psycopg.connect(server.dsn(), autocommit=True) as c:
        return c.execute("SELECT pg_is_in_recovery()").fetchone()[0]


def kget(kind, name):
    res = subprocess.run([*kubectl_cmd(), "-n", NAMESPACE, "get", kind, name, "-o", "json"], capture_output=True,
                         text=True, check=False, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture
def provisioned(tmp_path):
    reason = pg_pair.available()
    if reason:
        pytest.skip(f"cannot start a throw-away PostgreSQL pair: {reason}")
    lab = Lab()
    prefix = f"gfo-{RUN_ID}"
    with pg_pair.PgPair(replica=True) as pair:
        inv = write_inventory(tmp_path / "inv", {HOST: TENANT}, prefix, extra={
            "postgresql_external": {
                "host": "127.0.0.1", "port": pair.primary.port, "admin_user": pair.primary.user,
                "admin_password": pair.primary.password, "admin_database": "postgres", "ssl_mode": "disable",
                "cidr": "127.0.0.1/32", "reporting_host": "127.0.0.1", "reporting_port": pair.replica.port,
            },
        })
        try:
            res = run_playbook(inv, "site.yml", "-e", "governed_odoo_wait=false")
            assert res.returncode == 0, output(res)
            # the table the write check uses, owned like Odoo's
            with psycopg.connect(pair.primary.dsn(DB), autocommit=True) as c:
                c.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(f"{DB}_owner")))
                c.execute("CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, "
                          "value text NOT NULL)")
            wait_caught_up(pair)
            yield inv, pair
        finally:
            subprocess.run([*kubectl_cmd(), "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"],
                           capture_output=True, check=False, timeout=300)
            for bucket in (f"{prefix}-dev-backups", f"{prefix}-dev-attachments"):
                wipe_bucket(lab.client("a"), bucket)


def test_db_failover_runs_from_the_inventory_and_repoints_the_configmap(provisioned):
    inv, pair = provisioned
    before = kget("configmap", "odoo-db")["data"]
    assert before["PGPORT"] == str(pair.primary.port)
    res = run_playbook(inv, "db_failover.yml", "--limit", HOST, "-e", "failover_max_lag_bytes=1048576")
    assert res.returncode == 0, output(res)
    assert f"{NAMESPACE}: writes reach the new primary" in res.stdout, output(res)
    assert not in_recovery(pair.replica)
    after = kget("configmap", "odoo-db")["data"]
    assert (after["PGHOST"], after["PGPORT"], after["PGDATABASE"]) == ("127.0.0.1", str(pair.replica.port), DB)
    # the Secret still holds only the password
    secret = kget("secret", "odoo-db")["data"]
    assert set(secret) == {"PGPASSWORD"}, set(secret)
    assert base64.b64decode(secret["PGPASSWORD"]).decode() not in res.stdout
    assert pair.primary.password not in res.stdout
