"""Everyday backup operations on an instance with two backups, against the lab, driven by the inventory alone.

A dev instance of its own (unique tenant, namespace, database and buckets, a GOVERNANCE object lock of one day so that
everything can be removed afterwards) is provisioned by site.yml from an inventory copied from inventories/lab, given
an Odoo-shaped dataset, and backed up twice with playbooks/backup.yml; the second backup reuses every attachment the
first one uploaded. Shown here:

* the backups bucket's lifecycle rules, read back from SeaweedFS as site.yml's storage role set them and evaluated
  against the bucket's real object versions with the first backup aged past the expiry, never reach an object the
  kept (second) backup references, while the first backup's own directory does expire; the whole-bucket rules the
  collection had before would have reached the attachments the second backup reuses (so the check can fail);
* playbooks/backup_list.yml --limit <instance> lists both, newest first, sealed and locked;
* playbooks/backup_verify.yml verifies the newest by default, a named one with a test restore (the scratch database
  is gone afterwards), and fails on a backup that does not exist;
* the backup role renders the weekly CronJob odoo-backup-verify beside the nightly one; its own command, run here with
  the settings of its ConfigMap and the secrets of its Secrets as the pod would get them, verifies and test-restores;
  an invalid verification schedule is refused before anything changes.

The lab's kwok nodes run no containers: the CronJobs are real objects on the real API server, their pods never run,
so the CronJob's command is run on the controller instead, with the pod's settings and environment.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))

import inventory_lab  # noqa: E402
import node_lab  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt  # noqa: E402
from backup_lab import LAB_DIR, Lab, wipe_bucket  # noqa: E402
from s3_lifecycle import Version, reached  # noqa: E402

RUN_ID = secrets.token_hex(3)
TENANT = f"bo{RUN_ID}"
HOST = f"{TENANT}-dev"
NAMESPACE = f"odoo-{HOST}"
DB = f"{TENANT}_dev"
BUCKET_PREFIX = f"gbo-{RUN_ID}"
BACKUPS = f"{BUCKET_PREFIX}-dev-backups"
ATTACHMENTS = f"{BUCKET_PREFIX}-dev-attachments"
VERIFY_SCHEDULE = "0 5 * * 6"
EXPIRE_DAYS = 400  # storage_backups_expire_days (the storage role's default)
# the backups bucket's rules before this collection restricted them to backup directories
WHOLE_BUCKET_RULES = [
    {"ID": "expire-old-backups", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": EXPIRE_DAYS}},
    {"ID": "expire-replaced-backups", "Status": "Enabled", "Filter": {"Prefix": ""},
     "NoncurrentVersionExpiration": {"NoncurrentDays": 7}},
]

pytestmark = pytest.mark.lab


def kubectl_cmd():
    conf = json.loads((LAB_DIR / "connection.json").read_text())
    return [conf["controlplane"]["kubectl"], "--kubeconfig", conf["controlplane"]["kubeconfig"]]


def kget(kind, name, namespace=NAMESPACE):
    """The object as a dict, or None when it does not exist."""
    res = subprocess.run([*kubectl_cmd(), "get", kind, name, "-n", namespace, "-o", "json"], capture_output=True,
                         text=True, check=False)
    if res.returncode != 0:
        if "NotFound" in res.stderr or "not found" in res.stderr:
            return None
        raise AssertionError(res.stderr)
    return json.loads(res.stdout)


def write_inventory(where: Path) -> Path:
    """One dev instance, reusing the lab inventory's group_vars, with its own tenant, buckets and lock."""
    return inventory_lab.write_inventory(
        where,
        {HOST: TENANT},
        BUCKET_PREFIX,
        filestore=lambda host, tenant: where.parent / "filestore" / DB,
        extra={
            # both backups of the same day are kept
            "backup_retention": {"daily": 7, "weekly": 4, "monthly": 12, "keep_last": 5},
            "backup_verify_schedule": VERIFY_SCHEDULE,
        },
    )


def play_env(**extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               GOVERNED_ODOO_LAB_DIR=str(LAB_DIR), PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    env.update(extra)
    return env


def run_playbook(inventory: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess:
    return node_lab.run_playbook(inventory, playbook, *extra, timeout=1500)


output = node_lab.output


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def instance(lab, tmp_path_factory):
    """Provisioned by site.yml, seeded, backed up twice; (inventory, [first id, second id]). Removed afterwards."""
    try:
        if subprocess.run([*kubectl_cmd(), "get", "--raw", "/readyz"], capture_output=True,
                          check=False).returncode != 0:
            pytest.skip("lab API server not reachable")
    except (OSError, KeyError):
        pytest.skip("lab control plane not up")
    import odoo_dataset

    inv = write_inventory(tmp_path_factory.mktemp("backup-ops") / "inv")
    try:
        res = run_playbook(inv, "site.yml", "-e", "governed_odoo_wait=false")
        assert res.returncode == 0, output(res)
        odoo_dataset.generate(lab.dsn, DB, str(inv.parent / "filestore" / DB), 2 * 2**20, 30, 2 * 2**20,
                              jobs=1, log=lambda m: None)
        # Odoo's tables belong to the instance's owner role, which the application role (the backup's login) acts as
        with lab.connect() as conn:
            conn.execute(f'ALTER DATABASE "{DB}" OWNER TO "{DB}_owner"')
        with lab.connect(DB) as conn:
            for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
                conn.execute(f'ALTER TABLE public."{table}" OWNER TO "{DB}_owner"')
        res = run_playbook(inv, "backup.yml")
        assert res.returncode == 0, output(res)
        # the second backup: every attachment is already in the store, so it is referenced, not uploaded again
        res = run_playbook(inv, "backup.yml", "-e", "governed_odoo_backup_schedule=false")
        assert res.returncode == 0, output(res)
        ids = [r.backup_id for r in lab.store(BACKUPS).list_backups("dev", DB)]
        assert len(ids) == 2, ids
        yield inv, ids
    finally:
        subprocess.run([*kubectl_cmd(), "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false"],
                       capture_output=True, check=False)
        lab.drop_db(DB)
        with lab.connect() as conn:
            for role in ("app", "reporting", "owner"):
                conn.execute(f'DROP ROLE IF EXISTS "{DB}_{role}"')
        for bucket in (BACKUPS, ATTACHMENTS):
            wipe_bucket(lab.client("a"), bucket)


def bucket_versions(client, bucket):
    out = []
    kw = {"Bucket": bucket}
    while True:
        page = client.list_object_versions(**kw)
        for v in page.get("Versions") or []:
            out.append(Version(v["Key"], v["VersionId"], v["LastModified"], v["IsLatest"]))
        for v in page.get("DeleteMarkers") or []:
            out.append(Version(v["Key"], v["VersionId"], v["LastModified"], v["IsLatest"], delete_marker=True))
        if not page.get("IsTruncated"):
            return out
        kw.update(KeyMarker=page.get("NextKeyMarker"), VersionIdMarker=page.get("NextVersionIdMarker"))


def referenced(store, manifest):
    """{(key, version_id)} of every object ``manifest`` references: its own, its table archives, its attachments."""
    refs = {(manifest.manifest_key, manifest.version_id)}
    refs |= {(o["key"], o.get("version_id")) for o in manifest.objects}
    keyspace, entries = store.read_index(manifest)
    refs |= {(fmt.filestore_key(e["sha1"], keyspace=keyspace), e.get("version_id")) for e in entries}
    return refs


def test_lifecycle_never_expires_what_the_kept_backup_references(instance, lab):
    _inv, (first_id, second_id) = instance
    client = lab.client("a")
    store = lab.store(BACKUPS)
    # the rules as SeaweedFS holds them: what site.yml's storage role configured, not what the code meant to
    rules = client.get_bucket_lifecycle_configuration(Bucket=BACKUPS)["Rules"]
    assert {r["ID"] for r in rules} >= {"expire-old-backups", "expire-replaced-backups"}
    versions = bucket_versions(client, BACKUPS)
    first = store.read_manifest("dev", DB, first_id)
    second = store.read_manifest("dev", DB, second_id)
    kept = referenced(store, second)
    first_objects = referenced(store, first)
    first_dir = fmt.backup_prefix("dev", DB, first_id)
    reused = {(k, v) for k, v in kept & first_objects if k.startswith(fmt.FILESTORE_ROOT)}
    # the second backup uploaded no attachment: it references every one the first backup wrote
    assert reused and reused == {(k, v) for k, v in kept if k.startswith(fmt.FILESTORE_ROOT)}

    # age the first backup past the expiry: every object version it wrote or references is 401 days older
    assert first_objects <= {(v.key, v.version_id) for v in versions}
    shift = dt.timedelta(days=EXPIRE_DAYS + 1)
    aged = [Version(v.key, v.version_id,
                    v.last_modified - shift if (v.key, v.version_id) in first_objects else v.last_modified,
                    v.is_latest, v.delete_marker) for v in versions]
    now = dt.datetime.now(dt.UTC)
    got = reached(rules, aged, now)
    assert not set(got) & kept, f"lifecycle reaches objects the kept backup references: {sorted(set(got) & kept)[:5]}"
    # the rule still does its job: the first backup's own directory expires
    assert {k for k, _v in got} == {k for k, _v in first_objects if k.startswith(first_dir)}
    # and the whole-bucket rules this collection had before would have expired the reused attachments
    old = reached(WHOLE_BUCKET_RULES, aged, now)
    assert reused <= set(old)

    # someone writes over one referenced attachment: the pinned original becomes noncurrent and must stay
    key, vid = sorted(reused)[0]
    overwritten = [Version(v.key, v.version_id, v.last_modified, False if (v.key, v.version_id) == (key, vid)
                           else v.is_latest, v.delete_marker) for v in aged]
    overwritten.append(Version(key, "written-over", now - dt.timedelta(days=30), True))
    assert (key, vid) not in reached(rules, overwritten, now)
    assert reached(WHOLE_BUCKET_RULES, overwritten, now)[(key, vid)] == ("expire-replaced-backups", "noncurrent")


def listed_ids(stdout):
    """Backup ids of the listing's lines, in order (the YAML callback may fold a long line anywhere between words)."""
    return re.findall(r"(\d{8}T\d{6}Z-[0-9a-f]{6})\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+[\d.]+\s+(?:B|KiB|MiB|GiB)\s+sealed\s+"
                      r"locked\s+GOVERNANCE\s+until\s+\S+", stdout)


def test_backup_list_shows_both_newest_first(instance):
    inv, (first_id, second_id) = instance
    res = run_playbook(inv, "backup_list.yml", "--limit", HOST)
    assert res.returncode == 0, output(res)
    header = rf"{HOST}: 2 backup\(s\) of dev/{DB} in {BACKUPS}, newest first".replace(" ", r"\s+")
    assert re.search(header, res.stdout), output(res)
    assert listed_ids(res.stdout) == [second_id, first_id], output(res)
    # read only: check mode lists the same
    res = run_playbook(inv, "backup_list.yml", "--limit", HOST, "--check")
    assert res.returncode == 0 and listed_ids(res.stdout) == [second_id, first_id], output(res)


def test_backup_verify_checks_the_newest_by_default(instance):
    inv, (_first_id, second_id) = instance
    res = run_playbook(inv, "backup_verify.yml", "--limit", HOST)
    assert res.returncode == 0, output(res)
    assert re.search(rf"backup_id: '?{second_id}", res.stdout), output(res)
    assert re.search(r"verified: true", res.stdout), output(res)
    assert int(re.search(r"objects_checked: '?(\d+)", res.stdout).group(1)) > 2, output(res)


def test_backup_verify_a_named_backup_with_a_test_restore(instance, lab):
    inv, (first_id, _second_id) = instance
    res = run_playbook(inv, "backup_verify.yml", "--limit", HOST, "-e", f"backup_id={first_id}",
                       "-e", "verify_test_restore=true")
    assert res.returncode == 0, output(res)
    assert re.search(rf"backup_id: '?{first_id}", res.stdout), output(res)
    report = res.stdout[res.stdout.index("test_restore:"):]
    assert re.search(r"\bok: true", report) and re.search(r"\bdropped: true", report), output(res)
    assert int(re.search(r"\bfiles: '?(\d+)", report).group(1)) == int(
        re.search(r"\bfiles_expected: '?(\d+)", report).group(1)) > 0, output(res)
    with lab.connect() as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"verify_{DB}%",)).fetchall()
    assert left == []


def test_backup_verify_fails_on_a_backup_that_does_not_exist(instance):
    inv, _ids = instance
    res = run_playbook(inv, "backup_verify.yml", "--limit", HOST, "-e", "backup_id=20000101T000000Z-000000")
    assert res.returncode != 0, output(res)
    assert "20000101T000000Z-000000" in res.stdout and re.search(r"FAILED\s+verification", res.stdout), output(res)


def test_the_verify_cronjob_beside_the_nightly_one(instance):
    cj = kget("cronjob", "odoo-backup-verify")
    assert cj is not None
    spec = cj["spec"]
    assert spec["schedule"] == VERIFY_SCHEDULE and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["ansible-playbook", "governed.odoo.backup_verify", "-e",
                                    "@/etc/governed-odoo-backup/verify-vars.json"]
    assert container["image"] == kget("cronjob", "odoo-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]["image"]
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == ["odoo-backup", "odoo-backup-verify"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    # the nightly backup's pods never see the test restore's login
    nightly = kget("cronjob", "odoo-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert [e["secretRef"]["name"] for e in nightly["envFrom"]] == ["odoo-backup"]
    settings = json.loads(kget("configmap", "odoo-backup")["data"]["verify-vars.json"])
    assert settings["verify_test_restore"] is True and settings["verify_level"] == "full"
    assert settings["governed_odoo_backup_in_cluster"] is True and settings["backup_bucket"] == BACKUPS
    conn = json.loads((LAB_DIR / "connection.json").read_text())["postgres"]["primary"]
    assert settings["backup_verify_restore"]["user"] == conn["user"]
    assert len(conn["password"]) < 8 or conn["password"] not in json.dumps(settings)
    assert "GOVERNED_ODOO_VERIFY_PGPASSWORD" in kget("secret", "odoo-backup-verify")["data"]


def test_the_verify_cronjob_command_verifies_and_test_restores(instance, lab):
    """The pod's command, run here with its ConfigMap's settings and its Secrets as environment."""
    _inv, (_first_id, second_id) = instance
    cj = kget("cronjob", "odoo-backup-verify")
    command = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    env = {}
    for name in ("odoo-backup", "odoo-backup-verify"):
        env.update({k: base64.b64decode(v).decode() for k, v in kget("secret", name)["data"].items()})
    with tempfile.TemporaryDirectory() as tmp:
        settings = Path(tmp) / "verify-vars.json"
        settings.write_text(kget("configmap", "odoo-backup")["data"]["verify-vars.json"])
        argv = [str(ROOT / ".venv" / "bin" / command[0]), *command[1:-1], f"@{settings}"]
        res = subprocess.run(argv, capture_output=True, text=True, cwd=tmp, check=False, timeout=1500,
                             env=play_env(**env, HOME=tmp, PATH=f"{ROOT / '.venv' / 'bin'}:{lab.bin_dir}:"
                                          f"{os.environ.get('PATH', '')}"))
    assert res.returncode == 0, output(res)
    assert re.search(rf"backup_id: '?{second_id}", res.stdout), output(res)
    report = res.stdout[res.stdout.index("test_restore:"):]
    assert re.search(r"\bok: true", report) and re.search(r"\bdropped: true", report), output(res)


def test_an_invalid_verify_schedule_is_refused_before_any_change(instance):
    inv, _ids = instance
    version = kget("cronjob", "odoo-backup-verify")["metadata"]["resourceVersion"]
    res = run_playbook(inv, "backup.yml", "-e", "governed_odoo_backup_now=false", "-e",
                       "backup_verify_schedule='0 4 * * 8'")
    assert res.returncode != 0, output(res)
    assert "backup_verify_schedule" in res.stdout and "day of week 8" in res.stdout, output(res)
    cj = kget("cronjob", "odoo-backup-verify")
    assert cj["metadata"]["resourceVersion"] == version and cj["spec"]["schedule"] == VERIFY_SCHEDULE
