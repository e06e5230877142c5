# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One gitops_write task: the argument spec and the run (plugins/modules/gitops_write.py is its thin module)."""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.apply import ApplyError
from ansible_collections.governed.odoo.plugins.module_utils.apply.engine import manifests_as_applied
from ansible_collections.governed.odoo.plugins.module_utils.apply.task import merged_objects, secret_values
from ansible_collections.governed.odoo.plugins.module_utils.gitops import GitopsError, layout, sealing
from ansible_collections.governed.odoo.plugins.module_utils.gitops.repo import DEFAULT_AUTHOR, Repository

_SEGMENT = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def argument_spec():
    return dict(
        repository=dict(type="path", required=True),
        environment=dict(type="str", required=True),
        instance=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        applyset=dict(type="str", required=True),
        objects=dict(type="list", elements="dict", no_log=True),
        objects_json=dict(type="list", elements="str", no_log=True),
        sealing_certificate=dict(type="str"),
        fingerprint_key=dict(type="str", no_log=True),
        audit_record=dict(type="dict"),
        commit_message=dict(type="str"),
        author=dict(type="str", default=DEFAULT_AUTHOR),
        remote=dict(type="str"),
    )


def _segment(value, what):
    if not isinstance(value, str) or not _SEGMENT.match(value):
        raise GitopsError(f"{what}={value!r} must be a DNS label (it names a directory of the repository)")
    return value


def run(params, check_mode=False):
    """``(result, no_log_values)``; ``result`` has ``failed`` and ``msg`` on failure."""
    secrets = set()
    try:
        objects = merged_objects(params)
        secrets = secret_values(objects)
        result = write(params, objects, check_mode)
    except (GitopsError, ApplyError, ValueError) as exc:
        out = {"failed": True, "msg": str(exc)}
        if isinstance(exc, GitopsError):
            out.update(exc.as_result())
        return out, secrets
    return result, secrets


def write(params, objects, check_mode):
    rel = f"{_segment(params['environment'], 'environment')}/{_segment(params['instance'], 'instance')}"
    if len(params["fingerprint_key"] or "") and len(params["fingerprint_key"]) < sealing.MIN_FINGERPRINT_KEY:
        raise GitopsError(f"fingerprint_key must be at least {sealing.MIN_FINGERPRINT_KEY} characters")
    public_key = sealing.load_public_key(params["sealing_certificate"]) if params.get("sealing_certificate") else None
    applied = manifests_as_applied(objects, params["applyset"], params["namespace"], layout.namespaced)
    repo = Repository(params["repository"])
    with repo.locked():
        previous = repo.committed(rel)
        files, sealed = layout.instance_files(
            applied, public_key, params.get("fingerprint_key"), previous, params.get("audit_record")
        )
        delta = layout.changes(previous, files)
        changed = any(delta.values())
        commit = None
        if changed and not check_mode:
            message = params.get("commit_message") or layout.commit_message(
                rel, len(applied), params.get("audit_record")
            )
            commit = repo.commit_dir(rel, files, message, params["author"])
            changed = commit is not None
        head = repo.head()
        pushed = None
        if params.get("remote") and head is not None and not check_mode:
            pushed = {"remote": params["remote"], "branch": repo.push(params["remote"]), "head": head}
    return {
        "changed": changed,
        "path": rel,
        "commit": commit,
        "head": head,
        "files": delta,
        "objects": len(applied),
        "sealed": dict(sorted(sealed.items())),
        "sealing_key": sealing.key_id(public_key) if public_key is not None else None,
        "pushed": pushed,
    }
