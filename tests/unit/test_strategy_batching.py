"""Host batching in the governed.odoo.linear strategy: a play gives the same results, failures and recap as with the
builtin linear strategy, while the batchable tasks of all hosts run in as few workers as configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOSTS = [f"h{i}" for i in range(1, 6)]
PLAYBOOK = """
- hosts: all
  gather_facts: false
  strategy: {strategy}
  vars:
    rank: "{{{{ inventory_hostname[1:] | int }}}}"
  tasks:
    - name: Host-specific facts, one from a loop
      ansible.builtin.set_fact:
        double: "{{{{ rank | int * 2 }}}}"
        worker: "{{{{ lookup('ansible.builtin.pipe', 'echo $PPID') }}}}"
        squares: "{{{{ squares | default([]) + [item * rank | int] }}}}"
      loop: [1, 2, 3]

    - name: An argument check that fails on one host
      ansible.builtin.validate_argument_spec:
        argument_spec:
          double: {{type: int, choices: [2, 4, 6, 10]}}
      ignore_errors: true
      register: spec

    - name: A condition that skips some hosts
      ansible.builtin.debug:
        msg: "rank {{{{ rank }}}}"
      when: rank | int is odd
      register: shown

    - name: An include for some hosts
      ansible.builtin.include_tasks: included.yml
      when: rank | int < 3

    - name: An assertion that fails on one host
      ansible.builtin.assert:
        that: rank | int != 5
        fail_msg: "host {{{{ inventory_hostname }}}} refused"

    - name: Record what each remaining host saw
      ansible.builtin.copy:
        dest: "{{{{ out_dir }}}}/{{{{ inventory_hostname }}}}.json"
        content: "{{{{ {{'double': double, 'squares': squares, 'spec_failed': spec is failed,
                      'shown': shown is not skipped, 'included': included | default(false)}} | to_json }}}}"
        mode: "0600"

    - name: Collect the worker of the first task
      ansible.builtin.copy:
        dest: "{{{{ out_dir }}}}/{{{{ inventory_hostname }}}}.worker"
        content: "{{{{ worker }}}}"
        mode: "0600"
"""


def run(tmp_path, strategy, batching):
    out = tmp_path / f"{strategy}-{batching}"
    out.mkdir()
    play = out / "play.yml"
    play.write_text(PLAYBOOK.format(strategy=strategy))
    (out / "included.yml").write_text('- ansible.builtin.set_fact:\n    included: "{{ rank }}"\n')
    inventory = out / "inventory.json"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "hosts": {h: {} for h in HOSTS},
                    "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                }
            }
        )
    )
    env = dict(
        os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), GOVERNED_ODOO_HOST_BATCHING=batching, ANSIBLE_FORKS="10"
    )
    res = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            str(play),
            "-e",
            f"out_dir={out}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    recap = res.stdout.split("PLAY RECAP")[-1]
    facts = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("h*.json"))}
    workers = {p.stem: p.read_text() for p in sorted(out.glob("h*.worker"))}
    return res, recap, facts, workers


def test_batched_play_matches_the_builtin_strategy(tmp_path):
    base, base_recap, base_facts, base_workers = run(tmp_path, "ansible.builtin.linear", "off")
    res, recap, facts, workers = run(tmp_path, "governed.odoo.linear", "2")
    assert base.returncode == res.returncode == 2, res.stdout[-3000:] + res.stderr[-3000:]
    assert recap == base_recap
    assert facts == base_facts
    # h5 failed its assertion; h4 failed the argument check (double=8) but ignored it
    assert sorted(facts) == ["h1", "h2", "h3", "h4"]
    assert facts["h4"]["spec_failed"] and not facts["h1"]["spec_failed"]
    assert facts["h3"] == {"double": 6, "squares": [3, 6, 9], "spec_failed": False, "shown": True, "included": False}
    assert facts["h2"]["included"] == 2
    assert "host h5 refused" in res.stdout
    # the builtin strategy used a worker per host; batching shared two
    assert len(set(base_workers.values())) == 4
    assert len(set(workers.values())) <= 2


def test_batching_off_is_the_builtin_behaviour(tmp_path):
    res, _recap, facts, workers = run(tmp_path, "governed.odoo.linear", "off")
    assert res.returncode == 2
    assert len(facts) == 4
    assert len(set(workers.values())) == 4
