"""playbooks/site.yml refuses malformed inventories before it changes anything.

Each case writes a small inventory (a dev and a prod instance on the lab) with one thing wrong,
runs site.yml against the lab, and checks that

* the run fails and the output names the offending variable, and
* nothing was created: no namespace of either instance in the cluster, no database or role of
  either instance on the lab's PostgreSQL, no bucket with the run's bucket prefix in the lab's S3.

A control case runs the same inventory unmodified in render-only mode (validation and rendering,
nothing written) to show the failures come from the one thing each case breaks.
"""

from __future__ import annotations

import copy
import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest
import twoinstance_lab
from twoinstance_lab import DIGEST

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", ROOT / ".lab")).resolve()
CONNECTION = LAB_DIR / "connection.json"
PLAYBOOK = ROOT / "playbooks" / "site.yml"
RUN_ID = secrets.token_hex(3)
DEV, PROD = f"bi{RUN_ID}d", f"bi{RUN_ID}p"
BUCKET_PREFIX = f"governed-odoo-badinput-{RUN_ID}"

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    conf = twoinstance_lab.lab_conf()
    return {"conf": conf, "kubectl": twoinstance_lab.kubectl_cmd()}


def base_inventory() -> dict:
    """A valid inventory: {'all': group vars, 'dev': ..., 'prod': ..., 'hosts': {host: (group, vars)}}."""
    secret = (
        "{{ lookup('ansible.builtin.password', secret_dir ~ '/' ~ inventory_hostname"
        " ~ '/%s chars=ascii_letters,digits length=32') }}"
    )
    inv = twoinstance_lab.inventory(
        dev=DEV, prod=PROD, kubeconfig="{{ lab_connection.controlplane.kubeconfig }}",
        postgresql={
            "host": "{{ lab_connection.postgres.primary.host }}",
            "port": "{{ lab_connection.postgres.primary.port }}",
            "admin_user": "{{ lab_connection.postgres.primary.user }}",
            "admin_password": "{{ lab_connection.postgres.primary.password }}",
        },
        s3={
            "endpoint_url": "{{ lab_connection.s3.a.endpoint }}",
            "region": "{{ lab_connection.s3.a.region }}",
            "access_key": "{{ lab_connection.s3.a.access_key }}",
            "secret_key": "{{ lab_connection.s3.a.secret_key }}",
        },
        bucket_prefix=BUCKET_PREFIX, domain="badinput.test",
        secrets={
            name: secret % name.removesuffix("_password")
            for name in ("odoo_admin_password", "postgresql_app_password", "postgresql_reporting_password",
                         "redis_password")
        },
    )
    inv["all"]["lab_connection"] = f"{{{{ lookup('ansible.builtin.file', '{CONNECTION}') | from_json }}}}"
    return inv


def write_inventory(inv: dict, where: Path) -> Path:
    return twoinstance_lab.write(inv, where, secret_dir=str(where / "secrets"))


def run_site(inventory: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    )
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK), *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=900,
    )


def created_anything(lab) -> list[str]:
    """Everything of the two test instances that exists in the cluster, PostgreSQL or S3."""
    import boto3
    import psycopg
    from botocore.config import Config

    res = subprocess.run(
        [*lab["kubectl"], "get", "namespaces", "-o", "name"], capture_output=True, text=True, check=True
    )
    found = [f"namespace {n}" for n in res.stdout.split() if n.startswith(f"namespace/odoo-bi{RUN_ID}")]
    pg = lab["conf"]["postgres"]["primary"]
    with psycopg.connect(
        host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname="postgres"
    ) as db:
        like = f"bi{RUN_ID}%"
        found += [
            f"database {n}"
            for (n,) in db.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (like,)).fetchall()
        ]
        found += [
            f"role {n}" for (n,) in db.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (like,)).fetchall()
        ]
    s3c = lab["conf"]["s3"]["a"]
    s3 = boto3.client(
        "s3",
        endpoint_url=s3c["endpoint"],
        aws_access_key_id=s3c["access_key"],
        aws_secret_access_key=s3c["secret_key"],
        region_name=s3c["region"],
        config=Config(s3={"addressing_style": "path"}),
    )
    found += [
        f"bucket {b['Name']}" for b in s3.list_buckets().get("Buckets", []) if b["Name"].startswith(BUCKET_PREFIX)
    ]
    return found


def _dev(inv):
    return inv["hosts"][f"{DEV}-dev"][1]


def _prod(inv):
    return inv["hosts"][f"{PROD}-prod"][1]


def _overlapping_allowlist(inv):
    inv["dev"]["foundation_egress_allowlist"] = [
        {"name": "erp-gateway", "cidr": "10.210.0.0/24"},
        {"name": "printers", "cidr": "10.210.0.128/25"},
    ]


def _shared_budget(inv):
    # each instance alone fits the lab server (182 of 200 connections free), both together do not:
    # 2 web pods x (8 workers + 1) x 5 + 1 cron pod x 2 x 5 = 100 each
    for host in inv["hosts"].values():
        host[1].update({"odoo_workers": 8, "odoo_db_maxconn": 5, "odoo_max_cron_threads": 2})
    _dev(inv)["odoo_web_replicas"] = 2


def _second_dev_same_hostname(inv):
    inv["hosts"][f"{DEV}x-dev"] = (
        "dev",
        {"governed_odoo_tenant": f"{DEV}x", "ingress_hostnames": [f"{DEV}.dev.badinput.test"]},
    )
    inv["all"]["governed_odoo_netplan"]["tenants"][f"{DEV}x"] = 2


def _second_dev(inv, **more):
    """Another dev instance of the inventory (tenant <DEV>x), with its own network slot."""
    inv["hosts"][f"{DEV}x-dev"] = ("dev", dict({"governed_odoo_tenant": f"{DEV}x"}, **more))
    inv["all"]["governed_odoo_netplan"]["tenants"][f"{DEV}x"] = 2


def _qa_on_the_dedicated_cluster(inv):
    inv["hosts"][f"{DEV}q-qa"] = ("qa", {"governed_odoo_tenant": f"{DEV}q"})
    inv["qa"] = dict(inv["prod"], governed_odoo_environment="qa", governed_odoo_tier="preproduction")
    inv["qa"].pop("odoo_hpa")
    inv["all"]["governed_odoo_netplan"]["environments"]["qa"] = 1
    inv["all"]["governed_odoo_netplan"]["tenants"][f"{DEV}q"] = 3


SHARED_PASSWORD = "Shared-Across-Environments-" + RUN_ID

# Rules over the whole inventory (and the live servers): the instances outside --limit count too. Each case
# is run with --limit <the instance that the case does not change>, so only the inventory rules can refuse it.
LIMITED_CASES = {
    "namespace of an instance outside --limit": (
        lambda inv: _second_dev(inv, governed_odoo_namespace=f"odoo-{DEV}-dev"),
        f"{DEV}-dev",
        [f"governed_odoo_namespace=odoo-{DEV}-dev on cluster lab is used by both", "platform.namespace_collision"],
    ),
    "dedicated cluster used by an instance outside --limit": (
        _qa_on_the_dedicated_cluster,
        f"{PROD}-prod",
        ["governed_odoo_cluster.name=lab-dedicated is dedicated to prod", "platform.dedicated_cluster_shared"],
    ),
    "connection budget shared with an instance outside --limit": (
        _shared_budget,
        f"{DEV}-dev",
        ["shared by 2 instances", "odoo_db_connection_demand", "postgresql.connection_budget"],
    ),
    "one database password in two environments": (
        lambda inv: inv["all"].update(postgresql_app_password=SHARED_PASSWORD),
        f"{PROD}-prod",
        ["postgresql_app_password of", "every environment has its own credentials"],
    ),
}

CASES = {
    # missing variables
    "missing tenant": (lambda inv: _dev(inv).pop("governed_odoo_tenant"), ["governed_odoo_tenant"]),
    "missing admin password": (lambda inv: inv["all"].pop("odoo_admin_password"), ["odoo_admin_password"]),
    "missing host names": (lambda inv: inv["all"].pop("ingress_hostnames"), ["ingress_hostnames"]),
    "missing database server host": (
        lambda inv: inv["all"]["postgresql_external"].pop("host"),
        ["postgresql_external.host"],
    ),
    # wrong values and types
    "unknown environment": (
        lambda inv: inv["dev"].update(governed_odoo_environment="development"),
        ["governed_odoo_environment"],
    ),
    "replicas not a number": (lambda inv: _dev(inv).update(odoo_web_replicas="two"), ["odoo_web_replicas"]),
    "unknown redis persistence": (lambda inv: inv["dev"].update(redis_persistence="always"), ["redis_persistence"]),
    "short password": (lambda inv: _dev(inv).update(redis_password="short"), ["redis_password"]),
    "invalid allowlist network": (
        lambda inv: inv["dev"].update(ingress_allowlist=["10.0.0.300/8"]),
        ["ingress_allowlist[0]"],
    ),
    # overlapping networks
    "plan overlaps a reserved network": (
        lambda inv: inv["all"]["governed_odoo_netplan"]["reserved"].update(corporate="10.200.64.0/18"),
        ["overlap", "governed_odoo_netplan.reserved.corporate"],
    ),
    "overlapping egress allowlist": (_overlapping_allowlist, ["overlap", "foundation_egress_allowlist[0]"]),
    # images
    "tag instead of digest in prod": (
        lambda inv: _prod(inv).update(odoo_image="docker.io/library/odoo:17.0"),
        ["odoo_image", "digest"],
    ),
    # connection budget
    "connection budget cannot fit": (
        lambda inv: _dev(inv).update(odoo_workers=16, odoo_db_maxconn=64),
        ["connection budget", "odoo_workers=16", "odoo_db_maxconn=64", "max_connections"],
    ),
    "connection budget of instances sharing a server": (
        _shared_budget,
        ["shared by 2 instances", "odoo_db_connection_demand"],
    ),
    # policies
    "internet egress outside prod": (
        lambda inv: inv["dev"].update(foundation_egress_mode="internet"),
        ["foundation_egress_mode"],
    ),
    "off-hours scaling in prod": (
        lambda inv: _prod(inv).update(
            odoo_offhours={"enabled": True, "image": "k" + DIGEST, "apiserver_cidrs": ["127.96.0.1/32"]}
        ),
        ["odoo_offhours.enabled"],
    ),
    "break-glass grant too long": (
        lambda inv: inv["dev"].update(
            foundation_breakglass_grants=[
                {
                    "name": "incident",
                    "subject": {"kind": "User", "name": "jane"},
                    "expires": "2099-01-01T00:00:00Z",
                    "reason": "test",
                    "ticket": "INC-1",
                }
            ]
        ),
        ["foundation_breakglass_grants[0].expires"],
    ),
    "prod on a shared cluster": (
        lambda inv: inv["prod"]["governed_odoo_cluster"].update(topology="shared"),
        ["governed_odoo_cluster.topology"],
    ),
    "one host name for two instances": (_second_dev_same_hostname, ["ingress_hostnames", "claimed by"]),
    # connection limits that only PostgreSQL would have seen, applied to the real server
    "negative reserved connections": (
        lambda inv: _dev(inv).update(postgresql_reserved_connections=-10),
        ["postgresql_reserved_connections=-10", "postgresql.connection_limits"],
    ),
    "unlimited reporting connections": (
        lambda inv: _dev(inv).update(postgresql_reporting_connection_limit=-1),
        ["postgresql_reporting_connection_limit=-1", "postgresql.connection_limits"],
    ),
    "role connection limit above the server's": (
        lambda inv: _dev(inv).update(postgresql_app_connection_limit=5000),
        ["postgresql_app_connection_limit=5000 is more than the", "postgresql.connection_budget"],
    ),
    "database server that cannot be read": (
        lambda inv: inv["all"]["postgresql_external"].update(admin_password="not-the-admin-password"),
        ["could not be read", "postgresql.connection_budget"],
    ),
    # values only the API server checked
    "negative cron replicas": (
        lambda inv: _dev(inv).update(odoo_cron_replicas=-1),
        ["odoo_cron_replicas=-1", "odoo.replicas"],
    ),
    "filestore size that is not a quantity": (
        lambda inv: _dev(inv).update(odoo_filestore_volume={"size": "20 GB"}),
        ["odoo_filestore_volume.size=20 GB", "odoo.quantities"],
    ),
    # no injection, no weakening without an audited override
    "allowlists that together cover the internet": (
        lambda inv: inv["dev"].update(
            foundation_egress_allowlist=[{"name": "low", "cidr": "0.0.0.0/1"}, {"name": "high", "cidr": "128.0.0.0/1"}]
        ),
        ["foundation_egress_allowlist covers all of 0.0.0.0/0", "foundation.allowlist_covers_internet"],
    ),
    "line break in an allowlist entry name": (
        lambda inv: inv["dev"].update(
            foundation_egress_allowlist=[
                {
                    "name": "erp\n    - to:\n        - ipBlock:\n            cidr: 0.0.0.0/0\n    #",
                    "cidr": "10.210.0.0/24",
                }
            ]
        ),
        ["foundation_egress_allowlist holds a control character", "foundation.control_characters"],
    ),
    "line break in an odoo.conf option": (
        lambda inv: _dev(inv).update(odoo_extra_options={"log_level": "info\ndb_host = evil.example"}),
        ["odoo_extra_options holds a control character", "odoo.extra_options"],
    ),
    "reserved option in upper case": (
        lambda inv: _dev(inv).update(odoo_extra_options={"DB_HOST": "evil.example"}),
        ["odoo_extra_options may not set DB_HOST"],
    ),
    "break-glass limit raised without an override": (
        lambda inv: inv["dev"].update(foundation_breakglass_max_hours=720),
        ["foundation_breakglass_max_hours=720", "foundation_policy_overrides", "foundation.policy_weakened"],
    ),
    "pod security label without an override": (
        lambda inv: inv["dev"].update(foundation_namespace_labels={"pod-security.kubernetes.io/enforce": "privileged"}),
        ["pod-security.kubernetes.io/enforce", "foundation.policy_weakened"],
    ),
}


def test_control_inventory_is_valid(lab, tmp_path):
    """The unmodified inventory passes validation and renders (nothing is written in render-only mode)."""
    res = run_site(write_inventory(base_inventory(), tmp_path / "inv"), "-e", "governed_odoo_render_only=true")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert created_anything(lab) == []


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_before_any_change(lab, tmp_path, case):
    breaks, expected = CASES[case]
    inv = copy.deepcopy(base_inventory())
    breaks(inv)
    res = run_site(write_inventory(inv, tmp_path / "inv"))
    out = res.stdout + res.stderr
    assert res.returncode != 0, f"{case}: site.yml accepted the inventory:\n{res.stdout[-3000:]}"
    for text in expected:
        assert text in out, f"{case}: the failure does not mention {text!r}:\n{out[-4000:]}"
    # refused in the first play: the provisioning play never started
    assert "Create buckets and databases, then apply" not in res.stdout, f"{case}: provisioning started"
    assert created_anything(lab) == [], f"{case}: something was created"


@pytest.mark.parametrize("case", list(LIMITED_CASES))
def test_instances_outside_the_run_count(lab, tmp_path, case):
    """The instance of the run is valid on its own; what refuses it is another instance of the inventory."""
    breaks, limit, expected = LIMITED_CASES[case]
    inv = copy.deepcopy(base_inventory())
    breaks(inv)
    res = run_site(write_inventory(inv, tmp_path / "inv"), "--limit", limit, "-vvv")
    out = res.stdout + res.stderr
    assert res.returncode != 0, f"{case}: site.yml accepted the inventory:\n{res.stdout[-3000:]}"
    for text in expected:
        assert text in out, f"{case}: the failure does not mention {text!r}:\n{out[-4000:]}"
    assert "Create buckets and databases, then apply" not in res.stdout, f"{case}: provisioning started"
    assert SHARED_PASSWORD not in out, f"{case}: a password was printed"
    assert created_anything(lab) == [], f"{case}: something was created"


def test_what_only_the_api_server_refuses_is_found_before_any_change(lab, tmp_path):
    """Values no rule of the collection judges, refused by the API server: a namespace label value with a space
    (the Namespace the run would create) and a StorageClass name that is not a DNS subdomain (the filestore claim,
    in that namespace, so dry-run in the stand-in namespace). The server-side dry run of every instance names both
    before any bucket, database, role or namespace exists."""
    inv = copy.deepcopy(base_inventory())
    inv["dev"]["foundation_namespace_labels"] = {"team": "construction team"}
    _prod(inv)["odoo_filestore_volume"] = {"size": "20Gi", "storage_class": "Fast_SSD", "access_mode": "ReadWriteMany"}
    res = run_site(write_inventory(inv, tmp_path / "inv"))
    out = res.stdout + res.stderr
    assert res.returncode != 0, f"site.yml accepted the inventory:\n{res.stdout[-3000:]}"
    assert "would refuse" in out and "server-side dry run, nothing was written" in out, out[-4000:]
    assert "construction team" in out, out[-4000:]
    assert "Fast_SSD" in out, out[-4000:]
    # exactly the one bad object of each instance: the rest of each set, validated in the stand-in namespace
    # (RoleBindings, quotas, policies...), passes
    counts = re.findall(r"would refuse (\d+) object", out)
    assert counts and set(counts) == {"1"}, out[-4000:]
    assert "Create the attachments and backups buckets" not in res.stdout, "a bucket task started"
    assert created_anything(lab) == [], "something was created"


def test_what_the_api_server_would_refuse_is_refused_together_by_the_rules(lab, tmp_path):
    """Negative replicas, a port of 70000, the quantity "8 GB" and the schedule "61 25 * * *", spread over both
    instances, are refused together by the rules, before any change (a probe without a handler and a Service port 0
    cannot come from an inventory: tests/integration/test_apply_validate_lab.py shows the dry run naming them)."""
    inv = copy.deepcopy(base_inventory())
    _dev(inv).update(
        odoo_cron_replicas=-1,
        redis_placement="external",
        redis_external={"host": "127.0.0.1", "cidr": "127.0.0.1/32", "port": 70000},
        odoo_offhours={
            "enabled": True,
            "image": "k" + DIGEST,
            "apiserver_cidrs": ["127.96.0.1/32"],
            "down": "61 25 * * *",
        },
    )
    _prod(inv)["redis_resources"] = {"requests": {"memory": "320Mi"}, "limits": {"memory": "8 GB"}}
    res = run_site(write_inventory(inv, tmp_path / "inv"))
    out = res.stdout + res.stderr
    assert res.returncode != 0, f"site.yml accepted the inventory:\n{res.stdout[-3000:]}"
    for text in (
        "odoo_cron_replicas=-1",
        "odoo.replicas",
        "redis_external.port=70000",
        "redis.numbers",
        "odoo_offhours.down=61 25 * * *",
        "odoo.offhours",
        "redis_resources.limits.memory=8 GB",
        "redis.quantities",
    ):
        assert text in out, f"the failure does not mention {text!r}:\n{out[-4000:]}"
    assert "Create buckets and databases, then apply" not in res.stdout, "provisioning started"
    assert created_anything(lab) == [], "something was created"
