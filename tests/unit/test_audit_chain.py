"""The audit chain (pure): every kind of tampering is detected and named by sequence number and reason."""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from _audit_stored import Stored
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from ansible_collections.governed.odoo.plugins.module_utils.audit.errors import AuditError
from ansible_collections.governed.odoo.plugins.module_utils.audit.store import AuditTrail, LocalChain
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def signer():
    return chain.Signer(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def ring(signer):
    return chain.keyring([chain.public_pem(signer.public_key)])


def build(signer, n=6):
    records, prev = [], None
    for i in range(n):
        event = {"kind": "promotion", "release": {"id": f"r{i}", "digest": "sha256:" + f"{i:x}" * 64},
                 "gates": [{"rule": "release.window", "ok": True}]}
        prev = chain.make_record(prev, event, signer, T0 + dt.timedelta(minutes=i))
        records.append(prev)
    return records, chain.make_head(prev, signer, T0 + dt.timedelta(minutes=n))


def kinds(verdict):
    return {(p.seq, p.kind) for p in verdict.problems}


def test_an_untouched_chain_verifies(signer, ring):
    records, head = build(signer)
    verdict = chain.verify(records, ring, head=head)
    assert verdict.ok, verdict.problems
    assert verdict.length == 6 and verdict.last_hash == records[-1]["hash"]
    assert records[0]["prev"] == chain.GENESIS and records[1]["prev"] == records[0]["hash"]


def test_an_edited_record_is_named(signer, ring):
    records, head = build(signer)
    records[2]["event"]["release"]["digest"] = "sha256:" + "f" * 64
    verdict = chain.verify(records, ring, head=head)
    assert kinds(verdict) == {(3, chain.EDITED)}
    assert "does not match its hash" in verdict.problems[0].reason


def test_an_edit_with_its_hash_recomputed_fails_the_signature_and_the_next_link(signer, ring):
    records, head = build(signer)
    records[2]["event"]["kind"] = "rollback"
    records[2]["hash"] = chain.record_hash(records[2])
    assert kinds(chain.verify(records, ring, head=head)) == {(3, chain.FORGED), (4, chain.REORDERED)}


def test_a_record_signed_by_an_unknown_key_is_forged(signer, ring):
    records, _head = build(signer)
    intruder = chain.Signer(Ed25519PrivateKey.generate())
    forged = chain.make_record(records[3], {"kind": "promotion", "by": "intruder"}, intruder, T0)
    records[4:] = [forged]
    verdict = chain.verify(records, ring)
    assert kinds(verdict) == {(5, chain.FORGED)}
    assert "not a trusted key" in verdict.problems[0].reason


def test_a_bad_signature_is_forged(signer, ring):
    records, head = build(signer)
    other = chain.Signer(Ed25519PrivateKey.generate())
    records[1]["sig"] = other.sign(chain.RECORD_CONTEXT + records[1]["hash"].encode())
    verdict = chain.verify(records, ring, head=head)
    assert kinds(verdict) == {(2, chain.FORGED)}
    assert "does not verify" in verdict.problems[0].reason


def test_a_deleted_record_is_named(signer, ring):
    records, head = build(signer)
    del records[3]
    verdict = chain.verify(records, ring, head=head)
    assert kinds(verdict) == {(4, chain.DELETED)}
    assert "record(s) 4 missing before record 5" in verdict.problems[0].reason


def test_deleted_records_in_a_row_are_named_as_a_span(signer, ring):
    records, head = build(signer)
    del records[1:4]
    assert "record(s) 2 to 4 missing" in chain.verify(records, ring, head=head).problems[0].reason


def test_reordered_records_are_named(signer, ring):
    records, head = build(signer)
    records[2], records[3] = records[3], records[2]
    verdict = chain.verify(records, ring, head=head)
    assert kinds(verdict) == {(4, chain.REORDERED), (3, chain.REORDERED)}
    assert not any(p.kind == chain.DELETED for p in verdict.problems)


def test_a_truncated_tail_is_detected_by_the_head(signer, ring):
    records, head = build(signer)
    verdict = chain.verify(records[:4], ring, head=head)
    assert kinds(verdict) == {(5, chain.TRUNCATED)}
    assert "names 6 records, the chain ends at 4" in verdict.problems[0].reason
    # without an anchor the shorter chain is valid in itself: that is what the head is for
    assert chain.verify(records[:4], ring).ok


def test_a_forged_head_does_not_anchor(signer, ring):
    records, head = build(signer)
    bad = dict(head, seq=4, hash=records[3]["hash"])
    assert kinds(chain.verify(records[:4], ring, head=bad)) == {(None, chain.FORGED)}


def test_a_replaced_last_record_differs_from_the_head(signer, ring):
    records, head = build(signer)
    records[-1] = chain.make_record(records[-2], {"kind": "note", "text": "replaced"}, signer, T0)
    assert kinds(chain.verify(records, ring, head=head)) == {(6, chain.EDITED)}


def test_a_line_that_is_not_a_record_is_malformed(signer, ring):
    records, _head = build(signer, 2)
    lines = "\n".join(json.dumps(r) for r in records) + "\nnot json\n"
    verdict = chain.verify(chain.parse_lines(lines), ring)
    assert [p.kind for p in verdict.problems] == [chain.MALFORMED]


def test_events_are_checked(signer):
    with pytest.raises(AuditError, match="kind"):
        chain.make_record(None, {"kind": "whatever"}, signer, T0)
    with pytest.raises(AuditError, match="aware"):
        chain.make_record(None, {"kind": "note"}, signer, T0.replace(tzinfo=None))


def test_the_signer_never_shows_its_private_key(signer):
    assert "PRIVATE" not in repr(signer) and signer.key_id.startswith("ed25519:")


def _trail(tmp_path):
    return AuditTrail(local=LocalChain(tmp_path / "audit"))


def test_the_local_trail_appends_and_verifies(tmp_path, signer, ring):
    trail = _trail(tmp_path)
    for i in range(3):
        trail.append({"kind": "promotion", "n": i}, signer, T0)
    assert trail.verify(ring)["ok"]
    assert trail.append({"kind": "note"}, signer, T0, check_mode=True)["seq"] == 4
    assert len((tmp_path / "audit" / "chain.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "truncate", "drop_head"])
def test_the_local_trail_names_each_tampering(tmp_path, signer, ring, tamper):
    trail = _trail(tmp_path)
    for i in range(4):
        trail.append({"kind": "promotion", "n": i}, signer, T0)
    path = tmp_path / "audit" / "chain.jsonl"
    lines = path.read_text().splitlines()
    if tamper == "edit":
        lines[1] = lines[1].replace('"n":1', '"n":9')
    elif tamper == "delete":
        del lines[1]
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    elif tamper == "truncate":
        del lines[-1]
    elif tamper == "drop_head":
        del lines[-1]
        (tmp_path / "audit" / "head.json").unlink()
    path.write_text("\n".join(lines) + "\n")
    result = trail.verify(ring)
    assert not result["ok"]
    expected = {"edit": (2, "edited"), "delete": (2, "deleted"), "reorder": (3, "reordered"),
                "truncate": (4, "truncated"), "drop_head": (None, "truncated")}[tamper]
    assert expected in {(p["seq"], p["kind"]) for p in result["problems"]}, result["problems"]


def _write_key(tmp_path):
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "signing.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, chain.public_pem(key.public_key())


def test_audit_verify_returns_the_selected_records_of_a_trail_that_verifies(tmp_path):
    from ansible_collections.governed.odoo.plugins.module_utils.audit import task

    key, public = _write_key(tmp_path)
    for n, instance in enumerate(("civil-dev", "civil-qa", "civil-dev")):
        result, _masked = task.run_record({"event": {"kind": "promotion", "instance": instance, "n": n},
                                           "signing_key_path": str(key), "local_dir": str(tmp_path / "audit"),
                                           "lock_mode": "GOVERNANCE", "retention_days": 1}, now=T0)
        assert not result.get("failed"), result
    params = {"local_dir": str(tmp_path / "audit"), "public_keys": [public]}
    result, _masked = task.run_verify(dict(params, select={"instance": "civil-dev"}))
    assert result["ok"] and [r["event"]["n"] for r in result["records"]] == [0, 2]
    assert [r["seq"] for r in task.run_verify(dict(params, select={}))[0]["records"]] == [1, 2, 3]
    assert task.run_verify(dict(params, select={"instance": "civil-dev", "n": 1}))[0]["records"] == []
    assert "records" not in task.run_verify(params)[0]  # only when asked
    # a tampered trail returns no record to act on
    path = tmp_path / "audit" / "chain.jsonl"
    path.write_text(path.read_text().replace('"n":2', '"n":7'))
    result, _masked = task.run_verify(dict(params, select={"instance": "civil-dev"}))
    assert result["failed"] and "records" not in result and "edited" in result["msg"], result


def test_the_module_options_are_the_gate_options_and_select():
    from ansible_collections.governed.odoo.plugins.module_utils.audit import task

    assert set(task.verify_module_argument_spec()) - set(task.verify_argument_spec()) == {"select", "sync"}


def test_a_copy_of_a_record_is_not_a_new_record(signer, ring):
    records, head = build(signer, 3)
    records.append(copy.deepcopy(records[1]))
    assert (2, chain.REORDERED) in kinds(chain.verify(records, ring, head=head))


def test_head_mode_still_detects_every_change_before_the_head(signer, ring):
    records, head = build(signer)
    assert chain.verify(records, ring, head=head, signatures="head").ok
    # a record changed and re-hashed with a signature that does not verify: its successor's link fails
    tampered = copy.deepcopy(records)
    tampered[2]["event"]["kind"] = "rollback"
    tampered[2]["hash"] = chain.record_hash(tampered[2])
    assert (4, chain.REORDERED) in kinds(chain.verify(tampered, ring, head=head, signatures="head"))
    # the last record replaced: the head names another hash
    tampered = copy.deepcopy(records)
    tampered[-1] = chain.make_record(tampered[-2], {"kind": "note"}, signer, T0)
    assert (6, chain.EDITED) in kinds(chain.verify(tampered, ring, head=head, signatures="head"))
    # a record by a key nobody trusts, even under a valid head
    intruder = chain.Signer(Ed25519PrivateKey.generate())
    tampered = copy.deepcopy(records)
    tampered[1]["key_id"] = intruder.key_id
    tampered[1]["hash"] = chain.record_hash(tampered[1])
    assert (2, chain.FORGED) in kinds(chain.verify(tampered, ring, head=head, signatures="head"))


def test_head_mode_verifies_every_signature_when_the_head_is_not_trusted(signer, ring):
    records, head = build(signer)
    other = chain.Signer(Ed25519PrivateKey.generate())
    records[1]["sig"] = other.sign(chain.RECORD_CONTEXT + records[1]["hash"].encode())
    forged_head = dict(head, sig=other.sign(b"x"))
    assert (2, chain.FORGED) in kinds(chain.verify(records, ring, head=forged_head, signatures="head"))
    assert (2, chain.FORGED) in kinds(chain.verify(records, ring, signatures="head"))
    # records after the head are checked one by one
    more = chain.make_record(records[-1], {"kind": "note"}, other, T0)
    assert (7, chain.FORGED) in kinds(chain.verify([*build(signer)[0], more], ring, head=head, signatures="head"))


def test_a_writer_that_loses_the_sequence_number_appends_after_the_winner(signer, ring):
    stored = Stored()
    trail = AuditTrail(remote=stored)
    trail.append({"kind": "note", "n": 1}, signer, T0)
    stored.before_put = lambda: AuditTrail(remote=stored).append({"kind": "note", "n": "racer"}, signer, T0)
    record = trail.append({"kind": "note", "n": 2}, signer, T0)
    assert record["seq"] == 3 and record["prev"] == stored.records[2]["hash"]
    records = [stored.records[s] for s in sorted(stored.records)]
    assert [r["event"]["n"] for r in records] == [1, "racer", 2]
    assert chain.verify(records, ring, head=stored.heads[-1]).ok
    assert [h["seq"] for h in stored.heads] == [1, 2, 3]  # the heads in the order of the records


def test_nobody_appends_after_a_record_whose_head_is_not_written(signer, monkeypatch):
    from ansible_collections.governed.odoo.plugins.module_utils.audit import store
    from ansible_collections.governed.odoo.plugins.module_utils.audit.errors import AppendInProgress

    monkeypatch.setattr(store.time, "sleep", lambda s: None)
    stored = Stored()
    AuditTrail(remote=stored).append({"kind": "note"}, signer, T0)
    stored.heads.pop()  # a writer between its record and its head (or killed there)
    with pytest.raises(AppendInProgress, match="record 1 of the stored audit chain has no head yet"):
        AuditTrail(remote=stored)._append({"kind": "note"}, signer, T0, False, head_wait=0)
    assert list(stored.records) == [1]
