#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: s3_bucket
short_description: Ensure an S3 bucket with versioning, object lock, lifecycle rules and tags
version_added: 0.1.0
description:
  - Creates or removes a bucket on any S3-compatible object store (SeaweedFS, MinIO, Ceph RGW, AWS) and
    keeps its versioning, object lock default retention, lifecycle rules and tags as declared.
  - Uses only the bucket calls it needs (HeadBucket, Get/Put of versioning, object lock, lifecycle and
    tagging, CreateBucket, DeleteBucket), so it works against stores that do not implement the rest of
    the S3 API.
  - Reads before it writes and writes only what differs. In check mode RV(actions) lists exactly the
    calls that would be made.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.s3
attributes:
  check_mode:
    description: Supported; RV(actions) lists the calls that would be made.
    support: full
  diff_mode:
    description: Not supported; RV(actions) says what changes.
    support: none
options:
  name:
    description: Name of the bucket.
    type: str
    required: true
  state:
    description:
      - V(present) creates the bucket if needed and applies the settings given.
      - V(absent) deletes it. A bucket that still holds objects is only deleted with O(force=true), and
        never while object lock is enabled and objects remain.
    type: str
    choices: [present, absent]
    default: present
  versioning:
    description:
      - Whether versioning is enabled. V(false) suspends it on a bucket where it was enabled.
      - Not managed when not set (object lock enables it at creation).
    type: bool
  object_lock:
    description:
      - Object lock. It can only be turned on when the bucket is created, and never turned off.
      - Not managed when not set.
    type: dict
    suboptions:
      enabled:
        description: Whether object lock is enabled.
        type: bool
        default: true
      mode:
        description: Mode of the default retention applied to new objects; none when not set.
        type: str
        choices: [GOVERNANCE, COMPLIANCE]
      days:
        description: Default retention in days (with O(object_lock.mode); exclusive with O(object_lock.years)).
        type: int
      years:
        description: Default retention in years (with O(object_lock.mode); exclusive with O(object_lock.days)).
        type: int
  lifecycle_rules:
    description:
      - The complete list of lifecycle rules, each in S3's own shape (C(ID), C(Status), C(Filter),
        C(Expiration), C(NoncurrentVersionExpiration), C(AbortIncompleteMultipartUpload)...).
      - Every rule needs a unique C(ID). An empty list removes all rules; not managed when not set.
    type: list
    elements: dict
  tags:
    description:
      - The complete set of bucket tags. An empty mapping removes all tags; not managed when not set.
    type: dict
  force:
    description:
      - With O(state=absent), delete every object version and delete marker before deleting the bucket.
      - Has no effect on a bucket with object lock enabled that still holds objects; that is always refused.
    type: bool
    default: false
  path_style:
    description: Address buckets in the URL path (V(true)) rather than as a host name prefix.
    type: bool
    default: true
notes:
  - Options not set are left as they are on the bucket, so that another tool may manage them.
"""

EXAMPLES = r"""
- name: Backup bucket with object lock, versioning and expiry of old versions
  governed.odoo.s3_bucket:
    endpoint_url: "{{ s3_endpoint }}"
    access_key: "{{ s3_access_key }}"
    secret_key: "{{ s3_secret_key }}"
    name: odoo-backups-prod
    object_lock:
      mode: GOVERNANCE
      days: 30
    versioning: true
    lifecycle_rules:
      - ID: expire-noncurrent
        Status: Enabled
        Filter:
          Prefix: ""
        NoncurrentVersionExpiration:
          NoncurrentDays: 90
    tags:
      platform: odoo
      environment: prod

- name: Remove a scratch bucket and everything in it
  governed.odoo.s3_bucket:
    endpoint_url: "{{ s3_endpoint }}"
    name: odoo-scratch
    state: absent
    force: true
"""

RETURN = r"""
bucket:
  description: The bucket's settings after the run (in check mode, as they would be); only the managed ones.
  returned: always
  type: dict
  sample:
    name: odoo-backups-prod
    exists: true
    versioning: Enabled
    object_lock: {"enabled": true, "mode": "GOVERNANCE", "days": 30, "years": null}
    lifecycle_rules: [{"ID": "expire-noncurrent", "Status": "Enabled", "Filter": {"Prefix": ""},
                       "NoncurrentVersionExpiration": {"NoncurrentDays": 90}}]
    tags: {"platform": "odoo", "environment": "prod"}
actions:
  description:
    - The S3 calls made (in check mode, that would be made), in order, each with its S3 operation name and
      parameters. C(DeleteObjects) calls carry the number of objects instead of the list.
  returned: always
  type: list
  elements: dict
  sample:
    - {"operation": "CreateBucket", "params": {"Bucket": "odoo-backups-prod", "ObjectLockEnabledForBucket": true}}
    - {"operation": "PutObjectLockConfiguration", "params": {"Bucket": "odoo-backups-prod", "ObjectLockConfiguration":
        {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}}}}
error:
  description: On failure, what failed (C(operation), C(bucket), C(key), C(code), C(status), C(message)).
  returned: failure
  type: dict
  sample: {"operation": "DeleteBucket", "bucket": "odoo-backups-prod", "code": "BucketNotEmpty", "message": "..."}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils import bucket_task


def main():
    module = AnsibleModule(argument_spec=bucket_task.argument_spec(), supports_check_mode=True)
    result, secrets = bucket_task.run(module.params, check_mode=module.check_mode)
    module.no_log_values.update(secrets)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
