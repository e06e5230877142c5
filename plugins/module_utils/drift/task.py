# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One governed.odoo.drift task, shared by the module and its action plugin (which runs it in the controller's
process with a local connection): the argument spec and the run.

The run compares one instance's declared state with what runs, layer by layer, and never writes. A layer that
cannot be read (API, database server or object store unreachable or refusing) does not stop the others: it is
listed in ``errors``, and the task succeeds so that the playbook can still write its report (which then fails
the run).
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback
from ansible_collections.governed.odoo.plugins.module_utils import bucket_task, pgprovision
from ansible_collections.governed.odoo.plugins.module_utils.apply import ApplyError
from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kclient
from ansible_collections.governed.odoo.plugins.module_utils.apply import task as apply_task
from ansible_collections.governed.odoo.plugins.module_utils.apply.engine import DEFAULT_FIELD_MANAGER
from ansible_collections.governed.odoo.plugins.module_utils.common_args import kubernetes_argument_spec
from ansible_collections.governed.odoo.plugins.module_utils.drift import DriftError
from ansible_collections.governed.odoo.plugins.module_utils.drift.buckets import bucket_findings, bucket_ref
from ansible_collections.governed.odoo.plugins.module_utils.drift.compare import SecretHasher
from ansible_collections.governed.odoo.plugins.module_utils.drift.database import database_findings, database_ref
from ansible_collections.governed.odoo.plugins.module_utils.drift.kube import kubernetes_findings

LAYERS = ("kubernetes", "database", "bucket")


def bucket_spec():
    spec = bucket_task.argument_spec()
    for key in ("state", "force"):
        spec.pop(key)
    return spec


def argument_spec():
    spec = kubernetes_argument_spec()
    spec.update(
        ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
        instance=dict(type="str", required=True),
        applyset=dict(type="str"),
        namespace=dict(type="str"),
        objects_json=dict(type="list", elements="str", no_log=True),
        field_manager=dict(type="str", default=DEFAULT_FIELD_MANAGER),
        database=dict(type="dict", options=pgprovision.argument_spec()),
        buckets=dict(type="list", elements="dict", options=bucket_spec(), default=[]),
    )
    return spec


def _kubernetes(params, hasher, secrets):
    objects = apply_task.merged_objects(params)
    secrets.update(apply_task.secret_values(objects))
    try:
        client = kclient.client_from_options(**{k: params.get(k) for k in kclient.CONNECTION_OPTIONS})
    except ApplyError as exc:
        raise DriftError(f"cannot reach the Kubernetes API: {exc}", layer="kubernetes") from None
    secrets.update(client.secrets)
    applyset = params.get("applyset") or f"governed-odoo-{params['instance']}"
    return kubernetes_findings(client, objects, applyset, params.get("namespace"), params["field_manager"], hasher)


def run(params, check_mode=False):
    """Compare one instance. Returns ``(result, values to mask)``; ``changed`` is always false."""
    del check_mode  # nothing is ever written: the same run in both modes
    secrets = set()
    if params.get("api_key"):
        secrets.add(params["api_key"])
    hasher = SecretHasher()
    found, errors = [], []
    checked = {"objects": 0, "database": None, "buckets": []}
    if params.get("objects_json") is not None:
        try:
            items, checked["objects"] = _kubernetes(params, hasher, secrets)
            found.extend(items)
        except (DriftError, ValueError) as exc:
            errors.append({"layer": "kubernetes", "message": str(exc)})
    if params.get("database"):
        checked["database"] = database_ref(params["database"])
        try:
            items, masked = database_findings(params["database"])
            secrets.update(masked)
            found.extend(items)
        except DriftError as exc:
            errors.append({"layer": "database", "message": str(exc)})
    for bucket in params.get("buckets") or []:
        if bucket.get("secret_key"):
            secrets.add(bucket["secret_key"])
        checked["buckets"].append(bucket_ref(bucket))
        try:
            found.extend(bucket_findings(bucket))
        except DriftError as exc:
            errors.append({"layer": "bucket", "message": str(exc)})
    counts = {layer: sum(1 for f in found if f["layer"] == layer) for layer in LAYERS}
    result = {
        "changed": False,
        "instance": params["instance"],
        "drifted": bool(found),
        "drift": found,
        "counts": counts,
        "checked": checked,
        "errors": errors,
    }
    return result, {s for s in secrets if s and len(str(s)) >= 6}
