"""The audit trail on the lab's SeaweedFS S3 with object lock: written by governed.odoo.audit_record, verified by
governed.odoo.audit_verify, then tampered with the ways a locked bucket still allows (a new version over a record,
a delete marker over the newest record and head, records swapped, a record signed by a key nobody trusts) and
every one detected and named.

Buckets are created by the test (name prefix ``relaudit-``) with GOVERNANCE retention of one day, so that the
test can remove what it wrote (bypassing governance) and nothing else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _modrun import ROOT, run_module
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from ansible_collections.governed.odoo.plugins.module_utils.backup.s3client import make_client

pytestmark = pytest.mark.lab

LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", ROOT / ".lab")).resolve()


def _s3():
    path = LAB_DIR / "connection.json"
    if not path.exists():
        pytest.skip(f"the lab is not up ({path} missing): run scripts/lab up s3")
    conf = (json.loads(path.read_text()).get("s3") or {}).get("a")
    if not conf:
        pytest.skip("the lab's S3 endpoint a is not configured: run scripts/lab up s3")
    host, port = conf["endpoint"].split("//", 1)[1].rstrip("/").split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex((host, int(port))) != 0:
            pytest.skip("the lab's S3 endpoint a is not listening: run scripts/lab up s3")
    return {"endpoint_url": conf["endpoint"], "access_key": conf["access_key"], "secret_key": conf["secret_key"],
            "region": conf["region"]}


@pytest.fixture(scope="module")
def s3():
    return _s3()


@pytest.fixture(scope="module")
def client(s3):
    return make_client(s3)


@pytest.fixture(scope="module")
def bucket(client):
    name = f"relaudit-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    yield name
    with contextlib.suppress(Exception):
        kw = {"Bucket": name}
        while True:
            page = client.list_object_versions(**kw)
            for v in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
                with contextlib.suppress(Exception):
                    client.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"],
                                         BypassGovernanceRetention=True)
            if not page.get("IsTruncated"):
                break
            kw.update(KeyMarker=page.get("NextKeyMarker"), VersionIdMarker=page.get("NextVersionIdMarker"))
        client.delete_bucket(Bucket=name)


def _keypair(directory, name="audit.key"):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    path = directory / name
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return {"path": str(path), "public": chain.public_pem(key.public_key()), "key": key}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """A signing key generated for this run in a temporary directory, and its public PEM."""
    return _keypair(tmp_path_factory.mktemp("keys"))


def write_chain(s3, bucket, keys, local_dir, prefix, n=4):
    for i in range(n):
        event = {"kind": "promotion" if i % 2 == 0 else "refusal", "environment": "prod",
                 "release": {"id": f"2026.12.{i}", "digest": "sha256:" + f"{i}" * 64},
                 "gates": [{"rule": "release.window", "ok": i % 2 == 0}]}
        result = run_module("audit_record", {**s3, "bucket": bucket, "prefix": prefix, "local_dir": str(local_dir),
                                             "signing_key_path": keys["path"], "lock_mode": "GOVERNANCE",
                                             "retention_days": 1, "event": event})
        assert not result.get("failed"), result
        assert result["seq"] == i + 1 and result["changed"]
        assert keys["path"] not in json.dumps(result["record"]) and "PRIVATE" not in json.dumps(result)


def verify(s3, bucket, keys, local_dir, prefix, public=None):
    return run_module("audit_verify", {**s3, "bucket": bucket, "prefix": prefix, "local_dir": str(local_dir),
                                       "public_keys": [public or keys["public"]]})


def stored(problems):
    return {(p["seq"], p["kind"]) for p in problems if p["copy"] == "stored"}


@pytest.fixture
def trail(s3, bucket, keys, tmp_path):
    prefix = f"t{secrets.token_hex(3)}/"
    write_chain(s3, bucket, keys, tmp_path / "audit", prefix)
    return {"prefix": prefix, "local": tmp_path / "audit"}


def test_records_are_written_locked_and_verify(s3, client, bucket, keys, trail):
    result = verify(s3, bucket, keys, trail["local"], trail["prefix"])
    assert result["ok"] and not result.get("failed"), result
    assert result["stored"]["length"] == 4 and result["local"]["length"] == 4
    assert result["stored"]["last_hash"] == result["local"]["last_hash"]
    key = f"{trail['prefix']}records/000000000002.json"
    retention = client.get_object_retention(Bucket=bucket, Key=key)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    # the lock is real: deleting the version without bypassing governance is refused by the server
    version = client.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(Exception, match=r"AccessDenied|locked|retention|Forbidden|InvalidRequest"):
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert client.head_object(Bucket=bucket, Key=key)["VersionId"] == version


def test_check_mode_writes_nothing(s3, client, bucket, keys, trail):
    result = run_module("audit_record", {**s3, "bucket": bucket, "prefix": trail["prefix"],
                                         "local_dir": str(trail["local"]), "signing_key_path": keys["path"],
                                         "lock_mode": "GOVERNANCE", "retention_days": 1,
                                         "event": {"kind": "note"}}, check_mode=True)
    assert result["seq"] == 5 and not result["changed"] and result["written_to"] == []
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{trail['prefix']}records/")["Contents"]
    assert len(listed) == 4


def _record(client, bucket, prefix, seq):
    body = client.get_object(Bucket=bucket, Key=f"{prefix}records/{seq:012d}.json")["Body"].read()
    return json.loads(body)


def _put(client, bucket, key, value):
    client.put_object(Bucket=bucket, Key=key, Body=chain.canonical(value))


def test_a_record_overwritten_as_a_new_version_is_named(s3, client, bucket, keys, trail):
    record = _record(client, bucket, trail["prefix"], 2)
    record["event"]["release"]["digest"] = "sha256:" + "f" * 64
    _put(client, bucket, f"{trail['prefix']}records/000000000002.json", record)
    result = verify(s3, bucket, keys, trail["local"], trail["prefix"])
    assert result.get("failed") and not result["ok"]
    assert {(2, "overwritten"), (2, "edited")} <= stored(result["problems"]), result["problems"]
    assert "record 2" in result["msg"]
    # the local copy is untouched and still verifies on its own
    assert result["local"]["ok"]


def test_a_delete_marker_over_the_newest_record_and_head_is_named(s3, client, bucket, keys, trail):
    client.delete_object(Bucket=bucket, Key=f"{trail['prefix']}records/000000000004.json")
    client.delete_object(Bucket=bucket, Key=f"{trail['prefix']}head.json")
    result = verify(s3, bucket, keys, trail["local"], trail["prefix"])
    assert not result["ok"]
    problems = stored(result["problems"])
    # the marker itself, and the locked head versions, which still name 4 records
    assert {(4, "deleted"), (4, "truncated"), (None, "truncated")} <= problems, problems
    # and the local chain, one record longer, disagrees with the stored one
    assert any(p["copy"] == "both" for p in result["problems"])


def test_swapped_records_are_named(s3, client, bucket, keys, trail):
    two = _record(client, bucket, trail["prefix"], 2)
    three = _record(client, bucket, trail["prefix"], 3)
    _put(client, bucket, f"{trail['prefix']}records/000000000002.json", three)
    _put(client, bucket, f"{trail['prefix']}records/000000000003.json", two)
    result = verify(s3, bucket, keys, trail["local"], trail["prefix"])
    problems = stored(result["problems"])
    assert {(2, "reordered"), (3, "reordered"), (2, "overwritten"), (3, "overwritten")} <= problems, problems


def test_a_record_signed_by_an_untrusted_key_is_named(s3, client, bucket, keys, trail, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    intruder = chain.Signer(Ed25519PrivateKey.generate())
    last = _record(client, bucket, trail["prefix"], 4)
    now = dt.datetime.now(dt.UTC)
    forged = chain.make_record(last, {"kind": "promotion", "environment": "prod", "deployer": "intruder"},
                               intruder, now)
    _put(client, bucket, f"{trail['prefix']}records/000000000005.json", forged)
    _put(client, bucket, f"{trail['prefix']}head.json", chain.make_head(forged, intruder, now))
    result = verify(s3, bucket, keys, trail["local"], trail["prefix"])
    problems = stored(result["problems"])
    assert (5, "forged") in problems and (None, "forged") in problems, problems
    # appending to a chain whose copies disagree is refused
    refused = run_module("audit_record", {**s3, "bucket": bucket, "prefix": trail["prefix"],
                                          "local_dir": str(trail["local"]), "signing_key_path": keys["path"],
                                          "lock_mode": "GOVERNANCE", "retention_days": 1, "event": {"kind": "note"}})
    # appending after a stored record that does not verify is refused, naming it; nothing is copied or appended
    assert refused.get("failed") and refused["error"] == "audit_tampered", refused
    assert "stored record 5: forged" in refused["msg"] and refused["seq"] == 5
    assert len(trail["local"].joinpath("chain.jsonl").read_text().splitlines()) == 4
    assert len(client.list_objects_v2(Bucket=bucket, Prefix=f"{trail['prefix']}records/")["Contents"]) == 5


def test_an_older_head_put_back_is_named(s3, client, bucket, keys, trail):
    versions = client.list_object_versions(Bucket=bucket, Prefix=f"{trail['prefix']}head.json")["Versions"]
    oldest = min(versions, key=lambda v: v["LastModified"])
    old_head = json.loads(client.get_object(Bucket=bucket, Key=f"{trail['prefix']}head.json",
                                            VersionId=oldest["VersionId"])["Body"].read())
    assert old_head["seq"] < 4
    _put(client, bucket, f"{trail['prefix']}head.json", old_head)
    result = verify(s3, bucket, keys, trail["local"], trail["prefix"])
    assert (None, "overwritten") in stored(result["problems"]), result["problems"]
    assert "5 versions for 4 records" in result["msg"]


def test_the_store_refuses_a_second_write_of_a_record_key(client, bucket):
    """The append's compare-and-swap rests on the server: a conditional PUT (If-None-Match: *) of a key that exists
    is refused with 412, and nothing new is stored."""
    key = f"cas{secrets.token_hex(3)}/records/000000000001.json"
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    lock = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until}
    client.put_object(Bucket=bucket, Key=key, Body=b"{}", IfNoneMatch="*", **lock)
    with pytest.raises(Exception, match="PreconditionFailed"):
        client.put_object(Bucket=bucket, Key=key, Body=b"{}", IfNoneMatch="*", **lock)
    assert len(client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 1


@pytest.mark.parametrize("shared_local", [False, True], ids=["stored-only", "shared-local-dir"])
def test_two_writers_racing_keep_one_chain(s3, bucket, keys, tmp_path, shared_local):
    """Two processes append to one instance's trail at once (a promotion and a restore, say): every record of both is
    in the chain once, in one unbroken sequence, and the trail verifies."""
    prefix = f"race{secrets.token_hex(3)}/"
    local = {"local_dir": str(tmp_path / "audit")} if shared_local else {}
    results = {0: [], 1: []}

    def writer(i):
        for n in range(4):
            results[i].append(run_module("audit_record", {
                **s3, "bucket": bucket, "prefix": prefix, **local, "signing_key_path": keys["path"],
                "lock_mode": "GOVERNANCE", "retention_days": 1,
                "event": {"kind": "promotion" if i == 0 else "restore", "instance": "acme", "writer": i, "n": n}}))

    _together(writer, [0, 1], timeout=600)
    failures = [r for rs in results.values() for r in rs if r.get("failed")]
    assert not failures, failures
    assert sorted(r["seq"] for rs in results.values() for r in rs) == list(range(1, 9))
    result = run_module("audit_verify", {**s3, "bucket": bucket, "prefix": prefix, **local,
                                         "public_keys": [keys["public"]], "select": {"instance": "acme"}})
    assert result["ok"] and not result.get("failed"), result["problems"]
    assert result["stored"]["length"] == 8
    assert sorted((r["event"]["writer"], r["event"]["n"]) for r in result["records"]) == [
        (i, n) for i in (0, 1) for n in range(4)]


def _together(fn, args, timeout):
    """``fn(arg)`` for each of ``args`` at once: one thread each, released together by a barrier; waits up to
    ``timeout`` seconds for each and re-raises what one of them raised."""
    start = threading.Barrier(len(args))

    def released(arg):
        start.wait()
        return fn(arg)

    with ThreadPoolExecutor(len(args)) as pool:
        for future in [pool.submit(released, arg) for arg in args]:
            future.result(timeout=timeout)


def _append(s3, bucket, prefix, local_dir, key, trusted, event):
    """audit_record's task in this process (the module's code without its interpreter start): a controller's run."""
    from ansible_collections.governed.odoo.plugins.module_utils.audit import task

    result, _masked = task.run_record({**s3, "s3_validate_certs": True, "bucket": bucket, "prefix": prefix,
                                       "local_dir": str(local_dir), "signing_key_path": key["path"],
                                       "public_keys": trusted, "lock_mode": "GOVERNANCE", "retention_days": 1,
                                       "event": event})
    return result


def test_two_controllers_with_their_own_local_copies_append_to_one_chain(s3, client, bucket, keys, tmp_path):
    """A workstation and AWX, each with its own local copy and key, append to one instance's trail: first in turns,
    then racing (threads, started together). The store is the authority: each append syncs its local copy first,
    and a lost compare-and-swap re-syncs and retries. One chain of 20 results, which audit_verify accepts from the
    store and, after a sync, from each local copy."""
    prefix = f"multi{secrets.token_hex(3)}/"
    awx = _keypair(tmp_path, "awx.key")
    trusted = [keys["public"], awx["public"]]
    controllers = {"workstation": (tmp_path / "ws" / "audit", keys), "awx": (tmp_path / "awx" / "audit", awx)}
    results = {name: [] for name in controllers}

    def append(name, n):
        local_dir, key = controllers[name]
        results[name].append(_append(s3, bucket, prefix, local_dir, key, trusted,
                                     {"kind": "note", "instance": "acme", "controller": name, "n": n}))

    for n in range(2):  # in turns: each one's local copy is one record behind the store when it appends
        for name in controllers:
            append(name, n)

    def racer(name):
        for n in range(2, 10):
            append(name, n)

    _together(racer, list(controllers), timeout=300)
    failures = [r for rs in results.values() for r in rs if r.get("failed")]
    assert not failures, failures
    assert sorted(r["seq"] for rs in results.values() for r in rs) == list(range(1, 21))
    # the stored chain: 20 records, each key written once, one head version per record
    listed = client.list_object_versions(Bucket=bucket, Prefix=prefix)
    assert len([v for v in listed["Versions"] if "/records/" in v["Key"]]) == 20
    assert len([v for v in listed["Versions"] if v["Key"].endswith("head.json")]) == 20
    assert not listed.get("DeleteMarkers")
    stored_only = run_module("audit_verify", {**s3, "bucket": bucket, "prefix": prefix, "public_keys": trusted,
                                              "select": {"instance": "acme"}})
    assert stored_only["ok"] and stored_only["stored"]["length"] == 20, stored_only["problems"]
    assert sorted((r["event"]["controller"], r["event"]["n"]) for r in stored_only["records"]) == sorted(
        (name, n) for name in controllers for n in range(10))
    for name, (local_dir, _key) in controllers.items():
        mine = max(r["seq"] for r in results[name])
        if mine < 20:  # behind: check mode verifies the copy as the sync would make it, and writes nothing
            before = (local_dir / "chain.jsonl").read_bytes()
            planned = run_module("audit_verify", {**s3, "bucket": bucket, "prefix": prefix, "local_dir": str(local_dir),
                                                  "public_keys": trusted, "sync": True}, check_mode=True)
            assert planned["ok"] and not planned["changed"], planned["problems"]
            assert planned["synced"]["fetched"] == list(range(mine + 1, 21))
            assert (local_dir / "chain.jsonl").read_bytes() == before
        synced = run_module("audit_verify", {**s3, "bucket": bucket, "prefix": prefix, "local_dir": str(local_dir),
                                             "public_keys": trusted, "sync": True})
        assert synced["ok"] and not synced.get("failed"), (name, synced["problems"])
        assert synced["local"]["length"] == synced["stored"]["length"] == 20
        assert synced["local"]["last_hash"] == stored_only["stored"]["last_hash"]
        assert synced["synced"] == {"fetched": list(range(mine + 1, 21)), "local_only": []}
        assert synced["changed"] == (mine < 20)


def test_a_diverged_local_copy_is_refused_and_a_local_only_record_is_pushed(s3, client, bucket, keys, tmp_path):
    """A local copy that holds another record under a stored number is refused, naming the record, and nothing is
    written; a record that reached only the local copy (its store write failed) is pushed when it still links."""
    prefix = f"div{secrets.token_hex(3)}/"
    trusted = [keys["public"]]
    main = tmp_path / "main"
    for n in range(3):
        assert not _append(s3, bucket, prefix, main, keys, trusted, {"kind": "note", "n": n}).get("failed")
    signer = chain.Signer(keys["key"])
    now = dt.datetime.now(dt.UTC)
    lines = (main / "chain.jsonl").read_text().splitlines()

    def copy_with(name, kept, extra):
        directory = tmp_path / name
        directory.mkdir()
        last = json.loads(lines[kept - 1])
        records = [json.loads(line) for line in lines[:kept]]
        for n in range(extra):
            last = chain.make_record(last, {"kind": "note", "n": f"{name}-{n}"}, signer, now)
            records.append(last)
        (directory / "chain.jsonl").write_text("".join(chain.canonical(r).decode() + "\n" for r in records))
        (directory / "head.json").write_text(chain.canonical(chain.make_head(last, signer, now)).decode())
        return directory

    def stored_versions():
        return len(client.list_object_versions(Bucket=bucket, Prefix=prefix)["Versions"])

    diverged = copy_with("diverged", 2, 2)  # records 1-2 as stored, then a record 3 the store does not have
    before = (stored_versions(), (diverged / "chain.jsonl").read_bytes())
    refused = run_module("audit_record", {**s3, "bucket": bucket, "prefix": prefix, "local_dir": str(diverged),
                                          "signing_key_path": keys["path"], "public_keys": trusted,
                                          "lock_mode": "GOVERNANCE", "retention_days": 1, "event": {"kind": "note"}})
    assert refused.get("failed") and refused["error"] == "audit_diverged" and refused["seq"] == 3, refused
    assert "diverged from the stored chain at record 3 " in refused["msg"]
    assert (stored_versions(), (diverged / "chain.jsonl").read_bytes()) == before
    synced = run_module("audit_verify", {**s3, "bucket": bucket, "prefix": prefix, "local_dir": str(diverged),
                                         "public_keys": trusted, "sync": True})
    assert synced.get("failed") and "at record 3 " in synced["msg"] and stored_versions() == before[0]

    ahead = copy_with("ahead", 3, 1)  # all three stored records, and a record 4 only this copy has
    pushed = _append(s3, bucket, prefix, ahead, keys, trusted, {"kind": "note", "n": "after"})
    assert not pushed.get("failed") and pushed["seq"] == 5, pushed
    local4 = json.loads((ahead / "chain.jsonl").read_text().splitlines()[3])
    assert _record(client, bucket, prefix, 4)["hash"] == local4["hash"]
    result = run_module("audit_verify", {**s3, "bucket": bucket, "prefix": prefix, "local_dir": str(ahead),
                                         "public_keys": trusted})
    assert result["ok"] and result["stored"]["length"] == 5, result["problems"]
    # the first copy, now two records behind, catches up on its next append
    assert _append(s3, bucket, prefix, main, keys, trusted, {"kind": "note", "n": 3})["seq"] == 6
