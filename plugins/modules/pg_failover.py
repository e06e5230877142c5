#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pg_failover
short_description: Promote a PostgreSQL streaming replica to primary, within a lag policy
version_added: "0.1.0"
description:
  - Measures the replica's lag for real, as the primary's C(pg_current_wal_lsn()) against the
    replica's C(pg_last_wal_replay_lsn()) (and C(pg_last_wal_receive_lsn())), and refuses to promote
    when it exceeds O(max_lag_bytes), unless O(force=true).
  - Refuses, also unless forced, when the primary is unreachable (the lag cannot be measured then),
    and always refuses a pair whose servers do not share the same system identifier, or a primary
    that is itself in recovery.
  - When the old primary is reachable and O(fence_old_primary=true), makes it read-only
    (C(default_transaction_read_only) through C(ALTER SYSTEM)), terminates its client sessions and
    waits for the replica to replay up to its last LSN before promoting, so a planned switchover
    loses nothing.
  - Promotes with C(pg_promote(wait => true)) and checks that the new primary assigns a transaction
    id (accepts writes).
  - Re-pointing Odoo's configuration at the new primary is done by the playbook
    C(governed.odoo.db_failover), which also checks that writes through that configuration reach it.
  - In check mode, measures and decides, and reports the plan without changing anything.
author:
  - governed.odoo maintainers (@governed-odoo)
options:
  replica:
    description:
      - Connection to the replica to promote.
    type: dict
    required: true
    suboptions: &conn
      login_host:
        description:
          - Host name or IP address of the server.
        type: str
        required: true
      login_port:
        description:
          - TCP port of the server.
        type: int
        default: 5432
      login_user:
        description:
          - Role to connect as; it must be allowed to run C(pg_promote) (superuser, or granted).
        type: str
        default: postgres
      login_password:
        description:
          - Password of O(replica.login_user).
        type: str
      db:
        description:
          - Database to connect to.
        type: str
        default: postgres
  primary:
    description:
      - Connection to the current primary, to measure the lag against and to fence.
      - When not given, or unreachable, the lag cannot be measured and the module refuses unless
        O(force=true).
    type: dict
    suboptions: *conn
  max_lag_bytes:
    description:
      - Policy. The largest replay lag, in bytes of WAL, at which the replica may be promoted.
    type: int
    default: 16777216
  force:
    description:
      - Promote even when the lag exceeds the policy, cannot be measured, or the replica does not
        catch up after fencing. Never overrides a mismatched pair.
    type: bool
    default: false
  fence_old_primary:
    description:
      - Make a reachable old primary read-only and drop its sessions before promoting.
    type: bool
    default: true
  catchup_timeout:
    description:
      - Seconds to wait, after fencing, for the replica to replay up to the old primary's last LSN.
    type: int
    default: 60
  promote_timeout:
    description:
      - Seconds C(pg_promote) waits for the promotion to finish.
    type: int
    default: 60
attributes:
  check_mode:
    description: Measures the lag, applies the policy and reports the plan; promotes nothing.
    support: full
  diff_mode:
    description: Not supported.
    support: none
requirements:
  - psycopg >= 3.1
notes:
  - The old primary is left fenced, not rebuilt; make it a replica of the new primary again with
    C(pg_rewind) or a new base backup before relying on replication.
seealso:
  - module: community.postgresql.postgresql_query
"""

EXAMPLES = r"""
- name: Promote the replica if it is no more than 16 MiB behind
  governed.odoo.pg_failover:
    primary:
      login_host: 10.0.0.10
      login_password: "{{ pg_superuser_password }}"
    replica:
      login_host: 10.0.0.11
      login_password: "{{ pg_superuser_password }}"
    max_lag_bytes: 16777216

- name: The primary is gone; promote anyway (the loss cannot be measured)
  governed.odoo.pg_failover:
    primary:
      login_host: 10.0.0.10
    replica:
      login_host: 10.0.0.11
    force: true
"""

RETURN = r"""
promoted:
  description: Whether the replica was promoted by this run.
  returned: always
  type: bool
fenced_old_primary:
  description: Whether the old primary was made read-only and left so.
  returned: always
  type: bool
lag:
  description: The measurement the decision was made on.
  returned: always
  type: dict
  sample:
    primary_lsn: 0/3000148
    replay_lsn: 0/3000148
    receive_lsn: 0/3000148
    replay_lag_bytes: 0
    receive_lag_bytes: 0
    measured: true
verdict:
  description: The policy verdict, with the reasons for a refusal and the rules overridden by O(force).
  returned: always
  type: dict
  sample: {action: promote, reasons: [], forced: []}
replica:
  description: What the replica reported before the failover.
  returned: always
  type: dict
primary:
  description: What the primary reported, or null when it was not given or unreachable.
  returned: always
  type: dict
primary_error:
  description: Why the primary could not be reached.
  returned: when the primary was given but unreachable
  type: str
plan:
  description: The steps taken, or that would be taken in check mode.
  returned: when a promotion is due
  type: list
  elements: str
steps:
  description: What fencing and catching up reported.
  returned: always
  type: list
  elements: dict
new_primary:
  description: The write check on the promoted server (transaction id, LSN, timeline).
  returned: when promoted, or already a primary
  type: dict
  sample: {txid: "745", lsn: 0/3000230, timeline: 2}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.governed.odoo.plugins.module_utils.restore import failover
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import RestoreError
from ansible_collections.governed.odoo.plugins.module_utils.restore.pgconn import (
    HAS_PSYCOPG,
    PSYCOPG_IMPORT_ERROR,
)


def _conn_spec(required):
    return dict(
        type="dict",
        required=required,
        options=dict(
            login_host=dict(type="str", required=True),
            login_port=dict(type="int", default=5432),
            login_user=dict(type="str", default="postgres"),
            login_password=dict(type="str", no_log=True),
            db=dict(type="str", default="postgres"),
        ),
    )


def argument_spec():
    return dict(
        replica=_conn_spec(True),
        primary=_conn_spec(False),
        max_lag_bytes=dict(type="int", default=16 * 1024 * 1024),
        force=dict(type="bool", default=False),
        fence_old_primary=dict(type="bool", default=True),
        catchup_timeout=dict(type="int", default=60),
        promote_timeout=dict(type="int", default=60),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(PSYCOPG_IMPORT_ERROR))
    p = module.params
    try:
        result = failover.run(
            replica_params=p["replica"],
            primary_params=p["primary"],
            max_lag_bytes=p["max_lag_bytes"],
            force=p["force"],
            fence_old_primary=p["fence_old_primary"],
            catchup_timeout=p["catchup_timeout"],
            promote_timeout=p["promote_timeout"],
            check_mode=module.check_mode,
        )
    except RestoreError as exc:
        module.fail_json(msg=exc.msg, **exc.as_result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
