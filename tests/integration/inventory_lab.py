"""Helpers of the integration tests that run the playbooks as a user does: on an inventory of their own (dev
instances with unique tenants, namespaces, databases and buckets, built on inventories/lab's group_vars), with
`ansible-playbook -i <inventory> playbooks/<playbook> --limit ...`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import node_lab
from backup_lab import LAB_DIR

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "@sha256:" + "cd" * 32
# generous: site.yml and a restore on a loaded two-core machine take minutes
TIMEOUT = 1800


def kubectl_cmd():
    conf = json.loads((LAB_DIR / "connection.json").read_text())
    return [conf["controlplane"]["kubectl"], "--kubeconfig", conf["controlplane"]["kubeconfig"]]


def data_dir(inv, host):
    """Odoo's data_dir of an instance on the controller: its filestore is <data_dir>/filestore/<database>."""
    return inv.parent / "data" / host


def write_inventory(
    where: Path, hosts: dict, bucket_prefix: str, extra: dict | None = None, filestore=None
) -> Path:
    """Dev instances ``{host: tenant}`` reusing the lab inventory's group_vars, with their own tenants, buckets and a
    GOVERNANCE lock of one day (so that the test can remove its backups). Each instance's filestore is
    <data_dir>/filestore/<database> beside the inventory (or ``filestore(host, tenant)``), its secrets too (Ansible
    would read them as inventory)."""
    filestore = filestore or (lambda host, tenant: data_dir(where, host) / "filestore" / f"{tenant}_dev")
    host_vars = {
        host: {"governed_odoo_tenant": tenant,
               "backup_filestore_path": str(filestore(host, tenant))}
        for host, tenant in hosts.items()
    }
    group = {
        "lab_dir": str(LAB_DIR),
        "lab_secret_dir": str(where.parent / "secrets" / "{{ inventory_hostname }}"),
        "governed_odoo_environment": "dev",
        "governed_odoo_tier": "nonproduction",
        "governed_odoo_netplan": {
            "supernet": "10.200.0.0/16", "environment_prefix": 20, "tenant_prefix": 24,
            "environments": {"dev": 0}, "tenants": {tenant: i for i, tenant in enumerate(hosts.values())},
            "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"},
        },
        "redis_persistence": "none",
        "odoo_filestore": "volume",
        "odoo_workers": 1,
        "odoo_db_maxconn": 4,
        "postgresql_reporting_connection_limit": 2,
        "storage_bucket_prefix": bucket_prefix,
        "storage_backup_lock": {"mode": "GOVERNANCE", "days": 1},
        "backup_runner_image": "ghcr.io/governed-odoo/backup-runner" + DIGEST,
        "backup_pg_bin_dir": "{{ lab_connection.postgres.bin_dir }}",
        "backup_retention": {"daily": 7, "weekly": 4, "monthly": 12},
    }
    group.update(extra or {})
    return node_lab.write_dev_inventory(where, host_vars, group)


def run_playbook(inventory: Path, playbook: str, *extra: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """ansible-playbook -i <inventory> playbooks/<playbook> ..., from ``cwd`` (PWD too: the drill writes there)."""
    return node_lab.run_playbook(inventory, playbook, *extra, cwd=cwd, timeout=TIMEOUT)


output = node_lab.output


def recap(res, host) -> dict:
    m = re.search(rf"^{re.escape(host)}\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                  res.stdout, re.M)
    assert m, f"no play recap for {host}:\n{output(res)}"
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups()), strict=True))


def changed_tasks(res) -> list[str]:
    """The tasks that reported a change, for a failure message."""
    out, task = [], None
    for line in res.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif line.startswith("changed:") and task:
            out.append(f"{task} {line}")
    return out
