#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: governance_report
short_description: Write the governance report of the platform, one self-contained HTML page and its JSON
version_added: 0.3.0
description:
  - Reads the evidence and writes C(governance-report.html) and C(governance-report.json) into O(output_dir), for
    an executive, per environment - the running release and since when, recent promotions with approvers and
    windows, refused promotions and why (from the audit trail), backup freshness (from the backup store's
    manifests), the last disaster-recovery drill's RTO and RPO against their targets (from the drill reports), GitOps
    commits with their verification by C(playbooks/promote_verify.yml) (pending, verified, failed, rolled back) and
    drift per environment (from the reports O(drift_report) names; C(not checked) where none names the
    environment). Charts (inline SVG) show the age of the newest backup over time, drill
    RTO over time and promotions per month (docs/governance-report.md).
  - The audit trail is verified against O(audit_public_keys) first; a trail that fails verification is reported
    first, in red.
  - The page has no script and loads nothing (inline CSS and SVG).
  - One S3 connection (the shared S3 options) reads both the audit bucket and the backup stores.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.s3
attributes:
  check_mode:
    description: Supported; reads the evidence and builds the report, writes nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  output_dir:
    description: Directory the two files are written to; created if missing.
    type: path
    required: true
  title:
    description: Title of the page.
    type: str
    default: Odoo platform governance report
  environments:
    description: Environments shown, in this order; by default every environment the evidence names.
    type: list
    elements: str
  audit_local_dir:
    description: Directory of the local copy of the audit chain (as M(governed.odoo.audit_record) writes it).
    type: path
  audit_bucket:
    description: Bucket of the stored audit chain (object lock); read in preference to the local copy.
    type: str
  audit_prefix:
    description: Key prefix of the chain in O(audit_bucket).
    type: str
    default: ""
  audit_public_keys:
    description: Trusted Ed25519 public keys (PEM text or paths) the audit trail is verified against.
    type: list
    elements: str
  backup_stores:
    description: Backup stores to read manifests from (the backup module's C(bucket) and C(prefix)).
    type: list
    elements: dict
    suboptions:
      bucket:
        description: Bucket of the store.
        type: str
        required: true
      prefix:
        description: Key prefix of the store in the bucket.
        type: str
        default: ""
  backup_max_age:
    description:
      - Per environment, the age in seconds the newest backup may reach and still count as fresh (default 26 hours).
    type: dict
  backup_history:
    description: How many of the newest backups of each database are read (their manifests) for the chart.
    type: int
    default: 60
  drill_reports_dir:
    description: Directory of the drill reports (C(drill-*.json)) that C(playbooks/dr_drill.yml) writes.
    type: path
  drift_report:
    description:
      - A drift report (JSON) as C(playbooks/drift.yml) writes it, or the directory it writes them into
        (C(drift-*.json), its C(governed_odoo_drift_report_dir)); each instance is read from the newest report that
        names it.
      - Per environment the report shows clean, the changed fields or could not be checked, with the time of the
        check.
    type: path
  recent:
    description: How many promotions and refusals are listed per environment.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Write the governance report
  governed.odoo.governance_report:
    output_dir: /srv/reports/governance
    environments: [dev, qa, staging, prod]
    audit_bucket: governed-audit
    audit_prefix: audit/
    audit_public_keys: ["{{ lookup('ansible.builtin.file', 'keys/audit.pub') }}"]
    backup_stores:
      - {bucket: governed-odoo-prod-backups}
    backup_max_age: {prod: 93600}
    drill_reports_dir: /srv/reports/drills
    endpoint_url: https://s3.example.org
"""

RETURN = r"""
html:
  description: Path of the HTML page.
  returned: success
  type: str
json:
  description: Path of the JSON document (the same data as the page).
  returned: success
  type: str
audit_ok:
  description: Whether the audit trail passed verification (null when no trail was read).
  returned: success
  type: bool
attention:
  description: What needs attention, most severe first (C(severity), C(environment), C(text)).
  returned: success
  type: list
  elements: dict
environments:
  description: The environments reported.
  returned: success
  type: list
  elements: str
evidence_problems:
  description: Evidence that could not be read (a manifest that does not validate, a drill report that is not JSON).
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.report import task


def main():
    module = AnsibleModule(argument_spec=task.argument_spec(), supports_check_mode=True)
    result, secrets = task.run(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
