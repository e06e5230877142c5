"""playbooks/site.yml creates an instance's database and roles on the lab's real PostgreSQL as declared.

A fresh dev instance (a two-instance inventory written the way bench/bench_site.py writes its own, run with
--limit) is converged once, then read as the server's admin and through the instance's own login roles:

* the owner role is NOLOGIN, not a superuser, and owns the database;
* the application role is a member of the owner role, with the declared connection limit and sessions running
  as the owner (a table it creates belongs to the owner);
* the reporting role is read only (default_transaction_read_only), refuses a write, and can SELECT a table the
  owner created after the converge (default privileges);
* PUBLIC has no CREATE on schema public and no CONNECT on the database.

Then drift (the reporting role loses CONNECT, gets another connection limit, the application role another
setting) is repaired by a rerun that reports changed and prints the statements with --diff (the reporting role's
password, which was right, is not set again), and a further rerun changes nothing. Last, --check --diff
on the other, brand-new instance says what it would create and creates nothing.

Everything created (namespaces, databases, roles, the instances' generated secrets) is removed at the end.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", ROOT / ".lab")).resolve()
CONNECTION = LAB_DIR / "connection.json"
PREFIX = f"fc{secrets.token_hex(2)}"
FIRST, FRESH = f"{PREFIX}01", f"{PREFIX}02"
DB = f"{FIRST}_dev"
OWNER, APP, REPORTING = f"{DB}_owner", f"{DB}_app", f"{DB}_reporting"
# The inventory's sizing (bench_site.write_inventory): one web pod x (1 worker + 1 gevent) x db_maxconn 4
# + one cron pod x 1 cron thread x 4 = 12 connections for the application role; 2 for reporting.
APP_CONNECTION_LIMIT, REPORTING_CONNECTION_LIMIT = 12, 2

pytestmark = pytest.mark.lab

psycopg = pytest.importorskip("psycopg")


def _bench_site():
    spec = importlib.util.spec_from_file_location("bench_site", ROOT / "bench" / "bench_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        conf = json.loads(CONNECTION.read_text())
    except (OSError, ValueError):
        pytest.skip(f"lab not up: {CONNECTION} is missing (scripts/lab up)")
    if "controlplane" not in conf or "postgres" not in conf:
        pytest.skip(f"lab not up: {CONNECTION} has no controlplane or postgres")
    kubectl = [conf["controlplane"]["kubectl"], "--kubeconfig", conf["controlplane"]["kubeconfig"]]
    if subprocess.run([*kubectl, "get", "--raw", "/readyz"], capture_output=True, check=False).returncode != 0:
        pytest.skip("lab API server not reachable")
    bench = _bench_site()
    inv = bench.write_inventory(tmp_path_factory.mktemp("inventory"), PREFIX, 2)
    namespaces = [f"odoo-{t}-dev" for t in (FIRST, FRESH)]

    def cleanup():
        subprocess.run(
            [*kubectl, "delete", "namespace", "--ignore-not-found", "--wait=true", "--timeout=180s", *namespaces],
            capture_output=True,
            check=False,
        )
        bench.drop_databases([PREFIX])
        for tenant in (FIRST, FRESH):
            shutil.rmtree(LAB_DIR / "secrets" / tenant, ignore_errors=True)

    cleanup()
    yield {"conf": conf, "inv": inv, "env": bench.ansible_env(), "kubectl": kubectl}
    cleanup()


def site(lab, host: str, *extra: str) -> tuple[int, str]:
    """Run site.yml for one instance; returns (changed count of the recap, output)."""
    res = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            str(lab["inv"]),
            str(ROOT / "playbooks" / "site.yml"),
            "--limit",
            host,
            "-e",
            "governed_odoo_wait=false",
            *extra,
        ],
        env=lab["env"],
        capture_output=True,
        text=True,
        check=False,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    recap = re.search(rf"^{re.escape(host)}\s+: ok=\d+\s+changed=(\d+)", out.split("PLAY RECAP")[-1], re.M)
    assert recap, out[-3000:]
    return int(recap.group(1)), out


def admin(lab, dbname: str = "postgres"):
    pg = lab["conf"]["postgres"]["primary"]
    return psycopg.connect(
        host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname=dbname, autocommit=True
    )


def login(lab, user: str, secret: str):
    pg = lab["conf"]["postgres"]["primary"]
    password = (LAB_DIR / "secrets" / FIRST / secret).read_text().split()[0]
    return psycopg.connect(host=pg["host"], port=pg["port"], user=user, password=password, dbname=DB, autocommit=True)


def roles(lab) -> dict:
    with admin(lab) as db:
        rows = db.execute(
            "SELECT rolname, rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
            " rolconnlimit, rolconfig FROM pg_roles WHERE rolname = ANY(%s)",
            ([OWNER, APP, REPORTING],),
        ).fetchall()
    cols = ("super", "login", "createdb", "createrole", "replication", "bypassrls", "connlimit", "config")
    return {r[0]: dict(zip(cols, r[1:], strict=True)) for r in rows}


def assert_as_declared(lab) -> None:
    state = roles(lab)
    assert set(state) == {OWNER, APP, REPORTING}
    for name, role in state.items():
        assert not (role["super"] or role["createdb"] or role["createrole"] or role["replication"] or role["bypassrls"])
        assert role["login"] is (name != OWNER), name
    assert state[APP]["connlimit"] == APP_CONNECTION_LIMIT
    assert state[REPORTING]["connlimit"] == REPORTING_CONNECTION_LIMIT
    assert state[APP]["config"] == [f"role={OWNER}"]
    assert state[REPORTING]["config"] == ["default_transaction_read_only=on"]
    with admin(lab, DB) as db:
        owner, acl, app_member, public_create, public_connect, public_temp = db.execute(
            "SELECT pg_get_userbyid(datdba), datacl::text[],"
            " EXISTS (SELECT 1 FROM pg_auth_members WHERE roleid = %s::regrole AND member = %s::regrole),"
            " has_schema_privilege('public', 'public', 'CREATE'),"
            " has_database_privilege('public', current_database(), 'CONNECT'),"
            " has_database_privilege('public', current_database(), 'TEMPORARY')"
            " FROM pg_database WHERE datname = current_database()",
            (OWNER, APP),
        ).fetchone()
    assert owner == OWNER
    assert app_member
    assert not public_create and not public_connect and not public_temp
    assert sorted(acl) == sorted([f"{OWNER}=CTc/{OWNER}", f"{APP}=Tc/{OWNER}", f"{REPORTING}=c/{OWNER}"])


def test_first_converge_drift_repair_and_check_mode(lab):
    changed, _out = site(lab, FIRST)
    assert changed > 0
    assert_as_declared(lab)

    # The application role's sessions run as the owner: what it creates belongs to the owner, and the reporting
    # role can read it (default privileges), but cannot write.
    with login(lab, APP, "postgresql_app") as app:
        assert app.execute("SELECT current_user").fetchone()[0] == OWNER
        app.execute("CREATE TABLE after_converge (id int)")
        app.execute("INSERT INTO after_converge VALUES (1), (2)")
    with admin(lab, DB) as db:
        assert db.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'after_converge'").fetchone()[0] == OWNER
    with login(lab, REPORTING, "postgresql_reporting") as rep:
        assert rep.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert rep.execute("SELECT count(*) FROM after_converge").fetchone()[0] == 2
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            rep.execute("INSERT INTO after_converge VALUES (3)")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            rep.execute("CREATE TABLE reporting_write (id int)")

    # Drift: the probe cannot log in as the reporting role any more, its limit and the app's settings differ.
    with admin(lab, DB) as db:
        db.execute(f'REVOKE CONNECT ON DATABASE "{DB}" FROM "{REPORTING}"')
        db.execute(f'ALTER ROLE "{REPORTING}" CONNECTION LIMIT 7')
        db.execute(f"ALTER ROLE \"{APP}\" SET work_mem = '1MB'")
    with pytest.raises(psycopg.OperationalError):
        login(lab, REPORTING, "postgresql_reporting").close()

    changed, out = site(lab, FIRST, "--diff")
    assert changed > 0
    # --diff prints the statements (governed.odoo.pg_database's diff), and the state before and after
    assert f'GRANT CONNECT ON DATABASE "{DB}" TO "{REPORTING}";' in out
    assert f'ALTER ROLE "{REPORTING}" CONNECTION LIMIT {REPORTING_CONNECTION_LIMIT};' in out
    assert f'ALTER ROLE "{APP}" RESET ALL;' in out
    assert re.search(r"^-\s+\W*connection limit\W+7\W*$", out, re.M), out[-4000:]  # the before side of the diff
    assert re.search(r"^\+\s+\W*connection limit\W+2\W*$", out, re.M)
    # the reporting role could not log in (no CONNECT), but its password was right: it is not set again
    assert f'ALTER ROLE "{REPORTING}" PASSWORD' not in out
    assert_as_declared(lab)
    with login(lab, REPORTING, "postgresql_reporting") as rep:
        assert rep.execute("SELECT count(*) FROM after_converge").fetchone()[0] == 2

    changed, out = site(lab, FIRST)
    assert changed == 0, out[-4000:]

    # Check mode on a brand-new instance: succeeds, says what it would create, creates nothing.
    fresh_db = f"{FRESH}_dev"
    changed, out = site(lab, FRESH, "--check", "--diff")
    assert changed > 0
    assert f'CREATE ROLE "{fresh_db}_owner" NOLOGIN' in out
    assert f'CREATE DATABASE "{fresh_db}" OWNER "{fresh_db}_owner"' in out
    assert f'GRANT CONNECT ON DATABASE "{fresh_db}" TO "{fresh_db}_reporting";' in out
    with admin(lab) as db:
        assert db.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (fresh_db,)).fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE %s", (f"{fresh_db}%",)).fetchone()[0] == 0
    ns = subprocess.run(
        [*lab["kubectl"], "get", "namespace", f"odoo-{FRESH}-dev", "--ignore-not-found", "-o", "name"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ns.stdout.strip() == ""
