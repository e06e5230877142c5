# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The disaster-recovery drill report: RTO/RPO arithmetic, the JSON document, the HTML page.

Everything here is pure: facts gathered by the drill (times, the restore result, the data
verification, the neutralization check, the smoke test, the teardown) in; a report dict, its
verdict and a self-contained HTML page (inline CSS, no script, no external resource: it opens from
a file, a mail attachment or an artifact store alike) out.

Definitions used in the report:

* **RTO** (recovery time): wall time from the start of the drill to the moment the restored
  environment was verified (data compared, attachments checked, smoke test passed).
* **RPO** (data-loss window): the time between the backup's snapshot and the source's latest
  write, measured when the drill starts (zero if nothing was written since the backup). The
  upper bound ``now - backup time`` (what a disaster at drill start would have lost at most) is
  reported beside it, and is the RPO when the latest write cannot be measured.
"""

from __future__ import annotations

import datetime
import html
import json

REPORT_VERSION = 1


def parse_time(value):
    """ISO 8601 (with ``Z``), epoch seconds or a datetime -> aware datetime in UTC (pure)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        dt = value
    elif isinstance(value, (int, float)):
        dt = datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    else:
        text = str(value).strip().replace("Z", "+00:00")
        if " " in text and "T" not in text:
            text = text.replace(" ", "T", 1)
        dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def seconds_between(start, end):
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return None
    return round((b - a).total_seconds(), 3)


def rto(started_at, verified_at, target_seconds=None):
    secs = seconds_between(started_at, verified_at)
    return {"seconds": secs, "started_at": iso(parse_time(started_at)), "verified_at": iso(parse_time(verified_at)),
            "target_seconds": target_seconds,
            "met": None if secs is None or target_seconds is None else secs <= target_seconds}


def rpo(backup_at, source_latest_write_at, measured_at, target_seconds=None, basis=None):
    """The RPO figures (pure). ``source_latest_write_at`` may be None (not measurable)."""
    backup = parse_time(backup_at)
    latest = parse_time(source_latest_write_at)
    now = parse_time(measured_at)
    upper = seconds_between(backup, now) if backup and now else None
    if backup and latest:
        window = max(0.0, round((latest - backup).total_seconds(), 3))
        headline, how = window, f"latest write on the source ({basis or 'measured'}) minus backup time"
    else:
        window, headline, how = None, upper, "drill start minus backup time (latest write not measurable)"
    return {
        "seconds": headline,
        "basis": how,
        "backup_at": iso(backup),
        "source_latest_write_at": iso(latest),
        "measured_at": iso(now),
        "writes_after_backup_seconds": window,
        "upper_bound_seconds": upper,
        "target_seconds": target_seconds,
        "met": None if headline is None or target_seconds is None else headline <= target_seconds,
    }


def report_metrics(report, labels=None):
    """The samples a drill publishes (pure): result, time it finished, RTO and RPO with their targets.

    For ``governed.odoo.metrics_push`` (job ``governed_odoo_drill``, one group per instance): the monitoring role's
    drill alerts and the backup dashboard read them. A figure the drill could not measure (no RTO when the copy was
    never verified) is left out rather than pushed as 0, so that no alert compares a made-up number.
    """
    labels = dict(labels or {})
    finished = parse_time(report.get("finished_at")) or parse_time(report.get("started_at"))
    out = [
        {"name": "governed_odoo_drill_success", "value": 1 if report.get("result") == "pass" else 0,
         "help": "1 when the last DR drill passed, 0 when it failed", "labels": labels},
    ]
    if finished is not None:
        out.append({"name": "governed_odoo_drill_last_run_timestamp_seconds", "value": round(finished.timestamp(), 3),
                    "help": "When the last DR drill finished (Unix time)", "labels": labels})
    for key, what in (("rto", "recovery time"), ("rpo", "data-loss window")):
        info = report.get(key) or {}
        if info.get("seconds") is not None:
            out.append({"name": f"governed_odoo_drill_{key}_seconds", "value": float(info["seconds"]),
                        "help": f"{key.upper()} ({what}) measured by the last DR drill", "labels": labels})
        if info.get("target_seconds") is not None:
            out.append({"name": f"governed_odoo_drill_{key}_target_seconds", "value": float(info["target_seconds"]),
                        "help": f"{key.upper()} target of the instance's DR policy", "labels": labels})
    return out


def human_seconds(secs):
    if secs is None:
        return "n/a"
    secs = float(secs)
    if secs == 0:
        return "0 s"  # an RPO of nothing lost, not "0.0 s"
    if secs < 60:
        return f"{secs:.1f} s"
    if secs < 3600:
        big, small, units = int(secs // 60), int(secs % 60), ("min", "s")
    elif secs < 86400:
        big, small, units = int(secs // 3600), int(secs % 3600 // 60), ("h", "min")
    else:
        big, small, units = int(secs // 86400), int(secs % 86400 // 3600), ("d", "h")
    # "1 h", not "1 h 0 min"
    return f"{big} {units[0]} {small} {units[1]}" if small else f"{big} {units[0]}"


def human_bytes(n):
    if n is None:
        return "n/a"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def build_report(*, drill_id, environment, started_at, verified_at=None, finished_at=None, backup=None,
                 source=None, target=None, restore=None, data=None, attachments=None, neutralization=None, smoke=None,
                 teardown=None, phases=None, rto_target_seconds=None, rpo_target_seconds=None,
                 source_latest_write=None, errors=None):
    """The drill report dict, with its verdict (pure).

    ``data`` is a tablecheck comparison, ``attachments`` an attachment check (``ok``, ``checked``,
    ``referenced``, ``bytes``, ``problems``, ``missing_at_source``): a drill that verified fewer attachment
    files than the database references (0 of N included) fails, naming what was missing;
    ``neutralization`` a neutralize.verify() report, ``smoke`` a dict with ``ok`` and ``checks``,
    ``source_latest_write`` ``{"at": ..., "basis": ...}``.
    """
    backup = backup or {}
    source_latest_write = source_latest_write or {}
    failures = list(errors or [])
    sections = (("database", data), ("attachments", attachments), ("neutralization", neutralization),
                ("smoke test", smoke))
    for name, section in sections:
        if section is None:
            continue
        if not section.get("ok"):
            failures.append(f"{name} check failed")
    if not verified_at:
        failures.append("the restored environment was not verified: no recovery time")
    if data is None:
        failures.append("database was not verified")
    if attachments is None:
        failures.append("attachments were not verified")
    else:
        gap = attachment_gap(attachments)
        if gap:
            failures.append(gap)
    rto_info = rto(started_at, verified_at, rto_target_seconds)
    rpo_info = rpo(backup.get("created_at"), source_latest_write.get("at"), started_at, rpo_target_seconds,
                   source_latest_write.get("basis"))
    if rto_info["met"] is False:
        failures.append(f"RTO {human_seconds(rto_info['seconds'])} over the target "
                        f"{human_seconds(rto_target_seconds)}")
    if rpo_info["met"] is False:
        failures.append(f"RPO {human_seconds(rpo_info['seconds'])} over the target "
                        f"{human_seconds(rpo_target_seconds)}")
    if teardown is not None and not teardown.get("ok", True):
        failures.append("the drill environment was not torn down completely")
    return {
        "report_version": REPORT_VERSION,
        "drill_id": drill_id,
        "environment": environment,
        "result": "pass" if not failures else "fail",
        "failures": failures,
        "started_at": iso(parse_time(started_at)),
        "verified_at": iso(parse_time(verified_at)),
        "finished_at": iso(parse_time(finished_at)),
        "rto": rto_info,
        "rpo": rpo_info,
        "backup": backup,
        "source": source or {},
        "target": target or {},
        "phases": phases or [],
        "restore": restore or {},
        "database": data,
        "attachments": attachments,
        "neutralization": neutralization,
        "smoke": smoke,
        "teardown": teardown,
    }


def attachment_counts(att):
    """(checked, referenced) attachment files of an attachment check (pure).

    ``referenced`` (distinct store_fname values of the restored database) is in checks of this
    version; an older check gives at least ``checked`` plus the files missing at the source.
    """
    checked = int(att.get("checked") or 0)
    referenced = att.get("referenced")
    if referenced is None:
        referenced = checked + len(att.get("missing_at_source") or [])
    return checked, int(referenced)


def attachment_gap(att):
    """The failure text when fewer attachment files were verified than the database references, else None."""
    checked, referenced = attachment_counts(att)
    if checked >= referenced:
        return None
    missing = list(att.get("missing_at_source") or [])
    text = f"only {checked} of {referenced} attachment files verified"
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        text += f"; {len(missing)} missing at the source, not in the backup: {shown}"
    unexplained = referenced - checked - len(missing)
    if unexplained > 0:
        text += f"; {unexplained} not checked for another reason (see the problems)"
    return text


def to_json(report):
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------
_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--ink:#1f2328;--mute:#59636e;--line:#d1d9e0;--bg:#f6f8fa}
*{box-sizing:border-box}
body{font:15px/1.5 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--ink);margin:0;background:#fff}
main{max-width:1040px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:26px;margin:0 0 4px}
h2{font-size:18px;margin:32px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
.sub{color:var(--mute);margin:0 0 18px}
.badge{display:inline-block;padding:4px 14px;border-radius:999px;color:#fff;font-weight:700;letter-spacing:.04em;
vertical-align:middle;margin-left:10px;font-size:14px}
.pass{background:var(--ok)}.fail{background:var(--bad)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px;margin:18px 0}
.card{border:1px solid var(--line);border-radius:10px;padding:14px 16px;background:var(--bg)}
.card .k{color:var(--mute);font-size:13px;text-transform:uppercase;letter-spacing:.05em}
.card .v{font-size:26px;font-weight:700;margin:2px 0}
.card .n{font-size:13px;color:var(--mute)}
.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.bar{height:14px;background:#0969da;border-radius:3px;min-width:2px}
.fails{border:1px solid var(--bad);background:#ffebe9;border-radius:10px;padding:10px 16px;margin:14px 0}
.fails li{margin:2px 0}
details{margin:8px 0}summary{cursor:pointer;color:#0969da}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 18px;margin:0}
dl.kv dt{color:var(--mute)}dl.kv dd{margin:0;word-break:break-all}
footer{margin-top:36px;color:var(--mute);font-size:12px}
@media print{.card{break-inside:avoid}}
"""


def _e(value):
    return html.escape("" if value is None else str(value))


def _mark(ok):
    if ok is None:
        return '<span class="warn">&#8212;</span>'
    return '<span class="ok">&#10004; pass</span>' if ok else '<span class="bad">&#10008; fail</span>'


def _card(title, value, note, ok=None):
    cls = "" if ok is None else (" ok" if ok else " bad")
    return (f'<div class="card"><div class="k">{_e(title)}</div><div class="v{cls}">{_e(value)}</div>'
            f'<div class="n">{_e(note)}</div></div>')


def _kv(pairs):
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs if v not in (None, "", [], {}))
    return f'<dl class="kv">{rows}</dl>'


def _target_note(target, met):
    if target is None:
        return "no target set"
    if met is None:
        return f"target {human_seconds(target)}: not reached (no verified restore)"
    return f"target {human_seconds(target)}: " + ("met" if met else "missed")


def _phases_html(phases):
    if not phases:
        return "<p class='sub'>No phase timings recorded.</p>"
    longest = max((p.get("seconds") or 0) for p in phases) or 1
    rows = []
    for p in phases:
        secs = p.get("seconds") or 0
        width = max(0.5, 100.0 * secs / longest)
        rows.append(f"<tr><td>{_e(p.get('name'))}</td><td class='num'>{_e(human_seconds(secs))}</td>"
                    f"<td style='width:55%'><div class='bar' style='width:{width:.1f}%'></div></td></tr>")
    return "<table><tr><th>Phase</th><th>Duration</th><th></th></tr>" + "".join(rows) + "</table>"


def _database_html(data):
    if data is None:
        return "<p class='bad'>The database was not verified.</p>"
    tables = data.get("tables") or []
    total_rows = sum((t.get("rows") or 0) for t in tables)
    head = (f"<p>{_mark(data.get('ok'))} &nbsp; {len(tables)} tables compared, {data.get('hashes_compared', 0)} by "
            f"content hash, {total_rows:,} rows. Reference: {_e(data.get('reference', 'n/a'))}.</p>")
    problems = []
    labels = (("Missing tables", "missing"), ("Unexpected tables", "extra"), ("Differing tables", "mismatched"))
    for label, key in labels:
        if data.get(key):
            problems.append(f"<p class='bad'>{label}: <span class='mono'>{_e(', '.join(data[key]))}</span></p>")
    bad_first = sorted(tables, key=lambda t: (t.get("ok", True), t.get("table", "")))
    rows = []
    for t in bad_first:
        rows.append(
            f"<tr><td class='mono'>{_e(t.get('table'))}</td><td class='num'>{_e(t.get('expected_rows'))}</td>"
            f"<td class='num'>{_e(t.get('rows'))}</td><td class='mono'>{_e(t.get('hash', ''))}</td>"
            f"<td>{_mark(t.get('ok'))}</td></tr>")
    table = ("<table><tr><th>Table</th><th>Rows expected</th><th>Rows restored</th><th>Content hash</th>"
             "<th>Result</th></tr>" + "".join(rows) + "</table>")
    return head + "".join(problems) + f"<details {'open' if not data.get('ok') else ''}><summary>Every table "\
        f"({len(tables)})</summary>{table}</details>"


def _attachments_html(att):
    if att is None:
        return "<p class='bad'>The attachments were not verified.</p>"
    checked, referenced = attachment_counts(att)
    gap = attachment_gap(att)
    head = (f"<p>{_mark(att.get('ok') and not gap)} &nbsp; {checked:,} of {referenced:,} attachment files the "
            f"database references checked, {human_bytes(att.get('bytes'))}. "
            f"Reference: {_e(att.get('reference', 'n/a'))}.</p>")
    missing = att.get("missing_at_source") or []
    if gap:
        items = "".join(f"<li class='mono'>{_e(f)}</li>" for f in missing[:200])
        more = f"<li>... and {len(missing) - 200} more</li>" if len(missing) > 200 else ""
        head += (f"<div class='fails'><strong>Not verified: {_e(gap)}</strong>"
                 + (f"<p>Missing at the source when the backup was taken (referenced by ir_attachment, not in "
                    f"the backup):</p><ul>{items}{more}</ul>" if missing else "") + "</div>")
    problems = att.get("problems") or []
    if problems:
        items = "".join(f"<li class='mono'>{_e(p)}</li>" for p in problems[:200])
        more = f"<li>... and {len(problems) - 200} more</li>" if len(problems) > 200 else ""
        head += f"<div class='fails'><strong>Problems</strong><ul>{items}{more}</ul></div>"
    return head


def _checks_html(section, empty):
    if section is None:
        return f"<p class='sub'>{_e(empty)}</p>"
    rows = "".join(f"<tr><td>{_e(c.get('name'))}</td><td>{_mark(c.get('ok'))}</td><td>{_e(c.get('detail'))}</td></tr>"
                   for c in section.get("checks") or [])
    head = "<tr><th>Check</th><th>Result</th><th>Detail</th></tr>"
    return f"<p>{_mark(section.get('ok'))}</p><table>{head}{rows}</table>"


def render_html(report):
    """A self-contained, readable HTML page for ``report`` (pure)."""
    r = report
    ok = r.get("result") == "pass"
    rto_i, rpo_i = r.get("rto") or {}, r.get("rpo") or {}
    backup = r.get("backup") or {}
    failures = r.get("failures") or []
    att = r.get("attachments") or {}
    data = r.get("database") or {}
    cards = "".join([
        _card("Recovery time (RTO)", human_seconds(rto_i.get("seconds")),
              _target_note(rto_i.get("target_seconds"), rto_i.get("met")), rto_i.get("met")),
        _card("Data-loss window (RPO)", human_seconds(rpo_i.get("seconds")),
              _target_note(rpo_i.get("target_seconds"), rpo_i.get("met")), rpo_i.get("met")),
        _card("Tables verified", f"{len(data.get('tables') or [])}",
              f"{data.get('hashes_compared', 0)} by content hash", data.get("ok") if r.get("database") else None),
        _card("Attachments verified", "{:,} of {:,}".format(*attachment_counts(att)), human_bytes(att.get("bytes")),
              (att.get("ok") and not attachment_gap(att)) if r.get("attachments") else None),
    ])
    fail_html = ""
    if failures:
        fail_html = "<div class='fails'><strong>Why the drill failed</strong><ul>" + "".join(
            f"<li>{_e(f)}</li>" for f in failures) + "</ul></div>"
    rpo_notes = _kv([
        ("Backup snapshot", rpo_i.get("backup_at")),
        ("Latest write on the source", rpo_i.get("source_latest_write_at")),
        ("Measured at", rpo_i.get("measured_at")),
        ("RPO basis", rpo_i.get("basis")),
        ("Upper bound (drill start - backup)", human_seconds(rpo_i.get("upper_bound_seconds"))),
    ])
    backup_kv = _kv([
        ("Backup", backup.get("id")),
        ("Taken at", backup.get("created_at")),
        ("Odoo version", backup.get("odoo_version")),
        ("PostgreSQL version", backup.get("pg_version")),
        ("Database dump", human_bytes(backup.get("dump_bytes"))),
        ("Filestore", f"{backup.get('filestore_files', 'n/a')} files, {human_bytes(backup.get('filestore_bytes'))}"
         if backup.get("filestore_files") is not None else None),
        ("Objects verified before restore", backup.get("objects_verified")),
        ("Store", backup.get("store")),
    ])
    target = r.get("target") or {}
    source = r.get("source") or {}
    where_kv = _kv([
        ("Source environment", r.get("environment")),
        ("Source database", source.get("db_name")),
        ("Source server", source.get("server")),
        ("Drill namespace", target.get("namespace")),
        ("Drill database", target.get("db_name")),
        ("Drill server", target.get("server")),
        ("Drill filestore", target.get("filestore")),
    ])
    teardown = r.get("teardown")
    teardown_html = _checks_html(teardown, "Teardown not recorded.") if teardown else \
        "<p class='sub'>Teardown not recorded.</p>"
    title = f"DR drill {r.get('drill_id', '')} - {r.get('environment', '')}"
    body = f"""<main>
<h1>Disaster-recovery drill <span class="badge {'pass' if ok else 'fail'}">{'PASS' if ok else 'FAIL'}</span></h1>
<p class="sub">{_e(r.get('environment'))} &middot; drill <span class="mono">{_e(r.get('drill_id'))}</span> &middot;
started {_e(r.get('started_at'))} &middot; verified {_e(r.get('verified_at'))}</p>
{fail_html}
<div class="cards">{cards}</div>
<h2>Timeline</h2>
{_phases_html(r.get('phases'))}
<h2>Recovery point</h2>
{rpo_notes}
<h2>Backup restored</h2>
{backup_kv}
<h2>Where</h2>
{where_kv}
<h2>Database: row counts and content hashes per table</h2>
{_database_html(r.get('database'))}
<h2>Attachments: every file byte for byte</h2>
{_attachments_html(r.get('attachments'))}
<h2>Neutralization of the drill copy</h2>
{_checks_html(r.get('neutralization'), 'Not neutralized (not requested).')}
<h2>Smoke test</h2>
{_checks_html(r.get('smoke'), 'No smoke test recorded.')}
<h2>Teardown</h2>
{teardown_html}
<footer>Report format {_e(r.get('report_version'))}, written by governed.odoo. The JSON report beside this page
holds the same facts.</footer>
</main>"""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n")
