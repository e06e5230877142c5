#!/usr/bin/env bash
# An outside judge of what is rendered: checkov (Kubernetes framework) over the objects site.yml renders for the lab
# inventory and inventories/example-construction. Every failure must be fixed in the layers' builders
# (plugins/module_utils/manifests) or listed in docs/checkov.md (check id, kind, object name, why it is accepted); the
# script fails on any other.
#
# Usage: scripts/checkov.sh [--keep DIR] [--setup]
#   --keep DIR   also write the judged objects (Secrets' values replaced) and checkov's JSON report into DIR
#   --setup      only make (or refresh) checkov's venv, as scripts/setup.sh does, and exit
#
# Rendering is render-only (site.yml with governed_odoo_render_only=true): nothing is written anywhere. The example
# inventory needs no lab: it is rendered with generated throw-away secrets, monitoring_crds_present=true and
# in-cluster database servers (its clusters and servers do not exist here). The lab inventory reads the lab's
# connection details and asks its API server for the Prometheus Operator CRDs, so it is judged when the lab is up
# (GOVERNED_ODOO_LAB_DIR, default .lab, holds connection.json) and skipped, saying so, when it is not.
#
# checkov pins boto3, botocore, s3transfer and packaging below what .venv runs, so it gets its own venv,
# .venv-checkov (GOVERNED_ODOO_CHECKOV_VENV overrides), made by scripts/setup.sh (or on first use) with uv; the
# version is [tool.governed-odoo.checkov] in pyproject.toml.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
KEEP=""
SETUP_ONLY=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keep) KEEP="$2"; shift 2 ;;
    --setup) SETUP_ONLY=1; shift ;;
    *) echo "usage: scripts/checkov.sh [--keep DIR] [--setup]" >&2; exit 2 ;;
  esac
done

REQUIREMENT="$("$PY" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["tool"]["governed-odoo"]["checkov"]["requirement"])' "$ROOT/pyproject.toml")"
VENV="${GOVERNED_ODOO_CHECKOV_VENV:-$ROOT/.venv-checkov}"
STAMP="$VENV/.requirement"
if [[ ! -x "$VENV/bin/checkov" ]] || [[ "$(cat "$STAMP" 2>/dev/null)" != "$REQUIREMENT" ]]; then
  UV="${UV:-$(command -v uv || true)}"
  [[ -n "$UV" ]] || UV="$(dirname "$("$PY" -c 'import sys, os; print(os.path.realpath(sys.executable))')")/uv"
  [[ -x "$UV" ]] || UV="$HOME/.pyenv/versions/3.12.1/bin/uv"
  [[ -x "$UV" ]] || { echo "checkov.sh: uv is needed to make $VENV" >&2; exit 1; }
  echo "checkov.sh: installing $REQUIREMENT into $VENV" >&2
  [[ -x "$VENV/bin/python" ]] || "$UV" venv -q --python "$("$PY" -c 'import sys; print(sys.executable)')" "$VENV"
  "$UV" pip install -q --compile-bytecode --python "$VENV/bin/python" "$REQUIREMENT"
  printf '%s\n' "$REQUIREMENT" >"$STAMP"
fi
((SETUP_ONLY)) && exit 0

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
chmod 700 "$WORK"

export ANSIBLE_CONFIG="$ROOT/ansible.cfg" ANSIBLE_NOCOLOR=1
render() {  # render <name> <inventory> [ansible-playbook arguments...]
  local name="$1" inventory="$2"
  shift 2
  echo "checkov.sh: rendering $name" >&2
  mkdir -p "$WORK/raw/$name"
  if ! "$ROOT/.venv/bin/ansible-playbook" -i "$inventory" "$ROOT/playbooks/site.yml" \
      -e governed_odoo_render_only=true -e "governed_odoo_render_dir=$WORK/raw/$name" "$@" >"$WORK/$name.log" 2>&1; then
    tail -n 40 "$WORK/$name.log" >&2
    echo "checkov.sh: rendering $name failed" >&2
    exit 1
  fi
}

LAB_DIR="${GOVERNED_ODOO_LAB_DIR:-$ROOT/.lab}"
JUDGED_ALL=0
if [[ -f "$LAB_DIR/connection.json" ]]; then
  render lab "$ROOT/inventories/lab"
  JUDGED_ALL=1
else
  echo "checkov.sh: the lab is not up ($LAB_DIR/connection.json is missing): the lab inventory is NOT judged" >&2
fi

# the example's secrets come from the environment (group_vars/all/secrets.yml): random values for this run only
example_env() {
  "$PY" - "$ROOT/inventories/example-construction" <<'EOF'
import json
import secrets
import subprocess
import sys
from pathlib import Path

inventory = sys.argv[1]
listing = json.loads(subprocess.run(
    [str(Path(sys.executable).parent / "ansible-inventory"), "-i", inventory, "--list"],
    capture_output=True, text=True, check=True,
).stdout)
hosts = sorted(listing["_meta"]["hostvars"])
names = ["CONSTRUCTION_NONPROD_PG_ADMIN_PASSWORD"]
for env in ("DEV", "QA", "STAGING", "UAT", "TRAINING", "PROD"):
    names += [f"CONSTRUCTION_{env}_S3_ACCESS_KEY", f"CONSTRUCTION_{env}_S3_SECRET_KEY"]
for host in hosts:
    prefix = "CONSTRUCTION_" + host.upper().replace("-", "_") + "_"
    names += [prefix + s for s in ("ODOO_ADMIN_PASSWORD", "POSTGRESQL_APP_PASSWORD", "POSTGRESQL_REPORTING_PASSWORD",
                                   "POSTGRESQL_SUPERUSER_PASSWORD", "POSTGRESQL_REPLICATION_PASSWORD", "REDIS_PASSWORD")]
for name in names:
    print(f"{name}={secrets.token_hex(16)}")
EOF
}
while IFS= read -r line; do export "${line?}"; done < <(example_env)
# its external database servers do not exist here and render-only still probes them (the postgresql role's
# preflight): the example is judged with in-cluster servers (its prod instances have them anyway)
render example-construction "$ROOT/inventories/example-construction" -e monitoring_crds_present=true \
  -e postgresql_placement=in_cluster

# Secrets' values never reach checkov's report: they are replaced before it reads anything
"$PY" - "$WORK/raw" "$WORK/judged" <<'EOF'
import sys
from pathlib import Path

import yaml

raw, judged = Path(sys.argv[1]), Path(sys.argv[2])
for path in sorted(raw.glob("*/*.yaml")):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        if doc.get("kind") == "Secret":
            for key in ("data", "stringData"):
                if isinstance(doc.get(key), dict):
                    doc[key] = dict.fromkeys(doc[key], "REDACTED")
    out = judged / path.parent.name / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump_all(docs, sort_keys=False))
EOF
rm -rf "$WORK/raw"

echo "checkov.sh: judging $(find "$WORK/judged" -name '*.yaml' | wc -l) instances with $REQUIREMENT" >&2
set +e
"$VENV/bin/checkov" -d "$WORK/judged" --framework kubernetes --skip-download --quiet -o json >"$WORK/report.json" 2>"$WORK/checkov.err"
status=$?
set -e
if [[ $status -gt 1 ]]; then
  tail -n 40 "$WORK/checkov.err" >&2
  echo "checkov.sh: checkov itself failed ($status)" >&2
  exit 1
fi
if [[ -n "$KEEP" ]]; then
  mkdir -p "$KEEP"
  cp -r "$WORK/judged" "$WORK/report.json" "$KEEP/"
fi

# every failure is accepted in docs/checkov.md (check id, kind, name) or the run fails; with both inventories
# judged, so does an accepted entry that no longer fails (the list stays exactly what is open)
"$PY" - "$WORK/report.json" "$ROOT/docs/checkov.md" "$JUDGED_ALL" <<'EOF'
import json
import re
import sys
from collections import Counter
from pathlib import Path

report = json.loads(Path(sys.argv[1]).read_text())
reports = report if isinstance(report, list) else [report]
accepted = {}
for line in Path(sys.argv[2]).read_text().splitlines():
    cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
    if len(cells) >= 4 and re.fullmatch(r"CKV_K8S_[0-9]+", cells[0]):
        accepted[(cells[0], cells[1], cells[2])] = cells[3]
passed = failed = 0
unaccepted, used = Counter(), set()
for part in reports:
    summary = part.get("summary", {})
    passed += summary.get("passed", 0)
    failed += summary.get("failed", 0)
    for check in part.get("results", {}).get("failed_checks", []):
        kind, _namespace, name = (check["resource"].split(".", 2) + ["", ""])[:3]
        key = (check["check_id"], kind, name)
        if key in accepted:
            used.add(key)
        else:
            unaccepted[(*key, check["check_name"])] += 1
print(f"checkov: {passed} passed, {failed} failed ({failed - sum(unaccepted.values())} accepted in docs/checkov.md)")
stale = sorted(set(accepted) - used)
for key in stale:
    print(f"  no longer fails (remove it from docs/checkov.md): {' '.join(key)}")
for (check_id, kind, name, title), count in sorted(unaccepted.items()):
    print(f"  NOT ACCEPTED: {check_id} {kind} {name} ({count} instance(s)): {title}")
sys.exit(1 if unaccepted or (stale and sys.argv[3] == "1") else 0)
EOF
