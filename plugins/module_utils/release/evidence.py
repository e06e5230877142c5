# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evidence of the promotion gates that lives outside the release record, read-only.

Each function reads one source and returns plain data that a rule of rules/release.py judges; none of them
decides anything, and none writes anywhere:

* :func:`registry_manifest`: whether the registry the cluster pulls from has a manifest under the digest
  (OCI distribution API, ``HEAD /v2/<repository>/manifests/<digest>``);
* :func:`cosign_verify`: whether ``cosign verify --key`` verifies a signature of the digest with one of the
  environment's keys (the lab has no Rekor, so ``--insecure-ignore-tlog``);
* :func:`scan_report`: the Trivy JSON report the release record names, beside the record;
* :func:`change_record`: the change record of the environment's provider: a file committed in a git
  repository, a generic HTTP change-management endpoint, or the AWX workflow approvals of the running job;
* :func:`awx_job`: who launched the running AWX job, read from the AWX API with the job's own credentials.

A source that cannot be read gives ``{"error": "..."}``, and the rule refuses with that reason.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.parse
from pathlib import Path

from ansible.module_utils.urls import open_url
from ansible_collections.governed.odoo.plugins.module_utils import proc

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
TIMEOUT = 30
ATTESTATION_URI = "cosign:vuln"  # evidence.scan_report.uri of a report attached to the image as a vuln attestation
COSIGN_TIMEOUT = 180
_BEARER_RE = re.compile(r'(\w+)="([^"]*)"')


def split_image(image, registry_url=None):
    """{"host", "repository", "digest", "endpoint"} of ``name@sha256:...``; the endpoint is ``registry_url`` (the
    registry the cluster pulls from) when given, else https on the image's own host."""
    name, _sep, digest = str(image).partition("@")
    first, _sep, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, repository = first, rest
    else:
        host, repository = "docker.io", name if rest else f"library/{name}"
    endpoint = (registry_url or f"https://{'registry-1.docker.io' if host == 'docker.io' else host}").rstrip("/")
    pull_host = urllib.parse.urlsplit(endpoint).netloc or host
    return {"host": host, "repository": repository, "digest": digest, "endpoint": endpoint,
            "reference": f"{pull_host}/{repository}@{digest}", "insecure": endpoint.startswith("http://")}


def _anonymous_token(challenge, timeout):
    """A bearer token for an anonymous pull, when the registry's challenge offers one."""
    params = dict(_BEARER_RE.findall(challenge or ""))
    realm = params.pop("realm", None)
    if not realm or not (challenge or "").lower().startswith("bearer"):
        return None
    url = realm + "?" + urllib.parse.urlencode(params)
    with open_url(url, timeout=timeout) as resp:
        data = json.loads(resp.read() or b"{}")
    return data.get("token") or data.get("access_token")


def registry_manifest(image, registry_url=None, timeout=TIMEOUT):
    """{"reference", "present": bool} or {"reference", "error"}: HEAD of the manifest under the digest."""
    ref = split_image(image, registry_url)
    url = f"{ref['endpoint']}/v2/{ref['repository']}/manifests/{ref['digest']}"
    out = {"reference": ref["reference"], "endpoint": ref["endpoint"]}
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    for attempt in (1, 2):
        try:
            with open_url(url, method="HEAD", headers=dict(headers), timeout=timeout) as resp:
                found = resp.headers.get("Docker-Content-Digest")
                if found and found != ref["digest"]:
                    return dict(out, error=f"the registry answered for {found}, not {ref['digest']}")
                return dict(out, present=True)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return dict(out, present=False)
            if exc.code == 401 and attempt == 1:
                try:
                    token = _anonymous_token(exc.headers.get("WWW-Authenticate"), timeout)
                except (OSError, ValueError):
                    token = None
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                    continue
            return dict(out, error=f"the registry answered HTTP {exc.code} for {url}")
        except (OSError, ValueError) as exc:
            return dict(out, error=f"cannot reach the registry at {ref['endpoint']}: {getattr(exc, 'reason', exc)}")
    return dict(out, error=f"the registry refused an anonymous pull of {ref['reference']}")


def find_cosign(path=None):
    """The cosign binary: ``path``, or ``cosign`` on PATH."""
    if path:
        return path
    return shutil.which("cosign")


def _cosign_each_key(command, image, keys, registry_url, cosign, accept, timeout):
    """Run ``cosign <command> --key K`` for each key until ``accept(stdout, digest)`` returns something:
    ({"reference", "verified_with": n, "value": ...}) or ({"reference", "errors": [one per key]}, {"error"})."""
    ref = split_image(image, registry_url)
    out = {"reference": ref["reference"]}
    binary = find_cosign(cosign)
    if not binary:
        return dict(out, error="cosign is not installed (set cosign_path, or put it on PATH)")
    errors = []
    with tempfile.TemporaryDirectory(prefix="release-gate-cosign-") as tmp:
        env = dict(os.environ, TUF_ROOT=str(Path(tmp) / "tuf"), HOME=tmp, COSIGN_EXPERIMENTAL="0")
        for n, key in enumerate(keys or ()):
            text = str(key)
            if "-----BEGIN" in text:
                key_path = Path(tmp) / f"key{n}.pub"
                key_path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
            else:
                key_path = Path(text).expanduser()
            argv = [binary, *command, "--key", str(key_path), "--insecure-ignore-tlog=true"]
            if ref["insecure"]:
                argv += ["--allow-http-registry=true", "--allow-insecure-registry=true"]
            argv.append(ref["reference"])
            try:
                done = proc.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
            except (OSError, subprocess.TimeoutExpired) as exc:
                errors.append(f"key {n + 1}: cosign did not run: {exc}")
                continue
            value = accept(done.stdout, ref["digest"]) if done.returncode == 0 else None
            if value is not None:
                return dict(out, verified_with=n, value=value)
            lines = [line for line in (done.stderr or "").splitlines() if line.strip() and "WARNING" not in line]
            errors.append(f"key {n + 1}: {(lines[-1] if lines else 'nothing verifies').strip()[:300]}")
    return dict(out, errors=errors)


def cosign_verify(image, keys, registry_url=None, cosign=None, timeout=COSIGN_TIMEOUT):
    """{"reference", "verified_with": n} when a signature of the digest verifies with key n (0-based), else
    {"reference", "errors": [one reason per key]} or {"reference", "error"} (cosign missing)."""
    found = _cosign_each_key(("verify", "--output", "json"), image, keys, registry_url, cosign,
                             lambda stdout, digest: True if _signed_digest_ok(stdout, digest) else None, timeout)
    found.pop("value", None)
    return found


def cosign_vuln_report(image, keys, registry_url=None, cosign=None, timeout=COSIGN_TIMEOUT):
    """The Trivy report of the newest cosign vulnerability attestation (``cosign attest --type vuln``, the predicate
    ``trivy image --format cosign-vuln`` writes) of the digest that verifies with one of ``keys``, in the shape of
    :func:`scan_report` (``attested`` instead of a file's ``sha256``)."""
    if not keys:
        return {"error": "the scan report is a cosign vuln attestation, and release_signing_keys has no key to verify"
                         " it with"}
    found = _cosign_each_key(("verify-attestation", "--type", "vuln"), image, keys, registry_url, cosign,
                             _newest_vuln_result, timeout)
    if "value" not in found:
        reasons = found.get("errors") or [found.get("error")]
        return {"error": f"no vuln attestation of {found['reference']} verifies: {'; '.join(reasons)}"}
    return {"path": f"the cosign vuln attestation of {found['reference']}", "attested": True, "report": found["value"]}


def _newest_vuln_result(stdout, digest):
    """The ``scanner.result`` of the newest vuln predicate (by ``metadata.scanFinishedOn``) about ``digest``."""
    best = None
    for line in stdout.splitlines():
        try:
            envelope = json.loads(line)
            statement = json.loads(base64.b64decode(envelope.get("payload") or ""))
        except (ValueError, TypeError, AttributeError):
            continue
        subjects = [(s.get("digest") or {}).get("sha256") for s in statement.get("subject") or ()]
        predicate = statement.get("predicate") or {}
        result = (predicate.get("scanner") or {}).get("result")
        if digest.split(":", 1)[-1] not in subjects or not isinstance(result, dict):
            continue
        finished = str((predicate.get("metadata") or {}).get("scanFinishedOn") or "")
        if best is None or finished > best[0]:
            best = (finished, result)
    return None if best is None else best[1]


def _signed_digest_ok(stdout, digest):
    """Whether cosign's JSON output names the digest as the signed manifest (cosign checks it; this re-checks)."""
    try:
        payloads = json.loads(stdout)
    except ValueError:
        return False
    return any(((p or {}).get("critical") or {}).get("image", {}).get("docker-manifest-digest") == digest
               for p in payloads if isinstance(p, dict))


def scan_report(record, source=None, basedir=None):
    """{"path", "sha256", "report"} of the Trivy JSON report of ``evidence.scan_report.uri`` (relative to the
    record's directory), or {"error"}."""
    scan = ((record or {}).get("evidence") or {}).get("scan_report") or {}
    uri = scan.get("uri")
    if not uri:
        return {"error": "the release record names no scan report"}
    if uri == ATTESTATION_URI:
        return {"attestation": True}
    if "://" in str(uri):
        return {"error": f"scan report {uri}: only a file beside the release record is read"}
    base = Path(source).parent if source else Path(basedir or ".")
    path = Path(uri) if Path(uri).is_absolute() else base / uri
    try:
        data = path.read_bytes()
    except OSError as exc:
        return {"error": f"cannot read the scan report {path}: {exc.strerror}", "path": str(path)}
    out = {"path": str(path), "sha256": "sha256:" + hashlib.sha256(data).hexdigest()}
    try:
        report = json.loads(data)
    except ValueError:
        return dict(out, error=f"the scan report {path} is not JSON (a Trivy JSON report)")
    return dict(out, report=report if isinstance(report, dict) else {})


# -- change records ---------------------------------------------------------------------------------------


def _expand(template, record, environment):
    image = record.get("image") or ""
    return str(template).format(release=record.get("id"), environment=environment,
                                digest=image.split("@", 1)[1] if "@" in image else "")


def change_record_git(spec, record, environment):
    """The change record committed at ``spec.path`` (a template) in the git repository ``spec.repo``, as of its
    HEAD commit; a file that is not committed there is not a change record."""
    repo, template = spec.get("repo"), spec.get("path") or "changes/{release}.yml"
    if not repo:
        return {"error": "release_change_record.repo is not set (the git repository of the change records)"}
    rel = _expand(template, record, environment)
    where = {"source": f"git:{repo}:{rel}"}
    git = shutil.which("git")
    if not git:
        return dict(where, error="git is not installed")
    if not HAS_YAML:
        return dict(where, error="PyYAML is required to read change records")
    try:
        head = proc.run([git, "-C", str(repo), "rev-parse", "--verify", "HEAD"], capture_output=True, text=True,
                        timeout=TIMEOUT)
        if head.returncode != 0:
            return dict(where, error=f"{repo} is not a git repository with a commit")
        shown = proc.run([git, "-C", str(repo), "show", f"HEAD:{rel}"], capture_output=True, timeout=TIMEOUT)
        if shown.returncode != 0:
            return dict(where, error=f"no change record {rel} is committed in {repo}")
        status = proc.run([git, "-C", str(repo), "status", "--porcelain", "--", rel], capture_output=True,
                          text=True, timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return dict(where, error=f"git failed on {repo}: {exc}")
    try:
        data = yaml.safe_load(shown.stdout)
    except yaml.YAMLError:
        return dict(where, error=f"change record {rel} is not YAML or JSON")
    if not isinstance(data, dict):
        return dict(where, error=f"change record {rel} must be a mapping")
    out = dict(where, commit=head.stdout.strip(), record=json.loads(json.dumps(data, default=str)))
    if status.stdout.strip():
        out["uncommitted"] = True
    return out


def _get_json(url, token=None, timeout=TIMEOUT):
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with open_url(url, headers=headers, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def change_record_http(spec, record, environment):
    """The change record the HTTP endpoint ``spec.url`` returns for the release (GET with release, digest and
    environment as query parameters; ``spec.token`` as a bearer token)."""
    url = spec.get("url")
    if not url:
        return {"error": "release_change_record.url is not set (the change-management endpoint)"}
    image = record.get("image") or ""
    query = urllib.parse.urlencode({"release": record.get("id"), "environment": environment,
                                    "digest": image.split("@", 1)[1] if "@" in image else ""})
    full = f"{url}{'&' if '?' in url else '?'}{query}"
    where = {"source": url}
    try:
        data = _get_json(full, spec.get("token"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return dict(where, error=f"the change-management endpoint has no change record for release "
                                     f"{record.get('id')} in {environment}")
        return dict(where, error=f"the change-management endpoint answered HTTP {exc.code}")
    except (OSError, ValueError) as exc:
        return dict(where, error=f"cannot read the change-management endpoint: {getattr(exc, 'reason', exc)}")
    if not isinstance(data, dict):
        return dict(where, error="the change-management endpoint did not answer with a JSON object")
    return dict(where, record=data)


def awx_environment(environ=None):
    """{"host", "token", "job_id"} when running inside an AWX job with AWX credentials, else None.

    The job id comes from AWX's own environment (``JOB_ID`` and ``AWX_HOST`` mark an AWX job), the host and token
    from the job's AWX credential (``CONTROLLER_HOST``/``TOWER_HOST``, ``CONTROLLER_OAUTH_TOKEN``/
    ``TOWER_OAUTH_TOKEN``), never from a variable of the play.
    """
    env = os.environ if environ is None else environ
    job_id = env.get("JOB_ID")
    host = env.get("CONTROLLER_HOST") or env.get("TOWER_HOST") or env.get("AWX_HOST")
    token = env.get("CONTROLLER_OAUTH_TOKEN") or env.get("TOWER_OAUTH_TOKEN")
    if not job_id or not host:
        return None  # JOB_ID alone is too common a name (other CI systems) to mean AWX
    if host and "://" not in host:
        host = f"https://{host}"
    return {"host": (host or "").rstrip("/"), "token": token, "job_id": job_id}


def awx_job(awx):
    """{"job", "launched_by", "workflow_job"} of the running AWX job, or {"error"}; None outside AWX."""
    if awx is None:
        return None
    if not awx.get("host") or not awx.get("token"):
        return {"error": "inside AWX, but the job has no AWX credential (CONTROLLER_HOST and CONTROLLER_OAUTH_TOKEN)"}
    api = f"{awx['host']}/api/v2"
    try:
        job = _get_json(f"{api}/jobs/{awx['job_id']}/", awx["token"])
        workflow_id = ((job.get("summary_fields") or {}).get("source_workflow_job") or {}).get("id")
        launched = job.get("launched_by") or {}
        workflow = None
        if workflow_id:
            workflow = _get_json(f"{api}/workflow_jobs/{workflow_id}/", awx["token"])
            if launched.get("type") != "user":
                launched = workflow.get("launched_by") or {}
    except urllib.error.HTTPError as exc:
        return {"error": f"the AWX API answered HTTP {exc.code} for job {awx['job_id']}"}
    except (OSError, ValueError, AttributeError) as exc:
        return {"error": f"cannot read job {awx['job_id']} from the AWX API: {getattr(exc, 'reason', exc)}"}
    return {"job": awx["job_id"], "workflow_job": workflow_id,
            "launched_by": launched.get("name") if launched.get("type") == "user" else None,
            "launched_by_type": launched.get("type")}


def change_record_awx(awx, job):
    """The workflow approvals of the running job's workflow, as a change record."""
    if awx is None:
        return {"error": "release_change_record_provider is awx but the run is not inside an AWX job"}
    if job.get("error"):
        return {"error": job["error"]}
    if not job.get("workflow_job"):
        return {"error": f"AWX job {job['job']} was not launched by a workflow: there is no workflow approval"}
    api = f"{awx['host']}/api/v2"
    where = {"source": f"AWX workflow job {job['workflow_job']}"}
    try:
        nodes = _get_json(f"{api}/workflow_jobs/{job['workflow_job']}/workflow_nodes/?page_size=200", awx["token"])
        approvals = []
        for node in nodes.get("results") or ():
            summary = ((node.get("summary_fields") or {}).get("job") or {})
            if summary.get("type") != "workflow_approval":
                continue
            approval = _get_json(f"{api}/workflow_approvals/{summary['id']}/", awx["token"])
            by = ((approval.get("summary_fields") or {}).get("approved_or_denied_by") or {}).get("username")
            approvals.append({"id": summary["id"], "name": approval.get("name") or summary.get("name"),
                              "status": approval.get("status"), "by": by})
    except urllib.error.HTTPError as exc:
        return dict(where, error=f"the AWX API answered HTTP {exc.code} for the workflow's approvals")
    except (OSError, ValueError, AttributeError, KeyError) as exc:
        reason = getattr(exc, "reason", exc)
        return dict(where, error=f"cannot read the workflow's approvals from the AWX API: {reason}")
    return dict(where, approvals=approvals)


def change_record(policy, record, awx=None, job=None):
    """The change record of the policy's provider (None when the provider is ``none``)."""
    provider = policy.get("change_record_provider")
    spec = policy.get("change_record") or {}
    environment = policy.get("environment")
    if provider == "git":
        return dict(change_record_git(spec, record, environment), provider="git")
    if provider == "http":
        return dict(change_record_http(spec, record, environment), provider="http")
    if provider == "awx":
        return dict(change_record_awx(awx, job or {}), provider="awx")
    return None
