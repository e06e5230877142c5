"""The GitOps mode without a cluster: sealing in kubeseal's format, the instance's directory, commits in a real git
repository (idempotent reruns, one commit per change, check mode, parallel instances), and the objects being those
the direct mode applies."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from ansible_collections.governed.odoo.plugins.module_utils.apply import applyset as aset
from ansible_collections.governed.odoo.plugins.module_utils.apply.engine import manifests_as_applied
from ansible_collections.governed.odoo.plugins.module_utils.gitops import GitopsError, layout, sealing, task
from ansible_collections.governed.odoo.plugins.module_utils.gitops.repo import Repository
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from sealkeys import certificate_pem, private_key

KEY = private_key()
CERT = certificate_pem(KEY)
FKEY = "f" * 40
NS = "odoo-civil-dev"
PASSWORD = "s3cret-value-never-in-git"

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "labels": {"tier": "dev"}}}
CONFIG = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "odoo-conf", "namespace": NS},
    "data": {"workers": 2, "odoo.conf": "[options]\nworkers = 2\n"},
}
SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "odoo-db",
        "namespace": NS,
        "labels": {"app": "odoo"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"stringData": "leak"}'},
    },
    "type": "Opaque",
    "data": {"user": base64.b64encode(b"odoo").decode()},
    "stringData": {"password": PASSWORD},
}
DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "odoo-web"},
    "spec": {"replicas": 2},
    "status": {"replicas": 1},
}
OBJECTS = [NAMESPACE, CONFIG, SECRET, DEPLOY]


def unseal(sealed, key=KEY):
    """What the controller does with a SealedSecret: the Secret's values by key."""
    meta = sealed["metadata"]
    label = sealing.label_for(meta["namespace"], meta["name"])
    return {k: sealing.open_value(key, base64.b64decode(v), label) for k, v in sealed["spec"]["encryptedData"].items()}


# --- sealing -----------------------------------------------------------------------------------------------------


def test_a_sealed_value_has_kubeseals_layout_and_opens_only_with_its_label():
    public = sealing.load_public_key(CERT)
    sealed = sealing.seal_value(public, b"hello", b"ns/name")
    (rsa_len,) = struct.unpack(">H", sealed[:2])
    assert rsa_len == 256  # RSA-2048
    assert len(sealed) == 2 + rsa_len + len(b"hello") + 16  # AES-GCM tag
    assert sealing.open_value(KEY, sealed, b"ns/name") == b"hello"
    with pytest.raises(ValueError):
        sealing.open_value(KEY, sealed, b"ns/other")
    assert sealing.seal_value(public, b"hello", b"ns/name") != sealed  # a fresh session key each time


def test_the_empty_label_of_the_cluster_wide_scope_opens():
    public = sealing.load_public_key(CERT)
    assert sealing.open_value(KEY, sealing.seal_value(public, b"x", b""), b"") == b"x"


def test_a_sealed_secret_keeps_metadata_and_type_and_no_value_in_clear():
    public = sealing.load_public_key(CERT)
    obj = sealing.sealed_secret(SECRET, public, FKEY)
    assert obj["apiVersion"] == "bitnami.com/v1alpha1" and obj["kind"] == "SealedSecret"
    assert obj["metadata"]["name"] == "odoo-db" and obj["metadata"]["namespace"] == NS
    template = obj["spec"]["template"]
    assert template["type"] == "Opaque"
    assert template["metadata"]["labels"] == {"app": "odoo"}
    assert "annotations" not in template["metadata"]  # the last-applied copy is dropped (it would leak values)
    assert unseal(obj) == {"user": b"odoo", "password": PASSWORD.encode()}
    text = layout.to_yaml(obj)
    assert PASSWORD not in text and "leak" not in text and base64.b64encode(PASSWORD.encode()).decode() not in text


def test_the_fingerprint_follows_values_metadata_key_and_certificate():
    public = sealing.load_public_key(CERT)
    base = sealing.fingerprint(SECRET, public, FKEY)
    assert base == sealing.fingerprint(json.loads(json.dumps(SECRET)), public, FKEY)
    assert base.startswith("v1:") and PASSWORD not in base
    other_value = dict(SECRET, stringData={"password": PASSWORD + "x"})
    other_meta = dict(SECRET, metadata=dict(SECRET["metadata"], labels={"app": "other"}))
    other_cert = sealing.load_public_key(certificate_pem(private_key()))
    assert (
        len(
            {
                base,
                sealing.fingerprint(other_value, public, FKEY),
                sealing.fingerprint(other_meta, public, FKEY),
                sealing.fingerprint(SECRET, public, "g" * 40),
                sealing.fingerprint(SECRET, other_cert, FKEY),
            }
        )
        == 5
    )


def test_certificates_that_cannot_seal_are_refused():
    with pytest.raises(GitopsError, match="not a PEM"):
        sealing.load_public_key("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(GitopsError, match="RSA"):
        sealing.load_public_key(ec_pem.decode())
    assert isinstance(
        sealing.load_public_key(
            KEY.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        ),
        rsa.RSAPublicKey,
    )


# --- the objects: those the direct mode applies ------------------------------------------------------------------


def test_objects_are_cleaned_and_labelled_as_the_direct_mode_applies_them():
    applied = manifests_as_applied(OBJECTS, "governed-odoo-civil-dev", NS, layout.namespaced)
    set_id = aset.applyset_id("governed-odoo-civil-dev", NS)
    assert all(o["metadata"]["labels"][aset.PART_OF_LABEL] == set_id for o in applied)
    ns, conf, _secret, deploy = applied
    assert "namespace" not in ns["metadata"]
    assert deploy["metadata"]["namespace"] == NS and "status" not in deploy  # the default namespace, no status
    assert conf["data"]["workers"] == "2"  # map[string]string values as strings
    assert DEPLOY["status"] and "labels" not in DEPLOY["metadata"]  # the caller's objects are left alone


# --- the directory -----------------------------------------------------------------------------------------------


def _files(objects=None, previous=None, record=None):
    objects = OBJECTS if objects is None else objects
    applied = manifests_as_applied(objects, "governed-odoo-civil-dev", NS, layout.namespaced)
    return layout.instance_files(applied, sealing.load_public_key(CERT), FKEY, previous, record)


def test_one_file_per_object_listed_by_the_kustomization():
    files, sealed = _files(record={"seq": 1})
    kust = yaml.safe_load(files["kustomization.yaml"])
    assert kust["kind"] == "Kustomization"
    assert kust["resources"] == [
        "namespace-odoo-civil-dev.yaml",
        "configmap-odoo-conf.yaml",
        "secret-odoo-db.yaml",
        "deployment.apps-odoo-web.yaml",
    ]
    assert sealed == {"secret-odoo-db.yaml": "sealed"}
    assert yaml.safe_load(files["secret-odoo-db.yaml"])["kind"] == "SealedSecret"
    assert yaml.safe_load(files["configmap-odoo-conf.yaml"])["data"]["odoo.conf"] == "[options]\nworkers = 2\n"
    assert json.loads(files["audit-record.json"]) == {"seq": 1}
    assert all(PASSWORD not in text for text in files.values())


def test_an_unchanged_secret_keeps_its_sealed_text_and_a_changed_one_is_sealed_anew():
    first, _unused = _files()
    again, sealed = _files(previous=first)
    assert again == first and sealed == {"secret-odoo-db.yaml": "kept"}
    changed_secret = dict(SECRET, stringData={"password": "another-password"})
    third, sealed = _files([NAMESPACE, CONFIG, changed_secret, DEPLOY], previous=first)
    assert sealed == {"secret-odoo-db.yaml": "sealed"}
    assert layout.changes(first, third) == {"added": [], "modified": ["secret-odoo-db.yaml"], "removed": []}
    assert unseal(yaml.safe_load(third["secret-odoo-db.yaml"]))["password"] == b"another-password"


def test_the_audit_record_stays_until_a_new_one_comes():
    first, _unused = _files(record={"seq": 1})
    assert _files(previous=first)[0]["audit-record.json"] == first["audit-record.json"]
    assert json.loads(_files(previous=first, record={"seq": 2})[0]["audit-record.json"]) == {"seq": 2}


def test_a_secret_is_never_written_without_a_sealing_key():
    applied = manifests_as_applied([SECRET], "set", NS, layout.namespaced)
    with pytest.raises(GitopsError, match="written sealed only"):
        layout.instance_files(applied, None, None)
    files, _unused = layout.instance_files(manifests_as_applied([CONFIG], "set", NS, layout.namespaced), None, None)
    assert "configmap-odoo-conf.yaml" in files


def test_two_objects_for_one_file_are_refused():
    applied = manifests_as_applied(
        [CONFIG, dict(CONFIG, metadata={"name": "odoo-conf", "namespace": "other"})], "set", NS, layout.namespaced
    )
    with pytest.raises(GitopsError, match="second object"):
        layout.instance_files(applied)


# --- the repository ----------------------------------------------------------------------------------------------


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "gitops"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def params(repo, objects=None, **more):
    objects = OBJECTS if objects is None else objects
    out = dict(
        repository=str(repo),
        environment="dev",
        instance="civil-dev",
        namespace=NS,
        applyset="governed-odoo-civil-dev",
        objects=None,
        objects_json=[json.dumps(objects)],
        sealing_certificate=CERT,
        fingerprint_key=FKEY,
        audit_record=None,
        commit_message=None,
        author="Release Bot <release@example.test>",
    )
    out.update(more)
    return out


def commits(repo):
    return git(repo, "rev-list", "--all").split()


def test_a_rerun_commits_nothing_and_each_change_is_one_commit(repo):
    result, secrets = task.run(params(repo, audit_record={"seq": 1}))
    assert result["changed"] and result["commit"] == result["head"] and PASSWORD in secrets
    assert result["files"]["added"][0] == "audit-record.json" and result["objects"] == 4
    assert git(repo, "log", "-1", "--format=%an <%ae>|%s").strip() == (
        "Release Bot <release@example.test>|dev/civil-dev: 4 objects from governed.odoo"
    )
    sealed_text = (repo / "dev/civil-dev/secret-odoo-db.yaml").read_text()

    again, _unused = task.run(params(repo))
    assert not again["changed"] and again["commit"] is None and len(commits(repo)) == 1
    assert again["sealed"] == {"secret-odoo-db.yaml": "kept"}

    bigger = dict(DEPLOY, spec={"replicas": 3})
    second, _unused = task.run(params(repo, [NAMESPACE, CONFIG, SECRET, bigger], audit_record={"seq": 2}))
    assert second["files"] == {
        "added": [],
        "modified": ["audit-record.json", "deployment.apps-odoo-web.yaml"],
        "removed": [],
    }
    third, _unused = task.run(params(repo, [NAMESPACE, SECRET, bigger], commit_message="drop the ConfigMap"))
    assert third["files"]["removed"] == ["configmap-odoo-conf.yaml"]
    assert len(commits(repo)) == 3 and not (repo / "dev/civil-dev/configmap-odoo-conf.yaml").exists()
    assert (repo / "dev/civil-dev/secret-odoo-db.yaml").read_text() == sealed_text
    assert PASSWORD not in git(repo, "log", "-p", "--all")


def test_a_promotions_commit_names_release_digest_environment_and_approvers(repo):
    record = {
        "seq": 7,
        "hash": "ab" * 32,
        "event": {
            "kind": "promotion",
            "outcome": "committed",
            "environment": "dev",
            "instance": "civil-dev",
            "release": {"id": "2026.12.1", "image": "reg/odoo@sha256:" + "cd" * 32, "digest": "sha256:" + "cd" * 32},
            "deployer": "bob",
            "approvers": ["alice", "carol"],
        },
    }
    result, _unused = task.run(params(repo, audit_record=record))
    message = git(repo, "log", "-1", "--format=%B", result["commit"])
    assert message.splitlines()[0] == "promote 2026.12.1 to dev/civil-dev"
    for line in (
        "release: 2026.12.1",
        "digest: sha256:" + "cd" * 32,
        "environment: dev",
        "approvers: alice, carol",
        "deployer: bob",
        f"audit record: seq 7, hash {'ab' * 32} (audit-record.json)",
    ):
        assert line in message.splitlines(), message
    assert json.loads((repo / "dev/civil-dev/audit-record.json").read_text()) == record
    # an explicit message wins; a record that is not a promotion's gets the plain one
    assert layout.commit_message("dev/x", 3, {"kind": "note"}) == "dev/x: 3 objects from governed.odoo"
    bare = layout.commit_message("dev/x", 3, {"kind": "promotion", "release": "r1", "environment": "dev"})
    assert "approvers: none (the policy asks for none)" in bare and "digest: ?" in bare


def test_check_mode_reports_and_commits_nothing(repo):
    result, _unused = task.run(params(repo), check_mode=True)
    assert result["changed"] and result["commit"] is None and result["head"] is None
    assert not (repo / "dev").exists() and commits(repo) == []


def test_other_directories_and_staged_files_are_left_alone(repo):
    (repo / "README.md").write_text("mine\n")
    git(repo, "add", "README.md")
    task.run(params(repo))
    assert git(repo, "status", "--porcelain").strip() == "A  README.md"
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == sorted(
        f"dev/civil-dev/{n}"
        for n in (
            "configmap-odoo-conf.yaml",
            "deployment.apps-odoo-web.yaml",
            "kustomization.yaml",
            "namespace-odoo-civil-dev.yaml",
            "secret-odoo-db.yaml",
        )
    )


def test_instances_written_at_once_each_get_their_commit(repo):
    results = []

    def one(n):
        ns = f"odoo-t{n}-dev"
        objs = [dict(CONFIG, metadata={"name": "odoo-conf", "namespace": ns})]
        results.append(task.run(params(repo, objs, instance=f"t{n}-dev", namespace=ns))[0])

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.get("commit") for r in results), results
    assert len(commits(repo)) == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"environment": "../etc"}, "environment='../etc' must be a DNS label"),
        ({"fingerprint_key": "short"}, "at least 32"),
        ({"sealing_certificate": None}, "written sealed only"),
        ({"objects_json": None}, "one of objects or objects_json"),
    ],
)
def test_refusals_name_the_problem(repo, change, message):
    result, _unused = task.run(params(repo, **change))
    assert result["failed"] and message in result["msg"]
    assert commits(repo) == []


def test_a_path_that_is_not_the_top_of_a_working_copy_is_refused(repo, tmp_path):
    (repo / "sub").mkdir()
    with pytest.raises(GitopsError, match="not the top"):
        Repository(repo / "sub")
    with pytest.raises(GitopsError, match="not a directory"):
        Repository(tmp_path / "missing")


def test_with_a_remote_each_run_pushes_the_branch_and_a_remote_that_moved_ahead_is_refused(repo, tmp_path):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    first, _unused = task.run(params(repo, remote=str(remote)))
    assert first["pushed"] == {"remote": str(remote), "branch": "main", "head": first["commit"]}
    assert git(remote, "rev-parse", "main").strip() == first["commit"]
    # nothing new: no commit, the push is a no-op; check mode pushes nothing
    again, _unused = task.run(params(repo, remote=str(remote)))
    assert again["commit"] is None and again["pushed"]["head"] == first["commit"]
    bigger = dict(DEPLOY, spec={"replicas": 3})
    planned, _unused = task.run(params(repo, [NAMESPACE, CONFIG, SECRET, bigger], remote=str(remote)), check_mode=True)
    assert planned["changed"] and planned["pushed"] is None
    # a push that failed once (the remote was away) is made by the next run, which has nothing to commit
    second, _unused = task.run(params(repo, [NAMESPACE, CONFIG, SECRET, bigger], remote=str(tmp_path / "away.git")))
    assert second["failed"] and "push main" in second["msg"] and second["repository"] == str(repo)
    caught_up, _unused = task.run(params(repo, [NAMESPACE, CONFIG, SECRET, bigger], remote=str(remote)))
    assert caught_up["commit"] is None
    assert git(remote, "rev-parse", "main").strip() == git(repo, "rev-parse", "HEAD").strip()
    assert len(commits(remote)) == 2
    # another clone pushed first: the fast-forward is refused, never forced, and the remote keeps its commit
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", "-b", "main", str(remote), str(other)], check=True)
    git(other, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty", "-m", "elsewhere")
    git(other, "push", "-q", "origin", "main")
    theirs = git(remote, "rev-parse", "main").strip()
    refused, _unused = task.run(params(repo, [NAMESPACE, SECRET, bigger], remote=str(remote)))
    assert refused["failed"] and "push main" in refused["msg"]
    assert git(remote, "rev-parse", "main").strip() == theirs
