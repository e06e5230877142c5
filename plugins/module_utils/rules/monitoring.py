# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of the monitoring role's inputs: the Prometheus Operator when monitoring is required, and values that
land in ServiceMonitors and in PromQL expressions (never interpolate text an alert rule cannot parse)."""

from __future__ import annotations

import re

from ansible_collections.governed.odoo.plugins.module_utils.metrics import url_problem
from ansible_collections.governed.odoo.plugins.module_utils.rules.checks import (
    as_int,
    dig,
    has_control_characters,
    is_dns_label,
    text,
)
from ansible_collections.governed.odoo.plugins.module_utils.rules.engine import rule

# the Prometheus Operator's Duration pattern (monitoring.coreos.com/v1)
_DURATION_RE = re.compile(r"0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?")
_PATH_RE = re.compile(r"/[A-Za-z0-9._~/-]*")
# a label key: an optional DNS subdomain prefix and a name of 1-63 characters; a value of at most 63
_LABEL_NAME_RE = re.compile(r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_VALUE_RE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
RATIOS = ("monitoring_http_error_ratio", "monitoring_postgresql_connections_ratio", "monitoring_redis_memory_ratio")
POSITIVE = ("monitoring_backup_max_age_hours", "monitoring_certificate_expiry_days", "monitoring_http_p95_seconds",
            "monitoring_drill_max_age_days", "monitoring_cron_backlog_max_minutes")
# null (the default) or a whole number of at least 1
OPTIONAL_POSITIVE = ("monitoring_connection_budget",)


@rule(
    "monitoring.crds_required",
    layer="monitoring",
    reads=("monitoring_mode", "monitoring_crds_present", "monitoring_crds", "governed_odoo_cluster"),
    refuses=(
        "monitoring_mode=enabled on a cluster without the Prometheus Operator CRDs, as the inventory says"
        " (monitoring_crds_present) or as the role looked them up (monitoring_crds); unknown passes here and is"
        " decided by the role's lookup"
    ),
    example=(
        "monitoring_mode=enabled but cluster lab has no Prometheus Operator CRDs"
        " (servicemonitors.monitoring.coreos.com, prometheusrules.monitoring.coreos.com);"
        " install the operator or use monitoring_mode=auto"
    ),
)
def crds_required(i):
    if i.get("monitoring_mode") != "enabled":
        return
    crds = i.get("monitoring_crds") if "monitoring_crds" in i else i.get("monitoring_crds_present")
    if crds is None or (isinstance(crds, str) and not crds.strip()):
        return
    if str(crds).strip().lower() in ("false", "0", "no", "off"):
        cluster = text(dig(i.get("governed_odoo_cluster"), "name"))
        yield (
            f"monitoring_mode=enabled but cluster {cluster} has no Prometheus Operator CRDs"
            " (servicemonitors.monitoring.coreos.com, prometheusrules.monitoring.coreos.com);"
            " install the operator or use monitoring_mode=auto"
        )


@rule(
    "monitoring.scrape_interval",
    layer="monitoring",
    reads=("monitoring_scrape_interval",),
    refuses="a scrape interval the Prometheus Operator refuses (a duration such as 30s, 1m or 1m30s)",
    example="monitoring_scrape_interval=30 sec must be a Prometheus duration such as 30s or 1m",
)
def scrape_interval(i):
    if "monitoring_scrape_interval" in i:
        value = i["monitoring_scrape_interval"]
        if not isinstance(value, str) or not value or not _DURATION_RE.fullmatch(value):
            yield f"monitoring_scrape_interval={text(value)!r} must be a Prometheus duration such as 30s or 1m"


@rule(
    "monitoring.alert_thresholds",
    layer="monitoring",
    reads=(*RATIOS, *POSITIVE, *OPTIONAL_POSITIVE),
    refuses=(
        "alert thresholds that are not numbers where they are written into PromQL: the ratios are numbers above 0"
        " and at most 1, the hours, days, minutes and seconds whole numbers of at least 1, a connection budget null or"
        " a whole number of at least 1"
    ),
    example="monitoring_http_error_ratio=5 must be a number above 0 and at most 1 (a share, such as 0.05)",
)
def alert_thresholds(i):
    for name in RATIOS:
        if name in i:
            value = i[name]
            try:
                ok = not isinstance(value, bool) and 0 < float(value) <= 1
            except (TypeError, ValueError):
                ok = False
            if not ok:
                yield f"{name}={text(value)} must be a number above 0 and at most 1 (a share, such as 0.05)"
    for name in POSITIVE:
        if name in i:
            value = as_int(i[name])
            if value is None or value < 1:
                yield f"{name}={text(i[name])} must be a whole number, at least 1"
    for name in OPTIONAL_POSITIVE:
        if i.get(name) not in (None, ""):
            value = as_int(i[name])
            if value is None or value < 1:
                yield f"{name}={text(i[name])} must be null or a whole number, at least 1"


@rule(
    "monitoring.promql_names",
    layer="monitoring",
    reads=("monitoring_odoo_metrics_path",),
    refuses="an Odoo metrics path that is not an absolute URL path (it is written into a ServiceMonitor)",
    example="monitoring_odoo_metrics_path='metrics' must be empty or an absolute URL path such as /metrics",
)
def promql_names(i):
    path = i.get("monitoring_odoo_metrics_path")
    if path and (not isinstance(path, str) or not _PATH_RE.fullmatch(path)):
        shown = "(a value with a control character)" if has_control_characters(path) else repr(text(path))
        yield f"monitoring_odoo_metrics_path={shown} must be empty or an absolute URL path such as /metrics"


@rule(
    "monitoring.selectors",
    layer="monitoring",
    reads=("monitoring_labels", "monitoring_prometheus"),
    refuses=(
        "labels and pod selectors the API server refuses (keys: an optional DNS prefix and a name of at most 63"
        " characters; values of at most 63 characters), and a Prometheus namespace that is not a DNS label"
    ),
    example="monitoring_labels: 'release name' is not a valid label key",
)
def selectors(i):
    maps = [("monitoring_labels", i.get("monitoring_labels"))]
    prometheus = i.get("monitoring_prometheus")
    if isinstance(prometheus, dict):
        maps.append(("monitoring_prometheus.pod_labels", prometheus.get("pod_labels")))
        namespace = prometheus.get("namespace")
        if namespace is not None and not is_dns_label(namespace):
            yield f"monitoring_prometheus.namespace={text(namespace)!r} is not a namespace name (DNS label)"
    for field, labels in maps:
        if labels is None:
            continue
        if not isinstance(labels, dict):
            yield f"{field} must be a mapping of label keys to values"
            continue
        for key, value in labels.items():
            if not isinstance(key, str) or not _LABEL_NAME_RE.fullmatch(key) or len(key.split("/")[-1]) > 63:
                yield f"{field}: {text(key)!r} is not a valid label key"
            elif not isinstance(value, str) or not _LABEL_VALUE_RE.fullmatch(value):
                yield f"{field}.{key}={text(value)!r} is not a valid label value (at most 63 letters, digits, -_.)"


@rule(
    "monitoring.pushgateway_url",
    layer="monitoring",
    reads=("monitoring_pushgateway_url",),
    refuses=(
        "a Pushgateway URL (where DR drills publish their RTO, RPO and result) that is not an http(s) URL with a"
        " host, or that carries credentials, a query or a fragment; empty means no push"
    ),
    example=(
        "monitoring_pushgateway_url=(a URL with credentials, not shown) must not carry credentials (user:password@);"
        " give the Pushgateway's basic auth or token separately"
    ),
)
def pushgateway_url(i):
    url = i.get("monitoring_pushgateway_url")
    if url in (None, ""):
        return
    problem = url_problem(url)
    if problem:
        shown = "(a value with a control character)" if has_control_characters(url) else repr(text(url))
        if "credentials" in problem:
            shown = "(a URL with credentials, not shown)"
        yield f"monitoring_pushgateway_url={shown} {problem}"
