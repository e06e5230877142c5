"""In-cluster PostgreSQL and Redis really run on the lab's real node, from the images the lab builds here from Debian
packages (lab/images/postgresql.yaml, lab/images/redis.yaml), with their data on a local PersistentVolume (a
directory under .lab/node/volumes, StorageClass node.storage_class of .lab/connection.json).

A dev instance of its own (unique tenant, namespace and buckets) is provisioned by site.yml from an inventory copied
from inventories/lab, with postgresql_placement and redis_placement in_cluster: the roles' StatefulSets, as they render
them (the images' entrypoint, initdb of an empty data directory with the superuser's password from the mounted Secret
and the initdb ConfigMap's roles, uid 999, read-only root filesystem, pg_isready and redis-cli probes), placed on the
real node by postgresql_node_selector/postgresql_tolerations and redis_node_selector/redis_tolerations. Its Odoo pods
stay on kwok nodes. Shown here:

* the PostgreSQL pod becomes Ready on the real node, its claim bound to one of the node's local volumes, whose
  directory holds the initialised data directory; the Redis pod becomes Ready too;
* a Job on the node, labelled as the role's Odoo pods (the labels the roles' NetworkPolicies let through, enforced by
  kube-router), with the connection settings the Odoo pods get (the ``odoo-db`` ConfigMap and Secret: the Service's DNS
  name, the application role and its password), creates a table and writes and reads a row; the same Job sends Redis
  a PING without the password (refused, NOAUTH) and with it (PONG), at the ``odoo-redis`` ConfigMap's host name;
* the PostgreSQL pod deleted, the StatefulSet's new pod mounts the same volume, becomes Ready, and the row is read
  back: real persistence.

The lab's CoreDNS is a process of the node, not a pod labelled ``k8s-app: kube-dns``, so the foundation role's
``allow-dns-egress`` selects nothing here; the test adds the lab's own DNS allow (as tests/integration/
test_lab_network.py does). Reads .lab/connection.json; skipped, with the reason, when the lab or its node is not up.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import node_lab  # noqa: E402
from backup_lab import LAB_DIR, Lab, wipe_bucket  # noqa: E402
from node_lab import output  # noqa: E402

RUN_ID = secrets.token_hex(3)
TENANT = f"ic{RUN_ID}"
HOST = f"{TENANT}-dev"
NAMESPACE = f"odoo-{HOST}"
BUCKET_PREFIX = f"gic-{RUN_ID}"
NODE_LABEL = "lab.governed.odoo/node"
ON_NODE = {
    "node_selector": {NODE_LABEL: "real"},
    "tolerations": [{"key": NODE_LABEL, "operator": "Equal", "value": "real", "effect": "NoSchedule"}],
}
READY_DEADLINE = 300  # seconds: initdb and the first start on a loaded two-core machine
JOB_DEADLINE = 180

pytestmark = pytest.mark.lab


def connection() -> dict:
    conn = node_lab.connection("postgresql", "redis", "tools")
    if not conn["node"].get("storage_class"):
        pytest.skip("the lab's node has no local volumes (an older lab): run scripts/lab up")
    return conn


def available_volume(conn: dict) -> None:
    """Skip, saying why, when the node's pool has no Available volume (Released ones are recycled by `lab up`)."""
    pvs = json.loads(kubectl("get", "pv", "-o", "json").stdout)["items"]
    if not any(
        v["spec"].get("storageClassName") == conn["node"]["storage_class"] and v["status"].get("phase") == "Available"
        for v in pvs
    ):
        pytest.skip("no Available local volume on the lab's node: run scripts/lab up (it recycles Released ones)")


def kubectl(*args, check=True, timeout=120, stdin=None):
    return node_lab.kubectl(*args, check=check, timeout=timeout, stdin=stdin)


def kjson(*args):
    return json.loads(kubectl(*args, "-n", NAMESPACE, "-o", "json").stdout)


def write_inventory(where: Path, conn: dict) -> Path:
    """One dev instance, reusing the lab inventory's group_vars; its database and Redis in the cluster, on the node."""
    node = conn["node"]
    s3 = conn["s3"]["a"]
    group = {
        "lab_dir": str(LAB_DIR),
        "lab_secret_dir": str(where.parent / "secrets" / "{{ inventory_hostname }}"),
        "governed_odoo_environment": "dev",
        "governed_odoo_tier": "nonproduction",
        "governed_odoo_netplan": {
            "supernet": "10.200.0.0/16",
            "environment_prefix": 20,
            "tenant_prefix": 24,
            "environments": {"dev": 0},
            "tenants": {TENANT: 0},
            "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"},
        },
        # attachments in the environment's bucket: no filestore claim beside the database's
        "odoo_filestore": "object_storage",
        "odoo_workers": 1,
        "odoo_db_maxconn": 4,
        "storage_bucket_prefix": BUCKET_PREFIX,
        "storage_backup_lock": {"mode": "GOVERNANCE", "days": 1},
        "storage_s3": {
            "endpoint_url": "{{ lab_connection.s3.a.endpoint }}",
            "cluster_endpoint_url": f"http://{node['host_address']}:{urlsplit(s3['endpoint']).port}",
            "region": "{{ lab_connection.s3.a.region }}",
            "access_key": "{{ lab_connection.s3.a.access_key }}",
            "secret_key": "{{ lab_connection.s3.a.secret_key }}",
            "validate_certs": False,
            "cidr": node.get("server_cidr", f"{node['host_address']}/32"),
        },
        # the in-cluster servers, from the images the lab built, on the real node, data on its local volumes
        "postgresql_placement": "in_cluster",
        "postgresql_image": node["images"]["postgresql"],
        "postgresql_exporter_image": "",
        "postgresql_replica_enabled": False,
        "postgresql_storage_class": node["storage_class"],
        "postgresql_storage_size": "1Gi",
        "postgresql_parameters": {"shared_buffers": "32MB", "effective_cache_size": "96MB"},
        "postgresql_node_selector": ON_NODE["node_selector"],
        "postgresql_tolerations": ON_NODE["tolerations"],
        "redis_placement": "in_cluster",
        "redis_image": node["images"]["redis"],
        "redis_exporter_image": "",
        "redis_persistence": "none",
        "redis_node_selector": ON_NODE["node_selector"],
        "redis_tolerations": ON_NODE["tolerations"],
    }
    return node_lab.write_dev_inventory(where, {HOST: {"governed_odoo_tenant": TENANT}}, group)


def run_site(inventory: Path) -> subprocess.CompletedProcess:
    return node_lab.run_playbook(inventory, "site.yml", "-e", "governed_odoo_wait=false", limit=HOST, timeout=900)


def dns_allow(conn: dict) -> dict:
    """The lab's stand-in for the foundation role's DNS allow: CoreDNS is a process of the node, not a pod."""
    ports = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "allow-dns-egress-lab-node", "namespace": NAMESPACE},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": f"{conn['node']['dns']['endpoint']}/32"}}], "ports": ports}],
        },
    }


def diagnostics() -> str:
    pods = kubectl("get", "pods", "-n", NAMESPACE, "-o", "wide", check=False).stdout
    pvc = kubectl("get", "pvc", "-n", NAMESPACE, check=False).stdout
    events = kubectl("get", "events", "-n", NAMESPACE, "--sort-by=.lastTimestamp", check=False).stdout[-4000:]
    logs = kubectl("logs", "postgresql-0", "-n", NAMESPACE, "--tail=40", check=False)
    return f"{pods}\n{pvc}\n{events}\npostgresql-0:\n{logs.stdout}{logs.stderr}"


def ready_pod(name: str, not_uid: str | None = None) -> dict:
    """Pod ``name`` once Ready (a new one, when ``not_uid`` names the one it replaces), within minutes."""
    deadline = time.monotonic() + READY_DEADLINE
    while time.monotonic() < deadline:
        res = kubectl("get", "pod", name, "-n", NAMESPACE, "-o", "json", check=False)
        if res.returncode == 0:
            pod = json.loads(res.stdout)
            ready = any(
                c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", [])
            )
            if ready and pod["metadata"]["uid"] != not_uid and not pod["metadata"].get("deletionTimestamp"):
                return pod
        time.sleep(2)
    raise AssertionError(f"pod {name} not Ready in {READY_DEADLINE}s:\n{diagnostics()}")


def run_client(conn: dict, name: str, script: str) -> tuple[str, str]:
    """A Job on the node in the tools image, with the Odoo pods' labels and connection settings; (outcome, log)."""
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "backoffLimit": 0,
            "template": {
                # the labels the roles' policies let reach the database and Redis (the Odoo pods')
                "metadata": {
                    "labels": {
                        "app.kubernetes.io/name": "odoo",
                        "app.kubernetes.io/instance": HOST,
                        "app.kubernetes.io/component": "lab-client",
                    }
                },
                "spec": {
                    "nodeSelector": ON_NODE["node_selector"],
                    "tolerations": ON_NODE["tolerations"],
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    # the namespace enforces the restricted Pod Security Standard
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "client",
                            "image": conn["node"]["images"]["tools"],
                            "command": ["bash", "-c", script],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "envFrom": [
                                {"configMapRef": {"name": "odoo-db"}},
                                {"secretRef": {"name": "odoo-db"}},
                                {"configMapRef": {"name": "odoo-redis"}},
                                {"secretRef": {"name": "odoo-redis"}},
                            ],
                        }
                    ],
                },
            },
        },
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(job))
    deadline = time.monotonic() + JOB_DEADLINE
    while time.monotonic() < deadline:
        status = kjson("get", "job", name).get("status", {})
        done = {c["type"] for c in status.get("conditions", []) if c["status"] == "True"} & {"Complete", "Failed"}
        if done:
            return done.pop(), kubectl("logs", f"job/{name}", "-n", NAMESPACE, check=False).stdout
        time.sleep(1)
    raise AssertionError(f"Job {name} did not finish in {JOB_DEADLINE}s:\n{diagnostics()}")


# kube-router admits a new pod's address into the policies' sets shortly after the pod starts: the first connection is
# retried for a minute (and the log says after how many tries it went through)
CONNECT = r"""
for try in $(seq 60); do psql -Atc 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
echo "connected after $try tries"
"""

WRITE = (
    r"""
set -euo pipefail
echo "PGHOST=$PGHOST"
"""
    + CONNECT
    + r"""
psql -v ON_ERROR_STOP=1 -Atc "CREATE TABLE lab_probe (note text); INSERT INTO lab_probe VALUES ('$NOTE')"
echo "row: $(psql -v ON_ERROR_STOP=1 -Atc 'SELECT note FROM lab_probe')"
echo "server: $(psql -Atc 'SELECT current_setting($$server_version_num$$), current_user, session_user')"
redis() { # one connection: the commands given, their replies
    exec 3<>"/dev/tcp/$ODOO_SESSION_REDIS_HOST/$ODOO_SESSION_REDIS_PORT"
    printf '%b' "$1" >&3
    timeout 5 head -n "$2" <&3 | tr -d '\r'
    exec 3<&-
}
echo "redis without password: $(redis 'PING\r\n' 1)"
echo "redis with password: $(redis "AUTH $ODOO_SESSION_REDIS_PASSWORD\r\nPING\r\n" 2 | tr '\n' ' ')"
"""
)

READ = (
    r"""
set -euo pipefail
"""
    + CONNECT
    + r"""
echo "row: $(psql -v ON_ERROR_STOP=1 -Atc 'SELECT note FROM lab_probe')"
"""
)


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """Provisioned by site.yml, PostgreSQL and Redis Ready on the node; the connection details. Removed afterwards."""
    conn = connection()
    if kubectl("get", "--raw", "/readyz", check=False).returncode != 0:
        pytest.skip("lab API server not reachable")
    available_volume(conn)
    lab = Lab()
    base = tmp_path_factory.mktemp("incluster-data")
    inv = write_inventory(base / "inv", conn)
    try:
        res = run_site(inv)
        assert res.returncode == 0, output(res)
        kubectl("apply", "-f", "-", stdin=json.dumps(dns_allow(conn)))
        yield conn, ready_pod("postgresql-0"), ready_pod("redis-0")
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
        for bucket in (f"{BUCKET_PREFIX}-dev-backups", f"{BUCKET_PREFIX}-dev-attachments"):
            wipe_bucket(lab.client("a"), bucket)


def test_postgresql_and_redis_run_on_the_node_from_the_lab_images_with_a_local_volume(instance):
    conn, pg, redis = instance
    node = conn["node"]
    for pod, image in ((pg, node["images"]["postgresql"]), (redis, node["images"]["redis"])):
        assert pod["spec"]["nodeName"] == node["name"]
        assert pod["spec"]["containers"][0]["image"] == image
        assert pod["spec"]["securityContext"]["runAsUser"] == 999
    pvc = kjson("get", "pvc", "data-postgresql-0")
    assert pvc["status"]["phase"] == "Bound" and pvc["spec"]["storageClassName"] == node["storage_class"]
    pv = json.loads(kubectl("get", "pv", pvc["spec"]["volumeName"], "-o", "json").stdout)
    path = Path(pv["spec"]["local"]["path"])
    assert path.parent == Path(node["volumes"]["dir"]) and LAB_DIR in path.parents
    # the entrypoint's initdb wrote the data directory there, as uid 999
    assert (path / "pgdata" / "PG_VERSION").read_text().strip() == "15"
    assert (path / "pgdata").stat().st_uid == 999


def test_a_pod_writes_and_reads_a_row_and_redis_answers_an_authenticated_ping(instance):
    conn, _pg, _redis = instance
    note = f"written-{RUN_ID}"
    outcome, log = run_client(conn, "write", WRITE.replace("$NOTE", note))
    assert outcome == "Complete", f"{log}\n{diagnostics()}"
    assert f"PGHOST=postgresql.{NAMESPACE}.svc" in log, log  # the Service, by its DNS name
    assert f"row: {note}" in log, log
    # PostgreSQL 15, the application role logged in, its session as the owner role (the initdb ConfigMap's roles)
    db = f"{TENANT}_dev"
    assert "server: 15" in log and f"|{db}_owner|{db}_app" in log, log
    assert "redis without password: -NOAUTH" in log, log
    assert "redis with password: +OK +PONG" in log, log


def test_the_row_survives_the_postgresql_pod(instance):
    conn, _pg, _redis = instance
    before = kjson("get", "pod", "postgresql-0")
    if kubectl("get", "job", "write", "-n", NAMESPACE, check=False).returncode != 0:
        pytest.skip("the write test did not run")
    kubectl("delete", "pod", "postgresql-0", "-n", NAMESPACE, "--wait=true", timeout=180)
    after = ready_pod("postgresql-0", not_uid=before["metadata"]["uid"])
    assert after["spec"]["nodeName"] == conn["node"]["name"]
    data = [[v for v in p["spec"]["volumes"] if v["name"] == "data"] for p in (before, after)]
    assert data[0] == data[1] and data[0][0]["persistentVolumeClaim"]["claimName"] == "data-postgresql-0"
    outcome, log = run_client(conn, "read", READ)
    assert outcome == "Complete", f"{log}\n{diagnostics()}"
    assert f"row: written-{RUN_ID}" in log, log
