# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: linear
short_description: The linear strategy, with compiled templates kept and plugins loaded once
version_added: 0.2.0
description:
  - Runs tasks exactly as R(ansible.builtin.linear,ansible_collections.ansible.builtin.linear_strategy) does.
  - Before the first task it loads, in the controller process, the plugins the collection's playbooks use
    on every host (so each forked worker inherits them instead of importing them again), and keeps
    compiled Jinja templates in memory and on disk (see the C(GOVERNED_ODOO_TEMPLATE_CACHE) environment
    variable), because ansible-core compiles every template again in every worker. Rendering the objects of
    many instances is dominated by both.
  - Tasks whose action never touches a connection (C(set_fact), C(assert), C(fail), C(debug), the argument
    checks of roles (C(validate_argument_spec)), C(include_tasks) and C(include_role)) run for several hosts
    in one worker process. The hosts of such a task are split over as many workers as the machine has CPUs,
    and each worker runs the task for its hosts one after the other, each on its own copy of the task. The
    builtin strategy forks one worker per host and task; on a 10-instance render that is about 300 forks of
    a large process, and the kernel's work to copy it was a quarter of the run's CPU.
    C(GOVERNED_ODOO_HOST_BATCHING=off) turns this off; a number sets how many workers share the hosts.
  - The output of a play is the same as with the builtin strategy; only its cost changes.
  - The cache lives in C($XDG_CACHE_HOME/governed-odoo/jinja) (by default C(~/.cache/governed-odoo/jinja)),
    keyed by the template source, the compile settings and the versions of Python, Jinja2 and ansible-core.
    C(GOVERNED_ODOO_TEMPLATE_CACHE=off) turns it off; any other value names the directory.
author:
  - governed.odoo maintainers (@governed-odoo)
"""

import contextlib
import os
import time

from ansible import context
from ansible.executor.process.worker import WorkerProcess
from ansible.plugins import loader as plugin_loader
from ansible.plugins.loader import action_loader, filter_loader, lookup_loader, test_loader
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule
from ansible_collections.governed.odoo.plugins.plugin_utils import template_cache

# plugins that every host of the collection's playbooks uses; loading them here makes them part of the
# process every worker is forked from
_PRELOAD = (
    (
        lookup_loader,
        (
            "governed.odoo.manifests",
            "governed.odoo.postgresql_probe",
            "governed.odoo.k8s_crds",
            "ansible.builtin.file",
            "ansible.builtin.env",
            "ansible.builtin.password",
        ),
    ),
    # the filters and tests the roles' templates use: a worker resolves each name it meets, and a name resolved here
    # is already resolved in every worker forked after
    (
        filter_loader,
        tuple(
            f"governed.odoo.{name}"
            for name in ("netplan_carve", "netplan_validate_allowlist", "netplan_check_overlaps", "refuse")
        )
        + tuple(
            f"ansible.builtin.{name}"
            for name in (
                "to_json",
                "from_json",
                "to_nice_yaml",
                "combine",
                "bool",
                "hash",
                "b64encode",
                "b64decode",
                "to_datetime",
                "urlsplit",
                "regex_escape",
                "regex_replace",
                "flatten",
                "unique",
                "intersect",
                "dict2items",
                "items2dict",
                "extract",
                "mandatory",
            )
        ),
    ),
    # and by the short names the templates use (a name is resolved, and cached, as it is written)
    (
        filter_loader,
        (
            "default",
            "from_json",
            "to_json",
            "int",
            "length",
            "combine",
            "replace",
            "bool",
            "string",
            "list",
            "selectattr",
            "join",
            "unique",
            "map",
            "first",
            "truncate",
            "to_datetime",
            "sort",
            "items2dict",
            "hash",
            "dictsort",
            "dict2items",
            "urlsplit",
            "split",
            "select",
            "round",
            "rejectattr",
            "regex_replace",
            "regex_escape",
            "intersect",
        ),
    ),
    (test_loader, tuple(f"ansible.builtin.{name}" for name in ("match", "search", "regex", "version", "subset"))),
    (test_loader, ("match", "defined", "in", "eq", "none", "all")),
    # the in-process actions of play 2 (the collection loader compiles their source in every worker otherwise)
    (action_loader, ("governed.odoo.k8s_apply_set", "governed.odoo.s3_bucket", "governed.odoo.run_module")),
)


# actions that run entirely in the worker (no connection, no file transfer; an include only returns what to include):
# safe to run for several hosts in one
_BATCHABLE = frozenset(
    f"{prefix}.{name}"
    for prefix in ("ansible.builtin", "ansible.legacy")
    for name in ("set_fact", "assert", "fail", "debug", "validate_argument_spec", "include_tasks", "include_role")
)


def _batch_workers():
    """How many workers share the hosts of a batchable task: 0 for none (batching off)."""
    value = os.environ.get("GOVERNED_ODOO_HOST_BATCHING", "on").strip().lower()
    if value in ("off", "0", "false", "no"):
        return 0
    if value.isdigit():
        return int(value)
    return os.cpu_count() or 1


class _BatchWorker(WorkerProcess):
    """A worker that runs one task for several hosts in turn, each on its own copy of the task (the task
    executor finalizes the task object it is given), sending each host's result as a worker for that host
    alone would."""

    def __init__(self, batch, **kwargs):
        super().__init__(**kwargs)
        self._batch = batch

    def _run(self):
        for host, task, task_vars, play_context in self._batch:
            self._host = host
            self._task = task.copy()
            self._task_vars = task_vars
            self._play_context = play_context
            super()._run()


def _preload():
    for loader, names in _PRELOAD:
        for name in names:
            with contextlib.suppress(Exception):  # preloading is an optimisation only
                loader.get(name, class_only=True) if loader is action_loader else loader.get(name)


class StrategyModule(LinearStrategyModule):
    def __init__(self, tqm):
        super().__init__(tqm)
        template_cache.install()
        _preload()
        self._batch_count = _batch_workers()  # 0: no batching
        self._held = []  # (host, task, task_vars, play_context) of one batchable task, not started yet

    # Host batching. The builtin linear strategy queues a task host by host (computing each host's variables in
    # this process) and then waits for the results; batchable tasks are held until that wait and then started
    # in as few workers as there are CPUs. Everything else (result handling, callbacks, blocked hosts, failures,
    # any_errors_fatal) is the builtin code path: each host's result arrives as if its own worker had sent it.
    def _queue_task(self, host, task, task_vars, play_context):
        if self._held and self._held[0][1]._uuid != task._uuid:
            self._start_held()
        if not self._batch_count or task.resolved_action not in _BATCHABLE or task.throttle:
            self._start_held()
            return super()._queue_task(host, task, task_vars, play_context)
        self._held.append((host, task, task_vars, play_context))
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host,
            "task": task,
            "task_vars": task_vars,
            "play_context": play_context,
        }
        self._tqm.send_callback("v2_runner_on_start", host, task)
        self._pending_results += 1
        return None

    def _wait_on_pending_results(self, iterator):
        self._start_held()
        return super()._wait_on_pending_results(iterator)

    def _start_held(self):
        held, self._held = self._held, []
        if not held:
            return
        count = max(1, min(len(held), self._batch_count, len(self._workers)))
        for part in (held[i::count] for i in range(count)):
            host, task, task_vars, play_context = part[0]
            while True:
                slot = next(
                    (i for i, w in enumerate(self._workers) if w is None or not w.is_alive()),
                    None,
                )
                if slot is not None:
                    break
                time.sleep(0.0001)
            if self._workers[slot] is not None:
                self._workers[slot].close()
            worker = _BatchWorker(
                part,
                final_q=self._final_q,
                task_vars=task_vars,
                host=host,
                task=task,
                play_context=play_context,
                loader=self._loader,
                variable_manager=self._variable_manager,
                shared_loader_obj=plugin_loader.get_plugin_loader_namespace(),
                worker_id=slot,
                cliargs=context.CLIARGS,
            )
            self._workers[slot] = worker
            worker.start()
