"""governed.odoo.manifests with output=json: one JSON array of the same documents the list output gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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
    playbook = str(Path(sys.executable).parent / "ansible-playbook")
    play = str(tmp_path / "play.yml")
    interpreter = f"ansible_python_interpreter={sys.executable}"
    res = subprocess.run(
        [playbook, "-i", "localhost,", "-c", "local", play, "-e", interpreter],
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")),
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
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
