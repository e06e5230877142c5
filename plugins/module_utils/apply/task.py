# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One k8s_apply_set task, independent of where it runs.

The module (plugins/modules/k8s_apply_set.py) and its action plugin (plugins/action/k8s_apply_set.py)
share this: the argument spec, how Secret values are kept out of the output, and the run itself.
The action plugin runs it in the controller's own process when the task's connection is local (the
usual case: the API server is reached from the controller), which saves starting a module process per
instance; otherwise the module runs it on the target as any module does.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json

from ansible.module_utils.basic import env_fallback
from ansible_collections.governed.odoo.plugins.module_utils.apply import ApplyError
from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kclient
from ansible_collections.governed.odoo.plugins.module_utils.apply.engine import DEFAULT_FIELD_MANAGER, apply_set
from ansible_collections.governed.odoo.plugins.module_utils.common_args import kubernetes_argument_spec

NO_LOG_MARKER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def argument_spec():
    spec = kubernetes_argument_spec()
    spec.setdefault(
        "ca_cert", dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"]))
    )
    spec.update(
        objects=dict(type="list", elements="dict"),
        objects_json=dict(type="list", elements="str", no_log=False),
        applyset=dict(type="str", required=True),
        namespace=dict(type="str"),
        prune=dict(type="bool", default=True),
        allow_namespace_prune=dict(type="bool", default=False),
        force_conflicts=dict(type="bool", default=True),
        field_manager=dict(type="str", default=DEFAULT_FIELD_MANAGER),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        validate_only=dict(type="bool", default=False),
        stand_in_namespace=dict(type="str", default="default"),
    )
    return spec


def merged_objects(params):
    """``objects`` followed by the objects of every JSON array in ``objects_json``; an error names the item.

    One of the two must be given (an empty list is a set without objects: everything in it is pruned), so that
    a task that forgot its objects does not prune the whole set.
    """
    if params.get("objects") is None and params.get("objects_json") is None:
        raise ValueError("one of objects or objects_json is required")
    objects = list(params.get("objects") or [])
    for index, text in enumerate(params.get("objects_json") or []):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"objects_json[{index}] is not JSON: {exc}") from None
        if not isinstance(items, list) or not all(isinstance(obj, dict) for obj in items):
            raise ValueError(f"objects_json[{index}] must be a JSON array of objects")
        objects.extend(items)
    return objects


def secret_values(objects):
    """Every value of a Secret's data/stringData in ``objects`` (for no_log_values)."""
    out = set()
    for obj in objects or []:
        if not isinstance(obj, dict) or obj.get("kind") != "Secret":
            continue
        for field in ("data", "stringData"):
            for val in (obj.get(field) or {}).values():
                text = str(val)
                out.add(text)
                if field == "data":
                    with contextlib.suppress(ValueError, UnicodeDecodeError):
                        out.add(base64.b64decode(text).decode("utf-8"))
    # a very short value would mask every occurrence of it in the output (names, kinds...);
    # those are still redacted from the reported arguments below
    return {v for v in out if len(v) >= 6}


def redacted_invocation(params):
    """The module arguments as reported back, with Secret values replaced."""
    shown = dict(params)
    objects = []
    for obj in params.get("objects") or []:
        if isinstance(obj, dict) and obj.get("kind") == "Secret":
            obj = copy.copy(obj)
            for field in ("data", "stringData"):
                if isinstance(obj.get(field), dict):
                    obj[field] = {k: NO_LOG_MARKER for k in obj[field]}
        objects.append(obj)
    shown["objects"] = objects
    if shown.get("api_key"):
        shown["api_key"] = NO_LOG_MARKER
    return {"module_args": shown}


def run(params, check_mode=False, diff=False):
    """Apply the set described by validated ``params``.

    Returns ``(result, no_log_values)``: ``result`` is the task result (``failed`` and ``msg`` set on
    failure, ``warnings`` a list), ``no_log_values`` the values to mask in it before it is shown.
    """
    try:
        objects = merged_objects(params)
    except ValueError as exc:
        shown = dict(params, objects_json=[NO_LOG_MARKER] * len(params.get("objects_json") or []))
        return {"invocation": redacted_invocation(shown), "failed": True, "msg": str(exc)}, set()
    # the sets given as JSON are reported as objects (their Secrets redacted like the others)
    params = dict(params, objects=objects, objects_json=[])
    result = {"invocation": redacted_invocation(params)}
    secrets = secret_values(params["objects"])
    if kclient.yaml is None:
        result.update(failed=True, msg="Failed to import the required Python library (PyYAML)")
        return result, secrets
    try:
        client = kclient.client_from_options(**{k: params.get(k) for k in kclient.CONNECTION_OPTIONS})
        secrets.update(client.secrets)
        applied = apply_set(
            client,
            params["objects"],
            params["applyset"],
            namespace=params["namespace"],
            field_manager=params["field_manager"],
            force_conflicts=params["force_conflicts"],
            prune=params["prune"],
            allow_namespace_prune=params["allow_namespace_prune"],
            dry_run=check_mode,
            want_diff=diff,
            wait=params["wait"],
            wait_timeout=params["wait_timeout"],
            validate_only=bool(params.get("validate_only")),
            stand_in_namespace=params.get("stand_in_namespace"),
        )
    except ApplyError as exc:
        partial = getattr(exc, "result", None)
        extra = partial.to_dict() if partial is not None else {}
        extra.pop("changed", None)
        result.update(extra)
        result.update(
            failed=True,
            msg=str(exc),
            error=exc.to_dict(),
            changed=bool(partial and partial.changed),
            warnings=list(getattr(partial, "warnings", None) or []),
        )
        return result, secrets
    result.update(applied.to_dict())
    result["warnings"] = list(applied.warnings)
    if diff and not params.get("validate_only"):
        result["diff"] = applied.diffs
    if applied.rejected:
        result.update(failed=True, msg=applied.rejection_summary())
    return result, secrets
