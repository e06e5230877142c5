# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""After a GitOps commit: what the instance must run once the controller has synced it, and whether it does.

``expected(record)`` reads the audit record a commit carries (``audit-record.json``, the record of the trail) and
says which image the commit puts on the instance: a promotion's release image, a rollback's previous image.
``rollout(live, names, image)`` judges the live Deployments (as the API server returns them) against it: applied (the
controller wrote the committed image into every named Deployment) and available (the Deployment controller rolled it
out: observed the new generation, every replica updated and available). The evidence is the live objects only.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.gitops import GitopsError

CONTAINER = "odoo"


def _dict(value):
    return value if isinstance(value, dict) else {}


def _digest(image):
    return image.split("@", 1)[1] if isinstance(image, str) and "@" in image else None


def expected(record):
    """What a commit's audit record puts on the instance: {kind, image, digest, release, previous, migration_job,
    backup, restored, seq, hash}. A promotion puts its release's image; a rollback (rollback.yml's, or the one a
    failed verification commits) the image it goes back to. Any other record (site.yml's, none) is refused."""
    record = _dict(record)
    event = _dict(record.get("event"))
    kind, outcome = event.get("kind"), event.get("outcome")
    if event.get("delivery") != "gitops" or outcome not in ("committed", "rolled back"):
        raise GitopsError(
            f"the commit's audit record (seq {record.get('seq')}) is not a committed promotion or rollback"
            f" (kind {kind}, outcome {outcome}): nothing to verify"
        )
    changes = _dict(_dict(event.get("changes")).get("image"))
    if kind == "promotion" and outcome == "committed":
        release = _dict(event.get("release"))
        image = release.get("image") or changes.get("to")
    elif kind == "rollback":
        # the release the instance goes back to: its record when rollback.yml chose it, else only its image
        release = dict(_dict(event.get("to")))
        image = release.get("image") or changes.get("to")
    else:
        raise GitopsError(
            f"the commit's audit record (seq {record.get('seq')}) is a {kind} {outcome}: nothing to verify"
        )
    if not _digest(image):
        raise GitopsError(
            f"the commit's audit record (seq {record.get('seq')}) names no image by digest ({image})"
        )
    release.setdefault("image", image)
    release.setdefault("digest", _digest(image))
    return {
        "kind": kind,
        "image": image,
        "digest": _digest(image),
        "release": release,
        "previous": changes.get("from"),
        "migration_job": event.get("migration_job") if kind == "promotion" else None,
        "backup": event.get("backup") or "",
        "restored": event.get("restored"),
        "seq": record.get("seq"),
        "hash": record.get("hash"),
    }


def odoo_deployments(manifests):
    """Names of the Deployments among ``manifests`` (the committed files, parsed) that run the Odoo image."""
    names = []
    for obj in manifests or ():
        obj = _dict(obj)
        if obj.get("kind") != "Deployment":
            continue
        containers = _dict(_dict(_dict(obj.get("spec")).get("template")).get("spec")).get("containers") or ()
        if any(_dict(c).get("name") == CONTAINER for c in containers):
            names.append(_dict(obj.get("metadata")).get("name"))
    return sorted(n for n in names if n)


def _condition(obj, kind):
    for cond in _dict(obj.get("status")).get("conditions") or ():
        if _dict(cond).get("type") == kind:
            return cond
    return {}


def deployment_state(obj, image):
    """One live Deployment against ``image``: {name, image, applied, available, replicas, updated, ready,
    available_replicas, generation, observed, reasons}."""
    meta, spec, status = _dict(obj.get("metadata")), _dict(obj.get("spec")), _dict(obj.get("status"))
    name = meta.get("name")
    containers = _dict(_dict(spec.get("template")).get("spec")).get("containers") or ()
    images = [_dict(c).get("image") for c in containers if _dict(c).get("name") == CONTAINER]
    live = images[0] if len(images) == 1 else None
    replicas = spec.get("replicas", 1)
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    counts = {
        "updated": status.get("updatedReplicas") or 0,
        "ready": status.get("readyReplicas") or 0,
        "available_replicas": status.get("availableReplicas") or 0,
        "total": status.get("replicas") or 0,
    }
    reasons = []
    applied = live == image
    if not applied:
        reasons.append(f"{name} runs {live or 'no odoo container'}, not the committed {image}")
    if not isinstance(generation, int) or not isinstance(observed, int) or observed < generation:
        reasons.append(f"{name}: generation {generation} not observed yet by the Deployment controller ({observed})")
    if counts["updated"] < replicas:
        reasons.append(f"{name}: {counts['updated']} of {replicas} replicas updated")
    if counts["available_replicas"] < replicas:
        reasons.append(f"{name}: {counts['available_replicas']} of {replicas} replicas available")
    if counts["total"] > counts["updated"]:
        reasons.append(f"{name}: {counts['total'] - counts['updated']} replicas of the previous template still run")
    progressing = _condition(obj, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        reasons.append(f"{name}: {progressing.get('message') or 'progress deadline exceeded'}")
    if replicas and _condition(obj, "Available").get("status") != "True":
        reasons.append(f"{name}: not Available")
    return {
        "name": name,
        "image": live,
        "applied": applied,
        "available": applied and not reasons,
        "replicas": replicas,
        "generation": generation,
        "observed": observed,
        **counts,
        "reasons": reasons,
    }


def rollout(live, names, image):
    """The live Deployments ``live`` (a list, as k8s_info returns them) against the committed ``image`` for the
    Deployments ``names``: {applied, available, synced, deployments, reasons}. ``applied``: every named Deployment
    exists and names the image (the controller synced the commit); ``synced``: applied and every rollout
    available. A named Deployment that is missing is neither."""
    if not names:
        raise GitopsError("the commit names no Deployment that runs the Odoo image: nothing to wait for")
    by_name = {_dict(_dict(o).get("metadata")).get("name"): _dict(o) for o in live or ()}
    states, reasons = [], []
    for name in names:
        if name not in by_name:
            states.append({"name": name, "applied": False, "available": False, "image": None})
            reasons.append(f"{name}: no such Deployment in the cluster")
            continue
        state = deployment_state(by_name[name], image)
        states.append(state)
        reasons.extend(state["reasons"])
    applied = all(s["applied"] for s in states)
    available = all(s["available"] for s in states)
    return {
        "applied": applied,
        "touched": any(s["applied"] for s in states),
        "available": available,
        "synced": applied and available,
        "deployments": states,
        "reasons": reasons,
    }
