# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Promotion of releases: what promote.yml and rollback.yml need beside the gates, split by job.

    errors.py  PromotionError, the one error family of this package
    lock.py    the promotion lock: a Kubernetes Lease per instance, acquired by a conditional write
    task.py    the tasks of promotion_lock and k8s_job (argument specs, runs), shared by module and action
"""
