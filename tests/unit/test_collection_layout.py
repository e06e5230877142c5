# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the collection's layout that no linter makes.

Each check_* function takes the root of a collection tree and returns a list of problems (empty
when all is well), so the same function runs against this checkout and, in the tests at the end,
against small broken trees built in tmp_path to prove that it catches what it claims to catch.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

NAMESPACE = "governed"
NAME = "odoo"
ACTION_GROUP = "all"

# Modules that meta/runtime.yml lists in the action group before they exist (ansible-core skips
# group members it cannot find). A listed module that is neither present nor planned is an error;
# once all of these exist, this set can be emptied.
PLANNED_MODULES = frozenset({"backup", "backup_retention", "backup_verify", "k8s_apply_set", "restore"})

# Shared connection options: doc fragment <-> argument spec function in module_utils/common_args.py.
SHARED_OPTION_SETS = {
    "kubernetes": "kubernetes_argument_spec",
    "postgres": "postgres_argument_spec",
    "s3": "s3_argument_spec",
}


def _load_yaml(path):
    with open(path, encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def _rel(root, path):
    return str(Path(path).relative_to(root))


# --- galaxy.yml ------------------------------------------------------------------------------


def check_galaxy(root):
    root = Path(root)
    path = root / "galaxy.yml"
    if not path.is_file():
        return ["galaxy.yml: missing"]
    galaxy = _load_yaml(path)
    problems = []
    if galaxy.get("namespace") != NAMESPACE or galaxy.get("name") != NAME:
        problems.append(
            f"galaxy.yml: collection is {galaxy.get('namespace')}.{galaxy.get('name')}, expected {NAMESPACE}.{NAME}"
        )
    try:
        Version(str(galaxy.get("version")))
    except ValueError:
        problems.append(f"galaxy.yml: version {galaxy.get('version')!r} is not a version number")
    readme = galaxy.get("readme")
    if not readme or not (root / readme).is_file():
        problems.append(f"galaxy.yml: readme {readme!r} does not exist")
    for dependency, spec in (galaxy.get("dependencies") or {}).items():
        try:
            SpecifierSet(str(spec))
        except ValueError:
            problems.append(f"galaxy.yml: dependency {dependency}: {spec!r} is not a version range")
    return problems


# --- meta/runtime.yml and plugins/modules ----------------------------------------------------


def module_names(root):
    modules = Path(root) / "plugins" / "modules"
    if not modules.is_dir():
        return set()
    return {p.stem for p in modules.glob("*.py") if p.name != "__init__.py"}


def module_fragments(path):
    """The governed.odoo doc fragments a module extends, read from its DOCUMENTATION without importing it."""
    for node in ast.parse(Path(path).read_text(encoding="utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(target, ast.Name) and target.id == "DOCUMENTATION" for target in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            try:
                doc = yaml.safe_load(node.value.value) or {}
            except yaml.YAMLError as error:
                raise ValueError(f"DOCUMENTATION is not valid YAML: {error}") from error
            fragments = doc.get("extends_documentation_fragment") or []
            if isinstance(fragments, str):
                fragments = [fragments]
            prefix = f"{NAMESPACE}.{NAME}."
            return {f.removeprefix(prefix) for f in fragments if f.startswith(prefix)}
    return set()


def _group_members(group):
    prefix = f"{NAMESPACE}.{NAME}."
    members = set()
    for entry in group or []:
        if not isinstance(entry, str):
            continue  # the optional metadata dict (extend_group)
        if "." in entry and not entry.startswith(prefix):
            continue  # a module of another collection
        members.add(entry.removeprefix(prefix))
    return members


# versions on both sides of every bound a requires_ansible range could plausibly have
_CORE_PROBES = [f"2.{minor}.{patch}" for minor in range(15, 30) for patch in (0, 99)]


def core_range_tested(root):
    """The ansible-core specifier of pyproject.toml's dependencies (what the tests install), or None."""
    path = Path(root) / "pyproject.toml"
    if not path.is_file():
        return None
    deps = tomllib.loads(path.read_text())["project"]["dependencies"]
    for dep in deps:
        if dep.replace(" ", "").startswith("ansible-core"):
            return SpecifierSet(dep.replace(" ", "").removeprefix("ansible-core"))
    return None


def check_runtime(root, planned=PLANNED_MODULES):
    """requires_ansible is the range of ansible-core the tests run on; the action groups match the modules.

    Group `all` lists every module. Groups `kubernetes`, `postgres` and `s3` list exactly the
    modules that take the options of the doc fragment of that name: module_defaults passes every
    default of a group to every member, and a module that lacks one of those options fails.
    """
    root = Path(root)
    path = root / "meta" / "runtime.yml"
    if not path.is_file():
        return ["meta/runtime.yml: missing"]
    runtime = _load_yaml(path) or {}
    problems = []

    requires = runtime.get("requires_ansible")
    try:
        specifier = SpecifierSet(str(requires))
    except ValueError:
        problems.append(f"meta/runtime.yml: requires_ansible {requires!r} is not a version range")
    else:
        tested = core_range_tested(root)
        if tested is not None and any((v in specifier) != (v in tested) for v in _CORE_PROBES):
            problems.append(
                f"meta/runtime.yml: requires_ansible {requires!r} differs from the ansible-core the tests run on"
                f" ({tested} in pyproject.toml)"
            )

    groups = runtime.get("action_groups") or {}
    present = module_names(root)
    fragments = {}
    for name in sorted(present):
        try:
            fragments[name] = module_fragments(root / "plugins" / "modules" / f"{name}.py")
        except (SyntaxError, ValueError) as error:
            problems.append(f"plugins/modules/{name}.py: {error}")
            fragments[name] = set()
    expected = {ACTION_GROUP: set(present)}
    for group_name in SHARED_OPTION_SETS:
        expected[group_name] = {name for name, used in fragments.items() if group_name in used}

    for group_name, should_list in expected.items():
        if group_name not in groups:
            problems.append(f"meta/runtime.yml: action_groups has no group {group_name!r}")
            continue
        listed = _group_members(groups[group_name])
        problems += [
            f"plugins/modules/{name}.py: not listed in meta/runtime.yml action_groups.{group_name}"
            for name in sorted(should_list - listed)
        ]
        problems += [
            f"meta/runtime.yml: action_groups.{group_name} lists {name}, which does not extend the "
            f"{NAMESPACE}.{NAME}.{group_name} doc fragment"
            for name in sorted((listed & present) - should_list)
        ]
        problems += [
            f"meta/runtime.yml: action_groups.{group_name} lists {name}, which is neither in plugins/modules "
            f"nor planned"
            for name in sorted(listed - present - set(planned))
        ]
    return problems


# --- roles: meta/argument_specs.yml <-> defaults/main.yml ------------------------------------


def role_dirs(root):
    roles = Path(root) / "roles"
    if not roles.is_dir():
        return []
    return sorted(p for p in roles.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_role(role):
    role = Path(role)
    specs_path = role / "meta" / "argument_specs.yml"
    defaults_path = role / "defaults" / "main.yml"
    name = role.name
    problems = []
    if not specs_path.is_file():
        problems.append(f"roles/{name}: meta/argument_specs.yml missing")
    if not defaults_path.is_file():
        problems.append(f"roles/{name}: defaults/main.yml missing")
    if problems:
        return problems

    specs = (_load_yaml(specs_path) or {}).get("argument_specs")
    if not isinstance(specs, dict) or not specs:
        return [f"roles/{name}: meta/argument_specs.yml has no argument_specs entry points"]
    defaults = _load_yaml(defaults_path) or {}
    if not isinstance(defaults, dict):
        return [f"roles/{name}: defaults/main.yml is not a mapping"]

    for entry_point in specs:
        if entry_point != "main" and not (role / "tasks" / f"{entry_point}.yml").is_file():
            problems.append(f"roles/{name}: argument_specs entry point {entry_point!r} has no tasks/{entry_point}.yml")
    if (role / "tasks" / "main.yml").is_file() and "main" not in specs:
        problems.append(f"roles/{name}: tasks/main.yml exists but argument_specs has no 'main' entry point")

    # defaults/main.yml applies to every entry point, so an option may be specified in any of them.
    options = {}
    for entry_point, spec in specs.items():
        for option, option_spec in ((spec or {}).get("options") or {}).items():
            options.setdefault(option, (entry_point, option_spec or {}))

    for key in sorted(set(defaults) - set(options)):
        problems.append(f"roles/{name}: defaults/main.yml sets {key}, which meta/argument_specs.yml does not specify")
    for option, (entry_point, option_spec) in sorted(options.items()):
        required = bool(option_spec.get("required", False))
        if required and option in defaults:
            problems.append(
                f"roles/{name}: {option} is required in argument_specs.{entry_point} but defaults/main.yml sets it, "
                f"so it is always defined (drop the default or the requirement)"
            )
        elif not required and option not in defaults and option.startswith(f"{name}_"):
            # Options named for another role or for the whole collection (foundation_network,
            # governed_odoo_netplan) are inputs another role or the inventory provides; a role
            # defaults only its own variables.
            problems.append(
                f"roles/{name}: {option} (argument_specs.{entry_point}) is neither required nor set in "
                f"defaults/main.yml (give it a default there, null if it has none, or make it required)"
            )
        elif "default" in option_spec and option in defaults and option_spec["default"] != defaults[option]:
            problems.append(
                f"roles/{name}: {option}: argument_specs.{entry_point} documents default {option_spec['default']!r}, "
                f"defaults/main.yml sets {defaults[option]!r}"
            )
    return problems


def check_roles(root):
    return [problem for role in role_dirs(root) for problem in check_role(role)]


# --- playbooks -------------------------------------------------------------------------------


def playbook_paths(root):
    playbooks = Path(root) / "playbooks"
    if not playbooks.is_dir():
        return []
    return sorted(p for p in playbooks.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml"))


def check_playbook_structure(root):
    """Every playbooks/*.yml is YAML holding a list of plays or playbook imports."""
    root = Path(root)
    problems = []
    for path in playbook_paths(root):
        rel = _rel(root, path)
        try:
            plays = _load_yaml(path)
        except yaml.YAMLError as error:
            problems.append(f"{rel}: not valid YAML: {error}")
            continue
        if not isinstance(plays, list) or not plays:
            problems.append(f"{rel}: not a list of plays")
            continue
        for index, play in enumerate(plays):
            if not isinstance(play, dict):
                problems.append(f"{rel}: item {index} is not a mapping")
            elif not ({"hosts", "import_playbook", "ansible.builtin.import_playbook"} & set(play)):
                problems.append(f"{rel}: item {index} has neither hosts nor import_playbook")
    return problems


def check_playbook_syntax(root):
    """ansible-playbook --syntax-check on all playbooks at once: modules, roles and imports resolve."""
    root = Path(root)
    paths = playbook_paths(root)
    if not paths:
        return []
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    env = dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        [str(ansible_playbook), "--syntax-check", *map(str, paths)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return [f"ansible-playbook --syntax-check failed:\n{result.stdout}\n{result.stderr}"]
    return []


# --- requirements.yml ------------------------------------------------------------------------


def _requirement_versions(path):
    return {item["name"]: str(item.get("version", "*")) for item in (_load_yaml(path) or {}).get("collections", [])}


def _lower_bound(spec):
    bounds = [Version(s.version) for s in SpecifierSet(spec) if s.operator in (">=", "==")]
    return max(bounds) if bounds else None


def check_requirements(root):
    root = Path(root)
    top, awx = root / "requirements.yml", root / "collections" / "requirements.yml"
    for path in (top, awx):
        if not path.is_file():
            return [f"{_rel(root, path)}: missing"]
    problems = []
    if top.read_bytes() != awx.read_bytes():
        problems.append("collections/requirements.yml differs from requirements.yml (AWX reads the former)")
    required = _requirement_versions(top)
    dependencies = _load_yaml(root / "galaxy.yml").get("dependencies") or {}
    for name, spec in dependencies.items():
        if name not in required:
            problems.append(f"requirements.yml: galaxy.yml dependency {name} is missing")
        elif _lower_bound(required[name]) != _lower_bound(str(spec)):
            problems.append(
                f"requirements.yml: {name} {required[name]} and galaxy.yml {spec} disagree on the lower bound"
            )
    return problems


# --- shared connection options: doc fragments <-> module_utils/common_args.py ----------------


def _load_source(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_shared_options(root):
    root = Path(root)
    common_args = _load_source(root / "plugins" / "module_utils" / "common_args.py", "_governed_odoo_common_args")
    problems = []
    seen = {}
    for fragment_name, function_name in SHARED_OPTION_SETS.items():
        fragment_path = root / "plugins" / "doc_fragments" / f"{fragment_name}.py"
        fragment = _load_source(fragment_path, f"_governed_odoo_fragment_{fragment_name}")
        documented = yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]
        spec = getattr(common_args, function_name)()
        where = f"doc fragment {fragment_name} / {function_name}()"
        if set(documented) != set(spec):
            problems.append(f"{where}: options differ: {sorted(set(documented) ^ set(spec))}")
        for option in sorted(set(documented) & set(spec)):
            doc, arg = documented[option], spec[option]
            for field, doc_value, arg_value in (
                ("type", doc.get("type", "str"), arg.get("type", "str")),
                ("default", doc.get("default"), arg.get("default")),
                ("required", doc.get("required", False), arg.get("required", False)),
                ("choices", doc.get("choices"), arg.get("choices")),
                ("aliases", sorted(doc.get("aliases", [])), sorted(arg.get("aliases", []))),
            ):
                if doc_value != arg_value:
                    problems.append(f"{where}: {option}.{field}: documented {doc_value!r}, spec {arg_value!r}")
            if re.search(r"password|secret|token|api_key", option) and not arg.get("no_log"):
                problems.append(f"{where}: {option} looks like a secret but has no no_log=True")
        # One module may combine the three sets, so their names and aliases must not collide.
        for option, arg in spec.items():
            for name in (option, *arg.get("aliases", [])):
                if name in seen and seen[name] != fragment_name:
                    problems.append(f"option {name} is defined by both {seen[name]} and {fragment_name}")
                seen[name] = fragment_name
    return problems


# --- the checks, against this checkout -------------------------------------------------------


def _assert_none(problems):
    assert not problems, "\n".join(problems)


def test_galaxy():
    _assert_none(check_galaxy(ROOT))


def test_runtime_lists_every_module():
    _assert_none(check_runtime(ROOT))


def test_roles_specs_match_defaults():
    _assert_none(check_roles(ROOT))


def test_playbooks_are_plays():
    _assert_none(check_playbook_structure(ROOT))


def test_playbooks_pass_syntax_check():
    _assert_none(check_playbook_syntax(ROOT))


def test_requirements_agree():
    _assert_none(check_requirements(ROOT))


def test_shared_options_match_fragments():
    _assert_none(check_shared_options(ROOT))


# --- the checkers catch what they claim to ---------------------------------------------------


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _runtime(requires="'>=2.17.0'", **groups):
    lines = [f"requires_ansible: {requires}", "action_groups:"]
    lines += [f"  {group}: {groups.get(group, '[]')}" for group in (ACTION_GROUP, *SHARED_OPTION_SETS)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def tree(tmp_path):
    """A minimal valid collection tree: galaxy.yml, README, meta/runtime.yml, empty roles/."""
    _write(tmp_path / "galaxy.yml", "namespace: governed\nname: odoo\nversion: 0.1.0\nreadme: README.md\n")
    _write(tmp_path / "README.md", "# governed.odoo\n")
    _write(tmp_path / "meta" / "runtime.yml", _runtime())
    (tmp_path / "roles").mkdir()
    return tmp_path


def _good_role(root, name="web"):
    role = root / "roles" / name
    _write(role / "tasks" / "main.yml", "---\n- name: Noop\n  ansible.builtin.meta: noop\n")
    _write(role / "defaults" / "main.yml", "web_port: 8069\nweb_image: odoo:17\n")
    _write(
        role / "meta" / "argument_specs.yml",
        "argument_specs:\n  main:\n    options:\n"
        "      web_port: {type: int, default: 8069}\n"
        "      web_image: {type: str}\n"
        "      web_secret: {type: str, required: true}\n",
    )
    return role


def test_empty_tree_passes(tree):
    assert check_galaxy(tree) == []
    assert check_runtime(tree) == []
    assert check_roles(tree) == []
    assert check_playbook_structure(tree) == []


def test_galaxy_wrong_name_fails(tree):
    _write(tree / "galaxy.yml", "namespace: governed\nname: erp\nversion: 0.1.0\nreadme: README.md\n")
    assert check_galaxy(tree) == ["galaxy.yml: collection is governed.erp, expected governed.odoo"]


def test_good_role_passes(tree):
    _good_role(tree)
    assert check_roles(tree) == []


def test_role_without_argument_specs_fails(tree):
    role = _good_role(tree)
    (role / "meta" / "argument_specs.yml").unlink()
    assert check_roles(tree) == ["roles/web: meta/argument_specs.yml missing"]


def test_role_default_missing_from_spec_fails(tree):
    role = _good_role(tree)
    _write(role / "defaults" / "main.yml", "web_port: 8069\nweb_image: odoo:17\nweb_workers: 2\n")
    assert check_roles(tree) == [
        "roles/web: defaults/main.yml sets web_workers, which meta/argument_specs.yml does not specify"
    ]


def test_role_spec_option_without_default_fails(tree):
    role = _good_role(tree)
    _write(role / "defaults" / "main.yml", "web_port: 8069\n")
    assert check_roles(tree) == [
        "roles/web: web_image (argument_specs.main) is neither required nor set in "
        "defaults/main.yml (give it a default there, null if it has none, or make it required)"
    ]


def test_role_input_owned_elsewhere_needs_no_default(tree):
    role = _good_role(tree)
    _write(
        role / "meta" / "argument_specs.yml",
        "argument_specs:\n  main:\n    options:\n"
        "      web_port: {type: int}\n      web_image: {type: str}\n      db_host: {type: str}\n",
    )
    assert check_roles(tree) == []


def test_role_required_option_with_default_fails(tree):
    role = _good_role(tree)
    _write(role / "defaults" / "main.yml", "web_port: 8069\nweb_image: odoo:17\nweb_secret: x\n")
    assert check_roles(tree) == [
        "roles/web: web_secret is required in argument_specs.main but defaults/main.yml sets it, "
        "so it is always defined (drop the default or the requirement)"
    ]


def test_role_documented_default_disagreeing_fails(tree):
    role = _good_role(tree)
    _write(role / "defaults" / "main.yml", "web_port: 8070\nweb_image: odoo:17\n")
    assert check_roles(tree) == [
        "roles/web: web_port: argument_specs.main documents default 8069, defaults/main.yml sets 8070"
    ]


def _module(root, name, fragments=()):
    doc = f"module: {name}\nextends_documentation_fragment: {list(fragments)}\n"
    _write(root / "plugins" / "modules" / f"{name}.py", f'DOCUMENTATION = r"""\n{doc}"""\n')


def test_unlisted_module_fails(tree):
    _module(tree, "backup")
    _write(tree / "plugins" / "modules" / "__init__.py", "")
    assert check_runtime(tree, planned=()) == [
        "plugins/modules/backup.py: not listed in meta/runtime.yml action_groups.all"
    ]


def test_listed_module_passes_short_or_fully_qualified(tree):
    _module(tree, "backup", ["governed.odoo.postgres", "governed.odoo.s3"])
    _module(tree, "restore", ["governed.odoo.s3", "community.postgresql.postgres"])
    _write(
        tree / "meta" / "runtime.yml",
        _runtime(all="[backup, governed.odoo.restore]", postgres="[backup]", s3="[governed.odoo.backup, restore]"),
    )
    assert check_runtime(tree, planned=()) == []


def test_unreadable_module_documentation_fails(tree):
    _write(tree / "plugins" / "modules" / "backup.py", 'DOCUMENTATION = r"""\nmodule: backup\ndescription: a: b\n"""\n')
    _write(tree / "meta" / "runtime.yml", _runtime(all="[backup]"))
    problems = check_runtime(tree, planned=())
    assert len(problems) == 1
    assert problems[0].startswith("plugins/modules/backup.py: DOCUMENTATION is not valid YAML")


def test_connection_groups_follow_doc_fragments(tree):
    _module(tree, "backup", ["governed.odoo.postgres", "governed.odoo.s3"])
    _module(tree, "restore", ["governed.odoo.s3"])
    # backup missing from s3, restore wrongly in postgres
    _write(
        tree / "meta" / "runtime.yml", _runtime(all="[backup, restore]", postgres="[backup, restore]", s3="[restore]")
    )
    assert check_runtime(tree, planned=()) == [
        "meta/runtime.yml: action_groups.postgres lists restore, which does not extend the "
        "governed.odoo.postgres doc fragment",
        "plugins/modules/backup.py: not listed in meta/runtime.yml action_groups.s3",
    ]


def test_listed_but_absent_module_fails_unless_planned(tree):
    _write(tree / "meta" / "runtime.yml", _runtime(all="[backup]"))
    assert check_runtime(tree, planned={"backup"}) == []
    assert check_runtime(tree, planned=()) == [
        "meta/runtime.yml: action_groups.all lists backup, which is neither in plugins/modules nor planned"
    ]


def test_missing_group_fails(tree):
    _write(tree / "meta" / "runtime.yml", "requires_ansible: '>=2.17'\naction_groups:\n  all: []\n")
    assert check_runtime(tree) == [
        "meta/runtime.yml: action_groups has no group 'kubernetes'",
        "meta/runtime.yml: action_groups has no group 'postgres'",
        "meta/runtime.yml: action_groups has no group 's3'",
    ]


def test_requires_ansible_wider_than_tested_fails(tree):
    _write(tree / "pyproject.toml", '[project]\ndependencies = ["ansible-core>=2.20,<2.22"]\n')
    _write(tree / "meta" / "runtime.yml", _runtime(requires="'>=2.17'"))
    assert check_runtime(tree) == [
        "meta/runtime.yml: requires_ansible '>=2.17' differs from the ansible-core the tests run on"
        " (<2.22,>=2.20 in pyproject.toml)"
    ]


def test_requires_ansible_as_tested_passes(tree):
    _write(tree / "pyproject.toml", '[project]\ndependencies = ["ansible-core >=2.20,<2.22"]\n')
    _write(tree / "meta" / "runtime.yml", _runtime(requires="'>=2.20.0,<2.22.0'"))
    assert check_runtime(tree) == []


def test_bad_playbook_fails(tree):
    _write(tree / "playbooks" / "good.yml", "- hosts: localhost\n  tasks: []\n")
    _write(tree / "playbooks" / "vars.yml", "foo: bar\n")
    _write(tree / "playbooks" / "broken.yml", "- hosts: [\n")
    problems = check_playbook_structure(tree)
    assert len(problems) == 2
    assert problems[0].startswith("playbooks/broken.yml: not valid YAML")
    assert problems[1] == "playbooks/vars.yml: not a list of plays"


def test_playbook_with_unknown_module_fails_syntax_check(tree):
    shutil.copy(ROOT / "ansible.cfg", tree / "ansible.cfg")
    _write(
        tree / "playbooks" / "bad.yml",
        "- hosts: localhost\n  tasks:\n    - name: Nope\n      governed.odoo.no_such_module: {}\n",
    )
    problems = check_playbook_syntax(tree)
    assert len(problems) == 1
    assert "no_such_module" in problems[0]


def test_requirements_drift_fails(tree):
    _write(
        tree / "galaxy.yml",
        "namespace: governed\nname: odoo\nversion: 0.1.0\ndependencies:\n  kubernetes.core: '>=5.0.0'\n",
    )
    _write(tree / "requirements.yml", "collections:\n  - name: kubernetes.core\n    version: '>=6.0.0'\n")
    _write(tree / "collections" / "requirements.yml", "collections: []\n")
    assert check_requirements(tree) == [
        "collections/requirements.yml differs from requirements.yml (AWX reads the former)",
        "requirements.yml: kubernetes.core >=6.0.0 and galaxy.yml >=5.0.0 disagree on the lower bound",
    ]


def test_shared_options_drift_fails(tmp_path):
    shutil.copytree(ROOT / "plugins" / "doc_fragments", tmp_path / "plugins" / "doc_fragments")
    shutil.copytree(
        ROOT / "plugins" / "module_utils",
        tmp_path / "plugins" / "module_utils",
        ignore=lambda directory, names: [n for n in names if n != "common_args.py"],
    )
    common_args = tmp_path / "plugins" / "module_utils" / "common_args.py"
    source = common_args.read_text(encoding="utf-8")
    source = source.replace('login_port=dict(type="int")', 'login_port=dict(type="str")')
    source = source.replace('secret_key=dict(type="str", no_log=True)', 'secret_key=dict(type="str")')
    common_args.write_text(source, encoding="utf-8")
    assert check_shared_options(tmp_path) == [
        "doc fragment postgres / postgres_argument_spec(): login_port.type: documented 'int', spec 'str'",
        "doc fragment s3 / s3_argument_spec(): secret_key looks like a secret but has no no_log=True",
    ]
