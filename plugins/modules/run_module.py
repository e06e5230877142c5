#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: run_module
short_description: Run a module of any collection in the worker's own process when the connection is local
version_added: 0.2.0
description:
  - Runs the module named in O(module) with the arguments in O(args), and returns its result as if the task had
    called that module directly (same return values, C(changed), C(failed), check mode and diff).
  - A module task normally costs a new Python process on the target. When the target is the controller (a
    local connection, as for the collection's database, S3 and Kubernetes work), this plugin imports the
    module into the worker process that runs the task and calls its C(main()) there, the way
    ansible.netcommon's direct execution does. For a C(community.postgresql) module that saves about half a
    second of CPU per call, most of the call.
  - The module builds its usual C(AnsibleModule) from the same arguments (templated, with C(module_defaults)
    applied, including action groups such as C(group/community.postgresql.all)), so its argument checks,
    check mode support and C(no_log) masking are its own. Whatever it changes in its process dies with the
    worker, as with a module process.
  - With any other connection, with O(direct=false), or for a module that is not a Python module built on
    C(AnsibleModule), the module runs as a module process, as usual.
  - This is an action plugin; this file only documents it.
author:
  - governed.odoo maintainers (@governed-odoo)
attributes:
  check_mode:
    description: Passed to the module, which supports it or not.
    support: full
  diff_mode:
    description: Passed to the module, which supports it or not.
    support: full
  action:
    description: Runs as an action plugin on the controller.
    support: full
options:
  module:
    description: Fully qualified name of the module to run, for example C(community.postgresql.postgresql_query).
    type: str
    required: true
  args:
    description: Arguments of the module, as they would be written under the module in a task.
    type: dict
    default: {}
  direct:
    description: Whether to run the module in the worker's process when the connection is local.
    type: bool
    default: true
notes:
  - Module options marked C(no_log) by the module are masked by the module as usual; mark the task C(no_log)
    when O(args) carries other secrets, exactly as for the module itself.
seealso:
  - name: ansible.netcommon direct execution
    description: The same technique for network modules (C(import_modules) connection option).
    link: https://docs.ansible.com/ansible/latest/collections/ansible/netcommon/network_cli_connection.html
"""

EXAMPLES = r"""
- name: Run a query on the lab server without starting a module process
  governed.odoo.run_module:
    module: community.postgresql.postgresql_query
    args:
      login_host: 127.0.0.1
      login_user: postgres
      login_db: postgres
      query: SELECT 1 AS one
  register: answer
"""

RETURN = r"""
# The return values are those of the module named in O(module).
"""
