#!/usr/bin/env bash
# The main job on the lab, from a fresh machine: set up, bring the lab up, and
# provision the lab inventory's Odoo platforms (playbooks/site.yml).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
bash scripts/setup.sh
scripts/lab up
# shellcheck disable=SC1091
source .lab/env.sh
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
.venv/bin/ansible-playbook -i inventories/lab playbooks/site.yml "$@"
