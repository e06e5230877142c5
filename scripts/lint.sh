#!/usr/bin/env bash
# Static checks of the whole repository: ruff, yamllint, ansible-lint (production profile),
# antsibull-changelog and shellcheck. Runs every linter even when one fails, then exits non-zero
# if any failed. None of them enters collections/ (the symlink collections/ansible_collections/
# governed/odoo -> ../../.. is a loop), .venv/, .lab/ or build/: see the excludes in
# pyproject.toml [tool.ruff], .yamllint and .ansible-lint.
#
# Usage: scripts/lint.sh
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
[[ -x "$VENV/bin/ansible-lint" ]] || { echo "run scripts/setup.sh first (no $VENV/bin/ansible-lint)" >&2; exit 1; }
cd "$ROOT" || exit 1
export PATH="$VENV/bin:$PATH" ANSIBLE_CONFIG="$ROOT/ansible.cfg"

failed=()
run() {
  local name=$1; shift
  printf '\n--- %s: %s\n' "$name" "$*"
  local t0=$SECONDS
  if "$@"; then
    printf -- '--- %s: ok in %ss\n' "$name" "$((SECONDS - t0))"
  else
    printf -- '--- %s: FAILED in %ss\n' "$name" "$((SECONDS - t0))"
    failed+=("$name")
  fi
}

# Shell scripts: tracked or new files (not ignored) outside collections/, named *.sh or
# starting with a sh/bash shebang.
shell_scripts() {
  { git ls-files; git ls-files --others --exclude-standard; } | sort -u | grep -v '^collections/' |
    while IFS= read -r f; do
      [[ -f "$f" ]] || continue
      if [[ "$f" == *.sh ]] || head -n 1 "$f" | grep -qE '^#!.*[/ ](ba)?sh( |$)'; then
        printf '%s\n' "$f"
      fi
    done
}

run ruff ruff check .
run yamllint yamllint --strict .
run ansible-lint ansible-lint
run changelog-fragments antsibull-changelog lint
run changelog-yaml antsibull-changelog lint-changelog-yaml --strict changelogs/changelog.yaml
mapfile -t scripts < <(shell_scripts)
run shellcheck shellcheck "${scripts[@]}"

if ((${#failed[@]})); then
  printf '\nlint failed: %s\n' "${failed[*]}"
  exit 1
fi
printf '\nlint: all checks passed\n'
