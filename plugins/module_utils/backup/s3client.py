# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""boto3 clients for the backup store, and translation of botocore errors into typed errors.

The options are those of the collection's shared S3 argument spec (endpoint_url, access_key,
secret_key, region, s3_validate_certs); unset options fall back to boto3's own chain. A custom
endpoint (SeaweedFS, MinIO, Ceph) gets path-style addressing. Retries use botocore's "standard"
mode; timeouts are short enough that an endpoint that went away fails the run in well under a
minute instead of hanging it.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import (
    ObjectLocked,
    StoreError,
    StoreUnavailable,
)

try:
    import boto3
    import botocore.exceptions as bexc
    from botocore.config import Config

    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules
    boto3 = None
    bexc = None
    Config = None
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = exc

S3_OPTION_KEYS = ("endpoint_url", "access_key", "secret_key", "region", "s3_validate_certs")


def make_client(params, max_pool_connections=32, connect_timeout=5, read_timeout=60, max_attempts=4):
    """A boto3 S3 client from the shared S3 options (a dict; missing keys mean boto3 defaults)."""
    if not HAS_BOTO3:
        raise StoreError(f"boto3 is required: {BOTO3_IMPORT_ERROR}")
    params = params or {}
    endpoint = params.get("endpoint_url") or None
    cfg = Config(
        # Every PUT carries x-amz-checksum-sha256, which the server verifies and which the request
        # signature covers; signing the payload as well would hash every byte a second time.
        s3={"addressing_style": "path" if endpoint else "auto", "payload_signing_enabled": False},
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )
    kwargs = {"config": cfg}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if params.get("region"):
        kwargs["region_name"] = params["region"]
    if params.get("access_key"):
        kwargs["aws_access_key_id"] = params["access_key"]
    if params.get("secret_key"):
        kwargs["aws_secret_access_key"] = params["secret_key"]
    if params.get("s3_validate_certs") is False:
        kwargs["verify"] = False
    # a session per client: boto3's default session is not thread-safe to create clients from
    return boto3.session.Session().client("s3", **kwargs)


def error_code(exc):
    if bexc is not None and isinstance(exc, bexc.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return exc.response.get("Error", {}).get("Code") or str(status)
    return None


def is_not_found(exc):
    return error_code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchVersion")


def translate(exc, op, endpoint=None, bucket=None, key=None):
    """A typed error for a botocore exception; the message names the endpoint, bucket and key."""
    where = f"{endpoint or 's3'}/{bucket or ''}" + (f"/{key}" if key else "")
    details = {"operation": op, "endpoint": endpoint, "bucket": bucket}
    if key:
        details["key"] = key
    code = error_code(exc)
    if code is not None:
        message = exc.response.get("Error", {}).get("Message") or code
        details["code"] = code
        if code == "AccessDenied" and op in ("DeleteObject", "DeleteObjects", "PutObjectRetention"):
            return ObjectLocked(f"{op} refused by the object store for {where}: {message} (object lock retention)",
                                **details)
        return StoreError(f"{op} failed for {where}: {code}: {message}", **details)
    if bexc is not None and isinstance(exc, (bexc.EndpointConnectionError, bexc.ConnectionClosedError,
                                             bexc.ReadTimeoutError, bexc.ConnectTimeoutError,
                                             bexc.ConnectionError)):
        return StoreUnavailable(f"object store unreachable during {op} on {where}: {exc}", **details)
    return StoreError(f"{op} failed for {where}: {type(exc).__name__}: {exc}", **details)
