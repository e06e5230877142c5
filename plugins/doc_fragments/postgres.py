# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options for connecting to PostgreSQL, shared by the collection's modules.

The matching argument spec is plugins/module_utils/common_args.py:postgres_argument_spec().
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or IP address of the PostgreSQL server, or the directory of its Unix socket.
      - If not set, libpq's default applies (E(PGHOST), then the local Unix socket).
    type: str
  login_port:
    description:
      - TCP port of the PostgreSQL server.
      - If not set, libpq's default applies (E(PGPORT), then V(5432)).
    type: int
  login_user:
    description:
      - Role to connect as.
      - If not set, libpq's default applies (E(PGUSER), then the name of the operating system user).
    type: str
  login_password:
    description:
      - Password of O(login_user).
      - If not set, libpq's default applies (E(PGPASSWORD), then C(~/.pgpass)).
    type: str
  db:
    description:
      - Name of the database to connect to.
      - If not set, libpq's default applies (E(PGDATABASE), then a database named like O(login_user)).
    type: str
requirements:
  - psycopg >= 3.1
"""
