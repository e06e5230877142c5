"""What the lab tests (and bench/) that put an instance on the lab's real node share: the connection details, kubectl,
ansible-playbook run as a user runs it, a release record with its scan report, a failed run's output, a page
opened in headless Chromium as a person opens it, and the lab's Prometheus (its address and an instant query).

One copy of each, so that a change to how the lab is reached (a port, a path, a timeout) is made once.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from backup_lab import LAB_DIR

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK_TIMEOUT = 1800  # one playbook on a loaded two-core machine: minutes


def connection(*images: str) -> dict:
    """The lab's connection details; skips the test when the lab, its real node or one of ``images`` is missing."""
    path = LAB_DIR / "connection.json"
    if not path.exists():
        pytest.skip("the lab is not up: run scripts/lab up")
    conn = json.loads(path.read_text())
    node = conn.get("node") or {}
    if not node.get("enabled"):
        pytest.skip(f"the lab's real node is not enabled: {node.get('reason', 'run scripts/lab up')}")
    for image in images:
        if image not in node.get("images", {}):
            pytest.skip(f"the lab's node has no {image} image (lab/images/{image}.yaml): run scripts/lab up")
    return conn


def prometheus(*scrapes: str) -> dict:
    """The lab's Prometheus as connection.json names it (``url``, ``pushgateway_url``, ``scrapes``); the environment
    variables GOVERNED_ODOO_LAB_PROMETHEUS_URL and GOVERNED_ODOO_LAB_PUSHGATEWAY_URL override the addresses. Skips
    the test when the lab has no Prometheus; fails when it does not scrape one of ``scrapes`` (a lab component)."""
    path = LAB_DIR / "connection.json"
    prom = dict((json.loads(path.read_text()) if path.exists() else {}).get("prometheus") or {})
    prom["url"] = os.environ.get("GOVERNED_ODOO_LAB_PROMETHEUS_URL") or prom.get("url")
    prom["pushgateway_url"] = os.environ.get("GOVERNED_ODOO_LAB_PUSHGATEWAY_URL") or prom.get("pushgateway_url")
    if not prom["url"] or not prom["pushgateway_url"]:
        pytest.skip("the lab's Prometheus and Pushgateway are not up: run scripts/lab up")
    for scrape in scrapes:
        if scrape not in prom.get("scrapes", {}):
            pytest.fail(f"the lab's Prometheus does not scrape {scrape} (lab/services.py Prometheus)")
    return prom


def prom_query(expr: str, url: str | None = None) -> list:
    """The result vector (or matrix, for a range selector) of the instant query ``expr`` on the lab's Prometheus
    (or on ``url``); fails unless Prometheus answers success."""
    base = url or prometheus()["url"]
    # the lab's own address: never through a proxy that the environment may name
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout=60) as r:
        body = json.loads(r.read())
    assert body.get("status") == "success", body
    return body["data"]["result"]


def postgresql_external(conn: dict) -> dict:
    """``postgresql_external`` for an instance whose pods or Jobs run on the lab's real node: the controller reaches the
    lab's PostgreSQL on loopback, the pods at the node's host address on the same port (the lab's DNAT), and the
    node's NetworkPolicy enforcer sees their connections after that DNAT (``cidr``); reporting on the replica."""
    node = conn["node"]
    return {
        "host": "{{ lab_connection.postgres.primary.host }}",
        "port": "{{ lab_connection.postgres.primary.port }}",
        "cluster_host": node["host_address"],
        "admin_user": "{{ lab_connection.postgres.primary.user }}",
        "admin_password": "{{ lab_connection.postgres.primary.password }}",
        "admin_database": "postgres",
        "ssl_mode": "disable",
        "cidr": node.get("server_cidr", f"{node['host_address']}/32"),
        "reporting_host": "{{ lab_connection.postgres.replica.host }}",
        "reporting_port": "{{ lab_connection.postgres.replica.port }}",
    }


def kubectl(*args: str, check: bool = True, timeout: float = 300, stdin: str | None = None):
    """The lab's kubectl with its kubeconfig; an AssertionError with kubectl's message when ``check`` and it failed."""
    conn = json.loads((LAB_DIR / "connection.json").read_text())
    res = subprocess.run(
        [conn["controlplane"]["kubectl"], "--kubeconfig", conn["controlplane"]["kubeconfig"], *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if check and res.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {res.stderr}")
    return res


def kget(kind: str, name: str, namespace: str) -> dict | None:
    """One object as JSON, or None when it does not exist."""
    res = kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    if res.returncode != 0:
        if "NotFound" in res.stderr or "not found" in res.stderr:
            return None
        raise AssertionError(res.stderr)
    return json.loads(res.stdout)


def write_dev_inventory(where: Path, hosts: dict, group: dict) -> Path:
    """An inventory of dev instances ``{host: host_vars}`` in the shared cluster, reusing the lab inventory's
    group_vars (all, shared_cluster), with ``group`` as the dev group's variables."""
    lab_inv = ROOT / "inventories" / "lab"
    (where / "group_vars" / "all").mkdir(parents=True)
    for name in ("main.yml", "secrets.yml"):
        shutil.copy(lab_inv / "group_vars" / "all" / name, where / "group_vars" / "all" / name)
    shutil.copy(lab_inv / "group_vars" / "shared_cluster.yml", where / "group_vars" / "shared_cluster.yml")
    inventory = {"all": {"children": {"shared_cluster": {"children": {"dev": {"hosts": hosts}}}}}}
    (where / "hosts.yml").write_text(json.dumps(inventory))
    (where / "group_vars" / "dev.yml").write_text(json.dumps(group, indent=1))
    return where


def play_env(*path: Path) -> dict:
    """The environment of a user's run: the repository's ansible.cfg, the venv (and ``path``) first on PATH."""
    dirs = [str(ROOT / ".venv" / "bin"), *(str(p) for p in path), os.environ.get("PATH", "")]
    return dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        GOVERNED_ODOO_LAB_DIR=str(LAB_DIR),
        PATH=":".join(dirs),
    )


def run_playbook(
    inventory: Path,
    playbook: str,
    *extra: str,
    limit: str | None = None,
    path: tuple[Path, ...] = (),
    timeout: float = PLAYBOOK_TIMEOUT,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess:
    """``ansible-playbook -i inventory playbooks/<playbook> [--limit limit] extra...`` from ``cwd`` (PWD too: the drill
    writes there); appended to the file that ``GOVERNED_ODOO_TEST_PLAYBOOK_LOG`` names, when set, so that a failed CI
    run keeps every playbook's output."""
    book = playbook if playbook.startswith("/") else str(ROOT / "playbooks" / playbook)
    argv = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), book, *extra]
    if limit:
        argv += ["--limit", limit]
    env = dict(play_env(*path), PWD=str(cwd))
    res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=timeout)
    log = os.environ.get("GOVERNED_ODOO_TEST_PLAYBOOK_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"===== {playbook} {' '.join(extra)} rc={res.returncode}\n{res.stdout}\n{res.stderr}\n")
    return res


def output(res: subprocess.CompletedProcess) -> str:
    """The end of a run's output, for an assertion message."""
    return f"rc={res.returncode}\n{res.stdout[-8000:]}\n{res.stderr[-3000:]}"


def write_release(
    directory: Path,
    rid: str,
    image: str,
    update=(),
    signature: str | None = None,
    signed: bool = True,
    with_report: bool = True,
) -> Path:
    """The release record ``<rid>.json``, pinned by ``image``'s digest, with a Trivy report of the image (no
    findings) beside it (unless not ``with_report``: the record names a report that is missing); the release updates
    the modules of ``update`` (its migration); when ``signed`` its cosign signature is found at ``signature``
    (default: beside the image, as cosign stores it)."""
    directory.mkdir(parents=True, exist_ok=True)
    report = json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": image,
            "ArtifactType": "container_image",
            "Metadata": {"RepoDigests": [image]},
            "Results": [],
        }
    ).encode()
    if with_report:
        (directory / f"{rid}.trivy.json").write_bytes(report)
    record = {
        "format": 1,
        "id": rid,
        "image": image,
        "addons": [{"name": "sale", "version": "17.0.1.0"}],
        "config_revision": "4f1c2e9",
        "migration": {"install": [], "update": list(update)},
        "evidence": {
            "scan_report": {"uri": f"{rid}.trivy.json", "sha256": "sha256:" + hashlib.sha256(report).hexdigest()},
        },
    }
    if signed:
        record["evidence"]["signatures"] = [{"type": "cosign", "uri": signature or image}]
    path = directory / f"{rid}.json"
    path.write_text(json.dumps(record, indent=1))
    return path


def chromium(*args: str) -> str:
    """Debian's Chromium, headless, on a fresh profile (two runs never share one) with ``args`` (``--dump-dom URL``:
    the DOM the browser built, on stdout; ``--screenshot=PNG --window-size=W,H URL``); its stdout."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    profile = Path(f"/tmp/governed-odoo-chromium-{secrets.token_hex(4)}")
    argv = [found, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={profile}", *args]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout
