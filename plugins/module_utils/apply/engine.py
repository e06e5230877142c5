# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply an object set: discovery, list members, server-side apply what changed, prune, wait.

One run, in order:

1. read the ApplySet parent and discover the group/versions the run needs (in parallel);
2. LIST the set's live members once per kind (and namespace) by the part-of label;
3. decide per object, locally, whether an apply would change anything (diff.compare); when
   unsure, ask the server with a dry-run apply; objects that would not change get no request;
4. apply the rest with server-side apply, phase by phase (Namespaces and CRDs, then other
   cluster-scoped objects such as RBAC, then namespaced configuration, workloads, the rest),
   the objects of one phase concurrently;
5. prune live members no longer declared, phases in reverse (never a Namespace unless allowed);
6. keep the parent's annotations the superset of old and new kinds while working, and exact
   afterwards - writing the parent only when its annotations change;
7. optionally wait for Deployments, StatefulSets and DaemonSets to roll out and Jobs to complete.

In check mode (``dry_run=True``) every request that would write is sent with dryRun=All, so
the server validates, defaults and admits exactly as it would for real.

With ``validate_only=True`` the run stops after step 3: every object that would change is sent as a
server-side apply with dryRun=All, and every refusal is collected (``ApplyResult.rejected``), not only the
first. Objects in a Namespace that the set creates are sent into ``stand_in_namespace`` (an existing one),
because the API server answers NotFound for a missing namespace before it validates anything. Nothing is
written: not the objects, not the parent, nothing is pruned.
"""

from __future__ import annotations

import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.governed.odoo.plugins.module_utils.apply import (
    ApplyError,
    KubeAPIError,
    WaitTimeout,
)
from ansible_collections.governed.odoo.plugins.module_utils.apply import applyset as aset
from ansible_collections.governed.odoo.plugins.module_utils.apply import diff as d
from ansible_collections.governed.odoo.plugins.module_utils.apply.client import (
    Discovery,
    Resource,
    await_change,
    split_api_version,
)

DEFAULT_FIELD_MANAGER = "governed.odoo"
CRD_GROUP = "apiextensions.k8s.io"

# phases: lower first when applying, higher first when pruning
PHASE_NAMESPACE_CRD = 0
PHASE_CLUSTER = 1
PHASE_CONFIG = 2
PHASE_WORKLOAD = 3
PHASE_REST = 4

CONFIG_KINDS = frozenset(
    (
        ("", "ServiceAccount"),
        ("", "Secret"),
        ("", "ConfigMap"),
        ("", "ResourceQuota"),
        ("", "LimitRange"),
        ("", "PersistentVolumeClaim"),
        ("", "Service"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("networking.k8s.io", "NetworkPolicy"),
    )
)
WORKLOAD_KINDS = frozenset(
    (
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("", "Pod"),
    )
)
NAMESPACES = Resource("", "v1", "Namespace", "namespaces", False)
NOISE_METADATA_IN = ("creationTimestamp", "resourceVersion", "uid", "selfLink", "generation", "managedFields")


def phase_of(group, kind, namespaced):
    if (group, kind) in (("", "Namespace"), (CRD_GROUP, "CustomResourceDefinition")):
        return PHASE_NAMESPACE_CRD
    if not namespaced:
        return PHASE_CLUSTER
    if (group, kind) in CONFIG_KINDS:
        return PHASE_CONFIG
    if (group, kind) in WORKLOAD_KINDS:
        return PHASE_WORKLOAD
    return PHASE_REST


class Member:
    """One declared object and what the run found out and did about it."""

    __slots__ = (
        "action",
        "after",
        "deferred",
        "group",
        "index",
        "kind",
        "live",
        "name",
        "namespace",
        "obj",
        "phase",
        "reason",
        "rejected",
        "resource",
        "verdict",
    )

    def __init__(self, index, obj):
        self.index = index
        self.obj = obj
        self.group = split_api_version(obj["apiVersion"])[0]
        self.kind = obj["kind"]
        self.name = obj["metadata"]["name"]
        self.namespace = obj["metadata"].get("namespace")
        self.resource = None
        self.deferred = False
        self.phase = PHASE_REST
        self.live = None
        self.verdict = None
        self.reason = None
        self.action = None
        self.after = None
        self.rejected = False

    @property
    def key(self):
        return (self.group, self.kind, self.namespace or "", self.name)

    @property
    def ref(self):
        return d.object_ref(self.obj)

    def summary(self):
        return {
            "apiVersion": self.obj["apiVersion"],
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "action": self.action,
        }


class ApplyResult:
    """What a run did (or, in check mode, would do)."""

    def __init__(self, applyset_id, parent):
        self.applyset_id = applyset_id
        self.parent = parent
        self.applied = []
        self.pruned = []
        self.retained = []
        self.diffs = []
        self.warnings = []
        self.parent_written = False
        self.api_requests = {}
        self.validate_only = False
        self.rejected = []

    @property
    def changed(self):
        if self.validate_only:
            return False
        return bool(self.pruned) or any(a["action"] in ("created", "configured") for a in self.applied)

    def to_dict(self):
        out = {
            "changed": self.changed,
            "applyset_id": self.applyset_id,
            "parent": self.parent,
            "applied": self.applied,
            "pruned": self.pruned,
            "retained": self.retained,
            "api_requests": self.api_requests,
        }
        if self.validate_only:
            out["rejected"] = self.rejected
        return out

    def rejection_summary(self):
        """One line naming every rejected object and the API server's answer."""
        parts = []
        for r in self.rejected:
            ref = f"{r['kind']} {r['namespace']}/{r['name']}" if r.get("namespace") else f"{r['kind']} {r['name']}"
            parts.append(f"{ref}: {r['message']}")
        return (
            f"the API server would refuse {len(self.rejected)} object(s) of the set (server-side dry run, nothing"
            " was written): " + "; ".join(parts)
        )


def _api_error(exc, obj=None, resource=None, verb="apply"):
    """A KubeAPIError about one object, as an ApplyError naming it."""
    meta = (obj or {}).get("metadata") or {}
    message = exc.message
    if exc.status == 409 and verb == "apply":
        message = f"{message} (field manager conflict; set force_conflicts to take ownership of these fields)"
    return ApplyError(
        f"{verb} failed: {message}",
        kind=(obj or {}).get("kind") or (resource.kind if resource else None),
        name=meta.get("name"),
        namespace=meta.get("namespace"),
        api_version=(obj or {}).get("apiVersion") or (resource.api_version if resource else None),
        status=exc.status,
        reason=exc.reason,
    )


def _string_map(value, where):
    """A map[string]string field with scalar values as strings (YAML/Jinja turn 4 into an int, yes
    into true); the API server rejects anything but strings there."""
    if not isinstance(value, dict):
        raise ApplyError(f"{where} must be a mapping of strings, got {type(value).__name__}")
    out = {}
    for key, val in value.items():
        if isinstance(val, bool):
            val = "true" if val else "false"
        elif isinstance(val, (int, float)):
            val = str(val)
        elif val is not None and not isinstance(val, str):
            raise ApplyError(f"{where}.{key} must be a string, got {type(val).__name__}")
        out[str(key)] = val
    return out


def _validate(index, obj, default_namespace):
    """A clean copy of one declared manifest, or ApplyError naming the offending entry."""
    where = f"objects[{index}]"
    if not isinstance(obj, dict):
        raise ApplyError(f"{where} is a {type(obj).__name__}, not a mapping (a Kubernetes manifest)")
    missing = [k for k in ("apiVersion", "kind") if not isinstance(obj.get(k), str) or not obj.get(k)]
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta.get("name"):
        missing.append("metadata.name")
    if missing:
        raise ApplyError(f"{where} ({obj.get('kind', '?')}) lacks {', '.join(missing)}")
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in meta.items() if k not in NOISE_METADATA_IN}
    for key in ("labels", "annotations"):
        if key in meta and not meta[key]:
            del meta[key]
        elif key in meta:
            meta[key] = _string_map(meta[key], f"{where}.metadata.{key}")
    if obj.get("apiVersion") == "v1" and obj.get("kind") == "ConfigMap" and obj.get("data"):
        out["data"] = _string_map(obj["data"], f"{where}.data")
    if obj.get("apiVersion") == "v1" and obj.get("kind") == "Secret" and obj.get("stringData"):
        out["stringData"] = _string_map(obj["stringData"], f"{where}.stringData")
    if meta.get("namespace") is None:
        meta.pop("namespace", None)
        if default_namespace:
            meta["_defaultNamespace"] = default_namespace
    out["metadata"] = meta
    return out


def _place(obj, namespaced, default_ns, set_id):
    """Give a validated manifest its namespace (the default one when namespaced and it names none; none when
    cluster-scoped) and the label that makes it a member of the set ``set_id``; in place."""
    meta = obj["metadata"]
    if namespaced:
        meta.setdefault("namespace", default_ns)
        if not meta.get("namespace"):
            raise ApplyError(
                "a namespaced object needs metadata.namespace (or the namespace option)",
                kind=obj["kind"],
                name=meta["name"],
            )
    else:
        meta.pop("namespace", None)
    labels = dict(meta.get("labels") or {})
    if labels.get(aset.PART_OF_LABEL, set_id) != set_id:
        raise ApplyError(
            f"the object already carries label {aset.PART_OF_LABEL}="
            f"{labels[aset.PART_OF_LABEL]!r}, which belongs to another ApplySet",
            kind=obj["kind"],
            name=meta["name"],
            namespace=meta.get("namespace"),
        )
    labels[aset.PART_OF_LABEL] = set_id
    meta["labels"] = labels


def manifests_as_applied(objects, applyset, namespace, namespaced):
    """The manifests ``apply_set`` sends for ``objects``, worked out without a cluster.

    ``namespaced(group, kind)`` says whether a kind is namespaced (the engine asks the API server's discovery).
    The GitOps mode writes these, so that a controller reconciling the repository applies exactly what the
    direct mode would have applied: the same cleaning (``status`` and server-set metadata dropped, label and
    annotation values as strings), the same namespaces and the same ApplySet membership label.
    """
    kind, name = aset.parse_parent_ref(applyset)
    set_id = aset.applyset_id(name, namespace, kind, "")
    out = []
    for index, obj in enumerate(copy.deepcopy(objects)):
        clean = _validate(index, obj, namespace)
        default_ns = clean["metadata"].pop("_defaultNamespace", None)
        _place(clean, namespaced(split_api_version(clean["apiVersion"])[0], clean["kind"]), default_ns, set_id)
        out.append(clean)
    return out


class ApplySetEngine:
    """Apply one object set. Build it with a KubeClient and options, then ``run(objects)``."""

    def __init__(
        self,
        client,
        applyset,
        namespace=None,
        field_manager=DEFAULT_FIELD_MANAGER,
        force_conflicts=True,
        prune=True,
        allow_namespace_prune=False,
        dry_run=False,
        want_diff=False,
        wait=False,
        wait_timeout=300,
        workers=8,
        validation="Strict",
        validate_only=False,
        stand_in_namespace="default",
    ):
        self.client = client
        self.parent_kind, self.parent_name = aset.parse_parent_ref(applyset)
        self.parent_namespace = namespace or getattr(client, "namespace", None) or "default"
        self.set_id = aset.applyset_id(self.parent_name, self.parent_namespace, self.parent_kind, "")
        self.field_manager = field_manager or DEFAULT_FIELD_MANAGER
        self.force = force_conflicts
        self.prune = prune
        self.allow_namespace_prune = allow_namespace_prune
        self.dry_run = dry_run
        self.want_diff = want_diff
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.workers = max(1, workers)
        self.validation = validation
        self.validate_only = validate_only
        self.stand_in_namespace = stand_in_namespace
        self.discovery = Discovery(client)
        self.parent_resource = Resource("", "v1", self.parent_kind, self.parent_kind.lower() + "s", True)
        self.result = ApplyResult(
            self.set_id, {"kind": self.parent_kind, "namespace": self.parent_namespace, "name": self.parent_name}
        )
        self.result.validate_only = validate_only
        self._lock = threading.Lock()
        self._pool = None
        self._members = []

    @property
    def members(self):
        """The declared objects of the last run: each has ``obj`` (as sent), ``live`` (as read, None when absent),
        ``after`` (the server's answer to the apply or dry-run apply, None when none was sent) and ``action``.
        Drift reports (module_utils/drift) compare ``live`` with ``after`` of a dry run."""
        return list(self._members)

    # -- helpers ----------------------------------------------------------------------------

    def _map(self, fn, items):
        """fn over items in the worker pool; results in order; the first exception re-raised
        after every item ran (so that one failure does not hide what else happened)."""
        items = list(items)
        if not items:
            return []
        if len(items) == 1:
            return [fn(items[0])]
        futures = [self._pool.submit(fn, item) for item in items]
        results, first_error = [], None
        for fut in futures:
            try:
                results.append(fut.result())
            except Exception as exc:
                results.append(None)
                if first_error is None:
                    first_error = exc
        if first_error is not None:
            raise first_error
        return results

    def _warn(self, msg):
        with self._lock:
            self.result.warnings.append(msg)

    # -- the run -----------------------------------------------------------------------------

    def run(self, objects):
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="apply") as pool:
            self._pool = pool
            try:
                self._run(objects)
            except ApplyError as exc:
                if not self.result.applied:
                    # what was done before the failure (objects not reached are left out)
                    self.result.applied = [m.summary() for m in self._members if m.action]
                exc.result = self._finish()
                raise
            finally:
                self._pool = None
        return self._finish()

    def _finish(self):
        res = self.result
        res.api_requests = dict(sorted(self.client.stats.items()))
        return res

    def _run(self, objects):
        if not isinstance(objects, list):
            raise ApplyError("objects must be a list of Kubernetes manifests")
        members = [Member(i, _validate(i, obj, self.parent_namespace)) for i, obj in enumerate(objects)]
        self._members = members

        # 1. the parent and discovery, in parallel
        parent_future = self._pool.submit(self._get_parent)
        self.discovery.prefetch({m.obj["apiVersion"] for m in members}, self._pool)
        live_parent = parent_future.result()
        parent_ref = f"{self.parent_kind} {self.parent_namespace}/{self.parent_name}"
        state = aset.read_parent(live_parent, self.set_id, parent_ref)
        self._resolve(members)
        if self.validate_only:
            members = [m for m in members if not m.rejected]
        self._check_duplicates(members)

        # 2. live members of the set, one LIST per kind (and namespace)
        declared_gks = {(m.group, m.kind) for m in members}
        declared_ns = {m.namespace for m in members if m.namespace}
        live_by_key = {}
        if state.exists:
            live_by_key = self._list_members(members, state, declared_gks, declared_ns)
        for m in members:
            m.live = live_by_key.get(m.key)
        # declared Namespaces not found as members may still exist (created outside the set)
        unknown_ns = [m for m in members if (m.group, m.kind) == ("", "Namespace") and m.live is None]
        for m, live in zip(unknown_ns, self._map(self._get_live, unknown_ns), strict=True):
            m.live = live

        # 3. local verdicts
        for m in members:
            if m.live is None:
                m.verdict, m.reason = d.CHANGED, "absent"
            else:
                m.verdict, m.reason = d.compare(m.obj, m.live, self.field_manager)

        # 4. apply, phase by phase; the parent first covers old and new kinds (superset)
        new_ns = {m.name for m in members if (m.group, m.kind) == ("", "Namespace") and m.live is None}
        if self.validate_only:
            self._validate_all(members, new_ns)
            return
        super_gks = state.group_kinds | declared_gks
        super_ns = state.namespaces | declared_ns
        phases = sorted({m.phase for m in members})
        parent_ns_created_here = self.parent_namespace in new_ns
        if not parent_ns_created_here and members:
            live_parent = self._write_parent(live_parent, super_gks, super_ns) or live_parent
        for phase in phases:
            todo = [m for m in members if m.phase == phase]
            self._apply_phase(todo, new_ns)
            if phase == PHASE_NAMESPACE_CRD:
                self._after_crds(todo, members)
                if parent_ns_created_here and members:
                    live_parent = self._write_parent(live_parent, super_gks, super_ns) or live_parent
        for m in sorted(members, key=lambda m: m.index):
            self.result.applied.append(m.summary())

        # 5. prune
        keep_gks, keep_ns = set(declared_gks), set(declared_ns)
        if self.prune:
            declared_keys = {m.key for m in members}
            candidates = [obj for key, obj in live_by_key.items() if key not in declared_keys]
            kept = self._prune(candidates)
            for obj in kept:
                g = split_api_version(obj["apiVersion"])[0]
                keep_gks.add((g, obj["kind"]))
                if obj["metadata"].get("namespace"):
                    keep_ns.add(obj["metadata"]["namespace"])
        else:
            keep_gks, keep_ns = super_gks, super_ns

        # 6. the parent exactly as the set now is
        if members or state.exists:
            self._write_parent(live_parent, keep_gks, keep_ns)

        # 7. wait
        if self.wait and not self.dry_run:
            self._wait(members)

        if self.want_diff:
            self._diffs(members)

    # -- parent ------------------------------------------------------------------------------

    def _get_parent(self):
        try:
            return self.client.get(self.parent_resource.path(self.parent_namespace, self.parent_name))
        except KubeAPIError as exc:
            if exc.not_found:
                return None
            raise _api_error(exc, resource=self.parent_resource, verb="read ApplySet parent") from None

    def _write_parent(self, live_parent, gks, namespaces):
        """Apply the parent if its label/annotations differ; return the new parent or None."""
        manifest = aset.parent_manifest(
            self.parent_kind, self.parent_name, self.parent_namespace, self.set_id, gks, namespaces
        )
        if aset.parent_up_to_date(live_parent, manifest) or self.dry_run:
            return None
        try:
            obj = self.client.apply(
                self.parent_resource, manifest, f"{self.field_manager}-applyset", force=True, validation=self.validation
            )[1]
        except KubeAPIError as exc:
            raise _api_error(exc, manifest, verb="update ApplySet parent") from None
        self.result.parent_written = True
        return obj

    # -- discovery and identity --------------------------------------------------------------

    def _crd_defined(self, members):
        """(group, kind) -> (scope namespaced?, versions) for CRDs declared in this set."""
        out = {}
        for m in members:
            if (m.group, m.kind) != (CRD_GROUP, "CustomResourceDefinition"):
                continue
            spec = m.obj.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind")
            if spec.get("group") and kind:
                versions = {v.get("name") for v in spec.get("versions") or []}
                out[(spec["group"], kind)] = (spec.get("scope", "Namespaced") == "Namespaced", versions)
        return out

    def _resolve(self, members):
        """Each member's REST resource, namespace and set label. In validate_only mode an object that cannot be
        resolved is a rejection and the others go on; otherwise the first one fails the run."""
        crds = self._crd_defined(members)
        for m in members:
            if not self.validate_only:
                self._resolve_one(m, crds)
                continue
            try:
                self._resolve_one(m, crds)
            except ApplyError as exc:
                m.rejected, m.action = True, "rejected"
                self._reject(m, exc)

    def _resolve_one(self, m, crds):
        meta = m.obj["metadata"]
        default_ns = meta.pop("_defaultNamespace", None)
        res = self.discovery.resource(m.obj["apiVersion"], m.kind)
        if res is None:
            version = split_api_version(m.obj["apiVersion"])[1]
            crd = crds.get((m.group, m.kind))
            if crd is None or version not in crd[1]:
                raise ApplyError(
                    f"the API server does not serve kind {m.kind} in apiVersion "
                    f"{m.obj['apiVersion']} (and no CustomResourceDefinition in this set defines it)",
                    kind=m.kind,
                    name=m.name,
                    namespace=meta.get("namespace"),
                    api_version=m.obj["apiVersion"],
                )
            namespaced = crd[0]
            m.deferred = True
        else:
            namespaced = res.namespaced
            m.resource = res
        _place(m.obj, namespaced, default_ns, self.set_id)
        m.namespace = meta.get("namespace")
        m.phase = phase_of(m.group, m.kind, namespaced)

    def _check_duplicates(self, members):
        seen = {}
        for m in members:
            if m.key in seen:
                raise ApplyError(
                    f"objects[{m.index}] duplicates objects[{seen[m.key]}]",
                    kind=m.kind,
                    name=m.name,
                    namespace=m.namespace,
                )
            seen[m.key] = m.index
            if (m.group, m.kind, m.namespace, m.name) == (
                "",
                self.parent_kind,
                self.parent_namespace,
                self.parent_name,
            ):
                raise ApplyError(
                    f"objects[{m.index}] is the ApplySet parent itself; choose another applyset name",
                    kind=m.kind,
                    name=m.name,
                    namespace=m.namespace,
                )

    # -- listing -----------------------------------------------------------------------------

    def _list_members(self, members, state, declared_gks, declared_ns):
        resources = {}
        for m in members:
            if m.resource is not None:
                resources[(m.group, m.kind)] = m.resource
        for group, kind in sorted(state.group_kinds - set(resources)):
            try:
                res = self.discovery.resource_for_group_kind(group, kind)
            except KubeAPIError as exc:
                raise _api_error(exc, verb=f"discover {aset.group_kind_string(group, kind)}") from None
            if res is None:
                self._warn(
                    f"ApplySet kind {aset.group_kind_string(group, kind)} is no longer served by the API; "
                    "its members (if any) cannot be listed or pruned"
                )
                continue
            resources[(group, kind)] = res
        namespaces = sorted(state.namespaces | declared_ns | {self.parent_namespace})
        selector = f"{aset.PART_OF_LABEL}={self.set_id}"
        jobs = []
        for res in resources.values():
            if "list" not in res.verbs and res.verbs:
                continue
            if res.namespaced:
                jobs.extend((res, ns) for ns in namespaces)
            else:
                jobs.append((res, None))

        def list_one(job):
            res, ns = job
            try:
                doc = self.client.get(res.path(ns), labelSelector=selector)
            except KubeAPIError as exc:
                raise _api_error(exc, resource=res, verb=f"list {res.plural}") from None
            out = []
            for item in doc.get("items") or []:
                item["apiVersion"] = res.api_version
                item["kind"] = res.kind
                out.append(item)
            return out

        live = {}
        for items in self._map(list_one, jobs):
            for item in items:
                meta = item["metadata"]
                g = split_api_version(item["apiVersion"])[0]
                live[(g, item["kind"], meta.get("namespace") or "", meta["name"])] = item
        return live

    # -- applying ----------------------------------------------------------------------------

    def _apply_phase(self, todo, new_namespaces):
        work = [m for m in todo if m.verdict != d.UNCHANGED]
        for m in todo:
            if m.verdict == d.UNCHANGED:
                m.action = "unchanged"
        if work:
            self._map(lambda m: self._apply_one(m, new_namespaces), work)

    def _apply_one(self, m, new_namespaces):
        if m.deferred and self.dry_run:
            # its CRD is created by this very run: the server cannot validate it yet
            m.action = "created" if m.live is None else "configured"
            m.after = m.obj
            self._warn(f"{m.ref}: not validated by the server in check mode (its CRD is not established yet)")
            return
        if self.dry_run and m.namespace and m.namespace in new_namespaces and m.live is None:
            # its namespace is created by this run; a server dry run would fail with NotFound
            m.action = "created"
            m.after = m.obj
            return
        if m.verdict == d.UNSURE:
            status, result = self._send_apply(m, dry_run=True)
            if d.same_after_apply(result, m.live, self.field_manager):
                m.action = "unchanged"
                return
            if self.dry_run:
                m.action, m.after = "configured", result
                return
        status, result = self._send_apply(m, dry_run=self.dry_run)
        m.after = result
        if status == 201:
            m.action = "created"
        elif m.live is None:
            m.action = "configured"  # existed without the set's label: adopted
            if self.want_diff:
                m.live = self._get_live(m)
        elif self.dry_run:
            m.action = "unchanged" if d.same_after_apply(result, m.live, self.field_manager) else "configured"
        else:
            rv_before = (m.live.get("metadata") or {}).get("resourceVersion")
            rv_after = ((result or {}).get("metadata") or {}).get("resourceVersion")
            m.action = "unchanged" if rv_before and rv_before == rv_after else "configured"

    def _send_apply(self, m, dry_run):
        res = m.resource
        try:
            return self.client.apply(
                res, m.obj, self.field_manager, force=self.force, dry_run=dry_run, validation=self.validation
            )
        except KubeAPIError as exc:
            raise _api_error(exc, m.obj) from None

    def _get_live(self, m):
        """GET one declared object (None when it does not exist)."""
        try:
            return self.client.get(m.resource.path(m.namespace, m.name))
        except KubeAPIError as exc:
            if exc.not_found:
                return None
            raise _api_error(exc, m.obj, verb="read") from None

    def _after_crds(self, phase_members, members):
        """Wait for CRDs applied in this run to be established, then resolve their kinds."""
        crds = [
            m
            for m in phase_members
            if (m.group, m.kind) == (CRD_GROUP, "CustomResourceDefinition") and m.action in ("created", "configured")
        ]
        deferred = [m for m in members if m.deferred]
        if self.dry_run or not deferred:
            return
        deadline = time.monotonic() + min(120, max(10, self.wait_timeout))
        for crd in crds:
            while True:
                try:
                    live = self.client.get(crd.resource.path(None, crd.name))
                except KubeAPIError as exc:
                    raise _api_error(exc, crd.obj, verb="read") from None
                conds = {c.get("type"): c.get("status") for c in (live.get("status") or {}).get("conditions") or []}
                if conds.get("Established") == "True":
                    break
                if time.monotonic() > deadline:
                    raise WaitTimeout("CustomResourceDefinition not established in time", kind=crd.kind, name=crd.name)
                time.sleep(0.2)
        for m in deferred:
            self.discovery.forget(m.obj["apiVersion"])
        for m in deferred:
            deadline = time.monotonic() + 30
            res = None
            while res is None:
                res = self.discovery.resource(m.obj["apiVersion"], m.kind)
                if res is None:
                    if time.monotonic() > deadline:
                        raise ApplyError(
                            f"kind {m.kind} of apiVersion {m.obj['apiVersion']} is still not served "
                            "after its CustomResourceDefinition was established",
                            kind=m.kind,
                            name=m.name,
                            namespace=m.namespace,
                        )
                    self.discovery.forget(m.obj["apiVersion"])
                    time.sleep(0.2)
            m.resource = res
            m.deferred = False

    # -- validating (validate_only) ---------------------------------------------------------

    def _reject(self, m, exc):
        """Record the API server's (or the set's own) refusal of one object."""
        meta = m.obj.get("metadata") or {}
        entry = {
            "apiVersion": m.obj.get("apiVersion"),
            "kind": m.kind,
            "namespace": m.namespace or meta.get("namespace"),
            "name": m.name,
            "index": m.index,
            "message": exc.message,
        }
        for key in ("status", "reason"):
            if getattr(exc, key, None) is not None:
                entry[key] = getattr(exc, key)
        with self._lock:
            self.result.rejected.append(entry)

    def _validate_all(self, members, new_namespaces):
        """Send every object that would change as a dry-run apply; collect every refusal."""
        todo = []
        for m in members:
            if m.verdict == d.UNCHANGED:
                m.action = "unchanged"
            else:
                todo.append(m)
        if self.stand_in_namespace and any(m.namespace in new_namespaces for m in todo):
            try:
                self.client.get(NAMESPACES.path(None, self.stand_in_namespace))
            except KubeAPIError as exc:
                raise ApplyError(
                    f"stand_in_namespace {self.stand_in_namespace} cannot be read ({exc.message}): objects in the"
                    f" Namespaces this set creates ({', '.join(sorted(new_namespaces))}) are validated there",
                    status=exc.status,
                    reason=exc.reason,
                ) from None
        self._map(lambda m: self._validate_one(m, new_namespaces), todo)
        self.result.rejected.sort(key=lambda r: r["index"])
        self.result.applied = [m.summary() for m in self._members]

    def _validate_one(self, m, new_namespaces):
        obj = m.obj
        if m.deferred:
            m.action = "created" if m.live is None else "configured"
            self._warn(f"{m.ref}: not validated by the server (its CustomResourceDefinition is not established yet)")
            return
        if m.namespace and m.namespace in new_namespaces:
            if not self.stand_in_namespace:
                m.action = "created"
                self._warn(f"{m.ref}: not validated by the server (its Namespace does not exist yet)")
                return
            # the API server answers NotFound for a missing namespace before validating anything
            obj = dict(obj, metadata=dict(obj["metadata"], namespace=self.stand_in_namespace))
        try:
            status, result = self.client.apply(
                m.resource, obj, self.field_manager, force=self.force, dry_run=True, validation=self.validation
            )
        except KubeAPIError as exc:
            m.action = "rejected"
            self._reject(m, exc)
            return
        if m.live is None:
            # 200 for an object that exists outside the set (adopted), or one of the stand-in namespace's own
            m.action = "created" if status == 201 or obj is not m.obj else "configured"
        else:
            m.action = "unchanged" if d.same_after_apply(result, m.live, self.field_manager) else "configured"

    # -- pruning -----------------------------------------------------------------------------

    def _prune(self, candidates):
        """Delete candidates, phases in reverse; return the objects kept (still members)."""
        kept, work = [], []
        for obj in candidates:
            meta = obj["metadata"]
            ref = d.object_ref(obj)
            g = split_api_version(obj["apiVersion"])[0]
            if (g, obj["kind"]) == ("", "Namespace") and not self.allow_namespace_prune:
                self._warn(
                    f"{ref} is no longer declared but Namespaces are not pruned unless "
                    "allow_namespace_prune is set; it stays (and stays in the set)"
                )
                kept.append(obj)
                self.result.retained.append(self._summary(obj, "retained"))
                continue
            if meta.get("deletionTimestamp"):
                kept.append(obj)  # already terminating; it leaves the set once it is gone
                continue
            res = self.discovery.resource(obj["apiVersion"], obj["kind"])
            work.append((phase_of(g, obj["kind"], bool(meta.get("namespace"))), obj, res))
        done = []
        for phase in sorted({w[0] for w in work}, reverse=True):
            batch = sorted((w for w in work if w[0] == phase), key=lambda w: d.object_ref(w[1]))
            done.extend(x for x in self._map(self._delete_one, batch) if x is not None)
        done.sort(key=lambda o: (o["kind"], o["metadata"].get("namespace") or "", o["metadata"]["name"]))
        for obj in done:
            self.result.pruned.append(self._summary(obj, "pruned"))
            if self.want_diff:
                self.result.diffs.append(d.diff_entry(obj, None, d.object_ref(obj)))
        return kept

    def _delete_one(self, work):
        obj, res = work[1], work[2]
        meta = obj["metadata"]
        try:
            self.client.delete(res, meta["name"], meta.get("namespace"), uid=meta.get("uid"), dry_run=self.dry_run)
        except KubeAPIError as exc:
            if exc.not_found:
                return None
            raise _api_error(exc, obj, verb="prune") from None
        return obj

    @staticmethod
    def _summary(obj, action):
        meta = obj["metadata"]
        return {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "namespace": meta.get("namespace"),
            "name": meta["name"],
            "action": action,
        }

    # -- waiting -----------------------------------------------------------------------------

    def _wait(self, members):
        pending = [m for m in members if (m.group, m.kind) in WAITABLE]
        deadline = time.monotonic() + self.wait_timeout
        current = {m.key: (m.after if m.after is not None else m.live) for m in pending}
        delay = 0.25
        while True:
            not_ready = []
            for m in pending:
                ready, failure, _progress = rollout_status(current.get(m.key))
                if failure:
                    raise ApplyError(
                        f"failed while waiting: {failure}", kind=m.kind, name=m.name, namespace=m.namespace
                    )
                if not ready:
                    not_ready.append(m)
            if not not_ready:
                return
            if time.monotonic() >= deadline:
                names = ", ".join(f"{m.ref} ({rollout_status(current.get(m.key))[2]})" for m in not_ready)
                raise WaitTimeout(f"not ready after {self.wait_timeout}s: {names}")
            # until the first object still rolling out changes (a watch, as kubectl rollout status), at most 2 s
            # (the others are read again then too); a pause where the watch cannot be opened
            first = not_ready[0]
            live = current.get(first.key) or {}
            await_change(self.client, first.resource.path(first.namespace), first.name,
                         (live.get("metadata") or {}).get("resourceVersion"),
                         timeout=min(2.0, max(0.0, deadline - time.monotonic())), poll=delay)
            delay = min(delay * 2, 2.0)
            pending = not_ready

            def fetch(m):
                try:
                    return self.client.get(m.resource.path(m.namespace, m.name))
                except KubeAPIError as exc:
                    raise _api_error(exc, m.obj, verb="read") from None

            for m, obj in zip(pending, self._map(fetch, pending), strict=True):
                current[m.key] = obj

    # -- diff --------------------------------------------------------------------------------

    def _diffs(self, members):
        entries = []
        for m in sorted(members, key=lambda m: m.index):
            if m.action in ("created", "configured"):
                entries.append(d.diff_entry(m.live, m.after, m.ref))
        self.result.diffs[:0] = entries


WAITABLE = frozenset((("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("batch", "Job")))


def rollout_status(obj):
    """(ready, failure message or None, progress text) for a Deployment/StatefulSet/DaemonSet/Job."""
    if obj is None:
        return False, None, "not found"
    kind = obj.get("kind")
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    generation = meta.get("generation") or 0
    observed = st.get("observedGeneration") or 0
    if kind == "Job":
        conds = {c.get("type"): c for c in st.get("conditions") or [] if c.get("status") == "True"}
        if "Failed" in conds:
            return False, f"Job failed: {conds['Failed'].get('message') or conds['Failed'].get('reason')}", "failed"
        if "Complete" in conds:
            return True, None, "complete"
        return False, None, f"{st.get('succeeded', 0)} succeeded, {st.get('active', 0)} active"
    if observed < generation:
        return False, None, f"generation {generation} not observed yet (observed {observed})"
    if kind == "Deployment":
        replicas = spec.get("replicas", 1)
        for c in st.get("conditions") or []:
            if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
                return False, f"Deployment exceeded its progress deadline: {c.get('message')}", "stalled"
        updated = st.get("updatedReplicas", 0)
        total = st.get("replicas", 0)
        available = st.get("availableReplicas", 0)
        text = f"{updated}/{replicas} updated, {available} available, {total} total"
        return updated >= replicas and total == updated and available >= updated, None, text
    if kind == "StatefulSet":
        replicas = spec.get("replicas", 1)
        strategy = spec.get("updateStrategy") or {}
        ready = st.get("readyReplicas", 0)
        available = st.get("availableReplicas", ready)
        updated = st.get("updatedReplicas", 0)
        text = f"{updated}/{replicas} updated, {ready} ready"
        if strategy.get("type") == "OnDelete":
            return ready >= replicas, None, text
        partition = (strategy.get("rollingUpdate") or {}).get("partition") or 0
        if partition:
            return updated >= replicas - partition and ready >= replicas, None, text
        revisions_done = st.get("updateRevision") == st.get("currentRevision")
        return ready >= replicas and available >= replicas and revisions_done and updated >= replicas, None, text
    if kind == "DaemonSet":
        desired = st.get("desiredNumberScheduled", 0)
        updated = st.get("updatedNumberScheduled", 0)
        available = st.get("numberAvailable", 0)
        return updated >= desired and available >= desired, None, f"{updated}/{desired} updated, {available} available"
    return True, None, "ready"


def apply_set(client, objects, applyset, **options):
    """Apply ``objects`` as the ApplySet ``applyset``; return an ApplyResult (see ApplySetEngine)."""
    return ApplySetEngine(client, applyset, **options).run(copy.deepcopy(objects))
