# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files of one instance's directory in the GitOps repository, as text, decided without touching git.

    <environment>/<instance>/
      kustomization.yaml              the objects below, in the order the direct mode declares them
      <kind>[.<group>]-<name>.yaml    one object per file, as the direct mode applies it (Secrets sealed)
      audit-record.json               the audit record of the change, when one is given

Argo CD and Flux both read a directory with a kustomization.yaml (``kubectl apply -k`` too). The directory is
the module's: a file that the new set no longer has is removed, which is how an object leaves the cluster.
"""

from __future__ import annotations

import json
import re

from ansible_collections.governed.odoo.plugins.module_utils.apply.client import split_api_version
from ansible_collections.governed.odoo.plugins.module_utils.gitops import GitopsError, sealing

try:
    import yaml
except ImportError:  # pragma: no cover - reported by the module
    yaml = None

KUSTOMIZATION = "kustomization.yaml"
AUDIT_RECORD = "audit-record.json"

# Kinds without a namespace, known without a cluster (the direct mode asks the API server's discovery instead).
CLUSTER_SCOPED = frozenset(
    (
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("storage.k8s.io", "StorageClass"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("apiregistration.k8s.io", "APIService"),
    )
)

_UNSAFE = re.compile(r"[^a-z0-9.-]")


def namespaced(group, kind):
    return (group, kind) not in CLUSTER_SCOPED


if yaml is not None:

    class _Dumper(yaml.SafeDumper):
        """Block YAML without anchors and aliases (two equal objects stay two written objects)."""

        def ignore_aliases(self, data):
            return True

    def _str(dumper, value):
        # multi-line text (a configuration file in a ConfigMap) in literal style, as a reader expects it
        style = "|" if "\n" in value and not any(c in value for c in "\t\r") and not value.endswith(" ") else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _str)


def to_yaml(obj):
    """One object as a YAML document: keys in the order given, no line wrapping (stable diffs)."""
    if yaml is None:
        raise GitopsError("writing the GitOps repository needs the Python library PyYAML")
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=2**20)


def file_name(obj):
    """``deployment.apps-odoo-web.yaml``, ``secret-odoo-db.yaml`` (a Secret's file holds its SealedSecret)."""
    group = split_api_version(obj["apiVersion"])[0]
    kind = obj["kind"].lower()
    stem = f"{kind}.{group}" if group else kind
    return _UNSAFE.sub("_", f"{stem}-{obj['metadata']['name']}".lower()) + ".yaml"


def is_secret(obj):
    return obj.get("apiVersion") == "v1" and obj.get("kind") == "Secret"


def _previous_fingerprint(text):
    try:
        doc = yaml.safe_load(text)
        return doc["metadata"]["annotations"][sealing.FINGERPRINT_ANNOTATION]
    except (yaml.YAMLError, KeyError, TypeError):
        return None


def instance_files(objects, public_key=None, fingerprint_key=None, previous=None, audit_record=None):
    """``(files, sealed)``: the directory's files (name -> text) and, per Secret file, ``kept`` or ``sealed``.

    ``objects`` are the manifests as applied (``apply.engine.manifests_as_applied``); ``previous`` the files the
    directory holds now (name -> text). A Secret whose fingerprint matches the one of its previous file keeps
    that file's text as it is; any other Secret is sealed anew. A Secret without a sealing key is refused: no
    Secret value is ever written in clear.
    """
    previous = previous or {}
    files, sealed, resources = {}, {}, []
    for obj in objects:
        name = file_name(obj)
        if name in files or name in (KUSTOMIZATION, AUDIT_RECORD):
            ref = f"{obj['kind']} {obj['metadata'].get('namespace') or ''}/{obj['metadata']['name']}"
            raise GitopsError(f"{ref}: a second object would be written to {name}")
        if is_secret(obj):
            if public_key is None or not fingerprint_key:
                raise GitopsError(
                    f"Secret {obj['metadata'].get('namespace')}/{obj['metadata']['name']}: Secrets are written sealed"
                    " only; give the sealing certificate and the fingerprint key"
                )
            want = sealing.fingerprint(obj, public_key, fingerprint_key)
            old = previous.get(name)
            if old is not None and _previous_fingerprint(old) == want:
                files[name], sealed[name] = old, "kept"
            else:
                files[name], sealed[name] = to_yaml(sealing.sealed_secret(obj, public_key, fingerprint_key)), "sealed"
        else:
            files[name] = to_yaml(obj)
        resources.append(name)
    files[KUSTOMIZATION] = to_yaml(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
    )
    if audit_record is not None:
        files[AUDIT_RECORD] = json.dumps(audit_record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    elif AUDIT_RECORD in previous:
        # the record of the last change stays beside the objects it describes until another change brings its own
        files[AUDIT_RECORD] = previous[AUDIT_RECORD]
    return files, sealed


def changes(previous, files):
    """``{added, modified, removed}``: file names, sorted."""
    return {
        "added": sorted(set(files) - set(previous)),
        "modified": sorted(n for n in files if n in previous and previous[n] != files[n]),
        "removed": sorted(set(previous) - set(files)),
    }


def _release_name(release):
    if isinstance(release, dict):
        return str(release.get("id") or release.get("image") or "?")
    return str(release or "?")


def commit_message(rel, count, audit_record=None):
    """The default commit message: for a promotion's or a rollback's audit record (``governed.odoo.audit_record``'s
    ``record``, or its event), the release id (a rollback's: the one it goes back to, and the one it leaves), digest,
    environment, instance, deployer and approvers, why (a rollback after a failure) and which record it is;
    otherwise the directory and the number of objects."""
    default = f"{rel}: {count} objects from governed.odoo"
    record = audit_record if isinstance(audit_record, dict) else {}
    event = record.get("event") if isinstance(record.get("event"), dict) else record
    if event.get("kind") not in ("promotion", "rollback"):
        return default
    release = event.get("release")
    release = release if isinstance(release, dict) else {"id": release}
    where = f"{event.get('environment') or '?'}/{event.get('instance') or rel}"
    if event.get("kind") == "rollback":
        # the release the instance goes back to (by its id when rollback.yml chose it, else its image)
        back = event.get("to") if isinstance(event.get("to"), dict) else {}
        release = dict(back, id=back.get("id") or back.get("image") or "?")
        head = [f"roll back {where} to {release['id']}", "", f"rolled back: {_release_name(event.get('release'))}"]
    else:
        head = [f"promote {release.get('id') or '?'} to {where}", ""]
    digest = release.get("digest") or (
        release["image"].split("@", 1)[1] if "@" in str(release.get("image") or "") else None
    )
    approvers = event.get("approvers") or []
    approvers = [str(a) for a in approvers] if isinstance(approvers, list) else [str(approvers)]
    lines = [
        *head,
        f"release: {release.get('id') or '?'}",
        f"digest: {digest or '?'}",
        f"environment: {event.get('environment') or '?'}",
        f"instance: {event.get('instance') or '?'}",
        f"deployer: {event.get('deployer') or event.get('operator') or '?'}",
        f"approvers: {', '.join(approvers) if approvers else 'none (the policy asks for none)'}",
        f"objects: {count}",
    ]
    if event.get("failure"):
        lines.append(f"because: {event['failure']}")
    if record.get("hash"):
        lines.append(f"audit record: seq {record.get('seq')}, hash {record['hash']} ({AUDIT_RECORD})")
    return "\n".join(lines) + "\n"
