"""No secret of the inventory reaches the output of a refused or failed run, even with -vvv.

Each case writes a small inventory (a dev and a prod instance on the lab) whose every secret is a fresh random
value known to the test, runs site.yml or backup.yml with -vvv against the lab on a path that refuses the inventory
or fails at the database step (nothing is created on either path), and searches the whole output (stdout and
stderr) for every secret value, as written and base64-encoded. A case first checks that its run took the path it is
meant to take, so that a run that stopped elsewhere cannot pass for a clean one.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
from pathlib import Path

import pytest
import twoinstance_lab

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = secrets.token_hex(3)
DEV, PROD = f"lk{RUN_ID}d", f"lk{RUN_ID}p"
BUCKET_PREFIX = f"governed-odoo-leak-{RUN_ID}"

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab():
    return twoinstance_lab.lab_conf()


def _secret():
    return "Lk-" + secrets.token_urlsafe(24)


def inventory(conf, **overrides):
    """(inventory dict, {name: secret value}) of a valid two-instance inventory with fresh secrets."""
    pg, s3 = conf["postgres"]["primary"], conf["s3"]["a"]
    values = {
        "odoo_admin_password": _secret(),
        "redis_password": _secret(),
        "backup_encryption_key": secrets.token_hex(32),
    }
    values.update(overrides)
    # each environment has its own database credentials (the rules refuse one password in two environments)
    per_env = {
        env: {name: _secret() for name in ("postgresql_app_password", "postgresql_reporting_password")}
        for env in ("dev", "prod")
    }
    inv = twoinstance_lab.inventory(
        dev=DEV, prod=PROD, kubeconfig=conf["controlplane"]["kubeconfig"],
        postgresql={"host": pg["host"], "port": pg["port"], "admin_user": pg["user"],
                    "admin_password": values.pop("postgresql_admin_password", pg["password"])},
        s3={"endpoint_url": s3["endpoint"], "region": s3["region"], "access_key": s3["access_key"],
            "secret_key": s3["secret_key"]},
        bucket_prefix=BUCKET_PREFIX, domain="leak.test", secrets=values, per_env=per_env,
    )
    found = dict(values)
    found.update({f"{name} ({env})": value for env, names in per_env.items() for name, value in names.items()})
    found.update(
        {
            "postgresql_external.admin_password": inv["all"]["postgresql_external"]["admin_password"],
            "lab postgres password": pg["password"],
            "storage_s3.access_key": s3["access_key"],
            "storage_s3.secret_key": s3["secret_key"],
        }
    )
    return inv, found


def write_inventory(inv, where: Path) -> Path:
    return twoinstance_lab.write(inv, where)


def run(playbook, inventory_dir, *extra):
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
    )
    res = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-vvv", "-i", str(inventory_dir),
         str(ROOT / "playbooks" / playbook), *extra],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=900,
    )
    return res, res.stdout + res.stderr


def leaks(output, found):
    """Every secret (as written or base64-encoded) found in ``output``, with the first line that holds it."""
    out = []
    for name, value in sorted(found.items()):
        value = str(value)
        for form, text in (("as written", value), ("base64", base64.b64encode(value.encode()).decode())):
            if text in output:
                line = next(ln for ln in output.splitlines() if text in ln)
                out.append(f"{name} ({form}) in: {line.replace(text, '<' + name + '>')[:300]}")
    return out


# (playbook, secrets to override, extra arguments, a text the output must hold: the path the run is meant to take)
CASES = {
    "site.yml refuses the inventory": (
        "site.yml",
        # a password the rules refuse: the refusal names the variable, never the value
        {"redis_password": "short-" + secrets.token_hex(4)},
        ["-e", '{"odoo_web_replicas": 0}'],
        "redis_password must be set and at least 16 characters long",
    ),
    "site.yml fails at the database step": (
        "site.yml",
        {"postgresql_admin_password": _secret()},
        [],
        "password authentication failed",
    ),
    "backup.yml refuses the inventory": (
        "backup.yml",
        {"backup_encryption_key": "not-a-key-" + secrets.token_hex(8)},
        ["-e", "backup_schedule='61 1 * * *'"],
        "backup_encryption_key must be 32 bytes",
    ),
    "backup.yml fails at the database step": (
        "backup.yml",
        # the instance's role does not exist on the lab server: the login is refused before anything is written
        {},
        [],
        "the backup preflight failed, nothing was changed",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_no_secret_in_the_output(lab, tmp_path, case):
    playbook, overrides, extra, path_taken = CASES[case]
    inv, found = inventory(lab, **overrides)
    res, out = run(playbook, write_inventory(inv, tmp_path / "inv"), *extra)
    assert res.returncode != 0, f"{case}: the run succeeded:\n{out[-3000:]}"
    assert path_taken in out, f"{case}: the run did not fail where this case expects ({path_taken!r}):\n{out[-4000:]}"
    if playbook == "site.yml":
        assert "Create buckets and databases, then apply" not in res.stdout, f"{case}: provisioning started"
    found_leaks = leaks(out, found)
    assert not found_leaks, f"{case}: secrets in the output of {playbook} -vvv:\n" + "\n".join(found_leaks)


def test_the_search_finds_a_secret_in_either_form():
    """The search itself can fail: a secret as written or base64-encoded is found, with its line masked."""
    found = {"redis_password": "Lk-s3cr3t-value"}
    encoded = base64.b64encode(b"Lk-s3cr3t-value").decode()
    assert leaks("ok\nargs: password=Lk-s3cr3t-value\n", found) == [
        "redis_password (as written) in: args: password=<redis_password>"
    ]
    assert leaks(f"data: {encoded}", found) == ["redis_password (base64) in: data: <redis_password>"]
    assert leaks("redis_password must be set", found) == []
