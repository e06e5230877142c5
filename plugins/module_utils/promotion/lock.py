# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The promotion lock: one Kubernetes Lease (coordination.k8s.io/v1) per instance, in its namespace.

A run that promotes, rolls back or restores an instance holds the instance's Lease for its duration:
``spec.holderIdentity`` names the run, ``renewTime + leaseDurationSeconds`` is when it expires. Every write
is conditional, so exactly one of several runs that race for the lock wins:

* no Lease: create it (POST); a second creator gets 409 AlreadyExists and reads the winner;
* a Lease held by another run that has not expired: refused, naming the holder, what it does and until when;
* a Lease that expired (a run killed before it released it), or held by this run: replaced (PUT) with the
  ``resourceVersion`` that was read; a run that raced and lost gets 409 Conflict and reads the winner.

Releasing deletes the Lease with the ``resourceVersion`` precondition, only while this run holds it: a run
whose lock expired and was taken over never removes its successor's Lease.

``decide`` is pure (the Lease as read, the instant, this holder) and says what to write; ``acquire`` and
``release`` talk to the API through the collection's one client (module_utils/apply/client.py).
"""

from __future__ import annotations

import datetime as _dt

from ansible_collections.governed.odoo.plugins.module_utils.apply import KubeAPIError
from ansible_collections.governed.odoo.plugins.module_utils.promotion.errors import LockHeld, PromotionError
from ansible_collections.governed.odoo.plugins.module_utils.rules import engine

DEFAULT_NAME = "governed-odoo-promotion"
OPERATION_ANNOTATION = "governed.odoo/operation"
LEASE_API = "/apis/coordination.k8s.io/v1"


def lease_path(namespace, name=None):
    base = f"{LEASE_API}/namespaces/{namespace}/leases"
    return f"{base}/{name}" if name else base


def format_time(instant):
    """MicroTime as the API writes it (RFC 3339, microseconds, UTC)."""
    return instant.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text):
    if not text:
        return None
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def expires_at(lease):
    """When ``lease`` expires (None: it names no holder or no time, so it is free)."""
    spec = (lease or {}).get("spec") or {}
    renewed = parse_time(spec.get("renewTime") or spec.get("acquireTime"))
    if not spec.get("holderIdentity") or renewed is None:
        return None
    return renewed + _dt.timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0))


def describe(lease):
    """{holder, operation, expires} of a Lease as read."""
    spec = (lease or {}).get("spec") or {}
    exp = expires_at(lease)
    return {
        "holder": spec.get("holderIdentity"),
        "operation": ((lease or {}).get("metadata") or {}).get("annotations", {}).get(OPERATION_ANNOTATION),
        "expires": format_time(exp) if exp else None,
    }


def decide(lease, holder, now, namespace=None):
    """What to do about ``lease`` (the object as read, or None) for ``holder`` at ``now``.

    Returns ``(action, previous, refusals)``: action ``create`` (no Lease), ``renew`` (this holder's), ``take_over``
    (another holder's, expired) or ``refuse`` (another holder's, not expired: rule ``promotion.lock_free``, whose
    messages are ``refusals``); ``previous`` describes the Lease as read.
    """
    if lease is None:
        return "create", None, []
    info = describe(lease)
    if info["holder"] == holder:
        return "renew", info, []
    findings = engine.evaluate(engine.rules_for(layer="promotion"), {
        "promotion_lock": {**info, "expires": expires_at(lease), "namespace": namespace},
        "promotion_holder": holder, "now": now})
    if findings:
        return "refuse", info, [str(f) for f in findings]
    return "take_over", info, []


def lease_object(namespace, name, holder, seconds, now, operation, previous_lease=None):
    """The Lease to write: held by ``holder`` from ``now`` for ``seconds``."""
    prev_spec = (previous_lease or {}).get("spec") or {}
    same = prev_spec.get("holderIdentity") == holder
    meta = {"name": name, "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "governed.odoo"},
            "annotations": {OPERATION_ANNOTATION: operation or ""}}
    if previous_lease is not None:
        meta["resourceVersion"] = previous_lease["metadata"]["resourceVersion"]
    transitions = int(prev_spec.get("leaseTransitions") or 0) + (0 if same or previous_lease is None else 1)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": int(seconds),
            "acquireTime": prev_spec.get("acquireTime") if same else format_time(now),
            "renewTime": format_time(now),
            "leaseTransitions": transitions,
        },
    }


def read(client, namespace, name):
    try:
        return client.get(lease_path(namespace, name))
    except KubeAPIError as exc:
        if exc.status == 404:
            return None
        raise PromotionError(f"cannot read the promotion lock {namespace}/{name}: {exc}") from None


def _refused(namespace, name, info, refusals):
    return LockHeld("; ".join(refusals), namespace=namespace, lease=name, **info)


def acquire(client, namespace, holder, seconds, operation="", name=DEFAULT_NAME, check_mode=False, clock=None):
    """Take the lock for ``holder``; return the result dict, or raise LockHeld naming the holder."""
    now = (clock or (lambda: _dt.datetime.now(_dt.timezone.utc)))()
    for _attempt in range(2):  # a lost race is read again once: then the winner is named
        lease = read(client, namespace, name)
        action, previous, refusals = decide(lease, holder, now, namespace)
        if action == "refuse":
            raise _refused(namespace, name, previous, refusals)
        body = lease_object(namespace, name, holder, seconds, now, operation, None if action == "create" else lease)
        out = {"changed": True, "acquired": True, "action": action, "previous": previous,
               "lock": {"namespace": namespace, "name": name, **describe(body)}}
        if check_mode:
            return out
        try:
            if action == "create":
                written = client.request("POST", lease_path(namespace), body=body)
            else:
                written = client.request("PUT", lease_path(namespace, name), body=body)
        except KubeAPIError as exc:
            if exc.status == 409:  # AlreadyExists or Conflict: another run wrote first
                continue
            raise PromotionError(f"cannot write the promotion lock {namespace}/{name}: {exc}") from None
        out["lock"]["resource_version"] = written["metadata"]["resourceVersion"]
        return out
    lease = read(client, namespace, name)
    _action, previous, refusals = decide(lease, holder, now, namespace)
    raise _refused(namespace, name, previous or {}, refusals or [
        f"the promotion lock of {namespace} changed under this run twice: another run is taking it"])


def release(client, namespace, holder, name=DEFAULT_NAME, check_mode=False):
    """Give the lock back if ``holder`` still holds it; a lock taken over by another run is left alone."""
    lease = read(client, namespace, name)
    info = describe(lease) if lease else None
    if lease is None or info["holder"] != holder:
        warn = [] if lease is None else [
            f"the promotion lock of {namespace} is held by {info['holder']} now, not by {holder}: it expired and "
            "was taken over; left alone"]
        return {"changed": False, "released": False, "previous": info, "warnings": warn}
    if not check_mode:
        body = {"kind": "DeleteOptions", "apiVersion": "v1",
                "preconditions": {"resourceVersion": lease["metadata"]["resourceVersion"]}}
        try:
            client.request("DELETE", lease_path(namespace, name), body=body)
        except KubeAPIError as exc:
            if exc.status not in (404, 409):
                raise PromotionError(f"cannot release the promotion lock {namespace}/{name}: {exc}") from None
            return {"changed": False, "released": False, "previous": info,
                    "warnings": [f"the promotion lock of {namespace} changed while it was released: left alone"]}
    return {"changed": True, "released": True, "previous": info}
