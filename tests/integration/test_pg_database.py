"""governed.odoo.pg_database against the lab's real PostgreSQL.

From nothing (check mode first: it lists exactly what the real run then does, and changes nothing), a rerun that
changes nothing, drift corrected and reported statement by statement, a role that cannot log in for another
reason keeping its password, a changed password set again, a wrong admin password and a failing statement that
leak no secret: neither in the result nor in ``ansible-playbook -vvv`` output (the action plugin, in the
controller's process) nor in a module process's output.
"""

from __future__ import annotations

import json
import secrets

import pytest
from _modrun import run_module, run_module_raw
from _playrun import lab_postgres, run_play

pytestmark = pytest.mark.lab

psycopg = pytest.importorskip("psycopg")

PREFIX = f"pgd{secrets.token_hex(2)}"
FLAGS = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


@pytest.fixture(scope="module")
def pg():
    conf = lab_postgres()
    yield conf
    with admin(conf) as db:
        for (name,) in db.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)).fetchall():
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for (name,) in db.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (PREFIX + "%",)).fetchall():
            db.execute(f'DROP ROLE IF EXISTS "{name}"')


def admin(pg, dbname="postgres"):
    return psycopg.connect(
        host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname=dbname, autocommit=True
    )


class Instance:
    """Names and fresh passwords of one test instance (passwords with quotes and a non-ASCII letter)."""

    def __init__(self, tag):
        self.db = f"{PREFIX}_{tag}"
        self.owner, self.app, self.reporting = f"{self.db}_owner", f"{self.db}_app", f"{self.db}_reporting"
        self.app_password = f"app'{secrets.token_hex(8)}\\ü"
        self.reporting_password = f"rep-{secrets.token_hex(8)}"

    def args(self, pg, **over):
        out = dict(
            login_host=pg["host"],
            login_port=pg["port"],
            login_user=pg["user"],
            login_password=pg["password"],
            db="postgres",
            ssl_mode="disable",
            name=self.db,
            owner=self.owner,
            app=dict(name=self.app, password=self.app_password, connection_limit=12),
            reporting=dict(name=self.reporting, password=self.reporting_password, connection_limit=2),
        )
        out.update(over)
        return out

    @property
    def secrets(self):
        return [self.app_password, self.reporting_password]


def snapshot(pg, inst):
    """Everything the module manages, read as the admin (None for what does not exist)."""
    with admin(pg) as db:
        roles = db.execute(
            "SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication,"
            " r.rolbypassrls, r.rolconnlimit, r.rolconfig, a.rolpassword"
            " FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname = ANY(%s) ORDER BY 1",
            ([inst.owner, inst.app, inst.reporting],),
        ).fetchall()
        members = db.execute(
            "SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members"
            " WHERE member::regrole::text LIKE %s ORDER BY 1, 2",
            (f"%{inst.db}%",),
        ).fetchall()
        database = db.execute(
            "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datacl::text[] FROM pg_database"
            " WHERE datname = %s",
            (inst.db,),
        ).fetchone()
    state = {"roles": roles, "members": members, "database": database, "schema": None}
    if database:
        with admin(pg, inst.db) as db:
            state["schema"] = db.execute(
                "SELECT nspacl::text[], (SELECT array_agg(defaclacl::text) FROM pg_default_acl) FROM pg_namespace"
                " WHERE nspname = 'public'"
            ).fetchone()
    return state


def login(pg, user, password, dbname):
    return psycopg.connect(
        host=pg["host"], port=pg["port"], user=user, password=password, dbname=dbname, autocommit=True
    )


def assert_no_secret(text, inst, pg=None):
    for value in inst.secrets + ([pg["password"]] if pg else []):
        assert value not in text
    assert "SCRAM-SHA-256$" not in text


def test_from_nothing_check_mode_first_then_create_then_nothing_to_do(pg):
    inst = Instance("new")
    before = snapshot(pg, inst)
    preview = run_module("pg_database", inst.args(pg), check_mode=True, diff=True)
    assert preview.get("failed") is not True, preview
    assert preview["changed"] is True
    assert snapshot(pg, inst) == before  # nothing created
    assert preview["roles_created"] == [inst.owner, inst.app, inst.reporting]
    assert preview["database_created"] is True
    assert preview["diff"]["before"]["database"] == "absent"

    done = run_module("pg_database", inst.args(pg))
    assert done.get("failed") is not True, done
    # check mode listed exactly what the real run did
    assert done["queries"] == preview["queries"]
    assert done["queries"][:2] == [
        f'CREATE ROLE "{inst.owner}" NOLOGIN {FLAGS}',
        f'CREATE ROLE "{inst.app}" LOGIN {FLAGS} CONNECTION LIMIT 12 PASSWORD ********',
    ]
    assert f'CREATE DATABASE "{inst.db}" OWNER "{inst.owner}" ENCODING \'UTF8\' TEMPLATE template0' in done["queries"]
    assert_no_secret(json.dumps(done) + json.dumps(preview), inst, pg)

    state = snapshot(pg, inst)
    roles = {r[0]: r[1:] for r in state["roles"]}
    assert roles[inst.owner][:6] == (False, False, False, False, False, False)
    assert roles[inst.app][:8] == (True, False, False, False, False, False, 12, [f"role={inst.owner}"])
    assert roles[inst.reporting][:8] == (
        True,
        False,
        False,
        False,
        False,
        False,
        2,
        ["default_transaction_read_only=on"],
    )
    assert roles[inst.app][8].startswith("SCRAM-SHA-256$")  # stored as a verifier
    assert state["members"] == [(inst.owner, inst.app)]
    owner, encoding, acl = state["database"]
    assert (owner, encoding) == (inst.owner, "UTF8")
    assert sorted(acl) == sorted(
        [f"{inst.owner}=CTc/{inst.owner}", f"{inst.app}=Tc/{inst.owner}", f"{inst.reporting}=c/{inst.owner}"]
    )

    # the roles work as declared
    with login(pg, inst.app, inst.app_password, inst.db) as app:
        assert app.execute("SELECT current_user").fetchone()[0] == inst.owner
        app.execute("CREATE TABLE t (id int)")
        app.execute("INSERT INTO t VALUES (1)")
    with login(pg, inst.reporting, inst.reporting_password, inst.db) as rep:
        assert rep.execute("SELECT count(*) FROM t").fetchone()[0] == 1
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            rep.execute("INSERT INTO t VALUES (2)")

    again = run_module("pg_database", inst.args(pg), diff=True)
    assert again["changed"] is False and again["queries"] == [], again
    assert again["diff"]["before"] == again["diff"]["after"]
    again = run_module("pg_database", inst.args(pg), check_mode=True)
    assert again["changed"] is False and again["queries"] == []


def test_drift_is_corrected_and_reported_check_mode_first(pg):
    inst = Instance("drift")
    assert run_module("pg_database", inst.args(pg))["changed"] is True
    with admin(pg) as db:
        db.execute(f'CREATE ROLE "{PREFIX}_intruder"')
        db.execute(f'ALTER ROLE "{inst.owner}" LOGIN CREATEDB')
        db.execute(f'ALTER ROLE "{inst.app}" CONNECTION LIMIT 99')
        db.execute(f"ALTER ROLE \"{inst.app}\" SET work_mem = '1MB'")
        db.execute(f'REVOKE "{inst.owner}" FROM "{inst.app}"')
        db.execute(f'REVOKE CONNECT ON DATABASE "{inst.db}" FROM "{inst.reporting}"')
        db.execute(f'GRANT CONNECT, TEMPORARY ON DATABASE "{inst.db}" TO PUBLIC')
        db.execute(f'GRANT CONNECT ON DATABASE "{inst.db}" TO "{inst.app}" WITH GRANT OPTION')
        db.execute(f"ALTER ROLE \"{inst.reporting}\" PASSWORD 'something-else'")
        db.execute(f'ALTER DATABASE "{inst.db}" OWNER TO "{PREFIX}_intruder"')
    with admin(pg, inst.db) as db:
        db.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
        db.execute("CREATE TABLE unreadable (id int)")  # owned by the admin: the reporting role cannot read it

    expected = [
        f'ALTER ROLE "{inst.owner}" NOLOGIN {FLAGS}',
        f'ALTER ROLE "{inst.app}" CONNECTION LIMIT 12',
        f'ALTER ROLE "{inst.app}" RESET ALL',
        f"ALTER ROLE \"{inst.app}\" SET role = '{inst.owner}'",
        f'ALTER ROLE "{inst.reporting}" PASSWORD ********',
        f'GRANT "{inst.owner}" TO "{inst.app}"',
        f'ALTER DATABASE "{inst.db}" OWNER TO "{inst.owner}"',
        f'REVOKE CONNECT, TEMPORARY ON DATABASE "{inst.db}" FROM PUBLIC CASCADE',
        f'REVOKE GRANT OPTION FOR ALL ON DATABASE "{inst.db}" FROM "{inst.app}" CASCADE',
        f'GRANT CONNECT ON DATABASE "{inst.db}" TO "{inst.reporting}"',
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{inst.reporting}"',
    ]
    before = snapshot(pg, inst)
    preview = run_module("pg_database", inst.args(pg), check_mode=True, diff=True)
    assert preview["changed"] is True and preview["queries"] == expected, preview
    assert snapshot(pg, inst) == before
    assert preview["diff"]["before"]["roles"][inst.reporting]["password"] == "differs"
    assert preview["diff"]["after"]["roles"][inst.reporting]["password"] == "as declared"
    assert preview["diff"]["before"]["roles"][inst.app]["connection limit"] == 99
    assert preview["diff"]["before"]["roles"][inst.app]["member of the owner role"] is False

    fixed = run_module("pg_database", inst.args(pg))
    assert fixed["changed"] is True and fixed["queries"] == expected, fixed
    assert_no_secret(json.dumps(fixed) + json.dumps(preview), inst, pg)
    with login(pg, inst.reporting, inst.reporting_password, inst.db) as rep:
        assert rep.execute("SELECT count(*) FROM unreadable").fetchone()[0] == 0
    again = run_module("pg_database", inst.args(pg))
    assert again["changed"] is False and again["queries"] == [], again


def test_a_role_that_cannot_log_in_for_another_reason_keeps_its_password(pg):
    """No CONNECT on the database: the login fails, the stored verifier still matches, so only CONNECT is granted."""
    inst = Instance("keep")
    run_module("pg_database", inst.args(pg))
    with admin(pg) as db:
        db.execute(f'REVOKE CONNECT ON DATABASE "{inst.db}" FROM "{inst.reporting}"')
        verifier = db.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (inst.reporting,)).fetchone()
    with pytest.raises(psycopg.OperationalError):
        login(pg, inst.reporting, inst.reporting_password, inst.db).close()
    res = run_module("pg_database", inst.args(pg))
    assert res["queries"] == [f'GRANT CONNECT ON DATABASE "{inst.db}" TO "{inst.reporting}"'], res
    with admin(pg) as db:
        assert (
            db.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (inst.reporting,)).fetchone() == verifier
        )


def test_wrong_admin_password_fails_without_leaking(pg, tmp_path):
    inst = Instance("badadmin")
    wrong = f"wrong-{secrets.token_hex(8)}"
    res, raw = run_module_raw("pg_database", inst.args(pg, login_password=wrong))
    assert res["failed"] is True
    assert "password authentication failed" in res["msg"]
    assert_no_secret(raw, inst, pg)
    assert wrong not in raw
    out = playbook(tmp_path, inst.args(pg, login_password=wrong))
    assert out.returncode != 0 and "password authentication failed" in out.stdout
    assert_no_secret(out.stdout + out.stderr, inst, pg)
    assert wrong not in out.stdout + out.stderr


def playbook(tmp_path, args, *extra):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"governed.odoo.pg_database": args}]}]
    return run_play(tmp_path, play, "-vvv", "--diff", *extra)


def test_a_failing_statement_leaks_no_password(pg, tmp_path):
    """An admin without CREATEROLE: the CREATE ROLE ... PASSWORD of the application role fails (the owner role
    exists). Neither the passwords nor their verifiers appear in the result, in a module process's output or in
    ansible-playbook -vvv --diff output, and nothing was left half done."""
    inst = Instance("fail")
    limited, limited_password = f"{PREFIX}_limited", f"lim-{secrets.token_hex(8)}"
    with admin(pg) as db:
        db.execute(f'CREATE ROLE "{inst.owner}" NOLOGIN {FLAGS}')
        db.execute(f"CREATE ROLE \"{limited}\" LOGIN CREATEDB PASSWORD '{limited_password}'")
        db.execute(f'GRANT "{inst.owner}" TO "{limited}"')
    args = inst.args(pg, login_user=limited, login_password=limited_password)
    before = snapshot(pg, inst)

    res, raw = run_module_raw("pg_database", args)
    assert res["failed"] is True, res
    assert res["statement"] == f'CREATE ROLE "{inst.app}" LOGIN {FLAGS} CONNECTION LIMIT 12 PASSWORD ********'
    # the server's primary message and SQLSTATE, after the masked statement; no LINE excerpt of the statement
    assert res["msg"] == f"{res['statement']}: permission denied to create role (SQLSTATE 42501)"
    assert res["changed"] is False
    assert_no_secret(raw, inst)
    assert limited_password not in raw

    for mode in ((), ("--check",)):
        out = playbook(tmp_path, args, *mode)
        text = out.stdout + out.stderr
        assert out.returncode != 0 and "permission denied" in text, text[-3000:]
        assert "PASSWORD ********" in text
        assert_no_secret(text, inst, pg)
        assert limited_password not in text
    assert snapshot(pg, inst) == before


def test_the_action_plugin_gives_the_module_result_in_process(pg, tmp_path):
    """A playbook run (action plugin, controller's process): created, then unchanged, with the same queries."""
    inst = Instance("play")
    out = tmp_path / "result.json"
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"governed.odoo.pg_database": inst.args(pg), "register": "first"},
                {"governed.odoo.pg_database": inst.args(pg), "register": "second"},
                {
                    "ansible.builtin.copy": {
                        "dest": str(out),
                        "mode": "0600",
                        "content": "{{ [first, second] | to_json }}",
                    }
                },
            ],
        }
    ]
    res = run_play(tmp_path, play, "-vvv", "--diff")
    assert res.returncode == 0, res.stdout[-3000:]
    first, second = json.loads(out.read_text())
    assert first["changed"] is True and second["changed"] is False
    assert f'CREATE DATABASE "{inst.db}" OWNER "{inst.owner}" ENCODING \'UTF8\' TEMPLATE template0' in first["queries"]
    assert_no_secret(res.stdout + res.stderr + out.read_text(), inst, pg)
