"""The gates' evidence readers (release/evidence.py) against local stand-ins: a registry answering the OCI distribution
API's HEAD, a change-management endpoint, an AWX API, a git repository of change records. Each stand-in is an HTTP
server this test starts on 127.0.0.1; none of them is the real system."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ansible_collections.governed.odoo.plugins.module_utils.release import evidence
from ansible_collections.governed.odoo.plugins.module_utils.release import policy as pol
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import load_all
from rules.cases_release import DIGEST, RECORD

RULES = load_all()


class StandIn(http.server.BaseHTTPRequestHandler):
    """Answers from ``self.server.routes``: path (without query) -> (status, headers, JSON body or None)."""

    def _answer(self, body=True):
        path = urllib.parse.urlsplit(self.path).path
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        status, headers, payload = self.server.routes.get(path, (404, {}, None))
        if callable(status):
            status, headers, payload = status(self)
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_GET(self):
        self._answer()

    def do_HEAD(self):
        self._answer(body=False)

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    server.routes, server.seen = {}, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


# -- registry ---------------------------------------------------------------------------------------------


def test_image_references_split_into_the_pull_endpoint_and_repository():
    ref = evidence.split_image("registry.lab/odoo/server@" + DIGEST)
    assert (ref["endpoint"], ref["repository"], ref["digest"]) == ("https://registry.lab", "odoo/server", DIGEST)
    ref = evidence.split_image("odoo@" + DIGEST)
    assert (ref["host"], ref["repository"]) == ("docker.io", "library/odoo")
    ref = evidence.split_image("registry.lab/odoo@" + DIGEST, "http://127.0.0.1:35000")
    assert ref["reference"] == "127.0.0.1:35000/odoo@" + DIGEST and ref["insecure"]


def test_the_manifest_is_found_by_digest_with_a_head_request(stand_in):
    stand_in.routes[f"/v2/odoo/manifests/{DIGEST}"] = (200, {"Docker-Content-Digest": DIGEST}, None)
    found = evidence.registry_manifest("registry.lab/odoo@" + DIGEST, stand_in.url)
    assert found["present"] is True
    assert stand_in.seen[-1][0] == "HEAD"
    missing = evidence.registry_manifest("registry.lab/other@" + DIGEST, stand_in.url)
    assert missing["present"] is False
    assert RULES["release.image_present"].evaluate({"release": RECORD, "registry": missing})


def test_an_anonymous_bearer_token_is_fetched_when_the_registry_asks(stand_in):
    def manifest(handler):
        if handler.headers.get("Authorization") == "Bearer anon":
            return 200, {"Docker-Content-Digest": DIGEST}, None
        return 401, {"WWW-Authenticate": f'Bearer realm="{stand_in.url}/token",service="reg",scope="x"'}, None

    stand_in.routes[f"/v2/odoo/manifests/{DIGEST}"] = (manifest, None, None)
    stand_in.routes["/token"] = (200, {}, {"token": "anon"})
    assert evidence.registry_manifest("registry.lab/odoo@" + DIGEST, stand_in.url)["present"] is True


def test_an_unreachable_registry_is_an_error_not_an_absence():
    found = evidence.registry_manifest("registry.lab/odoo@" + DIGEST, "http://127.0.0.1:9")
    assert "cannot reach the registry" in found["error"]


def test_cosign_missing_is_reported(tmp_path):
    found = evidence.cosign_verify("registry.lab/odoo@" + DIGEST, ["k"], cosign=str(tmp_path / "no-cosign"))
    assert found.get("errors") and "cosign did not run" in found["errors"][0]


# -- scan report ------------------------------------------------------------------------------------------


def test_the_scan_report_is_read_beside_the_record_with_its_digest(tmp_path):
    data = json.dumps({"ArtifactName": "x@" + DIGEST, "Results": []}).encode()
    (tmp_path / "trivy.json").write_bytes(data)
    record = dict(RECORD, evidence={"scan_report": {"uri": "trivy.json", "sha256": "sha256:" + "0" * 64}})
    found = evidence.scan_report(record, str(tmp_path / "r.yml"))
    assert found["sha256"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert found["report"]["ArtifactName"] == "x@" + DIGEST
    assert "cannot read" in evidence.scan_report(record, str(tmp_path / "sub" / "r.yml"))["error"]
    remote = dict(RECORD, evidence={"scan_report": {"uri": "https://x/trivy.json"}})
    assert "only a file beside" in evidence.scan_report(remote, str(tmp_path / "r.yml"))["error"]


# -- change records ---------------------------------------------------------------------------------------


def _policy(provider, **spec):
    return pol.effective("prod", {"release_change_record_provider": provider, "release_change_record": spec})


def _change_rule(found, job=None):
    from rules.cases_release import change_inputs

    inputs = change_inputs(found, provider=found.get("provider", "http") if found else "http", awx_job=job)
    return [f.message for f in RULES["release.change_record"].evaluate(inputs)]


def test_http_change_management_stand_in_approved_and_pending(stand_in):
    answers = {"status": "approved"}

    def change(handler):
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        if query.get("release") != RECORD["id"] or query.get("environment") != "prod":
            return 404, {}, None
        return 200, {}, {"id": "CHG-7", "release": query["release"], "environment": query["environment"],
                         "digest": query["digest"], "status": answers["status"], "approved_by": ["carol"]}

    stand_in.routes["/api/changes"] = (change, None, None)
    policy = _policy("http", url=stand_in.url + "/api/changes", token="s3cret-token")
    found = evidence.change_record(policy, RECORD)
    assert found["record"]["status"] == "approved" and found["provider"] == "http"
    assert stand_in.seen[-1][2] == "Bearer s3cret-token"
    assert _change_rule(found) == []
    answers["status"] = "pending"
    pending = evidence.change_record(policy, RECORD)
    assert any("CHG-7" in m and "is pending, not approved" in m for m in _change_rule(pending))
    other = evidence.change_record(policy, dict(RECORD, id="2026.11.4"))
    assert "has no change record for release 2026.11.4" in other["error"]


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
                   check=True, capture_output=True)


def test_git_change_records_must_be_committed(tmp_path):
    repo = tmp_path / "changes"
    (repo / "changes").mkdir(parents=True)
    _git(repo, "init", "-q")
    policy = _policy("git", repo=str(repo), path="changes/{environment}/{release}.yml")
    body = {"id": "CHG-9", "release": RECORD["id"], "environment": "prod", "status": "approved",
            "approved_by": "carol"}
    path = repo / "changes" / "prod" / f"{RECORD['id']}.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(body))
    assert "is not a git repository with a commit" in evidence.change_record(policy, RECORD)["error"]
    (repo / "README").write_text("change records\n")
    _git(repo, "add", "README")
    _git(repo, "commit", "-qm", "start")
    # written but not committed: not a change record
    assert "no change record changes/prod/2026.12.1.yml is committed" in evidence.change_record(policy, RECORD)["error"]
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "CHG-9 approved")
    found = evidence.change_record(policy, RECORD)
    assert found["record"]["id"] == "CHG-9" and _change_rule(found) == []
    # an approval edited in the working copy is not what was committed: the committed record is read
    path.write_text(yaml.safe_dump(dict(body, status="approved", approved_by="bob")))
    found = evidence.change_record(policy, RECORD)
    assert found["record"]["approved_by"] == "carol" and found["uncommitted"] is True


def test_awx_workflow_approvals_are_read_with_the_jobs_credentials(stand_in):
    routes = stand_in.routes
    routes["/api/v2/jobs/41/"] = (200, {}, {"id": 41, "launched_by": {"id": 3, "name": "wf", "type": "workflow_job"},
                                            "summary_fields": {"source_workflow_job": {"id": 40}}})
    routes["/api/v2/workflow_jobs/40/"] = (200, {}, {"id": 40, "launched_by": {"id": 2, "name": "bob", "type": "user"}})
    approvals = {"status": "successful", "by": "carol"}

    def approval(handler):
        return 200, {}, {"id": 39, "name": "CAB approval", "status": approvals["status"],
                         "summary_fields": {"approved_or_denied_by": {"username": approvals["by"]}}}

    routes["/api/v2/workflow_jobs/40/workflow_nodes/"] = (200, {}, {"results": [
        {"id": 1, "summary_fields": {"job": {"id": 39, "type": "workflow_approval", "name": "CAB approval"}}},
        {"id": 2, "summary_fields": {"job": {"id": 41, "type": "job", "name": "promote"}}}]})
    routes["/api/v2/workflow_approvals/39/"] = (approval, None, None)
    environ = {"JOB_ID": "41", "CONTROLLER_HOST": stand_in.url, "CONTROLLER_OAUTH_TOKEN": "job-token"}
    awx = evidence.awx_environment(environ)
    job = evidence.awx_job(awx)
    assert job["launched_by"] == "bob" and job["workflow_job"] == 40
    assert all(seen[2] == "Bearer job-token" for seen in stand_in.seen)
    policy = _policy("awx")
    found = evidence.change_record(policy, RECORD, awx, job)
    assert found["approvals"] == [{"id": 39, "name": "CAB approval", "status": "successful", "by": "carol"}]
    assert _change_rule(found, job) == []
    approvals.update(status="pending", by=None)
    messages = _change_rule(evidence.change_record(policy, RECORD, awx, job), job)
    assert any("is pending, not approved" in m for m in messages)
    approvals.update(status="successful", by="bob")
    assert any("approved by bob, who deploys (AWX launched_by)" in m
               for m in _change_rule(evidence.change_record(policy, RECORD, awx, job), job))


def test_outside_awx_the_awx_provider_refuses():
    assert evidence.awx_environment({}) is None
    found = evidence.change_record(_policy("awx"), RECORD, None, None)
    assert "not inside an AWX job" in found["error"]
    assert evidence.awx_environment({"JOB_ID": "5"}) is None  # another CI system's JOB_ID
    job = evidence.awx_job(evidence.awx_environment({"JOB_ID": "5", "AWX_HOST": "https://awx.example"}))
    assert "no AWX credential" in job["error"]
