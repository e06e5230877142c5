# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One Odoo instance's database and roles on a PostgreSQL server, as declared (governed.odoo.pg_database).

What is declared:

* the owner role: ``NOLOGIN``, not a superuser, no ``CREATEDB``, ``CREATEROLE``, ``REPLICATION`` or
  ``BYPASSRLS``; it owns the database;
* the application role: ``LOGIN`` with the same flags off, its connection limit, exactly one setting of its own
  (``role = <owner>``: its sessions run as the owner), member of the owner role;
* the reporting role: ``LOGIN`` likewise, its connection limit, exactly ``default_transaction_read_only = on``;
* the database: encoding UTF8 (from template0), owned by the owner role; its ACL for PUBLIC, the owner, the
  application and the reporting role exactly ``{}``, ``CTc``, ``Tc`` and ``c`` (other grantees are left alone);
* schema ``public``: no ``CREATE`` for PUBLIC, ``USAGE`` for the reporting role, which may ``SELECT`` every table,
  view and materialized view in it now (``GRANT ... ON ALL TABLES``) and later (the owner's default privileges).

A password is set when its role is created, or when a login with the declared password fails (and, where the
server lets the admin read the stored verifier, that verifier does not match the password either: a role that
cannot log in for another reason - no CONNECT, its connection limit - keeps its password). It is sent as a
verifier computed on the controller (libpq's ``PQencryptPasswordConn``), never in clear, and is shown as
``********``.

The module reads the catalogs, works out the statements (pure functions below, unit-tested) and runs only those,
composed with ``psycopg.sql`` (identifiers as ``sql.Identifier``, values as ``sql.Literal``). When the database
exists, everything runs in one transaction in it (roles and databases are cluster-wide, so one connection does);
otherwise the roles and the membership in one transaction in the admin database, then ``CREATE DATABASE`` (it
cannot run in a transaction), then the privileges in one transaction in the new database. In check mode each
transaction is rolled back, and the ``CREATE DATABASE`` and the privileges of a database that does not exist yet
are worked out from the state it would have and listed, not run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ansible_collections.governed.odoo.plugins.module_utils import pg
from ansible_collections.governed.odoo.plugins.module_utils.common_args import postgres_argument_spec
from ansible_collections.governed.odoo.plugins.module_utils.errors import MASK, mask
from ansible_collections.governed.odoo.plugins.module_utils.pg import PostgresError, error_text, sql

FLAG_ATTRS = (
    ("rolsuper", "SUPERUSER"),
    ("rolcreatedb", "CREATEDB"),
    ("rolcreaterole", "CREATEROLE"),
    ("rolreplication", "REPLICATION"),
    ("rolbypassrls", "BYPASSRLS"),
)
FLAGS_OFF = " ".join("NO" + word for _attr, word in FLAG_ATTRS)
DB_PRIVILEGES = frozenset({"CONNECT", "CREATE", "TEMPORARY"})
APP_SETTING = "role"
REPORTING_SETTING = ("default_transaction_read_only", "on")
AS_DECLARED = "as declared"  # what --diff says of a password that works


class ProvisionError(PostgresError):
    """A statement or a read failed; ``details`` name the statement (masked) and what had been committed."""

    kind = "pg_database"


def argument_spec():
    login = dict(
        type="dict",
        required=True,
        options=dict(
            name=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            connection_limit=dict(type="int", default=-1),
        ),
    )
    spec = postgres_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        owner=dict(type="str", required=True),
        app=login,
        reporting=dict(login),
        ssl_mode=dict(
            type="str", choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"], default=None
        ),
        connect_timeout=dict(type="int", default=10),
    )
    return spec


# ------------------------------------------------------------------------------------------------ statements


class Statement:
    """A statement to run (``query``, a psycopg.sql composable) and how it is shown (``shown``, secrets masked)."""

    __slots__ = ("query", "shown")

    def __init__(self, query, shown=None):
        self.query = query
        self.shown = shown if shown is not None else query.as_string(None)

    def __repr__(self):
        return f"Statement({self.shown!r})"


def _q(template, *args):
    return sql.SQL(template).format(*args)


def _privs(names):
    unknown = set(names) - DB_PRIVILEGES
    if unknown:
        raise ProvisionError(f"unexpected database privileges {sorted(unknown)}")
    return sql.SQL(", ").join(sql.SQL(p) for p in sorted(names))


def _grantee(name):
    return sql.SQL("PUBLIC") if name is None else sql.Identifier(name)


class Declared:
    """The validated module parameters as the declared state."""

    def __init__(self, params):
        self.database = params["name"]
        self.owner = params["owner"]
        self.app = dict(params["app"])
        self.reporting = dict(params["reporting"])
        self.app["config"] = [f"{APP_SETTING}={self.owner}"]
        self.app["setting"] = (APP_SETTING, self.owner)
        self.reporting["config"] = ["=".join(REPORTING_SETTING)]
        self.reporting["setting"] = REPORTING_SETTING
        names = [self.owner, self.app["name"], self.reporting["name"]]
        if len(set(names)) != 3:
            raise ProvisionError("the owner, app and reporting roles must be three different roles", roles=names)
        for limit in (self.app["connection_limit"], self.reporting["connection_limit"]):
            if limit < -1:
                raise ProvisionError(f"a connection limit is -1 (no limit) or more, not {limit}")

    @property
    def logins(self):
        return (self.app, self.reporting)

    @property
    def role_names(self):
        return [self.owner, self.app["name"], self.reporting["name"]]

    def database_acl(self):
        """(grantee, privileges) for PUBLIC (None), the owner, the application and the reporting role."""
        return (
            (None, frozenset()),
            (self.owner, frozenset({"CONNECT", "CREATE", "TEMPORARY"})),
            (self.app["name"], frozenset({"CONNECT", "TEMPORARY"})),
            (self.reporting["name"], frozenset({"CONNECT"})),
        )


def _flags_wrong(role, login):
    return bool(role["rolcanlogin"]) is not login or any(role[attr] for attr, _word in FLAG_ATTRS)


def password_statement(name, verifier, create=None):
    """ALTER ROLE name PASSWORD <verifier> (or CREATE ROLE ... when ``create`` is the rest of the CREATE)."""
    if create is None:
        query = _q("ALTER ROLE {} PASSWORD {}", sql.Identifier(name), sql.Literal(verifier))
        shown = _q("ALTER ROLE {} PASSWORD ", sql.Identifier(name)).as_string(None) + MASK
    else:
        query = sql.SQL(" ").join([create, sql.SQL("PASSWORD"), sql.Literal(verifier)])
        shown = create.as_string(None) + " PASSWORD " + MASK
    return Statement(query, shown)


def plan_roles(decl, roles, member, password_ok, verifier):
    """Statements that make the three roles and the membership as declared.

    ``roles`` maps a role name to its pg_roles row (a dict) or is missing it; ``member`` says whether the
    application role is a direct member of the owner role; ``password_ok`` maps a login role's name to whether
    its declared password is known to work; ``verifier(name, password)`` gives the verifier to store.
    """
    out = []
    owner = roles.get(decl.owner)
    if owner is None:
        out.append(Statement(_q("CREATE ROLE {} NOLOGIN " + FLAGS_OFF, sql.Identifier(decl.owner))))
    elif _flags_wrong(owner, login=False):
        out.append(Statement(_q("ALTER ROLE {} NOLOGIN " + FLAGS_OFF, sql.Identifier(decl.owner))))
    for login in decl.logins:
        name, limit = login["name"], login["connection_limit"]
        role = roles.get(name)
        if role is None:
            create = _q(
                "CREATE ROLE {} LOGIN " + FLAGS_OFF + " CONNECTION LIMIT {}", sql.Identifier(name), sql.Literal(limit)
            )
            out.append(password_statement(name, verifier(name, login["password"]), create=create))
        else:
            if _flags_wrong(role, login=True):
                out.append(Statement(_q("ALTER ROLE {} LOGIN " + FLAGS_OFF, sql.Identifier(name))))
            if role["rolconnlimit"] != limit:
                out.append(Statement(_q("ALTER ROLE {} CONNECTION LIMIT {}", sql.Identifier(name), sql.Literal(limit))))
            if not password_ok.get(name, False):
                out.append(password_statement(name, verifier(name, login["password"])))
        config = (role or {}).get("rolconfig") or []
        if list(config) != login["config"]:
            if config:
                out.append(Statement(_q("ALTER ROLE {} RESET ALL", sql.Identifier(name))))
            setting, value = login["setting"]
            out.append(
                Statement(_q("ALTER ROLE {} SET " + setting + " = {}", sql.Identifier(name), sql.Literal(value)))
            )
    if not member:
        out.append(Statement(_q("GRANT {} TO {}", sql.Identifier(decl.owner), sql.Identifier(decl.app["name"]))))
    return out


def plan_database(decl, database):
    """(CREATE DATABASE statement or None, statements for an existing database: its owner)."""
    if database is None:
        create = _q(
            "CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0",
            sql.Identifier(decl.database),
            sql.Identifier(decl.owner),
        )
        return Statement(create), []
    if database["encoding"] != "UTF8":
        raise ProvisionError(
            f"database {decl.database} exists with encoding {database['encoding']}, not UTF8; an encoding cannot be "
            "changed in place (dump, recreate and restore it)",
            database=decl.database,
        )
    if database["owner"] != decl.owner:
        return None, [
            Statement(_q("ALTER DATABASE {} OWNER TO {}", sql.Identifier(decl.database), sql.Identifier(decl.owner)))
        ]
    return None, []


def plan_privileges(decl, state):
    """Statements that make the database ACL, schema public and the reporting role's reads as declared.

    ``state``: ``acl`` a list of (grantee or None for PUBLIC, privilege, grantable) of the database;
    ``public_create`` (PUBLIC may CREATE in schema public), ``reporting_usage`` (the reporting role has USAGE on
    it), ``default_select`` (the owner's default privileges give the reporting role SELECT on new tables),
    ``tables_without_select`` (names of tables the reporting role cannot SELECT).
    """
    db = sql.Identifier(decl.database)
    out = []
    for grantee, want in decl.database_acl():
        have = {priv for who, priv, _grantable in state["acl"] if who == grantee}
        grantable = {priv for who, priv, is_grantable in state["acl"] if who == grantee and is_grantable}
        if grantable and grantee != decl.owner:
            out.append(
                Statement(_q("REVOKE GRANT OPTION FOR ALL ON DATABASE {} FROM {} CASCADE", db, _grantee(grantee)))
            )
        extra, missing = have - want, want - have
        if extra:
            out.append(Statement(_q("REVOKE {} ON DATABASE {} FROM {} CASCADE", _privs(extra), db, _grantee(grantee))))
        if missing:
            out.append(Statement(_q("GRANT {} ON DATABASE {} TO {}", _privs(missing), db, _grantee(grantee))))
    reporting, owner = sql.Identifier(decl.reporting["name"]), sql.Identifier(decl.owner)
    if state["public_create"]:
        out.append(Statement(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC")))
    if not state["reporting_usage"]:
        out.append(Statement(_q("GRANT USAGE ON SCHEMA public TO {}", reporting)))
    if not state["default_select"]:
        out.append(
            Statement(
                _q(
                    "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT SELECT ON TABLES TO {}",
                    owner,
                    reporting,
                )
            )
        )
    if state["tables_without_select"]:
        out.append(Statement(_q("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}", reporting)))
    return out


def new_database_state(decl, server_version):
    """The privilege state of a database that CREATE DATABASE ... OWNER owner TEMPLATE template0 would make."""
    acl = [(None, "CONNECT", False), (None, "TEMPORARY", False)]
    acl += [(decl.owner, priv, False) for priv in ("CONNECT", "CREATE", "TEMPORARY")]
    return {
        "acl": acl,
        # PostgreSQL 15 stopped granting CREATE on schema public to PUBLIC in new databases
        "public_create": server_version < 150000,
        "reporting_usage": False,
        "default_select": False,
        "tables_without_select": [],
    }


# ------------------------------------------------------------------------------------------------ passwords


def _b64(text):
    return base64.b64decode(text.encode("ascii"))


def verifier_matches(verifier, password, user):
    """Whether a stored verifier (pg_authid.rolpassword) is that of ``password``; None when it cannot tell.

    SCRAM-SHA-256 (RFC 5802/7677: StoredKey = H(HMAC(PBKDF2(password, salt, i), "Client Key"))) and MD5
    (``md5`` + md5(password + user)). A non-ASCII password would need SASLprep first: None.
    """
    if not verifier:
        return None
    if verifier.startswith("SCRAM-SHA-256$"):
        if not password.isascii():
            return None
        try:
            head, keys = verifier[len("SCRAM-SHA-256$") :].split("$", 1)
            iterations, salt = head.split(":", 1)
            stored_key = _b64(keys.split(":", 1)[0])
            salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), _b64(salt), int(iterations))
        except (ValueError, TypeError):
            return None
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)
    if verifier.startswith("md5") and len(verifier) == 35:
        digest = hashlib.md5((password + user).encode("utf-8"), usedforsecurity=False).hexdigest()
        return hmac.compare_digest("md5" + digest, verifier)
    return None


# ------------------------------------------------------------------------------------------------ catalogs

READ_ROLES = """
SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolconnlimit,
       rolconfig
  FROM pg_catalog.pg_roles WHERE rolname = ANY(%(names)s)
"""
READ_MEMBER = """
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                 JOIN pg_catalog.pg_roles o ON o.oid = m.roleid JOIN pg_catalog.pg_roles a ON a.oid = m.member
                WHERE o.rolname = %(owner)s AND a.rolname = %(app)s),
       current_setting('is_superuser') = 'on', current_setting('server_version_num')::int
"""
READ_DATABASE = """
SELECT pg_catalog.pg_get_userbyid(datdba), pg_catalog.pg_encoding_to_char(encoding)
  FROM pg_catalog.pg_database WHERE datname = %(database)s
"""
READ_DATABASE_ACL = """
SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END, a.privilege_type,
       a.is_grantable
  FROM pg_catalog.pg_database d,
       LATERAL pg_catalog.aclexplode(coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
 WHERE d.datname = current_database()
 ORDER BY 1 NULLS FIRST, 2
"""
READ_SCHEMA = """
WITH r AS (SELECT (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(reporting)s) AS reporting,
                  (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %(owner)s) AS owner),
     acl AS (SELECT a.grantee, a.privilege_type FROM pg_catalog.pg_namespace n,
                    LATERAL pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
              WHERE n.nspname = 'public')
SELECT EXISTS (SELECT 1 FROM acl WHERE grantee = 0 AND privilege_type = 'CREATE'),
       EXISTS (SELECT 1 FROM acl, r WHERE acl.grantee = r.reporting AND privilege_type = 'USAGE'),
       EXISTS (SELECT 1 FROM r, pg_catalog.pg_default_acl d
                 JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
                WHERE n.nspname = 'public' AND d.defaclobjtype = 'r' AND d.defaclrole = r.owner
                  AND pg_catalog.aclcontains(d.defaclacl,
                                             pg_catalog.makeaclitem(r.reporting, r.owner, 'SELECT', false))),
       ARRAY(SELECT c.relname::text FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
                AND NOT EXISTS (SELECT 1 FROM r,
                                  pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))) a
                                 WHERE a.grantee = r.reporting AND a.privilege_type = 'SELECT')
              ORDER BY 1)
"""
READ_VERIFIERS = "SELECT rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname = ANY(%(names)s)"
ROLE_COLUMNS = (
    "rolname",
    "rolcanlogin",
    "rolsuper",
    "rolcreatedb",
    "rolcreaterole",
    "rolreplication",
    "rolbypassrls",
    "rolconnlimit",
    "rolconfig",
)


def read_server(conn, decl):
    """Roles, membership, the database (or None), whether we are a superuser, the server version."""
    rows = conn.execute(READ_ROLES, {"names": decl.role_names}).fetchall()
    roles = {row[0]: dict(zip(ROLE_COLUMNS, row, strict=True)) for row in rows}
    member, superuser, version = conn.execute(READ_MEMBER, {"owner": decl.owner, "app": decl.app["name"]}).fetchone()
    row = conn.execute(READ_DATABASE, {"database": decl.database}).fetchone()
    database = {"owner": row[0], "encoding": row[1]} if row else None
    return {"roles": roles, "member": member, "superuser": superuser, "version": version, "database": database}


def read_privileges(conn, decl):
    """The privilege state (see plan_privileges) of the database ``conn`` is connected to."""
    acl = [tuple(row) for row in conn.execute(READ_DATABASE_ACL).fetchall()]
    row = conn.execute(READ_SCHEMA, {"owner": decl.owner, "reporting": decl.reporting["name"]}).fetchone()
    return {
        "acl": acl,
        "public_create": row[0],
        "reporting_usage": row[1],
        "default_select": row[2],
        "tables_without_select": list(row[3]),
    }


# ------------------------------------------------------------------------------------------------ diff


def _role_view(role, login, verdict=None, member=None):
    """One role for --diff: its attributes one a line (short lines: YAML output folds long ones)."""
    if role is None:
        return "absent"
    out = {"login": bool(role["rolcanlogin"])}
    out.update({word.lower(): bool(role[attr]) for attr, word in FLAG_ATTRS})
    if login:
        out["connection limit"] = role["rolconnlimit"]
        out["settings"] = list(role.get("rolconfig") or [])
        out["password"] = verdict
    if member is not None:
        out["member of the owner role"] = member
    return out


def _acl_view(acl, decl):
    out = {}
    for who, priv, grantable in acl:
        out.setdefault(who or "PUBLIC", []).append(priv + ("*" if grantable else ""))
    for grantee, _want in decl.database_acl():
        out.setdefault(grantee or "PUBLIC", [])
    return {who: ", ".join(sorted(privs)) for who, privs in out.items()}


def _schema_view(public_create, reporting_usage, default_select, tables_without_select):
    return {
        "PUBLIC may CREATE": public_create,
        "reporting role has USAGE": reporting_usage,
        "reporting role may SELECT future tables": default_select,
        "tables the reporting role may not SELECT": tables_without_select,
    }


def view(decl, server, privileges, password_ok):
    """The declared parts of the server as read, for --diff (``server``/``privileges`` as read)."""
    roles = server["roles"]
    out = {"roles": {decl.owner: _role_view(roles.get(decl.owner), login=False)}}
    for login in decl.logins:
        name = login["name"]
        out["roles"][name] = _role_view(
            roles.get(name),
            login=True,
            verdict=AS_DECLARED if password_ok.get(name) else "differs",
            member=bool(server["member"]) if login is decl.app else None,
        )
    database = server["database"]
    if database is None:
        out["database"] = "absent"
        return out
    out["database"] = {"name": decl.database, "owner": database["owner"], "encoding": database["encoding"]}
    if privileges is not None:
        out["database"]["acl"] = _acl_view(privileges["acl"], decl)
        out["schema public"] = _schema_view(
            privileges["public_create"],
            privileges["reporting_usage"],
            privileges["default_select"],
            len(privileges["tables_without_select"]),
        )
    return out


def declared_view(decl, existing_acl=None):
    """The declared state in the form of view() (``existing_acl``: grantees outside the four are left alone)."""
    flags_off = {attr: False for attr, _word in FLAG_ATTRS}
    out = {"roles": {decl.owner: _role_view(dict(flags_off, rolcanlogin=False), login=False)}}
    for login in decl.logins:
        role = dict(flags_off, rolcanlogin=True, rolconnlimit=login["connection_limit"], rolconfig=login["config"])
        member = True if login is decl.app else None
        out["roles"][login["name"]] = _role_view(role, login=True, verdict=AS_DECLARED, member=member)
    managed = {grantee for grantee, _want in decl.database_acl()}
    acl = [entry for entry in existing_acl or [] if entry[0] not in managed]
    acl += [(grantee, priv, False) for grantee, want in decl.database_acl() for priv in want]
    out["database"] = {
        "name": decl.database,
        "owner": decl.owner,
        "encoding": "UTF8",
        "acl": _acl_view(acl, decl),
    }
    out["schema public"] = _schema_view(False, True, True, 0)
    return out


# ------------------------------------------------------------------------------------------------ the run


class Run:
    """One pg_database task: ``result()`` after ``apply()``; ``secrets`` are the values to mask in anything shown."""

    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self.want_diff = diff
        self.secrets = {params.get("login_password")}
        for key in ("app", "reporting"):
            self.secrets.add((params.get(key) or {}).get("password"))
        self.decl = None
        self.queries = []  # shown text of every statement run (or, in check mode, that would run)
        self.committed = False
        self.roles_created = []
        self.database_created = False
        self.password_ok = {}
        self.diff = None

    # -- helpers
    def _conn_params(self):
        return dict(self.params)

    def _connect(self, dbname=None, autocommit=False):
        return pg.connect(
            self._conn_params(),
            dbname=dbname,
            autocommit=autocommit,
            application_name="governed.odoo.pg_database",
            error=ProvisionError,
        )

    def _verifier(self, conn):
        def make(name, password):
            try:
                value = conn.pgconn.encrypt_password(password.encode("utf-8"), name.encode("utf-8")).decode("ascii")
            except Exception as exc:  # psycopg.OperationalError; the password is not in libpq's message
                raise ProvisionError(
                    f"cannot compute the password verifier of role {name}: {error_text(exc, self.secrets)}"
                ) from None
            self.secrets.add(value)
            return value

        return make

    def _execute(self, conn, statements):
        for stmt in statements:
            try:
                conn.execute(stmt.query)
            except pg.psycopg.Error as exc:
                raise ProvisionError(
                    mask(f"{stmt.shown}: {error_text(exc, self.secrets)}", self.secrets),
                    statement=stmt.shown,
                    committed=self.committed,
                ) from None
            self.queries.append(stmt.shown)

    def _login_works(self, name, password, dbname):
        """Whether ``name`` can log in with ``password`` to ``dbname`` (libpq gives no SQLSTATE for a failed login,
        so a failure is not told apart here: the caller asks the stored verifier)."""
        params = dict(self._conn_params(), login_user=name, login_password=password)
        try:
            pg.connect(params, dbname=dbname, application_name="governed.odoo.pg_database").close()
            return True
        except PostgresError:
            return False

    def _check_passwords(self, admin, server):
        decl = self.decl
        existing = [login for login in decl.logins if login["name"] in server["roles"]]
        dbname = decl.database if server["database"] is not None else (self.params.get("db") or "postgres")
        verifiers = None
        for login in existing:
            name, password = login["name"], login["password"]
            if self._login_works(name, password, dbname):
                self.password_ok[name] = True
                continue
            # the login failed: the stored verifier says whether it was the password (when we may read it)
            if verifiers is None:
                verifiers = {}
                if server["superuser"]:
                    verifiers = dict(admin.execute(READ_VERIFIERS, {"names": [x["name"] for x in existing]}).fetchall())
                    self.secrets.update(v for v in verifiers.values() if v)
            self.password_ok[name] = bool(verifier_matches(verifiers.get(name), password, name))

    def _open_admin(self):
        """(connection, whether it is to the instance's database): the instance's database when the admin can
        connect to it (everything then runs in one transaction), else the admin database O(db).

        libpq gives no SQLSTATE for a failed connection, so a failure to reach the instance's database is only
        taken for "it does not exist yet" when the admin database answers and has no such database.
        """
        try:
            return self._connect(dbname=self.decl.database), True
        except ProvisionError as first:
            conn = self._connect()
            try:
                exists = conn.execute(READ_DATABASE, {"database": self.decl.database}).fetchone() is not None
            except pg.psycopg.Error as exc:
                conn.close()
                raise ProvisionError(f"cannot read the catalogs: {error_text(exc, self.secrets)}") from None
            if exists:
                conn.close()
                raise first from None
            return conn, False

    def _read(self, what, read, *args):
        try:
            return read(*args)
        except pg.psycopg.Error as exc:
            raise ProvisionError(f"cannot read {what}: {error_text(exc, self.secrets)}") from None

    def _finish(self, conn):
        if self.check_mode:
            conn.rollback()
        else:
            conn.commit()
            self.committed = self.committed or bool(self.queries)

    def observe(self):
        """Read only, nothing is run: ``(as read, as declared)``, the declared parts of the server in the form of
        --diff (view() and declared_view()). Drift reports (module_utils/drift) compare the two."""
        self.decl = decl = Declared(self.params)
        conn, in_database = self._open_admin()
        try:
            server = self._read("the roles and databases", read_server, conn, decl)
            self._read("the stored password verifiers", self._check_passwords, conn, server)
            privileges = self._read("the privileges", read_privileges, conn, decl) if in_database else None
        finally:
            conn.close()  # the transaction of reads ends with it
        return view(decl, server, privileges, self.password_ok), declared_view(decl, (privileges or {}).get("acl"))

    def apply(self):
        """Roles, membership, the database's owner and its privileges in one transaction in the instance's database
        when it exists; otherwise the roles in the admin database, CREATE DATABASE, then the privileges in it."""
        self.decl = decl = Declared(self.params)
        conn, in_database = self._open_admin()
        try:
            server = self._read("the roles and databases", read_server, conn, decl)
            self._read("the stored password verifiers", self._check_passwords, conn, server)
            before = self._read("the privileges", read_privileges, conn, decl) if in_database else None
            create_db, alter_db = plan_database(decl, server["database"])
            self.roles_created = [name for name in decl.role_names if name not in server["roles"]]
            phase1 = plan_roles(decl, server["roles"], server["member"], self.password_ok, self._verifier(conn))
            self._execute(conn, phase1 + alter_db)
            if in_database:
                # an owner change rewrites the ACL: read it again in the transaction
                state = self._read("the privileges", read_privileges, conn, decl) if alter_db else before
                self._execute(conn, plan_privileges(decl, state))
                self._finish(conn)
            else:
                self._finish(conn)
                if self.check_mode:  # listed, not run: the database does not exist yet
                    self.queries.append(create_db.shown)
                    state = new_database_state(decl, server["version"])
                    self.queries.extend(stmt.shown for stmt in plan_privileges(decl, state))
                else:
                    conn.autocommit = True
                    self._execute(conn, [create_db])
                    self.committed = True
                    conn.close()
                    conn = self._connect(dbname=decl.database)
                    state = self._read("the privileges", read_privileges, conn, decl)
                    self._execute(conn, plan_privileges(decl, state))
                    self._finish(conn)
                self.database_created = True
        finally:
            conn.close()
        if self.want_diff:
            self.diff = {
                "before": view(decl, server, before, self.password_ok),
                "after": declared_view(decl, (before or {}).get("acl")),
            }

    def result(self):
        out = {
            "changed": bool(self.queries),
            "queries": list(self.queries),
            "roles_created": list(self.roles_created),
            "database_created": self.database_created,
        }
        if self.diff is not None:
            out["diff"] = dict(
                self.diff,
                before_header=f"database {self.decl.database} and its roles, as read",
                after_header=f"database {self.decl.database} and its roles, as declared",
            )
            if self.queries:
                out["diff"]["prepared"] = "".join(f"{query};\n" for query in self.queries)
        return out


def run(params, check_mode=False, diff=False):
    """Run one pg_database task. Returns ``(result, secrets)``: the task result (``failed``/``msg`` on failure)
    and the values to mask in anything shown (passwords and their verifiers)."""
    task = Run(params, check_mode=check_mode, diff=diff)
    if not pg.HAS_PSYCOPG:
        return {"failed": True, "msg": f"psycopg 3 is required: {pg.PSYCOPG_IMPORT_ERROR}", "changed": False}, set()
    try:
        task.apply()
    except PostgresError as exc:
        secrets = {s for s in task.secrets if s}
        out = {"failed": True, "msg": mask(exc.msg, secrets), "changed": task.committed, "queries": task.queries}
        out.update({k: mask(v, secrets) if isinstance(v, str) else v for k, v in exc.as_result().items()})
        return out, secrets
    # a bug must not print a traceback, or a message, with a password or a verifier in it
    except Exception as exc:
        secrets = {s for s in task.secrets if s}
        msg = mask(f"unexpected error ({type(exc).__name__}): {exc}", secrets)
        return {"failed": True, "msg": msg, "changed": task.committed, "queries": task.queries}, secrets
    return task.result(), {s for s in task.secrets if s}
