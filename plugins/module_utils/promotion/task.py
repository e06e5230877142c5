# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tasks of governed.odoo.promotion_lock, governed.odoo.k8s_job and governed.odoo.k8s_workload, independent of
where they run.

Each module (plugins/modules/) and its action plugin (plugins/action/, in the controller's process with a local
connection) share the argument spec and the run here. Typed errors become a failed result in one place.
"""

from __future__ import annotations

import copy
import time

from ansible.module_utils.basic import env_fallback
from ansible_collections.governed.odoo.plugins.module_utils.apply import ApplyError, KubeAPIError
from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kclient
from ansible_collections.governed.odoo.plugins.module_utils.apply.engine import rollout_status
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


# the workloads governed.odoo.k8s_workload reads and scales (apps/v1)
WORKLOADS = {"Deployment": "deployments", "StatefulSet": "statefulsets"}
PODS = kclient.Resource("", "v1", "Pod", "pods", True)


def workload_argument_spec():
    spec = _kube_spec()
    spec.update(
        namespace=dict(type="str", required=True),
        kind=dict(type="str", choices=sorted(WORKLOADS), default="Deployment"),
        name=dict(type="str", required=True),
        replicas=dict(type="int"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=600),
        pod_selectors=dict(type="list", elements="str"),
    )
    return spec


def run_workload(params, check_mode=False, diff=False, sleep=time.sleep, clock=time.monotonic):
    """(result, values to mask) of one k8s_workload task: the workload as it is (scaled to ``replicas`` first, and
    waited for, when given) and the pods that match ``pod_selectors``."""
    del diff
    ns, name, kind = params["namespace"], params["name"], params["kind"]
    resource = kclient.Resource("apps", "v1", kind, WORKLOADS[kind], True)
    path = resource.path(ns, name)
    secrets = set()
    try:
        client, secrets = _client(params)
        try:
            obj = client.get(path)
        except KubeAPIError as exc:
            if not exc.not_found:
                raise
            obj = None
        changed = False
        if params["replicas"] is not None:
            if obj is None:
                return {"failed": True, "changed": False, "object": None,
                        "msg": f"{kind} {ns}/{name} does not exist: it cannot be scaled"}, secrets
            changed = (obj.get("spec") or {}).get("replicas", 1) != params["replicas"]
            if changed and not check_mode:
                client.request("PATCH", path + "/scale", body={"spec": {"replicas": params["replicas"]}},
                               content_type="application/merge-patch+json")
                obj = client.get(path)
            if params["wait"] and not check_mode:
                deadline = clock() + params["wait_timeout"]
                while True:
                    ready, failure, progress = rollout_status(obj)
                    # as kubernetes.core.k8s_scale: no more (nor fewer) replicas than asked for, terminating pods
                    # gone from the count; the status of the generation before the scale does not count
                    counted = ((obj.get("status") or {}).get("replicas") or 0)
                    ready = ready and counted == params["replicas"]
                    progress = f"{progress}, {counted} counted"
                    if failure:
                        return {"failed": True, "changed": changed, "object": obj,
                                "msg": f"{kind} {ns}/{name}: {failure}"}, secrets
                    if ready:
                        break
                    if clock() >= deadline:
                        return {"failed": True, "changed": changed, "object": obj,
                                "msg": f"{kind} {ns}/{name} not scaled to {params['replicas']} after"
                                       f" {params['wait_timeout']} s ({progress})"}, secrets
                    kclient.await_change(client, resource.path(ns), name,
                                         (obj.get("metadata") or {}).get("resourceVersion"),
                                         timeout=min(60.0, max(0.0, deadline - clock())), poll=1.0, sleep=sleep)
                    obj = client.get(path)
        out = {"changed": changed, "object": obj}
        if params["pod_selectors"] is not None:
            pods = client.get(PODS.path(ns), labelSelector=",".join(params["pod_selectors"]))
            out["pods"] = (pods or {}).get("items") or []
        return out, secrets
    except GovernedError as exc:
        return _failed(exc), secrets
    except ApplyError as exc:
        return {"failed": True, "changed": False, "msg": str(exc)}, secrets
