# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets sealed in the sealed-secrets controller's own format, so that only the controller opens them.

The format is kubeseal's (github.com/bitnami-labs/sealed-secrets, pkg/crypto.HybridEncrypt), per value:

    uint16 big-endian length of the RSA ciphertext
    RSA-OAEP(SHA-256) of a fresh 32-byte session key, with the label below
    AES-256-GCM of the value under the session key, nonce of 12 zero bytes (the key is used once)

base64 (standard alphabet) in ``spec.encryptedData``. The label binds the value to its Secret: with the strict
scope used here (kubeseal's default) it is ``<namespace>/<name>``, so a value cannot be moved into another
Secret. ``spec.template`` carries the Secret's metadata and type, from which the controller rebuilds the Secret.

Sealing is randomised: sealing the same Secret twice gives two texts. So that an unchanged Secret keeps its
sealed text (and a rerun commits nothing), each SealedSecret carries a fingerprint annotation, an HMAC-SHA256 of
the Secret and of the sealing key under a key of the inventory: without that key the fingerprint tells nothing
about the values (a plain hash of a short password could be reversed by trying candidates).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import os
import struct

from ansible_collections.governed.odoo.plugins.module_utils.gitops import GitopsError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_CRYPTOGRAPHY = False

API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"
FINGERPRINT_ANNOTATION = "governed.odoo/sealed-fingerprint"
FINGERPRINT_VERSION = "v1"
SESSION_KEY_BYTES = 32
NONCE = bytes(12)
# kubectl's copy of the last applied object would carry the values in clear (kubeseal strips it too)
STRIPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
MIN_FINGERPRINT_KEY = 32


def _oaep(label):
    # an empty label is no label, in Go's rsa.EncryptOAEP as in cryptography
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)


def load_public_key(pem):
    """The RSA public key of a sealing certificate (``kubeseal --fetch-cert``) or of a public key, both PEM."""
    if not HAS_CRYPTOGRAPHY:
        raise GitopsError("sealing Secrets needs the Python library cryptography")
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else bytes(pem)
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise GitopsError(f"the sealing certificate is not a PEM certificate or public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise GitopsError("the sealing certificate does not hold an RSA key (the sealed-secrets controller's is RSA)")
    return key


def key_id(public_key):
    """SHA-256 of the key's SubjectPublicKeyInfo (DER), hex: names the sealing key in results and fingerprints."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def label_for(namespace, name):
    """The RSA-OAEP label of the strict scope: values open only in Secret <namespace>/<name>."""
    return f"{namespace}/{name}".encode("utf-8")


def seal_value(public_key, plaintext, label):
    """One value sealed as kubeseal seals it (bytes; base64 them for ``encryptedData``)."""
    session_key = os.urandom(SESSION_KEY_BYTES)
    rsa_ciphertext = public_key.encrypt(session_key, _oaep(label))
    return struct.pack(">H", len(rsa_ciphertext)) + rsa_ciphertext + AESGCM(session_key).encrypt(NONCE, plaintext, None)


def open_value(private_key, ciphertext, label):
    """The inverse of :func:`seal_value` (what the controller does); raises ValueError when it cannot open it."""
    if len(ciphertext) < 2:
        raise ValueError("sealed value too short")
    (rsa_len,) = struct.unpack(">H", ciphertext[:2])
    if len(ciphertext) < rsa_len + 2:
        raise ValueError("sealed value too short")
    session_key = private_key.decrypt(ciphertext[2 : rsa_len + 2], _oaep(label))
    return AESGCM(session_key).decrypt(NONCE, ciphertext[rsa_len + 2 :], None)


def secret_values(secret):
    """The Secret's values as bytes by key: ``data`` decoded, then ``stringData`` (which wins, as in the API)."""
    meta = secret.get("metadata") or {}
    ref = f"Secret {meta.get('namespace')}/{meta.get('name')}"
    out = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value if value is not None else ""), validate=True)
        except (binascii.Error, ValueError):
            raise GitopsError(f"{ref}: data.{key} is not base64") from None
    for key, value in (secret.get("stringData") or {}).items():
        out[str(key)] = str(value if value is not None else "").encode("utf-8")
    return out


def _template_metadata(meta):
    out = copy.deepcopy(meta)
    out.pop("ownerReferences", None)
    annotations = {k: v for k, v in (out.get("annotations") or {}).items() if k not in STRIPPED_ANNOTATIONS}
    if annotations:
        out["annotations"] = annotations
    else:
        out.pop("annotations", None)
    return out


def fingerprint(secret, public_key, fingerprint_key):
    """``v1:<hex>``: HMAC-SHA256, under ``fingerprint_key``, of everything the SealedSecret is made from."""
    meta = secret.get("metadata") or {}
    basis = {
        "sealing_key": key_id(public_key),
        "metadata": _template_metadata(meta),
        "type": secret.get("type"),
        "immutable": secret.get("immutable"),
        "values": {k: base64.b64encode(v).decode("ascii") for k, v in sorted(secret_values(secret).items())},
    }
    text = json.dumps(basis, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hmac.new(fingerprint_key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{FINGERPRINT_VERSION}:{digest}"


def sealed_secret(secret, public_key, fingerprint_key):
    """The SealedSecret of a Secret (as kubeseal writes it, strict scope), with the fingerprint annotation."""
    meta = secret.get("metadata") or {}
    name, namespace = meta.get("name"), meta.get("namespace")
    if not name or not namespace:
        raise GitopsError(f"Secret {namespace}/{name}: a sealed Secret needs a name and a namespace")
    label = label_for(namespace, name)
    encrypted = {
        key: base64.b64encode(seal_value(public_key, value, label)).decode("ascii")
        for key, value in sorted(secret_values(secret).items())
    }
    template = {"metadata": _template_metadata(meta)}
    if secret.get("type"):
        template["type"] = secret["type"]
    if secret.get("immutable") is not None:
        template["immutable"] = secret["immutable"]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {FINGERPRINT_ANNOTATION: fingerprint(secret, public_key, fingerprint_key)},
        },
        "spec": {"encryptedData": encrypted, "template": template},
    }
