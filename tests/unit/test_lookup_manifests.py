"""governed.odoo.manifests: a layer's objects built in Python from the task's variables, templated as they are read;
the list and JSON outputs give the same objects; a value is data, never text that could change an object's shape."""

from __future__ import annotations

import json

import pytest
import yaml
from _localplay import ROOT, run_local_play
from ansible_collections.governed.odoo.plugins.module_utils import manifests

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    governed_odoo_instance: civil-dev
    governed_odoo_tenant: civil
    governed_odoo_environment: dev
    governed_odoo_namespace: "erp-{{ governed_odoo_instance }}"
    storage_attachments_bucket: "{{ governed_odoo_tenant }}-attachments"
    storage_backups_bucket: civil-backups
    storage_instance_prefix: civil-dev/
    storage_s3:
      endpoint_url: https://s3.example:9000
      region: "eu-west-1\\nkind: Secret"
      access_key: AKIA
      secret_key: "s3cr3t: {{ '{{' }} not a template"
      cidr: 10.0.0.0/24
  tasks:
    - ansible.builtin.set_fact:
        as_list: "{{ query('governed.odoo.manifests', 'storage') }}"
        as_json: "{{ lookup('governed.odoo.manifests', 'storage', output='json') }}"
    - name: An unknown layer, then a layer whose variables are not defined
      ansible.builtin.set_fact:
        bad: "{{ lookup('governed.odoo.manifests', item) }}"
      loop: [storage.yml.j2, redis]
      register: refused
      ignore_errors: true
    - ansible.builtin.copy:
        dest: "{{ playbook_dir }}/out.json"
        content: >-
          {{ {'list': as_list, 'json': as_json, 'json_is_string': as_json is string,
              'refused': refused.results | map(attribute='msg') | list} | to_json }}
        mode: "0600"
"""


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("manifests")
    (tmp / "play.yml").write_text(PLAY)
    run_local_play(tmp / "play.yml")
    return json.loads((tmp / "out.json").read_text())


def test_json_output_is_the_list_output_as_one_string(played):
    assert played["json_is_string"] is True
    assert json.loads(played["json"]) == played["list"]
    assert [o["kind"] for o in played["list"]] == ["ConfigMap", "Secret", "NetworkPolicy"]


def test_variables_are_templated_as_read(played):
    config_map = played["list"][0]
    assert config_map["metadata"]["namespace"] == "erp-civil-dev"
    assert config_map["data"]["AWS_BUCKETNAME"] == "civil-attachments"
    # the port of the endpoint's URL opens the egress policy
    assert played["list"][2]["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 9000}]


def test_a_value_stays_one_value(played):
    """A line break and YAML in a value do not add a key or an object (the Jinja templates wrote YAML text)."""
    config_map, secret = played["list"][0], played["list"][1]
    assert config_map["data"]["AWS_REGION"] == "eu-west-1\nkind: Secret"
    assert set(config_map) == {"apiVersion", "kind", "metadata", "data"}
    assert secret["stringData"]["AWS_SECRET_ACCESS_KEY"] == "s3cr3t: {{ not a template"
    # and it survives the YAML the render dir writes
    assert yaml.safe_load(yaml.safe_dump(played["list"])) == played["list"]


def test_an_unknown_layer_and_an_undefined_variable_are_named(played):
    unknown, undefined = played["refused"]
    assert "'storage.yml.j2' is not a layer" in unknown
    assert "redis: 'redis_" in undefined and "is undefined" in undefined


def test_every_layer_is_documented_and_builds():
    doc = (ROOT / "plugins/lookup/manifests.py").read_text()
    options = yaml.safe_load(doc.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])["options"]
    assert options["_terms"]["choices"] == list(manifests.BUILDERS)
    for name in manifests.BUILDERS:
        assert callable(manifests.builder(name))
        # nothing defined: the first variable the layer needs is named
        with pytest.raises(KeyError):
            manifests.build(name, {})
