#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_gate
short_description: Evaluate every promotion gate of a release for a target instance, changing nothing
version_added: 0.3.0
description:
  - Evaluates the release against the target environment's promotion policy with every rule of layer
    C(release) (C(docs/rules.md) lists them with their ids and messages; C(docs/release-format.md) describes the
    records, the policy variables and the evidence) and returns each rule with pass or fail and its reasons,
    every failure at once.
  - The policy is the target's C(governed_odoo_environment) with its C(release_*) variables, read from the
    inventory (the hostvars of O(target)), never from the task.
  - Evidence is read, never taken from variables - the audit trail (verified, hashes, links and the signed heads),
    the signed statements, the freeze calendars, the registry, the image's cosign signature, the scan report
    and the change-management provider.
  - Pure evaluation - nothing is written anywhere, and check mode gives the same result.
author:
  - governed.odoo maintainers (@governed-odoo)
options:
  release:
    description:
      - The release record - the path of its file (YAML or JSON, relative paths from the playbook's directory) or
        the record as a mapping.
      - The record files beside a file (C(*.yml), C(*.yaml)) are the other known releases (a duplicate id is refused).
    type: raw
    required: true
  target:
    description: The inventory host (instance) the release would be promoted to.
    type: str
    required: true
  now:
    description: The instant of the promotion, ISO 8601 with an offset; the current time when not set.
    type: str
  approvals:
    description: Signed approval statements, each a mapping or the path of its JSON file.
    type: list
    elements: raw
    default: []
  override_approvals:
    description: Signed override statements (C(purpose=override)) for a promotion inside a deny window or freeze.
    type: list
    elements: raw
    default: []
  promotion_request:
    description: The promotion request signed by the deployer's key, a mapping or the path of its JSON file.
    type: raw
  calendars_dir:
    description: Directory of the freeze calendars, C(<name>.ics) for each name in C(release_freeze_calendars).
    type: path
  audit:
    description:
      - Where the audit trail is read, with the options of M(governed.odoo.audit_verify) (C(local_dir), C(bucket),
        C(prefix), C(public_keys) and the S3 connection options).
      - The trail is verified before it is used as evidence; the path and rehearsal gates refuse without it.
    type: dict
  cosign_path:
    description:
      - The cosign binary that verifies image signatures and vulnerability attestations.
      - C(cosign) on PATH when not set.
    type: path
  fail_on_refusal:
    description: Whether a refused release fails the task; when false the task returns RV(allowed=false) and succeeds.
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  action:
    description:
      - Indicates this has a corresponding action plugin so some parts of the options can be executed on the
        controller.
    support: full
notes:
  - Runs on the controller only (an action plugin); there is no module to run on a target.
"""

EXAMPLES = r"""
- name: Evaluate the gates of a release for civil-prod
  governed.odoo.release_gate:
    release: releases/2026.12.1.yml
    target: civil-prod
    approvals:
      - approvals/2026.12.1-alice.json
      - approvals/2026.12.1-carol.json
    promotion_request: approvals/2026.12.1-request.json
    calendars_dir: calendars
    audit:
      local_dir: /var/lib/governed-odoo/audit
      public_keys:
        - "{{ lookup('ansible.builtin.file', 'keys/audit.pub') }}"
  register: gate
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
allowed:
  description: Whether every rule passed.
  returned: always
  type: bool
rules:
  description: Every rule of layer release, with C(id), C(passed) and C(reasons) (empty when it passed).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "release.window", "passed": false,
            "reasons": ["promotion at 2026-12-05 10:00 CET refused: outside every allow window"]}]
release:
  description: The release evaluated - C(id), C(image) and C(hash) (its content hash).
  returned: when the release record could be read
  type: dict
environment:
  description: The target's environment.
  returned: when the release record could be read
  type: str
now:
  description: The instant the gates were evaluated at (UTC).
  returned: when the release record could be read
  type: str
gates:
  description: Every rule's result in the shape of an audit event's C(gates) - C(rule), C(ok), C(message).
  returned: when the release record could be read
  type: list
  elements: dict
deployer:
  description:
    - Who deploys - inside AWX the user AWX says launched the job, else the owner of the key that signed the
      promotion request; null when neither is valid.
  returned: when the release record could be read
  type: str
approvers:
  description: The people whose promotion approvals counted.
  returned: when the release record could be read
  type: list
  elements: str
override:
  description:
    - The C(override) audit event to record when valid override approvals let the promotion through a deny window,
      a freeze or outside the allow windows; null otherwise.
  returned: when the release record could be read
  type: dict
msg:
  description: Every failing rule id with its reasons, or a summary when the release is allowed.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(
            release=dict(type="raw", required=True),
            target=dict(type="str", required=True),
            now=dict(type="str"),
            approvals=dict(type="list", elements="raw", default=[]),
            override_approvals=dict(type="list", elements="raw", default=[]),
            promotion_request=dict(type="raw"),
            calendars_dir=dict(type="path"),
            audit=dict(type="dict"),
            cosign_path=dict(type="path"),
            fail_on_refusal=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    module.fail_json(msg="governed.odoo.release_gate runs on the controller (its action plugin) only")


if __name__ == "__main__":
    main()
