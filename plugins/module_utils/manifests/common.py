# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the builders of the layers' objects share: the labels every object carries, the S3 port, the short hashes
that roll pods when their configuration changes, and the conversions the roles' inputs get (Jinja's ``int``,
Ansible's ``bool``), so that a value means the same in every layer.

The builders are plain Python over plain values (a mapping of variable names to templated values, see
``manifests.build``): the objects are data, serialized by whoever sends them, so no user value is ever written into
YAML or INI text unescaped.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlsplit

from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError

PART_OF = "governed-odoo"
MANAGED_BY = "governed.odoo"


class Refused(GovernedError):
    """A value a builder will not write (the rules refuse it first; this refuses it again rather than write it)."""

    kind = "refused"


def instance_labels(v, **extra):
    """The labels of every object of an instance, then ``extra`` (label name -> value, in order)."""
    labels = {
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/instance": v["governed_odoo_instance"],
        "governed.odoo/tenant": v["governed_odoo_tenant"],
        "governed.odoo/environment": v["governed_odoo_environment"],
    }
    labels.update(extra)
    return labels


def labelled(labels, **extra):
    """``labels`` with ``extra`` on top (a new dict: Ansible's ``combine``)."""
    out = dict(labels)
    out.update(extra)
    return out


def combine(*dicts):
    """Ansible's ``combine`` (not recursive): the later dicts' keys over the earlier ones'."""
    out = {}
    for d in dicts:
        out.update(d or {})
    return out


def to_int(value, default=0):
    """Jinja's ``int`` filter: ``value`` as an integer, through a float for "1.5", or ``default``."""
    try:
        if isinstance(value, str):
            return int(value, 10)
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return default


def to_bool(value):
    """Ansible's ``bool`` filter: yes/no, on/off, true/false, 1/0 (any case) and booleans."""
    if value is None:
        return False
    return boolean(value, strict=False)


def to_json(value):
    """Ansible's ``to_json``: JSON text with the default separators."""
    return json.dumps(value)


def short_hash(text):
    """The first 16 hex digits of the SHA-256 of ``text``: an annotation that changes when ``text`` does."""
    return hashlib.sha256(str(text).encode("utf-8")).hexdigest()[:16]


def s3_url(s3):
    """Where pods reach an S3 API: ``cluster_endpoint_url`` when the cluster reaches it elsewhere than the
    controller does, else ``endpoint_url``."""
    return s3.get("cluster_endpoint_url") or s3["endpoint_url"]


def s3_port(s3, url=None):
    """The TCP port of an S3 endpoint (``port``, else the URL's, else 443 for https and 80 for http): egress
    policies allow it."""
    url = s3_url(s3) if url is None else url
    return to_int(s3.get("port") or urlsplit(url).port or (443 if url.startswith("https") else 80))


def text(value):
    """What ``{{ value }}`` writes into text: nothing for None, else ``str``."""
    return "" if value is None else str(value)


def join(value, separator=","):
    """Jinja's ``join``: the text of each item between ``separator``."""
    return separator.join(str(item) for item in value)


def unique(items):
    """Ansible's ``unique`` (Jinja's: strings compared ignoring case): the first of each, in order."""
    out, seen = [], set()
    try:
        for item in items:
            key = item.lower() if isinstance(item, str) else item
            if key not in seen:
                seen.add(key)
                out.append(item)
        return out
    except TypeError:
        # unhashable items: by equality
        out = []
        for item in items:
            if item not in out:
                out.append(item)
        return out


def metadata(name, ns, labels, annotations=None):
    """An object's ``metadata``: its name, namespace, a copy of ``labels``, and ``annotations`` when given."""
    out = {"name": name, "namespace": ns, "labels": dict(labels)}
    if annotations is not None:
        out["annotations"] = annotations
    return out


def nice_json(value, indent=4):
    """Ansible's ``to_nice_json``: sorted keys, ``indent`` spaces."""
    return json.dumps(value, indent=indent, sort_keys=True, separators=(",", ": "))


def volume_claim_template(labels, size, storage_class=""):
    """A StatefulSet's ``data`` volume claim: ReadWriteOnce, ``size``, the class when one is named."""
    spec = {"accessModes": ["ReadWriteOnce"]}
    if storage_class:
        spec["storageClassName"] = storage_class
    spec["resources"] = {"requests": {"storage": size}}
    return {"metadata": {"name": "data", "labels": labels}, "spec": spec}


def pod_security(uid):
    """The security context of the platform's pods (Odoo, PostgreSQL, Redis), running as ``uid`` (user, group and
    filesystem group)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security():
    """The security context of the platform's containers: no privilege escalation, read-only root, no capability."""
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
