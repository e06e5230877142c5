"""Chunked AES-256-GCM stream (plugins/module_utils/backup/crypto.py)."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import ConfigError, EncryptionError

KEY = bytes(range(32))
CS = 4096


@pytest.mark.parametrize("size", [0, 1, CS - 1, CS, CS + 1, 3 * CS, 3 * CS + 17])
def test_round_trip_and_size_formula(size):
    data = os.urandom(size)
    blob = crypto.encrypt_bytes(KEY, data, chunk_size=CS)
    assert len(blob) == crypto.stored_size(size, CS)
    assert crypto.decrypt_bytes(KEY, blob) == data


def test_streaming_in_arbitrary_pieces():
    rng = random.Random(1)
    data = os.urandom(5 * CS + 123)
    enc = crypto.Encryptor(KEY, CS)
    out = b""
    pos = 0
    while pos < len(data):
        n = rng.randint(0, 2 * CS)
        out += enc.update(data[pos:pos + n])
        pos += n
    out += enc.finalize()
    dec = crypto.Decryptor(KEY)
    plain = b""
    pos = 0
    while pos < len(out):
        n = rng.randint(1, 3 * CS)
        plain += dec.update(out[pos:pos + n])
        pos += n
    plain += dec.finalize()
    assert plain == data


def test_objects_never_share_nonces_or_keys():
    a = crypto.encrypt_bytes(KEY, b"same", CS)
    b = crypto.encrypt_bytes(KEY, b"same", CS)
    assert a != b and a[12:36] != b[12:36]


def test_wrong_key_and_tampering_fail():
    blob = bytearray(crypto.encrypt_bytes(KEY, os.urandom(2 * CS + 5), CS))
    with pytest.raises(EncryptionError, match="does not decrypt"):
        crypto.decrypt_bytes(bytes(32), bytes(blob))
    blob[100] ^= 1
    with pytest.raises(EncryptionError):
        crypto.decrypt_bytes(KEY, bytes(blob))


def test_truncation_is_detected_even_at_a_chunk_boundary():
    data = os.urandom(3 * CS + 10)
    blob = crypto.encrypt_bytes(KEY, data, CS)
    full = CS + crypto.TAG_SIZE
    for cut in (crypto.HEADER_SIZE + full, crypto.HEADER_SIZE + 2 * full, len(blob) - 1, 10):
        with pytest.raises(EncryptionError):
            crypto.decrypt_bytes(KEY, blob[:cut])
    # an exact multiple of the chunk size still ends with an (empty) final chunk
    blob = crypto.encrypt_bytes(KEY, os.urandom(2 * CS), CS)
    with pytest.raises(EncryptionError, match="truncated"):
        crypto.decrypt_bytes(KEY, blob[:-crypto.TAG_SIZE])


def test_chunks_cannot_be_reordered():
    data = os.urandom(3 * CS)
    blob = crypto.encrypt_bytes(KEY, data, CS)
    h, full = crypto.HEADER_SIZE, CS + crypto.TAG_SIZE
    swapped = blob[:h] + blob[h + full:h + 2 * full] + blob[h:h + full] + blob[h + 2 * full:]
    with pytest.raises(EncryptionError):
        crypto.decrypt_bytes(KEY, swapped)


def test_key_parsing_and_id():
    hexkey = KEY.hex()
    import base64

    assert crypto.parse_key(hexkey) == KEY
    assert crypto.parse_key(base64.b64encode(KEY).decode()) == KEY
    assert crypto.parse_key(base64.urlsafe_b64encode(KEY).decode().rstrip("=")) == KEY
    assert crypto.parse_key(None) is None
    for bad in ("short", "z" * 64, base64.b64encode(b"x" * 16).decode()):
        with pytest.raises(ConfigError) as info:
            crypto.parse_key(bad)
        assert bad not in info.value.msg  # never echo key material
    kid = crypto.key_id(KEY)
    assert len(kid) == 16 and kid == crypto.key_id(KEY) and kid != crypto.key_id(bytes(32))
