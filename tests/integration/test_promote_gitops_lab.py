"""playbooks/promote.yml in GitOps mode on the lab: two promotions, two commits, each with its signed audit record.

One dev instance of its own (unique tenant, namespace, database and buckets) is provisioned with site.yml in the
direct mode (namespace, database, buckets: the lock's Lease and the pre-release backup need them), its database
seeded, then committed once with site.yml in GitOps mode (governed_odoo_delivery: gitops in the inventory, a new
git repository, a sealing certificate generated here). Its pods and Jobs run on the lab's real node, on the Odoo
stand-in images (lab/images/odoo-standin-*.yaml, as test_promote_lab.py): A (provisioned), B, C (odoo-standin-e:
works, its migration writes its marker row) and F (odoo-standin-c: migrates, then its /web/health answers 500).
Then, with real evidence (bob's signed promotion request, a Trivy report pinned by the record, the registry asked
for the digest, the audit trail signed):

* promoting B, then C (C updates a module) gives exactly two new commits; each carries audit-record.json beside
  the instance's objects, equal to the record of the trail (outcome committed), and the trail verifies with
  governed.odoo.audit_verify; each commit message names the release, its digest, the environment and the approvers;
  the commits hold the release's image, C's its migration Job as an Argo CD PreSync hook; the cluster's Deployment
  is left as it was (the controller applies, not promote.yml); a real pre-release backup was taken for each;
* no Secret value of the instance (the live Secrets, the generated passwords, the inventory's keys) is anywhere in
  the repository's history (git log -p, in clear or base64);
* a release whose scan report is missing is refused in GitOps mode exactly as in the direct mode (the same failed
  gates and reasons, each refusal recorded) and no commit is made;
* the governance report (playbooks/report.yml) rendered from this real trail and the real pre-release backups shows
  the promotions as committed, with their deployer, the refusals with the failed gate and its reason, and fresh
  backups;
* playbooks/promote_verify.yml closes the loop. There is no GitOps controller (Argo CD, Flux) on these machines:
  ``kubectl apply --server-side -k`` of the committed instance directory stands in for its sync. Before that apply,
  the wait times out (a short promote_sync_timeout), the failure is recorded (``kind: verification``, ``ok: false``),
  nothing is committed, and qa's path gate still refuses C on the real trail; after it, the live Deployments run C
  rolled out, the probe Job asks C's ready pod for /web/health on the real node, the verification is recorded
  (``ok: true``, the live Deployments as evidence) and qa's path gate passes C (staging's still refuses: the rule can
  fail);
* rollback.yml in GitOps mode (B promoted again, so C is the verified release to go back to) makes one commit, with
  its audit record (``kind: rollback``, ``outcome: committed``), and applies nothing: the Deployment's
  resourceVersion is unchanged;
* F, promoted and synced, migrates (its Job writes its marker row) and never becomes ready: promote_verify.yml
  records nothing verified, restores the pre-release backup (the marker is gone, the data is the pre-release data)
  and makes exactly one commit, the rollback to C with its audit record (``outcome: rolled back``) beside the objects,
  which carry C's digest and no migration Job; once that commit is synced the instance serves C (its ready pods) and
  promote_verify.yml verifies the rollback;
* the governance report of the trail shows each commit with its verification: pending, verified, failed and rolled
  back (read in headless Chromium, screenshot in tests/output/governance-report-gitops.png).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
sys.path.insert(0, str(ROOT / "lab" / "images"))
sys.path.insert(0, str(ROOT / "lab"))

import node_lab  # noqa: E402
from _modrun import run_module  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain as audit_chain  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.release import approvals, gate  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import load_all  # noqa: E402
from backup_lab import LAB_DIR, Lab, wipe_bucket  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from restore_lab import run_playbook as run_local_playbook  # noqa: E402
from sealkeys import certificate_pem, private_key  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.timeout(2400)]

RUN_ID = secrets.token_hex(3)
TENANT = f"gp{RUN_ID}"
HOST = f"{TENANT}-dev"
NAMESPACE = f"odoo-{HOST}"
DB = f"{TENANT}_dev"
BUCKET_PREFIX = f"ggp-{RUN_ID}"
BUCKETS = [f"{BUCKET_PREFIX}-dev-{kind}" for kind in ("backups", "attachments")]
NODE_LABEL = "lab.governed.odoo/node"
# the releases: the Odoo stand-in images (lab/images/odoo-standin-*.yaml); A, B and E work, C's /web/health answers 500
STANDINS = {"A": "odoo-standin-a", "B": "odoo-standin-b", "C": "odoo-standin-e", "F": "odoo-standin-c"}
BOB = audit_chain.Signer(Ed25519PrivateKey.generate())
TIMEOUT = 1800  # one playbook on a loaded two-core machine: minutes


def connection():
    return node_lab.connection()


def kubectl(*args, check=True):
    return node_lab.kubectl(*args, check=check).stdout


def git(repo, *args):
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=120
    ).stdout


def commits(repo):
    return git(repo, "rev-list", "HEAD").split()


def run_playbook(inventory: Path, playbook: str, *extra: str):
    return node_lab.run_playbook(inventory, playbook, *extra, limit=HOST, timeout=TIMEOUT)


output = node_lab.output


def write_release(directory: Path, rid: str, image: str, update=(), with_report=True) -> Path:
    """The release record and a Trivy report of its image (no findings) beside it, pinned by its digest."""
    return node_lab.write_release(directory, rid, image, update, signed=False, with_report=with_report)


def request(release: Path, work: Path) -> Path:
    """bob's signed promotion request of ``release`` into dev."""
    record = json.loads(release.read_text())
    now = dt.datetime.now(dt.UTC)
    body = {
        "type": "promotion_request",
        "release": record["id"],
        "digest": record["image"].rsplit("@", 1)[-1],
        "environment": "dev",
        "deployer": "bob",
        "issued": approvals.statement_time(now - dt.timedelta(minutes=5)),
        "expires": approvals.statement_time(now + dt.timedelta(hours=3)),
    }
    path = work / f"{record['id']}-request.json"
    path.write_text(json.dumps(approvals.sign_statement(body, BOB)))
    return path


def write_inventory(where: Path, image: str, keys: dict, gitops: dict) -> Path:
    conn = connection()
    lab_inv = ROOT / "inventories" / "lab"
    (where / "group_vars" / "all").mkdir(parents=True)
    for name in ("main.yml", "secrets.yml"):
        shutil.copy(lab_inv / "group_vars" / "all" / name, where / "group_vars" / "all" / name)
    shutil.copy(lab_inv / "group_vars" / "shared_cluster.yml", where / "group_vars" / "shared_cluster.yml")
    hosts = {
        "all": {
            "children": {"shared_cluster": {"children": {"dev": {"hosts": {HOST: {"governed_odoo_tenant": TENANT}}}}}}
        }
    }
    (where / "hosts.yml").write_text(json.dumps(hosts))
    dev = {
        "governed_odoo_environment": "dev",
        "governed_odoo_tier": "nonproduction",
        "lab_dir": str(LAB_DIR),
        "lab_secret_dir": str(where.parent / "secrets" / "{{ inventory_hostname }}"),
        "governed_odoo_netplan": {
            "supernet": "10.200.0.0/16",
            "environment_prefix": 20,
            "tenant_prefix": 24,
            "environments": {"dev": 0, "qa": 1, "staging": 2, "uat": 3, "training": 4, "prod": 5},
            "tenants": {TENANT: 0},
            "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"},
        },
        "redis_persistence": "none",
        "odoo_filestore": "object_storage",
        "odoo_image": image,
        "odoo_web_replicas": 1,
        "odoo_cron_replicas": 0,
        "odoo_workers": 1,
        "odoo_db_maxconn": 4,
        # placement: the instance's pods and Jobs on the lab's real node (as test_promote_lab.py): the stand-in
        # releases really run, their migrations really write, and the probe Job really asks /web/health
        "odoo_node_selector": {NODE_LABEL: "real"},
        "odoo_tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": "real", "effect": "NoSchedule"}],
        # the lab's PostgreSQL, reached by the controller and by the pods on the real node
        "postgresql_external": node_lab.postgresql_external(conn),
        "postgresql_reporting_connection_limit": 2,
        "storage_bucket_prefix": BUCKET_PREFIX,
        "storage_backup_lock": {"mode": "GOVERNANCE", "days": 1},
        "backup_runner_image": "ghcr.io/governed-odoo/backup-runner@sha256:" + "cd" * 32,
        "backup_pg_bin_dir": "{{ lab_connection.postgres.bin_dir }}",
        "backup_retention": {"daily": 7, "weekly": 4, "monthly": 12},
        "promote_audit": {"local_dir": str(keys["trail"])},
        "promote_audit_public_keys": [keys["public"]],
        "promote_audit_signing_key": str(keys["path"]),
        "release_audit_retention_days": 1,
        "release_identities": {"bob": {"public_key": audit_chain.public_pem(BOB.public_key), "groups": ["deployers"]}},
        "release_registry_url": f"http://{conn['node']['registry']}",
        # promote_verify.yml's probe Job, on the real node: it asks the ready web pods for /web/health
        "promote_probe_image": conn["node"]["images"]["tools"],
        # no route to the instance through the lab's Traefik here: the ingress check is skipped (empty url)
        "promote_ingress_health": {"url": ""},
        **gitops,
    }
    (where / "group_vars" / "dev.yml").write_text(json.dumps(dev, indent=1))
    return where


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The instance provisioned on A (direct mode), seeded, then committed once in GitOps mode; removed afterwards."""
    import odoo_dataset

    conn = connection()
    lab = Lab()
    work = tmp_path_factory.mktemp("promote-gitops")
    key = Ed25519PrivateKey.generate()
    keys = {
        "path": work / "audit-signing.pem",
        "public": audit_chain.public_pem(key.public_key()),
        "trail": work / "trail",
    }
    keys["path"].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    keys["path"].chmod(0o600)
    from build import push

    images = {name: push(recipe, conn["node"]["registry"]) for name, recipe in STANDINS.items()}
    repo = work / "gitops"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    remote = work / "remote.git"  # the repository a controller would read: every commit is pushed there
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True, timeout=60)
    gitops = {
        "governed_odoo_delivery": "gitops",
        "governed_odoo_gitops_repository": str(repo),
        "governed_odoo_gitops_sealing_certificate": certificate_pem(private_key(2048)),
        "governed_odoo_gitops_fingerprint_key": secrets.token_urlsafe(32),
        "governed_odoo_gitops_remote": str(remote),
    }
    inv = write_inventory(work / "inv", images["A"], keys, gitops)
    try:
        res = run_playbook(inv, "site.yml", "-e", "governed_odoo_delivery=direct", "-e", "governed_odoo_wait=false")
        assert res.returncode == 0, output(res)
        odoo_dataset.generate(lab.dsn, DB, str(work / "filestore"), 2**20, 0, 0, jobs=1, log=lambda m: None)
        with lab.connect() as c:
            c.execute(f'ALTER DATABASE "{DB}" OWNER TO "{DB}_owner"')
        with lab.connect(DB) as c:
            for (table,) in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
                c.execute(f'ALTER TABLE public."{table}" OWNER TO "{DB}_owner"')
            for (seq,) in c.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'").fetchall():
                c.execute(f'ALTER SEQUENCE public."{seq}" OWNER TO "{DB}_owner"')
        res = run_playbook(inv, "site.yml", "-e", "governed_odoo_wait=false")
        assert res.returncode == 0, output(res)
        assert len(commits(repo)) == 1
        yield {"work": work, "inv": inv, "repo": repo, "images": images, "keys": keys, "gitops": gitops, "lab": lab}
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
        with lab.connect() as c:
            for (name,) in c.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (DB.replace("_", r"\_") + "%",)
            ).fetchall():
                lab.drop_db(name)
            for role in ("app", "reporting", "owner"):
                c.execute(f'DROP ROLE IF EXISTS "{DB}_{role}"')
        for bucket in BUCKETS:
            wipe_bucket(lab.client("a"), bucket)


def promote(setup, release: Path, *extra):
    values = {"release": str(release), "promotion_request": str(request(release, setup["work"]))}
    path = setup["work"] / f"extra-{secrets.token_hex(3)}.json"
    path.write_text(json.dumps(values))
    return run_playbook(setup["inv"], "promote.yml", "-e", f"@{path}", *extra)


def trail(setup):
    keys = setup["keys"]
    result = run_module(
        "audit_verify", {"local_dir": str(keys["trail"]), "public_keys": [keys["public"]], "select": {}}
    )
    assert result.get("ok") is True and not result.get("problems"), result
    return result["records"]


def live_image():
    dep = json.loads(kubectl("get", "deployment", "odoo-web", "-n", NAMESPACE, "-o", "json"))
    return next(c["image"] for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "odoo")


def committed(repo, name, rev="HEAD"):
    return git(repo, "show", f"{rev}:dev/{HOST}/{name}")


def test_two_promotions_give_two_commits_each_with_its_verified_audit_record(setup):
    repo, images, work = setup["repo"], setup["images"], setup["work"]
    rel = {
        "B": write_release(work / "releases", f"b-{RUN_ID}", images["B"]),
        "C": write_release(work / "releases", f"c-{RUN_ID}", images["C"], update=["sale"]),
    }
    before = commits(repo)
    for name in ("B", "C"):
        res = promote(setup, rel[name])
        assert res.returncode == 0, output(res)
    after = commits(repo)
    assert len(after) == len(before) + 2 and after[2:] == before, (before, after)
    # each commit was pushed to the remote (governed_odoo_gitops_remote): the repository a controller reads has it
    remote = setup["gitops"]["governed_odoo_gitops_remote"]
    assert git(repo, "ls-remote", remote, "refs/heads/main").split()[0] == after[0]

    records = trail(setup)
    promotions = [r for r in records if r["event"]["kind"] == "promotion"]
    assert [p["event"]["release"]["id"] for p in promotions] == [f"b-{RUN_ID}", f"c-{RUN_ID}"]
    for rev, name, record in (("HEAD~1", "B", promotions[0]), ("HEAD", "C", promotions[1])):
        event = record["event"]
        assert event["outcome"] == "committed" and event["delivery"] == "gitops" and event["deployer"] == "bob"
        assert event["changes"]["image"]["to"] == images[name] and event["backup"], event
        assert all(g["passed"] for g in event["gates"]), event["gates"]
        # the record beside the objects is the trail's, signed (audit_verify verified the trail above)
        assert json.loads(committed(repo, "audit-record.json", rev)) == record
        changed = git(repo, "show", "--name-only", "--format=", rev).split()
        assert f"dev/{HOST}/audit-record.json" in changed and f"dev/{HOST}/deployment.apps-odoo-web.yaml" in changed
        web = yaml.safe_load(committed(repo, "deployment.apps-odoo-web.yaml", rev))
        assert [c["image"] for c in web["spec"]["template"]["spec"]["containers"] if c["name"] == "odoo"] == [
            images[name]
        ]
        message = git(repo, "log", "-1", "--format=%B", rev).splitlines()
        digest = images[name].split("@", 1)[1]
        assert message[0] == f"promote {event['release']['id']} to dev/{HOST}", message
        for line in (
            f"release: {event['release']['id']}",
            f"digest: {digest}",
            "environment: dev",
            "approvers: none (the policy asks for none)",
            f"audit record: seq {record['seq']}, hash {record['hash']} (audit-record.json)",
        ):
            assert line in message, message
    # C updates a module: its migration Job is committed as the controller's PreSync hook, with C's image
    files = git(repo, "ls-files", f"dev/{HOST}").split()
    (job_file,) = [f for f in files if f.split("/")[-1].startswith("job.batch-")]
    job = yaml.safe_load((repo / job_file).read_text())
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    assert {c["image"] for c in job["spec"]["template"]["spec"]["containers"]} == {images["C"]}
    assert promotions[1]["event"]["migration_job"] == job["metadata"]["name"]
    # nothing was applied: the cluster still runs what site.yml applied
    assert live_image() == images["A"]
    # no Lease left behind
    assert kubectl("get", "lease", "-n", NAMESPACE, "-o", "name").strip() == ""


def test_no_secret_value_is_in_the_repositorys_history(setup):
    repo = setup["repo"]
    values = set()
    for item in json.loads(kubectl("get", "secrets", "-n", NAMESPACE, "-o", "json"))["items"]:
        values |= {base64.b64decode(v).decode(errors="replace") for v in (item.get("data") or {}).values()}
    values |= {p.read_text().split()[0] for p in (setup["work"] / "secrets" / HOST).iterdir() if p.read_text().strip()}
    values.add(setup["gitops"]["governed_odoo_gitops_fingerprint_key"])
    values = {v for v in values if len(v) >= 8}
    assert values, "the instance has Secrets: the test must look for them"
    history = git(repo, "log", "-p", "--all", "--format=%H %s%n%b")
    for value in values:
        assert value not in history and base64.b64encode(value.encode()).decode() not in history


def test_a_release_without_evidence_is_refused_in_both_modes_alike_and_nothing_is_committed(setup):
    repo, work = setup["repo"], setup["work"]
    release = write_release(work / "releases", f"d-{RUN_ID}", setup["images"]["B"], with_report=False)
    before = commits(repo)
    refusals = []
    for mode in ("gitops", "direct"):
        res = promote(setup, release, "-e", f"governed_odoo_delivery={mode}")
        assert res.returncode != 0, output(res)
        assert "release.image_scan" in res.stdout or "scan report" in res.stdout, output(res)
        refusals.append([r for r in trail(setup) if r["event"]["kind"] == "refusal"][-1]["event"])
    assert commits(repo) == before and git(repo, "status", "--porcelain") == ""
    gitops_refusal, direct_refusal = refusals
    assert gitops_refusal["release"]["id"] == direct_refusal["release"]["id"] == f"d-{RUN_ID}"
    assert gitops_refusal["gates"] == direct_refusal["gates"] and gitops_refusal["reason"] == direct_refusal["reason"]
    failed = {g["id"] for g in gitops_refusal["gates"] if not g["passed"]}
    assert failed == {"release.image_scan"}, gitops_refusal["gates"]
    assert live_image() == setup["images"]["A"]


def test_the_governance_report_reads_the_real_promotions_refusals_and_backups(setup):
    out = setup["work"] / "report"
    s3 = setup["lab"].s3["a"]
    res = run_local_playbook(
        "report.yml",
        {
            "governed_odoo_report_dir": str(out),
            "governed_odoo_report_audit": {
                "local_dir": str(setup["keys"]["trail"]),
                "public_keys": [setup["keys"]["public"]],
            },
            "governed_odoo_report_backup_stores": [{"bucket": BUCKETS[0]}],
            "governed_odoo_report_s3": s3,
            "governed_odoo_report_environments": ["dev"],
        },
    )
    assert res.returncode == 0, output(res)
    assert s3["secret_key"] not in res.stdout + res.stderr
    report = json.loads((out / "governance-report.json").read_text())
    assert report["audit"]["ok"] is True, report["audit"]
    (dev,) = report["environments"]
    assert dev["running"]["release"] == f"c-{RUN_ID}" and dev["running"]["outcome"] == "committed"
    assert [(p["release"], p["outcome"], p["deployer"]) for p in dev["promotions"]] == [
        (f"c-{RUN_ID}", "committed", "bob"),
        (f"b-{RUN_ID}", "committed", "bob"),
    ]
    assert [r["release"] for r in dev["refusals"]] == [f"d-{RUN_ID}", f"d-{RUN_ID}"]
    for refusal in dev["refusals"]:
        assert len(refusal["reasons"]) == 1 and refusal["reasons"][0].startswith("release.image_scan: "), refusal
    assert dev["backup"]["count"] >= 2 and dev["backup"]["fresh"] is True, dev["backup"]
    page = (out / "governance-report.html").read_text()
    assert "promotion (committed)" in page and f"c-{RUN_ID}" in page


# --------------------------------------------------------------------------- promote_verify.yml and rollback.yml
CRD = ROOT / "tests" / "fixtures" / "crds" / "sealedsecret.yaml"


def path_findings(setup, rid, stage):
    """The findings of release.path for release ``rid`` of this run promoted to ``stage``, on the real trail."""
    keys = setup["keys"]
    record = json.loads((setup["work"] / "releases" / f"{rid}.json").read_text())
    audit = gate.read_audit({"local_dir": str(keys["trail"]), "public_keys": [keys["public"]]})
    inputs = {"release": record, "policy": gate.pol.effective(stage), "audit": audit}
    return [f.message for f in load_all()["release.path"].evaluate(inputs)]


def verify(setup, *extra):
    return run_playbook(setup["inv"], "promote_verify.yml", *extra)


def test_without_the_controllers_sync_the_wait_times_out_and_the_failure_is_recorded(setup):
    repo = setup["repo"]
    before, head_record = commits(repo), json.loads(committed(repo, "audit-record.json"))
    res = verify(setup, "-e", "promote_sync_timeout=6", "-e", "promote_sync_poll=2")
    assert res.returncode != 0, output(res)
    assert "did not roll out commit" in res.stdout and "not applied" in res.stdout, output(res)
    failure = trail(setup)[-1]["event"]
    assert failure["kind"] == "verification" and failure["ok"] is False and failure["outcome"] == "failed", failure
    assert failure["of"]["hash"] == head_record["hash"] and failure["applied"] is False, failure
    assert failure["release"]["digest"] == setup["images"]["C"].split("@", 1)[1]
    # the controller applied nothing: nothing to roll back, nothing committed, the cluster as it was
    assert commits(repo) == before and live_image() == setup["images"]["A"]
    assert any("was not deployed and verified in dev" in f for f in path_findings(setup, f"c-{RUN_ID}", "qa"))


def test_once_the_commit_is_applied_the_verification_is_recorded_and_qa_may_follow(setup):
    repo, images = setup["repo"], setup["images"]
    head_record = json.loads(committed(repo, "audit-record.json"))
    # the stand-in for Argo CD's or Flux's sync (no GitOps controller on this machine): the committed directory,
    # server-side applied as the controller's field manager (SealedSecrets need their CRD; no controller unseals them,
    # the Secrets site.yml applied stay)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    kubectl("wait", "--for=condition=Established", "--timeout=300s", "crd/sealedsecrets.bitnami.com")
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=gitops-controller-stand-in",
            "-k", str(repo / "dev" / HOST))
    before = commits(repo)
    res = verify(setup, "-e", "promote_sync_timeout=300")
    assert res.returncode == 0, output(res)
    event = trail(setup)[-1]["event"]
    assert event["kind"] == "verification" and event["ok"] is True and event["outcome"] == "verified", event
    assert event["of"] == {"seq": head_record["seq"], "hash": head_record["hash"], "kind": "promotion"}, event
    assert event["release"]["id"] == f"c-{RUN_ID}" and event["release"]["record"]["id"] == f"c-{RUN_ID}"
    # the evidence is the live state: the Deployments as the API server showed them, on C, rolled out
    web = next(d for d in event["live"] if d["name"] == "odoo-web")
    assert web["image"] == images["C"] and web["available"] is True and web["available_replicas"] >= 1, event["live"]
    assert live_image() == images["C"] and commits(repo) == before
    assert path_findings(setup, f"c-{RUN_ID}", "qa") == []
    assert any("was not deployed and verified in qa" in f for f in path_findings(setup, f"c-{RUN_ID}", "staging"))


def test_rollback_in_gitops_mode_commits_once_with_its_record_and_applies_nothing(setup):
    repo, images, work = setup["repo"], setup["images"], setup["work"]
    res = promote(setup, work / "releases" / f"b-{RUN_ID}.json")
    assert res.returncode == 0, output(res)
    deployment = json.loads(kubectl("get", "deployment", "odoo-web", "-n", NAMESPACE, "-o", "json"))
    before = commits(repo)
    release = work / "releases" / f"c-{RUN_ID}.json"
    extra = work / f"extra-{secrets.token_hex(3)}.json"
    extra.write_text(json.dumps({"promotion_request": str(request(release, work))}))
    res = run_playbook(setup["inv"], "rollback.yml", "-e", f"@{extra}")
    assert res.returncode == 0, output(res)
    after = commits(repo)
    assert len(after) == len(before) + 1 and after[1:] == before, (before, after)
    record = trail(setup)[-1]
    event = record["event"]
    assert event["kind"] == "rollback" and event["outcome"] == "committed" and event["delivery"] == "gitops", event
    assert event["to"]["id"] == f"c-{RUN_ID}" and event["changes"]["image"] == {"from": images["B"], "to": images["C"]}
    assert event["backup"] and event["restored"] is None and all(g["passed"] for g in event["gates"]), event
    assert json.loads(committed(repo, "audit-record.json")) == record
    web = yaml.safe_load(committed(repo, "deployment.apps-odoo-web.yaml"))
    assert [c["image"] for c in web["spec"]["template"]["spec"]["containers"] if c["name"] == "odoo"] == [images["C"]]
    assert git(repo, "log", "-1", "--format=%s").strip() == f"roll back dev/{HOST} to c-{RUN_ID}"
    # nothing applied: the Deployment is the very object it was (the controller's sync is the only writer)
    now = json.loads(kubectl("get", "deployment", "odoo-web", "-n", NAMESPACE, "-o", "json"))
    assert now["metadata"]["resourceVersion"] == deployment["metadata"]["resourceVersion"]
    assert kubectl("get", "lease", "-n", NAMESPACE, "-o", "name").strip() == ""


def markers(lab):
    """The ir_config_parameter rows the stand-in's migrations write (``standin.migration.<release>``)."""
    with lab.connect(DB) as c:
        rows = c.execute("SELECT key, value FROM ir_config_parameter WHERE key LIKE 'standin.migration.%%'").fetchall()
    return dict(rows)


def ready_web_images():
    """Images of the instance's web pods that are Ready now (not terminating)."""
    pods = json.loads(kubectl("get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=web", "-o", "json"))
    out = []
    for pod in pods["items"]:
        conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
        if conditions.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp"):
            out.append(next(c["image"] for c in pod["spec"]["containers"] if c["name"] == "odoo"))
    return out


def sync(repo):
    """The stand-in for Argo CD's or Flux's sync: the committed directory, server-side applied."""
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=gitops-controller-stand-in",
            "-k", str(repo / "dev" / HOST))


def test_a_release_failing_its_verification_after_the_sync_is_rolled_back_by_one_commit_restoring_its_data(setup):
    repo, images, work, lab = setup["repo"], setup["images"], setup["work"], setup["lab"]
    # F (the stand-in's release C) migrates (its Job writes standin.migration.C) and its /web/health answers 500
    release = write_release(work / "releases", f"f-{RUN_ID}", images["F"], update=["sale"])
    res = promote(setup, release)
    assert res.returncode == 0, output(res)
    promotion = trail(setup)[-1]
    event = promotion["event"]
    assert event["kind"] == "promotion" and event["outcome"] == "committed", event
    assert event["changes"]["image"] == {"from": images["C"], "to": images["F"]} and event["backup"], event
    job = event["migration_job"]
    before = markers(lab)  # the pre-release data (the backup was taken before this commit)
    assert "standin.migration.C" not in before, before

    # the controller syncs the commit: F's migration Job runs on the real node, its web pod never becomes ready
    sync(repo)
    kubectl("wait", "--for=condition=complete", "--timeout=300s", f"job/{job}", "-n", NAMESPACE)
    assert markers(lab).get("standin.migration.C") == "sale", markers(lab)
    before_commits = commits(repo)
    res = verify(setup, "-e", "promote_sync_timeout=45", "-e", "promote_sync_poll=3")
    assert res.returncode != 0, output(res)
    assert "applied, rollout not available" in res.stdout and "rolled back by commit" in res.stdout, output(res)

    # exactly one commit: the rollback, its signed audit record beside the objects
    after = commits(repo)
    assert len(after) == len(before_commits) + 1 and after[1:] == before_commits, (before_commits, after)
    record = trail(setup)[-1]
    rollback = record["event"]
    assert rollback["kind"] == "rollback" and rollback["outcome"] == "rolled back", rollback
    assert rollback["delivery"] == "gitops" and rollback["of"]["hash"] == promotion["hash"], rollback
    assert rollback["changes"]["image"] == {"from": images["F"], "to": images["C"]}, rollback
    assert rollback["migrated"] is True and rollback["restored"] == event["backup"], rollback
    assert json.loads(committed(repo, "audit-record.json")) == record
    assert git(repo, "log", "-1", "--format=%s").startswith(f"roll back dev/{HOST}")
    # the committed objects carry the previous image, and no migration Job
    web = yaml.safe_load(committed(repo, "deployment.apps-odoo-web.yaml"))
    assert [c["image"] for c in web["spec"]["template"]["spec"]["containers"] if c["name"] == "odoo"] == [images["C"]]
    assert not [f for f in git(repo, "ls-files", f"dev/{HOST}").split() if f.split("/")[-1].startswith("job.batch-")]
    # the pre-release backup was restored before the previous image returns: F's migration is undone
    assert markers(lab) == before, (before, markers(lab))

    # the controller syncs the rollback: the instance serves the previous image, and the rollback verifies
    sync(repo)
    res = verify(setup, "-e", "promote_sync_timeout=300")
    assert res.returncode == 0, output(res)
    verification = trail(setup)[-1]["event"]
    assert verification["kind"] == "verification" and verification["ok"] is True, verification
    assert verification["of"] == {"seq": record["seq"], "hash": record["hash"], "kind": "rollback"}, verification
    assert live_image() == images["C"] and set(ready_web_images()) == {images["C"]}, ready_web_images()
    assert markers(lab) == before
    assert kubectl("get", "lease", "-n", NAMESPACE, "-o", "name").strip() == ""


def test_the_governance_report_shows_each_commit_with_its_verification(setup):
    """The report of this module's real trail, last: each GitOps commit with what promote_verify.yml recorded of it
    (pending, verified after a first timed-out attempt, failed and rolled back), the rollback shown as the release it
    went back to; read in headless Chromium, with a screenshot (tests/output/governance-report-gitops.png)."""
    out = setup["work"] / "report-verified"
    res = run_local_playbook(
        "report.yml",
        {
            "governed_odoo_report_dir": str(out),
            "governed_odoo_report_audit": {
                "local_dir": str(setup["keys"]["trail"]),
                "public_keys": [setup["keys"]["public"]],
            },
            "governed_odoo_report_backup_stores": [{"bucket": BUCKETS[0]}],
            "governed_odoo_report_s3": setup["lab"].s3["a"],
            "governed_odoo_report_environments": ["dev"],
        },
    )
    assert res.returncode == 0, output(res)
    (dev,) = json.loads((out / "governance-report.json").read_text())["environments"]
    b, c, f = (f"{x}-{RUN_ID}" for x in "bcf")
    assert [(p["kind"], p["release"], p["to"], p["verification"]["status"]) for p in dev["promotions"]] == [
        ("rollback", f, c, "verified"),  # promote_verify.yml's, verified after its sync
        ("promotion", f, None, "rolled back"),
        ("rollback", b, c, "pending"),  # rollback.yml's, never synced
        ("promotion", b, None, "pending"),
        ("promotion", c, None, "verified"),  # after the timed-out attempt
        ("promotion", b, None, "pending"),
    ], dev["promotions"]
    rolled = dev["promotions"][1]["verification"]
    assert rolled["restored"] and "applied, rollout not available" in rolled["reason"], rolled
    running = dev["running"]
    assert (running["release"], running["digest"], running["verification"]["status"]) == (
        c,
        setup["images"]["C"].split("@", 1)[1],
        "verified",
    ), running
    page = out / "governance-report.html"
    dom = node_lab.chromium("--dump-dom", page.as_uri())
    section = dom[dom.index('id="env-dev"') :]
    assert "rollback of a failed promotion" in section and "verification failed, rolled back" in section
    assert "database restored from the pre-release backup" in section and "verification pending" in section
    output_dir = ROOT / "tests" / "output"
    output_dir.mkdir(parents=True, exist_ok=True)
    shot = output_dir / "governance-report-gitops.png"
    shot.unlink(missing_ok=True)
    node_lab.chromium("--window-size=1200,1700", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000
