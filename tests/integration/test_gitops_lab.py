"""playbooks/site.yml in GitOps mode on the lab: the repository holds what the direct mode applies.

A fresh dev instance (an inventory written the way bench/bench_site.py writes its own) is first converged in the
direct mode, which also writes its rendered objects (governed_odoo_render_dir). Then, with
governed_odoo_delivery=gitops, site.yml commits the instance to a new git repository, and:

* the committed objects equal the direct mode's render (with the ApplySet membership label the applied objects
  carry on the cluster), Secrets excepted, which are SealedSecrets; kubeseal's recovery unseal (the controller's
  own decryption, with the private key) gives back exactly the Secrets the direct mode applied;
* with the SealedSecret CRD registered (tests/fixtures/crds/sealedsecret.yaml), ``kubectl apply --server-side
  --dry-run=server -k <dir>`` is accepted: the API server validates every object, and a field whose value
  differed from the applied one would be a conflict with the direct mode's field manager;
* no Secret value (the live Secrets' values, the generated passwords) is anywhere in the repository's history;
* a rerun commits nothing; two successive changes (a replica count, then a password) give two commits, each with
  its audit record, and the second reseals only the Secrets whose values changed.

Everything created (namespace, databases and roles, the instance's generated secrets) is removed at the end; the
CRD stays (other tests of a shared lab may use it, and it costs nothing).
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", ROOT / ".lab")).resolve()
CONNECTION = LAB_DIR / "connection.json"
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
from sealkeys import certificate_pem, private_key, private_key_pem  # noqa: E402

PREFIX = f"go{secrets.token_hex(2)}"
HOST = f"{PREFIX}01"
INSTANCE = f"{HOST}-dev"
NAMESPACE = f"odoo-{INSTANCE}"
PART_OF = "applyset.kubernetes.io/part-of"
CRD = ROOT / "tests" / "fixtures" / "crds" / "sealedsecret.yaml"

pytestmark = pytest.mark.lab


def _bench_site():
    spec = importlib.util.spec_from_file_location("bench_site", ROOT / "bench" / "bench_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kubeseal():
    paths = subprocess.run(
        ["bash", str(ROOT / "lab" / "build-binaries.sh"), "path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for directory in [*paths.split(":"), *os.environ.get("PATH", "").split(":")]:
        candidate = Path(directory) / "kubeseal"
        if directory and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("kubeseal")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    try:
        conf = json.loads(CONNECTION.read_text())
    except (OSError, ValueError):
        pytest.skip(f"lab not up: {CONNECTION} is missing (scripts/lab up)")
    if "controlplane" not in conf or "postgres" not in conf:
        pytest.skip(f"lab not up: {CONNECTION} has no controlplane or postgres")
    kubectl = [conf["controlplane"]["kubectl"], "--kubeconfig", conf["controlplane"]["kubeconfig"]]
    if subprocess.run([*kubectl, "get", "--raw", "/readyz"], capture_output=True, check=False).returncode != 0:
        pytest.skip("lab API server not reachable")
    kubeseal = _kubeseal()
    if kubeseal is None:
        pytest.fail("kubeseal is not built: bash lab/build-binaries.sh kubeseal")
    bench = _bench_site()
    root = tmp_path_factory.mktemp("gitops")
    inv = bench.write_inventory(root, PREFIX, 1)

    def cleanup():
        subprocess.run(
            [*kubectl, "delete", "namespace", "--ignore-not-found", "--wait=true", "--timeout=300s", NAMESPACE],
            capture_output=True,
            check=False,
        )
        bench.drop_databases([PREFIX])
        shutil.rmtree(LAB_DIR / "secrets" / HOST, ignore_errors=True)

    cleanup()
    # the SealedSecret kind, so that the API server validates committed SealedSecrets (server-side apply: a
    # second test registering it too changes nothing)
    kube(kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    kube(kubectl, "wait", "--for=condition=Established", "--timeout=300s", "crd/sealedsecrets.bitnami.com")

    key = private_key(4096)
    (root / "sealing.key").write_text(private_key_pem(key))
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    gitops_vars = {
        "governed_odoo_delivery": "gitops",
        "governed_odoo_gitops_repository": str(repo),
        "governed_odoo_gitops_sealing_certificate": certificate_pem(key),
        "governed_odoo_gitops_fingerprint_key": secrets.token_urlsafe(32),
    }
    (root / "gitops.json").write_text(json.dumps(gitops_vars))
    yield {
        "conf": conf,
        "inv": inv,
        "env": bench.ansible_env(),
        "kubectl": kubectl,
        "kubeseal": kubeseal,
        "root": root,
        "repo": repo,
        "gitops_vars": root / "gitops.json",
        "private_key": root / "sealing.key",
    }
    cleanup()


def kube(kubectl, *args, stdin=None):
    res = subprocess.run([*kubectl, *args], input=stdin, capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"kubectl {' '.join(args[:4])}: {res.stderr[-3000:]}"
    return res.stdout


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def site(lab, *extra):
    res = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "ansible-playbook"),
            "-i",
            str(lab["inv"]),
            str(ROOT / "playbooks" / "site.yml"),
            "--limit",
            HOST,
            "-e",
            "governed_odoo_wait=false",
            *extra,
        ],
        env=lab["env"],
        capture_output=True,
        text=True,
        check=False,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    return out


def gitops(lab, *extra, record=None):
    args = ["-e", f"@{lab['gitops_vars']}", *extra]
    if record is not None:
        path = lab["root"] / f"record-{record['seq']}.json"
        path.write_text(json.dumps({"governed_odoo_gitops_audit_record": record}))
        args += ["-e", f"@{path}"]
    return site(lab, *args)


def commits(repo):
    return git(repo, "rev-list", "HEAD").split()


def committed_objects(lab):
    """The objects of the instance's directory at HEAD, in the kustomization's order."""
    directory = lab["repo"] / "dev" / INSTANCE
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return [yaml.safe_load((directory / name).read_text()) for name in kustomization["resources"]]


def unseal(lab, sealed):
    """kubeseal's recovery unseal: the Secret the controller would make of ``sealed``."""
    res = subprocess.run(
        [lab["kubeseal"], "--recovery-unseal", "--recovery-private-key", str(lab["private_key"]), "-o", "json"],
        input=json.dumps(sealed),
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, KUBECONFIG="/dev/null"),
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def secret_values(secret):
    out = {k: base64.b64decode(v or "").decode() for k, v in (secret.get("data") or {}).items()}
    out.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return out


def ref(obj):
    return (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])


def test_the_repository_holds_what_the_direct_mode_applies(lab):
    repo, kubectl = lab["repo"], lab["kubectl"]
    render = lab["root"] / "render"
    render.mkdir()
    site(lab, "-e", f"governed_odoo_render_dir={render}")
    rendered = [o for o in yaml.safe_load_all((render / f"{INSTANCE}.yaml").read_text()) if o]
    set_id = json.loads(kube(kubectl, "get", "namespace", NAMESPACE, "-o", "json"))["metadata"]["labels"][PART_OF]

    out = gitops(lab, record={"seq": 1, "kind": "promotion", "release": "2026.12.0", "approvers": ["cab"]})
    assert len(commits(repo)) == 1, out[-3000:]
    assert json.loads(git(repo, "show", f"HEAD:dev/{INSTANCE}/audit-record.json"))["release"] == "2026.12.0"

    # the committed objects are the render with the membership label, each Secret a SealedSecret of that Secret
    committed = committed_objects(lab)
    assert len(committed) == len(rendered)
    live_secrets = {}
    for want, got in zip(rendered, committed, strict=True):
        want = copy.deepcopy(want)
        want["metadata"].setdefault("labels", {})[PART_OF] = set_id
        if want["kind"] == "Secret":
            assert got["kind"] == "SealedSecret" and got["apiVersion"] == "bitnami.com/v1alpha1"
            opened = unseal(lab, got)
            assert opened["metadata"]["labels"] == want["metadata"]["labels"]
            assert opened.get("type", "Opaque") == want.get("type", "Opaque")
            live = json.loads(kube(kubectl, "get", "secret", "-n", NAMESPACE, want["metadata"]["name"], "-o", "json"))
            assert secret_values(opened) == secret_values(want) == secret_values(live), want["metadata"]["name"]
            live_secrets[want["metadata"]["name"]] = secret_values(live)
        else:
            assert got == want, ref(want)
    assert live_secrets, "the instance has Secrets: the test must see them sealed"

    # the API server accepts the directory; an applied field with another value would conflict with governed.odoo
    dry = kube(kubectl, "apply", "--server-side", "--dry-run=server", "-k", str(repo / "dev" / INSTANCE))
    assert "sealedsecret.bitnami.com" in dry and "server dry run" in dry

    # no Secret value anywhere in the history, in clear or in base64
    values = {v for vals in live_secrets.values() for v in vals.values() if len(v) >= 6}
    passwords = {p.read_text().split()[0] for p in (LAB_DIR / "secrets" / HOST).iterdir()}
    values |= passwords
    history = git(repo, "log", "-p", "--all", "--format=%H %s%n%b")
    for value in values:
        assert value not in history and base64.b64encode(value.encode()).decode() not in history

    # a rerun with nothing new commits nothing; even at -vvv it shows no password and not the fingerprint key
    out = gitops(lab, "-vvv")
    assert len(commits(repo)) == 1
    assert "governed.odoo.gitops_write" in out or "Commit the objects of the instance" in out
    fingerprint_key = json.loads(lab["gitops_vars"].read_text())["governed_odoo_gitops_fingerprint_key"]
    for value in {*passwords, fingerprint_key}:
        assert value not in out and base64.b64encode(value.encode()).decode() not in out

    # two successive changes, two commits, each with its audit record
    gitops(lab, "-e", '{"odoo_web_replicas": 2}', record={"seq": 2, "kind": "promotion", "release": "2026.12.1"})
    assert len(commits(repo)) == 2
    changed = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert f"dev/{INSTANCE}/audit-record.json" in changed
    assert not [n for n in changed if "/secret-" in n], changed  # no Secret resealed: none changed
    web = [o for o in committed_objects(lab) if o["kind"] == "Deployment" and o["spec"].get("replicas") == 2]
    assert web, "the new replica count is committed"

    redis_file = LAB_DIR / "secrets" / HOST / "redis"
    new_password = secrets.token_urlsafe(24)
    redis_file.write_text(new_password + "\n")
    gitops(lab, "-e", '{"odoo_web_replicas": 2}', record={"seq": 3, "kind": "promotion", "release": "2026.12.2"})
    assert len(commits(repo)) == 3
    changed = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    resealed = [n for n in changed if "/secret-" in n]
    assert resealed, changed
    assert json.loads(git(repo, "show", f"HEAD:dev/{INSTANCE}/audit-record.json"))["seq"] == 3
    opened = [secret_values(unseal(lab, yaml.safe_load((repo / name).read_text()))) for name in resealed]
    assert any(new_password in vals.values() for vals in opened)
    # every Secret whose values did not change kept its sealed text
    for name in {n for n in git(repo, "ls-files", f"dev/{INSTANCE}").split() if "/secret-" in n} - set(resealed):
        assert git(repo, "diff", "HEAD~1", "HEAD", "--", name) == ""
    assert new_password not in git(repo, "log", "-p", "--all")
    assert re.fullmatch(r"[0-9a-f]{40}", commits(repo)[0])
