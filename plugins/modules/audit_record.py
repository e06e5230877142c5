#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_record
short_description: Append a signed record to the hash-chained audit trail of releases
version_added: 0.1.0
description:
  - Appends one record to the audit trail (docs/audit.md) - who approved, who deployed, what changed, when,
    every gate result, refusals too - as the next link of a hash chain, signed with an Ed25519 key.
  - The record is written to the local chain (O(local_dir)) and to object storage (O(bucket)) under object
    lock retention (O(lock_mode), O(retention_days)), followed by the signed head that anchors the chain's
    length. Either or both may be set.
  - The stored chain is the authority. With both O(local_dir) and O(bucket), the local copy is first brought up
    to the stored chain (records another controller appended are fetched, each verified - hash, link, signature
    by the signing key or one of O(public_keys) - and copied), the record is appended at the store's head with a
    conditional PUT, and a writer that loses the race syncs again and retries (bounded, with jittered pauses);
    the local copy is written last. A record that only the local copy has (its store write failed) is pushed
    first when it still links to the stored chain.
  - Refuses, naming the record, and writes nothing when the local copy has diverged from the stored chain, when
    a stored record beyond the local copy does not verify, or when the stored chain is shorter than its head
    says; M(governed.odoo.audit_verify) names every problem.
  - With a local connection the action plugin runs this in the controller's process.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.s3
attributes:
  check_mode:
    description: Supported; returns the record that would be written and writes nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  event:
    description:
      - What happened, as plain data. C(kind) is one of C(promotion), C(refusal), C(rollback), C(approval),
        C(override), C(restore), C(verification), C(note).
      - Usually also C(environment), C(instance), C(release) (C(id), C(digest), C(hash)), C(deployer),
        C(approvers), C(changes) and C(gates) (every rule with its result).
    type: dict
    required: true
  signing_key_path:
    description:
      - Path of the Ed25519 private key (unencrypted PKCS#8 PEM) that signs the record and the head.
      - The key is read from this file only; it never appears in the result.
    type: path
    required: true
  public_keys:
    description:
      - Ed25519 public keys (PEM, or the base64 of the 32 raw bytes) trusted for records this run did not sign,
        for example the other controllers' keys. The public half of O(signing_key_path) is always trusted.
      - Records fetched from the store into the local copy, and records pushed from it, must be signed by one of
        them.
    type: list
    elements: str
    default: []
  local_dir:
    description: Directory of the local chain (C(chain.jsonl) and C(head.json)); created if missing.
    type: path
  bucket:
    description: Bucket with object lock enabled that keeps the stored chain.
    type: str
  prefix:
    description: Key prefix of the chain inside O(bucket), for example C(audit/prod/).
    type: str
    default: ""
  lock_mode:
    description: Object lock mode of every object written; C(COMPLIANCE) cannot be shortened by anyone.
    type: str
    choices: [GOVERNANCE, COMPLIANCE]
    default: COMPLIANCE
  retention_days:
    description: Days each written object stays locked.
    type: int
    default: 2557
"""

EXAMPLES = r"""
- name: Record a refused promotion
  governed.odoo.audit_record:
    local_dir: /var/lib/governed-odoo/audit/prod
    bucket: governed-audit
    prefix: prod/
    signing_key_path: /etc/governed-odoo/audit.key
    lock_mode: COMPLIANCE
    retention_days: 2557
    event:
      kind: refusal
      environment: prod
      release: {id: "2026.12.1", digest: "sha256:..."}
      gates:
        - {rule: release.window, ok: false, message: "promotion at ... refused: freeze finance: Month-end close"}
"""

RETURN = r"""
record:
  description: The record written (or that would be written in check mode).
  returned: success
  type: dict
seq:
  description: Sequence number of the record.
  returned: success
  type: int
hash:
  description: SHA-256 of the record, which the next record links to.
  returned: success
  type: str
key_id:
  description: Id of the key that signed (C(ed25519:) and 16 hex digits of the public key's SHA-256).
  returned: success
  type: str
written_to:
  description: Where the record was written (empty in check mode).
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.audit import task


def main():
    module = AnsibleModule(argument_spec=task.record_argument_spec(), supports_check_mode=True)
    result, secrets = task.run_record(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
