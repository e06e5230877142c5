# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore half of governed.odoo: from a verified backup to a serving, checked environment.

One job per file, data flowing one way:

    errors.py       typed errors; modules turn them into a failure in one place
    pgconn.py       PostgreSQL connections from the collection's login_* options
    selection.py    which backup: a named one, or the latest before a time (manifests only)
    fetch.py        objects out of the store, each checked against its SHA-256 on the way
    pgtools.py      pg_restore: which binary, can it read the archive, run it so it dies with us
    dbops.py        database-level operations: create, terminate, the atomic switch by rename
    tablecheck.py   per-table row counts and content hashes; the source's latest write (RPO)
    filestore.py    Odoo's filestore/<db>/ab/abcdef... on a path or in a bucket; its switch; checks
    neutralize.py   neutralization of non-production copies (SQL mode, Job mode) and its check
    k8sjob.py       run one Job to completion (the `odoo neutralize` Job) through apply/client.py
    targetenv.py    the target namespace's labels overrule a caller who says a production target is not
    flow.py         the restore itself: select, guard, preflight, fetch, restore, verify,
                    identity, neutralize, switch
    failover.py     promotion of a streaming replica, with a real lag measurement and a policy
    odooconf.py     read and change odoo.conf options (re-pointing an instance)
    drill.py        RTO/RPO arithmetic and the drill report (JSON and a self-contained HTML page)

The backup format itself is module_utils/backup/manifest.py and store.py; this package reads
backups only through them. docs/restore-and-dr.md describes the whole in prose.

Nothing here imports an Ansible module; modules import from here.
"""
