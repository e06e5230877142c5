"""playbooks/promote.yml, playbooks/rollback.yml and the promotion lock against the lab, on the real node.

One dev instance of its own (unique tenant, namespace, database, buckets; GOVERNANCE locks of one day so that
everything can be removed afterwards), placed on the lab's real node (odoo_node_selector/odoo_tolerations), runs the
Odoo stand-in images (lab/images/odoo-standin-*.yaml, built from Debian packages, pushed to the lab registry and
referenced by digest): A and B work, C's /web/health answers 500, D's migration writes its marker row and fails. A
migration (`odoo -u X --stop-after-init`) sets ir_config_parameter `standin.migration.<release>`, so that it shows in
the data and a restore visibly undoes it. site.yml provisions the instance with A; a generated Odoo-shaped dataset
stands in for Odoo's initialisation. Then, in order:

* four racers for the instance's lock: exactly one gets it, the others are refused naming it; promote.yml while it is
  held is refused naming the holder, changes nothing and records the refusal; a lock left by a run that never gave it
  back expires and is taken over;
* A is promoted (no migration: A runs already) and recorded as verified;
* B is promoted over A: backup, cron to zero, migration Job on the real node, rollout, /web/health verified from a Job
  inside the cluster network, recorded (deployer, digests, gates, backup);
* --check of C shows the plan and every gate and changes nothing (no object, backup, Lease or record);
* a release refused by a gate (an image by tag) changes nothing and is recorded as a refusal;
* C migrates, never becomes healthy, and is rolled back: the pre-release backup restored first, then B's image; the
  instance serves B's data and image;
* D's migration fails half-way: the pre-release backup is restored, B's image never left;
* rollback.yml goes back to the previous verified release from the audit trail (A), restoring the backup taken before
  B's migration first;
* the audit trail verifies.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import http.client
import json
import re
import secrets
import shutil
import ssl
import sys
import threading
import time
import urllib.parse
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
from backup_lab import LAB_DIR, Lab, wipe_bucket  # noqa: E402
from node_lab import connection, kubectl, output  # noqa: E402

pytestmark = pytest.mark.lab

RUN_ID = secrets.token_hex(3)
TENANT = f"pr{RUN_ID}"
HOST = f"{TENANT}-dev"
NAMESPACE = f"odoo-{HOST}"
DB = f"{TENANT}_dev"
BUCKET_PREFIX = f"gpr-{RUN_ID}"
BUCKETS = (f"{BUCKET_PREFIX}-dev-backups", f"{BUCKET_PREFIX}-dev-attachments")
LEASE = "governed-odoo-promotion"
NODE_LABEL = "lab.governed.odoo/node"
DEPLOYER = "bob"
INGRESS_HOST = f"{TENANT}.dev.odoo.lab.test"  # the lab inventory's ingress_hostnames


# --------------------------------------------------------------------------- helpers
def kget(kind, name):
    return node_lab.kget(kind, name, NAMESPACE)


def kube_args():
    return {"kubeconfig": connection()["controlplane"]["kubeconfig"]}


def web_image():
    dep = kget("deployment", "odoo-web")
    return next(c["image"] for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "odoo")


def ready_web_images():
    """Images of the web pods that are Ready now."""
    pods = json.loads(kubectl("get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/component=web",
                              "-o", "json").stdout)["items"]
    out = []
    for pod in pods:
        conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
        if conds.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp"):
            out.append(next(c["image"] for c in pod["spec"]["containers"] if c["name"] == "odoo"))
    return out


def params(lab):
    """ir_config_parameter keys of the instance's database that the stand-in's migrations write."""
    with lab.connect(DB) as conn:
        rows = conn.execute("SELECT key, value FROM ir_config_parameter WHERE key LIKE 'standin.migration.%%'")
        return {k.rsplit(".", 1)[1]: v for k, v in rows.fetchall()}


def chain(audit_dir):
    path = audit_dir / "chain.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def backups(lab):
    return [r.backup_id for r in lab.store(BUCKETS[0]).list_backups("dev", DB)]


def write_release(directory: Path, rid: str, image: str, update=()):
    return node_lab.write_release(directory, rid, image, update, signature=f"lab/odoo-standin:{rid}.sig")


def request_for(keys, path: Path) -> Path:
    """The promotion request of the release in ``path``, signed now by the deployer's key."""
    record = json.loads(path.read_text())
    now = dt.datetime.now(dt.UTC)
    stmt = {"type": "promotion_request", "release": record["id"], "digest": record["image"].rsplit("@", 1)[-1],
            "environment": "dev", "deployer": DEPLOYER,
            "issued": approvals.statement_time(now - dt.timedelta(minutes=5)),
            "expires": approvals.statement_time(now + dt.timedelta(hours=2))}
    out = path.with_name(f"{record['id']}.request.json")
    out.write_text(json.dumps(approvals.sign_statement(stmt, keys[2])))
    return out


def promote(instance, keys, release: Path, *extra):
    return run_playbook(instance["inventory"], "promote.yml", "-e", f"release={release}",
                        "-e", f"promotion_request={request_for(keys, release)}", *extra)


def run_playbook(inventory: Path, playbook: str, *extra: str):
    return node_lab.run_playbook(inventory, playbook, *extra, limit=HOST)


class IngressWatch:
    """Asks /web/health through the lab's Traefik every ``interval`` seconds in a thread, each time on a new
    connection, as users reach the instance during a promotion. ``answers``: (status or error, release) per request."""

    def __init__(self, url: str, host: str, interval: float = 0.2):
        parts = urllib.parse.urlsplit(url)
        self.address, self.host, self.interval = (parts.hostname, parts.port or 443), host, interval
        self.answers: list[tuple[object, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tls = ssl.create_default_context()
        self._tls.check_hostname, self._tls.verify_mode = False, ssl.CERT_NONE  # the lab's Traefik certificate

    def _ask(self):
        conn = http.client.HTTPSConnection(*self.address, timeout=5, context=self._tls)
        try:
            conn.request("GET", "/web/health", headers={"Host": self.host})
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            release = re.search(r'"release":\s*"([^"]*)"', body)
            return resp.status, release.group(1) if release else ""
        except (OSError, http.client.HTTPException) as exc:
            return f"{type(exc).__name__}: {exc}", ""
        finally:
            conn.close()

    def _run(self):
        while not self._stop.is_set():
            self.answers.append(self._ask())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def lab():
    connection()
    return Lab()


@pytest.fixture(scope="module")
def images(lab):
    """The stand-in releases, built (or found in the cache) and pushed to the lab registry: name -> ref by digest."""
    from build import push

    registry = connection()["node"]["registry"]
    return {v: push(f"odoo-standin-{v.lower()}", registry) for v in "ABCD"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    d = tmp_path_factory.mktemp("audit-keys")
    key = Ed25519PrivateKey.generate()
    (d / "signing.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return d / "signing.pem", public, audit_chain.Signer(Ed25519PrivateKey.generate())


def write_inventory(where: Path, images, keys, audit_dir) -> Path:
    lab_inv = ROOT / "inventories" / "lab"
    (where / "group_vars" / "all").mkdir(parents=True)
    for name in ("main.yml", "secrets.yml"):
        shutil.copy(lab_inv / "group_vars" / "all" / name, where / "group_vars" / "all" / name)
    shutil.copy(lab_inv / "group_vars" / "shared_cluster.yml", where / "group_vars" / "shared_cluster.yml")
    hosts = {"all": {"children": {"shared_cluster": {"children": {"dev": {"hosts": {HOST: {
        "governed_odoo_tenant": TENANT}}}}}}}}
    (where / "hosts.yml").write_text(json.dumps(hosts))
    conn = connection()
    group = {
        "lab_dir": str(LAB_DIR),
        "lab_secret_dir": str(where.parent / "secrets" / "{{ inventory_hostname }}"),
        "governed_odoo_environment": "dev",
        "governed_odoo_tier": "nonproduction",
        "governed_odoo_netplan": {
            "supernet": "10.200.0.0/16", "environment_prefix": 20, "tenant_prefix": 24,
            "environments": {"dev": 0}, "tenants": {TENANT: 0},
            "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"},
        },
        "redis_persistence": "none",
        # attachments in the environment's bucket: the pods on the real node need no volume
        "odoo_filestore": "object_storage",
        "odoo_image": images["A"],
        "odoo_web_replicas": 1,
        "odoo_workers": 1,
        "odoo_db_maxconn": 4,
        # placement: the instance's pods and Jobs on the lab's real node
        "odoo_node_selector": {NODE_LABEL: "real"},
        "odoo_tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": "real", "effect": "NoSchedule"}],
        "postgresql_reporting_connection_limit": 2,
        # the lab's PostgreSQL, reached by the controller and by the pods on the real node
        "postgresql_external": node_lab.postgresql_external(conn),
        "storage_bucket_prefix": BUCKET_PREFIX,
        "storage_backup_lock": {"mode": "GOVERNANCE", "days": 1},
        "backup_runner_image": "ghcr.io/governed-odoo/backup-runner@sha256:" + "cd" * 32,
        "backup_pg_bin_dir": "{{ lab_connection.postgres.bin_dir }}",
        "backup_retention": {"daily": 7, "weekly": 4, "monthly": 12},
        "promote_audit": {"local_dir": str(audit_dir)},
        "promote_audit_public_keys": [keys[1]],
        "promote_audit_signing_key": str(keys[0]),
        # who may deploy: the gate establishes the deployer by the key that signed the promotion request
        "release_identities": {DEPLOYER: {"public_key": audit_chain.public_pem(keys[2].public_key),
                                          "groups": ["deployers"]}},
        "promote_probe_image": conn["node"]["images"]["tools"],
        # the health probe Job as well as the ingress check (by default, auto, the Job runs only without the ingress
        # check): B's promotion is verified by both; A's first promotion runs with auto
        "promote_verify_probe": "always",
        # the registry the lab's node pulls from (plain HTTP on loopback), for the gate's image evidence
        "release_registry_url": f"http://{conn['node']['registry']}",
        # C never becomes ready: how long its rollout is given before the rollback
        "promote_rollout_timeout": 240,
        # /web/health through the lab's Traefik, which dials the web pods on the real node (the lab has no kube-proxy
        # for ClusterIPs there) from the node's host address
        "ingress_traefik": {"namespace": "traefik", "pod_labels": {"app.kubernetes.io/name": "traefik"},
                            "source_cidrs": ["127.0.0.1/32", f"{conn['node']['host_address']}/32",
                                             f"{conn['node'].get('host_source_address', '127.0.0.1')}/32"],
                            "native_lb": False},
        "promote_ingress_health": {"url": conn["traefik"]["websecure"], "host": INGRESS_HOST,
                                   "validate_certs": False, "use_proxy": False, "tries": 30, "delay": 2},
        # the release observation against the lab's Prometheus, in windows too short and with a minimum of requests too
        # high for any verdict but inconclusive: the comparison runs and is recorded, and only require_traffic decides
        "release_observation": {"prometheus_url": conn["prometheus"]["url"], "window_seconds": 10,
                                "settle_seconds": 0, "tolerance": {"min_requests": 100000}},
    }
    (where / "group_vars" / "dev.yml").write_text(json.dumps(group, indent=1))
    return where


@pytest.fixture(scope="module")
def instance(lab, images, keys, tmp_path_factory):
    """The instance on A, provisioned by site.yml and seeded; removed afterwards."""
    import odoo_dataset

    base = tmp_path_factory.mktemp("promote")
    audit_dir = base / "audit"
    inv = write_inventory(base / "inv", images, keys, audit_dir)
    try:
        res = run_playbook(inv, "site.yml")
        assert res.returncode == 0, output(res)
        odoo_dataset.generate(lab.dsn, DB, str(base / "filestore" / DB), 2**20, 0, 0, jobs=1, log=lambda m: None)
        with lab.connect() as conn:
            conn.execute(f'ALTER DATABASE "{DB}" OWNER TO "{DB}_owner"')
        with lab.connect(DB) as conn:
            for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
                conn.execute(f'ALTER TABLE public."{table}" OWNER TO "{DB}_owner"')
            for (seq,) in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'").fetchall():
                conn.execute(f'ALTER SEQUENCE public."{seq}" OWNER TO "{DB}_owner"')
        yield {"inventory": inv, "audit": audit_dir, "releases": base / "releases", "base": base}
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
        with lab.connect() as conn:
            for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                        (f"{DB}%",)).fetchall():
                lab.drop_db(name)
            for role in ("app", "reporting", "owner"):
                conn.execute(f'DROP ROLE IF EXISTS "{DB}_{role}"')
        for bucket in BUCKETS:
            wipe_bucket(lab.client("a"), bucket)


def lock_args(holder, **kw):
    return {**kube_args(), "namespace": NAMESPACE, "holder": holder, **kw}


# --------------------------------------------------------------------------- the lock
def test_four_racers_exactly_one_gets_the_lock(instance):
    holders = [f"racer-{i}-{RUN_ID}" for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda h: run_module("promotion_lock", lock_args(h, lease_seconds=900, operation="race")), holders))
    winners = [h for h, r in zip(holders, results, strict=True) if not r.get("failed")]
    assert len(winners) == 1, results
    for h, r in zip(holders, results, strict=True):
        if h != winners[0]:
            assert r["failed"] and r["holder"] == winners[0] and winners[0] in r["msg"], r
    lease = kget("lease", LEASE)
    assert lease["spec"]["holderIdentity"] == winners[0]
    instance["racer"] = winners[0]


def test_a_promotion_while_the_lock_is_held_is_refused_naming_the_holder_and_recorded(instance, lab, images, keys):
    holder = instance["racer"]
    release = write_release(instance["releases"], f"a-{RUN_ID}", images["A"])
    before = kget("deployment", "odoo-web")["metadata"]["resourceVersion"]
    res = promote(instance, keys, release)
    assert res.returncode != 0, output(res)
    assert f"is held by {holder}" in res.stdout, output(res)
    assert kget("deployment", "odoo-web")["metadata"]["resourceVersion"] == before
    assert backups(lab) == []  # refused before the backup
    last = chain(instance["audit"])[-1]["event"]
    assert last["kind"] == "refusal" and last["lock"]["holder"] == holder and last["instance"] == HOST
    assert kget("lease", LEASE)["spec"]["holderIdentity"] == holder  # the holder's lock untouched
    released = run_module("promotion_lock", lock_args(holder, state="released"))
    assert released["released"] is True, released
    assert kget("lease", LEASE) is None


def test_a_lock_left_by_a_killed_run_expires_and_is_taken_over(instance):
    killed = f"killed-{RUN_ID}"
    taken = run_module("promotion_lock", lock_args(killed, lease_seconds=30, operation="promote X"))
    assert taken["acquired"] and taken["action"] == "create", taken
    expires = dt.datetime.fromisoformat(taken["lock"]["expires"].replace("Z", "+00:00"))
    # the run is gone (it never gives the lock back); the next one is refused until the hold expires
    started = dt.datetime.now(dt.UTC)
    first = run_module("promotion_lock", lock_args(f"next-{RUN_ID}", lease_seconds=600))
    if started < expires:
        assert first["failed"] and first["holder"] == killed and "promote X" in first["msg"], first
    deadline = time.monotonic() + 600
    result = first
    while result.get("failed") and time.monotonic() < deadline:
        time.sleep(3)
        result = run_module("promotion_lock", lock_args(f"next-{RUN_ID}", lease_seconds=600))
    assert result.get("acquired"), result
    assert result["action"] == "take_over" and result["previous"]["holder"] == killed, result
    assert kget("lease", LEASE)["spec"]["holderIdentity"] == f"next-{RUN_ID}"
    assert run_module("promotion_lock", lock_args(f"next-{RUN_ID}", state="released"))["released"] is True


# --------------------------------------------------------------------------- promotions
@pytest.fixture(scope="module")
def promoted_a(instance, images, keys):
    release = write_release(instance["releases"], f"a-{RUN_ID}", images["A"])
    # the default setting: with the ingress check on, no probe Job
    return promote(instance, keys, release, "-e", "promote_verify_probe=auto")


@pytest.fixture(scope="module")
def promoted_b(instance, images, promoted_a, keys):
    assert promoted_a.returncode == 0, output(promoted_a)
    release = write_release(instance["releases"], f"b-{RUN_ID}", images["B"], update=["sale"])
    # users asking the instance through the ingress all along the promotion (the rollout replaces A's pod by B's)
    with IngressWatch(connection()["traefik"]["websecure"], INGRESS_HOST) as watch:
        result = promote(instance, keys, release)
    instance["ingress_during_b"] = watch.answers
    return result


def test_a_is_verified_by_readiness_and_the_ingress_without_a_probe_job(promoted_a, instance, images):
    assert promoted_a.returncode == 0, output(promoted_a)
    event = next(r["event"] for r in chain(instance["audit"]) if r["event"].get("kind") == "promotion"
                 and r["event"]["release"]["id"] == f"a-{RUN_ID}")
    assert event["outcome"] == "verified"
    # each web pod found ready on A's image, by name (not the probe's answers: no Job ran)
    assert event["verification"], event
    assert all(re.fullmatch(r"odoo-web-[a-z0-9]+-[a-z0-9]+: ready on " + re.escape(images["A"]), line)
               for line in event["verification"]), event["verification"]
    assert event["ingress"]["status"] == 200 and event["ingress"]["url"].endswith("/web/health"), event["ingress"]


def test_b_is_promoted_over_a_with_its_migration_and_verified(promoted_b, instance, images, lab):
    assert promoted_b.returncode == 0, output(promoted_b)
    assert web_image() == images["B"]
    assert ready_web_images() == [images["B"]]
    assert params(lab) == {"B": "sale"}
    cron = kget("deployment", "odoo-cron")
    assert cron["spec"]["replicas"] == 1  # back from zero with the rollout
    assert cron["spec"]["template"]["spec"]["nodeSelector"] == {NODE_LABEL: "real"}
    assert kget("lease", LEASE) is None  # given back
    record = chain(instance["audit"])[-1]
    event = record["event"]
    assert event["kind"] == "promotion" and event["outcome"] == "verified" and event["instance"] == HOST
    assert event["release"]["id"] == f"b-{RUN_ID}" and event["release"]["image"] == images["B"]
    assert event["release"]["digest"] == images["B"].split("@", 1)[1]  # what the path gate of the next stage reads
    assert event["changes"]["image"] == {"from": images["A"], "to": images["B"]}
    assert event["migrated"] is True and event["backup"] in backups(lab)
    # the pre-release backup is verified, and leaves retention to the scheduled backups (backup_apply_retention)
    assert re.search(r"TASK \[governed\.odoo\.backup : Check the backup just written against its manifest\][^\n]*\n"
                     r"ok: ", promoted_b.stdout), output(promoted_b)
    assert re.search(r"TASK \[governed\.odoo\.backup : Apply the retention policy to the instance's backups\][^\n]*\n"
                     r"skipping: ", promoted_b.stdout), output(promoted_b)
    assert event["gates"] and all(g["passed"] for g in event["gates"])
    assert event["deployer"] == DEPLOYER  # the signer of the promotion request, as the gate established it
    assert any('"release": "B"' in line and "200" in line for line in event["verification"]), event["verification"]
    # /web/health through the lab's Traefik, and the observation against its Prometheus (no traffic: inconclusive)
    assert event["ingress"]["status"] == 200 and event["ingress"]["url"].endswith("/web/health"), event["ingress"]
    observation = event["observation"]
    assert observation["verdict"] == "inconclusive", observation
    assert observation["after"]["start"] >= observation["before"]["end"]
    assert observation["tolerance"]["min_requests"] == 100000


def test_the_rollout_of_b_loses_no_request_through_the_ingress(promoted_b, instance):
    """A's pod, removed by the rollout, keeps serving for its drain period (odoo_web_drain_seconds, a preStop sleep)
    while Traefik still routes to it: every request asked during the promotion is answered, first by A, then by B."""
    assert promoted_b.returncode == 0, output(promoted_b)
    answers = instance["ingress_during_b"]
    assert len(answers) >= 20, answers
    assert [a for a in answers if a[0] != 200] == [], answers
    releases = [release for _status, release in answers]
    assert releases[0] == "A" and releases[-1] == "B", releases
    pod = kget("deployment", "odoo-web")["spec"]["template"]["spec"]
    odoo = next(c for c in pod["containers"] if c["name"] == "odoo")
    assert odoo["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    # B's pod was ready as soon as it answered: the startup probe asks every 2 s (it asked every 10 s before)
    assert odoo["startupProbe"]["periodSeconds"] == 2 and odoo["startupProbe"]["failureThreshold"] == 150


def test_check_mode_shows_the_plan_and_every_gate_and_changes_nothing(promoted_b, instance, images, lab, keys):
    release = write_release(instance["releases"], f"c-{RUN_ID}", images["C"], update=["sale"])
    before = (kget("deployment", "odoo-web")["metadata"]["resourceVersion"], len(chain(instance["audit"])),
              backups(lab), params(lab))
    res = promote(instance, keys, release, "--check")
    assert res.returncode == 0, output(res)
    assert "release.record_schema" in res.stdout and "migration (sale)" in res.stdout, output(res)
    assert "verify /web/health through the ingress" in res.stdout and "observe error rate and p95 latency" in res.stdout
    assert images["C"] in res.stdout
    after = (kget("deployment", "odoo-web")["metadata"]["resourceVersion"], len(chain(instance["audit"])),
             backups(lab), params(lab))
    assert after == before
    assert kget("lease", LEASE) is None


def test_a_gate_refusal_changes_nothing_and_is_recorded(promoted_b, instance, images, lab, keys):
    tagged = images["B"].split("@", 1)[0] + ":latest"
    release = write_release(instance["base"] / "refused", f"t-{RUN_ID}", tagged)
    before = (kget("deployment", "odoo-web")["metadata"]["resourceVersion"], backups(lab), params(lab))
    res = promote(instance, keys, release)
    assert res.returncode != 0, output(res)
    assert "release.record_image_digest" in res.stdout, output(res)
    assert (kget("deployment", "odoo-web")["metadata"]["resourceVersion"], backups(lab), params(lab)) == before
    event = chain(instance["audit"])[-1]["event"]
    assert event["kind"] == "refusal" and event["operation"] == "promote"
    failed = [g["id"] for g in event["gates"] if not g["passed"]]
    assert "release.record_image_digest" in failed
    assert kget("lease", LEASE) is None


@pytest.fixture(scope="module")
def promoted_c(promoted_b, instance, images, keys):
    assert promoted_b.returncode == 0, output(promoted_b)
    release = write_release(instance["releases"], f"c-{RUN_ID}", images["C"], update=["sale"])
    # C never becomes ready: its rollout is given 45 s, not the inventory's 240 (B's rollout back takes seconds; a
    # healthy pod on the real node is ready in about 3 s, its startup probe asking every 2 s)
    return promote(instance, keys, release, "-e", "promote_rollout_timeout=45")


def test_c_fails_verification_and_is_rolled_back_to_b_with_its_data(promoted_c, instance, images, lab):
    res = promoted_c
    assert res.returncode != 0, output(res)
    assert "rolled back to" in res.stdout and "restored from the pre-release backup" in res.stdout, output(res)
    # what failed is C's rollout: its pod never became ready within the 45 s it was given
    assert "failed (Roll out the release" in res.stdout, output(res)
    assert web_image() == images["B"]
    assert ready_web_images() == [images["B"]]
    # C's migration ran (its row is in the database it left behind) and the restore undid it
    assert params(lab) == {"B": "sale"}
    with lab.connect() as conn:
        kept = [n for (n,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                           (f"{DB}__prev_%",)).fetchall()]
    assert kept, "the restore keeps the migrated database aside"
    with lab.connect(sorted(kept)[-1]) as conn:
        assert conn.execute("SELECT value FROM ir_config_parameter WHERE key = 'standin.migration.C'").fetchone()
    event = chain(instance["audit"])[-1]["event"]
    assert event["kind"] == "rollback" and event["migrated"] is True and event["restored"] == event["backup"]
    assert event["changes"]["image"] == {"from": images["C"], "to": images["B"]}
    assert kget("lease", LEASE) is None


def test_a_failed_migration_restores_the_pre_release_backup_and_b_keeps_serving(
        promoted_c, instance, images, lab, keys):
    release = write_release(instance["releases"], f"d-{RUN_ID}", images["D"], update=["sale"])
    res = promote(instance, keys, release)
    assert res.returncode != 0, output(res)
    assert "Run odoo -i/-u --stop-after-init" in res.stdout and "restored from the pre-release backup" in res.stdout
    assert web_image() == images["B"]
    assert ready_web_images() == [images["B"]]
    assert params(lab) == {"B": "sale"}
    with lab.connect() as conn:
        kept = sorted(n for (n,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                                 (f"{DB}__prev_%",)).fetchall())
    with lab.connect(kept[-1]) as conn:  # what the failed migration left is what the restore put aside
        assert conn.execute("SELECT value FROM ir_config_parameter WHERE key = 'standin.migration.D'").fetchone()
    event = chain(instance["audit"])[-1]["event"]
    assert event["kind"] == "rollback" and event["restored"] == event["backup"]
    assert "stop-after-init" in event["failure"]


def test_rollback_goes_back_to_the_previous_verified_release(promoted_c, instance, images, lab, keys):
    # the deployer signs the request for the release the rollback goes back to
    res = run_playbook(instance["inventory"], "rollback.yml", "-e",
                       f"promotion_request={request_for(keys, instance['releases'] / f'a-{RUN_ID}.json')}")
    assert res.returncode == 0, output(res)
    assert web_image() == images["A"]
    assert ready_web_images() == [images["A"]]
    # B migrated: the backup taken before its migration is restored before A's image returns
    assert params(lab) == {}
    event = chain(instance["audit"])[-1]["event"]
    assert event["kind"] == "rollback" and event["outcome"] == "verified"
    assert event["to"]["id"] == f"a-{RUN_ID}" and event["changes"]["image"] == {"from": images["B"], "to": images["A"]}
    assert event["release"]["id"] == f"b-{RUN_ID}"  # the release rolled back, as the path gate reads it
    promotion_b = next(r["event"] for r in chain(instance["audit"]) if r["event"].get("kind") == "promotion"
                       and r["event"]["release"]["id"] == f"b-{RUN_ID}")
    assert event["restored"] == promotion_b["backup"]
    # observed as a promotion is (the inventory's policy: no traffic in the lab, inconclusive, not required)
    assert event["observation"]["verdict"] == "inconclusive", event["observation"]
    assert kget("lease", LEASE) is None


def test_an_observation_that_requires_traffic_and_sees_none_rolls_back(promoted_c, instance, images, keys):
    # A again under another id (no migration), with a policy that requires traffic in the window after the release:
    # the lab sends none, so the comparison is inconclusive and the promotion rolls back to the image it ran (A)
    release = write_release(instance["releases"], f"a2-{RUN_ID}", images["A"])
    policy = {"release_observation": {"prometheus_url": connection()["prometheus"]["url"], "window_seconds": 10,
                                      "settle_seconds": 0, "require_traffic": True,
                                      "tolerance": {"min_requests": 100000}}}
    res = promote(instance, keys, release, "-e", json.dumps(policy))
    assert res.returncode != 0, output(res)
    assert "release observation: inconclusive (the policy requires traffic)" in res.stdout, output(res)
    assert "rolled back to" in res.stdout, output(res)
    assert web_image() == images["A"] and ready_web_images() == [images["A"]]
    event = chain(instance["audit"])[-1]["event"]
    assert event["kind"] == "rollback" and event["release"]["id"] == f"a2-{RUN_ID}"
    assert event["observation"]["verdict"] == "inconclusive" and "release observation" in event["failure"]
    assert event["migrated"] is False and event["restored"] is None
    assert kget("lease", LEASE) is None


def test_the_audit_trail_verifies(promoted_c, instance, keys):
    result = run_module("audit_verify", {"local_dir": str(instance["audit"]), "public_keys": [keys[1]]})
    assert result.get("ok") is True, result
    kinds = [r["event"]["kind"] for r in chain(instance["audit"])]
    assert kinds.count("promotion") >= 2 and kinds.count("refusal") >= 2 and kinds.count("rollback") >= 3
    assert re.search(r"verified", json.dumps(chain(instance["audit"])))
