"""Unit tests of the refuse filter (plugins/filter/refuse.py) and of the render tasks that use it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.governed.odoo.plugins.filter import refuse  # noqa: E402

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


@pytest.mark.parametrize("errors", [[], ()])
def test_no_problems_pass(errors):
    assert refuse.refuse(errors) is True


def test_one_problem_is_the_message():
    with pytest.raises(AnsibleFilterError) as caught:
        refuse.refuse(["redis_password must be set and at least 16 characters long"])
    assert caught.value.message == "redis_password must be set and at least 16 characters long"


def test_every_problem_is_reported_in_order():
    problems = ["odoo_max_cron_threads=0 must be at least 1", "odoo_web_replicas=0 must be at least 1"]
    with pytest.raises(AnsibleFilterError) as caught:
        refuse.refuse(problems)
    assert caught.value.message == "odoo_max_cron_threads=0 must be at least 1; odoo_web_replicas=0 must be at least 1"


def test_problems_that_are_not_strings_are_shown_as_text():
    with pytest.raises(AnsibleFilterError) as caught:
        refuse.refuse(["odoo_workers=-1 is negative", 42])
    assert caught.value.message == "odoo_workers=-1 is negative; 42"


@pytest.mark.parametrize("value", [None, "redis_password is short", b"x", {"a": 1}, 0, True])
def test_anything_but_a_list_is_refused_as_a_misuse(value):
    with pytest.raises(AnsibleFilterError, match=r"^refuse: expected a list of problems, got "):
        refuse.refuse(value)


def test_filter_is_registered():
    assert refuse.FilterModule().filters() == {"refuse": refuse.refuse}


# --- the render tasks of the roles ------------------------------------------------------------


REFUSERS = ("governed.odoo.refuse", "governed.odoo.rules")


def _refusing_tasks():
    """(file, task) of every set_fact task in roles/*/tasks that refuses: with the rule package's lookup
    (governed.odoo.rules) and/or the governed.odoo.refuse filter."""
    found = []
    for path in sorted(ROOT.glob("roles/*/tasks/*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            args = task.get("ansible.builtin.set_fact")
            if isinstance(args, dict) and any(r in json.dumps(args) for r in REFUSERS):
                found.append((str(path.relative_to(ROOT)), task))
    return found


def test_every_role_that_renders_refuses_in_its_render_task():
    roles = {where.split("/")[1] for where, task in _refusing_tasks()}
    assert roles == {"foundation", "postgresql", "redis", "storage", "odoo", "ingress", "monitoring", "backup"}


@pytest.mark.parametrize("where, task", _refusing_tasks(), ids=lambda value: value if isinstance(value, str) else "")
def test_the_refusal_is_templated_before_anything_else(where, task):
    """ansible-core 2.19 templates set_fact keys in sorted order, older cores in written order: first both ways."""
    keys = [key for key in task["ansible.builtin.set_fact"] if key != "cacheable"]
    args = task["ansible.builtin.set_fact"]
    refusing = [key for key in keys if any(r in json.dumps(args[key]) for r in REFUSERS)]
    assert refusing == [keys[0]], f"{where}: {task['name']}: the refusal must be the first key, not {refusing}"
    assert keys[0] == min(keys), f"{where}: {task['name']}: {keys[0]} must also sort before {min(keys)}"
    # the layer's rules (the governed.odoo.rules lookup), then what is left in Jinja (a list of errors), or both
    match = re.fullmatch(
        r"\{\{ (?P<rules>\(?'(?P<layer>\w+)' in governed_odoo_rules\.rules_checked \| default\(\[\]\) or "
        r"lookup\('governed\.odoo\.rules'(?:, '\w+')+\)\)?|lookup\('governed\.odoo\.rules'(?:, '\w+')+\)"
        # after check_instances passed the layer, only the rule that reads what the role itself looks up
        r"|lookup\('governed\.odoo\.rules', '(?P<rule>\w+\.\w+)' if '(?P<checked>\w+)' in "
        r"governed_odoo_rules\.rules_checked \| default\(\[\]\) else '(?P<otherwise>\w+)'\))?"
        r"(?: and )?(?:(?P<errors>\w+_errors) \| governed\.odoo\.refuse)? \}\}",
        " ".join(args[keys[0]].split()),
    )
    if match and match.group("rule"):
        role = where.split("/")[1]
        assert match.group("checked") == match.group("otherwise") == role, f"{where}: {task['name']}"
        assert match.group("rule").startswith(f"{role}."), f"{where}: {task['name']}"
    assert match and (match.group("rules") or match.group("errors")), f"{where}: {task['name']}: refuse with the rules"
    if match.group("rules") and match.group("errors"):
        assert " and " in args[keys[0]], f"{where}: {task['name']}"
    if match.group("layer"):
        # skipped only for the role's own layer, after check_instances evaluated it
        assert match.group("layer") == where.split("/")[1], f"{where}: {task['name']}"
    if match.group("errors"):
        errors = match.group("errors")
        assert errors in task.get("vars", {}), f"{where}: {task['name']}: {errors} is not a var of the task"


# Roles whose checks all live in the rule package: no Jinja list of errors is left in their render task
PORTED = {"foundation", "postgresql"}


def test_ported_roles_refuse_with_the_rule_package_only():
    for where, task in _refusing_tasks():
        if where.split("/")[1] in PORTED:
            first = next(iter(task["ansible.builtin.set_fact"].values()))
            assert "governed.odoo.refuse" not in first and "_errors" not in json.dumps(task.get("vars", {})), where
            assert "e.append" not in json.dumps(task), where


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the demo inputs, then render
      ansible.builtin.set_fact:
        demo_accepted: "{{ demo_errors | governed.odoo.refuse }}"
        demo_objects: "{{ demo_input.secret.value }}"
      no_log: true
      vars:
        demo_errors: >-
          {{ [] if demo_input.ok
             else ['demo_input.ok must be true', 'demo_input.name=' ~ demo_input.name ~ ' is bad'] }}

    - name: Show what was rendered
      ansible.builtin.debug:
        msg: "rendered {{ demo_objects }}"
"""


def _play(tmp_path, demo_input):
    play = tmp_path / "play.yml"
    play.write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-v",
            str(play),
            "-e",
            json.dumps({"demo_input": demo_input, "ansible_python_interpreter": sys.executable}),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="needs ansible-playbook")
def test_a_refused_task_shows_every_problem_before_templating_the_rest(tmp_path):
    """Even with no_log (ansible-core 2.19 prints the error of a no_log task, censoring only its result)."""
    res = _play(tmp_path, {"ok": False, "name": "X"})
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "demo_input.ok must be true; demo_input.name=X is bad" in out, out[-3000:]
    # the other key would have failed on the missing secret, had it been templated first
    assert "secret" not in out.replace("demo_input.secret.value", ""), out[-3000:]
    assert "rendered" not in res.stdout


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="needs ansible-playbook")
def test_an_accepted_task_renders_under_no_log(tmp_path):
    res = _play(tmp_path, {"ok": True, "name": "demo", "secret": {"value": "s3cr3t-value"}})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "rendered s3cr3t-value" in res.stdout
    # the set_fact result (which holds the secret) is censored
    set_fact_output = res.stdout.split("TASK [Show what was rendered]")[0]
    assert "s3cr3t-value" not in set_fact_output
    assert "censored" in set_fact_output


# --- odoo.conf refuses what would break its lines, even when the rules were not asked first ---------------------

ODOO_CONF_PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    governed_odoo_instance: civil-dev
    postgresql_connection: {secret_name: odoo-db, database: civil_dev, ssl_mode: disable}
    odoo_addons_path: [/mnt/extra-addons]
    odoo_dbfilter: ^civil_dev$
    odoo_db_maxconn: 8
    odoo_proxy_mode: true
    odoo_workers: 2
    odoo_max_cron_threads: 1
    odoo_limit_memory_soft: 1
    odoo_limit_memory_hard: 2
    odoo_limit_time_cpu: 60
    odoo_limit_time_real: 120
    odoo_limit_time_real_cron: 0
    odoo_limit_request: 100
    odoo_server_wide_modules: [base, web]
    odoo_reserved_options: [db_host, admin_passwd]
  tasks:
    - name: Render with each set of extra options
      ansible.builtin.set_fact:
        conf: "{{ lookup('governed.odoo.manifests', 'odoo.conf', output='text') }}"
      vars:
        odoo_extra_options: "{{ item }}"
      loop: "{{ cases }}"
      register: rendered
      ignore_errors: true
    - name: Write what each gave
      ansible.builtin.copy:
        dest: "{{ playbook_dir }}/out.json"
        content: "{{ rendered.results | map(attribute='ansible_facts', default={}) | list | to_json }}"
        mode: "0600"
"""


def test_odoo_conf_never_writes_an_option_that_breaks_its_lines(tmp_path):
    (tmp_path / "play.yml").write_text(ODOO_CONF_PLAY)
    cases = [
        {"log_level": "debug"},
        {"log_level": "info\ndb_host = evil.example"},
        {"DB_HOST": "evil.example"},
        {"log_level\ndb_host": "evil.example"},
        {"log_level\n": "debug"},
    ]
    res = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(tmp_path / "play.yml"),
            "-e",
            json.dumps({"cases": cases, "ansible_python_interpreter": sys.executable}),
        ],
        env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert "log_level = debug" in out[0]["conf"]
    # the others were refused, and no line of any of them set db_host
    assert out[1:] == [{}, {}, {}, {}], out
    assert res.stdout.count("failed: [localhost] (item=") == 4, res.stdout[-3000:]
    assert "cannot be written into odoo.conf" in res.stdout, res.stdout[-3000:]
