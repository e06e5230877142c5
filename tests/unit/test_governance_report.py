"""The governance report without a lab: the model from evidence (a real signed audit chain in a directory, backup
summaries, drill reports, a drift report), the page (self-contained, an edited trail first and in red), and the
task writing both files."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser

import pytest
from ansible_collections.governed.odoo.plugins.module_utils.audit import chain
from ansible_collections.governed.odoo.plugins.module_utils.audit.store import AuditTrail, LocalChain
from ansible_collections.governed.odoo.plugins.module_utils.drift import report as drift_report
from ansible_collections.governed.odoo.plugins.module_utils.report import gather, html, model, task
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
KEY = Ed25519PrivateKey.generate()
PUBLIC = [chain.public_pem(KEY)]

EVENTS = [
    (
        dt.datetime(2026, 10, 3, 9, 0, tzinfo=dt.UTC),
        {
            "kind": "promotion",
            "environment": "prod",
            "instance": "civil-prod",
            "release": {"id": "2026.10.0"},
            "approvers": [{"name": "alice"}, "bob"],
            "window": {"name": "weekly", "start": "09:00", "end": "11:00"},
            "deployer": "release-bot",
        },
    ),
    (
        dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC),
        {
            "kind": "refusal",
            "environment": "prod",
            "release": {"id": "2026.11.5"},
            "gates": [
                {"rule": "release.window", "ok": False, "message": "freeze finance: Month-end close"},
                {"rule": "release.approvals", "ok": True, "message": "2 of 2"},
            ],
        },
    ),
    (
        dt.datetime(2026, 11, 21, 9, 0, tzinfo=dt.UTC),
        {
            "kind": "promotion",
            "environment": "prod",
            "instance": "civil-prod",
            "release": "2026.11.6",
            "approvers": ["carol"],
            "window": "change window 42",
        },
    ),
    (
        dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC),
        {"kind": "promotion", "environment": "staging", "release": "2026.11.7", "approvers": ["dave"]},
    ),
    (dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), {"kind": "note", "environment": "prod", "text": "hello"}),
]


def write_trail(directory):
    trail = AuditTrail(local=LocalChain(directory))
    signer = chain.Signer(KEY)
    for when, event in EVENTS:
        trail.append(event, signer, when)
    return directory


def backups(env, db, *times):
    return [
        {
            "environment": env,
            "db_name": db,
            "backup_id": f"{t:%Y%m%dT%H%M%SZ}-abcdef",
            "started_at": f"{t:%Y-%m-%dT%H:%M:%SZ}",
        }
        for t in times
    ]


BACKUPS = backups(
    "prod", "civil_prod", NOW - dt.timedelta(hours=50), NOW - dt.timedelta(hours=26), NOW - dt.timedelta(hours=2)
) + backups("staging", "civil_staging", NOW - dt.timedelta(hours=40))
DRILLS = [
    {
        "drill_id": "d1",
        "environment": "prod",
        "started_at": "2026-11-01T03:00:00Z",
        "result": "pass",
        "failures": [],
        "rto": {"seconds": 600, "target_seconds": 3600, "met": True},
        "rpo": {"seconds": 300, "target_seconds": 900, "met": True},
    },
    {
        "drill_id": "d2",
        "environment": "prod",
        "started_at": "2026-12-01T03:00:00Z",
        "result": "fail",
        "failures": ["RTO 1 h 10 min over the target 1 h 0 min"],
        "rto": {"seconds": 4200, "target_seconds": 3600, "met": False},
        "rpo": {"seconds": 60, "target_seconds": 900, "met": True},
    },
]
# a drift report as playbooks/drift.yml writes it (module_utils/drift/report.py), of the run one hour ago
DRIFT = drift_report.build(
    [
        {
            "instance": "civil-prod",
            "tenant": "civil",
            "environment": "prod",
            "drift": [
                {
                    "layer": "kubernetes",
                    "object": "Deployment odoo-web",
                    "field": "spec.replicas",
                    "declared": 2,
                    "live": 3,
                }
            ],
        },
        {"instance": "civil-staging", "tenant": "civil", "environment": "staging", "drift": []},
    ],
    generated_at="2026-12-06T11:00:00Z",
)


@pytest.fixture
def trail_dir(tmp_path):
    return write_trail(tmp_path / "audit")


def build(trail_dir, **more):
    audit = gather.read_audit(None, local_dir=str(trail_dir), public_keys=PUBLIC)
    kwargs = dict(now=NOW, audit=audit, backups=BACKUPS, drills=DRILLS, drift=DRIFT)
    kwargs.update(more)
    return model.build(**kwargs)


def env(report, name):
    return next(e for e in report["environments"] if e["name"] == name)


def test_running_release_promotions_and_refusals_come_from_the_trail(trail_dir):
    report = build(trail_dir)
    assert report["audit"] == {"checked": True, "ok": True, "length": 5, "problems": []}
    assert [e["name"] for e in report["environments"]] == ["staging", "prod"]
    prod = env(report, "prod")
    assert prod["running"]["release"] == "2026.11.6" and prod["running"]["since"] == "2026-11-21T09:00:00Z"
    assert [p["release"] for p in prod["promotions"]] == ["2026.11.6", "2026.10.0"]
    assert prod["promotions"][1]["approvers"] == ["alice", "bob"]
    assert prod["promotions"][1]["window"] == "weekly (09:00 to 11:00)"
    assert prod["promotions"][0]["window"] == "change window 42"
    assert prod["refusals"] == [
        {
            "at": "2026-11-20T09:00:00Z",
            "seq": 2,
            "release": "2026.11.5",
            "digest": None,
            "instance": None,
            "reasons": ["release.window: freeze finance: Month-end close"],
            "fails_verification": [],
        }
    ]
    assert report["promotions_per_month"] == [
        {"month": "2026-10", "by_environment": {"prod": 1}, "total": 1},
        {"month": "2026-11", "by_environment": {"prod": 1, "staging": 1}, "total": 2},
    ]


def test_backup_freshness_against_the_target_and_age_over_time(trail_dir):
    report = build(trail_dir, backup_max_age={"staging": 48 * 3600})
    prod, staging = env(report, "prod")["backup"], env(report, "staging")["backup"]
    assert prod["fresh"] and prod["age_seconds"] == 7200 and prod["count"] == 3
    assert staging["fresh"] and staging["target_seconds"] == 48 * 3600
    assert [p["age_seconds"] for p in prod["age_series"]] == [0, 24 * 3600, 0, 24 * 3600, 0, 2 * 3600]
    stale = build(trail_dir)
    assert not env(stale, "staging")["backup"]["fresh"]
    assert any("staging: newest backup is 1 d 16 h old" in a["text"] for a in stale["attention"])
    none = build(trail_dir, backups=[])
    assert any(a["text"] == "prod: no backup found" for a in none["attention"])


def test_the_last_drill_against_its_targets(trail_dir):
    drill = env(build(trail_dir), "prod")["drill"]
    assert drill["latest"]["drill_id"] == "d2" and drill["latest"]["rto_met"] is False
    assert drill["latest"]["rpo_seconds"] == 60 and drill["latest"]["rpo_met"] is True
    assert [h["rto_seconds"] for h in drill["history"]] == [600, 4200]
    assert env(build(trail_dir), "staging")["drill"] == {"latest": None, "history": []}


def test_drift_is_listed_when_a_report_is_given(trail_dir):
    report = build(trail_dir)
    prod, staging = env(report, "prod")["drift"], env(report, "staging")["drift"]
    assert prod["changes"] == [
        {
            "instance": "civil-prod",
            "layer": "kubernetes",
            "object": "Deployment odoo-web",
            "field": "spec.replicas",
            "declared": "2",
            "live": "3",
        }
    ]
    assert (prod["verdict"], prod["checked_at"]) == ("drift", "2026-12-06T11:00:00Z")
    assert (staging["verdict"], staging["drifted"], staging["checked_at"]) == ("clean", False, "2026-12-06T11:00:00Z")
    assert [i["instance"] for i in staging["instances"]] == ["civil-staging"]
    assert env(build(trail_dir, drift=None), "prod")["drift"] is None
    drifted = {"severity": "medium", "environment": "prod", "text": "prod: 1 field(s) drifted from the declared state"}
    assert drifted in report["attention"]


def test_drift_per_environment_from_the_newest_report_of_each_instance_and_not_checked_where_none_names_it(
    trail_dir,
):
    """A later clean run of staging alone: prod keeps its earlier finding, staging reads clean at the later time; an
    environment no report names is not checked (the page says so, not "none"); a layer that could not be read is an
    error that needs attention."""
    later = drift_report.build(
        [
            {
                "instance": "civil-staging",
                "environment": "staging",
                "drift": [],
                "errors": ["database: connection refused"],
            }
        ],
        generated_at="2026-12-06T11:30:00Z",
    )
    report = build(trail_dir, drift=[later, DRIFT], environments=["staging", "prod", "dev"])
    staging, prod, dev = (env(report, n)["drift"] for n in ("staging", "prod", "dev"))
    assert (staging["verdict"], staging["checked_at"], staging["errors"]) == (
        "error",
        "2026-12-06T11:30:00Z",
        ["civil-staging: database: connection refused"],
    )
    assert (prod["verdict"], prod["checked_at"], len(prod["changes"])) == ("drift", "2026-12-06T11:00:00Z", 1)
    assert dev is None
    assert any(a["text"].startswith("staging: drift could not be checked") for a in report["attention"])
    page = html.render(report)
    overview = page[page.index('id="overview"') : page.index("</table>", page.index('id="overview"'))]
    dev_row = overview[overview.index('data-environment="dev"') :]
    assert "not checked" in dev_row.split("</tr>", 1)[0]
    prod_row = overview[overview.index('data-environment="prod"') :].split("</tr>", 1)[0]
    assert "1 field(s) changed" in prod_row and "checked 2026-12-06 11:00 UTC" in prod_row
    prod_section = page[page.index('id="env-prod"') :]
    assert "<code>spec.replicas</code>" in prod_section and "<td><code>2</code></td><td><code>3</code></td>" in (
        prod_section
    )
    assert "Not checked: no drift report" in page[page.index('id="env-dev"') :]
    clean = html.render(build(trail_dir))
    assert "Clean: no drift from the declared state (checked 2026-12-06 11:00 UTC" in clean[
        clean.index('id="env-staging"') :
    ]


def test_drift_reports_are_read_from_drift_yml_s_report_directory(tmp_path):
    (tmp_path / "drift-20261206T110000Z.json").write_text(json.dumps(DRIFT))
    (tmp_path / "drift-20261206T110000Z.html").write_text("<html></html>")
    (tmp_path / "other.json").write_text("not json")
    assert gather.read_drift(str(tmp_path)) == [DRIFT]
    assert gather.read_drift(str(tmp_path / "drift-20261206T110000Z.json")) == [DRIFT]
    assert gather.read_drift(None) is None
    with pytest.raises(gather.ReportError):
        gather.read_drift(str(tmp_path / "other.json"))


def test_an_edited_trail_is_reported_first(trail_dir):
    lines = (trail_dir / "chain.jsonl").read_text().splitlines()
    edited = json.loads(lines[1])
    edited["event"]["gates"][0]["ok"] = True  # someone hides why a promotion was refused
    lines[1] = json.dumps(edited)
    (trail_dir / "chain.jsonl").write_text("\n".join(lines) + "\n")
    report = build(trail_dir)
    assert report["audit"]["ok"] is False
    assert report["attention"][0]["severity"] == "critical"
    assert "record 2: edited" in report["attention"][0]["text"]
    page = html.render(report)
    banner = page.index('class="banner critical"')
    assert banner < page.index("<h1>") and banner < page.index('id="overview"')
    assert "FAILS verification" in page and "--bad:#cf222e" in page
    assert "Nothing needs attention" not in page
    # the row read from the edited record says so where it is read; the others do not
    (refusal,) = env(report, "prod")["refusals"]
    assert refusal["seq"] == 2 and refusal["fails_verification"] == ["edited"]
    assert all(not p["fails_verification"] for p in env(report, "prod")["promotions"])
    refusals = page[page.index('<table class="refusals">'):]
    refusals = refusals[: refusals.index("</table>")]
    assert '<tr class="fails">' in refusals and "record 2 fails verification: edited" in refusals
    assert page.count('<tr class="fails">') == 1 and page.count("fails verification: ") == 1


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_the_page_is_self_contained_with_its_charts(trail_dir):
    page = html.render(build(trail_dir))
    parser = _Tags()
    parser.feed(page)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(parser.tags)
    assert not [v for k, v in parser.attrs if k in ("src", "href")]
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg")
    assert "url(" not in page and "@import" not in page
    for chart in ("promotions-per-month", "backup-age-prod", "drill-rto-prod", "backup-age-staging"):
        assert f'id="{chart}"' in page
    # staging has no drill: the page says so once, without an empty chart
    assert 'id="drill-rto-staging"' not in page and "No disaster-recovery drill of this environment." in page
    assert page.count('class="bar"') == 3  # 2026-10 prod, 2026-11 prod and staging
    assert 'class="banner good"' in page and "2026.11.6" in page and "freeze finance: Month-end close" in page


def test_values_from_the_evidence_are_escaped(trail_dir):
    drift = {"instances": [{"instance": "<script>x</script>", "environment": "prod", "changes": ["a<b"]}]}
    page = html.render(build(trail_dir, drift=drift))
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_the_task_writes_both_files_and_check_mode_writes_nothing(trail_dir, tmp_path):
    drills = tmp_path / "drills"
    drills.mkdir()
    for d in DRILLS:
        (drills / f"drill-prod-{d['drill_id']}.json").write_text(json.dumps(d))
    (drills / "drill-prod-broken.json").write_text("{")
    params = {k: v.get("default") for k, v in task.argument_spec().items()}
    params.update(
        output_dir=str(tmp_path / "out"),
        audit_local_dir=str(trail_dir),
        audit_public_keys=PUBLIC,
        drill_reports_dir=str(drills),
    )
    result, _unused = task.run(params, check_mode=True, now=NOW)
    assert result["changed"] and not (tmp_path / "out").exists()
    result, _unused = task.run(params, now=NOW)
    assert result["changed"] and result["audit_ok"] is True
    assert result["evidence_problems"] and "drill-prod-broken.json" in result["evidence_problems"][0]
    data = json.loads((tmp_path / "out" / "governance-report.json").read_text())
    assert env(data, "prod")["drill"]["latest"]["drill_id"] == "d2"
    assert (tmp_path / "out" / "governance-report.html").read_text().startswith("<!DOCTYPE html>")
    again, _unused = task.run(params, now=NOW)
    assert again["changed"] is False


def test_a_trail_without_trusted_keys_is_refused(trail_dir, tmp_path):
    params = {k: v.get("default") for k, v in task.argument_spec().items()}
    params.update(output_dir=str(tmp_path / "out"), audit_local_dir=str(trail_dir))
    result, _unused = task.run(params, now=NOW)
    assert result["failed"] and "audit_public_keys" in result["msg"]


def test_a_failed_trail_alone_is_not_followed_by_nothing_needs_attention():
    audit = {
        "records": [],
        "verification": {"ok": False, "problems": [{"seq": 1, "kind": "deleted", "reason": "gone"}]},
    }
    page = html.render(model.build(now=NOW, audit=audit, environments=[]))
    assert "Nothing else needs attention." in page and "Nothing needs attention." not in page
    assert "Nothing needs attention." in html.render(
        model.build(now=NOW, audit={"records": [], "verification": {"ok": True}}, environments=[])
    )


def test_the_window_as_the_release_gate_records_it():
    """promote.yml records the gate's window decision ({name, allowed, at}); the report shows what decided (its name
    has the window's span in the environment's time zone; ``at`` is the promotion's own time, in the row already),
    and a promotion let through a closed window by override approvals as overridden."""
    window = {"name": "allow window weekday-evenings (2026-12-01 18:00 to 22:00 CET)", "allowed": True,
              "at": "2026-12-01 19:30 CET"}
    assert model._window({"window": window}) == "allow window weekday-evenings (2026-12-01 18:00 to 22:00 CET)"
    closed = {"name": "freeze finance (2026-12-01 to 2026-12-03 CET)", "allowed": False, "at": "2026-12-01 19:30 CET"}
    assert model._window({"window": closed}) == "freeze finance (2026-12-01 to 2026-12-03 CET) (overridden)"
    assert model._window({"window": None}) is None


def test_records_as_promote_yml_writes_them_real_gate_results_rollbacks_and_gitops_commits(tmp_path):
    """The shapes of promote.yml's records: gates as release_gate returns them ({id, passed, reasons}), a rollback
    naming the release rolled back and the one gone back ``to``, a GitOps promotion ``committed``."""
    trail = AuditTrail(local=LocalChain(tmp_path / "audit"))
    signer = chain.Signer(KEY)
    t0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    events = [
        {"kind": "promotion", "outcome": "verified", "environment": "dev", "release": {"id": "a1"}, "deployer": "bob"},
        {
            "kind": "refusal",
            "environment": "dev",
            "release": {"id": "d1"},
            "reason": "release.image_scan: release d1 to dev: no report; release.window: closed",
            "gates": [
                {"id": "release.path", "passed": True, "reasons": []},
                {"id": "release.image_scan", "passed": False, "reasons": ["release d1 to dev: no report"]},
                {"id": "release.window", "passed": False, "reasons": ["closed", "frozen"]},
            ],
        },
        {"kind": "promotion", "outcome": "verified", "environment": "dev", "release": {"id": "b1"}},
        {"kind": "rollback", "outcome": "verified", "environment": "dev", "release": {"id": "b1"}, "to": {"id": "a1"}},
        {"kind": "promotion", "outcome": "committed", "environment": "qa", "release": {"id": "c1"}},
    ]
    for n, event in enumerate(events):
        trail.append(event, signer, t0 + dt.timedelta(hours=n))
    audit = gather.read_audit(None, local_dir=str(tmp_path / "audit"), public_keys=PUBLIC)
    report = model.build(now=NOW, audit=audit)
    dev, qa = env(report, "dev"), env(report, "qa")
    assert dev["refusals"][0]["reasons"] == [
        "release.image_scan: release d1 to dev: no report",
        "release.window: closed",
        "release.window: frozen",
    ]
    assert dev["running"]["release"] == "a1" and dev["running"]["kind"] == "rollback"
    assert qa["running"]["release"] == "c1" and qa["running"]["outcome"] == "committed"
    assert qa["promotions"][0]["outcome"] == "committed"
    page = html.render(report)
    assert "promotion (committed)" in page and "rollback (verified)" in page


def test_digests_and_rollbacks_as_the_records_name_them(tmp_path):
    """A promotion's release names its image and digest (promote.yml adds ``digest``; an older record only the pinned
    ``image``); a rollback names the release rolled back and the one gone back ``to``: the page shows what each row
    deployed with its short digest (the full one in the tooltip and the JSON), a rollback as the release it went
    back to, back from the other."""
    a_image = "registry.lab:5000/odoo-standin-a@sha256:" + "a1" * 32
    b_digest = "sha256:" + "b2" * 32
    trail = AuditTrail(local=LocalChain(tmp_path / "audit"))
    signer = chain.Signer(KEY)
    t0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    events = [
        {"kind": "promotion", "outcome": "verified", "environment": "dev", "release": {"id": "a1", "image": a_image}},
        {"kind": "promotion", "outcome": "verified", "environment": "dev",
         "release": {"id": "b1", "image": "registry.lab:5000/odoo-standin-b@" + b_digest, "digest": b_digest}},
        {"kind": "refusal", "environment": "prod", "release": {"id": "b1", "digest": b_digest},
         "gates": [{"id": "release.path", "passed": False, "reasons": ["not verified in uat"]}]},
        {"kind": "rollback", "outcome": "verified", "environment": "dev", "release": {"id": "b1", "digest": b_digest},
         "to": {"id": "a1", "image": a_image}},
    ]
    for n, event in enumerate(events):
        trail.append(event, signer, t0 + dt.timedelta(hours=n))
    report = model.build(now=NOW, audit=gather.read_audit(None, local_dir=str(tmp_path / "audit"), public_keys=PUBLIC))
    dev, prod = env(report, "dev"), env(report, "prod")
    assert (dev["running"]["release"], dev["running"]["digest"]) == ("a1", "sha256:" + "a1" * 32)
    rollback, b_row, a_row = dev["promotions"]
    assert (rollback["release"], rollback["digest"], rollback["to"], rollback["to_digest"]) == (
        "b1", b_digest, "a1", "sha256:" + "a1" * 32)
    assert (b_row["digest"], b_row["to"], a_row["digest"]) == (b_digest, None, "sha256:" + "a1" * 32)
    assert prod["refusals"][0]["digest"] == b_digest
    page = html.render(report)
    rows = page[page.index('<table class="promotions">'):]
    rows = rows[: rows.index("</table>")].split("<tr>")[2:]
    assert len(rows) == 3
    short = '<code class="digest" title="sha256:' + "a1" * 32 + '">sha256:a1a1a1a1a1a1</code>'
    assert f'<b class="release">a1</b><br>{short}' in rows[0] and "back from b1" in rows[0]
    assert "sha256:b2b2b2b2b2b2<" in rows[1] and "back from" not in rows[1]
    assert "sha256:b2b2b2b2b2b2<" in page[page.index('<table class="refusals">'):]
    overview = page[page.index('id="overview"'):page.index("</table>", page.index('id="overview"'))]
    assert "sha256:a1a1a1a1a1a1" in overview  # dev runs a1 again


def test_duration_axes_are_round():
    """The charts' axes step by round durations (not 29.9 h, 22.4 h, ...) and read as durations."""
    assert html._ticks(26 * 3600 * 1.1) == (36 * 3600, [0, 12 * 3600, 24 * 3600, 36 * 3600])
    assert html._ticks(3600 * 1.1) == (5400, [0, 1800, 3600, 5400])
    assert [html._axis(v) for v in (0, 30, 900, 5400, 86400, 2 * 86400)] == [
        "0", "30 s", "15 min", "1.5 h", "24 h", "2 d"]
    chart = html.time_chart("c", "RTO", [("2026-12-06T20:55:00Z", 74.2)], 3600, mode="points")
    assert chart.count("2026-12-06 20:55</text>") == 1  # one point in time, one label
    assert ">target 1 h</text>" in chart and ": 1 min 14 s</title>" in chart


def test_the_running_release_read_from_an_edited_record_is_flagged_in_the_overview(trail_dir):
    lines = (trail_dir / "chain.jsonl").read_text().splitlines()
    edited = json.loads(lines[2])  # record 3: the promotion prod runs
    edited["event"]["approvers"] = ["mallory"]
    lines[2] = json.dumps(edited)
    (trail_dir / "chain.jsonl").write_text("\n".join(lines) + "\n")
    report = build(trail_dir)
    assert env(report, "prod")["running"]["fails_verification"] == ["edited"]
    page = html.render(report)
    overview = page[page.index('id="overview"') : page.index("</table>", page.index('id="overview"'))]
    row = overview[overview.index('data-environment="prod"') :]
    assert "record 3 fails verification: edited" in row
    assert "fails verification" not in overview[: overview.index('data-environment="prod"')]


def test_gitops_commits_show_their_verification_pending_verified_failed_and_rolled_back(tmp_path):
    """The records promote.yml, promote_verify.yml and rollback.yml write in GitOps mode: each committed row carries
    what promote_verify.yml recorded of it (``event.of.hash``); the rollback of a failed verification names the image
    it went back to, shown as that release; a running commit not yet verified needs attention."""
    trail = AuditTrail(local=LocalChain(tmp_path / "audit"))
    signer = chain.Signer(KEY)
    t0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    c_digest, f_digest = "sha256:" + "c" * 64, "sha256:" + "f" * 64
    c_image, f_image = f"registry.lab/odoo@{c_digest}", f"registry.lab/odoo@{f_digest}"
    gitops = {"delivery": "gitops", "environment": "dev", "instance": "gp-dev", "deployer": "bob"}
    steps = iter(range(100))

    def append(event):
        return trail.append(event, signer, t0 + dt.timedelta(minutes=10 * next(steps)))

    def of(record):
        return {"seq": record["seq"], "hash": record["hash"], "kind": record["event"]["kind"]}

    c = append({**gitops, "kind": "promotion", "outcome": "committed", "release": {"id": "c1", "digest": c_digest}})
    append({**gitops, "kind": "verification", "ok": False, "outcome": "failed", "of": of(c), "applied": False,
            "failure": "the controller did not roll out the commit"})
    append({**gitops, "kind": "verification", "ok": True, "outcome": "verified", "of": of(c)})
    f = append({**gitops, "kind": "promotion", "outcome": "committed", "release": {"id": "f1", "image": f_image},
                "backup": "20261201T093000Z-abc"})
    back = append({**gitops, "kind": "rollback", "outcome": "rolled back", "of": of(f), "to": {"image": c_image},
                   "release": {"id": "f1", "image": f_image}, "failure": "Verify the release: /web/health 500",
                   "restored": "20261201T093000Z-abc"})
    append({**gitops, "kind": "verification", "ok": True, "outcome": "verified", "of": of(back)})
    g = append({**gitops, "environment": "qa", "kind": "promotion", "outcome": "committed",
                "release": {"id": "c1", "digest": c_digest}})
    append({**gitops, "environment": "qa", "kind": "verification", "ok": False, "outcome": "failed", "of": of(g),
            "applied": False, "failure": "not applied"})
    append({**gitops, "environment": "uat", "kind": "promotion", "outcome": "committed",
            "release": {"id": "c1", "digest": c_digest}})
    append({"kind": "promotion", "outcome": "verified", "environment": "prod", "release": {"id": "c1"}})
    audit = gather.read_audit(None, local_dir=str(tmp_path / "audit"), public_keys=PUBLIC)
    report = model.build(now=NOW, audit=audit)
    dev, qa, uat, prod = (env(report, n) for n in ("dev", "qa", "uat", "prod"))
    assert [(p["kind"], p["release"], p["to"], p["verification"]["status"]) for p in dev["promotions"]] == [
        ("rollback", "f1", "c1", "verified"),
        ("promotion", "f1", None, "rolled back"),
        ("promotion", "c1", None, "verified"),
    ]
    rolled = dev["promotions"][1]["verification"]
    assert rolled["seq"] == back["seq"] and rolled["restored"] == "20261201T093000Z-abc", rolled
    assert rolled["reason"] == "Verify the release: /web/health 500"
    assert (dev["running"]["release"], dev["running"]["digest"], dev["running"]["verification"]["status"]) == (
        "c1",
        c_digest,
        "verified",
    )
    assert qa["running"]["verification"] == {
        "status": "failed",
        "at": "2026-12-01T10:10:00Z",
        "seq": 8,
        "reason": "not applied",
        "applied": False,
    }
    assert uat["running"]["verification"] == {"status": "pending", "at": None, "seq": None, "reason": None}
    assert prod["running"]["verification"] is None and prod["promotions"][0]["verification"] is None
    checks = [(a["severity"], a["environment"]) for a in report["attention"] if "verif" in a["text"]]
    assert checks == [("high", "qa"), ("warning", "uat")], report["attention"]
    # verifications are no promotions: six deploy records, four environments
    assert sum(len(e["promotions"]) for e in report["environments"]) == 6
    page = html.render(report)
    dev_section = page[page.index('id="env-dev"') : page.index('id="env-qa"')]
    assert "rollback of a failed promotion" in dev_section and "verification failed, rolled back" in dev_section
    assert "database restored from the pre-release backup" in dev_section
    assert dev_section.count("verified after the sync") == 3  # the running line, the rollback and c1's promotion
    assert "verification failed" in page[page.index('id="env-qa"') :]
    assert "verification pending" in page[page.index('id="env-uat"') :]
    assert "verified after the sync" not in page[page.index('id="env-prod"') :]


def test_a_rollback_naming_the_release_rolled_back_by_its_image_alone_shows_that_release(tmp_path):
    """rollback.yml's record names the release it rolls back by its image only (seen on the lab): shown as the
    release that image's digest was promoted as, not as nothing."""
    trail = AuditTrail(local=LocalChain(tmp_path / "audit"))
    signer = chain.Signer(KEY)
    t0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    b_image, c_image = "r/odoo@sha256:" + "b" * 64, "r/odoo@sha256:" + "c" * 64
    base = {"environment": "dev", "delivery": "gitops", "outcome": "committed"}
    events = [
        {**base, "kind": "promotion", "release": {"id": "c1", "image": c_image}},
        {**base, "kind": "promotion", "release": {"id": "b1", "image": b_image}},
        {**base, "kind": "rollback", "release": {"image": b_image}, "to": {"id": "c1", "image": c_image}},
    ]
    for n, event in enumerate(events):
        trail.append(event, signer, t0 + dt.timedelta(hours=n))
    report = model.build(now=NOW, audit=gather.read_audit(None, local_dir=str(tmp_path / "audit"), public_keys=PUBLIC))
    rows = env(report, "dev")["promotions"]
    assert [(p["kind"], p["release"], p["to"]) for p in rows] == [
        ("rollback", "b1", "c1"),
        ("promotion", "b1", None),
        ("promotion", "c1", None),
    ]
    assert "back from b1" in html.render(report)
