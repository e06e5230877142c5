"""Release record files: parsing, the content hash, validation through the rules, the frozen Release."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ansible_collections.governed.odoo.plugins.module_utils.release import policy as pol
from ansible_collections.governed.odoo.plugins.module_utils.release import record as rec
from ansible_collections.governed.odoo.plugins.module_utils.release.errors import ReleaseError
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import Refused
from rules.cases_release import RECORD

YAML = """\
# release 2026.12.1: payroll fixes
id: "2026.12.1"
format: 1
image: registry.lab/odoo@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
config_revision: 4f1c2e9
addons:
  - {name: construction_site, version: "17.0.1.2.0"}
  - {name: payroll_de, version: "17.0.3.0"}
migration:
  install: [construction_site]
  update: [payroll_de]
evidence:
  scan_report:
    uri: releases/2026.12.1/trivy.json
    sha256: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
  signatures:
    - {type: cosign, uri: "registry.lab/odoo:sha256-aaaa.sig"}
"""


def test_yaml_and_json_of_the_same_record_have_the_same_hash(tmp_path):
    (tmp_path / "a.yml").write_text(YAML)
    (tmp_path / "b.json").write_text(json.dumps(RECORD, indent=4))
    assert rec.content_hash(rec.load(tmp_path / "a.yml")) == rec.content_hash(rec.load(tmp_path / "b.json"))
    assert rec.content_hash(RECORD).startswith("sha256:")


def test_a_valid_record_freezes_into_a_read_only_release(tmp_path):
    (tmp_path / "r.yml").write_text(YAML)
    release = rec.freeze(rec.load(tmp_path / "r.yml"))
    assert release.digest == "sha256:" + "a" * 64 and release.migrates
    assert release.install == ("construction_site",) and release.update == ("payroll_de",)
    with pytest.raises(AttributeError):
        release.image = "registry.lab/odoo:latest"


def test_a_tag_and_every_other_problem_are_refused_at_once():
    bad = dict(RECORD, image="registry.lab/odoo:17", config_revision="")
    with pytest.raises(Refused) as caught:
        rec.validate(bad)
    assert {f.rule_id for f in caught.value.findings} == {"release.record_image_digest", "release.record_schema"}


def test_a_duplicate_id_and_a_changed_record_are_refused(tmp_path):
    (tmp_path / "a.yml").write_text(YAML)
    (tmp_path / "b.yml").write_text(YAML)
    known = rec.known_from_files(sorted(tmp_path.glob("*.yml")), exclude=tmp_path / "a.yml")
    with pytest.raises(Refused, match="duplicate id, also used by"):
        rec.validate(rec.load(tmp_path / "a.yml"), known, source=str(tmp_path / "a.yml"))
    audit = [{"seq": 12, "event": {"kind": "promotion",
                                   "release": {"id": "2026.12.1", "hash": rec.content_hash(RECORD)}}}]
    assert rec.validate(RECORD, rec.known_from_audit(audit)) == rec.content_hash(RECORD)
    with pytest.raises(Refused, match=r"changed: .* known from audit record 12"):
        rec.validate(dict(RECORD, config_revision="5e0aa01"), rec.known_from_audit(audit))


def test_unreadable_files_are_errors_not_findings(tmp_path):
    (tmp_path / "list.yml").write_text("- a\n- b\n")
    (tmp_path / "date.yml").write_text("id: r\nreleased: 2026-12-01\n")
    with pytest.raises(ReleaseError, match="one mapping"):
        rec.load(tmp_path / "list.yml")
    with pytest.raises(ReleaseError, match="not plain JSON"):
        rec.load(tmp_path / "date.yml")
    with pytest.raises(ReleaseError, match="cannot read"):
        rec.load(tmp_path / "missing.yml")


def test_default_policies_are_safe_and_prod_is_strict():
    stages = {env: pol.effective(env) for env in (*pol.STAGES, "training")}
    assert [stages[e]["promote_from"] for e in pol.STAGES] == [None, "dev", "qa", "staging", "uat"]
    prod = stages["prod"]
    assert prod["approvals"]["required"] == 2 and len(prod["approvals"]["groups"]) == 2
    assert prod["change_record_provider"] != "none" and prod["allow_windows"]
    assert prod["scan_thresholds"]["critical"] == 0 and prod["scan_thresholds"]["high"] == 0
    assert prod["audit_lock_mode"] == "COMPLIANCE" and prod["rehearsal_max_age_days"] == 7
    assert all(p["scan_thresholds"]["critical"] == 0 for p in stages.values())
    assert stages["training"]["promotes"] is False
    assert pol.effective("training", {"release_promote_from": "uat"})["promote_from"] is None
    # an environment the defaults do not know gets prod's
    assert pol.effective("hotfix")["approvals"] == prod["approvals"]


def test_inventory_variables_override_the_defaults():
    policy = pol.effective("prod", {"release_scan_thresholds": {"medium": 5}, "release_timezone": "Europe/Berlin",
                                    "release_approvals": None, "ansible_host": "x"})
    assert policy["scan_thresholds"] == {"critical": 0, "high": 0, "medium": 5, "low": None, "unknown": None}
    assert policy["timezone"] == "Europe/Berlin" and policy["approvals"]["required"] == 2
    with pytest.raises(ReleaseError, match="release_windows is not a release policy variable"):
        pol.effective("prod", {"release_windows": []})
