"""Pure logic of governed.odoo.pg_database (module_utils/pgprovision.py): the statements worked out from a catalog
state, the verifier check, the diff views. The statements themselves run against the lab's PostgreSQL in
tests/integration/test_pg_database.py."""

from __future__ import annotations

import pytest
from ansible_collections.governed.odoo.plugins.module_utils import pgprovision as p

FLAGS = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
# Verifiers made by libpq's PQencryptPasswordConn (psycopg's PGconn.encrypt_password) for password
# "correct horse" and user "alice": an oracle independent of the code under test.
SCRAM = (
    "SCRAM-SHA-256$4096:j05+VxOBNugQ6EKz5WJCrA==$taqTfWaWCmA59P94W7rbFM9kiuBci9PuokM5lNDzEa0=:"
    "GspXB56/+RlqtTVEtHkF1TXu18pESMW8v3PUFnGM7ls="
)
MD5 = "md527d601e4766ef321bab4559b3758b31c"


def params(**over):
    out = dict(
        name="acme_dev",
        owner="acme_dev_owner",
        app=dict(name="acme_dev_app", password="app-secret", connection_limit=12),
        reporting=dict(name="acme_dev_reporting", password="rep-secret", connection_limit=2),
    )
    out.update(over)
    return out


def role(login, connlimit=-1, config=None, **flags):
    out = dict(rolcanlogin=login, rolconnlimit=connlimit, rolconfig=config)
    for attr, _word in p.FLAG_ATTRS:
        out[attr] = flags.get(attr, False)
    return out


def declared_roles(decl):
    return {
        decl.owner: role(False),
        decl.app["name"]: role(True, 12, [f"role={decl.owner}"]),
        decl.reporting["name"]: role(True, 2, ["default_transaction_read_only=on"]),
    }


def declared_privileges(decl, **over):
    state = {
        "acl": [
            (decl.app["name"], "CONNECT", False),
            (decl.app["name"], "TEMPORARY", False),
            (decl.owner, "CONNECT", False),
            (decl.owner, "CREATE", False),
            (decl.owner, "TEMPORARY", False),
            (decl.reporting["name"], "CONNECT", False),
        ],
        "public_create": False,
        "reporting_usage": True,
        "default_select": True,
        "tables_without_select": [],
    }
    state.update(over)
    return state


def fake_verifier(name, password):
    return f"SCRAM-SHA-256$4096:salt$for-{name}-{password}"


def shown(statements):
    return [s.shown for s in statements]


def test_from_nothing_every_role_and_the_membership_are_created_passwords_masked():
    decl = p.Declared(params())
    stmts = p.plan_roles(decl, {}, member=False, password_ok={}, verifier=fake_verifier)
    assert shown(stmts) == [
        f'CREATE ROLE "acme_dev_owner" NOLOGIN {FLAGS}',
        f'CREATE ROLE "acme_dev_app" LOGIN {FLAGS} CONNECTION LIMIT 12 PASSWORD ********',
        "ALTER ROLE \"acme_dev_app\" SET role = 'acme_dev_owner'",
        f'CREATE ROLE "acme_dev_reporting" LOGIN {FLAGS} CONNECTION LIMIT 2 PASSWORD ********',
        "ALTER ROLE \"acme_dev_reporting\" SET default_transaction_read_only = 'on'",
        'GRANT "acme_dev_owner" TO "acme_dev_app"',
    ]
    # what runs carries the verifier (as a quoted literal), what is shown never does
    run = stmts[1].query.as_string(None)
    assert run.endswith("PASSWORD 'SCRAM-SHA-256$4096:salt$for-acme_dev_app-app-secret'")
    assert all("secret" not in s for s in shown(stmts))


def test_as_declared_nothing_to_do():
    decl = p.Declared(params())
    ok = {"acme_dev_app": True, "acme_dev_reporting": True}
    assert p.plan_roles(decl, declared_roles(decl), member=True, password_ok=ok, verifier=fake_verifier) == []
    assert p.plan_database(decl, {"owner": "acme_dev_owner", "encoding": "UTF8"}) == (None, [])
    assert p.plan_privileges(decl, declared_privileges(decl)) == []


def test_drifted_roles_are_corrected_statement_by_statement():
    decl = p.Declared(params())
    roles = declared_roles(decl)
    roles["acme_dev_owner"] = role(True, rolcreatedb=True)
    roles["acme_dev_app"] = role(True, 40, ["role=acme_dev_owner", "work_mem=1MB"])
    roles["acme_dev_reporting"] = role(False, 2, None, rolsuper=True)
    stmts = p.plan_roles(decl, roles, member=False, password_ok={"acme_dev_app": True}, verifier=fake_verifier)
    assert shown(stmts) == [
        f'ALTER ROLE "acme_dev_owner" NOLOGIN {FLAGS}',
        'ALTER ROLE "acme_dev_app" CONNECTION LIMIT 12',
        'ALTER ROLE "acme_dev_app" RESET ALL',
        "ALTER ROLE \"acme_dev_app\" SET role = 'acme_dev_owner'",
        f'ALTER ROLE "acme_dev_reporting" LOGIN {FLAGS}',
        'ALTER ROLE "acme_dev_reporting" PASSWORD ********',
        "ALTER ROLE \"acme_dev_reporting\" SET default_transaction_read_only = 'on'",
        'GRANT "acme_dev_owner" TO "acme_dev_app"',
    ]


def test_identifiers_and_values_are_quoted_by_psycopg():
    decl = p.Declared(params(owner='o"wn; DROP', app=dict(name="App Role", password="x'y", connection_limit=-1)))
    stmts = p.plan_roles(decl, {}, member=False, password_ok={}, verifier=lambda n, pw: "v'1")
    text = [s.query.as_string(None) for s in stmts]
    assert text[0].startswith('CREATE ROLE "o""wn; DROP" NOLOGIN')
    assert text[1] == f"CREATE ROLE \"App Role\" LOGIN {FLAGS} CONNECTION LIMIT  -1 PASSWORD 'v''1'"
    assert text[2] == 'ALTER ROLE "App Role" SET role = \'o"wn; DROP\''


def test_a_new_database_and_an_owner_change():
    decl = p.Declared(params())
    create, alter = p.plan_database(decl, None)
    assert create.shown == 'CREATE DATABASE "acme_dev" OWNER "acme_dev_owner" ENCODING \'UTF8\' TEMPLATE template0'
    assert alter == []
    create, alter = p.plan_database(decl, {"owner": "postgres", "encoding": "UTF8"})
    assert create is None and shown(alter) == ['ALTER DATABASE "acme_dev" OWNER TO "acme_dev_owner"']
    with pytest.raises(p.ProvisionError, match="encoding LATIN1"):
        p.plan_database(decl, {"owner": "acme_dev_owner", "encoding": "LATIN1"})


@pytest.mark.parametrize("version, public_create", [(150018, False), (140012, True)])
def test_privileges_of_a_new_database(version, public_create):
    decl = p.Declared(params())
    stmts = shown(p.plan_privileges(decl, p.new_database_state(decl, version)))
    expected = [
        'REVOKE CONNECT, TEMPORARY ON DATABASE "acme_dev" FROM PUBLIC CASCADE',
        'GRANT CONNECT, TEMPORARY ON DATABASE "acme_dev" TO "acme_dev_app"',
        'GRANT CONNECT ON DATABASE "acme_dev" TO "acme_dev_reporting"',
    ]
    expected += ["REVOKE CREATE ON SCHEMA public FROM PUBLIC"] if public_create else []
    expected += [
        'GRANT USAGE ON SCHEMA public TO "acme_dev_reporting"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "acme_dev_owner" IN SCHEMA public GRANT SELECT ON TABLES TO '
        '"acme_dev_reporting"',
    ]
    assert stmts == expected


def test_drifted_privileges_undeclared_ones_revoked_missing_ones_granted():
    decl = p.Declared(params())
    state = declared_privileges(decl, public_create=True, tables_without_select=["a", "b"])
    state["acl"] = [
        (None, "CONNECT", False),
        ("acme_dev_app", "CONNECT", True),
        ("acme_dev_app", "CREATE", False),
        ("acme_dev_owner", "CONNECT", False),
        ("acme_dev_owner", "CREATE", False),
        ("acme_dev_owner", "TEMPORARY", False),
        ("someone_else", "CONNECT", False),
    ]
    assert shown(p.plan_privileges(decl, state)) == [
        'REVOKE CONNECT ON DATABASE "acme_dev" FROM PUBLIC CASCADE',
        'REVOKE GRANT OPTION FOR ALL ON DATABASE "acme_dev" FROM "acme_dev_app" CASCADE',
        'REVOKE CREATE ON DATABASE "acme_dev" FROM "acme_dev_app" CASCADE',
        'GRANT TEMPORARY ON DATABASE "acme_dev" TO "acme_dev_app"',
        'GRANT CONNECT ON DATABASE "acme_dev" TO "acme_dev_reporting"',
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "acme_dev_reporting"',
    ]


def test_unknown_privilege_is_refused_not_pasted():
    decl = p.Declared(params())
    state = declared_privileges(decl)
    state["acl"].append((None, "CONNECT; DROP", False))
    with pytest.raises(p.ProvisionError, match="unexpected database privileges"):
        p.plan_privileges(decl, state)


def test_verifier_matches_libpq_verifiers():
    assert p.verifier_matches(SCRAM, "correct horse", "alice") is True
    assert p.verifier_matches(SCRAM, "correct horse!", "alice") is False
    assert p.verifier_matches(MD5, "correct horse", "alice") is True
    assert p.verifier_matches(MD5, "correct horse", "bob") is False
    assert p.verifier_matches(SCRAM, "cörrect horse", "alice") is None  # would need SASLprep
    assert p.verifier_matches("SCRAM-SHA-256$garbage", "x", "alice") is None
    assert p.verifier_matches(None, "x", "alice") is None


def test_declared_roles_must_differ_and_limits_be_valid():
    with pytest.raises(p.ProvisionError, match="three different roles"):
        p.Declared(params(owner="acme_dev_app"))
    with pytest.raises(p.ProvisionError, match="not -5"):
        p.Declared(params(app=dict(name="a", password="x", connection_limit=-5)))


def test_diff_views_agree_when_nothing_differs_and_differ_when_something_does():
    decl = p.Declared(params())
    server = {"roles": declared_roles(decl), "member": True, "database": {"owner": decl.owner, "encoding": "UTF8"}}
    ok = {"acme_dev_app": True, "acme_dev_reporting": True}
    privileges = declared_privileges(decl)
    assert p.view(decl, server, privileges, ok) == p.declared_view(decl, privileges["acl"])
    before = p.view(decl, server, privileges, {"acme_dev_app": True})
    assert before["roles"]["acme_dev_reporting"]["password"] == "differs"
    assert before != p.declared_view(decl, privileges["acl"])
    # grantees outside the four are shown on both sides (left alone)
    privileges["acl"].append(("someone_else", "CONNECT", False))
    assert p.view(decl, server, privileges, ok) == p.declared_view(decl, privileges["acl"])


def test_mask_replaces_every_secret_longest_first():
    from ansible_collections.governed.odoo.plugins.module_utils.pg import mask

    assert mask("a secret and a secret2", ["secret", "secret2", None, ""]) == "a ******** and a ********"


def test_an_unexpected_error_is_reported_masked_not_raised(monkeypatch):
    """A bug that quotes a password or a verifier must not reach a traceback or the result in clear."""

    def boom(self):
        self.secrets.add("SCRAM-SHA-256$4096:salt$stored")
        raise ValueError("app-secret and rep-secret and SCRAM-SHA-256$4096:salt$stored")

    monkeypatch.setattr(p.Run, "apply", boom)
    result, secrets = p.run(params())
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == "unexpected error (ValueError): ******** and ******** and ********"
    assert {"app-secret", "rep-secret", "SCRAM-SHA-256$4096:salt$stored"} <= secrets
