#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitops_write
short_description: Commit an instance's Kubernetes objects to a GitOps repository instead of applying them
version_added: 0.3.0
description:
  - Writes the objects that M(governed.odoo.k8s_apply_set) would apply for one instance into the directory
    C(<environment>/<instance>/) of a git working copy, one file per object with a C(kustomization.yaml), and
    commits that directory alone, for Argo CD or Flux to reconcile (docs/gitops.md).
  - The objects are those the direct mode applies, cleaned and labelled the same way (namespace, ApplySet
    membership label). Secrets are never written in clear, each is written as a SealedSecret in the
    sealed-secrets controller's own format (RSA-OAEP session key and AES-GCM, strict scope), sealed with the
    environment's certificate. A Secret that has not changed keeps its previous sealed text, so a rerun with
    nothing new commits nothing.
  - Nothing is committed when the directory at HEAD already holds exactly these files. With O(remote), the branch
    is pushed there after the commit (every run, so that a push that failed once is made by the next run); without
    it, pushing is left to the caller.
  - Runs where the repository is, usually the controller (a local connection).
author:
  - governed.odoo maintainers (@governed-odoo)
attributes:
  check_mode:
    description: Supported; reports the files that would change and commits nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
options:
  repository:
    description: Top directory of the git working copy (a clone of the repository Argo CD or Flux reads).
    type: path
    required: true
  environment:
    description: Environment of the instance, the first directory level (a DNS label).
    type: str
    required: true
  instance:
    description: Instance name, the second directory level (a DNS label).
    type: str
    required: true
  namespace:
    description: Namespace of the instance, given to namespaced objects that name none (as the direct mode does).
    type: str
    required: true
  applyset:
    description:
      - Name of the ApplySet the direct mode applies the objects as; its id is the membership label every object
        carries, as in the direct mode.
    type: str
    required: true
  objects:
    description: The objects (Kubernetes manifests). One of O(objects) or O(objects_json) is required.
    type: list
    elements: dict
  objects_json:
    description: JSON arrays of objects, as the collection's roles keep them, appended to O(objects).
    type: list
    elements: str
  sealing_certificate:
    description:
      - PEM text of the sealed-secrets controller's certificate for the environment (C(kubeseal --fetch-cert)),
        or of its RSA public key. Required when the objects contain a Secret.
    type: str
  fingerprint_key:
    description:
      - Key (at least 32 characters) of the HMAC that fingerprints each Secret, so that an unchanged Secret keeps
        its sealed text. Required when the objects contain a Secret. Keep it with the inventory's other secrets.
    type: str
  audit_record:
    description:
      - Audit record of the change (for example the C(record) returned by M(governed.odoo.audit_record)), written
        as C(audit-record.json) beside the objects. When not given, the record already there stays.
    type: dict
  commit_message:
    description:
      - Commit message. By default, when O(audit_record) is a promotion's, it names the release id, its digest, the
        environment, the instance, the deployer, the approvers and the record (sequence and hash); otherwise the
        directory and the number of objects.
    type: str
  author:
    description: Author and committer of the commit, C(Name <email>).
    type: str
    default: governed.odoo <governed-odoo@localhost>
  remote:
    description:
      - A remote of the working copy (its name, or a URL) to push the current branch to, under the same name, after
        the commit, as a fast-forward (never forced; a remote that moved ahead is refused and nothing is undone
        locally). Pushed on every run that is not in check mode, also when nothing was committed, so that the
        controller's repository catches up after a failed push. Give credentials through git's own configuration
        (a credential helper, an SSH key), never in the URL.
    type: str
requirements:
  - git
  - cryptography (when the objects contain a Secret)
  - PyYAML
"""

EXAMPLES = r"""
- name: Commit the instance's objects to the GitOps repository
  governed.odoo.gitops_write:
    repository: /srv/gitops/odoo-platform
    environment: prod
    instance: civil-prod
    namespace: odoo-civil-prod
    applyset: governed-odoo-civil-prod
    objects_json: "{{ [foundation_objects, odoo_objects] }}"
    sealing_certificate: "{{ lookup('ansible.builtin.file', 'certs/prod-sealed-secrets.pem') }}"
    fingerprint_key: "{{ vault_gitops_fingerprint_key }}"
    audit_record: "{{ promotion_audit.record }}"
"""

RETURN = r"""
path:
  description: Directory of the instance inside the repository.
  returned: success
  type: str
  sample: prod/civil-prod
commit:
  description: The commit made, or null when nothing changed (and in check mode).
  returned: success
  type: str
head:
  description: The commit HEAD names after the run.
  returned: success
  type: str
pushed:
  description: With O(remote), where the branch was pushed (C(remote), C(branch), C(head)); null otherwise.
  returned: success
  type: dict
files:
  description: File names of the directory that were (or would be) added, modified and removed.
  returned: success
  type: dict
  contains:
    added:
      description: New files.
      type: list
      elements: str
    modified:
      description: Files whose text changed.
      type: list
      elements: str
    removed:
      description: Files removed (their objects left the set).
      type: list
      elements: str
objects:
  description: Number of objects written.
  returned: success
  type: int
sealed:
  description: Per Secret file, C(kept) (unchanged, previous sealed text kept) or C(sealed) (sealed anew).
  returned: success
  type: dict
sealing_key:
  description: SHA-256 of the sealing key's SubjectPublicKeyInfo, or null without a certificate.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.gitops import task


def main():
    module = AnsibleModule(argument_spec=task.argument_spec(), supports_check_mode=True)
    result, secrets = task.run(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
