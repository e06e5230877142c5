"""playbooks/report.yml on evidence made by real runs on the lab, checked in headless Chromium.

Evidence: an Odoo-shaped production database backed up twice by governed.odoo.backup into an object-locked bucket,
a disaster-recovery drill of it (playbooks/dr_drill.yml, its report in a directory), and audit records (two
promotions and a refusal) written by governed.odoo.audit_record into another object-locked bucket. The report is
rendered by the playbook, opened in Chromium (``--dump-dom``: the DOM the browser built) and photographed into
tests/output/governance-report.png. Then a record of the stored trail is edited (a new version over it, what a
locked bucket still allows) and the report, rendered again, says so first, in red
(tests/output/governance-report-tampered.png).

Buckets are the test's own (GOVERNANCE retention of one day, so that it can remove what it wrote).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from backup_lab import run_module
from restore_lab import REPO, BackupLab, lab_kube, run_playbook
from restore_lab import lab as lab_connection

pytestmark = pytest.mark.lab

ENV = "prod"
IMAGE = "docker.io/library/odoo@sha256:" + "ab" * 32
OUTPUT = REPO / "tests" / "output"


def chromium():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    return found


def browser(*args):
    # a fresh profile each time: two runs of the test never share one
    profile = Path(f"/tmp/governed-odoo-chromium-{secrets.token_hex(4)}")
    try:
        proc = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def evidence(tmp_path_factory):
    import odoo_dataset

    cp = lab_kube()
    tmp = tmp_path_factory.mktemp("report")
    lab = BackupLab(tmp, ENV, object_lock=True)
    audit_bucket = f"gr-audit-{lab.tag}"
    try:
        lab.client.create_bucket(Bucket=audit_bucket, ObjectLockEnabledForBucket=True)
        lab.buckets.append(audit_bucket)
        odoo_dataset.generate(
            lab.dsn(), lab.src, str(lab.src_files), 4 * 2**20, 40, 2 * 2**20, jobs=2, log=lambda m: None
        )
        # two backups by the backup module
        backup_ids = []
        for _unused in range(2):
            args = dict(
                lab.pg,
                **lab.s3,
                environment=ENV,
                db=lab.src,
                filestore_path=str(lab.src_files),
                bucket=lab.bucket,
                object_lock_mode="GOVERNANCE",
                object_lock_days=1,
                pg_bin_dir=lab_connection()["postgres"].get("bin_dir") or "/usr/lib/postgresql/15/bin",
            )
            res, _err = run_module("backup", args)
            assert not res.get("failed"), res
            backup_ids.append(res["backup_id"])
            time.sleep(1.1)  # backup ids have second resolution
        # a disaster-recovery drill of the newest
        reports = tmp / "drill-reports"
        proc = run_playbook(
            "dr_drill.yml",
            {
                "drill_store": dict(lab.s3, bucket=lab.bucket),
                "drill_source": {
                    "environment": ENV,
                    "database": lab.src,
                    "postgres": lab.pg,
                    "filestore_path": str(lab.src_files),
                },
                "drill_target": {
                    "kube": {"kubeconfig": cp["kubeconfig"]},
                    "postgres": lab.pg,
                    "filestore_path": str(tmp / "drill-data"),
                    "image": IMAGE,
                },
                "drill_report_dir": str(reports),
            },
        )
        assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
        # the audit trail: two promotions and a refusal, in the locked bucket
        key = Ed25519PrivateKey.generate()
        key_path = tmp / "audit.key"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        events = [
            {
                "kind": "promotion",
                "environment": ENV,
                "instance": "civil-prod",
                "release": {"id": "2026.12.0"},
                "approvers": ["alice", "bob"],
                "window": {"name": "weekly", "start": "Sat 06:00", "end": "Sat 10:00"},
                "deployer": "release-bot",
            },
            {
                "kind": "refusal",
                "environment": ENV,
                "instance": "civil-prod",
                "release": {"id": "2026.12.1"},
                "gates": [{"rule": "release.window", "ok": False, "message": "freeze finance: Month-end close"}],
            },
            {
                "kind": "promotion",
                "environment": ENV,
                "instance": "civil-prod",
                "release": {"id": "2026.12.2"},
                "approvers": ["carol"],
                "window": "emergency change 4711",
                "deployer": "release-bot",
            },
        ]
        for event in events:
            res, _err = run_module(
                "audit_record",
                dict(
                    lab.s3,
                    bucket=audit_bucket,
                    prefix="audit/prod/",
                    signing_key_path=str(key_path),
                    lock_mode="GOVERNANCE",
                    retention_days=1,
                    event=event,
                ),
            )
            assert not res.get("failed"), res
        yield {
            "lab": lab,
            "tmp": tmp,
            "audit_bucket": audit_bucket,
            "public_key": chain.public_pem(key),
            "drill_reports": reports,
            "backup_ids": backup_ids,
        }
    finally:
        lab.cleanup()


def render(ev, name):
    out = ev["tmp"] / name
    proc = run_playbook(
        "report.yml",
        {
            "governed_odoo_report_dir": str(out),
            "governed_odoo_report_audit": {
                "bucket": ev["audit_bucket"],
                "prefix": "audit/prod/",
                "public_keys": [ev["public_key"]],
            },
            "governed_odoo_report_backup_stores": [{"bucket": ev["lab"].bucket}],
            "governed_odoo_report_s3": ev["lab"].s3,
            "governed_odoo_report_drills_dir": str(ev["drill_reports"]),
            "governed_odoo_report_environments": [ENV],
            "governed_odoo_report_backup_max_age": {ENV: 6 * 3600},
        },
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert ev["lab"].s3["secret_key"] not in proc.stdout + proc.stderr
    return json.loads((out / "governance-report.json").read_text()), out / "governance-report.html"


def test_the_report_of_real_runs_in_a_browser(evidence):
    report, page = render(evidence, "clean")
    assert report["audit"]["ok"] is True and report["audit"]["length"] == 3
    prod = report["environments"][0]
    assert prod["name"] == ENV
    assert prod["running"]["release"] == "2026.12.2"
    assert [p["release"] for p in prod["promotions"]] == ["2026.12.2", "2026.12.0"]
    assert prod["promotions"][1]["approvers"] == ["alice", "bob"]
    assert prod["refusals"][0]["reasons"] == ["release.window: freeze finance: Month-end close"]
    # freshness against the target, whatever the machine's speed made the age
    assert prod["backup"]["count"] == 2 and prod["backup"]["age_seconds"] >= 0
    assert prod["backup"]["fresh"] is (prod["backup"]["age_seconds"] <= 6 * 3600)
    drill = prod["drill"]["latest"]
    assert drill["result"] == "pass" and drill["rto_seconds"] > 0
    assert drill["rto_target_seconds"] == 3600 and drill["rto_met"] is (drill["rto_seconds"] <= 3600)
    assert drill["rpo_target_seconds"] == 86400 and drill["rpo_met"] is (drill["rpo_seconds"] <= 86400)
    # both promotions were recorded just now (in one month, or two when the test runs across midnight of a month's end)
    assert sum(m["total"] for m in report["promotions_per_month"]) == 2

    dom = browser("--dump-dom", page.as_uri())
    assert re.search(r'<div class="banner good" id="audit-status">Audit trail verified: 3 signed', dom)
    assert 'id="overview"' in dom and 'data-environment="prod"' in dom and "2026.12.2" in dom
    assert "freeze finance: Month-end close" in dom and "alice, bob" in dom
    for chart in ("promotions-per-month", "backup-age-prod", "drill-rto-prod"):
        assert re.search(rf'<svg class="chart" id="{chart}"', dom), chart
    assert dom.count('class="bar"') == len(report["promotions_per_month"]) and 'class="point"' in dom
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "governance-report.png"
    shot.unlink(missing_ok=True)
    browser("--window-size=1200,2600", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000

    # someone edits the refusal in the locked bucket (a new version over it: object lock allows that)
    client, bucket = evidence["lab"].client, evidence["audit_bucket"]
    key = "audit/prod/records/000000000002.json"
    record = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    record["event"]["gates"][0]["ok"] = True
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(record).encode())

    report, page = render(evidence, "tampered")
    assert report["audit"]["ok"] is False
    assert report["attention"][0]["severity"] == "critical"
    kinds = {p["kind"] for p in report["audit"]["problems"]}
    assert {"overwritten", "edited"} <= kinds, report["audit"]["problems"]
    dom = browser("--dump-dom", page.as_uri())
    body = dom[dom.index("<main>") + len("<main>") :]
    assert body.startswith('<div class="banner critical" id="audit-status" role="alert">The audit trail FAILS')
    assert "record 2" in body[: body.index("<h1>")]
    shot = OUTPUT / "governance-report-tampered.png"
    shot.unlink(missing_ok=True)
    browser("--window-size=1200,1400", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000
