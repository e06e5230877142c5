# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Progress of long backups, verifications and restores: percent and throughput while running.

A :class:`Progress` is fed byte counts by any thread (``advance``) and, from a background thread,
writes one line every ``interval`` seconds to stderr and, if given, a log file (``tail -f`` it, or
read the pod log of a CronJob). The module result gets :meth:`summary` (totals, average
throughput) and a few samples, so a finished run also shows how it went.

Line format (stable, for humans and grep)::

    [governed.odoo backup production/odoo] 42.1% 1.21 GiB/2.87 GiB 85.3 MiB/s eta 20s db 310 MiB files 1203/20000
"""

from __future__ import annotations

import sys
import threading
import time


def human_bytes(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}" if n < 10 else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


class Progress:
    """Thread-safe counters plus a reporter thread.

    ``total`` is an estimate (the database part is estimated from table sizes): percent is capped
    at 99.9 until :meth:`finish`.
    """

    def __init__(self, label, total=0, interval=5.0, log_path=None, stream=None, max_samples=20, clock=time.monotonic):
        self.label = label
        self.total = int(total or 0)
        self.interval = interval
        self.log_path = log_path
        self.stream = sys.stderr if stream is None else stream
        self.max_samples = max_samples
        self._clock = clock
        self._lock = threading.Lock()
        self._done = 0
        self._counters = {}
        self._start = clock()
        self._end = None
        self._samples = []
        self._stop = threading.Event()
        self._thread = None
        self._log = None

    # ------------------------------------------------------------------ feeding
    def add_total(self, n):
        with self._lock:
            self.total += int(n)

    def advance(self, n, counter=None, count=0):
        """Account ``n`` bytes done; optionally bump a named counter (bytes) and its item count."""
        with self._lock:
            self._done += n
            if counter:
                b, c = self._counters.get(counter, (0, 0))
                self._counters[counter] = (b + n, c + count)

    def count(self, counter, count=1):
        with self._lock:
            b, c = self._counters.get(counter, (0, 0))
            self._counters[counter] = (b, c + count)

    # ------------------------------------------------------------------ reading
    @property
    def done(self):
        with self._lock:
            return self._done

    def percent(self):
        with self._lock:
            if self._end is not None:
                return 100.0
            if self.total <= 0:
                return 0.0
            return min(99.9, 100.0 * self._done / self.total)

    def elapsed(self):
        end = self._end if self._end is not None else self._clock()
        return max(end - self._start, 1e-9)

    def throughput(self):
        return self.done / self.elapsed()

    def line(self):
        pct = self.percent()
        done, total = self.done, self.total
        rate = self.throughput()
        eta = ""
        if self._end is None and rate > 0 and total > done:
            eta = f" eta {int((total - done) / rate)}s"
        with self._lock:
            parts = []
            for name, (b, c) in sorted(self._counters.items()):
                parts.append(f"{name} {human_bytes(b)}" + (f" ({c})" if c else ""))
        extra = (" " + " ".join(parts)) if parts else ""
        return (f"[governed.odoo {self.label}] {pct:.1f}% {human_bytes(done)}/{human_bytes(total)} "
                f"{human_bytes(rate)}/s{eta}{extra}")

    def summary(self):
        with self._lock:
            counters = {k: {"bytes": b, "count": c} for k, (b, c) in self._counters.items()}
            samples = list(self._samples)
        el = self.elapsed()
        return {
            "percent": round(self.percent(), 1),
            "bytes_done": self.done,
            "bytes_total_estimate": self.total,
            "seconds": round(el, 3),
            "throughput_bytes_per_second": int(self.done / el),
            "counters": counters,
            "samples": samples,
        }

    # ------------------------------------------------------------------ reporting
    def _emit(self):
        text = self.line()
        sample = {"t": round(self.elapsed(), 1), "percent": round(self.percent(), 1), "bytes": self.done}
        with self._lock:
            self._samples.append(sample)
            if len(self._samples) > self.max_samples:
                # keep the first sample and thin out the middle: the shape of the run survives
                del self._samples[1]
        for out in (self.stream, self._log):
            if out is None:
                continue
            try:
                out.write(text + "\n")
                out.flush()
            except (OSError, ValueError):  # a closed stderr must not fail a backup
                pass

    def _run(self):
        while not self._stop.wait(self.interval):
            self._emit()

    def start(self):
        if self.log_path:
            self._log = open(self.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in finish()
        self._start = self._clock()
        if self.interval and self.interval > 0:
            self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
            self._thread.start()
        return self

    def finish(self, ok=True):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._end = self._clock()
        self._emit()
        if self._log is not None:
            try:
                self._log.write(f"[governed.odoo {self.label}] {'done' if ok else 'FAILED'} in {self.elapsed():.1f}s\n")
            finally:
                self._log.close()
                self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.finish(ok=exc_type is None)
