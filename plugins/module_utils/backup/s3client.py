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

import contextlib

from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import (
    ObjectLocked,
    StoreError,
    StoreUnavailable,
)

try:
    import boto3
    import botocore.exceptions as bexc
    import botocore.handlers
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
        # Every PUT carries x-amz-checksum-crc32, which the server verifies and which the request
        # signature covers; signing the payload as well would SHA-256 every byte a second time.
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
    client = boto3.session.Session().client("s3", **kwargs)
    # no "Expect: 100-continue" round trip before every upload body
    with contextlib.suppress(Exception):
        client.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
    # what FastS3 needs to send the same requests (kept on the client, never logged)
    client._governed_options = {"endpoint_url": endpoint, "access_key": params.get("access_key"),
                                "secret_key": params.get("secret_key"),
                                "verify": params.get("s3_validate_certs") is not False}
    return client


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


# ------------------------------------------------------------------------------ the fast path

FASTPATH_ENV = "GOVERNED_ODOO_S3_FASTPATH"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_RETRYABLE_STATUS = (500, 502, 503, 504)


class FastS3:
    """Single-object PUT, GET and HEAD without botocore's per-request machinery.

    A backup makes one request per attachment file: tens of thousands of small PUTs (and a restore
    as many GETs). botocore spends about a millisecond of CPU on each (events, validation,
    serialization, parsing), which on a small machine costs more than the transfer itself. This
    class sends the same requests - SigV4-signed, path-style, x-amz-checksum-crc32 on every PUT
    (verified by the server and covered by the signature), object lock and metadata headers - over
    one keep-alive connection per thread, with retries on connection errors and 5xx.

    Used only for clients built by :func:`make_client` with an explicit endpoint and static keys;
    everything else (listing, multipart, retention, deletion) stays with boto3. Set
    ``GOVERNED_ODOO_S3_FASTPATH=0`` to use boto3 for everything.
    """

    def __init__(self, endpoint, access_key, secret_key, region, token=None, verify=True, timeout=60, attempts=4):
        import ssl
        import threading
        from urllib.parse import urlsplit

        parts = urlsplit(endpoint)
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region or "us-east-1"
        self.token = token
        self.timeout = timeout
        self.attempts = attempts
        self._local = threading.local()
        self._keys = {}
        self._ssl = None
        if self.scheme == "https":
            self._ssl = ssl.create_default_context()
            if verify is False:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE

    @classmethod
    def from_client(cls, client):
        import os

        if os.environ.get(FASTPATH_ENV, "1") in ("0", "false", "no"):
            return None
        opts = getattr(client, "_governed_options", None)
        if not opts or not opts.get("endpoint_url") or not opts.get("access_key") or not opts.get("secret_key"):
            return None
        if not opts["endpoint_url"].startswith(("http://", "https://")):
            return None
        return cls(opts["endpoint_url"], opts["access_key"], opts["secret_key"], client.meta.region_name,
                   verify=opts.get("verify", True))

    # -------------------------------------------------------------- signing
    def _signing_key(self, day):
        import hashlib
        import hmac

        key = self._keys.get(day)
        if key is None:
            k = hmac.new(("AWS4" + self.secret_key).encode(), day.encode(), hashlib.sha256).digest()
            for part in (self.region, "s3", "aws4_request"):
                k = hmac.new(k, part.encode(), hashlib.sha256).digest()
            self._keys = {day: k}
            key = k
        return key

    def _path(self, bucket, key):
        from urllib.parse import quote

        return f"{self.base_path}/{bucket}/{quote(key, safe='/~-_.')}"

    @staticmethod
    def _query_string(query):
        from urllib.parse import quote

        return "&".join(f"{quote(str(k), safe='-_.~')}={quote(str(v), safe='-_.~')}"
                        for k, v in sorted((query or {}).items()))

    def _sign(self, method, path, headers, query_string=""):
        import datetime
        import hashlib
        import hmac

        now = datetime.datetime.now(datetime.timezone.utc)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        headers["host"] = self.netloc
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = UNSIGNED_PAYLOAD
        if self.token:
            headers["x-amz-security-token"] = self.token
        signed = sorted(k for k in headers
                        if k == "host" or k.startswith("x-amz-") or k in ("content-type", "content-md5"))
        canonical = "\n".join([
            method, path, query_string,
            "".join(f"{k}:{' '.join(str(headers[k]).split())}\n" for k in signed),
            ";".join(signed), UNSIGNED_PAYLOAD,
        ])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        sig = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                                    f"SignedHeaders={';'.join(signed)}, Signature={sig}")
        return headers

    # -------------------------------------------------------------- transport
    def _conn(self, fresh=False):
        import http.client

        conn = getattr(self._local, "conn", None)
        if conn is not None and not fresh:
            return conn
        if conn is not None:
            conn.close()
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ssl)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self._local.conn = conn
        return conn

    def request(self, method, bucket, key, body=None, headers=None, op="request", query=None):
        """(status, headers, body bytes); raises a typed error after retries."""
        import http.client
        import time

        path = self._path(bucket, key)
        qs = self._query_string(query)
        target = f"{path}?{qs}" if qs else path
        last = None
        for attempt in range(self.attempts):
            hdrs = self._sign(method, path, {k.lower(): v for k, v in (headers or {}).items()}, qs)
            if body is not None:
                hdrs["content-length"] = str(len(body))
            try:
                conn = self._conn(fresh=attempt > 0)
                conn.request(method, target, body=body, headers=hdrs)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                last = exc
                self._conn(fresh=True)
                time.sleep(min(2.0, 0.2 * 2 ** attempt))
                continue
            if resp.status in _RETRYABLE_STATUS and attempt + 1 < self.attempts:
                last = None
                time.sleep(min(2.0, 0.2 * 2 ** attempt))
                continue
            if resp.will_close:
                self._conn(fresh=True)
            return resp.status, resp.headers, data
        where = f"{self.scheme}://{self.netloc}/{bucket}/{key}"
        raise StoreUnavailable(f"object store unreachable during {op} on {where}: {last}", operation=op,
                               bucket=bucket, key=key, endpoint=f"{self.scheme}://{self.netloc}")

    @staticmethod
    def error_of(status, data):
        import re

        text = data.decode("utf-8", "replace") if data else ""
        code = re.search(r"<Code>([^<]*)</Code>", text)
        msg = re.search(r"<Message>([^<]*)</Message>", text)
        return (code.group(1) if code else str(status)), (msg.group(1) if msg else text[:200] or str(status))

    def _fail(self, op, bucket, key, status, data):
        code, message = self.error_of(status, data)
        where = f"{self.scheme}://{self.netloc}/{bucket}/{key}"
        return StoreError(f"{op} failed for {where}: {code}: {message}", operation=op, bucket=bucket, key=key,
                          code=code, endpoint=f"{self.scheme}://{self.netloc}")

    def put(self, bucket, key, data, headers):
        status, rhdrs, body = self.request("PUT", bucket, key, body=data, headers=headers, op="PutObject")
        if status >= 300:
            raise self._fail("PutObject", bucket, key, status, body)
        return rhdrs

    def get(self, bucket, key, version_id=None):
        """The object's bytes; with ``version_id``, that version of it (never a newer one)."""
        query = {"versionId": version_id} if version_id else None
        status, _h, body = self.request("GET", bucket, key, op="GetObject", query=query)
        if status >= 300:
            raise self._fail("GetObject", bucket, key, status, body)
        return body

    def list_versions(self, bucket, prefix, on_page=None):
        """(key, version_id, size or None for a delete marker, is_latest, last_modified) of every version
        under ``prefix``, in the server's order: by key, and for one key newest first.

        ListObjectVersions parsed with the C XML parser, in document order (versions and delete markers
        interleaved as the server lists them): as cheap as listing the current objects.
        """
        import xml.etree.ElementTree as ET

        ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        key_marker = version_marker = None
        while True:
            query = {"versions": "", "prefix": prefix, "max-keys": "1000"}
            if key_marker:
                query["key-marker"] = key_marker
            if version_marker:
                query["version-id-marker"] = version_marker
            status, _h, body = self.request("GET", bucket, "", query=query, op="ListObjectVersions")
            if status >= 300:
                raise self._fail("ListObjectVersions", bucket, prefix, status, body)
            if on_page is not None:
                on_page()
            root = ET.fromstring(body)  # noqa: S314 - a response of the configured endpoint
            if not root.tag.startswith(ns):
                ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            for item in root:
                tag = item.tag[len(ns):] if item.tag.startswith(ns) else item.tag
                if tag not in ("Version", "DeleteMarker"):
                    continue
                size = int(item.findtext(f"{ns}Size") or 0) if tag == "Version" else None
                yield (item.findtext(f"{ns}Key"), item.findtext(f"{ns}VersionId"), size,
                       (item.findtext(f"{ns}IsLatest") or "").lower() == "true", item.findtext(f"{ns}LastModified"))
            if (root.findtext(f"{ns}IsTruncated") or "").lower() != "true":
                return
            key_marker = root.findtext(f"{ns}NextKeyMarker")
            version_marker = root.findtext(f"{ns}NextVersionIdMarker")
            if not key_marker:
                return

    def list_objects(self, bucket, prefix, on_page=None):
        """(key, size, last_modified ISO string) of current objects under ``prefix``, in key order.

        ListObjectsV2 parsed with the C XML parser, without building a datetime per object:
        listing a filestore of 100,000 objects costs 100 requests and well under a second of CPU.
        """
        import xml.etree.ElementTree as ET

        ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        token = None
        while True:
            query = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
            if token:
                query["continuation-token"] = token
            status, _h, body = self.request("GET", bucket, "", query=query, op="ListObjectsV2")
            if status >= 300:
                raise self._fail("ListObjectsV2", bucket, prefix, status, body)
            if on_page is not None:
                on_page()
            root = ET.fromstring(body)  # noqa: S314 - see above
            if not root.tag.startswith(ns):
                ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            for item in root.iter(f"{ns}Contents"):
                yield (item.findtext(f"{ns}Key"), int(item.findtext(f"{ns}Size") or 0),
                       item.findtext(f"{ns}LastModified"))
            if (root.findtext(f"{ns}IsTruncated") or "").lower() != "true":
                return
            token = root.findtext(f"{ns}NextContinuationToken")
            if not token:
                return
