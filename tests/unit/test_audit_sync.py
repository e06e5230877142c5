"""Several controllers, each with its own local copy of one stored audit chain: before an append the local copy is
brought up to the store (the authority) with every fetched record verified; a CAS conflict re-syncs and retries; a
diverged copy, a forged or edited stored record, and a local-only record that no longer links are refused by name,
and nothing is written anywhere then."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from _audit_stored import Stored
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain, store
from ansible_collections.governed.odoo.plugins.module_utils.audit.errors import (
    AppendConflict,
    AuditError,
    ChainDiverged,
    TamperedError,
)
from ansible_collections.governed.odoo.plugins.module_utils.audit.store import AuditTrail, LocalChain
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def signer():
    return chain.Signer(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def other():
    """The second controller's key (AWX's, say): trusted when it is in public_keys."""
    return chain.Signer(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def ring(signer, other):
    return chain.keyring([chain.public_pem(signer.public_key), chain.public_pem(other.public_key)])


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(store.time, "sleep", slept.append)
    return slept


def controller(tmp_path, name, stored):
    return AuditTrail(local=LocalChain(tmp_path / name), remote=stored)


def local_records(trail):
    return trail.local.read()[0]


def assert_in_step(trail, stored, ring):
    """The local copy holds exactly the stored chain, and both verify with their heads."""
    records, head = trail.local.read()
    assert [r["hash"] for r in records] == [r["hash"] for r in stored.chain()]
    assert chain.verify(records, ring, head=head).ok
    assert chain.verify(stored.chain(), ring, head=stored.heads[-1]).ok


def test_two_controllers_with_their_own_copies_append_alternately(tmp_path, signer, other, ring):
    stored = Stored()
    a, b = controller(tmp_path, "a", stored), controller(tmp_path, "b", stored)
    for n in range(5):
        assert a.append({"kind": "note", "by": "a", "n": n}, signer, T0, public_keys=ring)["seq"] == 2 * n + 1
        assert b.append({"kind": "note", "by": "b", "n": n}, other, T0, public_keys=ring)["seq"] == 2 * n + 2
    assert [(r["event"]["by"], r["event"]["n"]) for r in stored.chain()] == [
        (w, n) for n in range(5) for w in ("a", "b")]
    assert [h["seq"] for h in stored.heads] == list(range(1, 11))
    assert_in_step(b, stored, ring)
    # a is one record behind until its next sync, which fetches b's last record and verifies it
    assert len(local_records(a)) == 9
    assert [r["seq"] for r in a.sync(ring).fetched] == [10]
    assert_in_step(a, stored, ring)


def test_a_stale_copy_fetches_what_it_lacks_then_appends_at_the_stores_head(tmp_path, signer, other, ring):
    stored = Stored()
    a, b = controller(tmp_path, "a", stored), controller(tmp_path, "b", stored)
    a.append({"kind": "note", "n": 0}, signer, T0, public_keys=ring)
    b.append({"kind": "note", "n": 1}, other, T0, public_keys=ring)
    for n in range(2, 6):
        b.append({"kind": "note", "n": n}, other, T0, public_keys=ring)
    record = a.append({"kind": "note", "n": 6}, signer, T0, public_keys=ring)
    assert record["seq"] == 7 and record["prev"] == stored.records[6]["hash"]
    assert_in_step(a, stored, ring)
    # check mode reads and verifies the same way, and writes nothing
    assert b.append({"kind": "note"}, other, T0, check_mode=True, public_keys=ring)["seq"] == 8
    assert len(local_records(b)) == 6 and len(stored.records) == 7


def test_a_conflict_on_the_stores_head_resyncs_and_retries(tmp_path, signer, other, ring, no_sleep):
    stored = Stored()
    a, b = controller(tmp_path, "a", stored), controller(tmp_path, "b", stored)
    a.append({"kind": "note", "n": 1}, signer, T0, public_keys=ring)
    # between a's sync and its PUT of record 2, b appends record 2 (and, through its own conflict-free path, 3)
    stored.before_put = lambda: b.append({"kind": "note", "n": "b"}, other, T0, public_keys=ring)
    record = a.append({"kind": "note", "n": 2}, signer, T0, public_keys=ring)
    assert record["seq"] == 3 and record["prev"] == stored.records[2]["hash"]
    assert [r["event"]["n"] for r in stored.chain()] == [1, "b", 2]
    assert len(no_sleep) == 1 and 0.05 <= no_sleep[0] <= 0.15  # one jittered pause before the retry
    assert_in_step(a, stored, ring)  # b's record was fetched, verified and copied before a's own


def test_conflicts_are_retried_a_bounded_number_of_times(tmp_path, signer, ring, no_sleep, monkeypatch):
    stored = Stored()
    a = controller(tmp_path, "a", stored)

    def always_taken(record, now):
        stored.puts += 1
        raise AppendConflict(f"record {record['seq']} was appended by another writer first", seq=record["seq"])

    monkeypatch.setattr(stored, "put_record", always_taken)
    with pytest.raises(AppendConflict, match="gave up after 20 attempts"):
        a.append({"kind": "note"}, signer, T0, public_keys=ring)
    assert stored.puts == store.APPEND_ATTEMPTS and len(no_sleep) == store.APPEND_ATTEMPTS - 1
    assert len(set(no_sleep)) > 1 and max(no_sleep) <= 2.0 * 1.5  # jittered, growing, capped
    assert local_records(a) == []  # nothing local without the store's acceptance


def test_a_diverged_copy_is_refused_naming_the_first_different_record(tmp_path, signer, ring):
    stored = Stored()
    a = controller(tmp_path, "a", stored)
    for n in range(6):
        a.append({"kind": "note", "n": n}, signer, T0, public_keys=ring)
    # a second copy that agrees up to record 3 and then holds records of its own (another chain)
    forked = LocalChain(tmp_path / "forked")
    records = local_records(a)[:3]
    last = records[-1]
    for n in range(3):
        last = chain.make_record(last, {"kind": "note", "n": f"fork{n}"}, signer, T0)
        records.append(last)
    forked.extend(records, chain.make_head(last, signer, T0))
    before = (stored.puts, len(stored.heads), forked.chain_path.read_bytes())
    trail = AuditTrail(local=forked, remote=stored)
    with pytest.raises(ChainDiverged, match=r"diverged from the stored chain at record 4 ") as exc:
        trail.append({"kind": "note"}, signer, T0, public_keys=ring)
    assert exc.value.details["seq"] == 4 and exc.value.kind == "audit_diverged"
    assert (stored.puts, len(stored.heads), forked.chain_path.read_bytes()) == before
    # a shorter diverged copy (it ends inside the stored chain) is named the same way
    short = LocalChain(tmp_path / "short")
    short.extend(records[:5], chain.make_head(records[4], signer, T0))
    with pytest.raises(ChainDiverged, match="at record 4 "):
        AuditTrail(local=short, remote=stored).sync(ring)


@pytest.mark.parametrize("tamper", ["untrusted", "edited", "relinked"])
def test_a_forged_or_edited_fetched_record_is_refused_and_nothing_is_copied(tmp_path, signer, ring, tamper):
    stored = Stored()
    a, b = controller(tmp_path, "a", stored), controller(tmp_path, "b", stored)
    for n in range(3):
        a.append({"kind": "note", "n": n}, signer, T0, public_keys=ring)
    b.sync(ring)
    a.append({"kind": "note", "n": 3}, signer, T0, public_keys=ring)
    a.append({"kind": "note", "n": 4}, signer, T0, public_keys=ring)
    if tamper == "untrusted":  # record 4 replaced by one an intruder signed (and a head of the intruder's)
        intruder = chain.Signer(Ed25519PrivateKey.generate())
        stored.records[4] = chain.make_record(stored.records[3], {"kind": "promotion", "by": "x"}, intruder, T0)
        stored.records[5] = chain.make_record(stored.records[4], {"kind": "note"}, intruder, T0)
        stored.heads.append(chain.make_head(stored.records[5], intruder, T0))
        expected = r"stored record 4: forged: record is signed by 'ed25519:"
    elif tamper == "edited":
        stored.records[4]["event"]["n"] = 99
        expected = "stored record 4: edited: content does not match its hash"
    else:  # record 5 re-made to link elsewhere, signed by a trusted key: the link names it
        stored.records[5] = chain.make_record(stored.records[3], {"kind": "note"}, signer, T0)
        stored.records[5]["seq"] = 5
        stored.records[5]["hash"] = chain.record_hash(stored.records[5])
        stored.records[5]["sig"] = signer.sign(chain.RECORD_CONTEXT + stored.records[5]["hash"].encode())
        stored.heads.append(chain.make_head(stored.records[5], signer, T0))
        expected = "stored record 5: reordered: links to"
    before = b.local.chain_path.read_bytes()
    puts = stored.puts
    with pytest.raises(TamperedError, match=expected) as exc:
        b.append({"kind": "note"}, signer, T0, public_keys=ring)
    assert "does not verify beyond record 3" in exc.value.msg
    assert b.local.chain_path.read_bytes() == before and stored.puts == puts


def test_a_record_by_another_controllers_key_needs_that_key(tmp_path, signer, other, ring):
    stored = Stored()
    a, b = controller(tmp_path, "a", stored), controller(tmp_path, "b", stored)
    a.append({"kind": "note"}, signer, T0, public_keys=ring)
    # b trusts only its own key: a's record is not taken over
    with pytest.raises(TamperedError, match=f"stored record 1: forged: record is signed by '{signer.key_id}'"):
        b.append({"kind": "note"}, other, T0)
    assert b.append({"kind": "note"}, other, T0, public_keys=[chain.public_pem(signer.public_key)])["seq"] == 2


def test_a_forged_stored_head_is_refused(tmp_path, signer, ring):
    stored = Stored()
    a, b = controller(tmp_path, "a", stored), controller(tmp_path, "b", stored)
    a.append({"kind": "note"}, signer, T0, public_keys=ring)
    intruder = chain.Signer(Ed25519PrivateKey.generate())
    stored.heads[-1] = chain.make_head(stored.records[1], intruder, T0)
    with pytest.raises(TamperedError, match="stored: forged: the head is signed by"):
        b.sync(ring)
    assert local_records(b) == []


def test_a_local_only_record_that_still_links_is_pushed_first(tmp_path, signer, ring):
    stored = Stored()
    a = controller(tmp_path, "a", stored)
    a.append({"kind": "note", "n": 1}, signer, T0, public_keys=ring)
    # record 2 reached the local copy only (its store write failed, or the run had no bucket)
    local_only = chain.make_record(stored.records[1], {"kind": "note", "n": 2}, signer, T0)
    a.local.append(local_only, chain.make_head(local_only, signer, T0))
    assert a.append({"kind": "note", "n": 3}, signer, T0, check_mode=True, public_keys=ring)["seq"] == 3
    assert list(stored.records) == [1]  # check mode pushes nothing
    record = a.append({"kind": "note", "n": 3}, signer, T0, public_keys=ring)
    assert record["seq"] == 3 and stored.records[2]["hash"] == local_only["hash"]
    assert [h["seq"] for h in stored.heads] == [1, 2, 3]
    assert_in_step(a, stored, ring)


def test_a_local_only_record_whose_number_another_writer_took_is_refused(tmp_path, signer, other, ring):
    stored = Stored()
    a, b = controller(tmp_path, "a", stored), controller(tmp_path, "b", stored)
    a.append({"kind": "note", "n": 1}, signer, T0, public_keys=ring)
    local_only = chain.make_record(stored.records[1], {"kind": "note", "n": "mine"}, signer, T0)
    a.local.append(local_only, chain.make_head(local_only, signer, T0))
    b.append({"kind": "note", "n": "theirs"}, other, T0, public_keys=ring)
    before = (dict(stored.records), len(stored.heads))
    with pytest.raises(ChainDiverged, match="at record 2 ") as exc:
        a.append({"kind": "note"}, signer, T0, public_keys=ring)
    assert exc.value.details["seq"] == 2
    assert (dict(stored.records), len(stored.heads)) == before
    # the same when the other writer takes the number between a's sync and its push
    c = controller(tmp_path, "c", stored)
    c.sync(ring)
    mine = chain.make_record(stored.records[2], {"kind": "note", "n": "c-only"}, signer, T0)
    c.local.append(mine, chain.make_head(mine, signer, T0))
    stored.before_put = lambda: b.append({"kind": "note", "n": "racer"}, other, T0, public_keys=ring)
    with pytest.raises(ChainDiverged, match=r"local record 3 \(.*written only to the local audit copy"):
        c.append({"kind": "note"}, signer, T0, public_keys=ring)
    assert stored.records[3]["event"]["n"] == "racer" and 4 not in stored.records


def test_a_local_only_record_that_does_not_verify_is_refused(tmp_path, signer, ring):
    stored = Stored()
    a = controller(tmp_path, "a", stored)
    a.append({"kind": "note", "n": 1}, signer, T0, public_keys=ring)
    local_only = chain.make_record(stored.records[1], {"kind": "note", "n": 2}, signer, T0)
    local_only["event"]["n"] = 7  # edited after it was signed
    a.local.append(local_only, chain.make_head(local_only, signer, T0))
    with pytest.raises(TamperedError, match="local record 2: edited"):
        a.append({"kind": "note"}, signer, T0, public_keys=ring)
    assert list(stored.records) == [1]


@pytest.mark.parametrize("with_store", [True, False], ids=["stored", "local-only"])
def test_a_local_copy_whose_last_line_is_not_a_record_is_refused(tmp_path, signer, ring, with_store):
    stored = Stored()
    a = controller(tmp_path, "a", stored) if with_store else AuditTrail(local=LocalChain(tmp_path / "a"))
    a.append({"kind": "note"}, signer, T0, public_keys=ring)
    with open(a.local.chain_path, "a") as fh:
        fh.write("not json\n")
    with pytest.raises(AuditError, match="is not an audit record"):
        a.append({"kind": "note"}, signer, T0, public_keys=ring)
    assert len(a.local.chain_path.read_text().splitlines()) == 2  # never a second record 1
    assert list(stored.records) == ([1] if with_store else [])


def test_a_record_hidden_in_the_stored_chain_is_named_missing(tmp_path, signer, ring):
    stored = Stored()
    a, b = controller(tmp_path, "a", stored), controller(tmp_path, "b", stored)
    for n in range(3):
        a.append({"kind": "note", "n": n}, signer, T0, public_keys=ring)
    del stored.records[2]  # what a reader sees of a record under a delete marker
    with pytest.raises(TamperedError, match="stored record 2: deleted: record 2 is missing"):
        b.sync(ring)
    assert local_records(b) == []


def test_verify_extension_names_each_problem(signer, ring):
    records = []
    last = None
    for n in range(3):
        last = chain.make_record(last, {"kind": "note", "n": n}, signer, T0)
        records.append(last)
    assert chain.verify_extension(None, records, ring) == []
    assert chain.verify_extension(records[0], records[1:], ring) == []
    assert [(p.seq, p.kind) for p in chain.verify_extension(records[0], records[2:], ring)] == [(2, "deleted")]
    assert [(p.seq, p.kind) for p in chain.verify_extension(None, [None], ring)] == [(1, "deleted")]
    assert [(p.seq, p.kind) for p in chain.verify_extension(None, [["x"]], ring)] == [(1, "malformed")]
    assert chain.verify_head(chain.make_head(records[1], signer, T0), ring, records[2])[0].kind == "truncated"


def test_a_check_mode_sync_verifies_the_copy_as_it_would_be_and_writes_nothing(tmp_path, signer, other, ring):
    stored = Stored()
    a, b = controller(tmp_path, "a", stored), controller(tmp_path, "b", stored)
    b.append({"kind": "note", "n": 0}, other, T0, public_keys=ring)
    for n in range(1, 4):
        a.append({"kind": "note", "n": n}, signer, T0, public_keys=ring)
    before = b.local.chain_path.read_bytes()
    behind = b.verify(ring)
    assert not behind["ok"] and any(p["copy"] == "both" for p in behind["problems"])
    done = b.sync(ring, check_mode=True)
    assert [r["seq"] for r in done.fetched] == [2, 3, 4] and b.local.chain_path.read_bytes() == before
    result = b.verify(ring, keep_records=True, synced=done)
    assert result["ok"] and result["local"]["length"] == 4, result["problems"]
    assert [r["event"]["n"] for r in result["records"]] == [0, 1, 2, 3]
    assert b.local.chain_path.read_bytes() == before
