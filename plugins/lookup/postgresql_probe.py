# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: postgresql_probe
short_description: Log in to PostgreSQL as given roles and run one read-only query, from the controller
version_added: 0.2.0
description:
  - For each term (a login), connects to the server as that role, runs O(query) read-only and returns
    the rows. A login that fails (wrong password, no CONNECT privilege, no such database, server down)
    is reported in the result, not raised, so that the caller can treat it as drift.
  - The postgresql role uses it to read the C(max_connections) of each external server once. It does the work
    of one C(community.postgresql.postgresql_query) task per login, in the controller process, without
    starting a module process per login, through the collection's PostgreSQL helper; it never writes.
  - Needs psycopg 3 on the controller.
author:
  - governed.odoo maintainers (@governed-odoo)
options:
  _terms:
    description:
      - Logins, each a dict with C(host), C(port), C(user), C(password), C(dbname) and optionally
        C(ssl_mode) (libpq sslmode, default V(prefer)).
    required: true
    type: list
    elements: dict
  query:
    description: The read-only query; C(%(name\)s) placeholders take their values from O(named_args).
    required: true
    type: str
  named_args:
    description: Values of the query's named placeholders.
    type: dict
    default: {}
  connect_timeout:
    description: Seconds to wait for each connection.
    type: int
    default: 10
  fail_on_error:
    description:
      - Raise an error naming the login (instead of reporting it in the result) when a login or the query fails.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Probe the database as the application role
  ansible.builtin.set_fact:
    probe: >-
      {{ query('governed.odoo.postgresql_probe',
               {'host': 'db.example.org', 'port': 5432, 'user': 'acme_app', 'password': app_password, 'dbname': 'acme'},
               query='SELECT current_user AS me') }}
  no_log: true
"""

RETURN = r"""
_list:
  description:
    - One entry per login, in order - C(user), C(dbname), and either C(query_result) (the rows, as dicts)
      or C(failed=true) with C(msg) (the server's or libpq's message; never the password).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible_collections.governed.odoo.plugins.module_utils import pg

try:
    from psycopg.rows import dict_row
except ImportError:  # reported when the lookup is used
    dict_row = None


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if not pg.HAS_PSYCOPG:
            raise AnsibleError("the governed.odoo.postgresql_probe lookup needs psycopg 3 on the controller")
        query = self.get_option("query")
        args = dict(self.get_option("named_args") or {})
        timeout = int(self.get_option("connect_timeout"))
        strict = bool(self.get_option("fail_on_error"))
        out = []
        for term in terms:
            if not isinstance(term, dict) or not term.get("host") or not term.get("user") or not term.get("dbname"):
                raise AnsibleError("each login of governed.odoo.postgresql_probe needs host, user and dbname")
            entry = self._probe(term, str(query), args, timeout)
            if strict and entry.get("failed"):
                raise AnsibleError(
                    f"PostgreSQL at {term['host']}:{term.get('port') or 5432} as {term['user']} "
                    f"(database {term['dbname']}): {entry['msg']}"
                )
            out.append(entry)
        return out

    @staticmethod
    def _probe(login, query, args, timeout):
        """Connect through the collection's PostgreSQL helper (module_utils/pg.py), run ``query`` read-only."""
        entry = {"user": login["user"], "dbname": login["dbname"]}
        password = str(login.get("password") or "")
        params = {
            "login_host": str(login["host"]),
            "login_port": int(login.get("port") or 5432),
            "login_user": str(login["user"]),
            "login_password": password,
            "ssl_mode": str(login.get("ssl_mode") or "prefer"),
            "connect_timeout": timeout,
        }
        try:
            conn = pg.connect(
                params,
                dbname=str(login["dbname"]),
                autocommit=False,
                application_name="governed.odoo.postgresql_probe",
                row_factory=dict_row,
            )
        except pg.PostgresError as exc:
            entry.update(failed=True, msg=pg.mask(exc.msg, [password]))
            return entry
        try:
            with conn:
                conn.read_only = True
                rows = conn.execute(query, {k: str(v) for k, v in args.items()}).fetchall()
                conn.rollback()
        except pg.psycopg.Error as exc:
            entry.update(failed=True, msg=pg.error_text(exc, [password]))
            return entry
        entry["query_result"] = [dict(r) for r in rows]
        return entry
