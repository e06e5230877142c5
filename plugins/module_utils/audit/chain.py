# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit chain: append-only, hash-chained, Ed25519-signed records, and their verification (pure).

A record is a JSON object::

    {"format": 1, "seq": 7, "prev": "<hash of record 6>", "time": "2026-12-06T04:50:00Z",
     "event": {"kind": "promotion", ...}, "key_id": "ed25519:<16 hex>", "hash": "<64 hex>", "sig": "<base64>"}

``hash`` is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the record without ``hash``
and ``sig``; ``sig`` is the Ed25519 signature of ``RECORD_CONTEXT + hash``. Record 1 has ``prev`` = 64 zeros.
The head (the anchor against truncation) is ``{"format": 1, "seq", "hash", "time", "key_id", "sig"}``,
signed over ``HEAD_CONTEXT + canonical JSON without sig``; it says how long the chain was when it was written.

:func:`verify` takes the records as read (in the order read), the trusted public keys and optionally the
head, and returns every problem with the sequence number it concerns and why: edited (content does not
match its hash), forged (bad signature, or a key that is not trusted), deleted (a gap), reordered (a record
out of sequence, or a link to the wrong predecessor), truncated (the head says the chain is longer).
Nothing here reads files or talks to a server: store.py does that.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field

from ansible_collections.governed.odoo.plugins.module_utils.audit.errors import AuditError, KeyError_

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the modules
    HAS_CRYPTOGRAPHY = False

FORMAT = 1
GENESIS = "0" * 64
RECORD_CONTEXT = b"governed.odoo audit record v1\n"
HEAD_CONTEXT = b"governed.odoo audit head v1\n"
EVENT_KINDS = ("promotion", "refusal", "rollback", "approval", "override", "restore", "verification", "note")

# what a problem is, as verification names it
EDITED, FORGED, DELETED, REORDERED, TRUNCATED, OVERWRITTEN, MALFORMED = (
    "edited", "forged", "deleted", "reordered", "truncated", "overwritten", "malformed")


def canonical(value):
    """The canonical JSON bytes of ``value``: sorted keys, no insignificant spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def format_time(when):
    if when.tzinfo is None:
        raise AuditError("audit times must be aware datetimes (UTC)")
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- keys -----------------------------------------------------------------------------------------------


def _need_crypto():
    if not HAS_CRYPTOGRAPHY:
        raise KeyError_("the python library cryptography is required for Ed25519 signatures")


def load_private_key(pem):
    """An Ed25519 private key from PEM (PKCS#8, unencrypted) bytes or text."""
    _need_crypto()
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyError_(
            f"the signing key is not a readable unencrypted PEM private key: {type(exc).__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_("the signing key is not an Ed25519 key")
    return key


def load_public_key(value):
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or the base64 of its 32 raw bytes."""
    _need_crypto()
    if isinstance(value, Ed25519PublicKey):
        return value
    text = value.decode() if isinstance(value, bytes) else str(value)
    try:
        if "BEGIN" in text:
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))
    except (ValueError, TypeError) as exc:
        raise KeyError_(f"a public key is neither PEM nor base64 of 32 raw bytes: {type(exc).__name__}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyError_("a public key is not an Ed25519 key")
    return key


def raw_public(key):
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key):
    """``ed25519:`` and the first 16 hex digits of the SHA-256 of the raw public key."""
    return "ed25519:" + sha256_hex(raw_public(load_public_key(public_key)))[:16]


def public_pem(key):
    """The PEM of a (private or public) Ed25519 key's public half, as text."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def keyring(public_keys):
    """{key_id: public key} from a list (or mapping name -> key) of PEM/base64 public keys."""
    values = public_keys.values() if isinstance(public_keys, dict) else (public_keys or [])
    ring = {}
    for value in values:
        key = load_public_key(value)
        ring[key_id(key)] = key
    return ring


class Signer:
    """Signs with one Ed25519 private key; only its key id and public half are ever shown."""

    def __init__(self, private_key):
        self._key = private_key if isinstance(private_key, Ed25519PrivateKey) else load_private_key(private_key)
        self.public_key = self._key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, data):
        return base64.b64encode(self._key.sign(data)).decode("ascii")

    def __repr__(self):
        return f"Signer({self.key_id})"


def signature_ok(public_key, sig, data):
    try:
        public_key.verify(base64.b64decode(sig, validate=True), data)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# -- records ----------------------------------------------------------------------------------------------


def record_hash(record):
    """The hash a record should carry: SHA-256 of its canonical JSON without ``hash`` and ``sig``."""
    return sha256_hex(canonical({k: v for k, v in record.items() if k not in ("hash", "sig")}))


def check_event(event):
    if not isinstance(event, dict):
        raise AuditError("an audit event must be a mapping")
    if event.get("kind") not in EVENT_KINDS:
        raise AuditError(f"an audit event needs kind, one of {', '.join(EVENT_KINDS)}; got {event.get('kind')!r}")
    try:
        canonical(event)
    except (TypeError, ValueError) as exc:
        raise AuditError(f"an audit event must be plain JSON data: {exc}") from None
    return event


def make_record(previous, event, signer, when):
    """The record that follows ``previous`` (None for the first one), signed by ``signer``."""
    check_event(event)
    record = {
        "format": FORMAT,
        "seq": 1 if previous is None else int(previous["seq"]) + 1,
        "prev": GENESIS if previous is None else previous["hash"],
        "time": format_time(when),
        "event": json.loads(canonical(event)),
        "key_id": signer.key_id,
    }
    record["hash"] = record_hash(record)
    record["sig"] = signer.sign(RECORD_CONTEXT + record["hash"].encode("ascii"))
    return record


def make_head(last, signer, when):
    """The signed anchor naming the last record (``last`` None: an empty chain, seq 0)."""
    head = {
        "format": FORMAT,
        "seq": 0 if last is None else int(last["seq"]),
        "hash": GENESIS if last is None else last["hash"],
        "time": format_time(when),
        "key_id": signer.key_id,
    }
    head["sig"] = signer.sign(HEAD_CONTEXT + canonical(head))
    return head


# -- verification -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    seq: int | None
    kind: str
    reason: str

    def as_dict(self):
        return {"seq": self.seq, "kind": self.kind, "reason": self.reason}

    def __str__(self):
        where = f"record {self.seq}" if self.seq is not None else "chain"
        return f"{where}: {self.kind}: {self.reason}"


@dataclass
class Verdict:
    length: int = 0
    last_hash: str = GENESIS
    problems: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.problems

    def as_dict(self):
        return {"ok": self.ok, "length": self.length, "last_hash": self.last_hash,
                "problems": [p.as_dict() for p in self.problems]}


_RECORD_KEYS = frozenset(("format", "seq", "prev", "time", "event", "key_id", "hash", "sig"))


def _check_signed(obj, keys, seq, what, data):
    """Problems with the key and signature of a record or head."""
    key = keys.get(obj.get("key_id"))
    if key is None:
        return [Problem(seq, FORGED, f"{what} is signed by {obj.get('key_id')!r}, which is not a trusted key")]
    if not signature_ok(key, obj.get("sig") or "", data):
        return [Problem(seq, FORGED, f"{what}'s signature does not verify with {obj.get('key_id')}")]
    return []


def verify(records, public_keys, head=None, signatures="all"):
    """Every problem of ``records`` (dicts in the order read) against the trusted keys and the head.

    ``public_keys`` is a keyring (key_id -> key) or anything :func:`keyring` accepts. Verification goes on
    after a problem, so that every problem is named; a record that is missing is named by its number.

    ``signatures="all"`` verifies every record's signature (what audit_verify does). ``"head"`` verifies
    every record's hash, link and key id, but the signature only of the head and of records after it: the
    head's signature covers the hash of the record it names, which covers every record before it through the
    links, so a changed record anywhere before the head still fails (as edited, or as a link to the wrong
    predecessor, or as a last hash the head does not name). The gates use it: one signature instead of
    10,000. Without a valid head covering the chain every signature is verified.
    """
    keys = public_keys if isinstance(public_keys, dict) and all(
        isinstance(k, str) and k.startswith("ed25519:") for k in public_keys) else keyring(public_keys)
    verdict = Verdict()
    problems = verdict.problems
    trusted_upto = 0
    if signatures == "head" and isinstance(head, dict) and isinstance(head.get("seq"), int):
        body = {k: v for k, v in head.items() if k != "sig"}
        if not _check_signed(head, keys, None, "the head", HEAD_CONTEXT + canonical(body)):
            trusted_upto = head["seq"]
    good = [r for r in records if isinstance(r, dict) and set(r) == _RECORD_KEYS and isinstance(r.get("seq"), int)]
    present = {r["seq"] for r in good}
    hash_of = {}
    for r in good:
        hash_of.setdefault(r["seq"], r.get("hash"))
    expected_seq = 1
    highest = 0
    for index, record in enumerate(records):
        if not isinstance(record, dict) or set(record) != _RECORD_KEYS or not isinstance(record.get("seq"), int):
            problems.append(Problem(None, MALFORMED, f"entry {index + 1} of the chain is not an audit record"))
            continue
        seq = record["seq"]
        if seq <= highest:
            problems.append(Problem(seq, REORDERED, f"appears after record {highest}"))
        elif seq > expected_seq:
            missing = [s for s in range(expected_seq, seq) if s not in present]
            if missing:
                span = f"{missing[0]}" if len(missing) == 1 else f"{missing[0]} to {missing[-1]}"
                problems.append(Problem(missing[0], DELETED, f"record(s) {span} missing before record {seq}"))
            if len(missing) < seq - expected_seq:
                problems.append(Problem(seq, REORDERED, f"appears before record {expected_seq}"))
        stored = record.get("hash")
        actual = record_hash(record)
        if stored != actual:
            problems.append(Problem(seq, EDITED, f"content does not match its hash (stored {str(stored)[:12]}...,"
                                                 f" content {actual[:12]}...)"))
        elif seq > trusted_upto:
            problems.extend(_check_signed(record, keys, seq, "record", RECORD_CONTEXT + stored.encode("ascii")))
        elif record.get("key_id") not in keys:
            problems.append(Problem(seq, FORGED, f"record is signed by {record.get('key_id')!r}, which is not a"
                                                 " trusted key"))
        want_prev = GENESIS if seq == 1 else hash_of.get(seq - 1)
        if want_prev is not None and record.get("prev") != want_prev:
            problems.append(Problem(seq, REORDERED, f"links to {str(record.get('prev'))[:12]}..., not to the hash"
                                                    f" of record {seq - 1} ({want_prev[:12]}...)"))
        if seq > highest:
            highest = seq
            expected_seq = seq + 1
            verdict.last_hash = stored if isinstance(stored, str) else GENESIS
        verdict.length += 1
    if head is not None:
        problems.extend(_verify_head(head, keys, highest, verdict.last_hash))
    return verdict


def _verify_head(head, keys, highest, last_hash):
    if not isinstance(head, dict) or not isinstance(head.get("seq"), int):
        return [Problem(None, MALFORMED, "the head is not an audit head")]
    body = {k: v for k, v in head.items() if k != "sig"}
    problems = _check_signed(head, keys, None, "the head", HEAD_CONTEXT + canonical(body))
    if problems:
        return problems
    if head["seq"] > highest:
        return [Problem(highest + 1, TRUNCATED, f"the head names {head['seq']} records, the chain ends at {highest}")]
    if head["seq"] == highest and head["hash"] != last_hash:
        return [Problem(highest, EDITED, "the last record's hash differs from the one the head names")]
    # a head older than the chain is normal while a record is being appended; the chain is then longer
    return []


def verify_extension(previous, records, public_keys):
    """Problems of ``records`` as the continuation of ``previous`` (None: the chain's start), in order: each one's
    form, sequence number, hash, link to its predecessor, and signature by a trusted key (every signature).

    This is what an append checks before it copies records fetched from the store into a local copy, or pushes
    records that were written only locally to the store: nothing that does not verify is taken over.
    """
    keys = public_keys if isinstance(public_keys, dict) and all(
        isinstance(k, str) and k.startswith("ed25519:") for k in public_keys) else keyring(public_keys)
    problems = []
    seq = 0 if previous is None else int(previous["seq"])
    prev_hash = GENESIS if previous is None else previous["hash"]
    for record in records:
        seq += 1
        if record is None:
            problems.append(Problem(seq, DELETED, f"record {seq} is missing"))
            break
        if not isinstance(record, dict) or set(record) != _RECORD_KEYS or not isinstance(record.get("seq"), int):
            problems.append(Problem(seq, MALFORMED, f"record {seq} is not an audit record"))
            break
        if record["seq"] != seq:
            problems.append(Problem(seq, DELETED if record["seq"] > seq else REORDERED,
                                    f"record {record['seq']} stands where record {seq} should be"))
            break
        stored = record.get("hash")
        actual = record_hash(record)
        if stored != actual:
            problems.append(Problem(seq, EDITED, f"content does not match its hash (stored {str(stored)[:12]}...,"
                                                 f" content {actual[:12]}...)"))
        else:
            problems.extend(_check_signed(record, keys, seq, "record", RECORD_CONTEXT + stored.encode("ascii")))
        if record.get("prev") != prev_hash:
            problems.append(Problem(seq, REORDERED, f"links to {str(record.get('prev'))[:12]}..., not to the hash"
                                                    f" of record {seq - 1} ({prev_hash[:12]}...)"))
        prev_hash = stored if isinstance(stored, str) else GENESIS
    return problems


def verify_head(head, public_keys, last):
    """Problems of ``head`` as the signed anchor of a chain that ends with ``last`` (None: an empty chain)."""
    keys = public_keys if isinstance(public_keys, dict) and all(
        isinstance(k, str) and k.startswith("ed25519:") for k in public_keys) else keyring(public_keys)
    seq = 0 if last is None else int(last["seq"])
    problems = _verify_head(head, keys, seq, GENESIS if last is None else last.get("hash"))
    if not problems and head["seq"] < seq:
        problems.append(Problem(seq, TRUNCATED, f"the head names {head['seq']} records, the chain ends at {seq}"))
    return problems


def parse_lines(text):
    """Records of a JSON-lines text; a line that is not JSON becomes None (verify names it malformed)."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(None)
    return out
