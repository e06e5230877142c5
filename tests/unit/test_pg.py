"""module_utils/pg.py, the collection's one PostgreSQL connection helper: its pure parts (conninfo, client
environment, error text). Connections are tested against the lab's PostgreSQL (test_pg_database.py,
test_postgresql_probe.py, the restore tests)."""

from __future__ import annotations

import pytest
from ansible_collections.governed.odoo.plugins.module_utils import pg
from ansible_collections.governed.odoo.plugins.module_utils.restore import pgconn
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import DatabaseError

PARAMS = {"login_host": "db.example", "login_port": 6432, "login_user": "admin", "login_password": "s3cret", "db": None}


def test_conninfo_takes_only_what_is_set_and_names_the_application():
    assert pg.conninfo_kwargs(PARAMS, "acme") == {
        "host": "db.example",
        "port": "6432",
        "user": "admin",
        "password": "s3cret",
        "dbname": "acme",
        "connect_timeout": "10",
        "application_name": "governed.odoo",
    }
    kw = pg.conninfo_kwargs({"login_user": "", "ssl_mode": "require", "db": "postgres", "connect_timeout": 3})
    assert kw == {
        "sslmode": "require",
        "dbname": "postgres",
        "connect_timeout": "3",
        "application_name": "governed.odoo",
    }


def test_client_env_carries_the_password_in_pgpassword_only():
    env = pg.client_env(PARAMS, "acme", base={"PATH": "/bin"}, application_name="x")
    assert env == {
        "PATH": "/bin",
        "PGHOST": "db.example",
        "PGPORT": "6432",
        "PGUSER": "admin",
        "PGPASSWORD": "s3cret",
        "PGDATABASE": "acme",
        "PGCONNECT_TIMEOUT": "10",
        "PGAPPNAME": "x",
    }


def test_restore_pgconn_is_the_same_helper_with_its_own_name_and_error():
    assert pgconn.conninfo_kwargs(PARAMS)["application_name"] == "governed.odoo.restore"
    assert pgconn.client_env(PARAMS, base={})["PGAPPNAME"] == "governed.odoo.restore"
    assert pgconn.ident is pg.ident and pgconn.sql is pg.sql and pgconn.psycopg is pg.psycopg


def test_a_failed_connection_is_the_callers_error_without_the_password():
    params = dict(PARAMS, login_host="127.0.0.1", login_port=1, connect_timeout=2)  # nothing listens on port 1
    with pytest.raises(DatabaseError) as caught:
        pgconn.connect(params, dbname="acme")
    assert caught.value.details == {"target": "127.0.0.1:1/acme"}
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/acme" in caught.value.msg
    assert "s3cret" not in caught.value.msg and caught.value.__cause__ is None
    with pytest.raises(pg.PostgresError):
        pg.connect(params)


def test_error_text_masks_an_error_without_a_server_message():
    """The server's primary message path (never the LINE excerpt of the statement) runs against the lab in
    test_pg_database.py::test_a_failing_statement_leaks_no_password; here psycopg's own error without one."""
    exc = pg.psycopg.ProgrammingError("query parameter hunter22 is wrong")
    assert pg.error_text(exc, ["hunter22"]) == "query parameter ******** is wrong"
    assert pg.error_text(ValueError(""), []) == "ValueError"
