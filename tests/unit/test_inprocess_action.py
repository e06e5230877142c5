"""The in-process action plugins: validation, masking, and the fallback to the module off the controller."""

from __future__ import annotations

from types import SimpleNamespace

from ansible_collections.governed.odoo.plugins.plugin_utils.inprocess import InProcessAction

SECRET = "s3cr3t-value-123"


class Probe(InProcessAction):
    MODULE = "governed.odoo.example"

    def __init__(self, transport, args):  # no ActionBase machinery: only what run() uses
        self._connection = SimpleNamespace(transport=transport, _load_name=f"ansible.builtin.{transport}")
        self._task = SimpleNamespace(args=args, check_mode=True, diff=False, async_val=0)
        self.calls = []

    def argument_spec(self):
        return {"name": {"type": "str", "required": True}, "token": {"type": "str", "no_log": True}}

    def execute(self, params, check_mode, diff):
        self.calls.append((params, check_mode, diff))
        return {
            "changed": True,
            "echo": f"{params['name']} {params.get('token')} extra-secret-42",
            "warnings": ["careful with extra-secret-42"],
        }, {"extra-secret-42"}

    def _execute_module(self, module_name=None, module_args=None, task_vars=None):
        self.calls.append(("module", module_name, module_args))
        return {"changed": False, "from": "module"}


def run(action):
    # ActionBase.run needs a real task; the base class only adds its own bookkeeping keys
    import ansible.plugins.action as base

    original = base.ActionBase.run
    base.ActionBase.run = lambda self, tmp=None, task_vars=None: {}
    try:
        return action.run(task_vars={})
    finally:
        base.ActionBase.run = original


def test_local_connection_runs_in_process_and_masks_secrets():
    action = Probe("local", {"name": "acme", "token": SECRET})
    result = run(action)
    assert action.calls and action.calls[0][1] is True  # check mode passed through
    assert result["changed"] is True
    assert SECRET not in str(result) and "extra-secret-42" not in str(result)
    assert "acme" in result["echo"]


def test_invalid_arguments_fail_before_anything_runs():
    action = Probe("local", {"token": SECRET, "bogus": 1})
    result = run(action)
    assert result["failed"] and "name" in result["msg"] and "bogus" in result["msg"]
    assert action.calls == [] and SECRET not in str(result)


def test_other_connections_run_the_module():
    action = Probe("ssh", {"name": "acme"})
    result = run(action)
    assert result == {"changed": False, "from": "module"}
    assert action.calls == [("module", "governed.odoo.example", {"name": "acme"})]
