"""PostgreSQL failover on a real primary + streaming replica pair: governed.odoo.pg_failover and
playbooks/db_failover.yml.

Promoting a replica cannot be undone, so these tests never touch the lab's own pair: each one starts
a throw-away primary and replica (tests/integration/pg_pair.py: Debian's PostgreSQL 15, run as the
postgres user on ports 18500-18599) and removes it afterwards. The playbook tests re-point an Odoo
instance (Secret, ConfigMap, Deployment) in a namespace of the lab's Kubernetes API.
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
from _modrun import run_module
from restore_lab import lab_kube, run_playbook

pytestmark = pytest.mark.lab

APP_USER = "odoo_app"
DB = "odoo_fo"
IMAGE = "docker.io/library/odoo@sha256:" + "0" * 64


@pytest.fixture
def pair():
    reason = pg_pair.available()
    if reason:
        pytest.skip(f"cannot start a throw-away PostgreSQL pair: {reason}")
    with pg_pair.PgPair(replica=True) as p:
        app_password = secrets.token_hex(10)
        with psycopg.connect(p.primary.dsn(), autocommit=True) as c:
            c.execute(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{app_password}'")
            c.execute(f"CREATE DATABASE {DB} OWNER {APP_USER}")
        with psycopg.connect(p.primary.dsn(DB), autocommit=True) as c:
            c.execute(f"SET ROLE {APP_USER}")
            c.execute("CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar NOT NULL, value text "
                      "NOT NULL, CONSTRAINT ir_config_parameter_key_uniq UNIQUE (key))")
            c.execute("INSERT INTO ir_config_parameter (key, value) VALUES ('database.uuid', 'fo-uuid')")
        p.app_password = app_password
        wait_caught_up(p)
        yield p


def wait_caught_up(p, timeout=60):
    deadline = time.monotonic() + timeout
    with psycopg.connect(p.primary.dsn(), autocommit=True) as pc, \
            psycopg.connect(p.replica.dsn(), autocommit=True) as rc:
        target = pc.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        while True:
            done = rc.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(target),)).fetchone()[0]
            if done:
                return
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.2)


def in_recovery(server):
    with psycopg.connect(server.dsn(), autocommit=True) as c:
        return c.execute("SELECT pg_is_in_recovery()").fetchone()[0]


def make_lag(p, megabytes=24):
    with psycopg.connect(p.replica.dsn(), autocommit=True) as r:
        r.execute("SELECT pg_wal_replay_pause()")
    with psycopg.connect(p.primary.dsn(DB), autocommit=True) as c:
        c.execute("CREATE TABLE bulk AS SELECT g, repeat(md5(g::text), 8) AS t FROM generate_series(1, %s) g",
                  (megabytes * 4000,))


# --------------------------------------------------------------------------------------------
# the module alone
# --------------------------------------------------------------------------------------------
def test_module_refuses_over_policy_then_promotes_and_is_idempotent(pair):
    args = {"replica": pair.replica.params(), "primary": pair.primary.params(), "max_lag_bytes": 1024 * 1024}
    make_lag(pair)
    time.sleep(0.5)
    res = run_module("pg_failover", args)
    assert res["failed"] and res["error"] == "refused", res
    assert res["lag"]["measured"] and res["lag"]["replay_lag_bytes"] > 1024 * 1024
    assert "over the policy" in res["msg"] and in_recovery(pair.replica)
    res = run_module("pg_failover", args, check_mode=True)  # check mode applies the same policy
    assert res["failed"] and in_recovery(pair.replica)

    with psycopg.connect(pair.replica.dsn(), autocommit=True) as r:
        r.execute("SELECT pg_wal_replay_resume()")
    wait_caught_up(pair)
    res = run_module("pg_failover", args, check_mode=True)
    assert res["changed"] and not res["promoted"] and res["verdict"]["action"] == "promote"
    assert in_recovery(pair.replica)
    res = run_module("pg_failover", args)
    assert res["changed"] and res["promoted"] and res["fenced_old_primary"], res
    assert res["lag"]["replay_lag_bytes"] == 0
    assert res["new_primary"]["timeline"] == 2
    assert not in_recovery(pair.replica)
    with psycopg.connect(pair.replica.dsn(DB), autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM bulk").fetchone()[0] > 0  # nothing lost
    with psycopg.connect(pair.primary.dsn(DB), autocommit=True) as c, \
            pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        c.execute("INSERT INTO ir_config_parameter (key, value) VALUES ('x', 'y')")  # the old primary is fenced
    again = run_module("pg_failover", args)
    assert not again["changed"] and again["verdict"]["action"] == "noop"
    assert pair.primary.password not in json.dumps(res)


def test_module_with_the_primary_down_needs_force(pair):
    pair.pg_ctl(pair.primary, "-m", "immediate", "-w", "stop")
    args = {"replica": pair.replica.params(), "primary": pair.primary.params()}
    res = run_module("pg_failover", args)
    assert res["failed"] and "unreachable" in res["msg"] and in_recovery(pair.replica)
    res = run_module("pg_failover", dict(args, force=True))
    assert res["promoted"] and not res["fenced_old_primary"] and res["verdict"]["forced"]
    assert not in_recovery(pair.replica)


def test_module_refuses_a_replica_of_another_cluster(pair):
    with pg_pair.PgPair(replica=False) as other:
        res = run_module("pg_failover", {"replica": pair.replica.params(), "primary": other.primary.params(),
                                         "force": True})
        assert res["failed"] and "not a copy of this primary" in res["msg"]
        assert in_recovery(pair.replica)


# --------------------------------------------------------------------------------------------
# the playbook: promote, re-point an Odoo instance, check writes through its configuration
# --------------------------------------------------------------------------------------------
def kubectl(cp, *args, stdin=None, check=True):
    proc = subprocess.run([cp["kubectl"], "--kubeconfig", cp["kubeconfig"], *args], input=stdin, text=True,
                          capture_output=True, timeout=120, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
    return proc.stdout


@pytest.fixture
def instance(pair):
    cp = lab_kube()
    ns = f"rt-failover-{secrets.token_hex(3)}"
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "odoo-db", "namespace": ns}, "type": "Opaque",
         "stringData": {"PGHOST": "127.0.0.1", "PGPORT": str(pair.primary.port), "PGDATABASE": DB,
                        "PGUSER": APP_USER, "PGPASSWORD": pair.app_password, "PGSSLMODE": "disable"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "odoo-config", "namespace": ns},
         "data": {"odoo.conf": f"[options]\ndata_dir = /var/lib/odoo\ndb_name = {DB}\nlist_db = False\n"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "odoo-web", "namespace": ns},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "odoo-web"}},
                  "template": {"metadata": {"labels": {"app": "odoo-web"}},
                               "spec": {"containers": [{"name": "odoo", "image": IMAGE}]}}}},
    ]
    kubectl(cp, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objects))
    kubectl(cp, "-n", ns, "rollout", "status", "deployment/odoo-web", "--timeout=120s")
    yield cp, ns
    kubectl(cp, "delete", "namespace", ns, "--wait=false", check=False)


def secret_value(cp, ns, key):
    data = json.loads(kubectl(cp, "-n", ns, "get", "secret", "odoo-db", "-o", "json"))["data"]
    return base64.b64decode(data[key]).decode()


def playbook_vars(pair, cp, ns, **extra):
    out = {
        "failover_replica": pair.replica.params(),
        "failover_primary": pair.primary.params(),
        "failover_max_lag_bytes": 1024 * 1024,
        "failover_kube": {"kubeconfig": cp["kubeconfig"]},
        "failover_instances": [{"namespace": ns}],
    }
    out.update(extra)
    return out


def test_playbook_refuses_lag_then_fails_over_and_writes_reach_the_new_primary(pair, instance):
    cp, ns = instance
    make_lag(pair)
    time.sleep(0.5)
    proc = run_playbook("db_failover.yml", playbook_vars(pair, cp, ns))
    assert proc.returncode != 0 and "over the policy" in proc.stdout, proc.stdout[-3000:]
    assert in_recovery(pair.replica)
    assert secret_value(cp, ns, "PGPORT") == str(pair.primary.port)

    with psycopg.connect(pair.replica.dsn(), autocommit=True) as r:
        r.execute("SELECT pg_wal_replay_resume()")
    wait_caught_up(pair)
    proc = run_playbook("db_failover.yml", playbook_vars(pair, cp, ns), check=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert in_recovery(pair.replica) and secret_value(cp, ns, "PGPORT") == str(pair.primary.port)

    proc = run_playbook("db_failover.yml", playbook_vars(pair, cp, ns))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "writes reach the new primary" in proc.stdout
    assert not in_recovery(pair.replica)
    assert secret_value(cp, ns, "PGPORT") == str(pair.replica.port)
    dep = json.loads(kubectl(cp, "-n", ns, "get", "deployment", "odoo-web", "-o", "json"))
    assert dep["spec"]["template"]["metadata"]["annotations"]["governed.odoo/database-endpoint"] == \
        f"127.0.0.1:{pair.replica.port}/{DB}"
    with psycopg.connect(pair.replica.dsn(DB), autocommit=True) as new, \
            psycopg.connect(pair.primary.dsn(DB), autocommit=True) as old:
        q = "SELECT value FROM ir_config_parameter WHERE key = 'governed_odoo.failover_check'"
        token = new.execute(q).fetchone()
        assert token is not None and old.execute(q).fetchone() is None
    for secret in (pair.app_password, pair.primary.password):
        if secret in proc.stdout:
            at = proc.stdout.index(secret)
            raise AssertionError("secret in the output:\n" + proc.stdout[max(0, at - 3000):at + 200])
    # a second run finds the replica promoted and changes nothing on the cluster
    proc = run_playbook("db_failover.yml", playbook_vars(pair, cp, ns))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "noop" in proc.stdout
