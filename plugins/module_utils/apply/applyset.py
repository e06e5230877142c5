# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ApplySet specification (KEP-3659), as pure functions.

An ApplySet is a parent object (here a Secret, or a ConfigMap, in the set's namespace) with

    label       applyset.kubernetes.io/id = applyset-<base64url(sha256(name.namespace.Kind.group))>-v1
    annotation  applyset.kubernetes.io/tooling = <tool>/<version>
    annotation  applyset.kubernetes.io/contains-group-kinds = Kind.group,... (sorted; core kinds bare)
    annotation  applyset.kubernetes.io/additional-namespaces = ns,... (sorted; without the parent's)

and every member carries the label applyset.kubernetes.io/part-of = <id>. Members to prune are
found by listing each group-kind of the annotation with that label selector.
"""

from __future__ import annotations

import base64
import hashlib

from ansible_collections.governed.odoo.plugins.module_utils.apply import ApplyError

ID_LABEL = "applyset.kubernetes.io/id"
PART_OF_LABEL = "applyset.kubernetes.io/part-of"
TOOLING_ANNOTATION = "applyset.kubernetes.io/tooling"
GROUP_KINDS_ANNOTATION = "applyset.kubernetes.io/contains-group-kinds"
LEGACY_GROUP_RESOURCES_ANNOTATION = "applyset.kubernetes.io/contains-group-resources"
NAMESPACES_ANNOTATION = "applyset.kubernetes.io/additional-namespaces"

TOOL_NAME = "governed.odoo"
TOOL_VERSION = "v0.1.0"
TOOLING = f"{TOOL_NAME}/{TOOL_VERSION}"

PARENT_KINDS = {"secret": "Secret", "secrets": "Secret", "configmap": "ConfigMap", "configmaps": "ConfigMap"}


def applyset_id(name, namespace, kind="Secret", group=""):
    """The id of the ApplySet whose parent is <group>/<kind> <namespace>/<name>.

    >>> applyset_id("demo", "default")  # doctest: +SKIP
    'applyset-...-v1'
    """
    unencoded = ".".join((name, namespace or "", kind, group))
    digest = hashlib.sha256(unencoded.encode("utf-8")).digest()
    return "applyset-" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=") + "-v1"


def parse_parent_ref(ref):
    """'odoo-acme' -> ('Secret', 'odoo-acme'); 'configmap/odoo-acme' -> ('ConfigMap', 'odoo-acme')."""
    if not ref or not isinstance(ref, str):
        raise ApplyError("applyset: a name is required")
    kind = "Secret"
    name = ref
    if "/" in ref:
        prefix, name = ref.split("/", 1)
        kind = PARENT_KINDS.get(prefix.lower())
        if kind is None:
            raise ApplyError(
                f"applyset: {ref!r} names an unsupported parent type {prefix!r} "
                "(use a plain name, secret/<name> or configmap/<name>)"
            )
    if not name or len(name) > 253:
        raise ApplyError(f"applyset: {ref!r} is not a valid object name")
    return kind, name


def group_kind_string(group, kind):
    """('apps', 'Deployment') -> 'Deployment.apps'; ('', 'Secret') -> 'Secret' (schema.GroupKind.String)."""
    return f"{kind}.{group}" if group else kind


def parse_group_kind(text):
    """'Deployment.apps' -> ('apps', 'Deployment'); 'Secret' -> ('', 'Secret') (schema.ParseGroupKind)."""
    kind, _dot, group = text.strip().partition(".")
    return group, kind


def format_group_kinds(group_kinds):
    return ",".join(sorted(group_kind_string(g, k) for g, k in set(group_kinds)))


def parse_group_kinds(value):
    if not value:
        return set()
    return {parse_group_kind(part) for part in value.split(",") if part.strip()}


def format_namespaces(namespaces, parent_namespace):
    return ",".join(sorted({ns for ns in namespaces if ns and ns != parent_namespace}))


def parse_namespaces(value):
    if not value:
        return set()
    return {ns.strip() for ns in value.split(",") if ns.strip()}


class ParentState:
    """What a live parent object says about its set (empty when the parent does not exist yet)."""

    def __init__(self, exists=False, group_kinds=None, namespaces=None, tooling=None, legacy_resources=None):
        self.exists = exists
        self.group_kinds = set(group_kinds or ())
        self.namespaces = set(namespaces or ())
        self.tooling = tooling
        self.legacy_resources = legacy_resources


def read_parent(live, expected_id, ref):
    """Validate a live parent object against the spec and our tooling; return its ParentState.

    ``ref`` names the parent in messages ("Secret odoo/odoo-acme-dev").
    Raises ApplyError when the object is not (or not our) ApplySet parent: the spec says a tool
    must not take over a set that another tool manages.
    """
    if live is None:
        return ParentState()
    meta = live.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    tooling = annotations.get(TOOLING_ANNOTATION)
    if tooling is None:
        raise ApplyError(
            f"{ref} exists but is not an ApplySet parent (no {TOOLING_ANNOTATION} annotation); "
            "choose another applyset name or remove the object"
        )
    tool_name = tooling.rsplit("/", 1)[0] if "/" in tooling else tooling
    if tool_name != TOOL_NAME:
        raise ApplyError(f"{ref} is an ApplySet managed by {tooling!r}, not by {TOOL_NAME}; refusing to take it over")
    if labels.get(ID_LABEL) != expected_id:
        raise ApplyError(f"{ref} has label {ID_LABEL}={labels.get(ID_LABEL)!r}, expected {expected_id!r}")
    return ParentState(
        exists=True,
        group_kinds=parse_group_kinds(annotations.get(GROUP_KINDS_ANNOTATION)),
        namespaces=parse_namespaces(annotations.get(NAMESPACES_ANNOTATION)),
        tooling=tooling,
        legacy_resources=annotations.get(LEGACY_GROUP_RESOURCES_ANNOTATION),
    )


def parent_manifest(kind, name, namespace, set_id, group_kinds, namespaces):
    """The parent object to server-side apply, tracking ``group_kinds`` and ``namespaces``."""
    return {
        "apiVersion": "v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {ID_LABEL: set_id},
            "annotations": {
                TOOLING_ANNOTATION: TOOLING,
                GROUP_KINDS_ANNOTATION: format_group_kinds(group_kinds),
                NAMESPACES_ANNOTATION: format_namespaces(namespaces, namespace),
            },
        },
    }


def parent_up_to_date(live, manifest):
    """True when the live parent already carries the manifest's label and annotations."""
    if live is None:
        return False
    meta = live.get("metadata") or {}
    want = manifest["metadata"]
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if any(labels.get(k) != v for k, v in want["labels"].items()):
        return False
    if LEGACY_GROUP_RESOURCES_ANNOTATION in annotations:
        return False
    # an empty annotation value and a missing one are the same to every reader
    return all((annotations.get(key) or "") == val for key, val in want["annotations"].items())
