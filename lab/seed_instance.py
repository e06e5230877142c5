#!/usr/bin/env python3
"""Give a lab instance an Odoo-shaped database and filestore: a stand-in for Odoo's own initialisation.

The lab cannot run the Odoo image (kwok nodes run no containers), so the databases site.yml creates
stay empty, and a backup refuses an empty database. This fills one instance's database with the test
data generator (tests/fixtures/odoo_dataset.py: it imitates Odoo's schema, it is not Odoo) and its
filestore under .lab/filestore/<instance>, then hands the tables to the instance's owner role, as
Odoo's tables would be. The generator recreates the database, so the database-level grants are gone
afterwards: run site.yml for the instance again (its probe finds the drift and repairs it).

    .venv/bin/python lab/seed_instance.py civil-dev [--db-size 20M --files 200 --files-size 20M]

Does nothing when the database already has Odoo's tables (use --force to regenerate).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import odoo_dataset  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("instance", help="inventory host name, for example civil-dev (database civil_dev)")
    ap.add_argument("--db-size", default="20M")
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--files-size", default="20M")
    ap.add_argument("--force", action="store_true", help="regenerate even if the database has Odoo's tables")
    args = ap.parse_args(argv)

    lab_dir = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", ROOT / ".lab"))
    pg = json.loads((lab_dir / "connection.json").read_text())["postgres"]["primary"]
    dbname = args.instance.replace("-", "_")
    owner = f"{dbname}_owner"
    filestore = lab_dir / "filestore" / args.instance
    admin = {"host": pg["host"], "port": pg["port"], "user": pg["user"], "password": pg["password"]}

    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone():
            sys.exit(f"role {owner} does not exist: run site.yml for {args.instance} first")
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
    if exists and not args.force:
        with psycopg.connect(dbname=dbname, autocommit=True, **admin) as conn:
            if conn.execute("SELECT to_regclass('public.ir_module_module')").fetchone()[0]:
                print(f"{dbname} already has Odoo's tables; nothing to do (--force regenerates)")
                return 0

    odoo_dataset.generate(
        pg["dsn"],
        dbname,
        str(filestore),
        odoo_dataset.parse_size(args.db_size),
        args.files,
        odoo_dataset.parse_size(args.files_size),
        log=lambda msg: print(f"[seed] {msg}", flush=True),
    )
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname), sql.Identifier(owner)))
    with psycopg.connect(dbname=dbname, autocommit=True, **admin) as conn:
        # sequences behind serial columns follow their table
        for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
            conn.execute(
                sql.SQL("ALTER TABLE public.{} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(owner))
            )
    print(f"[seed] {dbname}: Odoo-shaped test data owned by {owner}, filestore {filestore}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
