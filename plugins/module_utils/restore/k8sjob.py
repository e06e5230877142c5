# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one Kubernetes Job to completion (the `odoo neutralize` Job) through the collection's client.

The client is ``module_utils/apply/client.py``'s ``KubeClient``: the one way the collection talks
to the API. A Job is created, watched until it succeeded or failed (or the deadline passed; a watch of the
Job, not a poll), its pod's last log lines are collected, and the Job is deleted with its pods (unless asked to
keep it).
"""

from __future__ import annotations

import contextlib
import time

from ansible_collections.governed.odoo.plugins.module_utils.apply import KubeAPIError
from ansible_collections.governed.odoo.plugins.module_utils.apply.client import await_change
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import KubernetesError


def _job_path(namespace, name=None):
    base = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    return f"{base}/{name}" if name else base


def job_outcome(job):
    """'succeeded', 'failed' or None (still running), from a Job's status conditions (pure)."""
    status = (job or {}).get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return "succeeded"
        if cond.get("type") in ("Failed", "FailureTarget"):
            return "failed"
    if status.get("succeeded"):
        return "succeeded"
    return None


def _pod_logs(client, namespace, job_name, tail=50):
    try:
        pods = client.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"job-name={job_name}")
    except KubeAPIError:
        return []
    out = []
    for pod in (pods or {}).get("items") or []:
        name = pod["metadata"]["name"]
        try:
            # plain text, not JSON: through the client's transport, under its JSON helper
            status, data = client._transport.request(
                "GET", f"/api/v1/namespaces/{namespace}/pods/{name}/log?tailLines={tail}", None, dict(client.headers))
            text = (data or b"").decode("utf-8", "replace") if status < 400 else ""
        except Exception:
            text = ""
        out.append({"pod": name, "phase": (pod.get("status") or {}).get("phase"),
                    "node": (pod.get("spec") or {}).get("nodeName"), "log": text[-4000:]})
    return out


def run_job(client, manifest, timeout=1800, poll=2.0, keep=False, sleep=time.sleep, clock=time.monotonic):
    """Create ``manifest`` (a Job), wait for it, delete it; return a summary dict.

    Raises :class:`KubernetesError` when it cannot be created, fails, or times out.
    """
    ns = manifest["metadata"]["namespace"]
    name = manifest["metadata"]["name"]
    try:
        client.request("POST", _job_path(ns), body=manifest)
    except KubeAPIError as exc:
        raise KubernetesError(f"cannot create Job {ns}/{name}: {exc}", job=name, namespace=ns) from exc
    deadline = clock() + timeout
    outcome, job = None, None
    try:
        while True:
            try:
                job = client.get(_job_path(ns, name))
            except KubeAPIError as exc:
                raise KubernetesError(f"cannot read Job {ns}/{name}: {exc}", job=name, namespace=ns) from exc
            outcome = job_outcome(job)
            if outcome or clock() > deadline:
                break
            # until the Job changes (a watch: it ends as soon as the Job controller marks it done), not a fixed pause
            await_change(client, _job_path(ns), name, ((job or {}).get("metadata") or {}).get("resourceVersion"),
                         timeout=min(300.0, max(0.0, deadline - clock())) + 1, poll=poll, sleep=sleep)
        logs = _pod_logs(client, ns, name)
    finally:
        if not keep:
            with contextlib.suppress(KubeAPIError):
                client.request("DELETE", _job_path(ns, name),
                               body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
    summary = {"job": name, "namespace": ns, "outcome": outcome or "timeout", "pods": logs,
               "status": (job or {}).get("status") or {}}
    if outcome != "succeeded":
        raise KubernetesError(f"Job {ns}/{name} {summary['outcome']}", **summary)
    return summary
