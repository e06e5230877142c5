# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the collection's modules.

Each function returns a fresh dict that a module may extend or change freely, and matches one
documentation fragment (the unit tests check that the two agree):

    kubernetes_argument_spec()  <->  extends_documentation_fragment: governed.odoo.kubernetes
    postgres_argument_spec()    <->  extends_documentation_fragment: governed.odoo.postgres
    s3_argument_spec()          <->  extends_documentation_fragment: governed.odoo.s3

The three never share an option name, so one module may combine them:

    argument_spec = dict(name=dict(type="str", required=True))
    argument_spec.update(postgres_argument_spec())
    argument_spec.update(s3_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)

Options left unset are None and mean "the client library's own default" (libpq, boto3, the
Kubernetes client), so callers pass on only the options that are set.
"""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback


def kubernetes_argument_spec():
    """Options for reaching the Kubernetes API (doc fragment governed.odoo.kubernetes)."""
    return dict(
        kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
        context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
        host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
        api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
        validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    )


def postgres_argument_spec():
    """Options for reaching PostgreSQL (doc fragment governed.odoo.postgres)."""
    return dict(
        login_host=dict(type="str"),
        login_port=dict(type="int"),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        db=dict(type="str"),
    )


def s3_argument_spec():
    """Options for reaching an S3-compatible object store (doc fragment governed.odoo.s3)."""
    return dict(
        endpoint_url=dict(type="str"),
        # An access key ID identifies, it does not authenticate; no_log=False says so explicitly.
        access_key=dict(type="str", no_log=False),
        secret_key=dict(type="str", no_log=True),
        region=dict(type="str"),
        s3_validate_certs=dict(type="bool", default=True),
    )


def filestore_s3_spec():
    """Option ``filestore_s3``: attachments in a bucket, ``<prefix><db>/<fname>`` (``per_database``) or
    ``<prefix><fname>``; the same for the backup (read) and the restore (write)."""
    return dict(
        type="dict",
        options=dict(
            bucket=dict(type="str", required=True),
            prefix=dict(type="str", default=""),
            per_database=dict(type="bool", default=True),
            **s3_argument_spec(),
        ),
    )
