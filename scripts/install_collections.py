#!/usr/bin/env python3
"""Install the collections of requirements.yml that the ansible package does not bundle.

Users run ``ansible-galaxy collection install -r requirements.yml -p collections``. Galaxy is not
reachable from these machines, so for each required collection this script:

1. accepts the copy that the venv's ``ansible`` package bundles, or one already installed under
   ``collections/``, when its version is inside the range requirements.yml states;
2. otherwise takes the copy carried by an ``ansible`` release on PyPI (newest first among
   ``SOURCES``), checks its MANIFEST.json version against the range, and installs it under
   ``collections/ansible_collections/<namespace>/<name>`` exactly where Galaxy would put it.

The downloaded wheel is kept in a cache outside the repository. Exits non-zero, naming the
collection, when no acceptable version can be found.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "collections" / "ansible_collections"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "governed-odoo" / "wheels"
# ansible package releases whose wheels carry collections dropped from newer ones (awx.awx left after 12)
SOURCES = ("12.3.0",)


def installed_version(path: Path) -> str | None:
    manifest = path / "MANIFEST.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text())["collection_info"]["version"]


def bundled_path(namespace: str, name: str) -> Path | None:
    try:
        import ansible_collections  # the venv's ansible package
    except ImportError:
        return None
    for base in ansible_collections.__path__:
        cand = Path(base) / namespace / name
        if cand.is_dir() and cand.resolve() != (DEST / namespace / name).resolve():
            return cand
    return None


def specifier(version: str) -> SpecifierSet:
    return SpecifierSet(version.replace(" ", "")) if version and version != "*" else SpecifierSet()


def wheel_for(release: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob(f"ansible-{release}-*.whl"))
    if found:
        return found[0]
    # a venv made by uv has no pip: setup.sh passes the interpreter it made the venv from
    pip = [os.environ.get("GOVERNED_ODOO_BOOTSTRAP_PYTHON", sys.executable), "-m", "pip"]
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            *pip,
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(CACHE),
            f"ansible=={release}",
        ],
        check=True,
    )
    found = sorted(CACHE.glob(f"ansible-{release}-*.whl"))
    if not found:
        raise SystemExit(f"pip downloaded no wheel of ansible {release}")
    return found[0]


def extract(wheel: Path, namespace: str, name: str, target: Path) -> str | None:
    prefix = f"ansible_collections/{namespace}/{name}/"
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.startswith(prefix)]
        if not members:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            zf.extractall(tmp, members)
            src = Path(tmp) / prefix
            version = installed_version(src)
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, target)
    return version


def main() -> int:
    reqs = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    failed = []
    for req in reqs:
        fqcn, spec = req["name"], specifier(str(req.get("version", "*")))
        namespace, name = fqcn.split(".")
        local = DEST / namespace / name
        for where in (local, bundled_path(namespace, name)):
            version = where and installed_version(where)
            if version and Version(version) in spec:
                print(f"[collections] {fqcn} {version}: {where}", file=sys.stderr)
                break
        else:
            for release in SOURCES:
                version = extract(wheel_for(release), namespace, name, local)
                if version and Version(version) in spec:
                    print(
                        f"[collections] {fqcn} {version}: installed from ansible {release} into {local}",
                        file=sys.stderr,
                    )
                    break
                if local.exists():
                    shutil.rmtree(local)
            else:
                failed.append(f"{fqcn} {spec}")
    if failed:
        print(f"[collections] no acceptable version of: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
