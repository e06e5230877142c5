"""governed.odoo.manifests with output=json: one JSON array of the same documents the list output gives."""

from __future__ import annotations

import json

from _localplay import run_local_play

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    names: [b, a]
  tasks:
    - ansible.builtin.set_fact:
        as_list: "{{ query('governed.odoo.manifests', 'one.yml.j2', 'two.yml.j2') }}"
        as_json: "{{ lookup('governed.odoo.manifests', 'one.yml.j2', 'two.yml.j2', output='json') }}"
        as_text: "{{ lookup('governed.odoo.manifests', 'three.conf.j2', output='text') }}"
    - ansible.builtin.copy:
        dest: "{{ playbook_dir }}/out.json"
        content: >-
          {{ {'list': as_list, 'json': as_json, 'json_is_string': as_json is string, 'text': as_text} | to_json }}
        mode: "0600"
"""
ONE = """\
{% for n in names %}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: {{ n | to_json }}}
data: {since: 2026-11-26, count: "{{ loop.index }}"}
{% endfor %}
---
"""
TWO = "kind: Namespace\napiVersion: v1\nmetadata: {name: ns}\n"
THREE = "[options]\nnames = {{ names | join(',') }}\n: not YAML {\n"


def test_json_output_is_the_list_output_as_one_string(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "one.yml.j2").write_text(ONE)
    (tmp_path / "templates" / "two.yml.j2").write_text(TWO)
    (tmp_path / "templates" / "three.conf.j2").write_text(THREE)
    (tmp_path / "play.yml").write_text(PLAY)
    run_local_play(tmp_path / "play.yml")
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["json_is_string"] is True
    assert out["text"] == "[options]\nnames = b,a\n: not YAML {\n"
    parsed = json.loads(out["json"])
    assert [o["metadata"]["name"] for o in parsed] == ["b", "a", "ns"]
    # a YAML date becomes its ISO text; everything else is the list output exactly
    assert parsed[0]["data"]["since"] == "2026-11-26"
    assert [{k: v for k, v in o.items() if k != "data"} for o in parsed] == [
        {k: v for k, v in o.items() if k != "data"} for o in out["list"]
    ]
