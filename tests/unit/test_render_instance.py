"""governed.odoo.render_instance: the roles' argument specs and render tasks in one task, with the same outcome.

site.yml renders every instance with one render_instance task instead of running the seven roles; this checks that
the facts are the ones the roles set, that the rendered objects are identical to the roles' for instances of the
example inventory, and that a role's argument spec still refuses, masking no_log values.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible_collections.governed.odoo.plugins.action import render_instance  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils import argspec  # noqa: E402
from ansible_collections.governed.odoo.plugins.module_utils.errors import mask  # noqa: E402

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
EXAMPLE = ROOT / "inventories" / "example-construction"
SITE_ROLES = ["foundation", "postgresql", "redis", "storage", "odoo", "ingress", "monitoring"]


def _render_tasks_file():
    # site.yml imports it; release_render.yml (promote.yml, rollback.yml) includes it with the release's image
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())[0]["tasks"]
    assert any(t.get("ansible.builtin.import_tasks") == "tasks/render_instance.yml" for t in site)
    release = yaml.safe_load((ROOT / "playbooks" / "tasks" / "release_render.yml").read_text())
    assert any(t.get("ansible.builtin.include_tasks") == "render_instance.yml" for t in release)
    return yaml.safe_load((ROOT / "playbooks" / "tasks" / "render_instance.yml").read_text())


def test_every_role_of_site_has_render_tasks():
    assert list(render_instance.RENDER_TASKS) == SITE_ROLES
    loader = DataLoader()
    for role in SITE_ROLES:
        tasks = render_instance.render_tasks(loader, role)
        assert tasks, role
        for name, args, _local in tasks:
            # the refusing key sorts first (test_filter_refuse checks its shape)
            assert min(args) == f"{role}_accepted", (role, name)


def test_site_keeps_every_fact_the_render_tasks_set():
    loader = DataLoader()
    expected = {
        key for role in SITE_ROLES for _n, args, _l in render_instance.render_tasks(loader, role) for key in args
    }
    # a follow-up task may be skipped (its condition): its fact is kept where it was set, left unset elsewhere
    conditional = {
        key for role in SITE_ROLES for _n, args, _l, _w in render_instance.follow_up_tasks(loader, role) for key in args
    }
    assert conditional == {"postgresql_declared"}
    tasks = _render_tasks_file()
    render = next(t for t in tasks if "governed.odoo.render_instance" in t)
    assert render["governed.odoo.render_instance"]["roles"] == SITE_ROLES
    keep = next(t for t in tasks if "ansible.builtin.set_fact" in t)
    assert keep.get("no_log") is True
    facts = keep["ansible.builtin.set_fact"]
    assert set(facts) == expected | conditional
    for key, value in facts.items():
        if key in conditional:
            assert value == f"{{{{ {render['register']}.facts.{key} | default(omit) }}}}"
        else:
            assert value == f"{{{{ {render['register']}.facts.{key} }}}}"


def test_site_provisions_with_the_declared_state_its_render_worked_out():
    # site.yml's provisioning runs create.yml alone; the role's provision.yml (restores) works it out first
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())[1]["tasks"]
    pg = next(t for t in site if t.get("ansible.builtin.import_role", {}).get("name") == "governed.odoo.postgresql")
    assert pg["ansible.builtin.import_role"]["tasks_from"] == "create.yml"
    provision = yaml.safe_load((ROOT / "roles" / "postgresql" / "tasks" / "provision.yml").read_text())
    assert [t["ansible.builtin.import_tasks"] for t in provision] == ["declared.yml", "create.yml"]
    assert render_instance.FOLLOW_UP_TASKS == {"postgresql": "declared.yml"}


def _same(ours, ansibles, where):
    # the same values, of the same plain types, and the same strings marked as templates (keys included)
    from ansible.template import is_trusted_as_template

    def kind(value):  # Ansible's values are tagged subclasses of these (origin)
        return next(t for t in (bool, int, float, str, dict, list, type(None), object) if isinstance(value, t))

    assert kind(ours) is kind(ansibles) is not object, where
    if isinstance(ours, dict):
        assert list(ours) == list(ansibles), where
        for (key, value), (their_key, their_value) in zip(ours.items(), ansibles.items(), strict=True):
            assert is_trusted_as_template(key) == is_trusted_as_template(their_key), (where, key)
            _same(value, their_value, f"{where}.{key}")
    elif isinstance(ours, list):
        assert len(ours) == len(ansibles), where
        for index, (value, their_value) in enumerate(zip(ours, ansibles, strict=True)):
            _same(value, their_value, f"{where}[{index}]")
    else:
        assert ours == ansibles, where
        if isinstance(ours, str):
            assert is_trusted_as_template(ours) == is_trusted_as_template(ansibles), where


def test_role_files_load_as_ansible_loads_them():
    # render_instance reads the role files with libyaml: the values and their trust are those of load_from_file
    loader = DataLoader()
    seen = 0
    for role in SITE_ROLES:
        base = ROOT / "roles" / role
        files = [(base / kind / "main.yml", True) for kind in ("defaults", "vars")]
        files += [(base / "tasks" / render_instance.RENDER_TASKS[role], True)]
        if role in render_instance.FOLLOW_UP_TASKS:
            files += [(base / "tasks" / render_instance.FOLLOW_UP_TASKS[role], True)]
        files += [(base / "meta" / "argument_specs.yml", False)]
        for path, templates in files:
            if not path.is_file():
                continue
            ours = render_instance.load_role_file(loader, path, templates=templates)
            ansibles = loader.load_from_file(str(path), cache="none", trusted_as_template=templates)
            _same(ours, ansibles, str(path.relative_to(ROOT)))
            seen += 1
    assert seen >= 3 * len(SITE_ROLES)


def test_only_option_values_the_render_tasks_would_template_alike_are_kept():
    # the check's templated values stand in for the variables only where a render task would get the same value
    from collections import ChainMap

    raw = {
        "instance": "{{ tenant }}-{{ env }}",
        "namespace": "erp-{{ instance }}",
        "tenant": "civil",
        "env": "dev",
        "database": "{{ instance | replace('-', '_') }}_{{ suffix }}",  # suffix: set by a render task (below)
        "image": "{{ registry }}/odoo",  # registry: a task's vars override it
        "secret": "{{ lookup('ansible.builtin.env', 'X') }}",
        "rules": "{{ lookup('governed.odoo.rules', 'odoo') }}",  # a lookup may read any variable
        "token": "{{ 99 | random }}",
        "nested": {"a": ["{{ namespace }}"]},
        "loop": "{{ loop2 }}",
        "loop2": "{{ loop }}",
        "connection": "{{ tenant }}",
    }
    facts = {"connection": "set by a role before"}
    variables = ChainMap(facts, raw)
    values = {name: f"templated {name}" for name in raw}
    kept = render_instance.stable_values(values, variables, (facts,), {"suffix", "registry"})
    assert set(kept) == {"instance", "namespace", "tenant", "env", "secret", "nested", "loop", "loop2"}
    assert kept["namespace"] == "templated namespace"
    tasks = [("t", {"suffix": "x", "objects": "y"}, {"registry": "z"})]
    assert render_instance.changing_names(tasks) == {"suffix", "objects", "registry"}


def test_a_task_var_is_templated_once_unless_it_fails_or_looks_up():
    from ansible.template import Templar, trust_as_template

    local = {
        "plain": trust_as_template("{{ tenant }}-x"),
        "failing": trust_as_template("{{ nosuch }}"),
        "looking_up": trust_as_template("{{ lookup('governed.odoo.rules', 'odoo') }}"),
    }
    templar = Templar(loader=DataLoader(), variables={"tenant": "civil", **local})
    settled = render_instance.ActionModule._settle(templar, local)
    assert settled == {"plain": "civil-x", "failing": local["failing"], "looking_up": local["looking_up"]}


def test_a_task_that_is_not_a_plain_set_fact_is_refused(tmp_path, monkeypatch):
    role = tmp_path / "roles" / "redis" / "tasks"
    role.mkdir(parents=True)
    (role / "main.yml").write_text("- name: x\n  ansible.builtin.set_fact: {a: 1}\n  when: true\n")
    monkeypatch.setattr(render_instance, "COLLECTION_ROOT", tmp_path)
    with pytest.raises(Exception, match=r"is not a plain ansible.builtin.set_fact task \(when\)"):
        render_instance.render_tasks(DataLoader(), "redis")


def test_a_follow_up_task_may_carry_a_condition_and_nothing_else(tmp_path, monkeypatch):
    role = tmp_path / "roles" / "postgresql" / "tasks"
    role.mkdir(parents=True)
    (role / "declared.yml").write_text(
        "- name: x\n  ansible.builtin.set_fact: {a: 1}\n  when: b == 'external'\n  no_log: true\n"
        "- name: y\n  ansible.builtin.set_fact: {c: 2}\n  when: [d, e]\n"
    )
    monkeypatch.setattr(render_instance, "COLLECTION_ROOT", tmp_path)
    tasks = render_instance.follow_up_tasks(DataLoader(), "postgresql")
    assert [(n, a, w) for n, a, _l, w in tasks] == [("x", {"a": 1}, ["b == 'external'"]), ("y", {"c": 2}, ["d", "e"])]
    assert render_instance.follow_up_tasks(DataLoader(), "redis") == []
    (role / "declared.yml").write_text("- name: x\n  ansible.builtin.set_fact: {a: 1}\n  loop: [1]\n")
    with pytest.raises(Exception, match=r"is not a plain ansible.builtin.set_fact task \(loop\)"):
        render_instance.follow_up_tasks(DataLoader(), "postgresql")


def test_no_log_values_are_masked():
    options = {"a": {"type": "str", "no_log": True}, "b": {"type": "dict", "options": {"c": {"no_log": True}}}}
    found = argspec.secret_values(options, {"a": "s3cr3t-one", "b": {"c": "s3cr3t-two"}})
    assert found == {"s3cr3t-one", "s3cr3t-two"}
    assert mask("x s3cr3t-one y s3cr3t-two", found, shortest=3) == "x ******** y ********"
    # a value too short to mask without masking the words
    assert mask("a b", {"a"}, shortest=3) == "a b"
    # the validator's own messages carry both values (a choice not offered, a string that is not a number)
    options["a"]["choices"] = ["x"]
    options["b"]["options"]["c"]["type"] = "int"
    problems = argspec.problems(options, {"a": "s3cr3t-one", "b": {"c": "s3cr3t-two"}})
    assert len(problems) == 2 and not any("s3cr3t" in m for m in problems), problems


# --- the same objects as the roles ------------------------------------------------------------------------------

PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Read the connection limits
      ansible.builtin.import_role:
        name: governed.odoo.postgresql
        tasks_from: preflight.yml
    - name: Write what the roles set
      ansible.builtin.include_tasks: {tasks}
    - name: Write the facts
      ansible.builtin.copy:
        dest: "{{{{ out_dir }}}}/{{{{ inventory_hostname }}}}.json"
        content: "{{{{ dict(keys | zip(query('ansible.builtin.vars', *keys))) | to_json }}}}"
        mode: "0600"
      vars:
        keys: {keys}
      delegate_to: localhost
"""
ROLES_TASKS = "\n".join(
    f"- name: {r}\n  ansible.builtin.include_role:\n    name: governed.odoo.{r}\n    public: true" for r in SITE_ROLES
)
PLUGIN_TASKS = f"""
- name: render
  governed.odoo.render_instance:
    roles: {SITE_ROLES}
  register: rendered
- name: keep
  ansible.builtin.set_fact:
    facts_of_the_plugin: "{{{{ rendered.facts }}}}"
"""


def _example_env():
    """The example inventory's secrets (from the environment), fixed for this test."""
    names = ["CONSTRUCTION_NONPROD_PG_ADMIN_PASSWORD"]
    for env in ("DEV", "QA", "STAGING", "UAT", "TRAINING", "PROD"):
        names += [f"CONSTRUCTION_{env}_S3_ACCESS_KEY", f"CONSTRUCTION_{env}_S3_SECRET_KEY"]
    for host in ("civil-dev", "civil-prod", "building-qa"):
        prefix = "CONSTRUCTION_" + host.upper().replace("-", "_") + "_"
        names += [
            prefix + s
            for s in (
                "ODOO_ADMIN_PASSWORD",
                "POSTGRESQL_APP_PASSWORD",
                "POSTGRESQL_REPORTING_PASSWORD",
                "POSTGRESQL_SUPERUSER_PASSWORD",
                "POSTGRESQL_REPLICATION_PASSWORD",
                "REDIS_PASSWORD",
            )
        ]
    return {n: hashlib.sha256(n.encode()).hexdigest()[:32] for n in names}


def _run(tmp_path, name, tasks, keys, *extra):
    out = tmp_path / name
    out.mkdir()
    (tmp_path / f"{name}-tasks.yml").write_text(tasks)
    (tmp_path / f"{name}.yml").write_text(PLAY.format(tasks=tmp_path / f"{name}-tasks.yml", keys=json.dumps(keys)))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", **_example_env())
    res = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            str(EXAMPLE),
            "--limit",
            "civil-dev,civil-prod,building-qa",
            str(tmp_path / f"{name}.yml"),
            "-e",
            json.dumps({"out_dir": str(out), "monitoring_crds_present": True, "postgresql_placement": "in_cluster"}),
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return res, out


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="needs ansible-playbook")
def test_the_same_facts_and_objects_as_the_roles(tmp_path):
    loader = DataLoader()
    keys = sorted(k for role in SITE_ROLES for _n, args, _l in render_instance.render_tasks(loader, role) for k in args)
    roles, roles_out = _run(tmp_path, "roles", ROLES_TASKS, keys)
    assert roles.returncode == 0, roles.stdout[-3000:] + roles.stderr[-3000:]
    plugin, plugin_out = _run(tmp_path, "plugin", PLUGIN_TASKS, ["facts_of_the_plugin"])
    assert plugin.returncode == 0, plugin.stdout[-3000:] + plugin.stderr[-3000:]
    assert "DEPRECATION" not in plugin.stdout + plugin.stderr
    for host in ("civil-dev", "civil-prod", "building-qa"):
        by_roles = json.loads((roles_out / f"{host}.json").read_text())
        by_plugin = json.loads((plugin_out / f"{host}.json").read_text())["facts_of_the_plugin"]
        assert set(by_plugin) == set(keys)
        for key in keys:
            assert by_plugin[key] == by_roles[key], f"{host}: {key} differs"
        # the objects are really there (a JSON array each), and the instance's own
        objects = [o for k in keys if k.endswith("_objects") for o in json.loads(by_plugin[k])]
        assert len(objects) > 30 and any(o["kind"] == "Deployment" for o in objects)
        assert {o["metadata"].get("namespace", o["metadata"]["name"]) for o in objects} == {f"erp-{host}"}
    # the result holding the Secrets is censored
    assert hashlib.sha256(b"CONSTRUCTION_CIVIL_DEV_REDIS_PASSWORD").hexdigest()[:32] not in plugin.stdout


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="needs ansible-playbook")
def test_a_role_argument_spec_still_refuses_and_masks_secrets(tmp_path):
    secret = "not-a-choice-but-secret-1234"
    res, out = _run(
        tmp_path,
        "plugin",
        PLUGIN_TASKS,
        ["facts_of_the_plugin"],
        "-e",
        json.dumps({"redis_placement": "elsewhere", "redis_password": secret}),
    )
    text = res.stdout + res.stderr
    assert res.returncode != 0
    assert "governed.odoo.redis: Validation of arguments failed" in text, text[-3000:]
    assert "redis_placement" in text and "elsewhere" in text, text[-3000:]
    assert secret not in text, text[-3000:]
    assert not list(out.iterdir())


@pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="needs ansible-playbook")
def test_a_release_renders_its_own_image_through_the_same_renderer(tmp_path):
    # promote.yml and rollback.yml render through release_render.yml: the instance's objects with the release's image,
    # and the inventory's image again for the tasks after it
    image = "registry.example.org/odoo@sha256:" + "5e" * 32
    tasks = f"""
- name: render the release
  ansible.builtin.include_tasks: {ROOT / "playbooks" / "tasks" / "release_render.yml"}
  vars:
    release_render_image: {image}
- name: keep
  ansible.builtin.set_fact:
    release_web_images: "{{{{ (odoo_objects | from_json | selectattr('kind', 'eq', 'Deployment')
      | map(attribute='spec.template.spec.containers') | flatten | map(attribute='image') | list) }}}}"
    release_sets: "{{{{ release_rendered_objects | length }}}}"
    inventory_image_after: "{{{{ odoo_image }}}}"
"""
    res, out = _run(tmp_path, "release", tasks, ["release_web_images", "release_sets", "inventory_image_after"])
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for host in ("civil-dev", "civil-prod", "building-qa"):
        facts = json.loads((out / f"{host}.json").read_text())
        assert facts["release_web_images"] and set(facts["release_web_images"]) == {image}, facts
        assert int(facts["release_sets"]) == len(SITE_ROLES)
        assert facts["inventory_image_after"] != image
