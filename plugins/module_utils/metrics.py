# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Metrics of runs that end (a DR drill, a backup from the controller) pushed to a Prometheus Pushgateway.

A batch run cannot be scraped: it is gone before the next scrape. The Pushgateway keeps the last push of each
group (job + grouping labels) until the next one replaces it, and Prometheus scrapes the Pushgateway with
``honor_labels: true``. One group per instance and kind of run: a PUT replaces every metric of the group, so a
drill that failed does not leave the RTO of the previous one standing beside its own ``success 0``.

The text is Prometheus' exposition format 0.0.4 (``# HELP``, ``# TYPE``, one sample per line); names, label names
and values are checked here, before anything is sent (the rule ``monitoring.pushgateway_url`` checks the URL in
the inventory with :func:`url_problem`, the same function the module uses).
"""

from __future__ import annotations

import base64
import math
import re
import urllib.parse

from ansible_collections.governed.odoo.plugins.module_utils.errors import GovernedError

METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("gauge", "counter", "untyped")


class MetricsError(GovernedError):
    """A metric that cannot be written, or a push the Pushgateway refused or never answered."""


def url_problem(url) -> str | None:
    """Why ``url`` cannot be a Pushgateway base URL, or None. http(s) only, a host, no credentials in it (they
    would land in logs and in the inventory's history), no query or fragment."""
    if not isinstance(url, str) or not url:
        return "must be an http:// or https:// URL"
    if any(ord(c) < 32 or ord(c) == 127 or c.isspace() for c in url):
        return "holds whitespace or a control character"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (user:password@); give the Pushgateway's basic auth or token separately"
    if parts.query or parts.fragment:
        return "must not have a query or a fragment"
    try:
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError:
        return "has an invalid port"
    return None


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if not isinstance(value, (int, float)):
        raise MetricsError(f"a sample value must be a number, not {type(value).__name__}")
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    return str(value)


def _check_labels(labels, where) -> dict:
    labels = labels or {}
    if not isinstance(labels, dict):
        raise MetricsError(f"{where}: labels must be a mapping")
    out = {}
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_NAME_RE.fullmatch(key) or key.startswith("__"):
            raise MetricsError(f"{where}: {key!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
        out[key] = "" if value is None else str(value)
    return out


def exposition(metrics) -> str:
    """The exposition text of ``metrics``: a list of ``{name, value, help?, type?, labels?}``; samples of one name
    share one HELP/TYPE header (the first one's)."""
    if not isinstance(metrics, list) or not metrics:
        raise MetricsError("at least one metric is required")
    by_name: dict[str, list] = {}
    heads: dict[str, tuple] = {}
    for n, m in enumerate(metrics):
        if not isinstance(m, dict):
            raise MetricsError(f"metrics[{n}] must be a mapping")
        name = m.get("name")
        if not isinstance(name, str) or not METRIC_NAME_RE.fullmatch(name):
            raise MetricsError(f"metrics[{n}].name={name!r} is not a Prometheus metric name")
        mtype = m.get("type") or "gauge"
        if mtype not in TYPES:
            raise MetricsError(f"metrics[{n}].type={mtype!r} must be one of {', '.join(TYPES)}")
        labels = _check_labels(m.get("labels"), f"metrics[{n}]")
        value = _number(m.get("value"))
        help_text = str(m.get("help") or name).replace("\\", "\\\\").replace("\n", "\\n")
        heads.setdefault(name, (help_text, mtype))
        by_name.setdefault(name, []).append((labels, value))
    lines = []
    for name, samples in by_name.items():
        help_text, mtype = heads[name]
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {mtype}")
        for labels, value in samples:
            body = ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{body}}} {value}" if body else f"{name} {value}")
    return "\n".join(lines) + "\n"


def group_url(base_url: str, job: str, grouping=None) -> str:
    """``<base>/metrics/job/<job>/<label>/<value>...``, values base64url-encoded (``@base64``) so that any value,
    a slash or an empty one included, stays one path segment (the Pushgateway's own convention)."""
    problem = url_problem(base_url)
    if problem:
        raise MetricsError(f"Pushgateway URL {base_url!r} {problem}")
    if not isinstance(job, str) or not job:
        raise MetricsError("job must be a non-empty string")
    grouping = _check_labels(grouping, "grouping")
    if "job" in grouping:
        raise MetricsError("grouping: 'job' is given as job, not as a grouping label")

    def seg(key, value):
        if value and re.fullmatch(r"[A-Za-z0-9_.:-]+", value):
            return f"{key}/{value}"
        enc = base64.urlsafe_b64encode(value.encode()).decode() or "="
        return f"{key}@base64/{enc}"

    path = "/".join([seg("job", job), *(seg(k, grouping[k]) for k in sorted(grouping))])
    return base_url.rstrip("/") + "/metrics/" + path


def push(base_url: str, job: str, grouping, metrics, *, timeout=30.0, validate_certs=True, headers=None,
         url_username=None, url_password=None) -> dict:
    """Replace the group's metrics with ``metrics`` (HTTP PUT). Returns ``{url, status, samples}``."""
    body = exposition(metrics)
    url = group_url(base_url, job, grouping)
    hdrs = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8", **(headers or {})}
    # imported here: the rules (rules/monitoring.py) import this module on every render, and ansible's urls module
    # (http, ssl, email, cryptography) costs a forked worker about 0.05 s of CPU that only a push needs
    from ansible.module_utils.urls import open_url

    try:
        with open_url(url, data=body.encode(), method="PUT", headers=hdrs, timeout=timeout,
                      validate_certs=validate_certs, url_username=url_username, url_password=url_password,
                      force_basic_auth=url_username is not None) as resp:
            status = resp.status
    except Exception as exc:  # urllib's HTTPError, URLError, socket and TLS errors: one message for all
        detail = getattr(exc, "code", None)
        reason = f"HTTP {detail}" if detail else str(getattr(exc, "reason", exc))
        raise MetricsError(f"the Pushgateway at {base_url} did not take the metrics of {job}: {reason}") from exc
    return {"url": url, "status": status, "samples": len(metrics)}
