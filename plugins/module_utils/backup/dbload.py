# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load a backup's database into an existing, empty database: db.dump plus its table archives.

Both restore paths (restore_core for backup_verify and the benchmark, restore/flow.py for the
``restore`` module) call :class:`DatabaseLoad` with their own pg_restore options, so a format
version 2 backup (large tables in ``table-data`` archives, see tabledata.py) restores the same way
everywhere:

1. ``pg_restore --section=pre-data`` of db.dump: schemas, tables, functions, no data;
2. ``jobs`` at a time, largest first: each table archive streamed from the store (its SHA-256 and
   size checked, decrypted, decompressed) into the standard input of ``pg_restore --data-only``,
   no local copy; and ``pg_restore --section=data`` of db.dump (the small tables, large objects);
3. the ``SEQUENCE SET`` entries of db.dump again: a table archive reused from an older backup
   carries that backup's value of the table's own sequence, db.dump has this backup's;
4. ``pg_restore --section=post-data --jobs`` of db.dump: indexes, constraints, triggers.

A version 1 backup is one ``pg_restore --jobs`` of db.dump, as before. Every pg_restore runs with
the caller's ``--exit-on-error``, dies with this process (parent-death signal) and is killed with
its process group by :meth:`DatabaseLoad.kill`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.governed.odoo.plugins.module_utils import proc as _proc
from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto
from ansible_collections.governed.odoo.plugins.module_utils.backup.dump import decompressor
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import IntegrityError, RestoreError

PR_SET_PDEATHSIG = 1
READ_SIZE = 1024 * 1024


def _die_with_parent():  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Stopped(RestoreError):
    """The load was stopped from outside (another part of the restore failed)."""


class DatabaseLoad:
    """pg_restore of one backup into ``base_argv``'s database (see the module docstring).

    ``base_argv``: the pg_restore binary and its options up to and including ``--dbname``, without
    ``--jobs``, section or archive. ``env``: the environment with the connection (PG* variables).
    """

    def __init__(self, store, manifest, dump_path, base_argv, env, key=None, jobs=2, progress=None, workdir=None):
        self.store = store
        self.manifest = manifest
        self.dump_path = dump_path
        self.base = list(base_argv)
        self.env = env
        self.key = key
        self.jobs = max(1, int(jobs or 1))
        self.progress = progress
        self.workdir = workdir or os.path.dirname(dump_path) or None
        self.stopped = threading.Event()
        self._procs = set()
        self._lock = threading.Lock()
        self.steps = []

    # ------------------------------------------------------------------ processes
    def _start(self, argv, stdin=None):
        if self.stopped.is_set():
            raise Stopped("the database load was stopped")
        proc = _proc.popen(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           env=self.env, preexec_fn=_die_with_parent, start_new_session=True)
        with self._lock:
            self._procs.add(proc)
        return proc

    def _finish(self, proc, what, err=b""):
        rc = proc.wait()
        with self._lock:
            self._procs.discard(proc)
        if rc != 0:
            if self.stopped.is_set():
                raise Stopped("the database load was stopped")
            tail = (err or b"").decode("utf-8", "replace").strip().splitlines()[-15:]
            raise RestoreError(f"pg_restore ({what}) failed (exit {rc}): " + " | ".join(tail), exit_code=rc,
                               stderr=tail)

    def _run(self, extra, what):
        proc = self._start([*self.base, *extra, self.dump_path])
        try:
            _out, err = proc.communicate()
        except BaseException:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        self._finish(proc, what, err)
        self.steps.append(what)

    def kill(self):
        """Stop every pg_restore of this load (another part of the restore failed)."""
        self.stopped.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)

    # ------------------------------------------------------------------ the load
    def run(self):
        tables = self.manifest.table_objects
        if not tables:
            self._run([f"--jobs={self.jobs}"], "whole archive")
            return {"steps": self.steps, "table_archives": 0}
        self._run(["--section=pre-data"], "pre-data")
        tasks = [("table", obj) for obj in sorted(tables, key=lambda o: -o["raw_size"])]
        tasks.insert(min(len(tasks), self.jobs - 1), ("data", None))
        errors = []

        def one(task):
            kind, obj = task
            if errors or self.stopped.is_set():
                return
            try:
                if kind == "data":
                    self._run(["--section=data"], "data of db.dump")
                else:
                    self.load_table(obj)
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)
                self.kill()

        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="load") as pool:
            list(pool.map(one, tasks))
        if errors:
            raise next((e for e in errors if not isinstance(e, Stopped)), errors[0])
        seq = self._sequence_list()
        if seq is not None:
            try:
                self._run([f"--use-list={seq}"], "sequence values")
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(seq)
        self._run(["--section=post-data", f"--jobs={self.jobs}"], "post-data")
        return {"steps": self.steps, "table_archives": len(tables)}

    def _sequence_list(self):
        """A pg_restore list file of db.dump's SEQUENCE SET entries, or None when it has none."""
        out = _proc.run([self.base[0], "--list", self.dump_path], capture_output=True, env=self.env,
                        check=False)
        if out.returncode != 0:
            raise RestoreError(f"pg_restore --list of {self.dump_path} failed: "
                               f"{out.stderr.decode('utf-8', 'replace').strip()[-1000:]}")
        lines = [line for line in out.stdout.decode("utf-8", "replace").splitlines()
                 if not line.startswith(";") and " SEQUENCE SET " in line]
        if not lines:
            return None
        fd, path = tempfile.mkstemp(prefix="seq-", suffix=".list", dir=self.workdir)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        return path

    def load_table(self, obj):
        """Stream one table archive into pg_restore --data-only, checking it on the way."""
        where = self.store.where(obj["key"])
        dec = crypto.Decryptor(self.key, what=self.store.full(obj["key"])) if self.key is not None else None
        dcmp = decompressor(obj.get("compression") or self.manifest.data["database"]["compression"])
        proc = self._start([*self.base, "--data-only"], stdin=subprocess.PIPE)
        err_tail = []
        drain = threading.Thread(target=lambda: err_tail.append(proc.stderr.read()), daemon=True)
        drain.start()
        sha = hashlib.sha256()
        stored = raw = 0
        ok = False
        broken = False
        try:
            def emit(data):
                nonlocal raw
                if dcmp is not None and data:
                    try:
                        data = dcmp.decompress(data)
                    except Exception as exc:  # zstandard.ZstdError: corrupt frame or content checksum
                        raise IntegrityError(f"the table archive {where} does not decompress: {exc}",
                                             key=self.store.full(obj["key"])) from exc
                if data:
                    raw += len(data)
                    proc.stdin.write(data)

            chunks = iter(self.store.iter_object(obj["key"], version_id=obj.get("version_id")))
            try:
                for chunk in chunks:
                    if self.stopped.is_set():
                        raise Stopped("the database load was stopped")
                    sha.update(chunk)
                    stored += len(chunk)
                    emit(dec.update(chunk) if dec is not None else chunk)
                    if self.progress is not None:
                        self.progress.advance(len(chunk), "db")
                if dec is not None:
                    emit(dec.finalize())
            except BrokenPipeError:
                # pg_restore stopped reading: read the rest of the archive all the same, so that a damaged archive
                # (which can make pg_restore fail first, "out of memory" on a garbled length) is named as damaged;
                # an intact one leaves pg_restore's own error, reported below
                broken = True
                for chunk in chunks:
                    sha.update(chunk)
                    stored += len(chunk)
            if stored != obj["size"] or sha.hexdigest() != obj["sha256"]:
                raise IntegrityError(f"{where} does not match the manifest: {stored} bytes sha256 {sha.hexdigest()}, "
                                     f"expected {obj['size']} bytes sha256 {obj['sha256']}",
                                     key=self.store.full(obj["key"]), expected=obj["sha256"], actual=sha.hexdigest())
            if not broken and raw != obj.get("raw_size", raw):
                raise IntegrityError(f"the table archive {where} is {raw} bytes after decompression, the manifest says "
                                     f"{obj['raw_size']}", key=self.store.full(obj["key"]))
            ok = not broken
        finally:
            if not ok:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(OSError, BrokenPipeError):
                proc.stdin.close()
            proc.wait()
            drain.join(timeout=10)
        self._finish(proc, f"table {obj['table']}", b"".join(err_tail))
        if broken:
            raise RestoreError(f"pg_restore stopped reading {where} before its end")
        self.steps.append(f"table {obj['table']}")
        return {"table": obj["table"], "stored_size": stored, "raw_size": raw}


class Background:
    """Run a :class:`DatabaseLoad` in a thread: ``start()``, then ``wait()`` (raises its error) or ``kill()``."""

    def __init__(self, load):
        self.load = load
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._target, name="pg_restore", daemon=True)

    def _target(self):
        try:
            self.result = self.load.run()
        except BaseException as exc:  # handed to wait()
            self.error = exc

    def start(self):
        self.thread.start()
        return self

    def wait(self):
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.result

    def kill(self):
        self.load.kill()
        self.thread.join()
