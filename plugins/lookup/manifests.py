# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: manifests
short_description: Build the Kubernetes objects of a layer of an Odoo instance
version_added: 0.2.0
description:
  - Builds the objects of one of the collection's layers (C(foundation), C(postgresql), C(redis), C(storage),
    C(odoo), C(ingress), C(monitoring), C(backup), the release Jobs C(odoo_migration) and C(odoo_health_probe)) or
    the text of C(odoo.conf), from the task's variables, in Python (C(plugins/module_utils/manifests)).
  - The objects are built as data and never pass through YAML text, so no inventory value can change their
    structure; only the variables a layer reads are templated, as they are read.
  - Use it with C(query) (or C(wantlist=true)) so that the objects come back as a list.
  - With O(output=json) it returns one string instead, the JSON array of every object of every layer, what the
    collection's roles keep as facts and hand to C(governed.odoo.k8s_apply_set)'s C(objects_json). A fact holding
    a list of nested objects is walked and copied again by every task that returns it, templates it or shows its
    result; a string is not. Use C(lookup) for it, or take the first item of C(query).
author:
  - governed.odoo maintainers (@governed-odoo)
options:
  _terms:
    description: Layer names.
    required: true
    type: list
    elements: str
    choices: [foundation, postgresql, redis, storage, odoo, odoo.conf, odoo_migration, odoo_health_probe, ingress,
              monitoring, backup]
  output:
    description:
      - V(objects) returns the objects as a list; V(json) returns one JSON array (a string) of all of them.
      - V(text) returns the text a layer builds (C(odoo.conf)).
    type: str
    choices: [objects, json, text]
    default: objects
"""

EXAMPLES = r"""
- name: Build the objects of the layer
  ansible.builtin.set_fact:
    redis_objects: "{{ query('governed.odoo.manifests', 'redis') }}"

- name: The same objects as one JSON array, as the roles keep them
  ansible.builtin.set_fact:
    redis_objects: "{{ lookup('governed.odoo.manifests', 'redis', output='json') }}"
"""

RETURN = r"""
_list:
  description:
    - The objects of the layers, in order.
    - With O(output=json), a single string, the JSON array of those objects.
    - With O(output=text), the text of each layer.
  type: list
  elements: raw
"""

import json
from collections.abc import Mapping

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.governed.odoo.plugins.module_utils import manifests
from ansible_collections.governed.odoo.plugins.module_utils.manifests.common import Refused
from ansible_collections.governed.odoo.plugins.plugin_utils.inprocess import plain


class TemplatedVariables(Mapping):
    """The task's variables as a builder reads them: each templated once, when first read, to plain values; an
    undefined variable is missing (a builder's ``get`` gives its default, as Jinja's ``default`` filter would)."""

    def __init__(self, templar, variables):
        self._templar = templar
        self._variables = variables
        self._values = {}

    def __getitem__(self, name):
        if name not in self._values:
            if name not in self._variables:
                raise KeyError(name)
            self._values[name] = plain(self._templar.template(self._variables[name]))
        return self._values[name]

    def __contains__(self, name):
        return name in self._values or name in self._variables

    def __iter__(self):
        return iter(self._variables)

    def __len__(self):
        return len(self._variables)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        output = self.get_option("output")
        values = TemplatedVariables(self._templar, variables or {})
        out = []
        for term in terms:
            if term not in manifests.BUILDERS:
                raise AnsibleLookupError(
                    f"governed.odoo.manifests: {term!r} is not a layer (one of {', '.join(manifests.BUILDERS)})"
                )
            try:
                built = manifests.build(term, values)
            except KeyError as exc:
                raise AnsibleLookupError(f"governed.odoo.manifests: {term}: {exc.args[0]!r} is undefined") from None
            except Refused as exc:
                raise AnsibleLookupError(exc.msg) from None
            if isinstance(built, str) != (output == "text"):
                raise AnsibleLookupError(
                    f"governed.odoo.manifests: {term} builds {'text' if isinstance(built, str) else 'objects'}: "
                    f"use output={'text' if isinstance(built, str) else 'objects or json'}"
                )
            if output == "text":
                out.append(built)
            else:
                out.extend(built)
        if output == "json":
            return [json.dumps(out, separators=(",", ":"))]
        return out
