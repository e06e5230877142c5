"""The compiled-template cache of the governed.odoo.linear strategy: same output, compiled once."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  strategy: {strategy}
  vars:
    items: [3, 1, 2]
    path_like: 'C:\\\\new\\\\table'
  tasks:
    - ansible.builtin.set_fact:
        out: "{{{{ query('governed.odoo.manifests', 'objects.yml.j2') }}}}"
        text: "{{{{ items | sort | join(',') ~ ' ' ~ path_like }}}}"
    - ansible.builtin.copy:
        dest: "{{{{ playbook_dir }}}}/out-{{{{ tag }}}}.json"
        content: "{{{{ {{'objects': out, 'text': text}} | to_json }}}}"
        mode: "0600"
"""
TEMPLATE = """\
{% for i in items | sort %}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm-{{ i }}
data:
  value: "{{ i * 2 }}"
  path: {{ path_like | to_json }}
{% endfor %}
"""


def run_play(tmp_path, strategy, tag, cache_dir):
    play = tmp_path / f"play-{tag}.yml"
    play.write_text(PLAYBOOK.format(strategy=strategy))
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "objects.yml.j2").write_text(TEMPLATE)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), GOVERNED_ODOO_TEMPLATE_CACHE=str(cache_dir))
    res = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(play),
            "-e",
            f"tag={tag}",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return (tmp_path / f"out-{tag}.json").read_text()


@pytest.mark.skipif(not (Path(sys.executable).parent / "ansible-playbook").exists(), reason="needs ansible-playbook")
def test_cached_runs_render_exactly_what_the_builtin_strategy_renders(tmp_path):
    cache = tmp_path / "cache"
    builtin = run_play(tmp_path, "ansible.builtin.linear", "builtin", cache)
    assert not cache.exists()  # the builtin strategy does not use the cache
    cold = run_play(tmp_path, "governed.odoo.linear", "cold", cache)
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert entries, "the first run wrote no compiled templates"
    for p in entries[:5]:
        marshal.loads(p.read_bytes())  # each entry is a code object
    warm = run_play(tmp_path, "governed.odoo.linear", "warm", cache)
    assert builtin == cold == warm
    assert '"cm-1"' in builtin and '"value": "6"' in builtin and "new" in builtin


def test_a_damaged_cache_entry_is_compiled_again(tmp_path):
    pytest.importorskip("ansible._internal._templating._jinja_bits")
    code = (
        f"""
import os, sys
os.environ['GOVERNED_ODOO_TEMPLATE_CACHE'] = {str(tmp_path)!r}
sys.path.insert(0, {str(ROOT / "collections")!r})
from ansible_collections.governed.odoo.plugins.plugin_utils import template_cache
assert template_cache.install() and template_cache.install()
from ansible._internal._templating._jinja_bits import AnsibleEnvironment
env = AnsibleEnvironment()
first = env.compile('{{{{ 1 + 1 }}}} x')
paths = [os.path.join(r, f) for r, _d, fs in os.walk({str(tmp_path)!r}) for f in fs]
assert len(paths) == 1, paths
open(paths[0], 'wb').write(b'garbage')
"""
        + """
import importlib
template_cache._installed = False
AnsibleEnvironment.compile = AnsibleEnvironment.compile.__wrapped__
assert template_cache.install()
second = env.compile('{{ 1 + 1 }} x')
assert second.co_code == first.co_code
print('ok')
"""
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-3000:]
