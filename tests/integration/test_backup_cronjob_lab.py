"""The nightly backup CronJob really runs: its Job, on the lab's real node, in the backup runner image built from the
product's own recipe (images/backup-runner/Containerfile, built by the lab: lab/images/backup-runner.yaml), backs up
an instance into the lab's S3, and the backup restores and verifies.

A dev instance of its own (unique tenant, namespace, database and buckets, a GOVERNANCE object lock of one day so that
everything can be removed afterwards) is provisioned by site.yml from an inventory copied from inventories/lab, with
its attachments in the environment's bucket (odoo_filestore: object_storage, no volume needed on the node) and its
backup CronJobs placed on the real node as the lab inventory places building-prod's (lab_node_placement: jobs, which
inventories/lab/group_vars/all/main.yml turns into backup_node_selector/backup_tolerations and the backup runner image
by digest); its Odoo pods stay on kwok nodes. The pods reach the lab's servers at the node's host_address (the lab
forwards the same ports): the database as postgresql_external.cluster_host, S3 as storage_s3.cluster_endpoint_url,
the verification's scratch server as backup_verify_restore.cluster_host, while the controller keeps using 127.0.0.1.
An Odoo-shaped dataset (tests/fixtures/odoo_dataset.py) is seeded, its files uploaded as Odoo with object storage
keeps them, and playbooks/backup.yml installs the schedule only (no backup is taken from the controller).
Shown here:

* ``kubectl create job --from=cronjob/odoo-backup``: the Job completes on the real node, and the backups bucket then
  holds exactly one sealed backup of the database (none existed before), whose manifest names the pod-side database
  address; playbooks/backup_verify.yml with a test restore restores it into a scratch database and directory and
  compares it with the manifest (every table, every file), and backup_list lists it;
* the weekly ``odoo-backup-verify`` CronJob triggered now completes: in its pod, the newest backup is checked object
  by object and test-restored into the lab's PostgreSQL (its scratch server, as pods reach it);
* a run whose Secret holds a wrong database password is a failed Job, ansible-playbook's exit code 2 in its pod's
  status and the refusal in its log, the password in neither, and no second backup in the bucket.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import node_lab  # noqa: E402
from backup_lab import LAB_DIR, Lab, wipe_bucket  # noqa: E402
from node_lab import output  # noqa: E402

RUN_ID = secrets.token_hex(3)
TENANT = f"bc{RUN_ID}"
HOST = f"{TENANT}-dev"
NAMESPACE = f"odoo-{HOST}"
DB = f"{TENANT}_dev"
BUCKET_PREFIX = f"gbc-{RUN_ID}"
BACKUPS = f"{BUCKET_PREFIX}-dev-backups"
ATTACHMENTS = f"{BUCKET_PREFIX}-dev-attachments"
NODE_LABEL = "lab.governed.odoo/node"
JOB_DEADLINE = 240  # seconds: a Job's pod on the real node runs ansible-playbook on a loaded two-core machine

pytestmark = pytest.mark.lab


def connection():
    return node_lab.connection("backup-runner")


def kubectl(*args, check=True, timeout=120):
    return node_lab.kubectl(*args, check=check, timeout=timeout)


def kjson(*args):
    return json.loads(kubectl(*args, "-n", NAMESPACE, "-o", "json").stdout)


def write_inventory(where: Path) -> Path:
    """One dev instance, reusing the lab inventory's group_vars; its backup CronJobs on the real node as the lab
    inventory places them (lab_node_placement: jobs): the backup runner image by digest, the database, S3 and the
    verification's scratch server at the node's host_address, the egress CIDR that holds it."""
    group = {
        "lab_dir": str(LAB_DIR),
        "lab_secret_dir": str(where.parent / "secrets" / "{{ inventory_hostname }}"),
        "lab_node_placement": "jobs",
        "governed_odoo_environment": "dev",
        "governed_odoo_tier": "nonproduction",
        "governed_odoo_netplan": {
            "supernet": "10.200.0.0/16", "environment_prefix": 20, "tenant_prefix": 24,
            "environments": {"dev": 0}, "tenants": {TENANT: 0},
            "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"},
        },
        "redis_persistence": "none",
        # attachments in the environment's bucket: the backup pods need no filestore volume on the node
        "odoo_filestore": "object_storage",
        "odoo_workers": 1,
        "odoo_db_maxconn": 4,
        "postgresql_reporting_connection_limit": 2,
        "storage_bucket_prefix": BUCKET_PREFIX,
        # GOVERNANCE, so that the test can remove its backups (COMPLIANCE could not be lifted for a day)
        "storage_backup_lock": {"mode": "GOVERNANCE", "days": 1},
        "backup_backoff_limit": 0,
        "backup_runner_resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                    "limits": {"cpu": "1", "memory": "1Gi"}},
        "backup_retention": {"daily": 7, "weekly": 4, "monthly": 12, "keep_last": 5},
        "backup_verify": "full",
    }
    return node_lab.write_dev_inventory(where, {HOST: {"governed_odoo_tenant": TENANT}}, group)


def run_playbook(inventory: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess:
    return node_lab.run_playbook(inventory, playbook, *extra, limit=HOST, timeout=900)


def upload_filestore(client, root: Path, prefix: str) -> int:
    """The generated files as Odoo with object storage keeps them: <prefix><store_fname>."""
    files = sorted(p for p in root.rglob("*") if p.is_file())

    def one(path):
        client.put_object(Bucket=ATTACHMENTS, Key=prefix + str(path.relative_to(root)), Body=path.read_bytes())

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, files))
    return len(files)


def run_job(cronjob: str, name: str) -> tuple[dict, dict]:
    """Create a Job from ``cronjob`` now and wait (minutes) until it completes or fails; (job, its pod)."""
    kubectl("create", "job", name, f"--from=cronjob/{cronjob}", "-n", NAMESPACE)
    deadline = time.monotonic() + JOB_DEADLINE
    while True:
        job = kjson("get", "job", name)
        done = {c["type"] for c in job.get("status", {}).get("conditions", []) if c["status"] == "True"}
        if done & {"Complete", "Failed"}:
            break
        if time.monotonic() > deadline:
            pods = kubectl("get", "pods", "-n", NAMESPACE, "-l", f"job-name={name}", "-o", "wide", check=False).stdout
            events = kubectl("get", "events", "-n", NAMESPACE, check=False).stdout[-3000:]
            raise AssertionError(f"Job {name} neither completed nor failed in {JOB_DEADLINE}s:\n{pods}\n{events}\n"
                                 f"{logs(name)}")
        time.sleep(2)
    (pod,) = kjson("get", "pods", "-l", f"job-name={name}")["items"]
    return job, pod


def logs(job: str) -> str:
    return kubectl("logs", f"job/{job}", "-n", NAMESPACE, "--tail=200", check=False).stdout


def conditions(job):
    return {c["type"] for c in job.get("status", {}).get("conditions", []) if c["status"] == "True"}


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def instance(lab, tmp_path_factory):
    """Provisioned by site.yml, seeded, the schedule installed; (inventory, connection). Removed afterwards."""
    conn = connection()
    if kubectl("get", "--raw", "/readyz", check=False).returncode != 0:
        pytest.skip("lab API server not reachable")
    import odoo_dataset

    base = tmp_path_factory.mktemp("backup-cronjob")
    inv = write_inventory(base / "inv")
    try:
        res = run_playbook(inv, "site.yml", "-e", "governed_odoo_wait=false")
        assert res.returncode == 0, output(res)
        filestore = base / "filestore" / DB
        odoo_dataset.generate(lab.dsn, DB, str(filestore), 2**20, 20, 2**20, jobs=1, log=lambda m: None)
        # Odoo's tables belong to the instance's owner role, which the application role (the backup's login) acts as
        with lab.connect() as c:
            c.execute(f'ALTER DATABASE "{DB}" OWNER TO "{DB}_owner"')
        with lab.connect(DB) as c:
            for (table,) in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
                c.execute(f'ALTER TABLE public."{table}" OWNER TO "{DB}_owner"')
        assert upload_filestore(lab.client("a"), filestore, f"{HOST}/{DB}/") == 20
        # the schedule only: nothing is backed up from the controller
        res = run_playbook(inv, "backup.yml", "-e", "governed_odoo_backup_now=false")
        assert res.returncode == 0, output(res)
        assert lab.store(BACKUPS).list_backups("dev", DB) == []
        yield inv, conn
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
        with lab.connect() as c:
            for (name,) in c.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"%{DB}%",)).fetchall():
                lab.drop_db(name)
            for role in ("app", "reporting", "owner"):
                c.execute(f'DROP ROLE IF EXISTS "{DB}_{role}"')
        for bucket in (BACKUPS, ATTACHMENTS):
            wipe_bucket(lab.client("a"), bucket)


@pytest.fixture(scope="module")
def nightly(instance, lab):
    """The CronJob odoo-backup triggered now: (job, pod, the backups in the bucket afterwards)."""
    job, pod = run_job("odoo-backup", f"backup-now-{RUN_ID}")
    return job, pod, lab.store(BACKUPS).list_backups("dev", DB)


def test_the_cronjob_runs_the_lab_built_runner_image_on_the_real_node(instance):
    _inv, conn = instance
    cj = kjson("get", "cronjob", "odoo-backup")
    pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == conn["node"]["images"]["backup-runner"]
    assert re.fullmatch(r"\S+/lab/backup-runner@sha256:[0-9a-f]{64}", pod["containers"][0]["image"])
    assert pod["nodeSelector"] == {NODE_LABEL: "real"}
    # the in-cluster run's settings: S3 and the database as the pods reach them, never the controller's loopback
    settings = json.loads(kjson("get", "configmap", "odoo-backup")["data"]["backup-vars.json"])
    host = conn["node"]["host_address"]
    assert urlsplit(settings["governed_odoo_backup_s3"]["endpoint_url"]).hostname == host
    assert settings["governed_odoo_backup_s3"]["port"] == urlsplit(conn["s3"]["a"]["endpoint"]).port
    assert settings["backup_database"]["host"] == host
    # the Odoo pods stay on the kwok nodes
    web = kjson("get", "deployment", "odoo-web")["spec"]["template"]["spec"]
    assert NODE_LABEL not in (web.get("nodeSelector") or {})


def test_the_nightly_job_completes_and_its_backup_is_in_the_bucket(instance, nightly):
    job, pod, backups = nightly
    assert conditions(job) == {"Complete"} | (conditions(job) & {"SuccessCriteriaMet"}), logs(job["metadata"]["name"])
    assert pod["spec"]["nodeName"] == "lab-real-0"
    (state,) = pod["status"]["containerStatuses"]
    assert state["state"]["terminated"]["exitCode"] == 0
    # the one backup of the database is the Job's: the schedule-only run took none
    assert len(backups) == 1, backups
    assert not backups[0].hidden and not backups[0].newer_versions, backups[0]
    log = logs(job["metadata"]["name"])
    assert re.search(r"PLAY RECAP.*\n\s*localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", log), log


def test_the_jobs_backup_restores_and_verifies(instance, nightly, lab):
    inv, conn = instance
    _job, pod, backups = nightly
    backup_id = backups[0].backup_id
    # sealed (the manifest validates, its own SHA-256 included); taken in the pod: the database at host_address
    source = lab.store(BACKUPS).read_manifest("dev", DB, backup_id).data["source"]
    assert source["host"] == conn["node"]["host_address"] and source["database"] == DB, source
    assert source["runner"] == pod["metadata"]["name"], source  # the machine that ran it: the Job's pod
    res = run_playbook(inv, "backup_list.yml")
    assert res.returncode == 0 and backup_id in res.stdout, output(res)
    res = run_playbook(inv, "backup_verify.yml", "-e", f"backup_id={backup_id}", "-e", "verify_test_restore=true")
    assert res.returncode == 0, output(res)
    report = res.stdout[res.stdout.index("test_restore:"):]
    assert re.search(r"\bok: true", report) and re.search(r"\bdropped: true", report), output(res)
    assert int(re.search(r"\bfiles: '?(\d+)", report).group(1)) == int(
        re.search(r"\bfiles_expected: '?(\d+)", report).group(1)) == 20, output(res)


def test_the_weekly_verify_cronjob_completes(instance, nightly, lab):
    _inv, conn = instance
    # the test restore's scratch server (the lab's PostgreSQL) as the pods reach it: the lab inventory's
    # backup_verify_restore.cluster_host, while the controller's backup_verify.yml above used its host
    settings = json.loads(kjson("get", "configmap", "odoo-backup")["data"]["verify-vars.json"])
    assert settings["backup_verify_restore"]["host"] == conn["node"]["host_address"], settings
    job, pod = run_job("odoo-backup-verify", f"verify-now-{RUN_ID}")
    log = logs(job["metadata"]["name"])
    assert "Complete" in conditions(job), log
    assert pod["spec"]["nodeName"] == "lab-real-0"
    # the pod's ansible-playbook reports with the default callback (JSON-like), not the repository's YAML one
    assert re.search(rf'"backup_id": "{nightly[2][0].backup_id}"', log), log
    assert re.search(r'"level": "full"', log) and re.search(r'"verified": true', log), log
    report = log[log.index('"test_restore":'):]
    assert re.search(r'"ok": true', report) and re.search(r'"dropped": true', report), log
    assert re.search(r'"files": 20,', report) and re.search(r'"files_expected": 20,', report), log
    with lab.connect() as c:
        assert c.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"verify_{DB}%",)).fetchall() == []


def test_a_run_with_a_wrong_password_is_a_failed_job_with_its_exit_code(instance, nightly, lab):
    wrong = "wrong-" + secrets.token_hex(8)
    kubectl("patch", "secret", "odoo-backup", "-n", NAMESPACE, "--type", "merge",
            "-p", json.dumps({"stringData": {"PGPASSWORD": wrong}}))
    job, pod = run_job("odoo-backup", f"backup-fails-{RUN_ID}")
    log = logs(job["metadata"]["name"])
    assert "Failed" in conditions(job) and "Complete" not in conditions(job), log
    (state,) = pod["status"]["containerStatuses"]
    # ansible-playbook's exit code for a failed host, as the pod's status reports it
    assert state["state"]["terminated"]["exitCode"] == 2, state
    assert job["status"].get("failed") == 1 and not job["status"].get("succeeded")
    assert "password authentication failed" in log, log
    assert wrong not in log and wrong not in json.dumps(pod["status"])
    # nothing new in the bucket
    assert [b.backup_id for b in lab.store(BACKUPS).list_backups("dev", DB)] == [nightly[2][0].backup_id]
