# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Optional client-side encryption of backup objects: a chunked AES-256-GCM stream.

Algorithm name in the manifest: ``AES-256-GCM-STREAM-1``. An encrypted object is::

    header   40 bytes  b"GOBKENC1" | chunk_size (uint32 BE) | salt (16) | nonce_prefix (8) | 4 zero bytes
    chunk 0  AES-256-GCM(chunk_size plain bytes) + 16-byte tag
    ...
    final    AES-256-GCM(0 .. chunk_size-1 plain bytes) + 16-byte tag   (always present, maybe empty)

* The object key is HKDF-SHA256(master key, salt, info=b"governed.odoo backup object v1"): every
  object has its own key, so nonces never repeat across objects.
* The nonce of chunk i is nonce_prefix || uint32 BE i.
* The associated data of chunk i is header || uint64 BE i || final flag (1 byte, 1 on the last
  chunk): chunks cannot be reordered, dropped, truncated at a chunk boundary or moved to another
  object without the tag check failing.
* Only the final chunk is shorter than chunk_size, so a reader always knows which chunk is last.

The master key is 32 bytes given as 64 hex digits or base64, through a no_log module option or
the environment (GOVERNED_ODOO_BACKUP_KEY). Its ``key_id`` (first 16 hex digits of
HMAC-SHA256(key, b"governed.odoo key id")) names it in manifests and filestore keyspaces without
revealing it. Manifests and filestore indexes are not encrypted: they hold names, sizes, module
versions and checksums, never content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import ConfigError, EncryptionError

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported when encryption is asked for
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

ALGORITHM = "AES-256-GCM-STREAM-1"
MAGIC = b"GOBKENC1"
HEADER_SIZE = 40
TAG_SIZE = 16
DEFAULT_CHUNK_SIZE = 1024 * 1024
KEY_ENV = "GOVERNED_ODOO_BACKUP_KEY"
_INFO = b"governed.odoo backup object v1"


def parse_key(text):
    """32 key bytes from 64 hex digits or base64; ConfigError (without echoing the key) otherwise."""
    if text is None or text == "":
        return None
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    text = text.strip()
    raw = None
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            padded = text + "=" * (-len(text) % 4)
            raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise ConfigError("the encryption key must be 32 bytes given as 64 hex digits or base64 "
                          "(generate one with: openssl rand -hex 32)", option="encryption_key")
    return raw


def key_id(key):
    return hmac.new(key, b"governed.odoo key id", hashlib.sha256).hexdigest()[:16]


def stored_size(plain_size, chunk_size=DEFAULT_CHUNK_SIZE):
    """Size of the encrypted object for ``plain_size`` plain bytes (used to check store listings)."""
    return HEADER_SIZE + plain_size + TAG_SIZE * (plain_size // chunk_size + 1)


def _require_lib():
    if not HAS_CRYPTOGRAPHY:
        raise EncryptionError("client-side encryption needs the Python package cryptography: "
                              f"{CRYPTOGRAPHY_IMPORT_ERROR}")


def _subkey(key, salt):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(key)


def _aad(header, index, final):
    return header + struct.pack(">QB", index, 1 if final else 0)


def _nonce(prefix, index):
    if index >= 2**32:
        raise EncryptionError("object too large for one encryption stream")
    return prefix + struct.pack(">I", index)


class Encryptor:
    """Streaming encryption: ``update()`` returns ciphertext as it becomes available, ``finalize()`` the rest."""

    def __init__(self, key, chunk_size=DEFAULT_CHUNK_SIZE):
        _require_lib()
        if not 4096 <= chunk_size <= 64 * 1024 * 1024:
            raise ConfigError(f"encryption chunk size {chunk_size} out of range")
        self.chunk_size = chunk_size
        salt = os.urandom(16)
        self._prefix = os.urandom(8)
        self.header = MAGIC + struct.pack(">I", chunk_size) + salt + self._prefix + b"\0\0\0\0"
        self._aead = AESGCM(_subkey(key, salt))
        self._buf = bytearray()
        self._index = 0
        self._header_sent = False
        self._done = False

    def _seal(self, data, final):
        out = self._aead.encrypt(_nonce(self._prefix, self._index), bytes(data), _aad(self.header, self._index, final))
        self._index += 1
        return out

    def update(self, data):
        if self._done:
            raise EncryptionError("encryptor already finalized")
        out = []
        if not self._header_sent:
            out.append(self.header)
            self._header_sent = True
        self._buf += data
        cs = self.chunk_size
        # keep at least one byte back: a full chunk is only non-final if more data follows
        while len(self._buf) > cs:
            out.append(self._seal(self._buf[:cs], final=False))
            del self._buf[:cs]
        return b"".join(out)

    def finalize(self):
        out = self.update(b"") if not self._header_sent else b""
        if len(self._buf) == self.chunk_size:
            out += self._seal(self._buf, final=False)
            self._buf.clear()
        out += self._seal(self._buf, final=True)
        self._buf.clear()
        self._done = True
        return out


class Decryptor:
    """Streaming decryption; raises EncryptionError on a wrong key, tampering or truncation."""

    def __init__(self, key, what="object"):
        _require_lib()
        self._key = key
        self.what = what
        self._buf = bytearray()
        self.header = None
        self._aead = None
        self._prefix = None
        self.chunk_size = None
        self._index = 0
        self._final_seen = False

    def _open(self, data, final):
        try:
            nonce = _nonce(self._prefix, self._index)
            out = self._aead.decrypt(nonce, bytes(data), _aad(self.header, self._index, final))
        except InvalidTag as exc:
            raise EncryptionError(f"{self.what} does not decrypt (wrong key, or altered) at chunk {self._index}",
                                  object=self.what) from exc
        self._index += 1
        return out

    def update(self, data):
        if self._final_seen and data:
            raise EncryptionError(f"{self.what} has data after its final chunk", object=self.what)
        self._buf += data
        if self.header is None:
            if len(self._buf) < HEADER_SIZE:
                return b""
            header = bytes(self._buf[:HEADER_SIZE])
            if header[:8] != MAGIC:
                raise EncryptionError(f"{self.what} is not an encrypted backup object", object=self.what)
            (self.chunk_size,) = struct.unpack(">I", header[8:12])
            salt, self._prefix = header[12:28], header[28:36]
            self.header = header
            self._aead = AESGCM(_subkey(self._key, salt))
            del self._buf[:HEADER_SIZE]
        out = []
        full = self.chunk_size + TAG_SIZE
        # a full-size chunk is non-final only when more bytes follow it
        while len(self._buf) > full:
            out.append(self._open(self._buf[:full], final=False))
            del self._buf[:full]
        return b"".join(out)

    def finalize(self):
        if self.header is None:
            raise EncryptionError(f"{self.what} is truncated (no header)", object=self.what)
        out = b""
        if len(self._buf) == self.chunk_size + TAG_SIZE:
            # exactly one full chunk left: it is non-final and an empty final chunk is missing
            raise EncryptionError(f"{self.what} is truncated (final chunk missing)", object=self.what)
        if len(self._buf) < TAG_SIZE:
            raise EncryptionError(f"{self.what} is truncated", object=self.what)
        out = self._open(self._buf, final=True)
        self._buf.clear()
        self._final_seen = True
        return out


def encrypt_bytes(key, data, chunk_size=DEFAULT_CHUNK_SIZE):
    enc = Encryptor(key, chunk_size)
    return enc.update(data) + enc.finalize()


def decrypt_bytes(key, data, what="object"):
    dec = Decryptor(key, what)
    return dec.update(data) + dec.finalize()
