"""The small inventory that the refusal tests write (test_site_bad_input, test_no_secret_leaks): one dev and one prod
instance on the lab, each with a tenant of the run's own, as a dict that a case can break in one place before
``write`` puts it on disk.

One copy, so that a variable the roles start to require is added once for every case of both files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from backup_lab import LAB_DIR
from inventory_lab import kubectl_cmd

DIGEST = "@sha256:" + "ab" * 32


def lab_conf(*parts: str) -> dict:
    """The lab's connection details; skips when the lab, one of ``parts`` or its API server is missing."""
    path = LAB_DIR / "connection.json"
    try:
        conf = json.loads(path.read_text())
    except (OSError, ValueError):
        pytest.skip(f"lab not up: {path} is missing (scripts/lab up)")
    for part in parts or ("controlplane", "postgres", "s3"):
        if part not in conf:
            pytest.skip(f"lab not up: {path} has no {part}")
    if subprocess.run([*kubectl_cmd(), "get", "--raw", "/readyz"], capture_output=True, check=False).returncode:
        pytest.skip("lab API server not reachable")
    return conf


def inventory(
    *, dev: str, prod: str, kubeconfig: str, postgresql: dict, s3: dict, bucket_prefix: str, domain: str,
    secrets: dict, per_env: dict | None = None,
) -> dict:
    """{'all': group vars, 'dev': ..., 'prod': ..., 'hosts': {host: (group, vars)}} of a valid inventory.

    ``postgresql`` is {host, port, admin_user, admin_password} and ``s3`` is {endpoint_url, region, access_key,
    secret_key} (values or Jinja expressions); ``secrets`` go to all, ``per_env[env]`` to that environment's group."""
    per_env = per_env or {}
    return {
        "all": {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "governed_odoo_instance": "{{ governed_odoo_tenant }}-{{ governed_odoo_environment }}",
            "governed_odoo_namespace": "odoo-{{ governed_odoo_instance }}",
            "governed_odoo_size": "small",
            "governed_odoo_netplan": {
                "supernet": "10.200.0.0/16",
                "environment_prefix": 20,
                "tenant_prefix": 24,
                "environments": {"dev": 0, "prod": 5},
                "tenants": {dev: 0, prod: 1},
                "reserved": {"lab_pods": "198.18.0.0/15", "lab_services": "127.96.0.0/16"},
            },
            "odoo_image": "docker.io/library/odoo" + DIGEST,
            "redis_image": "docker.io/library/redis" + DIGEST,
            "backup_runner_image": "ghcr.io/governed-odoo/backup-runner" + DIGEST,
            "postgresql_placement": "external",
            "postgresql_external": {**postgresql, "ssl_mode": "disable", "cidr": "127.0.0.1/32"},
            "storage_s3": {**s3, "validate_certs": False, "cidr": "127.0.0.1/32"},
            "storage_bucket_prefix": bucket_prefix,
            "ingress_hostnames": [f"{{{{ governed_odoo_tenant }}}}.{{{{ governed_odoo_environment }}}}.{domain}"],
            "ingress_allowlist": ["127.0.0.0/8"],
            "ingress_traefik": {"namespace": "traefik", "source_cidrs": ["127.0.0.1/32"]},
            "odoo_db_maxconn": 4,
            "odoo_workers": 1,
            **secrets,
        },
        "dev": {
            **per_env.get("dev", {}),
            "governed_odoo_environment": "dev",
            "governed_odoo_tier": "nonproduction",
            "governed_odoo_cluster": {"name": "lab", "topology": "shared", "kubeconfig": kubeconfig},
        },
        "prod": {
            **per_env.get("prod", {}),
            "governed_odoo_environment": "prod",
            "governed_odoo_tier": "production",
            "governed_odoo_cluster": {"name": "lab-dedicated", "topology": "dedicated", "kubeconfig": kubeconfig},
            "odoo_hpa": {"enabled": True, "min_replicas": 2, "max_replicas": 2},
            "ingress_tls": {"default_certificate": "the lab's Traefik serves its self-signed default certificate"},
        },
        "hosts": {
            f"{dev}-dev": ("dev", {"governed_odoo_tenant": dev}),
            f"{prod}-prod": ("prod", {"governed_odoo_tenant": prod}),
        },
    }


def write(inv: dict, where: Path, **all_extra) -> Path:
    """The inventory as a directory (hosts.yml and group_vars/), replacing what ``where`` held."""
    shutil.rmtree(where, ignore_errors=True)
    (where / "group_vars").mkdir(parents=True)
    groups: dict = {"dev": {}, "prod": {}}
    for host, (group, hvars) in inv["hosts"].items():
        groups.setdefault(group, {})[host] = hvars
    (where / "hosts.yml").write_text(json.dumps({"all": {"children": {g: {"hosts": h} for g, h in groups.items()}}}))
    (where / "group_vars" / "all.yml").write_text(json.dumps(dict(inv["all"], **all_extra)))
    for group in groups:
        (where / "group_vars" / f"{group}.yml").write_text(json.dumps(inv.get(group, {})))
    return where
