"""A restore into a non-production environment runs its neutralization as a real Job on the lab's real node.

The source is a small Odoo-shaped database (restore_lab.seed_odoo17: live mail servers, active crons, an
autovacuum, a webhook, an incoming server, a template bound to a server) with the addons base, web and mail
installed, backed up by the real engine. It is restored into a ``qa`` database with ``neutralize: job``: the Job
runs the lab's Odoo stand-in (lab/images/odoo-standin.yaml, pushed to the lab registry and referenced by
digest), whose ``odoo neutralize`` runs Odoo 17's data/neutralize.sql of each installed addon, placed on the
real node by nodeSelector and toleration as the instance's Odoo pods would be. The restore's own verification
must then pass, and a stand-in that fails (``ODOO_STANDIN_FAIL=neutralize``: it neutralizes, then exits 1)
must fail the restore with the Job's failure and its log in the error, and leave the target as it was.
"""

from __future__ import annotations

import json
import secrets
import sys

import pytest
from node_lab import connection, kubectl
from restore_lab import REPO, BackupLab, drop_databases, seed_odoo17

sys.path.insert(0, str(REPO / "lab" / "images"))
sys.path.insert(0, str(REPO / "lab"))

from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kclient
from ansible_collections.governed.odoo.plugins.module_utils.restore import flow
from ansible_collections.governed.odoo.plugins.module_utils.restore import neutralize as nz
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import KubernetesError

pytestmark = pytest.mark.lab

NODE_LABEL = "lab.governed.odoo/node"
REAL_NODE = "lab-real-0"
JOB_TIMEOUT = 300  # seconds: the Job's pod on the real node, on a loaded two-core machine
MODULES = ("base", "web", "mail")


@pytest.fixture(scope="module")
def image():
    """The stand-in, built (or found in the cache) and pushed to the lab registry: its reference by digest."""
    from build import push

    conn = connection()
    return push("odoo-standin", conn["node"]["registry"])


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A backup of a production-like Odoo-shaped database."""
    lab = BackupLab(tmp_path_factory.mktemp("neutralize-job"))
    try:
        with lab.connect("postgres") as c:
            c.execute(f'CREATE DATABASE "{lab.src}"')
        with lab.connect(lab.src) as c:
            before = seed_odoo17(c)
            c.execute(
                "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, "
                "state varchar, latest_version varchar)"
            )
            for name in MODULES:
                c.execute(
                    "INSERT INTO ir_module_module (name, state, latest_version) VALUES (%s, 'installed', '17.0.1.0')",
                    (name,),
                )
            c.execute("INSERT INTO ir_module_module (name, state) VALUES ('payment', 'uninstalled')")
        lab.src_files.mkdir(parents=True)
        lab.backup()
        lab.before = before
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture(scope="module")
def namespace(source):
    """A namespace with the environment's odoo.conf: the lab PostgreSQL's address and credentials."""
    ns = f"rt-nzjob-{secrets.token_hex(3)}"
    pg = source.pg
    conf = (
        f"[options]\ndb_host = {pg['login_host']}\ndb_port = {pg['login_port']}\n"
        f"db_user = {pg['login_user']}\ndb_password = {pg['login_password']}\n"
    )
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "odoo-conf", "namespace": ns},
            "stringData": {"odoo.conf": conf},
        },
    ]
    kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objs))
    yield ns
    kubectl("delete", "namespace", ns, "--wait=false", check=False)


def options(source, image, ns, target, data, **job):
    spec = {
        "namespace": ns,
        "image": image,
        "config_secret": "odoo-conf",
        "odoo_version": "17.0",
        "node_selector": {NODE_LABEL: "real"},
        "tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": "real", "effect": "NoSchedule"}],
        "run_as_user": 101,
        "timeout": JOB_TIMEOUT,
    }
    spec.update(job)
    kubeconfig = connection()["controlplane"]["kubeconfig"]
    return source.options(
        target,
        data,
        target_environment="qa",
        copy=True,
        neutralize="job",
        job=spec,
        filestore_path=None,
        kube_client_factory=lambda: kclient.client_from_options(kubeconfig=kubeconfig),
    )


def test_neutralize_job_runs_on_the_real_node_and_a_failing_one_leaves_the_target(source, image, namespace, tmp_path):
    target = f"rt_nzjob_qa_{source.tag}"
    try:
        res = flow.run(source.store(), options(source, image, namespace, target, tmp_path / "data"))
        assert res["switched"], res
        neutral = res["neutralization"]
        assert neutral["mode"] == "job"
        pods = neutral["job"]["pods"]
        assert [(p["phase"], p["node"]) for p in pods] == [("Succeeded", REAL_NODE)], pods
        assert "neutralize mail: " in pods[0]["log"] and "neutralization done" in pods[0]["log"], pods[0]["log"]
        assert neutral["verification"]["ok"], neutral["verification"]

        with source.connect(target) as c:
            # the collection's own check, read again from the restored database
            assert nz.verify(c, before=source.before)["ok"]
            # Odoo 17's base/data/neutralize.sql: the dummy server, the autovacuum kept, the flag
            assert c.execute("SELECT name, smtp_host, active FROM ir_mail_server WHERE active").fetchall() == [
                (nz.DUMMY_MAIL_SERVER_NAME, "invalid", True)
            ]
            assert dict(c.execute("SELECT cron_name, active FROM ir_cron").fetchall()) == {
                "Base: Auto-vacuum internal data": True,
                "Mail: Email Queue Manager": False,
                "Sync invoices to the bank": False,
                "Old disabled cron": False,
            }
            assert c.execute(
                "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
            ).fetchone() == ("true",)
            assert c.execute("SELECT webhook_url FROM ir_act_server WHERE state = 'webhook'").fetchall() == [
                (nz.WEBHOOK_NEUTRALIZED,)
            ]
            # mail's: no incoming server, no template bound to a server
            assert c.execute("SELECT count(*) FROM fetchmail_server WHERE active").fetchone() == (0,)
            assert c.execute("SELECT count(*) FROM mail_template WHERE mail_server_id IS NOT NULL").fetchone() == (0,)
            c.execute("CREATE TABLE zz_marker (note text)")
            c.execute("INSERT INTO zz_marker VALUES ('the qa database before the failed restore')")

        with pytest.raises(KubernetesError, match="failed") as err:
            flow.run(
                source.store(),
                options(source, image, namespace, target, tmp_path / "data", env={"ODOO_STANDIN_FAIL": "neutralize"}),
            )
        failed = err.value.details
        assert failed["outcome"] == "failed"
        assert [(p["phase"], p["node"]) for p in failed["pods"]] == [("Failed", REAL_NODE)], failed["pods"]
        assert "broken on purpose" in failed["pods"][0]["log"]
        with source.connect(target) as c:
            assert c.execute("SELECT note FROM zz_marker").fetchone() == ("the qa database before the failed restore",)
        with source.connect("postgres") as c:
            names = [
                r[0]
                for r in c.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (target + "%",)).fetchall()
            ]
        assert names == [target]  # the failed run's candidate is gone
    finally:
        drop_databases(source.server, lambda n: n == target or n.startswith(target + "__"))
