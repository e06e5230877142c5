"""playbooks/drift.yml against the lab: declared state (site.yml, rendered) against what runs, and staging against
production.

A tenant of its own, with a staging and a production instance (unique namespaces, databases, roles and buckets, a
GOVERNANCE object lock of one day so that everything can be removed afterwards), is provisioned with site.yml from
an inventory built on inventories/lab. Shown here:

* right after the converge, drift.yml reports no drift, even with governed_odoo_drift_fail=true, and its report (JSON
  and HTML) says so; staging against production lists the autoscaler and the replica counts as expected, and the
  image staging runs (another digest, on purpose) as an unexpected version difference;
* then, behind the collection's back: the staging web Deployment scaled, its image changed, a key of odoo.conf in
  its ConfigMap changed, a key of its database Secret changed, the CONNECT grant of its application role revoked,
  a lifecycle rule of its backups bucket changed. Each is reported with the object and the field that changed
  (the Secret by hash only: neither value is in the output or the report), in check mode too;
* governed_odoo_drift_fail=true makes the run fail; the drift runs changed nothing (each change is still there);
* site.yml run again repairs every one of those changes: in check mode it names them (and still changes nothing),
  for real it puts each back (the Deployment, the ConfigMap, the Secret, the grant, the lifecycle rule), and
  drift.yml then finds nothing, with governed_odoo_drift_fail=true.

The lab's kwok nodes run no containers: the objects are real on the real API server, their pods never run.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from backup_lab import LAB_DIR, Lab, wipe_bucket  # noqa: E402

RUN_ID = secrets.token_hex(3)
TENANT = f"dr{RUN_ID}"
STAGING, PROD = f"{TENANT}-staging", f"{TENANT}-prod"
NS = f"odoo-{STAGING}"
DB = f"{TENANT}_staging"
BUCKET_PREFIX = f"gdr-{RUN_ID}"
BUCKETS = [f"{BUCKET_PREFIX}-{env}-{kind}" for env in ("staging", "prod") for kind in ("attachments", "backups")]
STAGING_BACKUPS = f"{BUCKET_PREFIX}-staging-backups"
PROD_IMAGE = "docker.io/library/odoo@sha256:" + "8f" * 32
STAGING_IMAGE = "docker.io/library/odoo@sha256:" + "5a" * 32
HAND_IMAGE = "docker.io/library/odoo@sha256:" + "0e" * 32
HAND_PASSWORD = "hand-" + secrets.token_hex(12)

pytestmark = pytest.mark.lab


def kubectl(*args, stdin=None, check=True):
    conf = json.loads((LAB_DIR / "connection.json").read_text())
    argv = [conf["controlplane"]["kubectl"], "--kubeconfig", conf["controlplane"]["kubeconfig"], *args]
    res = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False, timeout=300)
    if check and res.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {res.stderr}")
    return res


def write_inventory(where: Path) -> Path:
    """Staging and production of one tenant, on the lab inventory's group_vars; their secrets beside the inventory."""
    lab_inv = ROOT / "inventories" / "lab"
    (where / "group_vars" / "all").mkdir(parents=True)
    for name in ("main.yml", "secrets.yml"):
        shutil.copy(lab_inv / "group_vars" / "all" / name, where / "group_vars" / "all" / name)
    for name in ("shared_cluster.yml", "dedicated_cluster.yml", "prod.yml"):
        shutil.copy(lab_inv / "group_vars" / name, where / "group_vars" / name)
    hosts = {"all": {"children": {
        "shared_cluster": {"children": {"staging": {"hosts": {STAGING: {"governed_odoo_tenant": TENANT}}}}},
        "dedicated_cluster": {"children": {"prod": {"hosts": {PROD: {"governed_odoo_tenant": TENANT}}}}},
    }}}
    (where / "hosts.yml").write_text(json.dumps(hosts))
    common = {
        "lab_dir": str(LAB_DIR),
        "lab_secret_dir": str(where.parent / "secrets" / "{{ inventory_hostname }}"),
        "governed_odoo_netplan": {
            "supernet": "10.200.0.0/16", "environment_prefix": 20, "tenant_prefix": 24,
            "environments": {"staging": 2, "prod": 5}, "tenants": {TENANT: 0},
            "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"},
        },
        "odoo_workers": 1,
        "odoo_db_maxconn": 4,
        "postgresql_reporting_connection_limit": 2,
        "storage_bucket_prefix": BUCKET_PREFIX,
        # GOVERNANCE, so that the test can remove its buckets (COMPLIANCE could not be lifted for a day)
        "storage_backup_lock": {"mode": "GOVERNANCE", "days": 1},
        "monitoring_mode": "disabled",
    }
    (where / "group_vars" / "all" / "zz_drift.yml").write_text(json.dumps(common, indent=1))
    (where / "group_vars" / "prod.yml").write_text(
        (lab_inv / "group_vars" / "prod.yml").read_text() + f"odoo_image: {PROD_IMAGE}\n")
    staging = {
        "governed_odoo_environment": "staging",
        "governed_odoo_tier": "preproduction",
        "odoo_web_replicas": 2,
        "odoo_filestore": "object_storage",
        "redis_persistence": "aof",
        "odoo_image": STAGING_IMAGE,
    }
    (where / "group_vars" / "staging.yml").write_text(json.dumps(staging, indent=1))
    return where


def run_playbook(inventory: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               GOVERNED_ODOO_LAB_DIR=str(LAB_DIR), PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / playbook),
         *extra],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=1800)


def output(res) -> str:
    return f"rc={res.returncode}\n{res.stdout[-6000:]}\n{res.stderr[-3000:]}"


def drift(inventory: Path, report_dir: Path, *extra: str):
    """Run drift.yml; (process, report dict, html text) of the report it wrote."""
    before = set(report_dir.glob("drift-*.json")) if report_dir.exists() else set()
    res = run_playbook(inventory, "drift.yml", "-e", f"governed_odoo_drift_report_dir={report_dir}", *extra)
    new = sorted(set(report_dir.glob("drift-*.json")) - before)
    if not new:  # two runs within one second share a name: take the newest
        new = sorted(report_dir.glob("drift-*.json"), key=lambda p: p.stat().st_mtime)
    assert new, output(res)
    doc = json.loads(new[-1].read_text())
    page = new[-1].with_suffix(".html").read_text()
    return res, doc, page


def fields(doc, instance):
    (inst,) = [i for i in doc["instances"] if i["instance"] == instance]
    return {(f["object"], f["field"]): f for f in inst["drift"]}


@pytest.fixture(scope="module")
def lab():
    return Lab()


@pytest.fixture(scope="module")
def inventory(lab, tmp_path_factory):
    """Staging and production provisioned by site.yml; everything removed afterwards."""
    try:
        if kubectl("get", "--raw", "/readyz", check=False).returncode != 0:
            pytest.skip("lab API server not reachable")
    except (OSError, KeyError):
        pytest.skip("lab control plane not up")
    inv = write_inventory(tmp_path_factory.mktemp("drift") / "inv")
    try:
        res = run_playbook(inv, "site.yml", "-e", "governed_odoo_wait=false")
        assert res.returncode == 0, output(res)
        yield inv
    finally:
        for instance in (STAGING, PROD):
            kubectl("delete", "namespace", f"odoo-{instance}", "--ignore-not-found", "--wait=false", check=False)
        for env in ("staging", "prod"):
            db = f"{TENANT}_{env}"
            lab.drop_db(db)
            with lab.connect() as conn:
                for role in ("app", "reporting", "owner"):
                    conn.execute(f'DROP ROLE IF EXISTS "{db}_{role}"')
        for bucket in BUCKETS:
            wipe_bucket(lab.client("a"), bucket)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("drift-reports")


@pytest.fixture(scope="module")
def clean(inventory, report_dir):
    return drift(inventory, report_dir, "-e", "governed_odoo_drift_fail=true")


@pytest.fixture(scope="module")
def changed_by_hand(lab, inventory, clean):
    """Changes made behind the collection's back, after the clean run."""
    kubectl("-n", NS, "scale", "deployment/odoo-web", "--replicas=5")
    kubectl("-n", NS, "set", "image", "deployment/odoo-web", f"odoo={HAND_IMAGE}")
    conf = kubectl("-n", NS, "get", "configmap", "odoo-config", "-o", "json").stdout
    text = json.loads(conf)["data"]["odoo.conf"]
    assert re.search(r"^list_db = False$", text, re.M), text
    patched = re.sub(r"^list_db = False$", "list_db = True", text, flags=re.M)
    kubectl("-n", NS, "patch", "configmap", "odoo-config", "--type", "merge", "-p",
            json.dumps({"data": {"odoo.conf": patched}}))
    kubectl("-n", NS, "patch", "secret", "odoo-db", "--type", "merge", "-p",
            json.dumps({"stringData": {"PGPASSWORD": HAND_PASSWORD}}))
    with lab.connect() as conn:
        conn.execute(f'REVOKE CONNECT ON DATABASE "{DB}" FROM "{DB}_app"')
    client = lab.client("a")
    rules = client.get_bucket_lifecycle_configuration(Bucket=STAGING_BACKUPS)["Rules"]
    for rule in rules:
        if rule["ID"] == "expire-old-backups":
            rule["Expiration"] = {"Days": 3}
    client.put_bucket_lifecycle_configuration(Bucket=STAGING_BACKUPS, LifecycleConfiguration={"Rules": rules})
    return True


@pytest.fixture(scope="module")
def drifted(inventory, report_dir, changed_by_hand):
    # verbose, so that the results and facts of every task are in the output the secret test searches
    return drift(inventory, report_dir, "-vv")


@pytest.fixture(scope="module")
def drifted_check(inventory, report_dir, drifted):
    return drift(inventory, report_dir, "--check")


@pytest.fixture(scope="module")
def drifted_fail(inventory, report_dir, drifted_check):
    return drift(inventory, report_dir, "-e", "governed_odoo_drift_fail=true")


@pytest.fixture(scope="module")
def repaired(inventory, report_dir, drifted_fail):
    """site.yml again after the changes behind its back: --check --diff first, then for real, then drift.yml."""
    check = run_playbook(inventory, "site.yml", "-e", "governed_odoo_wait=false", "--check", "--diff")
    still = json.loads(kubectl("-n", NS, "get", "deployment", "odoo-web", "-o", "json").stdout)["spec"]["replicas"]
    res = run_playbook(inventory, "site.yml", "-e", "governed_odoo_wait=false")
    return check, still, res, drift(inventory, report_dir, "-e", "governed_odoo_drift_fail=true")


def test_a_clean_converge_reports_no_drift(clean):
    res, doc, page = clean
    assert res.returncode == 0, output(res)
    assert doc["summary"]["verdict"] == "clean", json.dumps(doc["summary"])
    assert doc["summary"]["findings"] == 0 and doc["summary"]["errors"] == 0
    for inst in doc["instances"]:
        assert inst["drift"] == [], inst
        assert inst["checked"]["objects"] > 10 and inst["checked"]["database"] and len(inst["checked"]["buckets"]) == 2
    assert ">clean<" in page


def test_staging_against_production_lists_expected_and_unexpected_differences(clean):
    _res, doc, page = clean
    (entry,) = doc["parity"]
    assert (entry["staging"], entry["production"]) == (STAGING, PROD)
    diffs = {(d["object"], d["field"]): d for d in entry["differences"]}
    hpa = diffs[("HorizontalPodAutoscaler/odoo-web", "(object)")]
    assert hpa["expected"] and hpa["category"] == "topology"
    image = diffs[("Deployment/odoo-web", "spec.template.spec.containers[name=odoo].image")]
    assert (image["category"], image["expected"], image["staging"], image["production"]) == (
        "version", False, STAGING_IMAGE, PROD_IMAGE)
    checksum = diffs[("Deployment/odoo-web", 'spec.template.metadata.annotations["governed.odoo/config-hash"]')]
    assert checksum["expected"], checksum
    assert entry["unexpected"] >= 1
    assert "unexpected" in page and STAGING_IMAGE in page


def test_each_change_behind_the_collections_back_is_named(drifted):
    res, doc, page = drifted
    assert res.returncode == 0, output(res)  # drift is reported, not failed, unless asked
    changed = re.findall(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)", res.stdout, re.M)
    assert changed and set(changed) == {"0"}, output(res)  # nothing changed, the report written aside
    assert doc["summary"]["verdict"] == "drift" and doc["summary"]["drifted"] == [STAGING], doc["summary"]
    found = fields(doc, STAGING)
    web = f"Deployment {NS}/odoo-web"
    assert (found[(web, "spec.replicas")]["declared"], found[(web, "spec.replicas")]["live"]) == (2, 5)
    image = found[(web, "spec.template.spec.containers[name=odoo].image")]
    assert (image["declared"], image["live"]) == (STAGING_IMAGE, HAND_IMAGE)
    conf = found[(f"ConfigMap {NS}/odoo-config", 'data["odoo.conf"]#options.list_db')]
    assert (conf["declared"], conf["live"]) == ("False", "True")
    password = found[(f"Secret {NS}/odoo-db", "data.PGPASSWORD")]
    assert password["declared"].startswith("hmac-sha256:") and password["live"].startswith("hmac-sha256:")
    assert password["declared"] != password["live"]
    grant = [f for (obj, field), f in found.items() if obj.startswith(f"database {DB} ") and field.endswith(
        f"acl.{DB}_app")]
    assert grant and (grant[0]["declared"], grant[0]["live"]) == ("CONNECT, TEMPORARY", "TEMPORARY"), found.keys()
    rule = [f for (obj, field), f in found.items() if STAGING_BACKUPS in obj
            and field == "lifecycle_rules[ID=expire-old-backups].Expiration.Days"]
    assert rule and (rule[0]["declared"], rule[0]["live"]) == (400, 3), found.keys()
    assert fields(doc, PROD) == {}
    for text in ("spec.replicas", "odoo.conf", "data.PGPASSWORD", "expire-old-backups", HAND_IMAGE):
        assert text in page, text


def test_no_secret_value_is_in_the_output_or_the_report(drifted, inventory):
    res, doc, page = drifted
    secret = json.loads(kubectl("-n", NS, "get", "secret", "odoo-db", "-o", "json").stdout)["data"]
    declared = (inventory.parent / "secrets" / STAGING / "postgresql_app").read_text().split()[0]
    for value in (HAND_PASSWORD, declared, secret["PGPASSWORD"], base64.b64encode(declared.encode()).decode()):
        for where in (res.stdout, res.stderr, json.dumps(doc), page):
            assert value not in where


def test_check_mode_reports_the_same_drift(drifted, drifted_check):
    res, doc, _page = drifted_check
    assert res.returncode == 0, output(res)
    assert set(fields(doc, STAGING)) == set(fields(drifted[1], STAGING))


def test_drift_fail_makes_the_run_fail_and_nothing_was_changed(drifted_fail, lab):
    res, doc, _page = drifted_fail
    assert res.returncode != 0, output(res)
    assert "DRIFT" in res.stdout, output(res)
    assert doc["summary"]["verdict"] == "drift"
    web = json.loads(kubectl("-n", NS, "get", "deployment", "odoo-web", "-o", "json").stdout)
    assert web["spec"]["replicas"] == 5
    images = {c["name"]: c["image"] for c in web["spec"]["template"]["spec"]["containers"]}
    assert images["odoo"] == HAND_IMAGE
    with lab.connect(DB) as conn:
        # the ACL itself (has_database_privilege would count what the role inherits from the owner role)
        granted = conn.execute(
            "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = %s"
            " AND a.grantee = %s::regrole AND a.privilege_type = 'CONNECT'", (DB, f"{DB}_app")).fetchone()[0]
        assert granted == 0
    rules = lab.client("a").get_bucket_lifecycle_configuration(Bucket=STAGING_BACKUPS)["Rules"]
    assert [r["Expiration"]["Days"] for r in rules if r["ID"] == "expire-old-backups"] == [3]


def test_a_rerun_of_site_repairs_every_change_behind_its_back(repaired, lab):
    check, replicas_after_check, res, (after, doc, _page) = repaired
    assert check.returncode == 0, output(check)
    assert replicas_after_check == 5  # check mode changed nothing
    # check mode names what it would put back: the objects, the grant, the lifecycle rule
    for text in ("odoo-web", "odoo-config", "odoo-db", f"{DB}_app", STAGING_BACKUPS):
        assert text in check.stdout, (text, output(check))
    assert res.returncode == 0, output(res)
    changed = [int(n) for n in re.findall(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)", res.stdout, re.M)]
    assert sum(changed) > 0, output(res)
    assert after.returncode == 0, output(after)
    assert doc["summary"]["verdict"] == "clean", json.dumps(doc["summary"])
    web = json.loads(kubectl("-n", NS, "get", "deployment", "odoo-web", "-o", "json").stdout)
    assert web["spec"]["replicas"] != 5
    assert HAND_IMAGE not in json.dumps(web["spec"]["template"])
    rules = lab.client("a").get_bucket_lifecycle_configuration(Bucket=STAGING_BACKUPS)["Rules"]
    assert [r["Expiration"]["Days"] for r in rules if r["ID"] == "expire-old-backups"] == [400]
