# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the backup modules, and their translation into store targets and keys.

store_argument_spec() <-> extends_documentation_fragment: governed.odoo.backup_store
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto
from ansible_collections.governed.odoo.plugins.module_utils.backup.engine import StoreTarget
from ansible_collections.governed.odoo.plugins.module_utils.backup.s3client import S3_OPTION_KEYS

try:
    from ansible.module_utils.basic import env_fallback
except ImportError:  # pragma: no cover - outside Ansible
    env_fallback = None


def store_argument_spec():
    return dict(
        bucket=dict(type="str", required=True),
        prefix=dict(type="str", default=""),
        threads=dict(type="int", default=8),
    )


def encryption_key_spec():
    return dict(type="str", no_log=True, fallback=(env_fallback, [crypto.KEY_ENV]))


def copy_to_spec():
    return dict(
        type="dict",
        options=dict(
            endpoint_url=dict(type="str"),
            access_key=dict(type="str", no_log=False),
            secret_key=dict(type="str", no_log=True),
            region=dict(type="str"),
            s3_validate_certs=dict(type="bool", default=True),
            bucket=dict(type="str", required=True),
            prefix=dict(type="str", default=""),
        ),
    )


def s3_options(params):
    return {k: params.get(k) for k in S3_OPTION_KEYS if params.get(k) is not None}


def store_target(params, label="primary"):
    return StoreTarget(s3_options(params), params["bucket"], params.get("prefix") or "", label=label)


def copy_target(params):
    cp = params.get("copy_to")
    if not cp:
        return None
    return StoreTarget(s3_options(cp), cp["bucket"], cp.get("prefix") or "", label="copy")


def pg_options(params, db=None):
    out = {k: params.get(k) for k in ("login_host", "login_port", "login_user", "login_password")}
    out["db"] = db if db is not None else params.get("db")
    return out


def parse_key(params):
    return crypto.parse_key(params.get("encryption_key"))
