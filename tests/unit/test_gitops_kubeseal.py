"""The collection's sealing against kubeseal itself (github.com/bitnami-labs/sealed-secrets, built from its Go
module by lab/build-binaries.sh): kubeseal's recovery unseal, which runs the controller's own decryption with the
private key, opens what the collection seals; and the collection's opener opens what ``kubeseal --cert`` seals."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible_collections.governed.odoo.plugins.module_utils.gitops import layout, sealing

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
from sealkeys import certificate_pem, private_key, private_key_pem  # noqa: E402

NS, NAME = "odoo-civil-prod", "odoo-db"
VALUES = {"password": "pA55-w0rd with spaces", "url": "postgresql://odoo@db:5432/odoo", "empty": ""}


def _kubeseal():
    paths = subprocess.run(
        ["bash", str(ROOT / "lab" / "build-binaries.sh"), "path"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for directory in [*paths.split(":"), *os.environ.get("PATH", "").split(":")]:
        candidate = Path(directory) / "kubeseal"
        if directory and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("kubeseal")


KUBESEAL = _kubeseal()
pytestmark = pytest.mark.skipif(KUBESEAL is None, reason="kubeseal not built (bash lab/build-binaries.sh kubeseal)")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    key = private_key(4096)  # the controller's key size
    root = tmp_path_factory.mktemp("sealing")
    (root / "key.pem").write_text(private_key_pem(key))
    (root / "cert.pem").write_text(certificate_pem(key))
    return key, root


def secret():
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": NAME, "namespace": NS, "labels": {"app.kubernetes.io/name": "odoo"}},
        "type": "Opaque",
        "data": {"password": base64.b64encode(VALUES["password"].encode()).decode()},
        "stringData": {"url": VALUES["url"], "empty": VALUES["empty"]},
    }


def kubeseal(*args, stdin):
    res = subprocess.run(
        [KUBESEAL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, KUBECONFIG="/dev/null"),
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_kubeseal_recovery_unseal_opens_what_the_collection_seals(keys):
    _key, root = keys
    sealed = sealing.sealed_secret(secret(), sealing.load_public_key((root / "cert.pem").read_text()), "k" * 32)
    out = json.loads(
        kubeseal(
            "--recovery-unseal",
            "--recovery-private-key",
            str(root / "key.pem"),
            "-o",
            "json",
            stdin=layout.to_yaml(sealed),
        )
    )
    assert out["kind"] == "Secret" and out["metadata"]["name"] == NAME and out["metadata"]["namespace"] == NS
    assert out["metadata"]["labels"] == {"app.kubernetes.io/name": "odoo"}
    assert out.get("type") == "Opaque"
    # an empty value comes back as null from Go (a nil byte slice), which the API server stores as empty
    assert {k: base64.b64decode(v or "").decode() for k, v in out["data"].items()} == VALUES


def test_kubeseal_refuses_a_value_moved_to_another_secret(keys):
    _key, root = keys
    sealed = sealing.sealed_secret(secret(), sealing.load_public_key((root / "cert.pem").read_text()), "k" * 32)
    sealed["metadata"]["name"] = sealed["spec"]["template"]["metadata"]["name"] = "other"
    res = subprocess.run(
        [KUBESEAL, "--recovery-unseal", "--recovery-private-key", str(root / "key.pem"), "-o", "json"],
        input=layout.to_yaml(sealed),
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, KUBECONFIG="/dev/null"),
    )
    assert res.returncode != 0


def test_the_collection_opens_what_kubeseal_seals(keys):
    key, root = keys
    out = yaml.safe_load(kubeseal("--cert", str(root / "cert.pem"), "-o", "yaml", stdin=json.dumps(secret())))
    assert out["kind"] == "SealedSecret" and out["apiVersion"] == sealing.API_VERSION
    label = sealing.label_for(NS, NAME)
    opened = {
        k: sealing.open_value(key, base64.b64decode(v), label).decode() for k, v in out["spec"]["encryptedData"].items()
    }
    assert opened == VALUES
    # and the collection writes the same shape kubeseal does, but for its own fingerprint annotation
    ours = sealing.sealed_secret(secret(), sealing.load_public_key((root / "cert.pem").read_text()), "k" * 32)
    assert set(ours["spec"]["encryptedData"]) == set(out["spec"]["encryptedData"])
    template = {k: v for k, v in out["spec"]["template"]["metadata"].items() if k != "creationTimestamp"}
    assert template == ours["spec"]["template"]["metadata"]
    assert out["spec"]["template"]["type"] == ours["spec"]["template"]["type"]
