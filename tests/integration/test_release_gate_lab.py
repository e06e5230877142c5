"""governed.odoo.release_gate on the lab: a real image pushed to the lab node's registry (skopeo), signed with cosign
(built from its Go module by lab/build-binaries.sh) with a key generated here, a Trivy-format report beside the release
record, a signed audit trail as evidence, and a local HTTP server the test starts as a stand-in for the
change-management system (approved and pending).

One playbook evaluates the gate for every case through the action, as promote.yml does: a release that passes
every rule, then each gate refusing on its own with its reason (the others passing), so that a refusal is the
gate's and nothing else's. Nothing here depends on timing: every instant is taken from the clock once, and the
statements are valid for hours around it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import http.server
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _modrun import ROOT  # also puts the collection on sys.path
from _playrun import CONNECTION
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from ansible_collections.governed.odoo.plugins.module_utils.audit.store import AuditTrail, LocalChain
from ansible_collections.governed.odoo.plugins.module_utils.release import approvals as appr
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

pytestmark = pytest.mark.lab

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
RELEASE_ID = "2026.12.9"
PEOPLE = {"alice": ["release-managers"], "carol": ["business-owners"], "bob": ["deployers"]}
TIMEOUT = 600  # cosign and ansible-playbook on a loaded two-core machine: minutes, never seconds


def _run(argv, **kwargs):
    kwargs.setdefault("timeout", TIMEOUT)
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)


# -- the lab: registry, cosign ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry():
    try:
        node = json.loads(CONNECTION.read_text()).get("node") or {}
    except (OSError, ValueError):
        pytest.skip("lab not up (scripts/lab up)")
    if not node.get("enabled") or not node.get("registry"):
        pytest.skip(f"the lab's real node (and its registry) is not up: {node.get('reason', 'scripts/lab up node')}")
    return node["registry"]


@pytest.fixture(scope="module")
def cosign():
    path = _run(["bash", str(ROOT / "lab" / "build-binaries.sh"), "path"]).stdout.strip()
    for directory in path.split(":"):
        if (Path(directory) / "cosign").is_file():
            return str(Path(directory) / "cosign")
    pytest.fail("cosign is not built: bash lab/build-binaries.sh cosign (scripts/setup.sh builds it)")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("gate")


def _blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def oci_image(layout, content):
    """A one-layer OCI image layout holding ``content`` in /release.txt, tagged r1 (built here, no base image)."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("release.txt")
        info.size, info.mtime = len(content), 0
        tar.addfile(info, io.BytesIO(content))
    layer = _blob(layout, gzip.compress(raw.getvalue(), mtime=0))
    config = _blob(layout, json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                                       "rootfs": {"type": "layers",
                                                  "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()]}
                                       }).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
                "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}
    entry = _blob(layout, json.dumps(manifest).encode())
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        dict(entry, mediaType=manifest["mediaType"], annotations={"org.opencontainers.image.ref.name": "r1"})]}))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))


@pytest.fixture(scope="module")
def image(registry, work):
    """A real push of a new image to the lab registry; its reference by digest."""
    if not shutil.which("skopeo"):
        pytest.fail("skopeo is not installed (scripts/setup.sh installs it)")
    repo = f"{registry}/gate-test/odoo-{secrets.token_hex(4)}"
    oci_image(work / "layout", f"release {RELEASE_ID} {secrets.token_hex(8)}\n".encode())
    digestfile = work / "digest"
    done = _run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", "--digestfile", str(digestfile),
                 f"oci:{work / 'layout'}:r1", f"docker://{repo}:r1"])
    assert done.returncode == 0, done.stderr
    return f"{repo}@{digestfile.read_text().strip()}"


def _keypair(cosign, directory):
    directory.mkdir()
    done = _run([cosign, "generate-key-pair"], cwd=directory, env=dict(os.environ, COSIGN_PASSWORD=""))
    assert done.returncode == 0, done.stderr
    return directory / "cosign.key", (directory / "cosign.pub").read_text()


@pytest.fixture(scope="module")
def signed(cosign, image, work):
    """The image signed with a cosign key generated here (no transparency log: the lab has no Rekor); the public key
    that verifies it and another that does not."""
    key, public = _keypair(cosign, work / "signer")
    _other_key, other_public = _keypair(cosign, work / "other")
    env = dict(os.environ, COSIGN_PASSWORD="", HOME=str(work), TUF_ROOT=str(work / "tuf"))
    insecure = ["--tlog-upload=false", "--allow-http-registry=true", "--allow-insecure-registry=true", "--yes"]
    done = _run([cosign, "sign", "--key", str(key), *insecure, image], env=env)
    assert done.returncode == 0, done.stderr
    # a vulnerability report attached to the image: the predicate `trivy image --format cosign-vuln` writes
    predicate = {"invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
                 "scanner": {"uri": "pkg:github/aquasecurity/trivy@v0.58.0", "version": "v0.58.0",
                             "db": {"uri": "", "version": ""},
                             "result": trivy_report(image, [("CVE-2026-0003", "libxml2", "HIGH")])},
                 "metadata": {"scanStartedOn": appr.statement_time(NOW), "scanFinishedOn": appr.statement_time(NOW)}}
    (work / "vuln.json").write_text(json.dumps(predicate))
    done = _run([cosign, "attest", "--key", str(key), "--type", "vuln", "--predicate", str(work / "vuln.json"),
                 *insecure, image], env=env)
    assert done.returncode == 0, done.stderr
    return {"public": public, "other": other_public}


# -- the change-management stand-in -----------------------------------------------------------------------


class ChangeManagementStandIn(http.server.BaseHTTPRequestHandler):
    """A stand-in for the change-management system: /approved/changes approves every release asked for, /pending/
    changes has it pending."""

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        status = {"/approved/changes": "approved", "/pending/changes": "pending"}.get(url.path)
        if status is None or self.headers.get("Authorization") != "Bearer cm-token-for-the-test":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"id": "CHG-4711", "release": query.get("release"), "environment": query.get("environment"),
                           "digest": query.get("digest"), "status": status, "approved_by": ["carol"],
                           "implementer": "bob"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def change_management():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ChangeManagementStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# -- evidence: statements, audit trails, releases ---------------------------------------------------------

SIGNERS = {name: chain.Signer(Ed25519PrivateKey.generate()) for name in PEOPLE}
AUDIT_SIGNER = chain.Signer(Ed25519PrivateKey.generate())


def statement(kind, name, digest):
    body = {"type": kind, "release": RELEASE_ID, "digest": digest, "environment": "prod",
            "issued": appr.statement_time(NOW - dt.timedelta(hours=1)),
            "expires": appr.statement_time(NOW + dt.timedelta(hours=6))}
    if kind == "approval":
        body.update(purpose="promotion", approver=name)
    else:
        body["deployer"] = name
    return appr.sign_statement(body, SIGNERS[name])


def write_trail(directory, digest, stages=("dev", "qa", "staging", "uat"), restored_days_ago=2):
    """A signed audit trail: a neutralized production copy restored into civil-staging, then the release deployed
    and verified in each of ``stages``."""
    trail = AuditTrail(local=LocalChain(directory))
    start = NOW - dt.timedelta(days=restored_days_ago)
    trail.append({"kind": "restore", "environment": "staging", "instance": "civil-staging", "neutralized": True,
                  "ok": True, "source": {"environment": "prod", "backup": "b-1"}}, AUDIT_SIGNER, start)
    for n, stage in enumerate(("dev", "qa", "staging", "uat")):
        if stage in stages:
            trail.append({"kind": "promotion", "environment": stage, "instance": f"civil-{stage}", "verified": True,
                          "release": {"id": RELEASE_ID, "digest": digest}}, AUDIT_SIGNER,
                         start + dt.timedelta(hours=n + 1))
    return str(directory)


def trivy_report(image, vulnerabilities=()):
    """A report in the format of ``trivy image --format json`` for ``image``."""
    return {"SchemaVersion": 2, "ArtifactName": image, "ArtifactType": "container_image",
            "Metadata": {"RepoDigests": [image]},
            "Results": [{"Target": "gate-test (debian 12)", "Class": "os-pkgs", "Type": "debian",
                         "Vulnerabilities": [{"VulnerabilityID": vid, "PkgName": pkg, "InstalledVersion": "1",
                                              "Severity": severity} for vid, pkg, severity in vulnerabilities]}]}


def write_release(directory, image, vulnerabilities=(), attested=False):
    """A release record with its Trivy report beside it (pinned by its SHA-256), or naming the image's vuln
    attestation."""
    directory.mkdir()
    data = json.dumps(trivy_report(image, vulnerabilities), indent=2).encode()
    (directory / "trivy.json").write_bytes(data)
    record = {"format": 1, "id": RELEASE_ID, "image": image,
              "addons": [{"name": "construction_site", "version": "17.0.1.2.0"}], "config_revision": "4f1c2e9",
              "migration": {"install": [], "update": ["construction_site"]},
              "evidence": {"scan_report": {"uri": "trivy.json", "sha256": "sha256:" + hashlib.sha256(data).hexdigest()},
                           "signatures": [{"type": "cosign", "uri": image}]}}
    if attested:
        record["evidence"]["scan_report"]["uri"] = "cosign:vuln"
    path = directory / f"{RELEASE_ID}.yml"
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    return str(path)


def host(registry, change_management, keys, **extra):
    variables = {
        "governed_odoo_environment": "prod",
        "release_identities": {n: {"public_key": chain.public_pem(s.public_key), "groups": PEOPLE[n]}
                               for n, s in SIGNERS.items()},
        "release_timezone": "Europe/Berlin",
        "release_allow_windows": [],
        "release_change_record_provider": "http",
        "release_change_record": {"url": f"{change_management}/approved/changes", "token": "cm-token-for-the-test"},
        "release_registry_url": f"http://{registry}",
        "release_signing_keys": keys,
    }
    variables.update(extra)
    return variables


@pytest.fixture(scope="module")
def verdicts(registry, image, signed, change_management, cosign, work):
    """Run one playbook that evaluates every case through governed.odoo.release_gate; {case: registered result}."""
    digest = image.split("@", 1)[1]
    absent = image.split("@", 1)[0] + "@sha256:" + hashlib.sha256(secrets.token_bytes(16)).hexdigest()
    audit = {"public_keys": [chain.public_pem(AUDIT_SIGNER.public_key)]}
    good_trail = dict(audit, local_dir=write_trail(work / "audit-good", digest))
    trails = {
        "good": good_trail,
        "absent": dict(audit, local_dir=write_trail(work / "audit-absent", absent.split("@", 1)[1])),
        "no_uat": dict(audit, local_dir=write_trail(work / "audit-no-uat", digest, stages=("dev", "qa", "staging"))),
        "old_copy": dict(audit, local_dir=write_trail(work / "audit-old", digest, restored_days_ago=10)),
    }
    releases = {
        "good": write_release(work / "rel-good", image),
        "absent": write_release(work / "rel-absent", absent),
        "critical": write_release(
            work / "rel-critical", image, [("CVE-2026-0001", "openssl", "CRITICAL"), ("CVE-2026-0002", "zlib", "LOW")]),
        "attested": write_release(work / "rel-attested", image, attested=True),
    }
    good_keys = [signed["public"]]
    inventory = {"all": {"hosts": {
        "gate-prod": host(registry, change_management, good_keys),
        "gate-prod-other-key": host(registry, change_management, [signed["other"]]),
        "gate-prod-cm-pending": host(registry, change_management, good_keys, release_change_record={
            "url": f"{change_management}/pending/changes", "token": "cm-token-for-the-test"}),
        "gate-prod-high-ok": host(registry, change_management, good_keys,
                                  release_scan_thresholds={"critical": 0, "high": 1}),
        "gate-prod-deny": host(registry, change_management, good_keys, release_deny_windows=[
            {"name": "whole-day freeze for the test", "rrule": "FREQ=DAILY", "start": "2026-01-01T00:00",
             "duration": "P1D"}]),
    }}}
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))

    def case(name, target="gate-prod", release="good", trail="good", approvals=True, digest_of=digest):
        args = {"release": releases[release], "target": target, "now": NOW.isoformat(), "audit": trails[trail],
                "promotion_request": statement("promotion_request", "bob", digest_of), "cosign_path": cosign,
                "approvals": [statement("approval", n, digest_of) for n in ("alice", "carol")] if approvals else [],
                "fail_on_refusal": False}
        return {"name": f"Gate case {name}", "governed.odoo.release_gate": args, "register": f"case_{name}"}

    absent_digest = absent.split("@", 1)[1]
    cases = [case("allowed"), case("image_present", release="absent", trail="absent", digest_of=absent_digest),
             case("image_signature", target="gate-prod-other-key"), case("image_scan", release="critical"),
             case("path", trail="no_uat"), case("rehearsal", trail="old_copy"),
             case("change_record", target="gate-prod-cm-pending"), case("approvals", approvals=False),
             case("window", target="gate-prod-deny"), case("attested_high_ok", release="attested",
                                                           target="gate-prod-high-ok"),
             case("attested_high", release="attested")]
    names = [c["register"] for c in cases]
    out = work / "verdicts.json"
    play = [{"name": "Release gate cases", "hosts": "localhost", "gather_facts": False, "tasks": [
        *cases,
        {"name": "Check mode gives the same verdict", "check_mode": True, "register": "case_check_mode",
         "governed.odoo.release_gate": cases[0]["governed.odoo.release_gate"]},
        {"name": "Write the verdicts", "ansible.builtin.copy": {
            "dest": str(out), "mode": "0600",
            "content": "{{ {" + ", ".join(f"'{n}': {n}" for n in [*names, "case_check_mode"]) + "} | to_json }}"}},
    ]}]
    (work / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    done = _run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(work / "inventory.yml"),
                 str(work / "play.yml"), "-e", f"ansible_python_interpreter={sys.executable}"], env=env, cwd=work)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "cm-token-for-the-test" not in done.stdout
    return {k[len("case_"):]: v for k, v in json.loads(out.read_text()).items()}


def _failing(verdict):
    return {r["id"]: r["reasons"] for r in verdict["rules"] if not r["passed"]}


def test_a_signed_scanned_present_approved_release_with_its_path_passes_every_gate(verdicts):
    verdict = verdicts["allowed"]
    assert _failing(verdict) == {}, verdict["msg"]
    assert verdict["allowed"] is True and verdict["changed"] is False
    assert {r["id"] for r in verdict["rules"]} >= {"release.path", "release.rehearsal", "release.change_record",
                                                   "release.image_present", "release.image_signature",
                                                   "release.image_scan", "release.approvals", "release.window"}


def test_a_vuln_attestation_on_the_image_is_the_scan_report(verdicts):
    assert _failing(verdicts["attested_high_ok"]) == {}, verdicts["attested_high_ok"]["msg"]
    failing = _failing(verdicts["attested_high"])
    assert set(failing) == {"release.image_scan"}, verdicts["attested_high"]["msg"]
    assert "1 high findings, at most 0 allowed (CVE-2026-0003 in libxml2)" in failing["release.image_scan"][0]


def test_check_mode_gives_the_same_verdict(verdicts):
    assert verdicts["check_mode"]["rules"] == verdicts["allowed"]["rules"]


@pytest.mark.parametrize(("case", "refused_by", "reason"), [
    # a digest the registry does not have has no signature either
    ("image_present", {"release.image_present", "release.image_signature"}, "is not in the registry http://"),
    ("image_signature", {"release.image_signature"}, "no cosign signature of"),
    ("image_scan", {"release.image_scan"}, "1 critical findings, at most 0 allowed (CVE-2026-0001 in openssl)"),
    ("path", {"release.path"}, "was not deployed and verified in uat"),
    ("rehearsal", {"release.rehearsal"}, "days ago (prod allows 7)"),
    ("change_record", {"release.change_record"}, "CHG-4711"),
    ("approvals", {"release.approvals"}, "not enough approvals (0 of 2 promotion approvals"),
    ("window", {"release.window"}, "deny whole-day freeze for the test"),
])
def test_each_gate_refuses_on_its_own_with_its_reason(verdicts, case, refused_by, reason):
    verdict = verdicts[case]
    failing = _failing(verdict)
    assert set(failing) == refused_by, verdict["msg"]
    assert verdict["allowed"] is False and verdict["failed"] is False
    first = sorted(refused_by)[0] if case != "image_present" else "release.image_present"
    assert any(reason in r for r in failing[first]), failing
    for rule_id in refused_by:
        assert rule_id in verdict["msg"]
    if case == "change_record":
        assert "is pending, not approved" in failing["release.change_record"][0]


# -- the audit trail in the lab's object storage as evidence -----------------------------------------------


@pytest.fixture(scope="module")
def s3_bucket():
    """The lab's S3 endpoint a and a bucket with object lock made for this test (GOVERNANCE, one day), removed after."""
    import contextlib

    from ansible_collections.governed.odoo.plugins.module_utils.backup.s3client import make_client

    try:
        conf = (json.loads(CONNECTION.read_text()).get("s3") or {}).get("a")
    except (OSError, ValueError):
        conf = None
    if not conf:
        pytest.skip("the lab's S3 is not up (scripts/lab up)")
    s3 = {"endpoint_url": conf["endpoint"], "access_key": conf["access_key"], "secret_key": conf["secret_key"],
          "region": conf["region"]}
    client = make_client(s3)
    name = f"relgate-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield s3, client, name
    with contextlib.suppress(Exception):
        page = client.list_object_versions(Bucket=name)
        for v in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
            with contextlib.suppress(Exception):
                client.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"],
                                     BypassGovernanceRetention=True)
        client.delete_bucket(Bucket=name)


def test_the_stored_trail_is_evidence_and_a_tampered_one_is_not(s3_bucket, work):
    """The path gate reads the copy in object storage (written under object lock by audit_record's logic); a new
    version written over one of its records makes the trail evidence of nothing, and the gate says why."""
    from ansible_collections.governed.odoo.plugins.module_utils.audit import task as audit_task
    from ansible_collections.governed.odoo.plugins.module_utils.release import gate
    from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import load_all
    from cryptography.hazmat.primitives import serialization

    s3, client, bucket = s3_bucket
    key = Ed25519PrivateKey.generate()  # the store's signing key, generated for this run
    key_path = work / "audit-s3.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    digest = "sha256:" + secrets.token_hex(32)
    prefix = "prod/"
    for n, stage in enumerate(("dev", "qa", "staging", "uat")):
        result, _secrets = audit_task.run_record(
            {**s3, "bucket": bucket, "prefix": prefix, "local_dir": None, "signing_key_path": str(key_path),
             "lock_mode": "GOVERNANCE", "retention_days": 1,
             "event": {"kind": "promotion", "environment": stage, "instance": f"civil-{stage}", "verified": True,
                       "release": {"id": RELEASE_ID, "digest": digest}}},
            now=NOW - dt.timedelta(hours=4 - n))
        assert not result.get("failed"), result
    audit = {**s3, "bucket": bucket, "prefix": prefix, "local_dir": None,
             "public_keys": [chain.public_pem(key.public_key())]}
    path_rule = load_all()["release.path"]
    inputs = {"release": {"id": RELEASE_ID, "image": f"127.0.0.1:1/odoo@{digest}"},
              "policy": gate.pol.effective("prod")}
    assert path_rule.evaluate(dict(inputs, audit=gate.read_audit(audit))) == []
    # tampering a locked bucket still allows: a new version over record 4 (the uat deployment, now another digest)
    stored = json.loads(client.get_object(Bucket=bucket, Key=f"{prefix}records/000000000004.json")["Body"].read())
    stored["event"]["release"]["digest"] = "sha256:" + "0" * 64
    client.put_object(Bucket=bucket, Key=f"{prefix}records/000000000004.json", Body=json.dumps(stored).encode())
    findings = [f.message for f in path_rule.evaluate(dict(inputs, audit=gate.read_audit(audit)))]
    assert findings and "the audit trail does not verify" in findings[0], findings
    assert "record 4" in findings[0], findings
