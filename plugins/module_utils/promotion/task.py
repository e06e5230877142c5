# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tasks of governed.odoo.promotion_lock and governed.odoo.k8s_job, independent of where they run.

Each module (plugins/modules/) and its action plugin (plugins/action/, in the controller's process with a local
connection) share the argument spec and the run here. Typed errors become a failed result in one place.
"""

from __future__ import annotations

import copy

from ansible.module_utils.basic import env_fallback
from ansible_collections.governed.odoo.plugins.module_utils.apply import ApplyError
from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kclient
from ansible_collections.governed.odoo.plugins.module_utils.common_args import kubernetes_argument_spec
from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError
from ansible_collections.governed.odoo.plugins.module_utils.promotion import lock
from ansible_collections.governed.odoo.plugins.module_utils.promotion.errors import LockHeld
from ansible_collections.governed.odoo.plugins.module_utils.restore.k8sjob import run_job


def _kube_spec():
    spec = kubernetes_argument_spec()
    spec["ca_cert"] = dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"]))
    return spec


def lock_argument_spec():
    spec = _kube_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        name=dict(type="str", default=lock.DEFAULT_NAME),
        holder=dict(type="str", required=True),
        state=dict(type="str", choices=["acquired", "released"], default="acquired"),
        lease_seconds=dict(type="int", default=3600),
        operation=dict(type="str", default=""),
        fail_when_held=dict(type="bool", default=True),
    )
    return spec


def job_argument_spec():
    spec = _kube_spec()
    spec.update(
        manifest=dict(type="dict", required=True),
        timeout=dict(type="int", default=1800),
        keep=dict(type="bool", default=False),
    )
    return spec


def _client(params):
    client = kclient.client_from_options(**{k: params.get(k) for k in kclient.CONNECTION_OPTIONS})
    return client, set(client.secrets)


def _failed(exc, **extra):
    return {"failed": True, "changed": False, "msg": exc.msg, **exc.as_result(), **extra}


def run_lock(params, check_mode=False, diff=False, clock=None):
    """(result, values to mask) of one promotion_lock task."""
    del diff
    secrets = set()
    try:
        client, secrets = _client(params)
        if params["state"] == "released":
            return lock.release(client, params["namespace"], params["holder"], params["name"], check_mode), secrets
        return lock.acquire(client, params["namespace"], params["holder"], params["lease_seconds"],
                            params["operation"], params["name"], check_mode, clock), secrets
    except LockHeld as exc:
        result = _failed(exc, acquired=False)
        if not params["fail_when_held"]:
            result.pop("failed")
        return result, secrets
    except GovernedError as exc:
        return _failed(exc), secrets
    except ApplyError as exc:
        return {"failed": True, "changed": False, "msg": str(exc)}, secrets


def run_job_task(params, check_mode=False, diff=False):
    """(result, values to mask) of one k8s_job task: the Job created, waited for and deleted (kept on request)."""
    del diff
    manifest = copy.deepcopy(params["manifest"])
    meta = manifest.get("metadata") or {}
    if manifest.get("kind") != "Job" or not meta.get("name") or not meta.get("namespace"):
        return {"failed": True, "changed": False,
                "msg": "manifest must be a Job with metadata.name and metadata.namespace"}, set()
    if check_mode:
        return {"changed": True, "job": meta["name"], "namespace": meta["namespace"], "outcome": "not run (check mode)",
                "pods": []}, set()
    secrets = set()
    try:
        client, secrets = _client(params)
        summary = run_job(client, manifest, timeout=params["timeout"], keep=params["keep"])
        return {"changed": True, **summary}, secrets
    except GovernedError as exc:
        pods = exc.details.get("pods") or []
        logs = "; ".join(f"{p.get('pod')}: {(p.get('log') or '').strip()[-600:]}" for p in pods)
        result = _failed(exc)
        result["changed"] = True
        if logs:
            result["msg"] = f"{exc.msg} - {logs}"
        return result, secrets
    except ApplyError as exc:
        return {"failed": True, "changed": False, "msg": str(exc)}, secrets
