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

An instance whose pods run on the lab's real node (lab_node_placement: instance in inventories/lab/hosts.yml) keeps
its filestore in a local volume of the node, the directory behind its `odoo-filestore` claim: the generated files are
copied there too, under filestore/<database> as Odoo keeps them, so that the backup CronJob's pod (which mounts that
claim) finds what the database references. Files already there with the same size are left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
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
                copy_to_volume(lab_dir, args.instance, dbname, filestore)
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
    copy_to_volume(lab_dir, args.instance, dbname, filestore)
    return 0


def volume_dir(lab_dir: Path, instance: str) -> Path | None:
    """The directory of the local volume on the lab's real node bound to the instance's `odoo-filestore` claim (in
    its namespace odoo-<instance>), or None: no such claim, not bound, or not a local volume of the node."""
    cp = json.loads((lab_dir / "connection.json").read_text())["controlplane"]
    kubectl = [cp["kubectl"], "--kubeconfig", cp["kubeconfig"]]

    def get(*args):
        res = subprocess.run([*kubectl, "get", *args, "-o", "json"], capture_output=True, text=True, check=False)
        return json.loads(res.stdout) if res.returncode == 0 else {}

    claim = get("pvc", "odoo-filestore", "-n", f"odoo-{instance}")
    volume = claim.get("spec", {}).get("volumeName")
    if not volume or claim.get("status", {}).get("phase") != "Bound":
        return None
    path = get("pv", volume).get("spec", {}).get("local", {}).get("path")
    return Path(path) if path and Path(path).is_dir() else None


def copy_to_volume(lab_dir: Path, instance: str, dbname: str, filestore: Path) -> None:
    """The filestore copied into the instance's volume on the real node (see the module's docstring), with the
    volume's group (the pods' fsGroup), readable by it."""
    root = volume_dir(lab_dir, instance)
    if root is None:
        return
    gid = root.stat().st_gid
    dest = root / "filestore" / dbname
    copied = 0
    for src in sorted(p for p in filestore.rglob("*") if p.is_file()):
        target = dest / src.relative_to(filestore)
        if target.is_file() and target.stat().st_size == src.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        copied += 1
    dest.mkdir(parents=True, exist_ok=True)
    for path in [root / "filestore", dest, *dest.rglob("*")]:
        os.chown(path, -1, gid)
        path.chmod(path.stat().st_mode | (0o750 if path.is_dir() else 0o640))
    print(f"[seed] {dbname}: {copied} files copied into its filestore volume on the real node ({dest})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
