# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options for connecting to the Kubernetes API, shared by the collection's modules.

The matching argument spec is plugins/module_utils/common_args.py:kubernetes_argument_spec().
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file.
      - If not set, the environment variable E(K8S_AUTH_KUBECONFIG) is used; if that is not set
        either, the Kubernetes client's own lookup applies (E(KUBECONFIG), C(~/.kube/config),
        then the in-cluster service account).
    type: path
  context:
    description:
      - Name of the context in O(kubeconfig) to use.
      - If not set, the environment variable E(K8S_AUTH_CONTEXT) is used, then the kubeconfig's
        current context.
    type: str
  host:
    description:
      - URL of the Kubernetes API server, overriding the one in O(kubeconfig).
      - If not set, the environment variable E(K8S_AUTH_HOST) is used.
    type: str
  api_key:
    description:
      - Bearer token to authenticate to the API server with, overriding the credentials in
        O(kubeconfig).
      - If not set, the environment variable E(K8S_AUTH_API_KEY) is used.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate.
      - If not set, the environment variable E(K8S_AUTH_VERIFY_SSL) is used, then the kubeconfig's
        setting (verification stays on unless the kubeconfig turns it off).
    type: bool
    aliases: [verify_ssl]
"""
