#!/usr/bin/env bash
# Every test of governed.odoo, from a fresh machine: set up, bring the lab up, then
# pytest (unit and lab integration; unit again on ansible-core 2.20), molecule scenarios, ansible-test
# sanity (on 2.21 and 2.20),
# ansible-lint (production profile), ruff, yamllint, the changelog lint and checkov over the rendered objects.
# Prints one closing line "suites: N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
bash scripts/setup.sh || exit 1
scripts/lab up || { scripts/lab status; exit 1; }
# shellcheck disable=SC1091
source .lab/env.sh
export PATH="$ROOT/.venv/bin:$PATH" ANSIBLE_CONFIG="$ROOT/ansible.cfg" PY_COLORS=0 ANSIBLE_FORCE_COLOR=0

passed=0; failed=0; failed_names=()
suite() {
  local name=$1; shift
  printf '\n===== %s =====\n' "$name"
  local t0=$SECONDS
  "$@"; local rc=$?
  printf '===== %s: rc=%s in %ss =====\n' "$name" "$rc" "$((SECONDS - t0))"
  if [[ $rc -eq 0 ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); failed_names+=("$name"); fi
}

# one rerun of a failed test, listed in the summary as "rerun": the lab tests share two cores with everything
# else, and a test that fails twice in a row fails the suite; the 40 slowest tests are listed, to see where CI time goes
# the unit tests (no lab) in two processes (pytest-xdist), then the lab integration tests one at a time
suite "pytest-unit" .venv/bin/pytest -p no:cacheprovider -n 2 --durations=15 tests/unit
suite "pytest" .venv/bin/pytest -p no:cacheprovider --reruns 1 --reruns-delay 5 --durations=40 tests/integration
# the older supported ansible-core (2.20, on Python 3.13): unit tests and sanity
if [[ -x .venv-2.20/bin/pytest ]]; then
  suite "pytest-unit:ansible-core-2.20" .venv-2.20/bin/pytest -p no:cacheprovider -n 2 tests/unit
fi
for scenario in molecule/*/molecule.yml; do
  s="$(basename "$(dirname "$scenario")")"
  suite "molecule:$s" .venv/bin/molecule test -s "$s"
done
suite "sanity" bash scripts/sanity.sh
if [[ -x .venv-2.20/bin/ansible-test ]]; then
  suite "sanity:ansible-core-2.20" env GOVERNED_ODOO_VENV=.venv-2.20 bash scripts/sanity.sh
fi
suite "lint" bash scripts/lint.sh
# checkov over the rendered objects of the lab and example inventories; every failure fixed or accepted in docs/checkov.md
suite "checkov" bash scripts/checkov.sh
# last: stops and restarts the lab (down frees every port, a warm up is quick)
suite "lab-lifecycle" env LAB_LIFECYCLE_TEST=1 .venv/bin/pytest -p no:cacheprovider tests/integration/test_lab_lifecycle.py \
  tests/integration/test_lab_node.py::test_down_leaves_nothing_and_up_brings_the_node_back_ready_without_old_pods

((failed)) && printf 'failed suites: %s\n' "${failed_names[*]}"
echo "suites: ${passed} passed, ${failed} failed"
((failed == 0))
