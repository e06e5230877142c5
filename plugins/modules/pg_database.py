#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_database
short_description: One Odoo instance's PostgreSQL database and its owner, application and reporting roles
version_added: 0.3.0
description:
  - Creates or corrects, in one task, what an Odoo instance needs on a PostgreSQL server, and changes only what
    differs from the catalogs.
  - The owner role O(owner) is C(NOLOGIN), and not C(SUPERUSER), C(CREATEDB), C(CREATEROLE), C(REPLICATION) or
    C(BYPASSRLS). It owns the database.
  - The application role O(app) can log in, with the same attributes off, the connection limit O(app.connection_limit),
    exactly one setting of its own, C(role = <owner>) (its sessions run as the owner), and is a member of the owner
    role.
  - The reporting role O(reporting) can log in, with the same attributes off, the connection limit
    O(reporting.connection_limit) and exactly the setting C(default_transaction_read_only = on).
  - The database O(name) is created from C(template0) with encoding C(UTF8), owned by the owner role. An existing
    database with another encoding is an error (an encoding cannot be changed in place).
  - The database's privileges for C(PUBLIC), the owner, the application and the reporting role are exactly none,
    C(CREATE, TEMPORARY, CONNECT), C(TEMPORARY, CONNECT) and C(CONNECT) (privileges of other roles are left alone);
    C(PUBLIC) may not C(CREATE) in schema C(public); the reporting role has C(USAGE) on it and may C(SELECT) every
    table, view and materialized view in it, and the tables the owner creates later (default privileges).
  - A password is set when its role is created, or when a login with it fails and the stored verifier (where the
    connecting role may read it, as a superuser can) does not match it either. It is sent as a verifier computed on
    the controller (SCRAM-SHA-256 or MD5, as the server's C(password_encryption) says), never in clear.
  - When the database O(name) exists, everything changes in one transaction in it. Otherwise the roles and the
    membership change in one transaction in the database O(db), then C(CREATE DATABASE) runs on its own (it
    cannot run in a transaction), then the privileges change in one transaction in the new database.
  - Identifiers and values are quoted by psycopg (C(psycopg.sql)); nothing is pasted into SQL text.
  - With a local connection an action plugin runs the module's logic in the controller's process, without
    starting a module process.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.postgres
attributes:
  check_mode:
    description:
      - Supported. Each transaction runs and is rolled back. For a database that does not exist yet, the
        C(CREATE DATABASE) and the privileges of the new database are worked out from the state it would have
        and listed in RV(queries) without running.
    support: full
  diff_mode:
    description: The declared parts of the server before and after (roles, database, ACL, schema public).
    support: full
options:
  name:
    description: Name of the database.
    type: str
    required: true
  owner:
    description: Name of the owner role (C(NOLOGIN)).
    type: str
    required: true
  app:
    description: The application role, which Odoo logs in as.
    type: dict
    required: true
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      password:
        description: Its password.
        type: str
        required: true
      connection_limit:
        description: Its connection limit; V(-1) means none.
        type: int
        default: -1
  reporting:
    description: The read-only reporting role.
    type: dict
    required: true
    suboptions:
      name:
        description: Role name.
        type: str
        required: true
      password:
        description: Its password.
        type: str
        required: true
      connection_limit:
        description: Its connection limit; V(-1) means none.
        type: int
        default: -1
  ssl_mode:
    description:
      - libpq's C(sslmode) for every connection the module makes.
      - If not set, libpq's default applies (E(PGSSLMODE), then V(prefer)).
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  connect_timeout:
    description: Seconds to wait for each connection.
    type: int
    default: 10
notes:
  - O(login_user) needs C(CREATEROLE) and C(CREATEDB) (or to be a superuser), and membership in the owner role to
    create a database owned by it on PostgreSQL before 16 when it is not a superuser.
  - The module logs in as the application and the reporting role (to O(name), or to O(db) before O(name) exists)
    to check their passwords, and as O(login_user) to O(name) (or to O(db) before O(name) exists).
requirements:
  - psycopg >= 3.1 (and libpq >= 10) on the host that runs it
seealso:
  - module: community.postgresql.postgresql_db
  - module: community.postgresql.postgresql_user
"""

EXAMPLES = r"""
- name: Database and roles of acme-dev on an external server
  governed.odoo.pg_database:
    login_host: db.example.org
    login_user: postgres
    login_password: "{{ admin_password }}"
    db: postgres
    ssl_mode: require
    name: acme_dev
    owner: acme_dev_owner
    app:
      name: acme_dev_app
      password: "{{ app_password }}"
      connection_limit: 12
    reporting:
      name: acme_dev_reporting
      password: "{{ reporting_password }}"
      connection_limit: 2

- name: Connection options once for every PostgreSQL module of the collection
  module_defaults:
    group/governed.odoo.postgres:
      login_host: db.example.org
      login_user: postgres
      login_password: "{{ admin_password }}"
  governed.odoo.pg_database:
    name: acme_qa
    owner: acme_qa_owner
    app: {name: acme_qa_app, password: "{{ qa_app_password }}", connection_limit: 8}
    reporting: {name: acme_qa_reporting, password: "{{ qa_reporting_password }}"}
"""

RETURN = r"""
queries:
  description:
    - The statements run (in check mode, that would run), in order; passwords are shown as C(********).
    - On failure, the statements that ran before the one that failed (rolled back with it when in the same
      transaction).
  returned: always
  type: list
  elements: str
  sample:
    - CREATE ROLE "acme_dev_owner" NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    - >-
      CREATE ROLE "acme_dev_app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
      CONNECTION LIMIT 12 PASSWORD ********
    - ALTER ROLE "acme_dev_app" SET role = 'acme_dev_owner'
    - GRANT "acme_dev_owner" TO "acme_dev_app"
    - CREATE DATABASE "acme_dev" OWNER "acme_dev_owner" ENCODING 'UTF8' TEMPLATE template0
    - REVOKE CONNECT, TEMPORARY ON DATABASE "acme_dev" FROM PUBLIC CASCADE
roles_created:
  description: The roles created (in check mode, that would be created).
  returned: success
  type: list
  elements: str
  sample: [acme_dev_owner, acme_dev_app, acme_dev_reporting]
database_created:
  description: Whether the database was created (in check mode, would be).
  returned: success
  type: bool
statement:
  description: On failure of a statement, that statement (passwords shown as C(********)).
  returned: failure
  type: str
error:
  description: On failure, the kind of error (V(pg_database), V(postgres)).
  returned: failure
  type: str
diff:
  description:
    - With C(--diff), the declared parts of the server as read (C(before)) and as declared (C(after)), and the
      statements of RV(queries), one a line (C(prepared)).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.governed.odoo.plugins.module_utils import pgprovision
from ansible_collections.governed.odoo.plugins.module_utils.pg import HAS_PSYCOPG, PSYCOPG_IMPORT_ERROR


def main():
    module = AnsibleModule(argument_spec=pgprovision.argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(PSYCOPG_IMPORT_ERROR))
    result, secrets = pgprovision.run(module.params, check_mode=module.check_mode, diff=module._diff)
    module.no_log_values.update(secrets)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
