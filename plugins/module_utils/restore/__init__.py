# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore half of governed.odoo: from a verified backup to a serving, checked environment.

One job per file, data flowing one way:

    errors.py       typed errors; modules turn them into a failure in one place
    pgconn.py       PostgreSQL connections from the collection's login_* options
    dbops.py        database-level operations: create, terminate, the atomic switch by rename
    tablecheck.py   per-table row counts and content hashes (restore and drill verification)
    neutralize.py   neutralization of non-production copies (SQL mode, Job mode) and its check
    filestore.py    content-addressed objects -> Odoo's filestore/<db>/ab/abcdef... layout
    selection.py    which backup: a named one, or the latest before a time
    flow.py         the restore itself: plan, verify objects, restore, verify, neutralize, switch
    failover.py     promotion of a streaming replica, with a real lag measurement
    drill.py        RTO/RPO arithmetic and the drill report (JSON and a self-contained HTML page)

Nothing here imports an Ansible module; modules import from here.
"""
