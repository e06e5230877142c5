# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release records: one immutable file per release, reviewed in git (docs/release-format.md).

:func:`load` reads a record file (YAML or JSON); :func:`content_hash` is the SHA-256 of its canonical JSON, the
identity of its content; :func:`validate` runs every ``release.record_*`` rule and raises
:class:`~rules.engine.Refused` with all findings; :func:`freeze` turns a valid record into a read-only
:class:`Release`. What a valid record is lives in the rules (rules/release.py), so that docs/rules.md lists it.

The ids already known (other record files of the repository, releases named by the audit trail) are evidence
handed in as ``known_releases``: ``[{"id", "hash", "source"}]``; :func:`known_from_files` and
:func:`known_from_audit` build that list.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ansible_collections.governed.odoo.plugins.module_utils.release.errors import ReleaseError

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False

FORMAT = 1
TOP_KEYS = ("format", "id", "image", "addons", "config_revision", "migration", "evidence", "notes")
REQUIRED_KEYS = ("format", "id", "image", "addons", "config_revision", "migration", "evidence")
MIGRATION_KEYS = ("install", "update")
EVIDENCE_KEYS = ("scan_report", "signatures")


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_hash(record):
    """``sha256:`` and the SHA-256 of the record's canonical JSON (key order and layout do not matter)."""
    return "sha256:" + hashlib.sha256(canonical(record)).hexdigest()


def parse(text, source="<text>"):
    """A record from YAML or JSON text (YAML is a superset); anything but a mapping is refused."""
    if not HAS_YAML:
        raise ReleaseError("PyYAML is required to read release records")
    try:
        # libyaml's safe loader when PyYAML has it (the same documents, several times faster), else the Python one
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ReleaseError(f"{source} is not valid YAML or JSON: {exc}", source=source) from None
    if not isinstance(data, dict):
        raise ReleaseError(f"{source} must hold one mapping (a release record)", source=source)
    # dates and other YAML-only types would make the content hash depend on the parser: plain JSON only
    try:
        return json.loads(json.dumps(data))
    except (TypeError, ValueError):
        raise ReleaseError(f"{source} holds values that are not plain JSON (quote dates and times)",
                           source=source) from None


def load(path):
    path = Path(path)
    try:
        return parse(path.read_text(encoding="utf-8"), source=str(path))
    except OSError as exc:
        raise ReleaseError(f"cannot read release record {path}: {exc.strerror}", source=str(path)) from None


def known_from_files(paths, exclude=None):
    """``known_releases`` entries of record files (those that parse; ``exclude`` is the record under test)."""
    out = []
    for path in paths:
        if exclude is not None and Path(path).resolve() == Path(exclude).resolve():
            continue
        try:
            record = load(path)
        except ReleaseError:
            continue
        out.append({"id": record.get("id"), "hash": content_hash(record), "source": str(path)})
    return out


def known_from_audit(records):
    """``known_releases`` entries of audit records whose event names a release with its content hash."""
    out = []
    for rec in records:
        release = ((rec or {}).get("event") or {}).get("release") or {}
        if release.get("id") and release.get("hash"):
            out.append({"id": release["id"], "hash": release["hash"], "source": f"audit record {rec.get('seq')}"})
    return out


def validate(record, known_releases=(), source=None):
    """Raise Refused with every finding of the record rules, or return the record's content hash."""
    from ansible_collections.governed.odoo.plugins.module_utils.rules import engine

    rules = [r for r in engine.rules_for(layer="release") if r.id.startswith("release.record_")]
    engine.enforce(rules, {"release": record, "known_releases": list(known_releases), "release_source": source})
    return content_hash(record)


@dataclass(frozen=True)
class Addon:
    name: str
    version: str
    source: str | None = None


@dataclass(frozen=True)
class Release:
    """A validated release, read-only."""

    id: str
    image: str
    digest: str
    addons: tuple
    config_revision: str
    install: tuple
    update: tuple
    evidence: tuple
    hash: str

    @property
    def migrates(self):
        """Whether the release installs or updates modules (its migration needs a rehearsal)."""
        return bool(self.install or self.update)


def freeze(record, known_releases=(), source=None):
    """Validate ``record`` and return it as a :class:`Release`."""
    digest_hash = validate(record, known_releases, source)
    migration = record.get("migration") or {}
    return Release(
        id=record["id"],
        image=record["image"],
        digest=record["image"].split("@", 1)[1],
        addons=tuple(Addon(a["name"], str(a["version"]), a.get("source")) for a in record["addons"]),
        config_revision=str(record["config_revision"]),
        install=tuple(migration.get("install") or ()),
        update=tuple(migration.get("update") or ()),
        evidence=tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in record["evidence"].items())),
        hash=digest_hash,
    )
