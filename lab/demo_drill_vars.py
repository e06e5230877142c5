#!/usr/bin/env python3
"""Write the extra variables of a disaster-recovery drill of one lab instance (for scripts/demo.sh).

The drill restores the instance's latest backup (from backup.yml) into an isolated drill environment
on the lab and writes its report (JSON and HTML) under .lab/drill-reports. The file holds the lab's
credentials, so it goes under .lab/ (not in the repository) with mode 0600.

    .venv/bin/python lab/demo_drill_vars.py civil-dev dev > .lab/drill-civil-dev.yml
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# placeholder release image, pinned by digest like the lab inventory's (nothing is pulled in the lab)
IMAGE = "docker.io/library/odoo@sha256:8fb41896e110506c0758c32f55c49e0fecb65c1550e4c42e7ca3faa2aa0a6a7d"


def main(argv):
    instance, environment = argv[1], argv[2]
    lab_dir = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", ROOT / ".lab")).resolve()
    conn = json.loads((lab_dir / "connection.json").read_text())
    pg = conn["postgres"]["primary"]
    s3 = conn["s3"]["a"]
    login = {
        "login_host": pg["host"],
        "login_port": pg["port"],
        "login_user": pg["user"],
        "login_password": pg["password"],
    }
    out = {
        "drill_store": {
            "bucket": f"governed-odoo-lab-{environment}-backups",
            "endpoint_url": s3["endpoint"],
            "access_key": s3["access_key"],
            "secret_key": s3["secret_key"],
            "region": s3.get("region") or "us-east-1",
        },
        "drill_source": {
            "environment": environment,
            "database": instance.replace("-", "_"),
            "postgres": login,
            "filestore_path": str(lab_dir / "filestore" / instance),
        },
        "drill_target": {
            "kube": {"kubeconfig": conn["controlplane"]["kubeconfig"]},
            "postgres": login,
            "filestore_path": str(lab_dir / "drill" / instance),
            "image": IMAGE,
        },
        "drill_report_dir": str(lab_dir / "drill-reports"),
    }
    sys.stdout.write(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
