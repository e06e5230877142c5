# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GitOps mode: an instance's objects committed to a git repository instead of applied.

The package is split by job:

    sealing.py  Secrets sealed as the sealed-secrets controller opens them (kubeseal's format)
    layout.py   the instance's directory: one file per object, a kustomization.yaml, the audit record
    repo.py     the git working copy: a lock, the status of one directory, one commit
    task.py     one gitops_write task: argument spec and run

The objects are those the direct mode applies (``apply.engine.manifests_as_applied``), Secrets excepted: each is
replaced by a SealedSecret whose template gives the same Secret back.
"""

from __future__ import annotations

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError


class GitopsError(GovernedError):
    """The repository, the certificate or the objects do not allow the commit."""

    kind = "gitops"
