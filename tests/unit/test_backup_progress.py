"""Progress reporting (plugins/module_utils/backup/progress.py)."""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup.progress import Progress, human_bytes


def test_percent_is_capped_until_finished_and_lines_are_written(tmp_path):
    out = io.StringIO()
    log = tmp_path / "progress.log"
    p = Progress("backup prod/odoo", total=1000, interval=0.02, log_path=str(log), stream=out)
    p.start()
    p.advance(600, "db")
    p.advance(600, "files", 3)
    time.sleep(0.1)
    assert p.percent() == 99.9
    p.finish()
    assert p.percent() == 100.0
    text = out.getvalue()
    assert "[governed.odoo backup prod/odoo]" in text and "%" in text and "/s" in text
    assert "files" in text and "(3)" in text
    assert "done in" in log.read_text()
    s = p.summary()
    assert s["bytes_done"] == 1200 and s["counters"]["files"]["count"] == 3 and s["samples"]


def test_many_threads_and_reporter_do_not_deadlock():
    p = Progress("x", total=10**6, interval=0.001, stream=io.StringIO())
    p.start()

    def work():
        for _i in range(2000):
            p.advance(1, "files", 1)

    threads = [threading.Thread(target=work) for _i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
        assert not t.is_alive()
    p.finish()
    assert p.done == 16000
    assert len(p.summary()["samples"]) <= 20


def test_human_bytes():
    assert human_bytes(512) == "512 B"
    assert human_bytes(3 * 1024**3) == "3.00 GiB"
