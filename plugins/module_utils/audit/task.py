# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The task logic of governed.odoo.audit_record and governed.odoo.audit_verify, shared by the modules and
their in-process action plugins. Typed errors become a failure here, in one place."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from ansible_collections.governed.odoo.plugins.module_utils.audit.errors import AuditError
from ansible_collections.governed.odoo.plugins.module_utils.audit.store import (
    LOCK_MODES,
    AuditTrail,
    LocalChain,
    RemoteChain,
)
from ansible_collections.governed.odoo.plugins.module_utils.backup import s3client
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import BackupStore
from ansible_collections.governed.odoo.plugins.module_utils.common_args import s3_argument_spec
from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError


def _location_spec():
    spec = dict(
        local_dir=dict(type="path"),
        bucket=dict(type="str"),
        prefix=dict(type="str", default=""),
    )
    spec.update(s3_argument_spec())
    return spec


def record_argument_spec():
    spec = _location_spec()
    spec.update(
        event=dict(type="dict", required=True),
        signing_key_path=dict(type="path", required=True),
        public_keys=dict(type="list", elements="str", default=[], no_log=False),
        lock_mode=dict(type="str", choices=list(LOCK_MODES), default="COMPLIANCE"),
        retention_days=dict(type="int", default=2557),
    )
    return spec


def verify_argument_spec():
    spec = _location_spec()
    spec.update(public_keys=dict(type="list", elements="str", required=True))
    return spec


def verify_module_argument_spec():
    """audit_verify's options: where the trail is, the keys, ``select`` (the records to return) and ``sync`` (bring
    the local copy up to the stored chain first)."""
    spec = verify_argument_spec()
    spec.update(select=dict(type="dict"), sync=dict(type="bool", default=False))
    return spec


def select_records(records, select):
    """The records whose event has every key of ``select`` with its value."""
    out = []
    for record in records:
        event = record.get("event") if isinstance(record.get("event"), dict) else {}
        if all(k in event and event[k] == v for k, v in select.items()):
            out.append(record)
    return out


def _trail(params, lock_mode="COMPLIANCE", retention_days=1):
    if not params.get("local_dir") and not params.get("bucket"):
        raise AuditError("set local_dir, bucket, or both: where the audit chain is kept")
    local = LocalChain(params["local_dir"]) if params.get("local_dir") else None
    remote = None
    if params.get("bucket"):
        if not s3client.HAS_BOTO3:
            raise AuditError("the python libraries boto3 and botocore are required for the audit store")
        try:
            client = s3client.make_client({k: params.get(k) for k in s3client.S3_OPTION_KEYS}, max_pool_connections=4)
            store = BackupStore(client, params["bucket"], root=params.get("prefix") or "")
        except BackupError as exc:
            raise AuditError(f"audit store: {exc.msg}", **exc.details) from None
        remote = RemoteChain(store, lock_mode=lock_mode, retention_days=retention_days)
    return AuditTrail(local=local, remote=remote)


def open_trail(params):
    """The trail at the location options of ``params`` (audit_verify's), for readers such as the release gate."""
    return _trail(params)


def _signer(path):
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AuditError(f"cannot read the signing key {path}: {exc.strerror}") from None
    return chain.Signer(chain.load_private_key(data))


def run_record(params, check_mode=False, now=None):
    """(result, values to mask): append ``event`` to the chain (check mode: the record it would write)."""
    try:
        signer = _signer(params["signing_key_path"])
        trail = _trail(params, params["lock_mode"], params["retention_days"])
        when = now or _dt.datetime.now(_dt.timezone.utc)
        record = trail.append(params["event"], signer, when, check_mode=check_mode,
                              public_keys=params.get("public_keys") or [])
    except GovernedError as exc:
        return {"failed": True, "changed": False, "msg": exc.msg, **exc.as_result()}, set()
    where = []
    if params.get("local_dir"):
        where.append(str(Path(params["local_dir"]) / "chain.jsonl"))
    if params.get("bucket"):
        where.append(f"s3://{params['bucket']}/{trail.remote.store.full('records/')}")
    return {"changed": not check_mode, "record": record, "seq": record["seq"], "hash": record["hash"],
            "key_id": signer.key_id, "written_to": [] if check_mode else where}, set()


def run_verify(params, check_mode=False):
    """(result, values to mask): verify every copy of the chain; fail naming each problem.

    With ``sync`` (and both a local copy and a bucket), the local copy is first brought up to the stored chain
    (records verified before they are copied; a diverged or unverifiable stored chain fails naming the record); in
    check mode nothing is written and the local copy is verified as it would be.
    """
    select = params.get("select")
    synced = None
    try:
        trail = _trail(params)
        done = None
        if params.get("sync") and trail.local is not None and trail.remote is not None:
            done = trail.sync(chain.keyring(params["public_keys"]), check_mode=check_mode)
            synced = {"fetched": [r["seq"] for r in done.fetched], "local_only": [r["seq"] for r in done.pushed]}
        # in check mode the fetched records are verified with the local copy as it would be, without writing them
        result = trail.verify(params["public_keys"], keep_records=select is not None,
                              synced=done if check_mode else None)
    except GovernedError as exc:
        return {"failed": True, "changed": False, "msg": exc.msg, **exc.as_result()}, set()
    records = result.pop("records", None)
    out = {"changed": bool(synced and synced["fetched"]) and not check_mode, **result}
    if synced is not None:
        out["synced"] = synced
    if select is not None and result["ok"]:
        out["records"] = select_records(records, select)
    if not result["ok"]:
        shown = "; ".join(f"{p['copy']} record {p['seq']}: {p['kind']}: {p['reason']}" if p["seq"] is not None
                          else f"{p['copy']}: {p['kind']}: {p['reason']}" for p in result["problems"][:10])
        more = len(result["problems"]) - 10
        out.update(failed=True, msg=f"the audit trail has been tampered with: {shown}"
                   + (f" (and {more} more)" if more > 0 else ""))
    return out, set()
