"""A caller cannot downgrade a production target: the cluster's namespace labels overrule the caller.

Against the lab: the real Kubernetes API (namespaces labelled as roles/foundation labels an
instance's namespace), the lab's PostgreSQL, and a dedicated real SeaweedFS (tests/fixtures/
tempweed.py, on spare ports) holding one backup made by the real backup engine.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys

import pytest
from restore_lab import REPO, drop_databases, lab_kube, lab_postgres, pg_dsn, pg_params

sys.path.insert(0, str(REPO / "collections"))

import psycopg
from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kclient
from ansible_collections.governed.odoo.plugins.module_utils.backup import engine, s3client
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import BackupStore
from ansible_collections.governed.odoo.plugins.module_utils.restore import flow
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import RefusedError

pytestmark = pytest.mark.lab
ENV = "production"


def _kubectl(cp, *args, stdin=None, check=True):
    return subprocess.run(
        [cp["kubectl"], "--kubeconfig", cp["kubeconfig"], *args],
        input=stdin,
        text=True,
        capture_output=True,
        check=check,
    )


@pytest.fixture(scope="module")
def kube():
    return lab_kube()


@pytest.fixture(scope="module")
def namespaces(kube):
    """One namespace as site.yml labels production, one as it labels staging, one without labels."""
    tag = secrets.token_hex(3)
    labelled = {
        "prod": {"governed.odoo/environment": "prod", "governed.odoo/tier": "production"},
        "prod-by-env": {"governed.odoo/environment": "production", "governed.odoo/tier": "preproduction"},
        "staging": {"governed.odoo/environment": "staging", "governed.odoo/tier": "preproduction"},
        "plain": {},
    }
    names = {key: f"rt-guard-{key}-{tag}" for key in labelled}
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": names[k], "labels": v}}
        for k, v in labelled.items()
    ]
    _kubectl(kube, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objs))
    yield names
    for name in names.values():
        _kubectl(kube, "delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A backup of a small Odoo-shaped database in a bucket of a dedicated SeaweedFS."""
    import odoo_dataset
    from tempweed import TempWeed

    weed = None
    for base in range(18400, 18500, 10):
        with contextlib.suppress(RuntimeError):
            weed = TempWeed(base, workdir=str(tmp_path_factory.mktemp("weed"))).start()
            break
    if weed is None:
        pytest.skip("no free block of ports in 18400-18499 for a temporary SeaweedFS")
    server = lab_postgres()["primary"]
    tag = secrets.token_hex(3)
    src = f"rt_guard_src_{tag}"
    files = tmp_path_factory.mktemp("source") / "filestore" / src
    s3 = {
        "endpoint_url": weed.endpoint,
        "access_key": weed.conn()["access_key"],
        "secret_key": weed.conn()["secret_key"],
        "region": "us-east-1",
    }
    bucket = f"rt-guard-{tag}"
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the backup's progress stream, closed below
    try:
        weed.client().create_bucket(Bucket=bucket)
        odoo_dataset.generate(pg_dsn(server), src, str(files), 2 * 2**20, 10, 2**20, jobs=2, log=lambda m: None)
        pg = pg_params(server)
        engine.run_backup(
            engine.BackupOptions(
                environment=ENV,
                pg=dict(pg, db=src),
                target=engine.StoreTarget(s3, bucket),
                filestore_path=str(files),
                progress_stream=devnull,
            )
        )
        yield {
            "server": server,
            "pg": pg,
            "s3": s3,
            "bucket": bucket,
            "src": src,
            "tag": tag,
            "store": lambda: BackupStore(s3client.make_client(s3), bucket, endpoint=weed.endpoint),
        }
    finally:
        drop_databases(server, lambda n: f"_{tag}" in n)
        weed.cleanup()
        devnull.close()


def options(store, kube, target_db, data, **kw):
    base = dict(
        environment=ENV,
        db_name=store["src"],
        target=dict(store["pg"], db="postgres"),
        target_db=target_db,
        filestore_path=str(data),
        workers=2,
        kube_client_factory=lambda: kclient.client_from_options(kubeconfig=kube["kubeconfig"]),
    )
    base.update(kw)
    return flow.Options(**base)


def databases_like(store, prefix):
    with psycopg.connect(pg_dsn(store["server"]), autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",)).fetchall()
    return sorted(r[0] for r in rows)


@pytest.mark.parametrize(
    ("namespace", "claim"),
    [
        ("prod", {"target_environment": "staging"}),
        ("prod", {"target_environment": "prod", "target_production": False}),
        ("prod-by-env", {"target_environment": "qa"}),
    ],
)
def test_a_production_namespace_cannot_be_downgraded(store, kube, namespaces, tmp_path, namespace, claim):
    target = f"rt_guard_down_{store['tag']}"
    data = tmp_path / "data"
    with pytest.raises(RefusedError, match=rf"namespace {namespaces[namespace]} is labelled production") as err:
        flow.run(store["store"](), options(store, kube, target, data, target_namespace=namespaces[namespace], **claim))
    assert err.value.details["target_namespace"]["production"] is True
    # refused before anything: no database, no staging database, no filestore
    assert databases_like(store, target) == []
    assert not data.exists()


def test_the_same_restore_without_the_namespace_would_have_gone_through(store, kube, tmp_path):
    # what the guard prevents: without target_namespace the caller's word decides (check mode: nothing written)
    res = flow.run(
        store["store"](),
        options(
            store,
            kube,
            f"rt_guard_free_{store['tag']}",
            tmp_path / "data",
            target_environment="staging",
            check_mode=True,
        ),
    )
    assert res["target_production"] is False and res["neutralize_mode"] == "sql" and "target_namespace" not in res


def test_a_production_claim_on_a_production_namespace_passes_the_guard(store, kube, namespaces, tmp_path):
    res = flow.run(
        store["store"](),
        options(
            store,
            kube,
            f"rt_guard_prod_{store['tag']}",
            tmp_path / "data",
            target_environment="prod",
            target_namespace=namespaces["prod"],
            check_mode=True,
        ),
    )
    assert res["target_production"] is True and res["neutralize_mode"] == "none"
    assert res["target_namespace"] == {
        "namespace": namespaces["prod"],
        "environment": "prod",
        "tier": "production",
        "production": True,
    }


@pytest.mark.parametrize("namespace", ["staging", "plain"])
def test_non_production_namespaces_restore_neutralized(store, kube, namespaces, tmp_path, namespace):
    target = f"rt_guard_{namespace}_{store['tag']}"
    res = flow.run(
        store["store"](),
        options(
            store, kube, target, tmp_path / "data", target_environment="staging", target_namespace=namespaces[namespace]
        ),
    )
    try:
        assert res["switched"] and res["target_production"] is False
        assert res["target_namespace"]["production"] is False
        assert res["neutralization"]["verification"]["ok"]
    finally:
        drop_databases(store["server"], lambda n: n == target or n.startswith(target + "__"))


def test_a_missing_namespace_is_refused(store, kube, tmp_path):
    with pytest.raises(RefusedError, match="does not exist in the cluster"):
        flow.run(
            store["store"](),
            options(
                store,
                kube,
                f"rt_guard_typo_{store['tag']}",
                tmp_path / "data",
                target_environment="staging",
                target_namespace="no-such-namespace-x1",
            ),
        )


def test_the_module_refuses_a_downgrade(store, kube, namespaces, tmp_path):
    from _modrun import run_module

    args = dict(
        store["s3"],
        bucket=store["bucket"],
        environment=ENV,
        database=store["src"],
        target_db=f"rt_guard_mod_{store['tag']}",
        target_environment="staging",
        target_production=False,
        target_namespace=namespaces["prod"],
        kubeconfig=kube["kubeconfig"],
        filestore_path=str(tmp_path / "data"),
        **store["pg"],
    )
    res = run_module("restore", args)
    assert res["failed"] and res["error"] == "refused", res
    assert "is labelled production" in res["msg"]
    assert databases_like(store, f"rt_guard_mod_{store['tag']}") == []


def test_dr_restore_playbook_refuses_a_downgraded_production_namespace(store, kube, tmp_path):
    """dr_restore_external.yml passes each environment's namespace: 'production: false' on production's is refused."""
    from restore_lab import run_playbook

    ns = f"rt-guard-dr-{store['tag']}"
    database = f"rt_guard_dr_{store['tag']}"
    objs = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": ns,
                "labels": {"governed.odoo/environment": "prod", "governed.odoo/tier": "production"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "odoo-db", "namespace": ns},
            "type": "Opaque",
            "stringData": {"PGUSER": store["pg"]["login_user"], "PGPASSWORD": "unused"},
        },
    ]
    _kubectl(kube, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objs))
    try:
        dr_vars = {
            "dr_store": dict(store["s3"], bucket=store["bucket"]),
            "dr_environments": [
                {
                    "name": "building-staging-by-mistake",
                    "production": False,
                    "source": {"environment": ENV, "database": store["src"]},
                    "target": {
                        "kube": {"kubeconfig": kube["kubeconfig"]},
                        "namespace": ns,
                        "postgres": store["pg"],
                        "database": database,
                        "filestore_path": str(tmp_path / "data"),
                    },
                }
            ],
        }
        proc = run_playbook("dr_restore_external.yml", dr_vars)
        assert proc.returncode != 0, proc.stdout[-3000:]
        assert f"namespace {ns} is labelled production" in proc.stdout, proc.stdout[-3000:]
        assert "not restored: building-staging-by-mistake" in proc.stdout, proc.stdout[-3000:]
        assert databases_like(store, database) == []
    finally:
        _kubectl(kube, "delete", "namespace", ns, "--wait=false", check=False)
