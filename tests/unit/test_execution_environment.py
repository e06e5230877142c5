"""The AWX execution environment: its requirement files agree with pyproject.toml and the imports of plugins/,
and ansible-builder accepts the definition (it generates the build context; no image is built here: no container
registry is reachable for the base image)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# import name -> distribution name, for the third-party imports of plugins/
DISTRIBUTIONS = {"yaml": "pyyaml", "psycopg": "psycopg", "dateutil": "python-dateutil"}


def _requirements(path):
    return {
        Requirement(line).name.lower(): Requirement(line)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


def _third_party_imports():
    found = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("ansible", "ansible_collections"):
                    found.add(DISTRIBUTIONS.get(top, top).lower())
    return found


def test_requirements_cover_every_import_of_the_plugins():
    missing = _third_party_imports() - set(_requirements(ROOT / "requirements.txt"))
    assert not missing, f"requirements.txt lacks {sorted(missing)}"


def test_requirements_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pinned = {Requirement(d).name.lower(): Requirement(d) for d in project}
    for name, req in _requirements(ROOT / "requirements.txt").items():
        assert name in pinned, f"{name} is in requirements.txt but not in pyproject.toml"
        assert req.specifier == pinned[name].specifier, f"{name}: {req.specifier} vs {pinned[name].specifier}"


def test_ee_definition_matches_the_collection():
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    reqs = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    core = next(Requirement(d) for d in core if d.startswith("ansible-core"))
    assert Requirement(ee["dependencies"]["ansible_core"]["package_pip"]).specifier == core.specifier
    tarball = f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"
    collections = ee["dependencies"]["galaxy"]["collections"]
    assert collections[:-1] == reqs, "the EE installs the collections of requirements.yml"
    assert collections[-1] == {"name": tarball, "type": "file"}
    assert ee["additional_build_files"] == [{"src": tarball, "dest": "."}]
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}


@pytest.mark.skipif(not (BIN / "ansible-builder").exists(), reason="needs ansible-builder (pyproject test extra)")
def test_ansible_builder_creates_the_build_context(tmp_path):
    build = subprocess.run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "build",
            str(ROOT / "collections/ansible_collections/governed/odoo"),
            "--output-path",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    for name in ("execution-environment.yml", "requirements.txt", "bindep.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    res = subprocess.run(
        [str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    context = tmp_path / "context"
    assert "ansible-galaxy collection install" in (context / "Dockerfile").read_text()
    assert list((context / "_build").glob("governed-odoo-*.tar.gz")), "the collection tarball is in the context"
    assert "psycopg[binary]" in (context / "_build" / "requirements.txt").read_text()
