#!/usr/bin/env bash
# The main job on the lab, from a fresh machine: set up, bring the lab up, then
#   1. provision the lab inventory's Odoo platforms (playbooks/site.yml; a second run changes nothing);
#   2. give civil-dev an Odoo-shaped database and filestore (lab/seed_instance.py: a stand-in for Odoo's own
#      initialisation, which the lab cannot run) and put its grants back (site.yml again, for that instance);
#   3. back it up and install its nightly CronJob (playbooks/backup.yml), then run that CronJob once now: civil-dev
#      runs on the lab's real node (inventories/lab, lab_node_placement), so its backup pod really runs there, in the
#      backup runner image, against the lab's PostgreSQL and S3;
#   4. restore its latest backup into an isolated drill environment, verify it, measure RTO and RPO, write the
#      report (.lab/drill-reports/, JSON and HTML) and tear the drill down (playbooks/dr_drill.yml, everything from
#      the inventory: the instance's store, database, namespace, filestore, image and cluster).
# Extra arguments go to the first site.yml run (for example --check --diff).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
bash scripts/setup.sh
scripts/lab up
# shellcheck disable=SC1091
source .lab/env.sh
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
step() { printf '\n=== %s\n' "$*"; }

step "provision every instance of inventories/lab (site.yml)"
.venv/bin/ansible-playbook -i inventories/lab playbooks/site.yml "$@"
for arg in "$@"; do
  if [ "$arg" = "--check" ] || [ "$arg" = "-C" ]; then exit 0; fi
done
step "site.yml again: nothing to change"
.venv/bin/ansible-playbook -i inventories/lab playbooks/site.yml

step "seed civil-dev with Odoo-shaped test data (stand-in for Odoo's initialisation)"
if .venv/bin/python lab/seed_instance.py civil-dev | tee /dev/stderr | grep -q "Odoo-shaped test data owned by"; then
  step "site.yml for civil-dev: the recreated database gets its grants back"
  .venv/bin/ansible-playbook -i inventories/lab playbooks/site.yml --limit civil-dev
fi

step "back up civil-dev now and install its nightly backup CronJob (backup.yml)"
.venv/bin/ansible-playbook -i inventories/lab playbooks/backup.yml --limit civil-dev

# the nightly backup CronJob, once, now: on the real node when the lab has one (skipped, saying so, when not)
mapfile -t KC < <(.venv/bin/python -c 'import json, sys
c = json.load(open(sys.argv[1]))["controlplane"]
print(c["kubectl"], c["kubeconfig"], sep="\n")' .lab/connection.json)
kc() { "${KC[0]}" --kubeconfig "${KC[1]}" -n odoo-civil-dev "$@"; }
if [ -n "$(kc get cronjob odoo-backup -o jsonpath='{.spec.jobTemplate.spec.template.spec.nodeSelector}')" ]; then
  job="odoo-backup-demo-$(date -u +%Y%m%d%H%M%S)"
  step "run civil-dev's nightly backup CronJob once now, on the lab's real node (job $job)"
  kc create job "$job" --from=cronjob/odoo-backup
  deadline=$((SECONDS + 900))
  until state="$(kc get job "$job" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type} {end}')" \
      && [[ "$state" == *Complete* || "$state" == *Failed* ]]; do
    if ((SECONDS > deadline)); then state="timed out"; break; fi
    sleep 5
  done
  kc get pods -l "job-name=$job" -o wide
  kc logs "job/$job" --tail=15 || true
  if [[ "$state" != *Complete* ]]; then
    echo "the backup Job $job did not complete: $state" >&2
    exit 1
  fi
else
  echo "civil-dev's backup CronJob is not placed on a real node (the lab has none): not run now"
fi

step "disaster-recovery drill: restore civil-dev's latest backup into an isolated environment (dr_drill.yml)"
.venv/bin/ansible-playbook -i inventories/lab playbooks/dr_drill.yml --limit civil-dev \
  -e drill_data_dir="$ROOT/.lab/drill" -e drill_report_dir="$ROOT/.lab/drill-reports"
echo "drill reports: $ROOT/.lab/drill-reports/"
