# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database drift: an instance's database, roles and grants as read against what governed.odoo.pg_database
declares (the postgresql role's provision step hands both the same options).

pgprovision.Run.observe() reads the catalogs exactly as the module does before it plans (roles and their flags,
connection limits and settings, membership, the database's owner and encoding, its ACL, schema ``public``) and
returns the two views the module's --diff shows; nothing is run. Passwords are never read or shown: a role's
``password`` is ``as declared`` when a login with the declared password works (or the stored verifier matches
it), ``differs`` otherwise.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils import pg, pgprovision
from ansible_collections.governed.odoo.plugins.module_utils.drift import DriftError
from ansible_collections.governed.odoo.plugins.module_utils.drift.compare import ABSENT, differences, finding

LAYER = "database"


def database_ref(params):
    return f"database {params['name']} on {params.get('login_host') or 'localhost'}:{params.get('login_port') or 5432}"


def database_findings(params):
    """``(findings, values to mask)`` for one database declared with pg_database's options."""
    run = pgprovision.Run(params, check_mode=True)
    secrets = {s for s in run.secrets if s}
    if not pg.HAS_PSYCOPG:
        raise DriftError(f"psycopg 3 is required: {pg.PSYCOPG_IMPORT_ERROR}", layer=LAYER)
    try:
        live, declared = run.observe()
    except pg.PostgresError as exc:
        raise DriftError(f"cannot read {database_ref(params)}: {pg.mask(exc.msg, secrets)}", layer=LAYER) from None
    ref = database_ref(params)
    if live.get("database") == "absent":
        live = dict(live, database=ABSENT)
    out = [finding(LAYER, ref, path, want, have) for path, want, have in differences(declared, live)]
    return out, secrets | {s for s in run.secrets if s}
