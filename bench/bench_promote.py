#!/usr/bin/env python3
"""Benchmark: the time playbooks/promote.yml adds to the steps it orchestrates, as a ratio to those steps by hand.

Setup (not timed): one dev instance of its own on the lab (unique tenant, namespace, database, buckets; GOVERNANCE
locks of one day), its web pods on the lab's real node running the Odoo stand-in images (lab/images: A and B), no
cron pod (odoo_cron_replicas: 0, as in tests/integration/test_promote_path_lab.py), an Odoo-shaped dataset of
--db-mib MiB; a signed audit trail in a temporary directory; one promotion with a migration as warm-up.

Timed, --repeat times each (default 3), alternating the image between B and A so that every run changes it, the
medians printed:

* ``promote.yml``: ``ansible-playbook playbooks/promote.yml -e release=<a release that updates one module>``, the
  whole run: preflight and rules, gate, lock, pre-release backup (the backup role), cron to zero, the migration Job,
  the rollout (server-side apply of the instance's whole set, waiting), the verification (the web pod ready on the
  image, /web/health through the lab's Traefik; with --probe always also a health probe Job inside the cluster
  network) and the signed audit record.
* ``by hand``: the same three steps a person would run: the backup (``governed.odoo.backup`` with the arguments
  the role gives it, as a module process), the migration Job (the web pods' template running ``odoo -u sale
  --stop-after-init``, ``kubectl apply -f -`` and ``kubectl wait --for=condition=complete``), the rollout
  (``kubectl apply --server-side`` of odoo-web with the new image and ``kubectl rollout status``).

The ratio promote.yml / by hand is what the issue's target is about (under 1.2x). Wall times on a shared machine:
the load average before and after is printed beside them.

    .venv/bin/python bench/bench_promote.py [--repeat 3] [--db-mib 4] [--probe auto|always|never] [--profile]
        [--log DIR] [--keep]

Needs the lab with its real node (scripts/lab up). Everything it creates is removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
sys.path.insert(0, str(REPO / "lab" / "images"))
sys.path.insert(0, str(REPO / "lab"))

import node_lab  # noqa: E402
from _modrun import run_module  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.release import approvals  # noqa: E402
from backup_lab import LAB_DIR, Lab, wipe_bucket  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

TARGET_RATIO = 1.2
PROBE = "auto"  # promote_verify_probe of the bench's instance (--probe)
LOG_DIR: Path | None = None  # --log: every ansible-playbook run's output is kept there
RUN_ID = secrets.token_hex(3)
TENANT = f"bp{RUN_ID}"
HOST = f"{TENANT}-dev"
NAMESPACE = f"odoo-{HOST}"
DB = f"{TENANT}_dev"
BUCKET_PREFIX = f"gbp-{RUN_ID}"
BUCKETS = (f"{BUCKET_PREFIX}-dev-backups", f"{BUCKET_PREFIX}-dev-attachments")
NODE_LABEL = "lab.governed.odoo/node"
DEPLOYER = chain.Signer(Ed25519PrivateKey.generate())


def conn() -> dict:
    return json.loads((LAB_DIR / "connection.json").read_text())


def kubectl(*args, check=True, stdin=None, timeout=900):
    return node_lab.kubectl(*args, check=check, stdin=stdin, timeout=timeout)


def playbook(inv: Path, name: str, *extra: str) -> float:
    """Seconds that one ansible-playbook run took; stops the bench when it failed."""
    t0 = time.monotonic()
    res = node_lab.run_playbook(inv, name, *extra, limit=HOST, timeout=3600)
    took = time.monotonic() - t0
    if LOG_DIR is not None:
        n = len(list(LOG_DIR.glob("*.log"))) + 1
        log = LOG_DIR / f"{n:02d}-{name.removesuffix('.yml')}-{took:.1f}s.log"
        log.write_text(f"rc={res.returncode}\n{res.stdout}\n{res.stderr}")
    if res.returncode != 0:
        raise SystemExit(f"{name} failed:\n{node_lab.output(res)}")
    return took


def write_inventory(where: Path, image: str, audit_dir: Path, key_path: Path, public: str) -> Path:
    lab_inv = REPO / "inventories" / "lab"
    (where / "group_vars" / "all").mkdir(parents=True)
    for name in ("main.yml", "secrets.yml"):
        shutil.copy(lab_inv / "group_vars" / "all" / name, where / "group_vars" / "all" / name)
    shutil.copy(lab_inv / "group_vars" / "shared_cluster.yml", where / "group_vars" / "shared_cluster.yml")
    hosts = {"all": {"children": {"shared_cluster": {"children": {"dev": {"hosts": {HOST: {
        "governed_odoo_tenant": TENANT}}}}}}}}
    (where / "hosts.yml").write_text(json.dumps(hosts))
    node = conn()["node"]
    group = {
        "lab_dir": str(LAB_DIR), "lab_secret_dir": str(where.parent / "secrets" / "{{ inventory_hostname }}"),
        "governed_odoo_environment": "dev", "governed_odoo_tier": "nonproduction",
        "governed_odoo_netplan": {"supernet": "10.200.0.0/16", "environment_prefix": 20, "tenant_prefix": 24,
                                  "environments": {"dev": 0}, "tenants": {TENANT: 0},
                                  "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"}},
        "redis_persistence": "none", "odoo_filestore": "object_storage", "odoo_image": image,
        "odoo_web_replicas": 1, "odoo_cron_replicas": 0, "odoo_workers": 1, "odoo_db_maxconn": 4,
        "odoo_node_selector": {NODE_LABEL: "real"},
        "odoo_tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": "real", "effect": "NoSchedule"}],
        "postgresql_reporting_connection_limit": 2, "storage_bucket_prefix": BUCKET_PREFIX,
        # the lab's PostgreSQL, reached by the controller and by the pods on the real node
        "postgresql_external": node_lab.postgresql_external(conn()),
        "storage_backup_lock": {"mode": "GOVERNANCE", "days": 1},
        "backup_runner_image": "ghcr.io/governed-odoo/backup-runner@sha256:" + "cd" * 32,
        "backup_pg_bin_dir": "{{ lab_connection.postgres.bin_dir }}",
        "backup_retention": {"daily": 7, "weekly": 4, "monthly": 12},
        "promote_audit": {"local_dir": str(audit_dir)}, "promote_audit_public_keys": [public],
        "promote_audit_signing_key": str(key_path),
        "release_identities": {"bob": {"public_key": chain.public_pem(DEPLOYER.public_key), "groups": ["deployers"]}},
        "promote_probe_image": node["images"]["tools"], "release_registry_url": f"http://{node['registry']}",
        # /web/health through the lab's Traefik, as test_promote_lab.py asks it: Traefik dials the web pod on the real
        # node from the node's host address, which the instance's policy admits
        "ingress_traefik": {"namespace": "traefik", "pod_labels": {"app.kubernetes.io/name": "traefik"},
                            "source_cidrs": ["127.0.0.1/32", f"{node['host_address']}/32",
                                             f"{node.get('host_source_address', '127.0.0.1')}/32"],
                            "native_lb": False},
        # 2 s per try and 1 s between tries: right after the rollout the lab's Traefik may still route to the pod
        # just removed (until it reloads, within its 2 s throttle) and a try that lands there waits for its timeout;
        # with promote.yml's defaults (5 s, 3 s) such a run takes 8 s instead of 3 s more
        "promote_ingress_health": {"url": conn()["traefik"]["websecure"], "host": f"{TENANT}.dev.odoo.lab.test",
                                   "validate_certs": False, "use_proxy": False, "tries": 30, "delay": 1,
                                   "timeout": 2},
        "promote_verify_probe": PROBE,
    }
    (where / "group_vars" / "dev.yml").write_text(json.dumps(group, indent=1))
    return where


def write_release(directory: Path, rid: str, image: str) -> tuple[Path, Path]:
    """A release that updates one module (so promote.yml runs the migration Job), and bob's signed request."""
    path = node_lab.write_release(directory, rid, image, update=["sale"])
    now = dt.datetime.now(dt.UTC)
    stmt = {"type": "promotion_request", "release": rid, "digest": image.rsplit("@", 1)[1], "environment": "dev",
            "deployer": "bob", "issued": approvals.statement_time(now - dt.timedelta(minutes=5)),
            "expires": approvals.statement_time(now + dt.timedelta(hours=3))}
    request = directory / f"{rid}.request.json"
    request.write_text(json.dumps(approvals.sign_statement(stmt, DEPLOYER)))
    return path, request


def backup_args(lab: Lab) -> dict:
    """governed.odoo.backup's arguments as the backup role gives them for the instance (lab administrator login)."""
    s3 = lab.s3["a"]
    return {"environment": "dev", "db": DB, **lab.pg, **{k: s3[k] for k in ("endpoint_url", "region", "access_key",
                                                                              "secret_key")},
            "s3_validate_certs": False, "bucket": BUCKETS[0], "prefix": "", "pg_bin_dir": lab.bin_dir,
            "filestore_s3": {"bucket": BUCKETS[1], "prefix": "", "per_database": True,
                             **{k: s3[k] for k in ("endpoint_url", "region", "access_key", "secret_key")},
                             "s3_validate_certs": False},
            "object_lock_mode": "GOVERNANCE", "object_lock_days": 1}


def job_template() -> dict:
    """The migration Job as a person would write it: the web pods' template (image, configuration, credentials,
    placement) running ``odoo -u sale --stop-after-init`` once (as plugins/module_utils/manifests/odoo_jobs.py
    builds it)."""
    dep = json.loads(kubectl("get", "deployment", "odoo-web", "-n", NAMESPACE, "-o", "json").stdout)
    pod = json.loads(json.dumps(dep["spec"]["template"]))
    # an Odoo pod to the instance's NetworkPolicies (they admit app.kubernetes.io/name=odoo to the database), not a
    # web pod (no Service selects it)
    pod["metadata"] = {"labels": {"app.kubernetes.io/name": "odoo", "app.kubernetes.io/component": "migration-by-hand"}}
    spec = pod["spec"]
    spec["restartPolicy"] = "Never"
    for container in spec["containers"]:
        if container["name"] == "odoo":
            container["args"] = [a for a in container.get("args", []) if a.startswith("--config")] + [
                "-u", "sale", "--stop-after-init"]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                container.pop(probe, None)
            container.pop("ports", None)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "", "namespace": NAMESPACE},
            "spec": {"backoffLimit": 0, "template": pod}}


def by_hand(lab: Lab, template: dict, image: str, n: int) -> dict:
    """Backup, migration Job, rollout: as a person would run them. {step: seconds}."""
    out = {}
    t0 = time.monotonic()
    result = run_module("backup", backup_args(lab))
    if result.get("failed"):
        raise SystemExit(f"backup by hand failed: {result.get('msg')}")
    out["backup"] = time.monotonic() - t0

    job = json.loads(json.dumps(template))
    job["metadata"]["name"] = f"odoo-migrate-hand-{RUN_ID}-{n}"
    for container in job["spec"]["template"]["spec"]["containers"]:
        container["image"] = image
    t1 = time.monotonic()
    kubectl("apply", "-f", "-", stdin=json.dumps(job))
    kubectl("wait", "-n", NAMESPACE, f"job/{job['metadata']['name']}", "--for=condition=complete", "--timeout=900s")
    out["job"] = time.monotonic() - t1

    t2 = time.monotonic()
    dep = json.loads(kubectl("get", "deployment", "odoo-web", "-n", NAMESPACE, "-o", "json").stdout)
    for container in dep["spec"]["template"]["spec"]["containers"]:
        if container["name"] == "odoo":
            container["image"] = image
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "odoo-web", "namespace": NAMESPACE}, "spec": dep["spec"]}
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=bench-by-hand", "-f", "-",
            stdin=json.dumps(manifest))
    kubectl("rollout", "status", "-n", NAMESPACE, "deployment/odoo-web", "--timeout=900s")
    out["rollout"] = time.monotonic() - t2
    out["total"] = time.monotonic() - t0
    return out


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db-mib", type=int, default=4)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--probe", choices=("auto", "always", "never"), default="auto",
                        help="promote_verify_probe: auto (the default of promote.yml: with the ingress check on, no"
                        " probe Job), always (the in-cluster probe Job as well)")
    parser.add_argument("--profile", action="store_true",
                        help="one more promotion, untimed, with ansible.posix.profile_tasks: its slowest tasks")
    parser.add_argument("--log", type=Path, metavar="DIR",
                        help="keep the output of every ansible-playbook run in DIR (NN-<playbook>-<seconds>s.log):"
                        " a slow run's retries and tasks can be read there")
    args = parser.parse_args()
    global PROBE, LOG_DIR
    PROBE = args.probe
    if args.log:
        LOG_DIR = args.log
        LOG_DIR.mkdir(parents=True, exist_ok=True)

    import odoo_dataset

    # by name: ruff would sort `build` as first- or third-party by whether the checkout has a build/ directory
    push = importlib.import_module("build").push

    if not (conn().get("node") or {}).get("enabled"):
        raise SystemExit("the lab's real node is not enabled: scripts/lab up")
    registry = conn()["node"]["registry"]
    images = {v: push(f"odoo-standin-{v.lower()}", registry) for v in "AB"}
    lab = Lab()
    work = Path(tempfile.mkdtemp(prefix="bench-promote-"))
    key = Ed25519PrivateKey.generate()
    key_path = work / "audit.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    inv = write_inventory(work / "inv", images["A"], work / "audit", key_path, chain.public_pem(key.public_key()))
    results = {"promote.yml": [], "by hand": []}
    steps = []
    print(f"load average at the start: {load()}", flush=True)
    try:
        playbook(inv, "site.yml")
        odoo_dataset.generate(lab.dsn, DB, str(work / "filestore" / DB), args.db_mib * 2**20, 0, 0, jobs=1,
                              log=lambda m: None)
        with lab.connect() as c:
            c.execute(f'ALTER DATABASE "{DB}" OWNER TO "{DB}_owner"')
        with lab.connect(DB) as c:
            for (table,) in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
                c.execute(f'ALTER TABLE public."{table}" OWNER TO "{DB}_owner"')
            for (seq,) in c.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'").fetchall():
                c.execute(f'ALTER SEQUENCE public."{seq}" OWNER TO "{DB}_owner"')
        release, request = write_release(work / "releases", "warmup", images["B"])
        took = playbook(inv, "promote.yml", "-e", f"release={release}", "-e", f"promotion_request={request}")
        print(f"warm-up promotion (A -> B, with its migration): {took:.1f} s", flush=True)
        template = job_template()
        image_now = "B"
        for n in range(args.repeat):
            target = "A" if image_now == "B" else "B"
            release, request = write_release(work / "releases", f"run{n}", images[target])
            took = playbook(inv, "promote.yml", "-e", f"release={release}", "-e", f"promotion_request={request}")
            results["promote.yml"].append(took)
            print(f"promote.yml {image_now} -> {target}: {took:.1f} s", flush=True)
            image_now, target = target, ("A" if target == "B" else "B")
            hand = by_hand(lab, template, images[target], n)
            steps.append(hand)
            results["by hand"].append(hand["total"])
            print(f"by hand     {image_now} -> {target}: {hand['total']:.1f} s (backup {hand['backup']:.1f}, job"
                  f" {hand['job']:.1f}, rollout {hand['rollout']:.1f})", flush=True)
            image_now = target
        if args.profile:
            target = "A" if image_now == "B" else "B"
            release, request = write_release(work / "releases", "profiled", images[target])
            os.environ["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
            os.environ.setdefault("PROFILE_TASKS_TASK_OUTPUT_LIMIT", "25")
            res = node_lab.run_playbook(inv, "promote.yml", "-e", f"release={release}", "-e",
                                        f"promotion_request={request}", limit=HOST, timeout=3600)
            del os.environ["ANSIBLE_CALLBACKS_ENABLED"]
            tail = res.stdout[res.stdout.rfind("=" * 20):] if "=" * 20 in res.stdout else res.stdout[-4000:]
            print(f"\nprofiled promotion {image_now} -> {target} (rc={res.returncode}), slowest tasks:\n{tail}",
                  flush=True)
    finally:
        if not args.keep:
            kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
            with lab.connect() as c:
                for (name,) in c.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                         (f"{DB}%",)).fetchall():
                    lab.drop_db(name)
                for role in ("app", "reporting", "owner"):
                    c.execute(f'DROP ROLE IF EXISTS "{DB}_{role}"')
            for bucket in BUCKETS:
                wipe_bucket(lab.client("a"), bucket)
            shutil.rmtree(work, ignore_errors=True)
    promote = statistics.median(results["promote.yml"])
    hand = statistics.median(results["by hand"])
    ratio = promote / hand
    print(f"\nmedians of {args.repeat} ({args.db_mib} MiB database, one web pod on the real node, migration of one"
          f" module, promote_verify_probe={PROBE}, /web/health through the lab's Traefik):")
    print(f"  promote.yml (gate, lock, backup, cron, Job, rollout, verify, record): {promote:.1f} s")
    print(f"  by hand (backup module, Job by kubectl, apply + rollout status):      {hand:.1f} s"
          f"  [backup {statistics.median(s['backup'] for s in steps):.1f}, Job"
          f" {statistics.median(s['job'] for s in steps):.1f}, rollout"
          f" {statistics.median(s['rollout'] for s in steps):.1f}]")
    print(f"  ratio: {ratio:.2f}x (target < {TARGET_RATIO}x: {'met' if ratio < TARGET_RATIO else 'NOT met'})")
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
