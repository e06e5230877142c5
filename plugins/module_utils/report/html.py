# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The governance report as one self-contained HTML page (pure): inline CSS and SVG charts, no script, no image, no
font, no link to anything, so that it opens from a file, a mail attachment or an artifact store alike.

Order of the page: the audit trail's verdict first (a red banner when it fails verification: everything below is
read from it), then what needs attention, an overview table of the environments, promotions per month, and one
section per environment (running release, promotions, refusals, backup age and drill RTO charts, drift).
"""

from __future__ import annotations

import html as _html

from ansible_collections.governed.odoo.plugins.module_utils.restore.drill import human_seconds, parse_time

_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--ink:#1f2328;--mute:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--accent:#0969da}
*{box-sizing:border-box}
body{font:15px/1.5 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--ink);margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:24px 24px 48px}
h1{font-size:26px;margin:0 0 2px}
h2{font-size:19px;margin:34px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:20px 0 6px}
.sub{color:var(--mute);margin:0 0 16px}
.banner{border-radius:10px;padding:14px 18px;margin:14px 0;font-weight:600}
.banner.critical{background:#ffebe9;border:2px solid var(--bad);color:var(--bad)}
.banner.critical ul{font-weight:400;color:var(--ink);margin:6px 0 0}
.banner.good{background:#dafbe1;border:1px solid var(--ok);color:var(--ok)}
.banner.warning{background:#fff8c5;border:1px solid var(--warn);color:var(--warn)}
ul.attention{padding-left:20px}ul.attention li{margin:3px 0}
td ul{margin:0;padding-left:18px}
table.drill{margin-top:14px}
.sev-high{color:var(--bad)}.sev-medium,.sev-warning{color:var(--warn)}.sev-critical{color:var(--bad);font-weight:700}
table{border-collapse:collapse;width:100%;font-size:14px;margin:6px 0}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fails td{background:#ffebe9}
.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}.warn{color:var(--warn);font-weight:600}
.mute{color:var(--mute)}.small{font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:16px}
code.digest{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--mute)}
.release,code.digest,.nowrap{white-space:nowrap}
table.drift code{word-break:break-all;font-size:12px}
figure{margin:0;border:1px solid var(--line);border-radius:10px;padding:10px 12px;background:#fff}
figcaption{font-size:13px;color:var(--mute);margin-bottom:4px}
svg text{font:11px -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;fill:var(--mute)}
footer{margin-top:36px;color:var(--mute);font-size:12px}
@media print{figure,table{break-inside:avoid}}
"""

COLORS = ("#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e", "#1b7c83", "#6e7781")


def _e(value):
    return _html.escape("" if value is None else str(value), quote=True)


def _ok(flag, yes="met", no="missed"):
    if flag is None:
        return '<span class="mute">n/a</span>'
    return f'<span class="ok">{_e(yes)}</span>' if flag else f'<span class="bad">{_e(no)}</span>'


def _ts(value):
    dt = parse_time(value)
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "n/a"


def _short_digest(digest):
    """``sha256:`` and the first 12 hex digits: enough to tell two images apart on a page (the full one in the
    tooltip and the JSON)."""
    algo, sep, rest = str(digest).partition(":")
    return f"{algo}:{rest[:12]}" if sep else str(digest)[:19]


def _release(release, digest, note=None):
    """A release id in bold, its image digest (short) under it, and a note (``back from ...``) when given."""
    out = f'<b class="release">{_e(release)}</b>' if release else '<span class="mute">unknown</span>'
    if digest:
        out += f'<br><code class="digest" title="{_e(digest)}">{_e(_short_digest(digest))}</code>'
    if note:
        out += f'<br><span class="mute nowrap">{_e(note)}</span>'
    return out


# -- charts ------------------------------------------------------------------------------------------------------

# steps of a duration axis, in seconds: round numbers of seconds, minutes, hours and days
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def _axis(secs):
    """A duration as an axis reads it: ``0``, ``30 s``, ``15 min``, ``1.5 h``, ``36 h``, ``2 d`` (hours up to two
    days: a backup's age against a target of 26 h reads in hours)."""
    for unit, size, start in (("d", 86400, 172800), ("h", 3600, 3600), ("min", 60, 60)):
        if secs >= start:
            return f"{secs / size:g} {unit}"
    return f"{secs:g} s" if secs else "0"


def _ticks(top, n=4):
    """(axis top, ticks): the smallest round step that covers ``top`` in at most ``n`` steps, and its multiples."""
    step = next((s for s in _STEPS if s * n >= top), None)
    if step is None:
        step = _STEPS[-1] * -(-top // (_STEPS[-1] * n))
    count = max(1, int(-(-top // step)))
    return step * count, [step * i for i in range(count + 1)]


def time_chart(chart_id, caption, points, target=None, mode="line", width=520, height=210):
    """An SVG chart of durations ``points`` ([(ISO time, seconds)]) over time, with a dashed target line when given;
    the axis at round durations."""
    pts = [(parse_time(t), float(v)) for t, v in points if parse_time(t) is not None and v is not None]
    left, right, top, bottom = 78, 12, 12, 34
    inner_w, inner_h = width - left - right, height - top - bottom
    head = (
        f'<figure><figcaption>{_e(caption)}</figcaption><svg class="chart" id="{_e(chart_id)}" role="img" '
        f'aria-label="{_e(caption)}" viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_e(caption)}</title>"
    )
    if not pts:
        return head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no data</text></svg></figure>'
    t0, t1 = min(p[0] for p in pts), max(p[0] for p in pts)
    span = max((t1 - t0).total_seconds(), 1.0)
    # room above the highest value or the target, to the next round duration
    ymax, ticks = _ticks(max([p[1] for p in pts] + [target or 0]) * 1.1 or 1.0)

    def x(t):
        return left + inner_w * ((t - t0).total_seconds() / span if len(pts) > 1 else 0.5)

    def y(v):
        return top + inner_h * (1 - v / ymax)

    parts = [head]
    for tick in ticks:
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eaeef2"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{_e(_axis(tick))}</text>'
        )
    # one point in time (or several within the minute): one label under it, not the same time three times
    labels = ((0, "start"), (0.5, "middle"), (1, "end")) if span >= 60 else ((0.5, "middle"),)
    for frac, anchor in labels:
        when = t0 + (t1 - t0) * frac
        parts.append(
            f'<text x="{left + inner_w * frac:.1f}" y="{height - 10}" text-anchor="{anchor}">'
            f"{_e(when.strftime('%Y-%m-%d %H:%M'))}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + inner_h}" stroke="#8c959f"/>'
        f'<line x1="{left}" x2="{width - right}" y1="{top + inner_h}" y2="{top + inner_h}" stroke="#8c959f"/>'
    )
    if target:
        parts.append(
            f'<line class="target" x1="{left}" x2="{width - right}" y1="{y(target):.1f}" y2="{y(target):.1f}" '
            f'stroke="#cf222e" stroke-dasharray="5 4"/><text x="{width - right}" y="{y(target) - 4:.1f}" '
            f'text-anchor="end" style="fill:#cf222e">target {_e(_axis(target))}</text>'
        )
    coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in pts)
    if mode == "line":
        parts.append(f'<polyline class="series" points="{coords}" fill="none" stroke="#0969da" stroke-width="2"/>')
    for t, v in pts if mode == "points" else pts[-1:]:
        color = "#cf222e" if target and v > target else "#0969da"
        parts.append(
            f'<circle class="point" cx="{x(t):.1f}" cy="{y(v):.1f}" r="4" fill="{color}">'
            f"<title>{_e(t.strftime('%Y-%m-%d %H:%M'))}: {_e(human_seconds(v))}</title></circle>"
        )
    parts.append("</svg></figure>")
    return "".join(parts)


def bar_chart(chart_id, caption, months, environments, width=1040, height=220):
    """Promotions per month, stacked by environment."""
    left, right, top, bottom = 40, 12, 12, 46
    inner_w, inner_h = width - left - right, height - top - bottom
    head = (
        f'<figure><figcaption>{_e(caption)}</figcaption><svg class="chart" id="{_e(chart_id)}" role="img" '
        f'aria-label="{_e(caption)}" viewBox="0 0 {width} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_e(caption)}</title>"
    )
    if not months:
        return head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no promotions</text></svg></figure>'
    top_total = max(m["total"] for m in months)
    ymax = max(top_total, 1)
    slot = inner_w / len(months)
    bar_w = min(60.0, slot * 0.6)
    parts = [head]
    for tick in range(0, ymax + 1, max(1, ymax // 4)):
        ty = top + inner_h * (1 - tick / ymax)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#eaeef2"/>'
            f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick}</text>'
        )
    for i, month in enumerate(months):
        bx = left + slot * i + (slot - bar_w) / 2
        base = top + inner_h
        for j, env in enumerate(environments):
            count = month["by_environment"].get(env, 0)
            if not count:
                continue
            h = inner_h * count / ymax
            base -= h
            parts.append(
                f'<rect class="bar" data-month="{_e(month["month"])}" data-environment="{_e(env)}" '
                f'x="{bx:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{COLORS[j % len(COLORS)]}"><title>{_e(month["month"])} {_e(env)}: {count}</title></rect>'
            )
        parts.append(
            f'<text x="{bx + bar_w / 2:.1f}" y="{top + inner_h + 16}" text-anchor="middle">{_e(month["month"])}</text>'
        )
    lx = left
    for j, env in enumerate(environments):
        parts.append(
            f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{COLORS[j % len(COLORS)]}"/>'
            f'<text x="{lx + 14}" y="{height - 5}">{_e(env)}</text>'
        )
        lx += 24 + 8 * len(env)
    parts.append("</svg></figure>")
    return "".join(parts)


# -- sections ----------------------------------------------------------------------------------------------------


def _audit_banner(report):
    audit = report["audit"]
    if not audit["checked"]:
        return '<div class="banner warning" id="audit-status">No audit trail was read for this report.</div>'
    if audit["ok"]:
        return (
            f'<div class="banner good" id="audit-status">Audit trail verified: {audit["length"]} signed, '
            "hash-chained records, none edited, deleted or reordered.</div>"
        )
    items = "".join(
        f"<li>{'record ' + _e(p.get('seq')) + ': ' if p.get('seq') is not None else ''}<b>{_e(p.get('kind'))}</b>"
        f"{' (' + _e(p.get('copy')) + ' copy)' if p.get('copy') else ''}: {_e(p.get('reason'))}</li>"
        for p in audit["problems"][:20]
    )
    return (
        '<div class="banner critical" id="audit-status" role="alert">The audit trail FAILS verification: it has '
        "been tampered with, and the promotions, approvals and refusals below are read from it."
        f"<ul>{items}</ul></div>"
    )


def _attention(report):
    items = [a for a in report["attention"] if not (a["environment"] is None and a["severity"] in ("critical",))]
    if not items:
        # with a failed trail, the banner above is what needs attention
        text = "Nothing else needs attention." if report["audit"]["ok"] is False else "Nothing needs attention."
        return f'<p class="ok" id="attention">{text}</p>'
    rows = "".join(f'<li class="sev-{_e(a["severity"])}">{_e(a["text"])}</li>' for a in items)
    return f'<ul class="attention" id="attention">{rows}</ul>'


def _overview(report):
    rows = []
    for env in report["environments"]:
        running = env["running"]
        backup, drill = env["backup"], env["drill"]["latest"]
        drift = env["drift"]
        backup_cell = (
            "none"
            if not backup["count"]
            else f"{_e(human_seconds(backup['age_seconds']))} {_ok(backup['fresh'], 'fresh', 'stale')}"
        )
        drill_cell = (
            "none"
            if not drill
            else (
                f"RTO {_e(human_seconds(drill['rto_seconds']))} {_ok(drill['rto_met'])} / "
                f"RPO {_e(human_seconds(drill['rpo_seconds']))} {_ok(drill['rpo_met'])}"
            )
        )
        release_cell = (
            _release(running["release"], running.get("digest")) + _flag(running) + _check_line(running)
            if running
            else _release(None, None)
        )
        rows.append(
            f'<tr data-environment="{_e(env["name"])}"><td><b>{_e(env["name"])}</b></td>'
            f"<td>{release_cell}</td>"
            f"<td>{_e(_ts(running['since'])) if running else ''}</td>"
            f"<td>{len(env['promotions'])}</td><td>{len(env['refusals'])}</td>"
            f"<td>{backup_cell}</td><td>{drill_cell}</td><td>{_drift_cell(drift)}</td></tr>"
        )
    return (
        '<table id="overview"><tr><th>environment</th><th>running release</th><th>since</th>'
        "<th>recent promotions</th><th>refusals</th><th>newest backup</th><th>last DR drill</th><th>drift</th>"
        f"</tr>{''.join(rows)}</table>"
    )


def _drift_cell(drift):
    """The overview's drift: not checked (no drift report names the environment), clean, the number of changed
    fields, or an error; with the time of the check."""
    if drift is None:
        return '<span class="mute">not checked</span>'
    if drift["verdict"] == "error":
        verdict = '<span class="bad">could not be checked</span>'
    elif drift["drifted"]:
        verdict = f'<span class="bad">{len(drift["changes"])} field(s) changed</span>'
    else:
        verdict = '<span class="ok">clean</span>'
    return f'{verdict}<br><span class="mute small nowrap">checked {_e(_ts(drift["checked_at"]))}</span>'


_CHECKS = {
    "pending": ("warn", "verification pending"),
    "verified": ("ok", "verified after the sync"),
    "failed": ("bad", "verification failed"),
    "rolled back": ("bad", "verification failed, rolled back"),
}


def _check_line(row):
    """A GitOps commit's verification (promote_verify.yml) under the row: pending, verified, failed, rolled back."""
    check = row.get("verification")
    if not check:
        return ""
    css, text = _CHECKS.get(check["status"], ("mute", check["status"]))
    when = f' <span class="mute small">{_e(_ts(check["at"]))}</span>' if check.get("at") else ""
    why = check.get("reason")
    if check["status"] == "rolled back" and check.get("restored"):
        why = f"{why + '; ' if why else ''}database restored from the pre-release backup"
    detail = f'<br><span class="mute small">{_e(why if len(why) <= 140 else why[:137] + "...")}</span>' if why else ""
    title = f' title="{_e(why)}"' if why else ""
    return f'<br><span class="{css} check"{title}>{_e(text)}</span>{when}{detail}'


def _flag(row):
    """A row read from a record that fails verification: says so in red where the row is read."""
    kinds = row.get("fails_verification") or []
    if not kinds:
        return ""
    return (
        f'<br><span class="bad tampered">record {_e(row.get("seq"))} fails verification: '
        f"{_e(', '.join(dict.fromkeys(kinds)))}</span>"
    )


def _tr(row):
    return '<tr class="fails">' if row.get("fails_verification") else "<tr>"


def _what(deploy):
    """``promotion``, ``promotion (committed)``: the outcome when the record names one; a rollback whose outcome is
    ``rolled back`` is the rollback of a promotion that failed."""
    outcome = deploy.get("outcome")
    if deploy["kind"] == "rollback" and outcome == "rolled back":
        return "rollback of a failed promotion"
    return f"{deploy['kind']} ({outcome})" if outcome else str(deploy["kind"])


def _deployed(deploy):
    """The release a promotion deployed; for a rollback the one it went back to, and the one it came back from."""
    if deploy.get("kind") == "rollback" and deploy.get("to"):
        return _release(deploy["to"], deploy.get("to_digest"), f"back from {deploy['release']}")
    return _release(deploy["release"], deploy.get("digest"))


def _environment(env, index):
    name = env["name"]
    parts = [f'<section class="environment" id="env-{_e(name)}"><h2>{_e(name)}</h2>']
    running = env["running"]
    if running:
        digest = running.get("digest")
        parts.append(
            f'<p>Running release <b class="release">{_e(running["release"])}</b>'
            + (f' (<code class="digest" title="{_e(digest)}">{_e(_short_digest(digest))}</code>)' if digest else "")
            + f" since {_e(_ts(running['since']))} ({_e(_what(running))}, audit record {_e(running['seq'])})."
            + _flag(running)
            + _check_line(running)
            + "</p>"
        )
    else:
        parts.append('<p class="mute">No promotion of this environment is in the audit trail.</p>')
    parts.append("<h3>Recent promotions</h3>")
    if env["promotions"]:
        rows = "".join(
            f"{_tr(p)}<td class='nowrap'>{_e(_ts(p['at']))}</td><td>{_e(_what(p))}{_flag(p)}{_check_line(p)}</td>"
            f"<td>{_deployed(p)}</td>"
            f"<td class='nowrap'>{_e(p['instance'] or '')}</td>"
            f"<td>{_e(', '.join(p['approvers']) or 'none recorded')}</td>"
            f"<td>{_e(p['window'] or '')}</td><td>{_e(p['deployer'] or '')}</td></tr>"
            for p in env["promotions"]
        )
        parts.append(
            '<table class="promotions"><tr><th>when</th><th>what</th><th>release</th><th>instance</th>'
            f"<th>approvers</th><th>window</th><th>deployed by</th></tr>{rows}</table>"
        )
    else:
        parts.append('<p class="mute">None.</p>')
    parts.append("<h3>Refused promotions</h3>")
    if env["refusals"]:
        rows = "".join(
            f"{_tr(r)}<td class='nowrap'>{_e(_ts(r['at']))}</td><td>{_release(r['release'], r.get('digest'))}</td>"
            f"<td class='nowrap'>{_e(r['instance'] or '')}</td>"
            f"<td><ul>{''.join(f'<li>{_e(x)}</li>' for x in r['reasons'])}</ul>{_flag(r)}</td></tr>"
            for r in env["refusals"]
        )
        parts.append(
            f'<table class="refusals"><tr><th>when</th><th>release</th><th>instance</th><th>why</th></tr>{rows}</table>'
        )
    else:
        parts.append('<p class="mute">None.</p>')
    backup = env["backup"]
    parts.append("<h3>Backups and disaster recovery</h3>")
    if backup["databases"]:
        rows = "".join(
            f"<tr><td>{_e(d['db_name'])}</td><td>{_e(_ts(d['latest_at']))}</td>"
            f"<td class='num'>{_e(human_seconds(d['age_seconds']))}</td>"
            f"<td>{_ok(d['fresh'], 'fresh', 'stale')}</td></tr>"
            for d in backup["databases"]
        )
        parts.append(
            f'<table class="backups"><tr><th>database</th><th>newest backup</th><th>age</th>'
            f"<th>within {_e(_axis(backup['target_seconds']))}</th></tr>{rows}</table>"
        )
    else:
        parts.append('<p class="bad">No backup of this environment in the store.</p>')
    drill = env["drill"]["latest"]
    if drill:
        parts.append(
            f'<table class="drill"><tr><th>last drill</th><th>result</th><th>RTO</th><th>RTO target</th><th>RPO</th>'
            f"<th>RPO target</th></tr><tr><td>{_e(_ts(drill['at']))} <span class='mute'>{_e(drill['drill_id'])}</span>"
            f"</td><td>{_ok(drill['result'] == 'pass', 'pass', drill['result'] or 'fail')}</td>"
            f"<td class='num'>{_e(human_seconds(drill['rto_seconds']))} {_ok(drill['rto_met'])}</td>"
            f"<td class='num'>{_e(human_seconds(drill['rto_target_seconds']))}</td>"
            f"<td class='num'>{_e(human_seconds(drill['rpo_seconds']))} {_ok(drill['rpo_met'])}</td>"
            f"<td class='num'>{_e(human_seconds(drill['rpo_target_seconds']))}</td></tr></table>"
        )
    else:
        parts.append('<p class="mute">No disaster-recovery drill of this environment.</p>')
    parts.append('<div class="charts">')
    parts.append(
        time_chart(
            f"backup-age-{name}",
            f"{name}: age of the newest backup over time",
            [(p["at"], p["age_seconds"]) for p in backup["age_series"]],
            backup["target_seconds"],
        )
    )
    history = env["drill"]["history"]
    targets = [h["rto_target_seconds"] for h in history if h["rto_target_seconds"]]
    # no drill: the line above says so, an empty chart beside the backups would only repeat it
    if history:
        parts.append(
            time_chart(
                f"drill-rto-{name}",
                f"{name}: DR drill recovery time (RTO)",
                [(h["at"], h["rto_seconds"]) for h in history],
                targets[-1] if targets else None,
                mode="points",
            )
        )
    parts.append("</div>")
    drift = env["drift"]
    parts.append("<h3>Drift</h3>")
    if drift is None:
        parts.append('<p class="mute">Not checked: no drift report (playbooks/drift.yml) names this environment.</p>')
    else:
        names = ", ".join(str(i["instance"]) for i in drift["instances"])
        when = f"checked {_e(_ts(drift['checked_at']))}, instance(s) {_e(names)}"
        if drift["errors"]:
            items = "".join(f"<li>{_e(x)}</li>" for x in drift["errors"][:10])
            parts.append(f'<p class="bad drift-verdict">Could not be checked ({when}):</p><ul>{items}</ul>')
        if drift["drifted"]:
            parts.append(
                f'<p class="bad drift-verdict">{len(drift["changes"])} field(s) differ from the declared state '
                f"({when}):</p>"
            )
            rows = "".join(
                f"<tr><td class='nowrap'>{_e(c['instance'])}</td><td>{_e(c['layer'] or '')}</td>"
                f"<td>{_e(c['object'] or '')}</td><td><code>{_e(c['field'])}</code></td>"
                f"<td><code>{_e(c['declared'] if c['declared'] is not None else '')}</code></td>"
                f"<td><code>{_e(c['live'] if c['live'] is not None else '')}</code></td></tr>"
                for c in drift["changes"][:50]
            )
            parts.append(
                '<table class="drift"><tr><th>instance</th><th>layer</th><th>object</th><th>field</th>'
                f"<th>declared</th><th>live</th></tr>{rows}</table>"
            )
        elif not drift["errors"]:
            parts.append(f'<p class="ok drift-verdict">Clean: no drift from the declared state ({when}).</p>')
    parts.append("</section>")
    del index
    return "".join(parts)


def render(report):
    """The page (a str)."""
    envs = [e["name"] for e in report["environments"]]
    body = [
        _audit_banner(report),
        f"<h1>{_e(report['title'])}</h1>",
        f'<p class="sub">Generated {_e(_ts(report["generated_at"]))} from the audit trail, the backup store and the '
        "disaster-recovery drill reports.</p>",
        "<h2>Needs attention</h2>",
        _attention(report),
        "<h2>Environments</h2>",
        _overview(report),
        "<h2>Promotions per month</h2>",
        bar_chart("promotions-per-month", "Promotions per month, by environment", report["promotions_per_month"], envs),
    ]
    body.extend(_environment(env, i) for i, env in enumerate(report["environments"]))
    body.append(
        f"<footer>governed.odoo governance report, format {report['report_version']}. "
        "The JSON beside this page holds the same data.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(report['title'])}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
