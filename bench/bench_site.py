#!/usr/bin/env python3
"""Benchmark: playbooks/site.yml against `kubectl apply --server-side` of the same rendered objects.

For N instances (default 1 and 10), in one run on the lab:

1. site.yml renders the objects of N instances ("k" set) without touching the cluster
   (governed_odoo_render_only); kubectl applies them with server-side apply, once into an empty
   cluster (first) and once more (rerun, nothing to change).
2. site.yml converges N other instances of the same shape ("a" set) from nothing (first converge:
   validation, buckets, databases and roles, one applied set per instance, without waiting for
   rollouts as kubectl does not, unless --wait) and then again (rerun: must change nothing).
3. Reruns (nothing to change) are timed --reruns times on each side (default 3) and the medians
   compared: a single run of either side varies by several percent on a shared machine.
4. The phases of a run (apply, databases and buckets, validation and rendering) come from two more
   runs on a third set ("p"), first converge and rerun, with the profile_tasks callback: a callback
   that sees every result costs the run itself, so the timed runs above have none.

All sets have the same objects (only the names differ), in separate namespaces, so one does not
warm the other. It prints wall times and the ratios site.yml / kubectl; the targets at 10 instances
are first converge <= 1.5x and rerun <= 1.0x.

kubectl runs the way a script would: one `kubectl apply --server-side -f <instance>.yaml` per
instance, one after the other (the baseline's discovery cache is warmed first, as it would be on a
workstation). The faster single call with every file (`-f dir/`) is timed too and printed.

    .venv/bin/python bench/bench_site.py [--sizes 1 10] [--reruns 3] [--keep] [--wait]

Needs the lab (scripts/lab up). Everything it creates is deleted at the start and at the end
(namespaces, databases and roles of the bench instances), unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
ENVIRONMENT = "dev"


def conn() -> dict:
    return json.loads((LAB_DIR / "connection.json").read_text())


def write_inventory(root: Path, prefix: str, n: int) -> Path:
    """An inventory of n small dev instances named <prefix>01.. on the lab, reusing the lab's group_vars."""
    inv = root / f"inv-{prefix}{n}"
    (inv / "group_vars" / "all").mkdir(parents=True)
    lab_inv = REPO / "inventories" / "lab"
    for name in ("main.yml", "secrets.yml"):
        (inv / "group_vars" / "all" / name).write_text((lab_inv / "group_vars" / "all" / name).read_text())
    (inv / "group_vars" / "shared_cluster.yml").write_text((lab_inv / "group_vars" / "shared_cluster.yml").read_text())
    tenants = {f"{prefix}{i:02d}": i for i in range(1, n + 1)}
    hosts = {t: {"governed_odoo_tenant": t} for t in tenants}
    (inv / "hosts.yml").write_text(
        json.dumps({"all": {"children": {"shared_cluster": {"children": {ENVIRONMENT: {"hosts": hosts}}}}}}, indent=1)
    )
    # Small instances so that ten of them fit the lab server's connections together:
    # web 1 pod x (1 worker + 1 gevent) x 4 + cron 1 x 1 x 4 = 12 each, reporting 2 each.
    # More than ten would break the connection budget (rule postgresql.connection_budget, which counts the other
    # sets' live databases too): then web 1 x 2 x 2 and no cron pod (its Deployment still rendered, at 0 replicas),
    # no reporting connection: 4 each, 120 for thirty.
    small = n > 10
    group = {
        "lab_dir": str(LAB_DIR),
        "governed_odoo_environment": ENVIRONMENT,
        "governed_odoo_tier": "nonproduction",
        "governed_odoo_netplan": {
            "supernet": "10.200.0.0/16",
            "environment_prefix": 20,
            "tenant_prefix": 26,
            "environments": {ENVIRONMENT: 0},
            "tenants": tenants,
            "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"},
        },
        "odoo_workers": 1,
        "odoo_max_cron_threads": 1,
        "odoo_db_maxconn": 2 if small else 4,
        "odoo_web_replicas": 1,
        "odoo_cron_replicas": 0 if small else 1,
        "postgresql_reporting_connection_limit": 0 if small else 2,
        "redis_persistence": "none",
        "odoo_filestore": "volume",
        "storage_bucket_prefix": "governed-odoo-bench",
    }
    (inv / "group_vars" / f"{ENVIRONMENT}.yml").write_text(json.dumps(group, indent=1))
    return inv


def run(argv: list[str], env: dict | None = None, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    dt = time.monotonic() - t0
    if check and res.returncode != 0:
        sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
        raise SystemExit(f"failed ({res.returncode}): {' '.join(argv[:6])}...")
    return dt, res


def ansible_env(profile: bool = False) -> dict:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["GOVERNED_ODOO_LAB_DIR"] = str(LAB_DIR)
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_FORKS", "10")
    if profile:
        # per-task wall times, to split a run into its phases; only in runs that are not timed (the callback
        # sees every result of every task, which costs the run itself several percent)
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
        env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "all"
        env["PROFILE_TASKS_SORT_ORDER"] = "none"
    return env


PHASES = (
    ("apply", ("Apply the objects of the instance",)),
    # the server-side dry run of play 2, before any change (counted with validate+render until it had its own line)
    ("dry run", ("Find every object the API server would refuse",)),
    (
        "databases+buckets",
        (
            "governed.odoo.postgresql : Work out the database",
            "governed.odoo.postgresql : Create",
            "governed.odoo.storage : Work out the buckets",
            "governed.odoo.storage : Create the attachments",
        ),
    ),
    # the CRD lookup runs inside the monitoring role's render task, counted with validate+render
    ("lookups", ("governed.odoo.postgresql : Read the connection limits",)),
)


def phases(out: str) -> dict:
    """Seconds per phase from profile_tasks' recap; the rest is validation and rendering."""
    recap = out.split("TASKS RECAP")[-1]
    times = {"apply": 0.0, "dry run": 0.0, "databases+buckets": 0.0, "lookups": 0.0, "validate+render": 0.0}
    for name, secs in re.findall(r"^(.+?) -+ (\d+\.\d+)s$", recap, flags=re.M):
        phase = next((p for p, prefixes in PHASES if name.startswith(prefixes)), "validate+render")
        times[phase] += float(secs)
    return times


def site(inv: Path, *extra: str, profile: bool = False) -> tuple[float, subprocess.CompletedProcess]:
    return run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inv), str(REPO / "playbooks" / "site.yml"), *extra],
        env=ansible_env(profile),
    )


def recap_changed(out: str) -> int:
    return sum(int(m) for m in re.findall(r"changed=(\d+)", out.split("PLAY RECAP")[-1]))


class Cluster:
    def __init__(self) -> None:
        cp = conn()["controlplane"]
        self.kubectl = [cp["kubectl"], "--kubeconfig", cp["kubeconfig"]]

    def __call__(self, *args: str, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
        return run([*self.kubectl, *args], check=check)

    def delete_namespaces(self, names: list[str]) -> None:
        if names:
            self("delete", "namespace", "--ignore-not-found", "--wait=true", "--timeout=180s", *names, check=False)


def drop_databases(prefixes: list[str]) -> None:
    """Remove the bench instances' databases and roles from the lab server."""
    import psycopg

    pg = conn()["postgres"]["primary"]
    with psycopg.connect(
        host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname="postgres", autocommit=True
    ) as db:
        for prefix in prefixes:
            like = f"{prefix}%\\_{ENVIRONMENT}%"
            for (name,) in db.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (like,)).fetchall():
                db.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            for (name,) in db.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (like,)).fetchall():
                db.execute(f'DROP ROLE "{name}"')


def bench(n: int, root: Path, cluster: Cluster, keep: bool, wait: bool, reruns: int) -> dict:
    kprefix, aprefix, pprefix = f"k{n}x", f"a{n}x", f"p{n}x"
    kinv, ainv, pinv = (write_inventory(root, p, n) for p in (kprefix, aprefix, pprefix))
    prefixes = (kprefix, aprefix, pprefix)
    names = {p: [f"odoo-{p}{i:02d}-{ENVIRONMENT}" for i in range(1, n + 1)] for p in prefixes}
    every_namespace = [ns for p in prefixes for ns in names[p]]
    cluster.delete_namespaces(every_namespace)
    drop_databases(list(prefixes))

    # kubectl: the objects site.yml renders for the "k" instances
    rendered = root / f"rendered-{n}"
    rendered.mkdir()
    site(kinv, "-e", "governed_odoo_render_only=true", "-e", f"governed_odoo_render_dir={rendered}")
    files = sorted(rendered.glob("*.yaml"))
    objects = sum(1 for f in files for doc in f.read_text().split("\n---\n") if doc.strip())
    cluster("api-resources", "-o", "name")  # warm the discovery cache, as on any workstation

    def kubectl_each() -> float:
        t0 = time.monotonic()
        for f in files:
            cluster("apply", "--server-side", "--force-conflicts", "--field-manager=bench-kubectl", "-f", str(f))
        return time.monotonic() - t0

    k_first = kubectl_each()
    k_rerun = statistics.median(kubectl_each() for _ in range(reruns))
    k_once, _ = cluster(
        "apply", "--server-side", "--force-conflicts", "--field-manager=bench-kubectl", "-f", str(rendered)
    )

    # site.yml: the "a" instances from nothing, then again
    wait_flag = ["-e", f"governed_odoo_wait={'true' if wait else 'false'}"]
    a_first, _res1 = site(ainv, *wait_flag)
    reruns_done = [site(ainv, *wait_flag) for _ in range(reruns)]
    a_rerun = statistics.median(dt for dt, _res in reruns_done)
    rerun_changed = max(recap_changed(res.stdout) for _dt, res in reruns_done)
    # the phases, from runs that are not timed: the "p" instances from nothing, then again, with profile_tasks; the
    # "a" instances go first, so that the two sets never hold the database server's connections together
    cluster.delete_namespaces(names[aprefix])
    drop_databases([aprefix])
    _dt, res1 = site(pinv, *wait_flag, profile=True)
    _dt, res2 = site(pinv, *wait_flag, profile=True)

    if not keep:
        cluster.delete_namespaces(every_namespace)
        drop_databases(list(prefixes))
    shutil.rmtree(rendered, ignore_errors=True)
    return {
        "instances": n,
        "objects": objects,
        "kubectl_first": k_first,
        "kubectl_rerun": k_rerun,
        "kubectl_rerun_single_call": k_once,
        "site_first": a_first,
        "site_rerun": a_rerun,
        "site_rerun_changed": rerun_changed,
        "first_ratio": a_first / k_first,
        "rerun_ratio": a_rerun / k_rerun,
        "site_first_phases": phases(res1.stdout),
        "site_rerun_phases": phases(res2.stdout),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--keep", action="store_true", help="leave the bench instances in place")
    ap.add_argument(
        "--wait",
        action="store_true",
        help="let site.yml wait for rollouts (kubectl apply does not wait; off by default)",
    )
    ap.add_argument(
        "--reruns", type=int, default=3, help="reruns timed on each side; the median is compared (default 3)"
    )
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = ap.parse_args(argv)
    cluster = Cluster()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        for n in args.sizes:
            print(f"[bench] {n} instance(s)...", file=sys.stderr, flush=True)
            results.append(bench(n, Path(tmp), cluster, args.keep, args.wait, max(1, args.reruns)))
    print(
        f"{'instances':>9} {'objects':>7} | {'kubectl first':>13} {'site first':>10} {'ratio':>6} "
        f"| {'kubectl rerun':>13} {'site rerun':>10} {'ratio':>6} {'changed':>7} | {'kubectl -f dir':>14}"
    )
    for r in results:
        print(
            f"{r['instances']:>9} {r['objects']:>7} | {r['kubectl_first']:>12.2f}s {r['site_first']:>9.2f}s "
            f"{r['first_ratio']:>5.2f}x | {r['kubectl_rerun']:>12.2f}s {r['site_rerun']:>9.2f}s "
            f"{r['rerun_ratio']:>5.2f}x {r['site_rerun_changed']:>7} | {r['kubectl_rerun_single_call']:>13.2f}s"
        )
    print(
        "site.yml by phase, from separate runs with profile_tasks (task wall time; the rest of a run is "
        "ansible-playbook start-up and play set-up):"
    )
    for r in results:
        for run_name in ("first", "rerun"):
            ph = r[f"site_{run_name}_phases"]
            print(
                f"  {r['instances']:>2} instance(s), {run_name:>5}: "
                + ", ".join(f"{k} {v:.1f}s" for k, v in ph.items())
            )
    if args.json:
        print(json.dumps(results, indent=1))
    last = results[-1]
    ok = last["first_ratio"] <= 1.5 and last["rerun_ratio"] <= 1.0 and last["site_rerun_changed"] == 0
    print(
        f"targets at {last['instances']} instances (first <= 1.5x, rerun <= 1.0x, rerun changed=0): "
        f"{'met' if ok else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
