# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drift report: one JSON document, and one self-contained HTML page made from it.

The document (``format`` governed.odoo/drift-report, ``version`` 1)::

    generated_at   when the run compared (ISO 8601, UTC)
    summary        instances, drifted (names), findings, errors, parity_unexpected, verdict (clean/drift/error)
    instances      per instance: instance, tenant, environment, drifted, counts, checked, errors, drift (findings)
    parity         per tenant with staging and production: differences (category, object, field, staging,
                   production, expected, reason), expected and unexpected counts

Findings carry no Secret value (module_utils/drift/compare.py hashes them) and the page adds nothing but their
text, HTML-escaped; the page has inline CSS, no script and no external resource.
"""

from __future__ import annotations

import html
import json

FORMAT = "governed.odoo/drift-report"
VERSION = 1
MAX_VALUE = 2000


def build(results, parity=None, generated_at=None):
    """The report from the drift module's results (one per instance, with tenant/environment added)."""
    instances = []
    for res in sorted(results, key=lambda r: str(r.get("instance"))):
        instances.append(
            {
                "instance": res.get("instance"),
                "tenant": res.get("tenant"),
                "environment": res.get("environment"),
                "drifted": bool(res.get("drift")),
                "counts": res.get("counts") or {},
                "checked": res.get("checked") or {},
                "errors": list(res.get("errors") or []),
                "drift": list(res.get("drift") or []),
            }
        )
    parity = list(parity or [])
    errors = sum(len(i["errors"]) for i in instances)
    drifted = [i["instance"] for i in instances if i["drifted"]]
    summary = {
        "instances": len(instances),
        "drifted": drifted,
        "findings": sum(len(i["drift"]) for i in instances),
        "errors": errors,
        "parity_unexpected": sum(p.get("unexpected", 0) for p in parity),
        "verdict": "error" if errors else "drift" if drifted else "clean",
    }
    return {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": generated_at,
        "summary": summary,
        "instances": instances,
        "parity": parity,
    }


def _value(value):
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE] + f"... ({len(text) - MAX_VALUE} more characters)"
    return html.escape(text)


def _e(text):
    return html.escape(str(text if text is not None else ""))


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330;max-width:80rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}h3{font-size:1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{border:1px solid #d5d9e0;padding:.3rem .5rem;
text-align:left;vertical-align:top;font-size:.85rem}th{background:#f2f4f7}
td.v{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.7rem;font-weight:600;font-size:.8rem}
.clean{background:#e3f5e8;color:#17602e}.drift{background:#fde8e4;color:#8f2414}.error{background:#fff1cc;color:#7a5200}
.expected{color:#5b6577}.muted{color:#5b6577}
"""


def _findings_table(findings):
    if not findings:
        return "<p class='muted'>No field differs.</p>"
    rows = "".join(
        f"<tr><td>{_e(f.get('layer'))}</td><td>{_e(f.get('object'))}</td><td class='v'>{_e(f.get('field'))}</td>"
        f"<td class='v'>{_value(f.get('declared'))}</td><td class='v'>{_value(f.get('live'))}</td>"
        f"<td>{_e(f.get('note') or '')}</td></tr>"
        for f in findings
    )
    return (
        "<table><tr><th>layer</th><th>object</th><th>field</th><th>declared</th><th>live</th><th>note</th></tr>"
        f"{rows}</table>"
    )


def _parity_table(diffs):
    if not diffs:
        return "<p class='muted'>Staging and production declare the same objects and values.</p>"
    rows = "".join(
        f"<tr class='{'expected' if d.get('expected') else ''}'><td>{_e(d.get('category'))}</td>"
        f"<td>{_e(d.get('object'))}</td><td class='v'>{_e(d.get('field'))}</td>"
        f"<td class='v'>{_value(d.get('staging'))}</td><td class='v'>{_value(d.get('production'))}</td>"
        f"<td>{'expected: ' + _e(d.get('reason')) if d.get('expected') else '<b>unexpected</b>'}</td></tr>"
        for d in sorted(diffs, key=lambda d: (bool(d.get("expected")), d.get("category") or "", d.get("object") or ""))
    )
    return (
        "<table><tr><th>category</th><th>object</th><th>field</th><th>staging</th><th>production</th>"
        f"<th>policy</th></tr>{rows}</table>"
    )


def render_html(doc):
    """The report as one self-contained HTML page."""
    summary = doc.get("summary") or {}
    verdict = summary.get("verdict", "clean")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Drift report {_e(doc.get('generated_at'))}</title><style>{CSS}</style></head><body>",
        f"<h1>Drift report <span class='badge {_e(verdict)}'>{_e(verdict)}</span></h1>",
        f"<p class='muted'>Declared state (what playbooks/site.yml would apply) against what runs, "
        f"{_e(doc.get('generated_at'))}. Secret values are shown only as keyed hashes.</p>",
        "<table><tr><th>instances</th><th>drifted</th><th>changed fields</th><th>errors</th>"
        "<th>unexpected staging/production differences</th></tr>",
        f"<tr><td>{_e(summary.get('instances'))}</td><td>{_e(', '.join(summary.get('drifted') or []) or 'none')}</td>"
        f"<td>{_e(summary.get('findings'))}</td><td>{_e(summary.get('errors'))}</td>"
        f"<td>{_e(summary.get('parity_unexpected'))}</td></tr></table>",
        "<h2>Declared against live, per instance</h2>",
    ]
    for inst in doc.get("instances") or []:
        state = "error" if inst.get("errors") else "drift" if inst.get("drifted") else "clean"
        checked = inst.get("checked") or {}
        parts.append(
            f"<h3 id='{_e(inst.get('instance'))}'>{_e(inst.get('instance'))} "
            f"<span class='badge {state}'>{state}</span></h3>"
            f"<p class='muted'>{_e(inst.get('environment'))} · {_e(checked.get('objects', 0))} Kubernetes objects"
            f" · {_e(checked.get('database') or 'no database')} · {_e(len(checked.get('buckets') or []))} buckets</p>"
        )
        for err in inst.get("errors") or []:
            parts.append(f"<p class='badge error'>{_e(err.get('layer'))}: {_e(err.get('message'))}</p>")
        parts.append(_findings_table(inst.get("drift") or []))
    parts.append("<h2>Staging against production</h2>")
    if not doc.get("parity"):
        parts.append("<p class='muted'>No tenant has both a staging and a production instance in this run.</p>")
    for entry in doc.get("parity") or []:
        parts.append(
            f"<h3>{_e(entry.get('tenant'))}: {_e(entry.get('staging'))} against {_e(entry.get('production'))}</h3>"
            f"<p class='muted'>{_e(entry.get('unexpected'))} unexpected, {_e(entry.get('expected'))} expected "
            "by the policy</p>"
        )
        parts.append(_parity_table(entry.get("differences") or []))
    parts.append("</body></html>\n")
    return "".join(parts)
