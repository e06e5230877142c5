"""The off-hours CronJobs really run: triggered now, their Jobs scale the instance's Deployments down and back up,
on the lab's real node, in the lab's scaler image (kubectl, lab/images/offhours-scaler.yaml), through the API server
as pods reach it (the `kubernetes` Service; the lab API server advertises the host's end of the node's veth) and
through the NetworkPolicy `allow-offhours-to-apiserver` under kube-router's enforcement.

A dev instance of its own (unique tenant, namespace, database and buckets) is provisioned by site.yml from an inventory
copied from inventories/lab, with `odoo_offhours` on: the image by digest from .lab/connection.json, the API server as
a NetworkPolicy on the node sees it (`node.apiserver`: the advertised address and the API server's own port, after
kube-proxy's DNAT of the ClusterIP), and the scaler's pods placed on the real node
(odoo_offhours_node_selector/odoo_offhours_tolerations): all of it as the lab inventory runs maint-qa's scaler
(lab_offhours_scaler and its placement, inventories/lab/group_vars/all/main.yml); its Odoo pods stay on kwok nodes.
Shown here:

* ``kubectl create job --from=cronjob/odoo-offhours-down``: the Job completes on the real node and both Deployments'
  ``spec.replicas`` are 0; ``--from=cronjob/odoo-offhours-up``: back to odoo_web_replicas and odoo_cron_replicas;
* a pod of the namespace with the scaler's ServiceAccount but not its label (so no NetworkPolicy allows its egress)
  does not reach the API server: the allow is what lets the scaler through.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import node_lab  # noqa: E402
from backup_lab import LAB_DIR, Lab, wipe_bucket  # noqa: E402

RUN_ID = secrets.token_hex(3)
TENANT = f"oh{RUN_ID}"
HOST = f"{TENANT}-dev"
NAMESPACE = f"odoo-{HOST}"
DB = f"{TENANT}_dev"
BUCKET_PREFIX = f"goh-{RUN_ID}"
NODE_LABEL = "lab.governed.odoo/node"
NODE_NAME = "lab-real-0"
WEB_REPLICAS, CRON_REPLICAS = 2, 1
JOB_DEADLINE = 240  # seconds: a pod on the real node of a loaded two-core machine

pytestmark = pytest.mark.lab


def connection():
    conn = node_lab.connection("offhours-scaler")
    if "apiserver" not in conn["node"]:
        pytest.skip("the lab's node has no scaler image or API server path (a lab from before): run scripts/lab up")
    return conn


def kubectl(*args, check=True, timeout=120, stdin=None):
    return node_lab.kubectl(*args, check=check, timeout=timeout, stdin=stdin)


def kjson(*args):
    return json.loads(kubectl(*args, "-n", NAMESPACE, "-o", "json").stdout)


def write_inventory(where: Path) -> Path:
    """One dev instance with off-hours scaling, reusing the lab inventory's group_vars; the scaler on the real node
    (where the lab inventory puts off-hours CronJobs when the lab has the node), its Odoo pods on kwok."""
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
        "redis_persistence": "none",
        "odoo_filestore": "object_storage",
        "odoo_workers": 1,
        "odoo_db_maxconn": 4,
        "postgresql_reporting_connection_limit": 2,
        "storage_bucket_prefix": BUCKET_PREFIX,
        "storage_backup_lock": {"mode": "GOVERNANCE", "days": 1},
        "odoo_web_replicas": WEB_REPLICAS,
        "odoo_cron_replicas": CRON_REPLICAS,
        # the scaler as the lab inventory runs it (maint-qa's): its image by digest and the API server as the node's
        # NetworkPolicy enforcer sees it (lab_offhours_scaler), its pods on the real node
        "odoo_offhours": "{{ {'enabled': true} | combine(lab_offhours_scaler) }}",
    }
    return node_lab.write_dev_inventory(where, {HOST: {"governed_odoo_tenant": TENANT}}, group)


def run_playbook(inventory: Path, playbook: str, *extra: str) -> subprocess.CompletedProcess:
    return node_lab.run_playbook(inventory, playbook, *extra, limit=HOST, timeout=900)


output = node_lab.output


def logs(job: str) -> str:
    return kubectl("logs", f"job/{job}", "-n", NAMESPACE, "--tail=100", check=False).stdout


def conditions(obj) -> set[str]:
    return {c["type"] for c in obj.get("status", {}).get("conditions", []) if c["status"] == "True"}


def run_job(cronjob: str, name: str) -> tuple[dict, dict]:
    """A Job created from ``cronjob`` now, waited for (minutes) until it completes or fails; (job, its last pod)."""
    kubectl("create", "job", name, f"--from=cronjob/{cronjob}", "-n", NAMESPACE)
    deadline = time.monotonic() + JOB_DEADLINE
    while True:
        job = kjson("get", "job", name)
        if conditions(job) & {"Complete", "Failed"}:
            break
        if time.monotonic() > deadline:
            pods = kubectl("get", "pods", "-n", NAMESPACE, "-l", f"job-name={name}", "-o", "wide", check=False).stdout
            events = kubectl("get", "events", "-n", NAMESPACE, check=False).stdout[-3000:]
            raise AssertionError(
                f"Job {name} neither completed nor failed in {JOB_DEADLINE}s:\n{pods}\n{events}\n{logs(name)}"
            )
        time.sleep(2)
    pods = kjson("get", "pods", "-l", f"job-name={name}")["items"]
    return job, pods[-1]


def replicas() -> dict[str, int | None]:
    return {c: kjson("get", "deployment", f"odoo-{c}")["spec"].get("replicas") for c in ("web", "cron")}


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """Provisioned by site.yml; (inventory, connection). Removed afterwards."""
    conn = connection()
    if kubectl("get", "--raw", "/readyz", check=False).returncode != 0:
        pytest.skip("lab API server not reachable")
    lab = Lab()
    base = tmp_path_factory.mktemp("offhours")
    inv = write_inventory(base / "inv")
    try:
        res = run_playbook(inv, "site.yml", "-e", "governed_odoo_wait=false")
        assert res.returncode == 0, output(res)
        yield inv, conn
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
        with lab.connect() as c:
            for (name,) in c.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f"%{DB}%",)).fetchall():
                lab.drop_db(name)
            for role in ("app", "reporting", "owner"):
                c.execute(f'DROP ROLE IF EXISTS "{DB}_{role}"')
        for bucket in (f"{BUCKET_PREFIX}-dev-backups", f"{BUCKET_PREFIX}-dev-attachments"):
            wipe_bucket(lab.client("a"), bucket)


@pytest.fixture(scope="module")
def down(instance):
    """The CronJob odoo-offhours-down triggered now: (job, pod, the Deployments' replicas before and after)."""
    before = replicas()
    job, pod = run_job("odoo-offhours-down", f"down-now-{RUN_ID}")
    return job, pod, before, replicas()


def test_the_cronjobs_run_the_lab_scaler_image_on_the_real_node_with_an_egress_allow_to_the_apiserver(instance):
    _inv, conn = instance
    api = conn["node"]["apiserver"]
    for phase in ("down", "up"):
        pod = kjson("get", "cronjob", f"odoo-offhours-{phase}")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"] == conn["node"]["images"]["offhours-scaler"]
        assert pod["nodeSelector"] == {NODE_LABEL: "real"}
        assert pod["serviceAccountName"] == "odoo-offhours"
    policy = kjson("get", "networkpolicy", "allow-offhours-to-apiserver")["spec"]
    assert policy["egress"] == [
        {"to": [{"ipBlock": {"cidr": f"{api['address']}/32"}}], "ports": [{"protocol": "TCP", "port": api["port"]}]}
    ]
    # the `kubernetes` Service has the advertised address as its endpoint (kube-proxy sends the ClusterIP there)
    (slice_,) = json.loads(
        kubectl(
            "get", "endpointslices", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes", "-o", "json"
        ).stdout
    )["items"]
    assert [a for e in slice_["endpoints"] for a in e["addresses"]] == [api["address"]]
    # the Odoo pods stay on the kwok nodes, and the scaler owns the replica count
    web = kjson("get", "deployment", "odoo-web")
    assert NODE_LABEL not in (web["spec"]["template"]["spec"].get("nodeSelector") or {})
    assert web["metadata"]["annotations"]["governed.odoo/replicas-owner"] == "off-hours scaler"


def test_the_down_job_scales_both_deployments_to_zero(down):
    job, pod, before, after = down
    name = job["metadata"]["name"]
    assert "Complete" in conditions(job) and "Failed" not in conditions(job), logs(name)
    assert pod["spec"]["nodeName"] == NODE_NAME
    assert job["status"].get("succeeded") == 1, job["status"]
    assert before == {"web": 1, "cron": 1}, before  # the Deployments' default: the role leaves replicas to the scaler
    assert after == {"web": 0, "cron": 0}, logs(name)
    out = logs(name)
    assert "deployment.apps/odoo-web scaled" in out and "deployment.apps/odoo-cron scaled" in out, out


def test_the_up_job_scales_them_back(down):
    job, pod = run_job("odoo-offhours-up", f"up-now-{RUN_ID}")
    name = job["metadata"]["name"]
    assert "Complete" in conditions(job) and "Failed" not in conditions(job), logs(name)
    assert pod["spec"]["nodeName"] == NODE_NAME
    assert replicas() == {"web": WEB_REPLICAS, "cron": CRON_REPLICAS}, logs(name)


def test_without_the_scalers_label_no_policy_lets_a_pod_reach_the_apiserver(instance, down):
    """The same image, ServiceAccount and node, but not the scaler's label: the namespace's default deny applies."""
    _inv, conn = instance
    _job, pod, _before, _after = down
    name = f"unlabelled-{RUN_ID}"
    spec = pod["spec"]
    probe = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/name": "probe"}},
        "spec": {
            "serviceAccountName": "odoo-offhours",
            "restartPolicy": "Never",
            "nodeSelector": spec["nodeSelector"],
            "tolerations": spec["tolerations"],
            "securityContext": spec["securityContext"],
            "containers": [
                {
                    "name": "probe",
                    "image": spec["containers"][0]["image"],
                    # no --request-timeout: a flag that overrides the client configuration turns kubectl's
                    # in-cluster fallback off (it would dial localhost:8080)
                    "command": ["timeout", "120", "kubectl", "get", "deployment", "odoo-web", "-o", "name"],
                    "securityContext": spec["containers"][0]["securityContext"],
                    "resources": spec["containers"][0]["resources"],
                }
            ],
        },
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(probe))
    deadline = time.monotonic() + JOB_DEADLINE
    while (phase := kjson("get", "pod", name)["status"].get("phase")) not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, f"pod {name} still {phase}"
        time.sleep(2)
    out = kubectl("logs", name, "-n", NAMESPACE, check=False).stdout
    assert phase == "Failed", out
    # cut off on the way (kube-router rejects it) to the `kubernetes` ClusterIP, not refused by the API server (the
    # ServiceAccount's token may get the Deployment)
    assert "deployment.apps/odoo-web" not in out and "forbidden" not in out.lower(), out
    assert f"{conn['node']['apiserver']['service_ip']}:443" in out, out
    assert any(s in out for s in ("refused", "i/o timeout", "deadline exceeded")), out
