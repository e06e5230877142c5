# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the audit chain lives: a local directory and an S3 bucket with object lock, written together.

Local: ``<dir>/chain.jsonl`` (one record per line, appended) and ``<dir>/head.json`` (the signed head,
replaced atomically after each append).

Object storage (through the backup store's S3 client, :class:`BackupStore`): ``<prefix>records/<seq>.json``
(12 digits) and ``<prefix>head.json``, every object written with object lock retention (GOVERNANCE or
COMPLIANCE, for the days the policy says). In a locked bucket nothing written can be changed or removed
before its retention ends; what can still happen is a *new version* over a key, or a *delete marker* that
hides it. Both are visible in the bucket's version listing, and both are tampering here: an append-only
chain writes each key exactly once. The anchor against truncation is the head: every version of head.json
is kept (locked), one per record; the newest names the length the chain must have, and a number of versions
other than the number of records (an older head put back over a newer one is one more version) is tampering.

Concurrent writers (two promotions of one instance racing, a promotion and a restore) never break the chain or
lose a record: a record is PUT with ``If-None-Match: *`` (compare-and-swap on its sequence key; AWS S3 and
SeaweedFS refuse the second writer with 412), the loser reads the new end of the chain and appends after it,
and nobody appends while the last stored record has no head yet (its writer is between its two PUTs), so the
heads are written in the order of the records. Writers sharing a local directory also take turns on a lock file.

The stored chain is the authority. Controllers that each keep a local copy of it bring theirs up to the store before
they append (:meth:`AuditTrail.sync`: the stored records beyond the local end are fetched and each verified before it is
copied; a copy that differs from the store, or a stored record that does not verify, is refused by name), append at the
store's end, and write the local copy last. Records only a local copy has are pushed when they still link, else refused.
Nothing overwrites or forks the stored chain: each record key is written once, conditionally.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import random
import tempfile
import time
from pathlib import Path

from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from ansible_collections.governed.odoo.plugins.module_utils.audit.errors import (
    AppendConflict,
    AppendInProgress,
    AuditError,
    ChainDiverged,
    TamperedError,
)
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError
from ansible_collections.governed.odoo.plugins.module_utils.backup.store import LockSpec

CHAIN_FILE = "chain.jsonl"
HEAD_FILE = "head.json"
RECORDS_PREFIX = "records/"
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
# a conditional PUT refused because the key exists (the S3 error code; the fast path's bare status)
PRECONDITION_FAILED = ("PreconditionFailed", "412")
# how many times a writer that lost the race for a sequence number reads the new end and tries again
APPEND_ATTEMPTS = 20
# how long a writer waits for another writer's head before refusing (a writer killed between its two PUTs)
HEAD_WAIT_SECONDS = 120


def record_key(seq):
    return f"{RECORDS_PREFIX}{int(seq):012d}.json"


def seq_of_key(key):
    name = key[len(RECORDS_PREFIX):] if key.startswith(RECORDS_PREFIX) else ""
    stem = name[:-5] if name.endswith(".json") else ""
    return int(stem) if stem.isdigit() else None


class LocalChain:
    """The chain in a local directory (JSON lines plus the head beside it)."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.chain_path = self.dir / CHAIN_FILE
        self.head_path = self.dir / HEAD_FILE

    def read(self):
        """(records as parsed, head or None)."""
        try:
            text = self.chain_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise AuditError(f"cannot read {self.chain_path}: {exc.strerror}") from None
        head = None
        try:
            head = json.loads(self.head_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            head = None
        except ValueError:
            head = {"malformed": True}
        except OSError as exc:
            raise AuditError(f"cannot read {self.head_path}: {exc.strerror}") from None
        return chain.parse_lines(text), head

    def last(self):
        records, _head = self.read()
        return records[-1] if records else None

    def append(self, record, head):
        self.extend([record], head)

    def extend(self, records, head):
        """Append ``records`` (one line each, fsynced), then replace the head: a crash in between leaves a head
        older than the chain, which verification accepts (the next append's sync writes the head again)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.chain_path, "ab") as fh:
            fh.write(b"".join(chain.canonical(record) + b"\n" for record in records))
            fh.flush()
            os.fsync(fh.fileno())
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".head.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(chain.canonical(head) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_path)


class RemoteChain:
    """The chain in a bucket with object lock, through a :class:`BackupStore` (its root is the prefix)."""

    def __init__(self, store, lock_mode="COMPLIANCE", retention_days=365):
        if lock_mode not in LOCK_MODES:
            raise AuditError(f"audit lock mode must be one of {', '.join(LOCK_MODES)}, not {lock_mode!r}")
        if not isinstance(retention_days, int) or retention_days < 1:
            raise AuditError(f"audit retention must be a whole number of days >= 1, not {retention_days!r}")
        self.store = store
        self.lock_mode = lock_mode
        self.retention_days = retention_days

    def lock(self, now):
        return LockSpec(self.lock_mode, now + _dt.timedelta(days=self.retention_days))

    def check(self):
        try:
            self.store.check_bucket(need_lock=True)
        except BackupError as exc:
            raise AuditError(f"audit store: {exc.msg}", **exc.details) from None

    def _get_json(self, rel, version_id=None):
        try:
            if version_id:
                resp = self.store.client.get_object(Bucket=self.store.bucket, Key=self.store.full(rel),
                                                    VersionId=version_id)
                data = resp["Body"].read()
            else:
                data = self.store.get_bytes(rel, max_size=16 * 1024 * 1024)
        except BackupError as exc:
            raise AuditError(f"audit store: {exc.msg}", **exc.details) from None
        except Exception as exc:
            raise AuditError(f"audit store: GetObject {self.store.where(rel)} version {version_id}: {exc}") from None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def versions(self):
        """{rel key: [(version_id, is_delete_marker, last_modified)], newest version first}."""
        try:
            listed = self.store.list_versions("")
        except BackupError as exc:
            raise AuditError(f"audit store: {exc.msg}", **exc.details) from None
        out = {}
        for key, vid, is_dm, mtime in listed:
            out.setdefault(key, []).append((vid, is_dm, mtime))
        return out

    def read(self):
        """(records in sequence order, the anchoring head, problems seen only in the version listing).

        A record hidden by a delete marker or replaced by a newer version is a problem here; the chain
        given to verification is what a reader of the bucket sees now (the current versions), so the
        verification also names the gap or the edit that results.
        """
        versions = self.versions()
        problems = []
        records = []
        for key in sorted(k for k in versions if k.startswith(RECORDS_PREFIX)):
            seq = seq_of_key(key)
            problems.extend(self._key_problems(key, seq, versions[key]))
            current = self._current(versions[key])
            if current is None:
                continue
            record = self._get_json(key, current)
            if isinstance(record, dict) and record.get("seq") != seq:
                problems.append(chain.Problem(seq, chain.REORDERED,
                                              f"{key} holds record {record.get('seq')}"))
            records.append(record)
        written = sum(1 for k in versions if k.startswith(RECORDS_PREFIX))
        head, head_problems = self._anchor(versions.get(HEAD_FILE, []), written)
        return records, head, problems + head_problems

    @staticmethod
    def _key_problems(key, seq, entries):
        """What the version listing of one record key shows: a delete marker over it, or more than one version."""
        problems = []
        objects = [e for e in entries if not e[1]]
        if any(e[1] for e in entries):
            problems.append(chain.Problem(seq, chain.DELETED, f"{key} is hidden by a delete marker"))
        if len(objects) > 1:
            problems.append(chain.Problem(seq, chain.OVERWRITTEN, f"{key} has {len(objects)} versions; the "
                                          f"chain writes each record once (the first is {objects[-1][0]})"))
        return problems

    def state(self):
        """One version listing of the stored chain, as :class:`StoredState` (no record is read)."""
        versions = self.versions()
        current, problems, written = {}, {}, 0
        for key, entries in versions.items():
            if not key.startswith(RECORDS_PREFIX):
                continue
            written += 1
            seq = seq_of_key(key)
            if seq is None:
                continue
            found = self._key_problems(key, seq, entries)
            if found:
                problems[seq] = found
            vid = self._current(entries)
            if vid is not None:
                current[seq] = vid
        head, _problems = self._anchor(versions.get(HEAD_FILE, []), written)
        return StoredState(current, problems, head)

    def get_record(self, seq, version_id=None):
        """Stored record ``seq`` (its current version, or ``version_id``) as parsed; None when it is not JSON."""
        return self._get_json(record_key(seq), version_id)

    @staticmethod
    def _current(entries):
        """The version a plain GET returns: the newest entry, None when that is a delete marker."""
        if not entries:
            return None
        newest = max(range(len(entries)), key=lambda i: (entries[i][2], entries[i][1], -i))
        vid, is_dm, _mtime = entries[newest]
        return None if is_dm else vid

    def _anchor(self, entries, records_written):
        """The newest head, and problems of head.json's versions.

        One head version is written per record: a delete marker, or a count of versions other than the
        number of records, means the head was hidden, replaced (an older head put back over a newer one is
        a new version too) or that an append did not finish.
        """
        problems = []
        if any(is_dm for _vid, is_dm, _mtime in entries):
            problems.append(chain.Problem(None, chain.TRUNCATED, f"{HEAD_FILE} is hidden by a delete marker"))
        versions = [e for e in entries if not e[1]]
        if len(versions) != records_written:
            problems.append(chain.Problem(None, chain.OVERWRITTEN if len(versions) > records_written
                                          else chain.TRUNCATED,
                                          f"{HEAD_FILE} has {len(versions)} versions for {records_written} records"
                                          " (one head is written per record)"))
        if not versions:
            return None, problems
        newest = max(range(len(versions)), key=lambda i: (versions[i][2], -i))
        head = self._get_json(HEAD_FILE, versions[newest][0])
        return (head if isinstance(head, dict) else {"malformed": True}), problems

    def tail(self):
        """(the last record a reader sees, the newest head): a listing and two reads, for appending."""
        state = self.state()
        last = self.get_record(state.end, state.current[state.end]) if state.end else None
        return last, state.head

    def put_record(self, record, now):
        """PUT the record under its sequence key only if that key is free (``If-None-Match: *``).

        Raises :class:`AppendConflict` when another writer's record holds the key. A refusal of this writer's own
        retried PUT (the first one stored, its response lost) is no conflict: the stored record is this one.
        """
        key = record_key(record["seq"])
        try:
            self.store.put_bytes(key, chain.canonical(record), lock=self.lock(now), content_type="application/json",
                                 if_absent=True)
        except BackupError as exc:
            if exc.details.get("code") not in PRECONDITION_FAILED:
                raise AuditError(f"audit store: {exc.msg}", **exc.details) from None
            stored = self._get_json(key)
            if isinstance(stored, dict) and stored.get("hash") == record["hash"]:
                return
            raise AppendConflict(f"record {record['seq']} was appended by another writer first",
                                 seq=record["seq"]) from None

    def put_head(self, head, now):
        try:
            self.store.put_bytes(HEAD_FILE, chain.canonical(head), lock=self.lock(now), content_type="application/json")
        except BackupError as exc:
            raise AuditError(f"audit store: {exc.msg}", **exc.details) from None

    def put(self, record, head, now):
        self.put_record(record, now)
        self.put_head(head, now)


class StoredState:
    """What one version listing says of the stored chain: ``current`` {seq: the version a reader gets}, ``problems``
    {seq: [Problem]} (delete markers, extra versions), and ``head``, the newest version of head.json."""

    def __init__(self, current, problems, head):
        self.current = current
        self.problems = problems
        self.head = head

    @property
    def end(self):
        """The sequence number of the last record a reader sees (0: none)."""
        return max(self.current, default=0)

    @property
    def head_seq(self):
        head = self.head
        return head.get("seq") if isinstance(head, dict) and isinstance(head.get("seq"), int) else None


class SyncResult:
    """What :meth:`AuditTrail.sync` did: ``previous`` (the record the next append follows), ``fetched`` (stored
    records copied into the local copy, or that would be in check mode), ``pushed`` (records that were only in the
    local copy, written to the store; in check mode or without a signer: the ones that would be)."""

    def __init__(self, previous, fetched=(), pushed=(), head=None):
        self.previous = previous
        self.fetched = list(fetched)
        self.pushed = list(pushed)
        self.head = head


def _is_record(value):
    return isinstance(value, dict) and isinstance(value.get("seq"), int) and isinstance(value.get("hash"), str)


def _first_difference(upto, same):
    """The first sequence number in 1..upto where the two copies differ, given that they differ at ``upto``.

    Hash chains agree on a prefix and differ from the first different record on (each record commits to every
    record before it), so a binary search finds it: log2(upto) reads of the store.
    """
    lo, hi = 1, upto
    while lo < hi:
        mid = (lo + hi) // 2
        if same(mid):
            lo = mid + 1
        else:
            hi = mid
    return hi


class AuditTrail:
    """The chain written locally and, when ``remote`` is given, to object storage under object lock."""

    def __init__(self, local=None, remote=None):
        if local is None and remote is None:
            raise AuditError("an audit trail needs a local directory, an object store, or both")
        self.local = local
        self.remote = remote

    def _stored_end(self, state):
        """The number of the last stored record, after the checks every append makes of the listing: the chain is
        not shorter than its head, and its last record has its head (no writer is between its two PUTs)."""
        end, head_seq = state.end, state.head_seq
        if head_seq is not None and head_seq > end:
            raise AuditError(f"the stored audit chain is shorter than its head says ({end} < {head_seq}): verify it "
                             "before appending")
        if end and (head_seq or 0) < end:
            raise AppendInProgress(f"record {end} of the stored audit chain has no head yet (the head names "
                                   f"{head_seq or 0}): another writer is appending, or was stopped between the record "
                                   "and its head (governed.odoo.audit_verify names it)", seq=end)
        return end

    def sync(self, public_keys, signer=None, now=None, check_mode=False):
        """Bring the local copy up to the stored chain, the authority; return a :class:`SyncResult`.

        * The local copy's last record must be the stored record of its number; where the copies differ the first
          differing record is named (:class:`ChainDiverged`) and nothing is written anywhere.
        * Stored records beyond the local end are read, each verified (form, number, hash, link, signature by one of
          ``public_keys``; the listing shows no extra version or delete marker), and the stored head with them; any
          problem refuses the sync naming the record (:class:`TamperedError`). Then they are appended locally with
          the stored head (not in check mode).
        * Records beyond the stored end that only the local copy has (written locally, their store write failed) are
          verified the same way and, with a ``signer``, pushed to the store with the conditional PUT and a head
          each; a refused PUT means another writer has stored a different record of that number first: the local
          copy has diverged (:class:`ChainDiverged`). Without a signer (or in check mode) they are only reported.

        Without a store there is nothing to sync; without a local copy the stored chain's last record is returned.
        """
        if self.remote is None:
            return SyncResult(self._local_end(self.local.read()[0]))
        state = self.remote.state()
        end = self._stored_end(state)
        fetched = {}

        def stored(seq):
            if seq not in fetched:
                fetched[seq] = self.remote.get_record(seq, state.current[seq]) if seq in state.current else None
            return fetched[seq]

        if self.local is None:
            return SyncResult(stored(end) if end else None)
        records, _head = self.local.read()
        local_last = self._local_end(records)
        mine = {}
        for record in records:
            if _is_record(record):
                mine.setdefault(record["seq"], record)
        m = local_last["seq"] if local_last else 0

        def same(seq):
            theirs = stored(seq)
            return _is_record(theirs) and seq in mine and mine[seq]["hash"] == theirs["hash"]

        common = min(m, end)
        if common and not same(common):
            self._diverged(_first_difference(common, same), mine, stored)
        if m <= end:
            fetch = [stored(seq) for seq in range(m + 1, end + 1)]
            problems = [p for seq in range(m + 1, end + 1) for p in state.problems.get(seq, ())]
            problems += chain.verify_extension(local_last, fetch, public_keys)
            if fetch and not problems:
                problems += chain.verify_head(state.head, public_keys, fetch[-1])
            if problems:
                self._refuse("stored", m, problems)
            if fetch and not check_mode:
                self.local.extend(fetch, state.head)
            return SyncResult(fetch[-1] if fetch else local_last, fetched=fetch, head=state.head)
        ahead = [mine.get(seq) for seq in range(end + 1, m + 1)]
        problems = chain.verify_extension(stored(end) if end else None, ahead, public_keys)
        if problems:
            self._refuse("local", end, problems)
        if signer is None or check_mode:
            return SyncResult(local_last, pushed=ahead)
        for record in ahead:
            try:
                self.remote.put_record(record, now)
            except AppendConflict:
                theirs = self.remote.get_record(record["seq"])
                raise ChainDiverged(
                    f"local record {record['seq']} ({record['hash'][:12]}...) was written only to the local audit "
                    f"copy {self.local.dir} (its store write failed), and another writer has since stored a different "
                    f"record {record['seq']} ({str((theirs or {}).get('hash'))[:12]}...): the local copy has diverged "
                    "from the stored chain, which is the authority and is never overwritten or forked. Nothing was "
                    "appended; move the local copy aside (keep it as evidence of that record) and the next append "
                    "copies the stored chain", seq=record["seq"], copy="local") from None
            self.remote.put_head(chain.make_head(record, signer, now), now)
        return SyncResult(local_last, pushed=ahead)

    def _local_end(self, records):
        """The local copy's last record (None: empty); a last line that is not a record is refused, never taken as
        an empty chain."""
        if records and not _is_record(records[-1]):
            raise AuditError(f"the last entry of the local audit copy {self.local.chain_path} is not an audit record: "
                             "verify it with governed.odoo.audit_verify")
        return records[-1] if records else None

    def _diverged(self, seq, mine, stored):
        ours = (mine.get(seq) or {}).get("hash")
        theirs = (stored(seq) or {}).get("hash") if isinstance(stored(seq), dict) else None
        raise ChainDiverged(
            f"the local audit copy {self.local.dir} has diverged from the stored chain at record {seq} (local "
            f"{str(ours)[:12]}..., stored {str(theirs)[:12]}...): the stored chain is the authority and is never "
            "overwritten or forked. Nothing was appended; verify both with governed.odoo.audit_verify, move the local "
            "copy aside (keep it as evidence) and the next append copies the stored chain", seq=seq, copy="local",
            local_hash=ours, stored_hash=theirs)

    @staticmethod
    def _refuse(copy, after, problems):
        first = problems[0]
        if copy == "stored":
            what = f"the stored audit chain does not verify beyond record {after} (the local copy's end)"
        else:
            what = (f"the records only the local audit copy has (after record {after}, the stored chain's end) "
                    "do not verify")
        shown = "; ".join(f"{copy} record {p.seq}: {p.kind}: {p.reason}" if p.seq is not None
                          else f"{copy}: {p.kind}: {p.reason}" for p in problems[:5])
        raise TamperedError(f"{what}: {shown}. Nothing was appended, copied or pushed (governed.odoo.audit_verify "
                            "names every problem)", seq=first.seq, copy=copy,
                            problems=[dict(p.as_dict(), copy=copy) for p in problems])

    def append(self, event, signer, now, check_mode=False, public_keys=None):
        """Write the next record (and head) everywhere; return the record (not written in check mode).

        ``public_keys`` (a keyring, or anything :func:`chain.keyring` takes) are the keys trusted for records this
        writer did not sign (the signer's own key is always trusted): a local copy is brought up to the stored chain
        first (:meth:`sync`), and records signed by other keys are taken over only when they verify.

        Writers on one machine take turns (an exclusive lock on ``<local_dir>/.append.lock``): two runs that record
        at once (the refusals of promotions racing for one lock) each append after the other, never both as the
        same next record.
        """
        keys = dict(public_keys) if _is_ring(public_keys) else chain.keyring(public_keys or [])
        keys[signer.key_id] = signer.public_key
        if self.local is None or check_mode:
            return self._append(event, signer, now, check_mode, keys=keys)
        self.local.dir.mkdir(parents=True, exist_ok=True)
        with open(self.local.dir / ".append.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._append(event, signer, now, check_mode, keys=keys)

    def _append(self, event, signer, now, check_mode, head_wait=None, keys=None):
        """Append at the end of the stored chain (the local copy synced to it first); a writer that loses the race for
        the sequence number (:class:`AppendConflict`) or finds another writer between its record and its head
        (:class:`AppendInProgress`) syncs again and retries after a jittered pause, so no record is lost, no two share
        a number, and the local copy is written only after the store has taken the record.
        """
        if keys is None:
            keys = {signer.key_id: signer.public_key}
        if self.remote is not None and not check_mode:
            self.remote.check()
        started = time.monotonic()
        wait = HEAD_WAIT_SECONDS if head_wait is None else head_wait
        conflicts = 0
        delay = 0.1
        while True:
            when = now + _dt.timedelta(seconds=time.monotonic() - started)
            try:
                previous = self.sync(keys, signer=signer, now=when, check_mode=check_mode).previous
                record = chain.make_record(previous, event, signer, when)
                head = chain.make_head(record, signer, when)
                if check_mode:
                    return record
                if self.remote is not None:
                    self.remote.put_record(record, when)
            except AppendInProgress as exc:
                if check_mode:
                    return chain.make_record(self.remote.tail()[0], event, signer, when)
                if time.monotonic() - started > wait:
                    raise AppendInProgress(f"{exc.msg}; waited {wait} s", **exc.details) from None
            except AppendConflict as exc:
                conflicts += 1
                if conflicts >= APPEND_ATTEMPTS:
                    raise AppendConflict(f"{exc.msg}; gave up after {conflicts} attempts", **exc.details) from None
            else:
                if self.remote is not None:
                    self.remote.put_head(head, when)
                if self.local is not None:
                    self.local.append(record, head)
                return record
            time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not a secret
            delay = min(2.0, delay * 1.5)

    def verify(self, public_keys, keep_records=False, synced=None):
        """{"ok", "local": verdict, "stored": verdict, "problems": [...]} over both copies.

        With ``keep_records``, also ``records``: the chain as read, from the local copy when there is one, else the
        stored copy (a reader that has no local copy reads the trail from object storage).

        ``synced`` (a :class:`SyncResult` of check mode, whose fetched records were verified but not written) is
        verified as part of the local copy, with the stored head: what the local copy is once synced.
        """
        keys = chain.keyring(public_keys) if not _is_ring(public_keys) else public_keys
        out = {"problems": []}
        last_hashes = {}
        kept = None
        if self.local is not None:
            records, head = self.local.read()
            if synced is not None and synced.fetched:
                records, head = records + synced.fetched, synced.head
            kept = records
            verdict = chain.verify(records, keys, head=head)
            if head is None and records:
                verdict.problems.append(
                    chain.Problem(None, chain.TRUNCATED, f"{HEAD_FILE} is missing beside the chain"))
            out["local"] = verdict.as_dict()
            out["problems"].extend(dict(p.as_dict(), copy="local") for p in verdict.problems)
            last_hashes["local"] = (verdict.length, verdict.last_hash)
        if self.remote is not None:
            records, head, listing = self.remote.read()
            kept = records if kept is None else kept
            verdict = chain.verify(records, keys, head=head)
            verdict.problems[:0] = listing
            out["stored"] = verdict.as_dict()
            out["problems"].extend(dict(p.as_dict(), copy="stored") for p in verdict.problems)
            last_hashes["stored"] = (verdict.length, verdict.last_hash)
        if len(last_hashes) == 2 and last_hashes["local"] != last_hashes["stored"]:
            (ln, lh), (sn, sh) = last_hashes["local"], last_hashes["stored"]
            out["problems"].append({"seq": min(ln, sn) + 1 if ln != sn else ln, "kind": chain.TRUNCATED
                                    if ln != sn else chain.EDITED, "copy": "both",
                                    "reason": f"the local chain ({ln} records, last {lh[:12]}...) and the stored "
                                              f"chain ({sn} records, last {sh[:12]}...) differ"})
        out["ok"] = not out["problems"]
        if keep_records:
            out["records"] = [r for r in kept or () if isinstance(r, dict)]
        return out


def _is_ring(value):
    return isinstance(value, dict) and value and all(isinstance(k, str) and k.startswith("ed25519:") for k in value)
