"""Rule messages name variables, never secret values: every rule is run over inputs full of secrets."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.rules import engine  # noqa: E402

SECRET = "s3cr3t-Value-0123456789"
SECRET_NAMES = (
    "postgresql_app_password",
    "postgresql_reporting_password",
    "postgresql_superuser_password",
    "postgresql_replication_password",
    "odoo_admin_password",
    "redis_password",
    "governed_odoo_gitops_fingerprint_key",
)


def _messages(rule_ids, inputs):
    rules = engine.load_all()
    return [f.message for rule_id in rule_ids for f in rules[rule_id].evaluate(inputs)]


def test_a_password_shared_by_two_environments_is_never_shown():
    inputs = {
        "instances": {
            "d": {"governed_odoo_environment": "dev", "postgresql_app_password": SECRET},
            "p": {"governed_odoo_environment": "prod", "postgresql_reporting_password": SECRET},
        }
    }
    messages = _messages(["platform.password_shared_across_environments"], inputs)
    assert messages == [
        "postgresql_reporting_password of p (prod) is also the postgresql_app_password of d (dev):"
        " every environment has its own credentials"
    ]


def test_no_rule_shows_a_secret_it_reads():
    """Short secrets (refused) and long ones (accepted), with line breaks, in every secret variable and in the
    external server's admin password: no message of any rule contains them."""
    rules = engine.load_all()
    for secret in (SECRET, "short\nsecret", SECRET + "\n"):
        values = dict.fromkeys(SECRET_NAMES, secret)
        values["postgresql_placement"] = "external"
        values["governed_odoo_delivery"] = "gitops"
        values["postgresql_external"] = {"host": "db", "admin_user": "postgres", "admin_password": secret}
        values["instances"] = {"a": dict(values, governed_odoo_environment="dev"), "b": dict(values)}
        for rule in rules.values():
            inputs = {name: values.get(name) for name in rule.reads if name in values}
            for finding in rule.evaluate(inputs):
                assert secret.strip() not in finding.message, (rule.id, finding.message)


def test_a_cluster_token_never_reaches_a_message():
    """platform.variables masks governed_odoo_cluster.api_key (no_log) wherever the validator quotes it (here: the
    token pasted where a boolean belongs)."""
    base = {
        "governed_odoo_tenant": "civil",
        "governed_odoo_environment": "prod",
        "governed_odoo_instance": "civil-prod",
        "governed_odoo_namespace": "odoo-civil-prod",
        "governed_odoo_tier": "production",
        "governed_odoo_size": "large",
    }
    cluster = {"name": "prod", "topology": "dedicated", "api_key": SECRET, "validate_certs": SECRET}
    messages = _messages(["platform.variables"], dict(base, governed_odoo_cluster=cluster))
    assert messages and not any("s3cr3t" in m for m in messages), messages
