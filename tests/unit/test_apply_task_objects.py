"""k8s_apply_set's object arguments: objects and objects_json (JSON arrays, as the roles keep their facts) make one
set; a missing or malformed set is refused before any request, naming the argument, with Secrets redacted."""

from __future__ import annotations

import json

import pytest
from ansible_collections.governed.odoo.plugins.module_utils.apply import task

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"password": "hunter2-long"}}


def test_objects_then_each_json_array_in_order():
    params = {"objects": [CM], "objects_json": [json.dumps([SECRET]), "[]", json.dumps([dict(CM, data={"n": "2"})])]}
    merged = task.merged_objects(params)
    assert [o["kind"] for o in merged] == ["ConfigMap", "Secret", "ConfigMap"]
    assert merged[2]["data"] == {"n": "2"}


def test_an_empty_set_is_allowed_but_a_missing_one_is_not():
    assert task.merged_objects({"objects": [], "objects_json": None}) == []
    assert task.merged_objects({"objects": None, "objects_json": []}) == []
    with pytest.raises(ValueError, match="one of objects or objects_json is required"):
        task.merged_objects({"objects": None, "objects_json": None})


@pytest.mark.parametrize(
    ("item", "message"),
    [("{not json", r"objects_json\[1\] is not JSON"), ('{"kind": "x"}', r"objects_json\[1\] must be a JSON array")],
)
def test_malformed_items_are_named(item, message):
    with pytest.raises(ValueError, match=message):
        task.merged_objects({"objects": None, "objects_json": ["[]", item]})


def test_run_refuses_before_any_request_and_redacts(monkeypatch):
    def no_client(**_options):
        raise AssertionError("no request may be made")

    monkeypatch.setattr(task.kclient, "client_from_options", no_client)
    params = {k: None for k in task.argument_spec()}
    params.update(applyset="x", objects_json=[json.dumps([SECRET]), "oops"])
    result, _secrets = task.run(params)
    assert result["failed"] is True and "objects_json[1] is not JSON" in result["msg"]
    assert "hunter2-long" not in json.dumps(result)


def test_secrets_of_json_sets_are_masked_and_reported_as_objects(monkeypatch):

    def no_client(**_options):
        raise task.ApplyError("stop here")

    monkeypatch.setattr(task.kclient, "client_from_options", no_client)
    params = {k: None for k in task.argument_spec()}
    params.update(applyset="x", objects_json=[json.dumps([CM, SECRET])])
    result, secrets = task.run(params)
    assert "hunter2-long" in secrets
    shown = result["invocation"]["module_args"]
    assert [o["kind"] for o in shown["objects"]] == ["ConfigMap", "Secret"]
    assert shown["objects"][1]["stringData"] == {"password": task.NO_LOG_MARKER}
    assert shown["objects_json"] == []
