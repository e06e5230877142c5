# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: k8s_crds
short_description: Whether CustomResourceDefinitions exist in a cluster
version_added: 0.2.0
description:
  - For each CustomResourceDefinition name (V(servicemonitors.monitoring.coreos.com)), returns V(true) when
    the cluster has it and V(false) when it does not, with one GET per name from the controller.
  - Other answers of the API server (unreachable, unauthorized, forbidden) are errors naming the cluster.
  - The monitoring role uses it to decide whether to render ServiceMonitors and PrometheusRules.
author:
  - governed.odoo maintainers (@governed-odoo)
options:
  _terms:
    description: CustomResourceDefinition names (C(<plural>.<group>)).
    required: true
    type: list
    elements: str
  kubeconfig:
    description: Path to a kubeconfig file (default as kubectl finds it).
    type: path
  context:
    description: Context of the kubeconfig to use.
    type: str
  host:
    description: API server URL (with O(api_key), instead of a kubeconfig).
    type: str
  api_key:
    description: Bearer token.
    type: str
  validate_certs:
    description: Verify the API server's certificate.
    type: bool
  ca_cert:
    description: CA bundle of the API server.
    type: path
"""

EXAMPLES = r"""
- name: Does the cluster have the Prometheus Operator?
  ansible.builtin.debug:
    msg: >-
      {{ query('governed.odoo.k8s_crds', 'servicemonitors.monitoring.coreos.com',
               'prometheusrules.monitoring.coreos.com', kubeconfig='~/.kube/config') is all }}
"""

RETURN = r"""
_list:
  description: One boolean per name, in order.
  type: list
  elements: bool
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible_collections.governed.odoo.plugins.module_utils.apply import ApplyError
from ansible_collections.governed.odoo.plugins.module_utils.apply import client as kclient

CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"

# Answers already had in this process, per cluster connection and name. The monitoring role's render task reads
# monitoring_crds (which holds this lookup) in several of its keys, and a lookup is templated again wherever it is
# read; a CRD that appears or goes during one task is not a case worth a request per read. Errors are never kept.
_ANSWERS = {}


def crds_present(options, names):
    """One boolean per CRD name, for the cluster the connection ``options`` reach; answers are kept per process."""
    cluster = tuple(sorted((k, str(v)) for k, v in options.items() if v is not None))
    names = [str(name) for name in names]
    if all((cluster, name) in _ANSWERS for name in names):
        return [_ANSWERS[(cluster, name)] for name in names]
    try:
        client = kclient.client_from_options(**options)
    except ApplyError as exc:
        raise AnsibleError(f"cannot reach the cluster to look for CRDs: {exc}") from None
    out = []
    for name in names:
        try:
            client.get(CRD_PATH + name)
        except ApplyError as exc:
            if getattr(exc, "status", None) == 404:
                out.append(False)
                _ANSWERS[(cluster, name)] = False
                continue
            raise AnsibleError(f"cannot look for CRD {name}: {exc}") from None
        out.append(True)
        _ANSWERS[(cluster, name)] = True
    return out


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return crds_present({k: self.get_option(k) for k in kclient.CONNECTION_OPTIONS}, terms)
