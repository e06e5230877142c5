"""Rule messages of the redis, storage, ingress, monitoring and backup layers name secret variables, never their
values: every rule of those layers is run over inputs whose secrets are refused (too short, malformed, with line
breaks) and accepted, and no message may contain a secret."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.rules import engine  # noqa: E402

LAYERS = ("redis", "storage", "ingress", "monitoring", "backup")


def _inputs(secret):
    s3 = {"endpoint_url": "https://s3.example.com", "cidr": "10.0.0.0/24", "access_key": secret, "secret_key": secret}
    copy = dict(s3, endpoint_url="https://s3.example.com", bucket="go-copy", cidr="bad", access_key=secret)
    values = {
        "redis_password": secret,
        "storage_s3": s3,
        "backup_s3": s3,
        "backup_copy_to": copy,
        "backup_database_password": secret,
        "backup_encryption_key": secret,
        "backup_install_schedule": True,
        "governed_odoo_environment": "prod",
    }
    values["instances"] = {"a": dict(values), "b": dict(values, storage_backups_expire_days=1)}
    return values


@pytest.mark.parametrize("secret", ["s3cr3t-Value-0123456789", "short\nsecret", "x" * 64 + "\n", "not a key"])
def test_no_rule_shows_a_secret_it_reads(secret):
    values = _inputs(secret)
    checked = 0
    for layer in LAYERS:
        for rule in engine.rules_for(layer=layer):
            inputs = {name: values[name] for name in rule.reads if name in values}
            for finding in rule.evaluate(inputs):
                checked += 1
                assert secret.strip() not in finding.message, (rule.id, finding.message)
    # the inputs do trigger rules that read the secrets (a refused key, a copy without a network...)
    assert checked > 0


def test_the_refused_secrets_are_named():
    messages = [
        f.message
        for rule_id in ("backup.secrets", "redis.password_length")
        for f in engine.load_all()[rule_id].evaluate(_inputs("short\nsecret"))
    ]
    assert "backup_encryption_key must be 32 bytes given as 64 hex digits or base64 (openssl rand -hex 32)" in messages
    assert "redis_password must be set and at least 16 characters long" in messages
