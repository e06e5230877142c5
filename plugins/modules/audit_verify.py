#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_verify
short_description: Verify the hash-chained, signed audit trail and name every tampered record
version_added: 0.1.0
description:
  - Verifies the local chain (O(local_dir)), the stored chain (O(bucket)), or both, against the trusted
    public keys (docs/audit.md).
  - Names each problem with its sequence number and kind - C(edited) (content does not match its hash),
    C(forged) (bad signature, or a key that is not trusted), C(deleted) (a gap, or a record hidden by a
    delete marker), C(overwritten) (a new version over a stored record), C(reordered), C(truncated) (the
    head says the chain is longer) - and fails when there is any.
  - Writes nothing, except with O(sync). With a local connection the action plugin runs this in the controller's
    process.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.s3
attributes:
  check_mode:
    description: Supported; verification only reads, and O(sync) verifies what it would fetch without writing it.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  public_keys:
    description: Trusted Ed25519 public keys, each PEM or the base64 of its 32 raw bytes.
    type: list
    elements: str
    required: true
  local_dir:
    description: Directory of the local chain (C(chain.jsonl) and C(head.json)).
    type: path
  bucket:
    description: Bucket that keeps the stored chain.
    type: str
  prefix:
    description: Key prefix of the chain inside O(bucket).
    type: str
    default: ""
  select:
    description:
      - Return as RV(records) the records of the trail whose event has every key of this mapping with its value
        (for example the records of one instance, with key C(instance)); an empty mapping returns every record.
      - They are read from the local chain when O(local_dir) is set, else from the stored chain, so that a
        controller without a local copy reads the trail from object storage. Only a trail that verifies returns
        records.
    type: dict
  sync:
    description:
      - Before verifying, bring the local copy (O(local_dir)) up to the stored chain (O(bucket)), the authority;
        the stored records beyond the local copy's end are fetched, each verified against O(public_keys), and
        appended to it with the stored head. With only one of O(local_dir) and O(bucket) there is nothing to
        sync.
      - Fails naming the record, and writes nothing, when the local copy has diverged from the stored chain or a
        fetched record does not verify. Records only the local copy has are reported in RV(synced), not pushed
        (M(governed.odoo.audit_record) pushes them).
      - In check mode nothing is written; the local copy is verified as it would be after the sync.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Verify the production audit trail, local and stored
  governed.odoo.audit_verify:
    local_dir: /var/lib/governed-odoo/audit/prod
    bucket: governed-audit
    prefix: prod/
    public_keys:
      - "{{ lookup('ansible.builtin.file', 'keys/audit-prod.pub') }}"

- name: Bring this controller's copy up to the stored chain, then verify both
  governed.odoo.audit_verify:
    local_dir: /var/lib/governed-odoo/audit/prod
    bucket: governed-audit
    prefix: prod/
    public_keys: "{{ audit_public_keys }}"
    sync: true

- name: Read the verified records of one instance from object storage (no local copy)
  governed.odoo.audit_verify:
    bucket: governed-audit
    prefix: prod/
    public_keys: "{{ audit_public_keys }}"
    select: {instance: civil-prod}
  register: civil_prod_trail
"""

RETURN = r"""
ok:
  description: Whether no problem was found.
  returned: always
  type: bool
problems:
  description: Every problem, each with C(seq), C(kind), C(reason) and C(copy) (C(local), C(stored) or C(both)).
  returned: always
  type: list
  elements: dict
local:
  description: The verdict of the local chain (C(ok), C(length), C(last_hash), C(problems)).
  returned: when O(local_dir) is set
  type: dict
stored:
  description: The verdict of the stored chain.
  returned: when O(bucket) is set
  type: dict
synced:
  description: With O(sync), the sequence numbers of the records C(fetched) into the local copy and of the records
    C(local_only) (in the local copy, not in the store).
  returned: when O(sync) is set and both O(local_dir) and O(bucket) are
  type: dict
records:
  description: The records O(select) chose, in the chain's order, each as written (C(seq), C(time), C(event)...).
  returned: when O(select) is set and the trail verifies
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.audit import task


def main():
    module = AnsibleModule(argument_spec=task.verify_module_argument_spec(), supports_check_mode=True)
    result, secrets = task.run_verify(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
