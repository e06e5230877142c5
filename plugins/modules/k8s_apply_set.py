#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_apply_set
short_description: Server-side apply a set of Kubernetes objects and prune what left the set
version_added: 0.1.0
description:
  - Applies a list of Kubernetes manifests with server-side apply, as one
    L(ApplySet,https://git.k8s.io/enhancements/keps/sig-cli/3659-kubectl-apply-prune), and deletes
    the objects that an earlier run applied as part of the same set but that are no longer declared.
  - The set is tracked by a parent Secret (or ConfigMap) in O(namespace) that carries the label
    C(applyset.kubernetes.io/id) and the annotations C(applyset.kubernetes.io/tooling) and
    C(applyset.kubernetes.io/contains-group-kinds); every member carries the label
    C(applyset.kubernetes.io/part-of). The id is computed as the specification says, so
    C(kubectl) and other ApplySet-aware tools recognize the set (and refuse to change it).
  - Objects are applied in order - Namespaces and CustomResourceDefinitions, then other
    cluster-scoped objects (RBAC), then namespaced configuration, workloads and the rest - and
    pruned in the reverse order. Namespaces are never pruned unless O(allow_namespace_prune=true).
  - A run reads the live members once per kind with a label selector and sends no request at all
    for an object whose declared fields already equal the live values and are owned by
    O(field_manager); a rerun that finds nothing to change writes nothing.
  - In check mode every request that would write is sent as a server-side dry run
    (C(dryRun=All)), so the result says exactly which objects would be created, configured or
    pruned. With C(--diff) the result holds a before/after diff per changed object, without
    server bookkeeping fields and with the values of Secrets redacted.
author:
  - governed.odoo maintainers (@governed-odoo)
extends_documentation_fragment:
  - governed.odoo.kubernetes
attributes:
  check_mode:
    description: Supported, as a server-side dry run.
    support: full
  diff_mode:
    description: Before/after YAML per created, configured or pruned object; Secret values redacted.
    support: full
options:
  objects:
    description:
      - The complete set of objects, each a full manifest with C(apiVersion), C(kind) and
        C(metadata.name).
      - Namespaced objects without C(metadata.namespace) go to O(namespace).
      - C(status) and server-set metadata (C(resourceVersion), C(uid), C(creationTimestamp),
        C(managedFields)...) are ignored.
      - Numbers and booleans among the values of labels, annotations, ConfigMap C(data) and Secret
        C(stringData) are sent as strings (V(4) as V("4"), V(true) as V("true")).
      - One of O(objects) and O(objects_json) is required; an empty list is a set without objects (everything
        in it is pruned).
    type: list
    elements: dict
  objects_json:
    description:
      - More objects, as JSON arrays of objects (each item one array), applied after O(objects) as part of the
        same set. This is what the C(governed.odoo.manifests) lookup returns with C(output=json), which the
        collection's roles keep as facts, because a string costs Ansible nothing to copy, to send between processes and
        to hand to callbacks, where a list of nested objects is walked each time.
      - An item that is not a JSON array of objects is refused, naming its index, before anything is sent.
    type: list
    elements: str
    version_added: 0.2.0
  applyset:
    description:
      - Name of the set, for example V(odoo-acme-dev). It names the parent Secret that tracks the set.
      - V(configmap/<name>) makes the parent a ConfigMap instead; V(secret/<name>) is the same as V(<name>).
    type: str
    required: true
  namespace:
    description:
      - Namespace of the parent object, and the namespace of namespaced objects that do not name one.
      - If not set, the namespace of the kubeconfig context is used, then V(default).
    type: str
  prune:
    description:
      - Delete live members of the set that are no longer in O(objects).
    type: bool
    default: true
  allow_namespace_prune:
    description:
      - Also delete Namespaces that left the set (and with them everything in them).
      - When false, such a Namespace stays, stays a member, and is reported in RV(retained).
    type: bool
    default: false
  force_conflicts:
    description:
      - Take ownership of fields that another field manager owns (server-side apply C(force=true)).
      - When false, such a conflict fails the task and names the fields and their managers.
    type: bool
    default: true
  field_manager:
    description:
      - Field manager name for server-side apply. The parent object is written by V(<field_manager>-applyset).
    type: str
    default: governed.odoo
  wait:
    description:
      - Wait until every Deployment, StatefulSet and DaemonSet of the set has rolled out
        (observed generation, updated and available replicas) and every Job has completed.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait when O(wait=true).
    type: int
    default: 300
  validate_only:
    description:
      - Write nothing; send every object that would change as a server-side apply with C(dryRun=All) and report
        every object the API server refuses (all of them, not only the first) in RV(rejected). The task fails when
        any is refused. Nothing is pruned and the parent is not written.
      - Objects in a Namespace that the set creates are sent into O(stand_in_namespace) instead, because the API
        server answers NotFound for a missing namespace before it validates anything.
      - Runs the same with and without check mode; it never reports a change.
    type: bool
    default: false
    version_added: 0.3.0
  stand_in_namespace:
    description:
      - With O(validate_only=true), an existing namespace in which the objects of Namespaces the set creates are
        validated. Its objects are never changed (dry runs only).
      - Empty skips those objects, with a warning.
    type: str
    default: default
    version_added: 0.3.0
  ca_cert:
    description:
      - Path to a CA certificate bundle to verify the API server with, overriding the kubeconfig's.
      - If not set, the environment variable E(K8S_AUTH_SSL_CA_CERT) is used.
    type: path
    aliases: [ssl_ca_cert]
requirements:
  - PyYAML (to read the kubeconfig)
notes:
  - The module talks to the API with plain JSON REST over the Python standard library; it does not
    need the C(kubernetes) Python library except for kubeconfig users configured with a legacy
    C(auth-provider).
  - The values of Secrets in O(objects) are replaced in the task's reported arguments and never
    appear in RV(diff) or in error messages.
seealso:
  - name: ApplySet specification (KEP-3659)
    description: The labels and annotations that make an ApplySet.
    link: https://git.k8s.io/enhancements/keps/sig-cli/3659-kubectl-apply-prune
"""

EXAMPLES = r"""
- name: Apply the rendered objects of one Odoo instance as a set
  governed.odoo.k8s_apply_set:
    applyset: odoo-acme-dev
    namespace: odoo-acme-dev
    objects: "{{ odoo_rendered_objects }}"
    wait: true
    wait_timeout: 600

- name: Preview what would change (server-side dry run) with a diff
  governed.odoo.k8s_apply_set:
    applyset: odoo-acme-dev
    namespace: odoo-acme-dev
    objects: "{{ odoo_rendered_objects }}"
  check_mode: true
  diff: true
  register: preview

- name: Find every object the API server would refuse, before anything is written
  governed.odoo.k8s_apply_set:
    applyset: odoo-acme-dev
    namespace: odoo-acme-dev
    objects: "{{ odoo_rendered_objects }}"
    validate_only: true
    stand_in_namespace: default

- name: Connection options once for every module of the collection
  module_defaults:
    group/governed.odoo.all:
      kubeconfig: /etc/governed/kubeconfig
      context: platform
  governed.odoo.k8s_apply_set:
    applyset: foundation-acme
    namespace: odoo-acme-dev
    objects:
      - apiVersion: v1
        kind: Namespace
        metadata:
          name: odoo-acme-dev
      - apiVersion: v1
        kind: ConfigMap
        metadata:
          name: odoo-settings
        data:
          workers: "4"
"""

RETURN = r"""
applyset_id:
  description: The set's id, the value of the C(applyset.kubernetes.io/part-of) label of its members.
  returned: always
  type: str
  sample: applyset-VwMQeDxHj7H0q1W7oCFAEo3xXcbm2Uj09yyfkORl8uI-v1
parent:
  description: The parent object that tracks the set.
  returned: always
  type: dict
  sample: {"kind": "Secret", "namespace": "odoo-acme-dev", "name": "odoo-acme-dev"}
applied:
  description:
    - One entry per object of O(objects), in the same order.
    - C(action) is V(created), V(configured) or V(unchanged) (in check mode and with O(validate_only=true), what
      would happen), or V(rejected) (with O(validate_only=true), see RV(rejected)).
  returned: always
  type: list
  elements: dict
  sample:
    - {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "odoo-acme-dev", "name": "odoo",
       "action": "configured"}
    - {"apiVersion": "v1", "kind": "Service", "namespace": "odoo-acme-dev", "name": "odoo", "action": "unchanged"}
pruned:
  description: Objects deleted (in check mode, that would be deleted) because they left the set; C(action) is V(pruned).
  returned: always
  type: list
  elements: dict
  sample:
    - {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "odoo-acme-dev", "name": "old-settings",
       "action": "pruned"}
retained:
  description:
    - Namespaces that left the set but were kept because O(allow_namespace_prune=false).
    - C(action) is V(retained).
  returned: always
  type: list
  elements: dict
  sample: []
rejected:
  description:
    - With O(validate_only=true), every object the API server refused in the dry run, in the order of O(objects)
      (C(index) is the object's position), with the API's answer.
  returned: when validate_only is true
  type: list
  elements: dict
  sample:
    - {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "odoo-acme-dev", "name": "odoo-web", "index": 7,
       "status": 422, "reason": "Invalid",
       "message": "Deployment.apps \"odoo-web\" is invalid: spec.replicas: Invalid value: -1: must be greater than..."}
api_requests:
  description: Requests sent to the API server, by method (dry runs counted as C(PATCH?dryRun) and C(DELETE?dryRun)).
  returned: always
  type: dict
  sample: {"GET": 5, "PATCH": 2}
diff:
  description:
    - With C(--diff), one entry per created, configured or pruned object, with C(before) and
      C(after) as YAML and a header naming the object.
  returned: when diff mode is on
  type: list
  elements: dict
error:
  description:
    - On failure, the object and the API's answer
      (C(kind), C(namespace), C(name), C(status), C(reason), C(message)).
  returned: failure
  type: dict
  sample: {"kind": "Deployment", "namespace": "odoo-acme-dev", "name": "odoo", "status": 422, "reason": "Invalid",
           "message": "apply failed: Deployment.apps \"odoo\" is invalid: ..."}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.governed.odoo.plugins.module_utils.apply import task


def main():
    module = AnsibleModule(argument_spec=task.argument_spec(), supports_check_mode=True)
    result, secrets = task.run(module.params, check_mode=module.check_mode, diff=module._diff)
    module.no_log_values.update(secrets)
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
