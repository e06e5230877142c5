"""governed.odoo.run_module against the lab's real PostgreSQL: a community.postgresql module run inside the
worker gives the result the module process gives, starts no module process, keeps check mode, no_log masking and
module_defaults, and falls back to a module process when told to."""

from __future__ import annotations

import json
import uuid

import pytest
from _playrun import lab_postgres, run_play

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def pg():
    return lab_postgres()


def play(tmp_path, pg, tasks, *extra):
    """Run tasks on the implicit localhost, with the lab's login as module_defaults of community.postgresql;
    the finished process (its output at -vvv)."""
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"lab_pg_password": pg["password"]}))
    login = {"login_host": pg["host"], "login_port": pg["port"], "login_user": pg["user"]}
    plays = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {
                "group/community.postgresql.all": dict(login, login_password="{{ lab_pg_password }}"),
            },
            "tasks": tasks,
        }
    ]
    return run_play(tmp_path, plays, "-vvv", "-e", f"@{secrets}", *extra)


def save(var, dest):
    return {
        "ansible.builtin.copy": {"dest": str(dest), "content": "{{ " + var + " | to_json }}", "mode": "0600"},
        "check_mode": False,
    }


def strip(result):
    return {k: v for k, v in result.items() if k not in ("execution_time_ms", "invocation")}


def test_same_result_as_the_module_process_and_no_process_started(pg, tmp_path):
    query = {
        "login_db": "postgres",
        "query": "SELECT %(n)s::int * 2 AS doubled, current_user AS who",
        "named_args": {"n": 21},
    }
    direct, process = tmp_path / "direct.json", tmp_path / "process.json"
    res = play(
        tmp_path,
        pg,
        [
            {
                "governed.odoo.run_module": {"module": "community.postgresql.postgresql_query", "args": query},
                "register": "d",
            },
            save("d", direct),
        ],
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    # no AnsiballZ payload was written or executed for the direct run
    assert "AnsiballZ_postgresql_query" not in res.stdout
    res = play(
        tmp_path,
        pg,
        [{"community.postgresql.postgresql_query": query, "register": "p"}, save("p", process)],
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "AnsiballZ_postgresql_query" in res.stdout  # the baseline did start a module process
    d, p = json.loads(direct.read_text()), json.loads(process.read_text())
    assert d["query_result"] == [{"doubled": 42, "who": pg["user"]}]
    assert strip(d) == strip(p)


def test_direct_false_runs_a_module_process(pg, tmp_path):
    out = tmp_path / "out.json"
    res = play(
        tmp_path,
        pg,
        [
            {
                "governed.odoo.run_module": {
                    "module": "community.postgresql.postgresql_ping",
                    "args": {"login_db": "postgres"},
                    "direct": False,
                },
                "register": "r",
            },
            save("r", out),
        ],
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "AnsiballZ_postgresql_ping" in res.stdout
    assert json.loads(out.read_text())["is_available"] is True


def test_check_mode_changes_nothing_then_a_real_run_creates_once(pg, tmp_path):
    import psycopg

    name = f"run_module_{uuid.uuid4().hex[:8]}"
    task = {
        "governed.odoo.run_module": {
            "module": "community.postgresql.postgresql_db",
            "args": {"maintenance_db": "postgres", "name": name},
        },
        "register": "r",
    }
    dsn = dict(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname="postgres")

    def exists():
        with psycopg.connect(**dsn) as db:
            return db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

    results = []
    try:
        for extra in (("--check",), (), ()):
            out = tmp_path / f"r{len(results)}.json"
            res = play(tmp_path, pg, [task, save("r", out)], *extra)
            assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
            results.append((json.loads(out.read_text())["changed"], exists()))
    finally:
        with psycopg.connect(**dsn, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}"')
    # check mode reports the change and makes none; the first real run creates; the second changes nothing
    assert results == [(True, False), (True, True), (False, True)]


def test_the_modules_no_log_options_stay_masked(pg, tmp_path):
    import psycopg

    role = f"run_module_{uuid.uuid4().hex[:8]}"
    secret = "pw-" + uuid.uuid4().hex
    res = play(
        tmp_path,
        pg,
        [
            {
                "governed.odoo.run_module": {
                    "module": "community.postgresql.postgresql_user",
                    "args": {"login_db": "postgres", "name": role, "password": secret},
                },
            }
        ],
    )
    dsn = dict(host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname="postgres")
    try:
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        # -vvv prints the whole result, invocation included: the module masked its no_log option
        assert secret not in res.stdout + res.stderr
        assert pg["password"] not in res.stdout + res.stderr
        with psycopg.connect(**dict(dsn, user=role, password=secret)) as db:
            assert db.execute("SELECT current_user").fetchone()[0] == role
    finally:
        with psycopg.connect(**dsn, autocommit=True) as db:
            db.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_refusals_name_what_is_wrong(pg, tmp_path):
    res = play(tmp_path, pg, [{"governed.odoo.run_module": {"module": "community.postgresql.no_such_module"}}])
    assert res.returncode != 0
    assert "module=community.postgresql.no_such_module is not a module Ansible can find" in res.stdout + res.stderr
    res = play(
        tmp_path,
        pg,
        [
            {
                "governed.odoo.run_module": {
                    "module": "community.postgresql.postgresql_query",
                    "args": {"login_db": "postgres", "query": "SELECT 1", "bogus": 1},
                }
            }
        ],
    )
    assert res.returncode != 0
    assert "Unsupported parameters for (community.postgresql.postgresql_query) module: bogus" in res.stdout + res.stderr
