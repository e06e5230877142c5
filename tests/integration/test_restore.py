"""governed.odoo.restore against the lab: real PostgreSQL 15, real SeaweedFS S3, backups written by the
backup engine (module_utils/backup/engine.py) from a generated Odoo-shaped dataset.

What is shown here:
* round trip: data equal table by table (content hashes), every attachment byte for byte;
* the switch: an existing environment database is replaced in one transaction, the previous one
  kept (or dropped), the filestore switched with it;
* refusals leave the target untouched: a corrupted dump object, a corrupted filestore object, a
  truncated object, an altered manifest, a production database without the explicit flag;
* a restore killed with SIGKILL (during the download, during pg_restore, inside the switch's
  transaction) leaves the environment serving the previous database, and a retry succeeds;
* check mode verifies every object and changes nothing;
* the latest backup before a time, a named backup, an encrypted backup.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

import pytest
from restore_lab import REPO, BackupLab, drop_databases, pg_dsn

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.restore import flow, tablecheck
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import (
    BackupNotFound,
    IntegrityError,
    RefusedError,
)

pytestmark = pytest.mark.lab

ENV = "production"


# --------------------------------------------------------------------------------------------
# fixtures: one generated source database + filestore, backed up twice, in a bucket of its own
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    import odoo_dataset

    tmp = tmp_path_factory.mktemp("restore")
    lab = BackupLab(tmp, ENV)
    try:
        odoo_dataset.generate(f"{pg_dsn(lab.server)}", lab.src, str(lab.src_files), 16 * 2**20, 240, 12 * 2**20,
                              jobs=2, log=lambda m: None)
        first = lab.backup()
        time.sleep(1.1)  # backup ids have second resolution
        with lab.connect(lab.src) as c:
            c.execute("UPDATE res_partner SET write_date = now() AT TIME ZONE 'UTC', name = name || ' (2)' "
                      "WHERE id = 1")
        second = lab.backup()
        lab.backups = [first, second]
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture
def env(lab, tmp_path):
    """An existing environment: database <name> restored from the first backup, marked, with its filestore."""
    name = f"rt_env_{secrets.token_hex(3)}_{lab.tag}"
    data = tmp_path / "data"
    flow.run(lab.store(), lab.options(name, data, backup_id=lab.backups[0]["backup_id"]))
    with lab.connect(name) as c:
        c.execute("CREATE TABLE zz_marker (note text)")
        c.execute("INSERT INTO zz_marker VALUES ('the environment before the restore')")
    (data / "filestore" / name / "zz").mkdir()
    (data / "filestore" / name / "zz" / "only-in-the-old-environment").write_text("old")
    yield name, data
    drop_databases(lab.server, lambda n: n == name or n.startswith(name + "__"))


def marker(lab, db):
    with lab.connect(db) as c:
        exists = c.execute("SELECT to_regclass('zz_marker') IS NOT NULL").fetchone()[0]
        return c.execute("SELECT note FROM zz_marker").fetchone()[0] if exists else None


def databases(lab, prefix):
    with lab.connect("postgres") as c:
        rows = c.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)).fetchall()
        return sorted(r[0] for r in rows)


# --------------------------------------------------------------------------------------------
# round trip and switch
# --------------------------------------------------------------------------------------------
def test_round_trip_equal_data_and_attachments(lab, tmp_path):
    target = f"rt_copy_{lab.tag}"
    data = tmp_path / "data"
    res = flow.run(lab.store(), lab.options(target, data, copy=False, neutralize="sql",
                                            compare_to=dict(lab.pg, db=lab.src, filestore_path=str(lab.src_files))))
    try:
        assert res["switched"] and res["backup"]["backup_id"] == lab.backups[1]["backup_id"]
        db = res["database"]
        assert db["manifest"]["ok"] and db["source"]["ok"]
        assert db["source"]["hashes_compared"] == db["tables"] >= 15
        att = res["attachments"]
        assert att["ok"] and att["checked"] == 240 and att["bytes"] == sum(
            p.stat().st_size for p in lab.src_files.rglob("*") if p.is_file())
        assert "byte for byte" in att["reference"]
        # independently of the module: every file identical, every table identical (before neutralization
        # changed ir_mail_server/ir_cron/ir_config_parameter)
        restored = data / "filestore" / target
        src_files = sorted(p.relative_to(lab.src_files) for p in lab.src_files.rglob("*") if p.is_file())
        assert sorted(p.relative_to(restored) for p in restored.rglob("*") if p.is_file()) == src_files
        for rel in src_files:
            assert (restored / rel).read_bytes() == (lab.src_files / rel).read_bytes()
        with lab.connect(lab.src) as a, lab.connect(target) as b:
            fa, fb = tablecheck.fingerprint(a), tablecheck.fingerprint(b)
        changed = {t for t in fa if fa[t] != fb.get(t)}
        assert changed <= {"ir_mail_server", "ir_cron", "ir_config_parameter"}
        assert [p["name"] for p in res["phases"]] == [
            "select backup", "guard", "preflight", "fetch and restore", "verify database", "verify attachments",
            "identity and neutralization", "switch", "after switch"]
        assert res["neutralization"]["verification"]["ok"]
    finally:
        drop_databases(lab.server, lambda n: n == target)


def test_switch_replaces_the_environment_and_keeps_the_previous(lab, env):
    name, data = env
    res = flow.run(lab.store(), lab.options(name, data))
    assert res["switched"] and res["previous"] and res["previous"].startswith(name + "__prev_")
    assert marker(lab, name) is None  # the restored database serves under the name now
    assert marker(lab, res["previous"]) == "the environment before the restore"
    live = data / "filestore" / name
    assert not (live / "zz").exists()  # pruned from the live filestore ...
    assert (data / "filestore" / res["previous"] / "zz" / "only-in-the-old-environment").exists()  # ... kept here
    assert not (data / "filestore" / (name + "__restore_")).exists()
    assert databases(lab, name + "__restore_") == []
    with lab.connect(name) as c:
        fnames = {r[0] for r in c.execute("SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname IS NOT "
                                          "NULL").fetchall()}
    on_disk = {str(p.relative_to(live)) for p in live.rglob("*") if p.is_file()}
    assert on_disk == fnames


def test_drop_previous_after_switch(lab, env):
    name, data = env
    res = flow.run(lab.store(), lab.options(name, data, keep_previous=False))
    assert res["switched"] and res["previous"] is None and res["previous_dropped"].startswith(name + "__prev_")
    assert databases(lab, name + "__") == []
    assert sorted(p.name for p in (data / "filestore").iterdir()) == [name]


def test_check_mode_verifies_everything_and_changes_nothing(lab, env):
    name, data = env
    before = databases(lab, name)
    files_before = sorted(str(p) for p in data.rglob("*"))
    res = flow.run(lab.store(), lab.options(name, data, check_mode=True))
    assert res["changed"] and not res["switched"]
    assert res["verified_objects"]["filestore_files"] == 240
    assert res["plan"]["restore_into"].startswith(name + "__restore_")
    assert databases(lab, name) == before
    assert sorted(str(p) for p in data.rglob("*")) == files_before
    assert marker(lab, name) == "the environment before the restore"


# --------------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------------
def test_latest_before_a_time_and_named_backup(lab, tmp_path):
    first, second = lab.backups
    store = lab.store()
    t_first = fmt.backup_id_time(first["backup_id"])
    from ansible_collections.governed.odoo.plugins.module_utils.restore import selection

    ref, _m = selection.load(store, ENV, lab.src, before=t_first.isoformat())
    assert ref.backup_id == first["backup_id"]
    ref, _m = selection.load(store, ENV, lab.src, before=(t_first + dt.timedelta(days=1)).isoformat())
    assert ref.backup_id == second["backup_id"]
    ref, _m = selection.load(store, ENV, lab.src, backup_id=first["backup_id"])
    assert ref.backup_id == first["backup_id"]
    with pytest.raises(BackupNotFound):
        selection.load(store, ENV, lab.src, before="2001-01-01T00:00:00Z")
    with pytest.raises(BackupNotFound):
        selection.load(store, ENV, lab.src, backup_id="20010101T000000Z-000000")


# --------------------------------------------------------------------------------------------
# refusals leave the target untouched
# --------------------------------------------------------------------------------------------
def _copy_backup(lab, backup_id, new_id):
    """A copy of a backup under another id (same objects), so a test can damage it alone."""
    store = lab.store()
    m = store.read_manifest(ENV, lab.src, backup_id)
    old_prefix, new_prefix = m.prefix, fmt.backup_prefix(ENV, lab.src, new_id)
    data = json.loads(json.dumps(m.data))
    data["backup_id"] = new_id
    for obj in data["objects"]:
        if not obj["key"].startswith(old_prefix):
            continue  # a table archive under dbdata/: shared, referenced as it is
        new_key = obj["key"].replace(old_prefix, new_prefix)
        lab.client.copy_object(Bucket=lab.bucket, Key=new_key, CopySource={"Bucket": lab.bucket, "Key": obj["key"]})
        obj["key"] = new_key
    data["filestore"]["index"] = data["filestore"].get("index", "").replace(old_prefix, new_prefix)
    lab.client.put_object(Bucket=lab.bucket, Key=new_prefix + fmt.MANIFEST_NAME, Body=fmt.encode_manifest(data))
    return data


def _untouched(lab, name, data, files_before):
    assert marker(lab, name) == "the environment before the restore"
    assert databases(lab, name + "__") == []
    assert sorted(str(p) for p in data.rglob("*")) == files_before


def test_corrupted_dump_object_is_refused(lab, env):
    name, data = env
    new_id = "20300101T000000Z-c0ffee"
    m = _copy_backup(lab, lab.backups[1]["backup_id"], new_id)
    dump = next(o for o in m["objects"] if o["role"] == "dump")
    body = bytearray(lab.client.get_object(Bucket=lab.bucket, Key=dump["key"])["Body"].read())
    body[len(body) // 2] ^= 0xFF  # same size, one byte flipped
    lab.client.put_object(Bucket=lab.bucket, Key=dump["key"], Body=bytes(body))
    files_before = sorted(str(p) for p in data.rglob("*"))
    try:
        with pytest.raises(IntegrityError, match="does not match its manifest"):
            flow.run(lab.store(), lab.options(name, data, backup_id=new_id))
        _untouched(lab, name, data, files_before)
    finally:
        _delete_prefix(lab, fmt.backup_prefix(ENV, lab.src, new_id))


def test_corrupted_table_archive_is_refused(lab, env):
    """A large table's own archive (format version 2), damaged: refused, the environment untouched."""
    name, data = env
    new_id = "20300101T000000Z-7ab1e0"
    m = _copy_backup(lab, lab.backups[1]["backup_id"], new_id)
    tables = [o for o in m["objects"] if o["role"] == "table-data"]
    assert tables, "the restore lab writes format version 2 backups"
    obj = max(tables, key=lambda o: o["size"])
    body = bytearray(lab.client.get_object(Bucket=lab.bucket, Key=obj["key"])["Body"].read())
    body[len(body) // 2] ^= 0xFF  # same size, one byte flipped, in a copy of its own
    obj["key"] = fmt.table_object_key(new_id, 99, "zstd", False)
    lab.client.put_object(Bucket=lab.bucket, Key=obj["key"], Body=bytes(body))
    lab.client.put_object(Bucket=lab.bucket, Key=fmt.backup_prefix(ENV, lab.src, new_id) + fmt.MANIFEST_NAME,
                          Body=fmt.encode_manifest(m))
    files_before = sorted(str(p) for p in data.rglob("*"))
    try:
        with pytest.raises(IntegrityError):
            flow.run(lab.store(), lab.options(name, data, backup_id=new_id))
        _untouched(lab, name, data, files_before)
    finally:
        _delete_prefix(lab, fmt.backup_prefix(ENV, lab.src, new_id))
        lab.client.delete_object(Bucket=lab.bucket, Key=obj["key"])


def test_truncated_dump_object_is_refused_before_download(lab, env):
    name, data = env
    new_id = "20300101T000001Z-c0ffee"
    m = _copy_backup(lab, lab.backups[1]["backup_id"], new_id)
    dump = next(o for o in m["objects"] if o["role"] == "dump")
    body = lab.client.get_object(Bucket=lab.bucket, Key=dump["key"])["Body"].read()
    lab.client.put_object(Bucket=lab.bucket, Key=dump["key"], Body=body[: len(body) // 3])
    files_before = sorted(str(p) for p in data.rglob("*"))
    try:
        with pytest.raises(IntegrityError, match="incomplete or damaged") as err:
            flow.run(lab.store(), lab.options(name, data, backup_id=new_id))
        assert any("size" in p for p in err.value.details["problems"])
        _untouched(lab, name, data, files_before)
    finally:
        _delete_prefix(lab, fmt.backup_prefix(ENV, lab.src, new_id))


def test_altered_manifest_is_refused(lab, env):
    name, data = env
    new_id = "20300101T000002Z-c0ffee"
    _copy_backup(lab, lab.backups[1]["backup_id"], new_id)
    key = fmt.manifest_key(ENV, lab.src, new_id)
    doc = json.loads(lab.client.get_object(Bucket=lab.bucket, Key=key)["Body"].read())
    doc["database"]["tables"]["res_partner"] += 1  # a "small" edit; the seal no longer matches
    lab.client.put_object(Bucket=lab.bucket, Key=key, Body=json.dumps(doc).encode())
    files_before = sorted(str(p) for p in data.rglob("*"))
    try:
        with pytest.raises(IntegrityError, match="manifest"):
            flow.run(lab.store(), lab.options(name, data))  # the newest backup is the damaged one
        _untouched(lab, name, data, files_before)
    finally:
        _delete_prefix(lab, fmt.backup_prefix(ENV, lab.src, new_id))


def test_corrupted_filestore_object_is_refused(lab, env):
    name, data = env
    store = lab.store()
    m = store.read_manifest(ENV, lab.src, lab.backups[1]["backup_id"])
    keyspace, entries = store.read_index(m)
    victim = entries[len(entries) // 2]
    key = fmt.filestore_key(victim["sha1"], keyspace=keyspace)
    original = lab.client.get_object(Bucket=lab.bucket, Key=key)["Body"].read()
    damaged = bytearray(original)
    damaged[0] ^= 0x01
    lab.client.put_object(Bucket=lab.bucket, Key=key, Body=bytes(damaged))
    files_before = sorted(str(p) for p in data.rglob("*"))
    try:
        with pytest.raises(IntegrityError, match=victim["sha1"]):
            flow.run(lab.store(), lab.options(name, data))
        _untouched(lab, name, data, files_before)
    finally:
        lab.client.put_object(Bucket=lab.bucket, Key=key, Body=original)


def test_production_overwrite_needs_the_flag_and_is_audited(lab, env, tmp_path):
    name, data = env
    audit = tmp_path / "audit.jsonl"
    files_before = sorted(str(p) for p in data.rglob("*"))
    with pytest.raises(RefusedError, match="allow_production_overwrite"):
        flow.run(lab.store(), lab.options(name, data, target_environment="production", audit_log=str(audit)))
    _untouched(lab, name, data, files_before)
    assert not audit.exists()
    res = flow.run(lab.store(), lab.options(name, data, target_environment="production",
                                            allow_production_overwrite=True, audit_log=str(audit), actor="ops-oncall"))
    assert res["switched"] and res["neutralize_mode"] == "none" and res["copy"] is False
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["event"] for r in lines] == ["production_overwrite_authorized", "production_overwrite_done"]
    assert all(r["actor"] == "ops-oncall" and r["allow_production_overwrite"] for r in lines)
    assert lines[1]["previous_kept_as"] == res["previous"] and lines[0]["backup"] == res["backup"]["id"]
    # production is restored as it was: not neutralized, same identity
    with lab.connect(name) as c, lab.connect(lab.src) as s:
        q = "SELECT value FROM ir_config_parameter WHERE key = 'database.uuid'"
        assert c.execute(q).fetchone() == s.execute(q).fetchone()
        assert c.execute("SELECT count(*) FROM ir_mail_server WHERE active").fetchone()[0] == 2


def test_non_production_cannot_skip_neutralization(lab, env):
    name, data = env
    with pytest.raises(RefusedError, match="always neutralized"):
        flow.run(lab.store(), lab.options(name, data, neutralize="none"))


# --------------------------------------------------------------------------------------------
# killed midway
# --------------------------------------------------------------------------------------------
DRIVER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.governed.odoo.plugins.module_utils.backup import s3client
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import BackupStore
from ansible_collections.governed.odoo.plugins.module_utils.restore import flow
spec = json.loads(open(sys.argv[2]).read())
store = BackupStore(s3client.make_client(spec["s3"]), spec["bucket"], endpoint=spec["s3"]["endpoint_url"])
res = flow.run(store, flow.Options(**spec["options"]))
print(json.dumps({"switched": res["switched"], "previous": res.get("previous"),
                  "leftovers_removed": res.get("leftovers_removed")}))
"""


def _start_driver(lab, name, data, pause_at, marker_file):
    spec = {"s3": lab.s3, "bucket": lab.bucket,
            "options": dict(environment=ENV, db_name=lab.src, target=dict(lab.pg, db="postgres"), target_db=name,
                            target_environment="staging", filestore_path=str(data), workers=4)}
    env = dict(os.environ)
    if pause_at:
        env[flow.PAUSE_ENV] = f"{pause_at}:{marker_file}"
    spec_file = data.parent / f"driver-{secrets.token_hex(3)}.json"
    spec_file.write_text(json.dumps(spec))
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(REPO / "collections"), str(spec_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


@pytest.mark.parametrize("point", ["after_fetch", "during_pg_restore", "before_switch_commit"])
def test_restore_killed_midway_leaves_the_previous_database_serving(lab, env, tmp_path, point):
    name, data = env
    flag = tmp_path / "paused"
    proc = _start_driver(lab, name, data, point, flag)
    deadline = time.monotonic() + 240
    while not flag.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the restore never reached " + point
        time.sleep(0.1)
    if point == "during_pg_restore":  # let pg_restore get going
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the environment serves the previous database, with its files
    assert marker(lab, name) == "the environment before the restore"
    assert (data / "filestore" / name / "zz" / "only-in-the-old-environment").exists()
    with lab.connect(name) as c:
        fnames = [r[0] for r in c.execute("SELECT DISTINCT store_fname FROM ir_attachment WHERE store_fname IS NOT "
                                          "NULL").fetchall()]
    assert all((data / "filestore" / name / f).is_file() for f in fnames)
    # no pg_restore outlives the killed process
    time.sleep(1.0)
    with lab.connect("postgres") as c:
        assert c.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'governed.odoo pg_restore'"
                         ).fetchone()[0] == 0
    # a retry succeeds and removes what the killed run left behind
    proc = _start_driver(lab, name, data, None, None)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["switched"]
    if point != "after_fetch":
        assert any("__restore_" in x for x in result["leftovers_removed"]), result
    assert databases(lab, name + "__restore_") == []
    assert marker(lab, result["previous"]) == "the environment before the restore"


# --------------------------------------------------------------------------------------------
# encryption
# --------------------------------------------------------------------------------------------
def test_encrypted_backup_round_trip_and_wrong_key(lab, tmp_path):
    key = secrets.token_bytes(32)
    res_b = lab.backup(key=key)
    target = f"rt_enc_{lab.tag}"
    data = tmp_path / "data"
    try:
        with pytest.raises(RefusedError, match="encryption_key is required"):
            flow.run(lab.store(), lab.options(target, data, backup_id=res_b["backup_id"]))
        from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import RestoreError

        with pytest.raises(RestoreError, match="not the backup's"):
            flow.run(lab.store(), lab.options(target, data, backup_id=res_b["backup_id"],
                                              encryption_key=secrets.token_bytes(32)))
        assert databases(lab, target) == []
        res = flow.run(lab.store(), lab.options(target, data, backup_id=res_b["backup_id"], encryption_key=key))
        assert res["switched"] and res["backup"]["encrypted"] and res["attachments"]["ok"]
    finally:
        drop_databases(lab.server, lambda n: n == target or n.startswith(target + "__"))
        _delete_prefix(lab, fmt.backup_prefix(ENV, lab.src, res_b["backup_id"]))


def _delete_prefix(lab, prefix):
    paginator = lab.client.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=lab.bucket, Prefix=prefix):
        for v in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
            lab.client.delete_object(Bucket=lab.bucket, Key=v["Key"], VersionId=v["VersionId"])


def test_module_in_check_mode_and_for_real(lab, tmp_path):
    from _modrun import run_module

    target = f"rt_mod_{lab.tag}"
    data = tmp_path / "data"
    args = dict(lab.s3, bucket=lab.bucket, environment=ENV, database=lab.src, target_db=target,
                target_environment="qa", filestore_path=str(data), **lab.pg)
    try:
        res = run_module("restore", args, check_mode=True)
        assert res.get("changed") and not res.get("failed"), res
        assert databases(lab, target) == []
        res = run_module("restore", args)
        assert res["switched"] and not res.get("failed"), res
        assert lab.pg["login_password"] not in json.dumps(res)
        res = run_module("restore", dict(args, backup_id="20010101T000000Z-000000"))
        assert res["failed"] and res["error"] == "backup_not_found"
    finally:
        drop_databases(lab.server, lambda n: n == target or n.startswith(target + "__"))
        shutil.rmtree(data, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# neutralization by `odoo neutralize` in a Job (the lab's pods run nothing: the check must notice)
# --------------------------------------------------------------------------------------------
@pytest.fixture
def job_namespace():
    from restore_lab import lab_kube

    cp = lab_kube()
    ns = f"rt-neutralize-{secrets.token_hex(3)}"
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "odoo-conf", "namespace": ns},
             "stringData": {"odoo.conf": "[options]\ndb_host = 127.0.0.1\n"}}]
    subprocess.run([cp["kubectl"], "--kubeconfig", cp["kubeconfig"], "apply", "-f", "-"],
                   input="\n---\n".join(json.dumps(o) for o in objs), text=True, check=True, capture_output=True)
    yield cp, ns
    subprocess.run([cp["kubectl"], "--kubeconfig", cp["kubeconfig"], "delete", "namespace", ns, "--wait=false"],
                   check=False, capture_output=True)


def _job_options(lab, name, data, cp, ns, **job):
    from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kclient

    spec = {"namespace": ns, "image": "docker.io/library/odoo@sha256:" + "e" * 64, "config_secret": "odoo-conf",
            "timeout": 120}
    spec.update(job)
    return lab.options(name, data, job=spec, kube_client_factory=lambda: kclient.client_from_options(
        kubeconfig=cp["kubeconfig"]))


def test_job_that_did_not_neutralize_is_caught_and_nothing_switches(lab, env, job_namespace):
    from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import NeutralizationError

    name, data = env
    cp, ns = job_namespace
    files_before = sorted(str(p) for p in data.rglob("*"))
    with pytest.raises(NeutralizationError, match="not neutralized") as err:
        flow.run(lab.store(), _job_options(lab, name, data, cp, ns))
    failed = {c["name"] for c in err.value.details["verification"]["checks"] if not c["ok"]}
    assert failed == {"no active outgoing mail server", "crons off except the autovacuum",
                      "database.is_neutralized set"}  # uuid and secret were renewed by the restore itself
    _untouched(lab, name, data, files_before)


def test_failed_neutralize_job_refuses_the_restore(lab, env, job_namespace):
    from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import KubernetesError

    name, data = env
    cp, ns = job_namespace
    files_before = sorted(str(p) for p in data.rglob("*"))
    with pytest.raises(KubernetesError, match="failed"):
        flow.run(lab.store(), _job_options(lab, name, data, cp, ns,
                                           annotations={cp.get("fail_annotation", "lab.governed.odoo/fail"): "exit"}))
    _untouched(lab, name, data, files_before)


# --------------------------------------------------------------------------------------------
# filestore in a bucket (attachments in object storage), on the lab's second S3 endpoint
# --------------------------------------------------------------------------------------------
@pytest.fixture
def attachments_bucket(lab):
    import hashlib

    from ansible_collections.governed.odoo.plugins.module_utils.backup import s3client
    from restore_lab import lab_s3

    s3 = lab_s3("b")
    params = {"endpoint_url": s3["endpoint"], "access_key": s3["access_key"], "secret_key": s3["secret_key"],
              "region": s3.get("region") or "us-east-1"}
    client = s3client.make_client(params)
    bucket = f"rt-attachments-{secrets.token_hex(3)}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def listing(prefix):
        out = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents") or []:
                out[obj["Key"][len(prefix):]] = obj["Size"]
        return out

    def sha1_of(key):
        return hashlib.sha1(client.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()

    yield {"params": dict(params, bucket=bucket, prefix="inst/"), "client": client, "bucket": bucket,
           "listing": listing, "sha1_of": sha1_of}
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
            client.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    client.delete_bucket(Bucket=bucket)


def test_filestore_in_a_bucket(lab, attachments_bucket, tmp_path):
    b = attachments_bucket
    name = f"rt_s3_{lab.tag}"
    prefix = f"inst/{name}/"
    try:
        res = flow.run(lab.store(), lab.options(name, tmp_path, filestore_path=None, filestore_s3=b["params"],
                                                backup_id=lab.backups[0]["backup_id"]))
        assert res["switched"] and res["attachments"]["ok"] and res["attachments"]["checked"] == 240
        assert res["plan"]["filestore"] == f"s3://{b['bucket']}/{prefix}"
        objects = b["listing"](prefix)
        assert len(objects) == 240
        store = lab.store()
        _ks, entries = store.read_index(store.read_manifest(ENV, lab.src, lab.backups[0]["backup_id"]))
        assert {e["fname"]: e["size"] for e in entries} == objects
        for e in entries[:5]:
            assert b["sha1_of"](prefix + e["fname"]) == e["sha1"]
        # the old environment had a file the backup does not: kept by default, pruned on request
        b["client"].put_object(Bucket=b["bucket"], Key=prefix + "zz/only-in-the-old-environment", Body=b"old")
        res = flow.run(lab.store(), lab.options(name, tmp_path, filestore_path=None, filestore_s3=b["params"]))
        assert res["switched"] and res["filestore_switch"]["uploaded"] == 0  # every file was there already
        assert "zz/only-in-the-old-environment" in b["listing"](prefix)
        res = flow.run(lab.store(), lab.options(name, tmp_path, filestore_path=None, filestore_s3=b["params"],
                                                filestore_prune=True))
        assert res["filestore_switch"]["removed"] == 1 and len(b["listing"](prefix)) == 240
    finally:
        drop_databases(lab.server, lambda n: n == name or n.startswith(name + "__"))


def test_filestore_in_a_bucket_refused_restore_takes_its_files_back(lab, attachments_bucket, tmp_path):
    b = attachments_bucket
    name = f"rt_s3f_{lab.tag}"
    store = lab.store()
    m = store.read_manifest(ENV, lab.src, lab.backups[1]["backup_id"])
    keyspace, entries = store.read_index(m)
    victim = entries[-1]
    key = fmt.filestore_key(victim["sha1"], keyspace=keyspace)
    original = lab.client.get_object(Bucket=lab.bucket, Key=key)["Body"].read()
    lab.client.put_object(Bucket=lab.bucket, Key=key, Body=bytes([original[0] ^ 1]) + original[1:])
    try:
        with pytest.raises(IntegrityError):
            flow.run(lab.store(), lab.options(name, tmp_path, filestore_path=None, filestore_s3=b["params"]))
        assert b["listing"](f"inst/{name}/") == {}
        assert databases(lab, name) == []
    finally:
        lab.client.put_object(Bucket=lab.bucket, Key=key, Body=original)
        drop_databases(lab.server, lambda n: n == name or n.startswith(name + "__"))
