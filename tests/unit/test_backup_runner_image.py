"""The backup runner image's recipe (images/backup-runner): every Python package pinned to one version, inside the
ranges the collection declares, and covering every third-party import of the code the CronJobs run (the playbooks
backup and backup_verify on localhost: their modules, action plugins, the rules lookup and the filters, followed
through the module_utils they import when they load). The image itself is built by the lab
(lab/images/backup-runner.yaml) and run by tests/integration/test_backup_cronjob_lab.py."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
IMAGE = ROOT / "images" / "backup-runner"
DISTRIBUTIONS = {"yaml": "pyyaml", "psycopg": "psycopg", "dateutil": "python-dateutil", "jinja2": "jinja2"}
PACKAGE = "ansible_collections.governed.odoo."
# what the CronJobs' playbooks call (playbooks/backup.yml, playbooks/backup_verify.yml, roles/backup/tasks)
RUNNER_MODULES = ("backup", "backup_list", "backup_retention", "backup_verify", "check_instances")


def _pins():
    pins = {}
    for line in (IMAGE / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            pins[req.name.lower().replace("_", "-")] = req
    return pins


def _roots():
    roots = []
    for name in RUNNER_MODULES:
        roots += [p for p in (ROOT / "plugins" / "modules" / f"{name}.py", ROOT / "plugins" / "action" / f"{name}.py")
                  if p.exists()]
    return [*roots, ROOT / "plugins" / "lookup" / "rules.py", *sorted((ROOT / "plugins" / "filter").glob("*.py"))]


def _module_level(tree):
    """The nodes of a module outside function bodies: imports there run when the module loads (those inside a
    function run only when it is called, for a feature the CronJobs do not use, such as freeze calendars)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        todo += [c for c in ast.iter_child_nodes(node) if not isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _third_party_imports_of_runner_code():
    """Top-level third-party names imported by the runner's plugins and every module_util they reach."""
    found, seen, todo = set(), set(), _roots()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in _module_level(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name.startswith(PACKAGE):
                    rel = Path(*name[len(PACKAGE):].split("."))
                    for cand in (ROOT / rel.with_suffix(".py"), ROOT / rel / "__init__.py"):
                        if cand.exists():
                            todo.append(cand)
                    continue
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("ansible", "ansible_collections"):
                    found.add(DISTRIBUTIONS.get(top, top).lower())
    return found


def test_every_package_is_pinned_to_one_version():
    for name, req in _pins().items():
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", f"{name}: {req.specifier}"


def test_pins_lie_inside_the_collections_ranges():
    declared = [Requirement(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    pins = _pins()
    for req in declared:
        name = req.name.lower()
        if name in pins:
            version = next(iter(pins[name].specifier)).version
            assert req.specifier.contains(version), f"{name}=={version} is outside {req.specifier} (pyproject.toml)"
    core = next(iter(pins["ansible-core"].specifier)).version
    assert re.fullmatch(r"2\.21\.\d+", core), core


def test_pins_cover_every_import_of_the_runner_code():
    missing = _third_party_imports_of_runner_code() - set(_pins())
    assert not missing, f"images/backup-runner/requirements.txt lacks {sorted(missing)}"


def test_containerfile_base_is_an_argument_and_the_user_is_the_roles_default():
    text = (IMAGE / "Containerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=\S*python:3\.1[2-9]-slim-bookworm$", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}( AS \w+)?$", text, re.M)
    uid = re.search(r"^ARG RUNNER_UID=(\d+)$", text, re.M).group(1)
    defaults = yaml.safe_load((ROOT / "roles" / "backup" / "defaults" / "main.yml").read_text())
    assert defaults["backup_runner_uid"] == f"{{{{ odoo_uid | default({uid}) }}}}"
    assert re.search(r"^USER \$\{RUNNER_UID\}:\$\{RUNNER_UID\}$", text, re.M)
    assert "postgresql-client-15" in text and "requirements.txt" in text


def _stages(text):
    """{stage name (the last one: ""): its instructions}, continuation lines joined, comments left out."""
    stages, name = {}, None
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if m := re.match(r"FROM (\S+)(?: AS (\w+))?$", line):
            name = m.group(2) or ""
            stages[name] = []
        elif name is not None:
            stages[name].append(line)
    return stages


def test_containerfile_is_reproducible_given_source_date_epoch():
    """What docs/backup.md promises of two builds with SOURCE_DATE_EPOCH: the tarball of the collection (its members
    carry the time it was built) is in no layer of the image, the stages that compile bytecode (pip) and date an
    account (useradd) take SOURCE_DATE_EPOCH, and apt's logs and caches are removed where they are written."""
    stages = _stages((IMAGE / "Containerfile").read_text())
    final = stages[""]
    assert not [i for i in final if i.startswith(("COPY", "ADD")) and ".tar.gz" in i]
    assert any(i.startswith("COPY --from=") and "/usr/share/ansible/collections" in i for i in final)
    for stage in stages.values():
        runs = " ".join(i for i in stage if i.startswith("RUN"))
        if "pip install" in runs or "useradd" in runs:
            assert "ARG SOURCE_DATE_EPOCH" in stage
        if "apt-get install" in runs:
            for leftover in ("/var/log/*.log", "/var/cache/ldconfig/aux-cache", "/var/lib/apt/lists/*"):
                assert leftover in runs
            assert "apt-get clean" in runs


def test_the_lab_builds_the_same_recipe():
    recipe = yaml.safe_load((ROOT / "lab" / "images" / "backup-runner.yaml").read_text())
    assert recipe["kind"] == "containerfile"
    assert (ROOT / "lab" / "images" / recipe["context"]).resolve() == IMAGE
