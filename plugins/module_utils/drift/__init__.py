# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift: the declared state of an instance (what site.yml would apply) against what runs, field by field.

The package is split by job:

    compare.py   pure functions: walk a declared and a live value together and list every field that
                 differs (path, declared, live); Secret values as keyed hashes, never as values
    kube.py      the Kubernetes objects: the apply engine (module_utils/apply) in dry-run mode says
                 what an apply of the declared set would change; each change becomes a finding
    database.py  the database and its roles and grants, read as governed.odoo.pg_database reads them
    buckets.py   the buckets' versioning, object lock and lifecycle rules, read and planned as
                 governed.odoo.s3_bucket does
    parity.py    staging against production: topology, versions, configuration; the differences the
                 policy expects listed as expected
    report.py    the report: JSON document and a self-contained HTML page
    task.py      one governed.odoo.drift task (argument spec and run), shared by module and action plugin

Nothing here writes: Kubernetes is asked with server-side dry runs, PostgreSQL and S3 are only read.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError


class DriftError(GovernedError):
    """Reading the live state failed (the API, the database server or the object store answered an error)."""

    kind = "drift"
