# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: manifests
short_description: Render a template of Kubernetes manifests into a list of objects
version_added: 0.2.0
description:
  - Renders a Jinja2 template file (searched in the role's or play's C(templates) directories, like
    R(ansible.builtin.template,ansible_collections.ansible.builtin.template_lookup)) with the task's
    variables, parses the result as a YAML stream and returns its non-empty documents.
  - The same result as C(lookup('ansible.builtin.template', name) | from_yaml_all | select | list),
    without copying every variable of the host first (the builtin lookup deep-copies them, which is
    most of its cost once a host carries rendered objects) and without a round trip through one big
    string per template.
  - Use it with C(query) (or C(wantlist=true)) so that the documents come back as a list.
  - With O(output=json) it returns one string instead, the JSON array of every document of every template,
    what the collection's roles keep as facts and hand to C(governed.odoo.k8s_apply_set)'s C(objects_json).
    On ansible-core 2.19 a fact holding a list of nested objects is walked and copied again by every task
    that returns it, templates it or shows its result; a string is not (on a 10-instance C(site.yml) run
    that was about a second of a nine-second rerun). Use C(lookup) for it, or take the first item of C(query).
author:
  - governed.odoo maintainers (@governed-odoo)
options:
  _terms:
    description: Template file names.
    required: true
    type: list
    elements: str
  output:
    description:
      - V(objects) returns the documents as a list; V(json) returns one JSON array (a string) of all of them.
      - V(text) returns each rendered template as text, without parsing it (for a file that is not YAML, such as
        C(odoo.conf)), as R(ansible.builtin.template,ansible_collections.ansible.builtin.template_lookup)
        does, but without its copy of every variable and without the C(template_*) and C(ansible_managed)
        variables.
      - Values YAML reads as dates or times become their ISO 8601 text in V(json), as the Kubernetes API
        would need them anyway.
    type: str
    choices: [objects, json, text]
    default: objects
"""

EXAMPLES = r"""
- name: Render the objects of the layer
  ansible.builtin.set_fact:
    redis_objects: "{{ query('governed.odoo.manifests', 'redis.yml.j2') }}"

- name: The same objects as one JSON array, as the roles keep them
  ansible.builtin.set_fact:
    redis_objects: "{{ lookup('governed.odoo.manifests', 'redis.yml.j2', output='json') }}"
"""

RETURN = r"""
_list:
  description:
    - The non-empty YAML documents of the rendered templates, in order.
    - With O(output=json), a single string, the JSON array of those documents.
  type: list
  elements: raw
"""

import json

import yaml
from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible.template import trust_as_template

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        out = []
        for term in terms:
            path = self.find_file_in_search_path(variables, "templates", term)
            if not path:
                raise AnsibleError(f"the template file {term} could not be found for the lookup")
            source = trust_as_template(self._loader.get_text_file_contents(path))
            text = self._templar.template(source)
            if self.get_option("output") == "text":
                out.append(str(text))
                continue
            try:
                docs = list(yaml.load_all(str(text), Loader=SafeLoader))
            except yaml.YAMLError as exc:
                raise AnsibleError(f"{term} did not render to valid YAML: {exc}") from exc
            out.extend(doc for doc in docs if doc)
        if self.get_option("output") == "json":
            return [json.dumps(out, separators=(",", ":"), default=_iso)]
        return out


def _iso(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value")
