"""plugin_utils/direct.py: a module's main() run in this process returns what the module passed to exit_json or
fail_json, with its own argument checks and no_log masking, and restores the module afterwards."""

from __future__ import annotations

import pytest
from ansible_collections.governed.odoo.plugins.plugin_utils import direct


def test_result_of_exit_json():
    ping = direct.import_module("ansible.modules.ping")
    out = direct.run(ping, {"data": "hello", "_ansible_check_mode": False})
    assert out["ping"] == "hello"
    assert out["invocation"]["module_args"]["data"] == "hello"
    assert ping.AnsibleModule.__name__ == "AnsibleModule"  # the module's own class is back


def test_argument_checks_are_the_modules():
    ping = direct.import_module("ansible.modules.ping")
    out = direct.run(ping, {"bogus": 1})
    assert out["failed"] is True
    assert "Unsupported parameters for" in out["msg"] and "bogus" in out["msg"]


def test_an_exception_of_the_module_propagates():
    ping = direct.import_module("ansible.modules.ping")
    with pytest.raises(Exception, match="boom"):
        direct.run(ping, {"data": "crash"})


def test_no_log_values_are_masked_by_the_module():
    user = direct.import_module("ansible_collections.community.postgresql.plugins.modules.postgresql_user")
    # fails before connecting (no such socket directory); the password must not appear anywhere in the result
    out = direct.run(
        user,
        {"name": "someone", "password": "s3cret-value-0123", "login_unix_socket": "/nonexistent", "login_db": "x"},
    )
    assert out["failed"] is True
    assert "s3cret-value-0123" not in repr(out)
    assert out["invocation"]["module_args"]["password"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_plain_values_only():
    assert direct.plain({"a": (1, 2)}) == {"a": [1, 2]}


@pytest.mark.parametrize("name", ["", "ansible.legacy.command", "ansible_collections.nope.nope.plugins.modules.x"])
def test_modules_that_cannot_run_here_are_refused(name):
    with pytest.raises(direct.ModuleNotDirect):
        direct.import_module(name)
