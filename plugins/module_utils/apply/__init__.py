# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply a set of Kubernetes objects: server-side apply, ApplySet pruning, diff, wait.

The package is split by job:

    client.py    one HTTP client for the Kubernetes API, built from kubeconfig/context/host/
                 api_key/ca_cert/validate_certs (plain REST over urllib3; no object models)
    applyset.py  the ApplySet specification (KEP-3659): ids, parent labels and annotations
    diff.py      pure functions: strip server noise, redact Secrets, decide "unchanged"
                 locally, render before/after YAML
    engine.py    the run: discovery, list members, apply what changed, prune, wait

The errors below are the only exceptions the package raises on purpose; a module turns them
into a failure in one place.
"""

from __future__ import annotations


class ApplyError(Exception):
    """Applying (or pruning, or waiting for) an object failed.

    ``kind``/``name``/``namespace`` name the object when there is one; ``status`` and
    ``reason`` carry the API's HTTP status and reason (``Conflict``, ``Invalid``...).
    The message never contains Secret data.
    """

    def __init__(self, message, kind=None, name=None, namespace=None, api_version=None, status=None, reason=None):
        self.message = message
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.api_version = api_version
        self.status = status
        self.reason = reason
        super().__init__(self.__str__())

    @property
    def object_ref(self):
        if not self.kind:
            return None
        if self.namespace:
            return f"{self.kind} {self.namespace}/{self.name}"
        return f"{self.kind} {self.name}"

    def __str__(self):
        ref = self.object_ref
        return f"{ref}: {self.message}" if ref else self.message

    def to_dict(self):
        """The error as module return values (C(error) in a failed result)."""
        out = {"message": self.message}
        for key in ("api_version", "kind", "namespace", "name", "status", "reason"):
            val = getattr(self, key)
            if val is not None:
                out[key] = val
        return out


class KubeConfigError(ApplyError):
    """The connection options or kubeconfig do not give a usable API endpoint or credentials."""


class KubeAPIError(ApplyError):
    """The API server answered with an error status (or could not be reached)."""

    @property
    def not_found(self):
        return self.status == 404

    @property
    def conflict(self):
        return self.status == 409


class WaitTimeout(ApplyError):
    """Objects did not become ready within the wait timeout."""
