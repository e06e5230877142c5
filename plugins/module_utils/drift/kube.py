# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes drift: what an apply of the declared set would change, field by field.

The declared set is handed over exactly as site.yml hands it to governed.odoo.k8s_apply_set, and the apply
engine (module_utils/apply/engine.py) runs on it in dry-run mode with the same ApplySet and field manager: it
reads the set's live members, decides locally which objects an apply would leave alone, and sends a server-side
dry-run apply (``dryRun=All``: nothing is written) for the others. The server's answer is the object as the
apply would leave it; every field where it differs from the live object is a field the collection manages that
someone changed (or that the inventory changed since the last converge). Fields that other field managers own
and the declared set does not mention are not the collection's and are not reported. Objects absent from the
cluster and live members of the set that are no longer declared are reported as whole objects.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.apply import ApplyError
from ansible_collections.governed.odoo.plugins.module_utils.apply import diff as kdiff
from ansible_collections.governed.odoo.plugins.module_utils.apply.engine import ApplySetEngine
from ansible_collections.governed.odoo.plugins.module_utils.drift import DriftError
from ansible_collections.governed.odoo.plugins.module_utils.drift.compare import ABSENT, differences, finding

LAYER = "kubernetes"
WHOLE = "(object)"


def comparable(obj, hasher):
    """``obj`` without server bookkeeping and status; a Secret's values as keyed hashes."""
    out = kdiff.strip_noise(kdiff.secret_string_data_to_data(obj))
    if out.get("kind") == "Secret" and out.get("data") is not None:
        out["data"] = hasher.secret_data(out["data"])
    return out


def member_findings(ref, live, after, hasher):
    """The findings of one object: ``after`` is what an apply would leave, ``live`` what runs."""
    return [
        finding(LAYER, ref, path, declared, live_value)
        for path, declared, live_value in differences(comparable(after, hasher), comparable(live, hasher))
    ]


def findings_of_run(engine, result, hasher):
    """Findings from a finished dry run of ``engine``: changed fields, absent objects, objects no longer declared."""
    out = []
    for member in sorted(engine.members, key=lambda m: m.index):
        ref = kdiff.object_ref(member.obj)
        if member.action == "created" or (member.live is None and member.action == "configured"):
            out.append(finding(LAYER, ref, WHOLE, "present", ABSENT))
        elif member.action == "configured" and member.after is not None:
            out.extend(member_findings(ref, member.live, member.after, hasher))
    for gone in result.pruned:
        ref = (
            f"{gone['kind']} {gone['namespace']}/{gone['name']}"
            if gone.get("namespace")
            else (f"{gone['kind']} {gone['name']}")
        )
        out.append(finding(LAYER, ref, WHOLE, ABSENT, "present", note="member of the set, no longer declared"))
    return out


def kubernetes_findings(client, objects, applyset, namespace, field_manager, hasher):
    """``(findings, objects checked)`` of one instance's declared set against the cluster; nothing is written."""
    engine = ApplySetEngine(
        client,
        applyset,
        namespace=namespace,
        field_manager=field_manager,
        force_conflicts=True,
        prune=True,
        dry_run=True,
        want_diff=True,
    )
    try:
        result = engine.run(objects)
    except ApplyError as exc:
        raise DriftError(f"cannot compare the Kubernetes objects: {exc}", layer=LAYER) from None
    return findings_of_run(engine, result, hasher), len(engine.members)
