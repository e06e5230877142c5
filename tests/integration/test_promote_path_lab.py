"""One release through every stage of the default path (dev -> qa -> staging -> uat -> prod) on the lab, end to end.

One tenant of its own with one instance per stage (unique namespaces, databases and buckets), provisioned by one
site.yml run from an inventory built on inventories/lab's group_vars. The web pods run on the lab's real node (the
health probe Job of promote.yml's verification must really run), on the Odoo stand-in image A (lab/images); the
cron pods are left at zero replicas (odoo_cron_replicas: 0): their readiness probe connects to the database, which
a pod on the real node cannot reach until the inventory has a pod-side database address, and a release without a
migration needs no database from any pod. The release B has no migration, so each promotion is gate -> lock ->
pre-release backup -> cron to zero -> rollout -> verify (/web/health from a Job inside the cluster network) ->
signed audit record.

The audit trail is shared by the five environments (the path and rehearsal gates of a stage read the records of the
others) and kept in object storage only (promote_audit names a bucket with object lock and no local directory): the
gates read the stored chain, every record is appended there, and rollback.yml reads it from there. dev to uat keep
their records under GOVERNANCE, prod under COMPLIANCE (prod's policy), all for one day: the prod records of a run stay
in the lab's S3 until they expire.

The evidence is real at every stage: a promotion request signed by the deployer's key (bob) everywhere; uat's
approval (alice, release-managers) and prod's two (alice, carol: release-managers and business-owners) signed by
their keys; prod's change record committed in a git repository; prod's image signature made with cosign (a key
generated here) in the lab registry; a Trivy report beside the release. prod's default allow window (Monday to
Thursday, 07:00 to 16:00) is replaced by an explicit one that is always open (every day, all day), so that the
test runs on any day; everything else of prod's strict release defaults applies (prod's autoscaler and zone spreading
are off: the lab's one real node has no zone label). Before any promotion, a backup of prod is
restored into staging with restore_copy.yml: a neutralized production copy, whose `restore` record is the
migration-rehearsal gate's evidence.

Asserted: each stage's gate passes the path rule only once the stage before it recorded the digest as verified
(the gates of every later stage are evaluated after each promotion); promoting to prod straight after staging
(uat skipped) is refused, recorded, and changes nothing in prod; the rehearsal gate of prod accepts a migrating
release of B's digest on the evidence of the real restore (and refuses one whose digest never ran in staging);
rollback.yml on dev reads the stored trail and goes back to A; dr_drill.yml drills prod from the inventory (the
backup it restores is the one prod's promotion took) and records its restore; the whole trail verifies with
audit_verify.

Last, the governance report (playbooks/report.yml) of what these runs wrote: the stored trail, the five stages'
backup stores and prod's drill report, opened in headless Chromium (its DOM read, a screenshot in
tests/output/governance-report.png): every stage's running release, prod's promotion with digest, approvers, window
and deployer, the refusal and its reason, fresh backups, the drill's RTO and RPO. Then uat's promotion record is
edited in the locked bucket (a new version over it) and the report says so first, in red
(tests/output/governance-report-tampered.png).
"""

from __future__ import annotations

import datetime as dt
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
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
sys.path.insert(0, str(ROOT / "lab" / "images"))
sys.path.insert(0, str(ROOT / "lab"))

import node_lab  # noqa: E402
from _modrun import run_module  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain as audit_chain  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.release import approvals  # noqa: E402
from backup_lab import LAB_DIR, Lab, make_bucket, wipe_bucket  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from node_lab import connection, kubectl, output, write_release  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.timeout(3600)]

STAGES = ("dev", "qa", "staging", "uat", "prod")
RUN_ID = secrets.token_hex(3)
TENANT = f"pp{RUN_ID}"
HOSTS = {stage: f"{TENANT}-{stage}" for stage in STAGES}
NAMESPACES = {stage: f"odoo-{host}" for stage, host in HOSTS.items()}
DBS = {stage: f"{TENANT}_{stage}" for stage in STAGES}
BUCKET_PREFIX = f"gpp-{RUN_ID}"
BUCKETS = [f"{BUCKET_PREFIX}-{stage}-{kind}" for stage in STAGES for kind in ("backups", "attachments")]
AUDIT_BUCKET = f"{BUCKET_PREFIX}-audit"
AUDIT_PREFIX = "trail/"
NODE_LABEL = "lab.governed.odoo/node"
PEOPLE = {"alice": ["release-managers"], "carol": ["business-owners"], "bob": ["deployers"]}
SIGNERS = {name: audit_chain.Signer(Ed25519PrivateKey.generate()) for name in PEOPLE}
# who approves a promotion into each stage (the stage's default policy: uat one release manager, prod two groups)
APPROVERS = {"dev": (), "qa": (), "staging": (), "uat": ("alice",), "prod": ("alice", "carol")}
TIMEOUT = 1800  # one playbook on a loaded two-core machine: minutes
OUTPUT = ROOT / "tests" / "output"  # the report's screenshots


# --------------------------------------------------------------------------- helpers
def web(stage):
    """(image of odoo-web's template, its resourceVersion)."""
    dep = json.loads(kubectl("get", "deployment", "odoo-web", "-n", NAMESPACES[stage], "-o", "json").stdout)
    image = next(c["image"] for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "odoo")
    return image, dep["metadata"]["resourceVersion"]


def cosign_binary():
    path = subprocess.run(["bash", str(ROOT / "lab" / "build-binaries.sh"), "path"], capture_output=True, text=True,
                          check=False, timeout=120).stdout.strip()
    for directory in path.split(":"):
        if (Path(directory) / "cosign").is_file():
            return Path(directory) / "cosign"
    pytest.fail("cosign is not built: bash lab/build-binaries.sh cosign (scripts/setup.sh builds it)")


def run_playbook(inventory: Path, playbook: str, *extra: str, limit: str | None = None):
    # promote.yml's gate finds cosign on PATH (prod's image signature)
    return node_lab.run_playbook(inventory, playbook, *extra, limit=limit, path=(cosign_binary().parent,))


def sign(body, name, path: Path) -> str:
    now = dt.datetime.now(dt.UTC)
    body = dict(body, issued=approvals.statement_time(now - dt.timedelta(minutes=5)),
                expires=approvals.statement_time(now + dt.timedelta(hours=3)))
    path.write_text(json.dumps(approvals.sign_statement(body, SIGNERS[name])))
    return str(path)


def evidence(release: Path, stage: str) -> dict:
    """The signed statements of a promotion of ``release`` into ``stage``: bob's request, the stage's approvals."""
    record = json.loads(release.read_text())
    digest = record["image"].rsplit("@", 1)[-1]
    base = {"release": record["id"], "digest": digest, "environment": stage}
    where = release.parent / "statements"
    where.mkdir(exist_ok=True)
    return {
        "promotion_request": sign(dict(base, type="promotion_request", deployer="bob"), "bob",
                                  where / f"{record['id']}-{stage}-request.json"),
        "approvals": [sign(dict(base, type="approval", purpose="promotion", approver=name), name,
                           where / f"{record['id']}-{stage}-{name}.json") for name in APPROVERS[stage]],
    }


def extra_vars(path: Path, values: dict) -> str:
    path.write_text(json.dumps(values))
    return f"@{path}"


def audit_location():
    s3 = Lab().s3["a"]
    return {"bucket": AUDIT_BUCKET, "prefix": AUDIT_PREFIX,
            **{k: s3[k] for k in ("endpoint_url", "access_key", "secret_key", "region")}}


def trail(keys):
    """The records of the stored trail, verified (audit_verify with select)."""
    result = run_module("audit_verify", {**audit_location(), "public_keys": [keys["public"]], "select": {}})
    assert result.get("ok") is True, result
    return result["records"]


def events(keys, **match):
    return [r["event"] for r in trail(keys) if all(r["event"].get(k) == v for k, v in match.items())]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def lab():
    connection()
    return Lab()


@pytest.fixture(scope="module")
def images(lab):
    """The stand-in releases A and B, built (or found in the cache) and pushed to the lab registry."""
    from build import push

    registry = connection()["node"]["registry"]
    return {v: push(f"odoo-standin-{v.lower()}", registry) for v in "AB"}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("promote-path")


@pytest.fixture(scope="module")
def keys(work):
    """The audit trail's signing key (a file, as the inventory names it) and its public key."""
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    path = work / "audit-signing.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return {"path": path, "public": audit_chain.public_pem(key.public_key())}


@pytest.fixture(scope="module")
def cosign_key(images, work):
    """B signed with a cosign key generated here (the lab has no transparency log); prod verifies with its key."""
    cosign = cosign_binary()
    directory = work / "cosign"
    directory.mkdir()
    env = dict(os.environ, COSIGN_PASSWORD="", HOME=str(work), TUF_ROOT=str(work / "tuf"))
    done = subprocess.run([str(cosign), "generate-key-pair"], cwd=directory, env=env, capture_output=True, text=True,
                          check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([str(cosign), "sign", "--key", str(directory / "cosign.key"), "--tlog-upload=false",
                           "--allow-http-registry=true", "--allow-insecure-registry=true", "--yes", images["B"]],
                          env=env, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    return (directory / "cosign.pub").read_text()


@pytest.fixture(scope="module")
def releases(work, images):
    rel = work / "releases"
    return {"A": write_release(rel, f"a-{RUN_ID}", images["A"]), "B": write_release(rel, f"b-{RUN_ID}", images["B"])}


@pytest.fixture(scope="module")
def change_records(work, releases):
    """prod's change record of B, committed in a git repository (prod's default provider)."""
    repo = work / "changes-repo"
    (repo / "changes").mkdir(parents=True)
    record = json.loads(releases["B"].read_text())
    (repo / "changes" / f"{record['id']}.yml").write_text(json.dumps({
        "id": f"CHG-{RUN_ID}", "release": record["id"], "environment": "prod",
        "digest": record["image"].rsplit("@", 1)[-1], "status": "approved", "approved_by": ["carol"],
        "implementer": "bob"}))
    git = ["git", "-C", str(repo), "-c", "user.name=change board", "-c", "user.email=cab@lab.test"]
    for args in (["init", "-q"], ["add", "changes"], ["commit", "-q", "-m", "CAB approves the release"]):
        done = subprocess.run([*git, *args], capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr
    return repo


def write_inventory(where: Path, images, keys, cosign_public, change_repo) -> Path:
    lab_inv = ROOT / "inventories" / "lab"
    (where / "group_vars" / "all").mkdir(parents=True)
    for name in ("main.yml", "secrets.yml"):
        shutil.copy(lab_inv / "group_vars" / "all" / name, where / "group_vars" / "all" / name)
    for name in ("shared_cluster.yml", "dedicated_cluster.yml"):
        shutil.copy(lab_inv / "group_vars" / name, where / "group_vars" / name)
    shared = {stage: {"hosts": {HOSTS[stage]: {"governed_odoo_tenant": TENANT}}} for stage in STAGES[:4]}
    hosts = {"all": {"children": {
        "shared_cluster": {"children": shared},
        "dedicated_cluster": {"children": {"prod": {"hosts": {HOSTS["prod"]: {"governed_odoo_tenant": TENANT}}}}},
    }}}
    (where / "hosts.yml").write_text(json.dumps(hosts))
    conn = connection()
    common = {
        "lab_dir": str(LAB_DIR),
        "lab_secret_dir": str(where.parent / "secrets" / "{{ inventory_hostname }}"),
        "governed_odoo_netplan": {
            "supernet": "10.200.0.0/16", "environment_prefix": 20, "tenant_prefix": 24,
            "environments": {"dev": 0, "qa": 1, "staging": 2, "uat": 3, "training": 4, "prod": 5},
            "tenants": {TENANT: 0},
            "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"},
        },
        "redis_persistence": "none",
        # attachments in the environment's bucket: the pods on the real node need no volume
        "odoo_filestore": "object_storage",
        "odoo_image": images["A"],
        "odoo_web_replicas": 1,
        # no cron pod: its readiness probe needs the database, which pods on the real node cannot reach yet
        "odoo_cron_replicas": 0,
        "odoo_workers": 1,
        "odoo_db_maxconn": 4,
        "odoo_node_selector": {NODE_LABEL: "real"},
        "odoo_tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": "real", "effect": "NoSchedule"}],
        "postgresql_reporting_connection_limit": 2,
        "storage_bucket_prefix": BUCKET_PREFIX,
        "storage_backup_lock": {"mode": "GOVERNANCE", "days": 1},
        "backup_runner_image": "ghcr.io/governed-odoo/backup-runner@sha256:" + "cd" * 32,
        "backup_pg_bin_dir": "{{ lab_connection.postgres.bin_dir }}",
        "backup_retention": {"daily": 7, "weekly": 4, "monthly": 12},
        # one trail for the whole path, in object storage only
        "promote_audit": {**audit_location(), "s3_validate_certs": False},
        "promote_audit_public_keys": [keys["public"]],
        "promote_audit_signing_key": str(keys["path"]),
        "release_audit_retention_days": 1,
        "release_identities": {n: {"public_key": audit_chain.public_pem(s.public_key), "groups": PEOPLE[n]}
                               for n, s in SIGNERS.items()},
        "promote_probe_image": conn["node"]["images"]["tools"],
        "release_registry_url": f"http://{conn['node']['registry']}",
        "promote_rollout_timeout": 300,
    }
    per_stage = {stage: {"governed_odoo_environment": stage, "governed_odoo_tier": "nonproduction"}
                 for stage in STAGES[:4]}
    per_stage["prod"] = {
        "governed_odoo_environment": "prod",
        "governed_odoo_tier": "production",
        # one web pod, without prod's autoscaler (two or more) and zone spreading (DoNotSchedule): the lab's one real
        # node has no zone label, and one node holds the five instances
        "odoo_hpa": {"enabled": False, "min_replicas": 2, "max_replicas": 4, "cpu_utilization": 70},
        "odoo_zone_spread": "ScheduleAnyway",
        "foundation_breakglass_grants": [],
        "ingress_tls": {"default_certificate": "the lab's Traefik on loopback serves its self-signed default"
                                               " certificate (no CA, no ACME)"},
        # prod's strict defaults, with an allow window that is always open instead of Monday to Thursday 07-16
        "release_allow_windows": [{"name": "every day, all day (the test runs on any day)", "rrule": "FREQ=DAILY",
                                   "start": "2026-01-01T00:00", "duration": "P1D"}],
        "release_change_record": {"repo": str(change_repo)},
        "release_signing_keys": [cosign_public],
    }
    for stage in STAGES:
        (where / "group_vars" / f"{stage}.yml").write_text(json.dumps({**common, **per_stage[stage]}, indent=1))
    return where


@pytest.fixture(scope="module")
def path(lab, images, keys, cosign_key, change_records, releases, work):
    """The five instances on A (one site.yml run), seeded; prod backed up and restored into staging as a neutralized
    production copy. Everything is removed afterwards (the prod records stay locked in the audit bucket)."""
    import odoo_dataset

    make_bucket(lab.client("a"), AUDIT_BUCKET)
    inv = write_inventory(work / "inv", images, keys, cosign_key, change_records)
    try:
        res = run_playbook(inv, "site.yml")
        assert res.returncode == 0, output(res)
        for db in DBS.values():
            odoo_dataset.generate(lab.dsn, db, str(work / "filestore" / db), 2**20, 0, 0, jobs=1, log=lambda m: None)
            with lab.connect() as conn:
                conn.execute(f'ALTER DATABASE "{db}" OWNER TO "{db}_owner"')
            with lab.connect(db) as conn:
                for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
                    conn.execute(f'ALTER TABLE public."{table}" OWNER TO "{db}_owner"')
                for (seq,) in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                                           ).fetchall():
                    conn.execute(f'ALTER SEQUENCE public."{seq}" OWNER TO "{db}_owner"')
        res = run_playbook(inv, "backup.yml", "-e", "governed_odoo_backup_schedule=false", limit=HOSTS["prod"])
        assert res.returncode == 0, output(res)
        res = run_playbook(inv, "restore_copy.yml", "-e", f"source={HOSTS['prod']}", "-e",
                           f"target={HOSTS['staging']}")
        assert res.returncode == 0, output(res)
        yield {"inventory": inv, "work": work, "releases": releases}
    finally:
        for stage in STAGES:
            kubectl("delete", "namespace", NAMESPACES[stage], "--ignore-not-found", "--wait=false", check=False)
        with lab.connect() as conn:
            for db in DBS.values():
                for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                            (db.replace("_", r"\_") + "%",)).fetchall():
                    lab.drop_db(name)
                for role in ("app", "reporting", "owner"):
                    conn.execute(f'DROP ROLE IF EXISTS "{db}_{role}"')
        for bucket in [*BUCKETS, AUDIT_BUCKET]:
            wipe_bucket(lab.client("a"), bucket)  # COMPLIANCE records stay; the bucket with them


def promote(path, release: Path, stage: str, *extra):
    values = evidence(release, stage)
    return run_playbook(path["inventory"], "promote.yml", "-e", f"release={release}",
                        "-e", extra_vars(path["work"] / f"evidence-{stage}-{secrets.token_hex(2)}.json", values),
                        *extra, limit=HOSTS[stage])


def gates(path, keys, release: Path, stages) -> dict:
    """{stage: {rule id: passed}} of release_gate for ``release`` into each of ``stages``, with the evidence a
    promotion into that stage would hand it (one playbook on the controller, as promote.yml calls the gate)."""
    out = path["work"] / f"gates-{secrets.token_hex(3)}.json"
    tasks = []
    for stage in stages:
        values = evidence(release, stage)
        tasks.append({"name": f"Gate into {stage}", "register": f"gate_{stage}", "governed.odoo.release_gate": {
            "release": str(release), "target": HOSTS[stage], "fail_on_refusal": False,
            "approvals": values["approvals"], "promotion_request": values["promotion_request"],
            "audit": {**audit_location(), "public_keys": [keys["public"]]}}})
    tasks.append({"name": "Write the verdicts", "ansible.builtin.copy": {
        "dest": str(out), "mode": "0600",
        "content": "{{ {" + ", ".join(f"'{s}': gate_{s}" for s in stages) + "} | to_json }}"}})
    play = path["work"] / f"gates-{secrets.token_hex(3)}.yml"
    play.write_text(json.dumps([{"name": "Gates", "hosts": "localhost", "gather_facts": False,
                                 "vars": {"ansible_connection": "local", "ansible_python_interpreter":
                                          str(ROOT / ".venv" / "bin" / "python")}, "tasks": tasks}]))
    res = run_playbook(path["inventory"], str(play))
    assert res.returncode == 0, output(res)
    verdicts = json.loads(out.read_text())
    return {stage: {r["id"]: r["passed"] for r in verdicts[stage]["rules"]} | {"_messages": [
        m for r in verdicts[stage]["rules"] for m in r["reasons"]]} for stage in stages}


# --------------------------------------------------------------------------- the path
def test_the_restore_of_a_production_copy_into_staging_is_recorded(path, keys):
    restores = events(keys, kind="restore")
    assert len(restores) == 1, restores
    event = restores[0]
    assert event["operation"] == "restore_copy" and event["ok"] is True and event["neutralized"] is True
    assert event["environment"] == "staging" and event["instance"] == HOSTS["staging"]
    assert event["source"]["instance"] == HOSTS["prod"] and event["source"]["environment"] == "prod"
    assert event["source"]["backup"].startswith(f"prod/{DBS['prod']}/")


@pytest.fixture(scope="module")
def on_dev(path, images):
    """A, then B, promoted to dev: two verified releases on dev (rollback.yml goes back from B to A at the end)."""
    for rel in ("A", "B"):
        res = promote(path, path["releases"][rel], "dev")
        assert res.returncode == 0, output(res)
        assert web("dev")[0] == images[rel]
    return path


def test_dev_verifies_b_and_only_qa_may_follow(on_dev, keys, images):
    verified = events(keys, kind="promotion", environment="dev")
    assert [e["release"]["image"] for e in verified] == [images["A"], images["B"]]
    assert all(e["outcome"] == "verified" and e["deployer"] == "bob" for e in verified)
    verdicts = gates(on_dev, keys, on_dev["releases"]["B"], STAGES[1:])
    assert verdicts["qa"]["release.path"] is True, verdicts["qa"]
    for stage in ("staging", "uat", "prod"):
        assert verdicts[stage]["release.path"] is False, verdicts[stage]
        assert any("was not deployed and verified in qa" in m for m in verdicts[stage]["_messages"]), verdicts[stage]


@pytest.fixture(scope="module")
def on_staging(on_dev, images):
    for stage in ("qa", "staging"):
        res = promote(on_dev, on_dev["releases"]["B"], stage)
        assert res.returncode == 0, output(res)
        assert web(stage)[0] == images["B"]
    return on_dev


def test_qa_and_staging_verify_b_one_after_the_other(on_staging, keys, images):
    for stage in ("qa", "staging"):
        (event,) = events(keys, kind="promotion", environment=stage)
        assert event["outcome"] == "verified" and event["release"]["digest"] == images["B"].split("@", 1)[1]
        assert event["changes"]["image"] == {"from": images["A"], "to": images["B"]}
        passed = [g["id"] for g in event["gates"] if g["passed"]]
        assert "release.path" in passed and len(passed) == len(event["gates"]), event["gates"]
    verdicts = gates(on_staging, keys, on_staging["releases"]["B"], ("uat", "prod"))
    assert verdicts["uat"]["release.path"] is True, verdicts["uat"]
    assert verdicts["prod"]["release.path"] is False, verdicts["prod"]


@pytest.fixture(scope="module")
def prod_refused(on_staging):
    """B promoted to prod straight after staging (uat skipped): the run, prod's web before and after it."""
    before = web("prod")
    res = promote(on_staging, on_staging["releases"]["B"], "prod")
    return {"run": res, "before": before, "after": web("prod")}


def test_skipping_uat_is_refused_recorded_and_changes_nothing_in_prod(prod_refused, keys, images):
    res, before = prod_refused["run"], prod_refused["before"]
    assert res.returncode != 0, output(res)
    assert "was not deployed and verified in uat" in res.stdout, output(res)
    assert prod_refused["after"] == before and before[0] == images["A"]
    refusal = events(keys, kind="refusal", environment="prod")[-1]
    assert refusal["operation"] == "promote" and refusal["instance"] == HOSTS["prod"]
    failed = {g["id"] for g in refusal["gates"] if not g["passed"]}
    assert failed == {"release.path"}, refusal["gates"]  # every other prod gate passed: the path alone refused it


@pytest.fixture(scope="module")
def on_uat(on_staging, prod_refused, images):
    res = promote(on_staging, on_staging["releases"]["B"], "uat")
    assert res.returncode == 0, output(res)
    assert web("uat")[0] == images["B"]
    return on_staging


def test_prod_gates_pass_after_uat_and_the_rehearsal_reads_the_real_restore(on_uat, keys, images):
    rel = on_uat["releases"]
    # the same digest as a migrating release: rehearsed in staging after the production copy was restored there
    migrating = write_release(rel["B"].parent / "migrating", f"m-{RUN_ID}", images["B"], update=["sale"])
    never = write_release(rel["B"].parent / "never", f"n-{RUN_ID}", images["A"], update=["sale"])
    verdicts = gates(on_uat, keys, rel["B"], ("prod",))
    assert all(v for k, v in verdicts["prod"].items() if k != "_messages"), verdicts["prod"]
    migrating_verdicts = gates(on_uat, keys, migrating, ("prod",))["prod"]
    assert migrating_verdicts["release.rehearsal"] is True, migrating_verdicts
    never_verdicts = gates(on_uat, keys, never, ("prod",))["prod"]
    assert never_verdicts["release.rehearsal"] is False, never_verdicts
    assert any("no successful rehearsal" in m for m in never_verdicts["_messages"]), never_verdicts


@pytest.fixture(scope="module")
def on_prod(on_uat, images):
    res = promote(on_uat, on_uat["releases"]["B"], "prod")
    assert res.returncode == 0, output(res)
    assert web("prod")[0] == images["B"]
    return on_uat


def test_prod_verifies_b_with_its_approvals(on_prod, keys, images):
    (event,) = events(keys, kind="promotion", environment="prod")
    assert event["outcome"] == "verified" and event["deployer"] == "bob"
    assert sorted(event["approvers"]) == ["alice", "carol"]
    assert all(g["passed"] for g in event["gates"])
    # the path the trail shows: every stage verified B, in order
    order = [e["environment"] for e in events(keys, kind="promotion")
             if e["release"]["digest"] == images["B"].split("@", 1)[1]]
    assert order == list(STAGES), order


@pytest.fixture(scope="module")
def dev_rolled_back(on_uat):
    """rollback.yml on dev (on B since on_dev): the run."""
    values = evidence(on_uat["releases"]["A"], "dev")
    # the rollback is observed as a promotion is: the lab's Prometheus, windows short, a minimum of requests the lab
    # does not send (inconclusive, which this policy accepts)
    policy = {"release_observation": {"prometheus_url": connection()["prometheus"]["url"], "window_seconds": 10,
                                      "settle_seconds": 0, "tolerance": {"min_requests": 100000}}}
    return run_playbook(on_uat["inventory"], "rollback.yml", "-e", f"promotion_request={values['promotion_request']}",
                        "-e", json.dumps(policy), limit=HOSTS["dev"])


def test_rollback_reads_the_stored_trail_and_puts_dev_back_on_a(dev_rolled_back, keys, images):
    res = dev_rolled_back
    assert res.returncode == 0, output(res)
    assert web("dev")[0] == images["A"]
    event = events(keys, kind="rollback", environment="dev")[-1]
    assert event["outcome"] == "verified" and event["to"]["id"] == f"a-{RUN_ID}"
    assert event["release"]["id"] == f"b-{RUN_ID}"
    observation = event["observation"]
    assert observation["verdict"] == "inconclusive" and observation["tolerance"]["min_requests"] == 100000, observation
    assert observation["after"]["start"] >= observation["before"]["end"]


@pytest.fixture(scope="module")
def prod_drilled(on_prod):
    """dr_drill.yml on prod from the inventory alone, after B's promotion (its newest backup: the pre-release one);
    the drill's report."""
    reports = on_prod["work"] / "drill-reports"
    res = node_lab.run_playbook(on_prod["inventory"], "dr_drill.yml", "-e", f"drill_report_dir={reports}",
                                limit=HOSTS["prod"], cwd=on_prod["work"])
    assert res.returncode == 0, output(res)
    found = sorted(reports.glob("drill-prod-*.json"))
    assert len(found) == 1, (found, output(res))
    return json.loads(found[0].read_text())


def test_a_drill_of_prod_restores_its_newest_backup_and_is_recorded(prod_drilled, keys):
    drill = prod_drilled
    assert drill["result"] == "pass", drill["failures"]
    assert drill["source"]["db_name"] == DBS["prod"]
    assert drill["rto"]["met"] is True and drill["rpo"]["met"] is True
    (record,) = events(keys, kind="restore", operation="dr_drill")
    assert record["ok"] is True and record["source"]["instance"] == HOSTS["prod"], record
    assert record["environment"] == "drill" and record["target"]["production"] is False
    # the backup restored is the one prod's promotion took before it rolled B out
    (promotion,) = events(keys, kind="promotion", environment="prod")
    assert promotion["backup"] in (record["source"]["backup"], record["source"]["backup_id"]), (promotion, record)


def test_the_whole_trail_verifies_in_object_storage(prod_drilled, dev_rolled_back, keys):
    result = run_module("audit_verify", {**audit_location(), "public_keys": [keys["public"]]})
    assert result.get("ok") is True and not result.get("problems"), result
    assert "local" not in result, result
    kinds = [r["event"]["kind"] for r in trail(keys)]
    # the restore of the production copy into staging and the drill's restore
    assert sorted(kinds) == sorted(["restore", "restore", "refusal", "rollback"] + ["promotion"] * 6), kinds
    assert result["stored"]["length"] == len(kinds)


# --------------------------------------------------------------------------- the governance report of the path
@pytest.fixture(scope="module")
def drift(path, prod_drilled, dev_rolled_back, work):
    """playbooks/drift.yml over the five stages once the path is walked (each stage's declared state, the inventory's,
    against what runs): the report it wrote."""
    reports = work / "drift-reports"
    res = run_playbook(path["inventory"], "drift.yml", "-e", f"governed_odoo_drift_report_dir={reports}")
    assert res.returncode == 0, output(res)
    (found,) = sorted(reports.glob("drift-*.json"))
    return json.loads(found.read_text())


def render_report(work: Path, keys, name: str):
    """playbooks/report.yml over this path's stored trail, the five backup stores and prod's drill reports:
    (the report's JSON, its page)."""
    out = work / f"report-{name}"
    s3 = Lab().s3["a"]
    values = {
        "governed_odoo_report_dir": str(out),
        "governed_odoo_report_audit": {"bucket": AUDIT_BUCKET, "prefix": AUDIT_PREFIX, "public_keys": [keys["public"]]},
        "governed_odoo_report_backup_stores": [{"bucket": f"{BUCKET_PREFIX}-{stage}-backups"} for stage in STAGES],
        "governed_odoo_report_s3": s3,
        "governed_odoo_report_drills_dir": str(work / "drill-reports"),
        # the directory drift.yml wrote its report into
        "governed_odoo_report_drift": str(work / "drift-reports"),
        "governed_odoo_report_environments": list(STAGES),
    }
    res = node_lab.run_playbook("localhost,", "report.yml", "-e", extra_vars(work / f"report-{name}.json", values))
    assert res.returncode == 0, output(res)
    assert s3["secret_key"] not in res.stdout + res.stderr
    return json.loads((out / "governance-report.json").read_text()), out / "governance-report.html"


def screenshot(page: Path, name: str, height: int) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / name
    shot.unlink(missing_ok=True)
    node_lab.chromium(f"--window-size=1200,{height}", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
    return shot


def test_the_governance_report_of_the_path_in_a_browser(prod_drilled, dev_rolled_back, drift, work, keys, images):
    report, page = render_report(work, keys, "clean")
    records = trail(keys)
    assert report["audit"] == {"checked": True, "ok": True, "length": len(records), "problems": []}, report["audit"]
    envs = {env["name"]: env for env in report["environments"]}
    assert list(envs) == list(STAGES)
    # drift, as drift.yml found it: per stage its instance's changed fields (each field of its report), or clean
    findings = {i["environment"]: i["drift"] for i in drift["instances"]}
    assert set(findings) == set(STAGES) and drift["summary"]["errors"] == 0, drift["summary"]
    for stage, env in envs.items():
        shown = env["drift"]
        assert shown["checked_at"] == drift["generated_at"] and shown["errors"] == [], shown
        assert [(c["object"], c["field"]) for c in shown["changes"]] == [
            (f["object"], f["field"]) for f in findings[stage]], (stage, shown)
        assert shown["verdict"] == ("drift" if findings[stage] else "clean"), shown
    # the stages promote.yml left on B run another image than the inventory declares (A): drift.yml says so; dev,
    # which rollback.yml put back on A, does not differ in its image
    image_field = "spec.template.spec.containers[name=odoo].image"
    for stage in STAGES[1:]:
        assert any(c["object"].endswith("odoo-web") and c["field"] == image_field
                   and images["B"] in (c["live"] or "") for c in envs[stage]["drift"]["changes"]), envs[stage]["drift"]
    assert not [c for c in envs["dev"]["drift"]["changes"] if c["field"] == image_field], envs["dev"]["drift"]
    # what needs attention: the drift, and nothing else
    assert report["attention"] == [
        {"severity": "medium", "environment": stage,
         "text": f"{stage}: {len(findings[stage])} field(s) drifted from the declared state"}
        for stage in STAGES if findings[stage]
    ], report["attention"]
    b_id, b_digest = f"b-{RUN_ID}", images["B"].split("@", 1)[1]
    # where each stage is now: B everywhere but dev, which rollback.yml put back on A
    assert (envs["dev"]["running"]["release"], envs["dev"]["running"]["kind"]) == (f"a-{RUN_ID}", "rollback")
    for stage in STAGES[1:]:
        running = envs[stage]["running"]
        assert (running["release"], running["digest"], running["outcome"]) == (b_id, b_digest, "verified"), running
    # prod: B with its two approvers, in the window it landed in, deployed by bob; refused once, uat skipped
    (prod,) = envs["prod"]["promotions"]
    (event,) = events(keys, kind="promotion", environment="prod")
    assert (prod["release"], prod["digest"], prod["instance"]) == (b_id, b_digest, HOSTS["prod"]), prod
    assert sorted(prod["approvers"]) == ["alice", "carol"] and prod["deployer"] == "bob", prod
    # the window it landed in, as the gate decided it: prod's allow window, open at that instant
    assert event["window"]["allowed"] is True, event["window"]
    assert event["window"]["name"].startswith("allow window every day, all day (the test runs on any day) ("), event
    assert event["window"]["name"] in prod["window"], prod["window"]
    (refusal,) = envs["prod"]["refusals"]
    assert refusal["release"] == b_id and len(refusal["reasons"]) == 1, refusal
    assert refusal["reasons"][0].startswith("release.path: ") and "was not deployed and verified in uat" in \
        refusal["reasons"][0], refusal
    assert [p["approvers"] for p in envs["uat"]["promotions"]] == [["alice"]]
    assert [(p["kind"], p["release"]) for p in envs["dev"]["promotions"]] == [
        ("rollback", b_id), ("promotion", b_id), ("promotion", f"a-{RUN_ID}")]
    # backups: the pre-release backup of each promotion (and prod's backup.yml run), all fresh
    for stage, env in envs.items():
        assert env["backup"]["fresh"] is True and env["backup"]["databases"][0]["db_name"] == DBS[stage], env["backup"]
    assert envs["prod"]["backup"]["count"] >= 2 and envs["dev"]["backup"]["count"] >= 2
    # the drill of prod, as its report says
    latest = envs["prod"]["drill"]["latest"]
    assert latest["drill_id"] == prod_drilled["drill_id"] and latest["result"] == "pass"
    assert (latest["rto_seconds"], latest["rto_target_seconds"], latest["rto_met"]) == (
        prod_drilled["rto"]["seconds"], 3600, True)
    assert (latest["rpo_seconds"], latest["rpo_target_seconds"], latest["rpo_met"]) == (
        prod_drilled["rpo"]["seconds"], 86400, True)
    assert all(envs[stage]["drill"]["latest"] is None for stage in STAGES[:4])
    # six promotions (A and B into dev, B into each later stage); the rollback is not one
    assert sum(m["total"] for m in report["promotions_per_month"]) == 6

    dom = node_lab.chromium("--dump-dom", page.as_uri())
    assert f'<div class="banner good" id="audit-status">Audit trail verified: {len(records)} signed' in dom
    for stage in STAGES:
        assert f'<tr data-environment="{stage}">' in dom and f'id="env-{stage}"' in dom, stage
    prod_section = dom[dom.index('id="env-prod"'):]
    assert b_id in prod_section and b_digest[:19] in prod_section and "alice, carol" in prod_section
    assert "allow window every day, all day (the test runs on any day)" in prod_section
    assert "was not deployed and verified in uat" in prod_section and prod_drilled["drill_id"] in prod_section
    for chart in ("promotions-per-month", *(f"backup-age-{s}" for s in STAGES), "drill-rto-prod"):
        assert re.search(rf'<svg class="chart" id="{chart}"', dom), chart
    assert 'class="point"' in dom[dom.index('id="drill-rto-prod"'):]
    checked = f"checked {drift['generated_at'][:10]} {drift['generated_at'][11:16]} UTC"
    for stage in STAGES:
        row = dom[dom.index(f'<tr data-environment="{stage}">'):].split("</tr>", 1)[0]
        assert checked in row and ("field(s) changed" if findings[stage] else ">clean<") in row, row
        assert "not checked" not in row, row
    assert f"{image_field}</code>" in prod_section and "differ from the declared state" in prod_section
    screenshot(page, "governance-report.png", 4600)


def test_a_record_edited_in_the_stored_trail_is_reported_first_in_red(prod_drilled, dev_rolled_back, drift, work,
                                                                      keys):
    # last of the module: someone gives uat's promotion another approver, as a new version over the record (an
    # object lock keeps the old version, it does not forbid a new one)
    (record,) = [r for r in trail(keys) if r["event"]["kind"] == "promotion" and r["event"]["environment"] == "uat"]
    client, key = Lab().client("a"), f"{AUDIT_PREFIX}records/{record['seq']:012d}.json"
    stored = json.loads(client.get_object(Bucket=AUDIT_BUCKET, Key=key)["Body"].read())
    assert stored["seq"] == record["seq"] and stored["event"]["environment"] == "uat", stored
    stored["event"]["approvers"] = ["mallory"]
    client.put_object(Bucket=AUDIT_BUCKET, Key=key, Body=json.dumps(stored).encode())

    report, page = render_report(work, keys, "tampered")
    assert report["audit"]["ok"] is False and report["attention"][0]["severity"] == "critical"
    problems = {(p.get("seq"), p["kind"]) for p in report["audit"]["problems"]}
    assert {(record["seq"], "overwritten"), (record["seq"], "edited")} <= problems, report["audit"]["problems"]
    dom = node_lab.chromium("--dump-dom", page.as_uri())
    body = dom[dom.index("<main>") + len("<main>"):]
    assert body.startswith('<div class="banner critical" id="audit-status" role="alert">The audit trail FAILS')
    assert f"record {record['seq']}" in body[: body.index("<h1>")]
    # and uat's section flags the row read from that record, where it says mallory approved
    (uat,) = [e for e in report["environments"] if e["name"] == "uat"]
    assert uat["promotions"][0]["approvers"] == ["mallory"], uat["promotions"]
    assert set(uat["promotions"][0]["fails_verification"]) == {"overwritten", "edited"}
    uat_section = body[body.index('id="env-uat"'): body.index('id="env-prod"')]
    assert '<tr class="fails">' in uat_section, uat_section
    assert f"record {record['seq']} fails verification: overwritten, edited" in uat_section, uat_section
    screenshot(page, "governance-report-tampered.png", 1400)
