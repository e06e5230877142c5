"""playbooks/backup.yml against the lab: one backup now and the nightly CronJob of one instance.

A dev instance of its own (unique tenant, namespace, database and buckets, a GOVERNANCE object lock of one day so
that everything can be removed afterwards) is provisioned with site.yml from an inventory copied from
inventories/lab. site.yml leaves its database empty (no Odoo runs in the lab), so a generated Odoo-shaped dataset
(tests/fixtures/odoo_dataset.py) stands in for Odoo's own initialisation. Shown here:

* on the empty database the run is refused before anything changes (not an Odoo database, no CronJob);
* a backup is taken as the instance's own application role: its manifest is in the environment's backups bucket
  under backups/dev/<database>/, with the object lock the storage settings ask for, and retention and verification
  ran; the CronJob, its ConfigMap (no secret in it), Secret, ServiceAccount and egress policy exist in the namespace,
  restricted-pod-security compliant, as their own ApplySet;
* a second schedule-only run changes nothing; a check-mode run writes no backup;
* a site.yml rerun (which prunes its own set) leaves the CronJob alone;
* bad input (malformed schedule, unknown time zone, tag instead of digest outside dev, bad lock mode, missing bucket)
  is refused naming the variable, and nothing changes (no new backup, CronJob untouched).

The lab's kwok nodes run no containers: the CronJob is real on the real API server, its pods never run.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import inventory_lab  # noqa: E402
import node_lab  # noqa: E402
from backup_lab import LAB_DIR, Lab, wipe_bucket  # noqa: E402

RUN_ID = secrets.token_hex(3)
TENANT = f"bp{RUN_ID}"
HOST = f"{TENANT}-dev"
NAMESPACE = f"odoo-{HOST}"
DB = f"{TENANT}_dev"
BUCKET_PREFIX = f"gbp-{RUN_ID}"
BACKUPS = f"{BUCKET_PREFIX}-dev-backups"
ATTACHMENTS = f"{BUCKET_PREFIX}-dev-attachments"
SCHEDULE = "15 2 * * *"
TIME_ZONE = "Europe/Brussels"
DIGEST = "@sha256:" + "cd" * 32

pytestmark = pytest.mark.lab


def kubectl_cmd():
    conf = json.loads((LAB_DIR / "connection.json").read_text())
    return [conf["controlplane"]["kubectl"], "--kubeconfig", conf["controlplane"]["kubeconfig"]]


def kget(kind, name=None, namespace=NAMESPACE):
    """The object as a dict, or None when it does not exist."""
    argv = [*kubectl_cmd(), "get", kind, "-n", namespace, "-o", "json"]
    if name:
        argv.insert(-4, name)
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        if "NotFound" in res.stderr or "not found" in res.stderr:
            return None
        raise AssertionError(res.stderr)
    return json.loads(res.stdout)


def write_inventory(where: Path) -> Path:
    """One dev instance, reusing the lab inventory's group_vars, with its own tenant, buckets and lock.

    Its secrets and filestore go beside the inventory directory, not into it (Ansible would read them as inventory).
    """
    return inventory_lab.write_inventory(
        where,
        {HOST: TENANT},
        BUCKET_PREFIX,
        filestore=lambda host, tenant: where.parent / "filestore" / DB,
        extra={"backup_schedule": SCHEDULE, "backup_time_zone": TIME_ZONE},
    )


def run_playbook(inventory: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess:
    return node_lab.run_playbook(inventory, playbook, *extra, timeout=900)


def recap(res) -> dict:
    return inventory_lab.recap(res, HOST)


output = node_lab.output


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def instance(lab, tmp_path_factory):
    """The instance provisioned by site.yml (namespace, empty database and roles, buckets); removed afterwards."""
    try:
        if subprocess.run([*kubectl_cmd(), "get", "--raw", "/readyz"], capture_output=True,
                          check=False).returncode != 0:
            pytest.skip("lab API server not reachable")
    except (OSError, KeyError):
        pytest.skip("lab control plane not up")
    inv = write_inventory(tmp_path_factory.mktemp("backup-playbook") / "inv")
    try:
        res = run_playbook(inv, "site.yml", "-e", "governed_odoo_wait=false")
        assert res.returncode == 0, output(res)
        yield inv
    finally:
        subprocess.run([*kubectl_cmd(), "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"],
                       capture_output=True, check=False)
        lab.drop_db(DB)
        with lab.connect() as conn:
            for role in ("app", "reporting", "owner"):
                conn.execute(f'DROP ROLE IF EXISTS "{DB}_{role}"')
        for bucket in (BACKUPS, ATTACHMENTS):
            wipe_bucket(lab.client("a"), bucket)


@pytest.fixture(scope="module")
def refused_unseeded(instance):
    """backup.yml on the empty database site.yml created, before it is seeded."""
    return run_playbook(instance, "backup.yml")


@pytest.fixture(scope="module")
def seeded(lab, instance, refused_unseeded):
    """A stand-in for Odoo's own initialisation: an Odoo-shaped dataset, owned like Odoo's tables would be."""
    import odoo_dataset

    stats = odoo_dataset.generate(lab.dsn, DB, str(instance.parent / "filestore" / DB), 2 * 2**20, 40, 2 * 2**20,
                                  jobs=1, log=lambda m: None)
    # generate() recreates the database as the lab's superuser; Odoo's tables belong to the instance's owner role,
    # which the application role (what the backup logs in as) acts as.
    with lab.connect() as conn:
        conn.execute(f'ALTER DATABASE "{DB}" OWNER TO "{DB}_owner"')
    with lab.connect(DB) as conn:
        for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
            conn.execute(f'ALTER TABLE public."{table}" OWNER TO "{DB}_owner"')
    return stats


@pytest.fixture(scope="module")
def first_run(instance, seeded):
    return run_playbook(instance, "backup.yml")


def manifests(lab):
    return lab.store(BACKUPS).list_backups("dev", DB)


def test_an_empty_database_is_refused_before_anything_changes(refused_unseeded, lab):
    res = refused_unseeded
    assert res.returncode != 0, output(res)
    assert "not an Odoo database" in res.stdout, output(res)
    assert "nothing was changed" in res.stdout and f"backup_database.name={DB}" in res.stdout, output(res)
    assert kget("cronjob", "odoo-backup") is None
    assert manifests(lab) == []


def test_backup_now_writes_a_locked_backup(first_run, lab, seeded):
    assert first_run.returncode == 0, output(first_run)
    refs = manifests(lab)
    assert len(refs) == 1
    m = lab.store(BACKUPS).read_manifest("dev", DB, refs[0].backup_id)
    assert m.data["db_name"] == DB and m.data["environment"] == "dev"
    assert m.data["source"]["database"] == DB
    assert m.data["filestore"]["count"] == seeded["files"] > 0
    assert m.data["object_lock"]["mode"] == "GOVERNANCE" and m.data["object_lock"]["days"] == 1
    key = f"backups/dev/{DB}/{refs[0].backup_id}/manifest.json"
    retention = lab.client("a").get_object_retention(Bucket=BACKUPS, Key=key)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    # the report names the backup, its sizes and what was uploaded and reused
    out = first_run.stdout
    assert refs[0].backup_id in out
    assert int(re.search(r"\buploaded: '?(\d+)", out).group(1)) == seeded["files"]  # a first backup uploads all
    assert int(re.search(r"\breused: '?(\d+)", out).group(1)) == 0
    assert re.search(r"\bkept: '?1\b", out)  # retention ran
    assert re.search(r"\bok: true", out)  # verification ran


def test_cronjob_and_its_companions(first_run, lab, instance):
    assert first_run.returncode == 0, output(first_run)
    cj = kget("cronjob", "odoo-backup")
    assert cj is not None
    spec = cj["spec"]
    assert spec["schedule"] == SCHEDULE and spec["timeZone"] == TIME_ZONE
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] == 3600
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 1 and job["activeDeadlineSeconds"] == 14400
    pod = job["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "odoo-backup"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["image"].startswith("ghcr.io/governed-odoo/backup-runner@sha256:")
    assert container["command"][:2] == ["ansible-playbook", "governed.odoo.backup"]
    assert container["resources"]["limits"] and container["resources"]["requests"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "odoo-filestore", "readOnly": True}
    assert "emptyDir" in volumes["tmp"]
    mounts = {v["name"]: v for v in container["volumeMounts"]}
    assert mounts["data"]["readOnly"] is True and mounts["tmp"]["mountPath"] == "/tmp"
    assert job["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "odoo-backup"

    # settings: the same playbook, in-cluster mode, and no secret in the ConfigMap
    cm = kget("configmap", "odoo-backup")
    settings = json.loads(cm["data"]["backup-vars.json"])
    assert settings["governed_odoo_backup_in_cluster"] is True and settings["governed_odoo_backup_schedule"] is False
    assert settings["backup_bucket"] == BACKUPS and settings["backup_database"]["name"] == DB
    assert settings["backup_database"]["user"] == f"{DB}_app"
    assert settings["backup_filestore_path"] == f"/var/lib/odoo/filestore/{DB}"
    password = (instance.parent / "secrets" / HOST / "postgresql_app").read_text().split()[0]
    assert password not in cm["data"]["backup-vars.json"]
    secret = kget("secret", "odoo-backup")
    assert {"PGPASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(secret["data"])

    sa = kget("serviceaccount", "odoo-backup")
    assert sa["automountServiceAccountToken"] is False
    pol = kget("networkpolicy", "allow-backup-egress")
    assert pol["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "odoo-backup"}}
    cidrs = [peer["ipBlock"]["cidr"] for rule in pol["spec"]["egress"] for peer in rule["to"] if "ipBlock" in peer]
    assert cidrs == ["127.0.0.1/32", "127.0.0.1/32"]  # the lab's database server, then its S3 endpoint

    # their own ApplySet, apart from site.yml's
    for obj in (cj, cm, secret, sa, pol):
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == HOST
        assert obj["metadata"]["labels"]["governed.odoo/environment"] == "dev"
    parent = kget("secret", f"governed-odoo-{HOST}-backup")
    assert parent is not None
    assert cj["metadata"]["labels"]["applyset.kubernetes.io/part-of"] == parent["metadata"]["labels"][
        "applyset.kubernetes.io/id"]
    site_parent = kget("secret", f"governed-odoo-{HOST}")
    assert site_parent["metadata"]["labels"]["applyset.kubernetes.io/id"] != parent["metadata"]["labels"][
        "applyset.kubernetes.io/id"]


def test_second_schedule_run_changes_nothing(first_run, instance):
    assert first_run.returncode == 0, output(first_run)
    res = run_playbook(instance, "backup.yml", "-e", "governed_odoo_backup_now=false")
    assert res.returncode == 0, output(res)
    assert recap(res)["changed"] == 0, output(res)


def test_check_mode_writes_nothing(first_run, instance, lab):
    assert first_run.returncode == 0, output(first_run)
    before = manifests(lab)
    version = kget("cronjob", "odoo-backup")["metadata"]["resourceVersion"]
    res = run_playbook(instance, "backup.yml", "--check")
    assert res.returncode == 0, output(res)
    assert "check mode: none written" in res.stdout
    assert manifests(lab) == before
    assert kget("cronjob", "odoo-backup")["metadata"]["resourceVersion"] == version


def test_site_rerun_leaves_the_schedule_alone(first_run, instance):
    assert first_run.returncode == 0, output(first_run)
    uid = kget("cronjob", "odoo-backup")["metadata"]["uid"]
    res = run_playbook(instance, "site.yml", "-e", "governed_odoo_wait=false")
    assert res.returncode == 0, output(res)
    cj = kget("cronjob", "odoo-backup")
    assert cj is not None and cj["metadata"]["uid"] == uid
    assert kget("configmap", "odoo-backup") is not None and kget("networkpolicy", "allow-backup-egress") is not None


BAD_INPUT = {
    "malformed schedule": (["-e", "backup_schedule='61 1 * * *'"], ["backup_schedule", "minute 61 is outside 0-59"]),
    "six-field schedule": (["-e", "backup_schedule='0 30 1 * * *'"], ["backup_schedule", "five fields"]),
    "unknown time zone": (["-e", "backup_time_zone=Europe/Brusels"], ["backup_time_zone"]),
    "tag image outside dev": (
        ["-e", "governed_odoo_environment=qa", "-e", "backup_runner_image=ghcr.io/governed-odoo/backup-runner:1.0"],
        ["backup_runner_image", "digest"],
    ),
    "bad lock mode": (["-e", '{"backup_lock": {"mode": "FOREVER", "days": 1}}'], ["backup_lock", "FOREVER"]),
    "retention not a number": (["-e", '{"backup_retention": {"daily": "seven"}}'], ["backup_retention", "daily"]),
    "missing bucket": (["-e", f"backup_bucket={BUCKET_PREFIX}-no-such-bucket"], ["backup_bucket", "no-such-bucket"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_before_any_change(case, first_run, instance, lab):
    assert first_run.returncode == 0, output(first_run)
    extra, expected = BAD_INPUT[case]
    before = manifests(lab)
    version = kget("cronjob", "odoo-backup")["metadata"]["resourceVersion"]
    res = run_playbook(instance, "backup.yml", "-e", "backup_schedule='0 3 * * *'", *extra)
    out = res.stdout + res.stderr
    assert res.returncode != 0, f"{case}: accepted\n{output(res)}"
    for text in expected:
        assert text in out, f"{case}: the failure does not mention {text!r}\n{output(res)}"
    assert manifests(lab) == before, f"{case}: a backup was written"
    cj = kget("cronjob", "odoo-backup")
    assert cj["metadata"]["resourceVersion"] == version, f"{case}: the CronJob changed"
    assert cj["spec"]["schedule"] == SCHEDULE, f"{case}: the CronJob changed"
