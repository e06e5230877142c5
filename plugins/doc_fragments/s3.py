# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options for connecting to an S3-compatible object store, shared by the collection's modules.

The matching argument spec is plugins/module_utils/common_args.py:s3_argument_spec().
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  endpoint_url:
    description:
      - URL of the S3 API, for example V(https://s3.example.org:8333) for a self-hosted object store.
      - If not set, boto3's default applies (E(AWS_ENDPOINT_URL_S3), E(AWS_ENDPOINT_URL), then AWS).
    type: str
  access_key:
    description:
      - Access key ID.
      - If not set, boto3's credential chain applies (E(AWS_ACCESS_KEY_ID), shared credentials file,
        instance role).
    type: str
  secret_key:
    description:
      - Secret access key belonging to O(access_key).
      - If not set, boto3's credential chain applies (E(AWS_SECRET_ACCESS_KEY), shared credentials
        file, instance role).
    type: str
  region:
    description:
      - Region to sign requests for.
      - If not set, boto3's default applies (E(AWS_REGION), E(AWS_DEFAULT_REGION), shared config file).
    type: str
  s3_validate_certs:
    description:
      - Whether to verify the TLS certificate of O(endpoint_url).
      - Named apart from the Kubernetes fragment's C(validate_certs) so that a module can take both
        sets of options.
    type: bool
    default: true
requirements:
  - boto3 >= 1.34
  - botocore >= 1.34
"""
