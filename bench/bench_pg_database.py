#!/usr/bin/env python3
"""Benchmark: the database step of site.yml (roles/postgresql/tasks/provision.yml) for N instances on the lab's
PostgreSQL, with governed.odoo.pg_database (one task per instance, in the controller's process) against the tasks
it replaced (the baseline: a read-only probe lookup, then community.postgresql.postgresql_query x2,
postgresql_user and postgresql_db as module processes, from git commit BASELINE_COMMIT).

Both sides run the same way: ansible-playbook over N local hosts (forks 10) whose only task includes the
provision.yml of a role copied into a temporary roles path (the baseline's from git, with its SQL files; the
current one from this checkout), with the same variables. Timed: the first converge (nothing exists) and a rerun
(nothing to change), --reps times each (the databases and roles are dropped before every first converge); the
medians are printed with ansible-playbook's own start-up (a play with no task over the same hosts) subtracted
as well, so that what remains is the database step.

    .venv/bin/python bench/bench_pg_database.py [--instances 10] [--reps 3]

Needs the lab's PostgreSQL (scripts/lab up postgres). Everything it creates is dropped at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", REPO / ".lab")).resolve()
VENV_BIN = REPO / ".venv" / "bin"
BASELINE_COMMIT = "dfd58ca"  # the last commit with the community.postgresql tasks
BASELINE_FILES = (
    "tasks/provision.yml",
    "tasks/database.yml",
    "files/roles.sql",
    "files/privileges.sql",
    "files/probe.sql",
)
PREFIX = "bpgd"


def lab_postgres() -> dict:
    return json.loads((LAB_DIR / "connection.json").read_text())["postgres"]["primary"]


def admin(pg: dict, dbname: str = "postgres"):
    import psycopg

    return psycopg.connect(
        host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname=dbname, autocommit=True
    )


def drop_everything(pg: dict) -> None:
    with admin(pg) as db:
        for (name,) in db.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)).fetchall():
            db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        for (name,) in db.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (PREFIX + "%",)).fetchall():
            db.execute(f'DROP ROLE "{name}"')


def write_roles(root: Path) -> Path:
    roles = root / "roles"
    for side in ("pg_baseline", "pg_new"):
        (roles / side / "tasks").mkdir(parents=True)
        (roles / side / "files").mkdir()
    for rel in BASELINE_FILES:
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{BASELINE_COMMIT}:roles/postgresql/{rel}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        (roles / "pg_baseline" / rel).write_text(text)
    shutil.copy(REPO / "roles" / "postgresql" / "tasks" / "provision.yml", roles / "pg_new" / "tasks")
    return roles


def write_inventory(root: Path, pg: dict, n: int, side: str) -> Path:
    hosts = {}
    for i in range(1, n + 1):
        db = f"{PREFIX}{side[0]}{i:02d}_dev"
        hosts[f"{side}{i:02d}"] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "postgresql_placement": "external",
            "postgresql_external": {
                "host": pg["host"],
                "port": pg["port"],
                "admin_user": pg["user"],
                "admin_password": pg["password"],
                "ssl_mode": "disable",
            },
            "postgresql_database": db,
            "postgresql_owner_role": f"{db}_owner",
            "postgresql_app_role": f"{db}_app",
            "postgresql_reporting_role": f"{db}_reporting",
            "postgresql_app_password": secrets.token_urlsafe(18),
            "postgresql_reporting_password": secrets.token_urlsafe(18),
            "postgresql_app_connection_limit": 12,
            "postgresql_reporting_connection_limit": 2,
        }
    path = root / f"inventory-{side}.json"
    path.write_text(json.dumps({"all": {"hosts": hosts}}))
    return path


def write_playbooks(root: Path) -> dict:
    out = {}
    for name, tasks in (
        ("empty", []),
        (
            "pg_baseline",
            [
                {
                    "name": "Database step",
                    "ansible.builtin.include_role": {"name": "pg_baseline", "tasks_from": "provision.yml"},
                }
            ],
        ),
        (
            "pg_new",
            [
                {
                    "name": "Database step",
                    "ansible.builtin.include_role": {"name": "pg_new", "tasks_from": "provision.yml"},
                }
            ],
        ),
    ):
        path = root / f"{name}.json"
        path.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
        out[name] = path
    return out


def play(env: dict, inventory: Path, playbook: Path) -> tuple[float, str]:
    start = time.perf_counter()
    res = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{playbook.name} failed:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}")
    return took, res.stdout


def changed_total(out: str) -> int:
    recap = out.split("PLAY RECAP")[-1]
    return sum(int(part.split("=")[1]) for part in recap.split() if part.startswith("changed="))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    pg = lab_postgres()
    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(write_roles(root)),
        ANSIBLE_FORKS="10",
        PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}",
    )
    books = write_playbooks(root)
    results = {}
    try:
        drop_everything(pg)
        for side in ("pg_baseline", "pg_new"):
            inventory = write_inventory(root, pg, args.instances, side)
            startup = statistics.median(play(env, inventory, books["empty"])[0] for _rep in range(args.reps))
            first, rerun = [], []
            for _rep in range(args.reps):
                drop_everything(pg)
                took, out = play(env, inventory, books[side])
                assert changed_total(out) > 0, out[-3000:]
                first.append(took)
                took, out = play(env, inventory, books[side])
                assert changed_total(out) == 0, f"{side} rerun changed something:\n{out[-3000:]}"
                rerun.append(took)
            results[side] = {"startup": startup, "first": statistics.median(first), "rerun": statistics.median(rerun)}
            drop_everything(pg)
    finally:
        drop_everything(pg)
        shutil.rmtree(root, ignore_errors=True)
    base, new = results["pg_baseline"], results["pg_new"]
    print(f"database step of {args.instances} instances, medians of {args.reps} runs (seconds)")
    print(f"{'':34}{'community.postgresql':>22}{'pg_database':>14}{'ratio':>8}")
    for key, label in (("first", "first converge"), ("rerun", "rerun (nothing to change)")):
        print(f"{label + ', whole playbook':34}{base[key]:>22.2f}{new[key]:>14.2f}{new[key] / base[key]:>8.2f}")
        b, n = base[key] - base["startup"], new[key] - new["startup"]
        print(f"{label + ', minus start-up':34}{b:>22.2f}{n:>14.2f}{n / b:>8.2f}")
    print(f"{'ansible-playbook start-up':34}{base['startup']:>22.2f}{new['startup']:>14.2f}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
