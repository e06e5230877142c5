"""playbooks/dr_drill.yml against the lab: the latest production backup restored into an isolated drill
namespace and database, verified (content hashes per table, every attachment byte for byte), RTO and
RPO measured, a JSON and an HTML report written, and everything torn down -- also when the drill fails. Each drill,
passed or failed, is one signed `restore` record in the instance's audit trail (promote_audit), verified.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import psycopg
import pytest
from node_lab import chromium
from restore_lab import LAB_DIR, REPO, BackupLab, audit_records, audit_trail, lab_kube, run_playbook

sys.path.insert(0, str(REPO / "collections"))

pytestmark = pytest.mark.lab

ENV = "prod"
IMAGE = "docker.io/library/odoo@sha256:" + "ab" * 32


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    import odoo_dataset

    cp = lab_kube()
    lab = BackupLab(tmp_path_factory.mktemp("drill"), ENV)
    try:
        odoo_dataset.generate(lab.dsn(), lab.src, str(lab.src_files), 12 * 2**20, 160, 8 * 2**20, jobs=2,
                              log=lambda m: None)
        lab.backup_result = lab.backup()
        lab.cp = cp
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture
def audit(lab, tmp_path):
    return audit_trail(lab, tmp_path)


def audited(audit):
    """The variables that give the drilled instance its audit trail."""
    return {**audit["vars"], "promote_audit": audit["location"], "promote_audit_signing_key": audit["key"]}


def drill_vars(lab, tmp_path, **extra):
    out = {
        "drill_store": dict(lab.s3, bucket=lab.bucket),
        "drill_source": {"environment": ENV, "database": lab.src, "postgres": lab.pg,
                         "filestore_path": str(lab.src_files)},
        "drill_target": {"kube": {"kubeconfig": lab.cp["kubeconfig"]}, "postgres": lab.pg,
                         "filestore_path": str(tmp_path / "drill-data"), "image": IMAGE},
        "drill_report_dir": str(tmp_path / "reports"),
    }
    out.update(extra)
    return out


def nothing_left(lab, report, tmp_path):
    ns = report["target"]["namespace"]
    proc = subprocess.run([lab.cp["kubectl"], "--kubeconfig", lab.cp["kubeconfig"], "get", "namespace", ns],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "NotFound" in proc.stderr
    with lab.connect("postgres") as c:
        assert c.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                         (report["target"]["db_name"] + "%",)).fetchone()[0] == 0
        role = "drill_" + report["drill_id"][:8] + report["drill_id"][9:15]
        assert c.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)).fetchone()[0] == 0
    assert not (tmp_path / "drill-data" / "filestore" / report["target"]["db_name"]).exists()


def load_report(tmp_path):
    reports = sorted((tmp_path / "reports").glob("drill-*.json"))
    assert len(reports) == 1, reports
    html = reports[0].with_suffix(".html")
    assert html.exists()
    return json.loads(reports[0].read_text()), html


def pushgateway_group(pushgw, instance):
    """The lab Pushgateway's samples of the drill group of ``instance`` ({name: value}), or None."""
    with urllib.request.urlopen(f"{pushgw}/api/v1/metrics", timeout=30) as resp:
        data = json.loads(resp.read())["data"]
    for group in data:
        if group["labels"].get("job") == "governed_odoo_drill" and group["labels"].get("odoo_instance") == instance:
            return {name: float(fam["metrics"][0]["value"]) for name, fam in group.items()
                    if isinstance(fam, dict) and fam.get("metrics") and not name.startswith("push_")}
    return None


def test_drill_passes_measures_and_tears_down(lab, tmp_path, audit):
    pushgw = (json.loads((LAB_DIR / "connection.json").read_text()).get("prometheus") or {}).get("pushgateway_url")
    assert pushgw, "the lab has no Pushgateway: scripts/lab up starts it with Prometheus"
    t0 = time.time()
    proc = run_playbook("dr_drill.yml", drill_vars(lab, tmp_path, drill_pushgateway_url=pushgw, **audited(audit)))
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    report, html = load_report(tmp_path)
    (record,) = audit_records(audit)
    event = record["event"]
    assert (event["kind"], event["operation"], event["outcome"]) == ("restore", "dr_drill", "succeeded")
    assert event["source"]["database"] == lab.src and event["target"]["namespace"] == report["target"]["namespace"]
    assert event["neutralized"] is True and event["environment"] == "drill"
    # published for the monitoring role's drill alerts and dashboard: the drill's own figures, grouped by instance
    # (a drill without inventory names the instance after its source database)
    try:
        pushed = pushgateway_group(pushgw, lab.src)
    finally:
        urllib.request.urlopen(urllib.request.Request(
            f"{pushgw}/metrics/job/governed_odoo_drill/odoo_instance/{lab.src}", method="DELETE"), timeout=30)
    assert pushed is not None, "the drill pushed nothing"
    assert pushed["governed_odoo_drill_success"] == 1.0
    assert pushed["governed_odoo_drill_rto_seconds"] == pytest.approx(report["rto"]["seconds"])
    assert pushed["governed_odoo_drill_rto_target_seconds"] == 3600.0
    assert pushed["governed_odoo_drill_rpo_seconds"] == 0.0
    assert pushed["governed_odoo_drill_last_run_timestamp_seconds"] >= t0
    assert report["result"] == "pass", report["failures"]
    # RTO: from the start to verified, within the wall time of the run
    assert 0 < report["rto"]["seconds"] <= time.time() - t0 and report["rto"]["met"]
    # RPO: the source was not written after the backup
    assert report["rpo"]["backup_at"] == report["backup"]["created_at"]
    assert report["rpo"]["seconds"] == 0 and report["rpo"]["upper_bound_seconds"] > 0
    assert report["rpo"]["source_latest_write_at"] is not None
    # data: every table by content hash against the source, every attachment byte for byte
    db = report["database"]
    assert db["ok"] and db["hashes_compared"] == len(db["tables"]) >= 15
    att = report["attachments"]
    assert att["ok"] and att["checked"] == 160 and "byte for byte" in att["reference"]
    assert report["neutralization"]["ok"]
    assert report["smoke"]["ok"] and len(report["smoke"]["checks"]) == 4
    assert report["teardown"]["ok"]
    names = [p["name"] for p in report["phases"]]
    assert names[0] == "drill environment setup" and "fetch and restore" in names and names[-1] == "smoke test"
    nothing_left(lab, report, tmp_path)
    # the page: self-contained, readable
    page = html.read_text()
    assert "<script" not in page and not re.search(r"(src|href)=\"?https?://", page)
    assert "PASS" in page and lab.src in page and "Recovery time (RTO)" in page
    assert lab.pg["login_password"] not in page and lab.pg["login_password"] not in proc.stdout
    shot = tmp_path / "drill.png"
    chromium("--window-size=1200,2000", f"--screenshot={shot}", html.as_uri())
    assert shot.exists() and shot.stat().st_size > 20000  # a rendered page, not a blank one


def test_drill_that_fails_verification_reports_it_and_still_tears_down(lab, tmp_path, audit):
    # a write on the source after the backup: the restored copy no longer equals the live source
    with lab.connect(lab.src) as c:
        c.execute("INSERT INTO res_partner (name, write_date) VALUES ('written after the backup', "
                  "now() AT TIME ZONE 'UTC')")
    try:
        proc = run_playbook("dr_drill.yml", drill_vars(lab, tmp_path, **audited(audit)))
        assert proc.returncode != 0
        report, html = load_report(tmp_path)
        assert report["result"] == "fail"
        assert any("res_partner" in f for f in report["failures"]), report["failures"]
        # recorded before the play failed: one signed record, failed, with the reason and no secret
        (record,) = audit_records(audit)
        assert record["event"]["outcome"] == "failed" and record["event"]["ok"] is False
        assert "res_partner" in record["event"]["reason"] and lab.pg["login_password"] not in json.dumps(record)
        assert report["rpo"]["seconds"] > 0  # the write after the backup is the data-loss window
        assert report["teardown"]["ok"]
        nothing_left(lab, report, tmp_path)
        assert "FAIL" in html.read_text()
    finally:
        with lab.connect(lab.src) as c:
            c.execute("DELETE FROM res_partner WHERE name = 'written after the backup'")


def test_drill_without_the_live_source_uses_the_manifest(lab, tmp_path):
    proc = run_playbook("dr_drill.yml", drill_vars(lab, tmp_path, drill_compare_to_source=False))
    assert proc.returncode == 0, proc.stdout[-5000:]
    report, _html = load_report(tmp_path)
    assert report["result"] == "pass"
    assert "manifest" in report["database"]["reference"]
    assert report["attachments"]["checked"] == 160 and "SHA-1" in report["attachments"]["reference"]
    with psycopg.connect(lab.dsn()) as c:
        assert c.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                         (lab.src + "_drill_%",)).fetchone()[0] == 0


def test_drill_that_verified_fewer_attachments_than_referenced_is_red_and_names_them(lab, tmp_path):
    """Issue 14, item 9: a backup that lacks a file its database references (accepted by the policy, so the backup
    was taken) restores, but its drill is red, and the JSON and HTML reports say which file was not verified."""
    with lab.connect(lab.src) as c:
        victim = c.execute("SELECT min(store_fname) FROM ir_attachment WHERE store_fname IS NOT NULL").fetchone()[0]
        referenced = c.execute("SELECT count(DISTINCT store_fname) FROM ir_attachment").fetchone()[0]
    path = lab.src_files / victim
    moved = tmp_path / "victim"
    shutil.move(str(path), str(moved))
    main_bucket = lab.bucket
    try:
        lab.use_bucket(f"rt-drill-gap-{lab.tag}")
        res = lab.backup(accept_missing_files=[victim])
        assert res["filestore"]["missing"] == [victim]
    finally:
        shutil.move(str(moved), str(path))
    try:
        proc = run_playbook("dr_drill.yml", drill_vars(lab, tmp_path))
        assert proc.returncode != 0
        report, html = load_report(tmp_path)
        assert report["result"] == "fail"
        gap = [f for f in report["failures"] if "attachment files verified" in f]
        assert gap and gap[0].startswith(f"only {referenced - 1} of {referenced} attachment files verified")
        assert victim in gap[0]
        assert report["attachments"]["missing_at_source"] == [victim]
        page = html.read_text()
        assert "FAIL" in page and f"{referenced - 1} of {referenced}" in page and victim in page
        assert "Missing at the source when the backup was taken" in page
        assert report["teardown"]["ok"]
        nothing_left(lab, report, tmp_path)
    finally:
        lab.bucket = main_bucket
