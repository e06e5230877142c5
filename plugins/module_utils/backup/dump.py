# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Streaming database dump: pg_dump -> zstd -> (AES-GCM) -> S3 multipart upload, no local copy.

``pg_dump --format=custom --compress=0 --snapshot=<exported snapshot>`` writes to a pipe; this
process reads it in 1 MiB blocks, compresses it with zstd (a frame with its own content checksum,
so decompression proves the archive intact; no SHA-256 of the raw archive is needed)
(far faster than pg_dump's own gzip, which is single-threaded and the bottleneck of a plain
``pg_dump -Fc``), optionally encrypts, and uploads parts of 8 MiB while pg_dump is still
running. Memory stays at a few parts whatever the database size. The multipart upload is
completed only after pg_dump exited 0 and the archive looked complete; on any failure pg_dump is
killed and the upload aborted, so no partial dump object ever exists.

Why custom and not directory format: measured on the 2-core lab, the custom archive streamed and
compressed by zstd in a thread spends its time in the PostgreSQL backend producing COPY data;
a directory dump with -j2 needs local disk for the table files in flight (the largest table at
least) and competes for the same two cores with the filestore upload that runs at the same time
(see bench/bench_backup.py for figures). pg_restore -j works on a downloaded custom archive.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import threading

from ansible_collections.governed.odoo.plugins.module_utils import proc as _proc
from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import BackupError, ConfigError, DumpError

try:
    import zstandard

    HAS_ZSTD = True
    ZSTD_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - compression "none" still works
    zstandard = None
    HAS_ZSTD = False
    ZSTD_IMPORT_ERROR = exc

READ_SIZE = 1024 * 1024
PIPE_SIZE = 1024 * 1024
F_SETPIPE_SZ = 1031  # Linux fcntl


class Cancelled(BackupError):
    """Another part of the backup failed; this one stopped early."""

    kind = "cancelled"


def _stderr_drain(pipe, sink, limit=64 * 1024):
    for chunk in iter(lambda: pipe.read(4096), b""):
        sink.append(chunk)
        while sum(len(c) for c in sink) > limit and len(sink) > 1:
            sink.pop(0)


ZSTD_JOB_SIZE = 2 * 1024 * 1024


def compressor(compression, level, threads=0):
    """A zstd compressobj, or None for 'none'.

    ``threads`` > 0 (or -1: one per CPU) compresses in zstd's own worker threads, outside the GIL;
    jobs of 2 MiB keep its memory at a few MiB per worker whatever the archive size.
    """
    if compression == "none":
        return None
    if compression != "zstd":
        raise ConfigError(f"unknown compression {compression!r}")
    if not HAS_ZSTD:
        raise ConfigError(f"compression zstd needs the Python package zstandard ({ZSTD_IMPORT_ERROR}); "
                          "install it or set compression: none")
    if threads == -1:
        threads = os.cpu_count() or 1
    if threads and threads > 0:
        params = zstandard.ZstdCompressionParameters.from_level(level, threads=threads, job_size=ZSTD_JOB_SIZE,
                                                                write_checksum=True)
        return zstandard.ZstdCompressor(compression_params=params).compressobj()
    return zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()


def decompressor(compression):
    if compression == "none":
        return None
    if not HAS_ZSTD:
        raise ConfigError(f"this backup is zstd-compressed; install the Python package zstandard ({ZSTD_IMPORT_ERROR})")
    return zstandard.ZstdDecompressor().decompressobj()


def pg_dump_argv(pg_dump, snapshot, extra=None, lock_wait_timeout=None):
    argv = [pg_dump, "--format=custom", "--compress=0", "--no-password", f"--snapshot={snapshot}"]
    if lock_wait_timeout:
        argv.append(f"--lock-wait-timeout={lock_wait_timeout}")
    argv.extend(extra or [])
    return argv


def stream_dump(store, rel, argv, env, lock=None, compression="zstd", level=3, zstd_threads=0, key=None,
                part_size=8 * 1024 * 1024, progress=None, cancel=None):
    """Run pg_dump (``argv``, connection in ``env``) and stream its archive into ``store`` at ``rel``.

    Returns the manifest object entry: {key, role, size, sha256, raw_size, version_id (versioned bucket)}.
    """
    cobj = compressor(compression, level, zstd_threads)
    enc = crypto.Encryptor(key) if key is not None else None
    writer = store.multipart(rel, lock=lock, part_size=part_size, max_inflight=2,
                             content_type="application/octet-stream")
    raw_size = 0
    head = b""
    err_tail = []
    try:
        proc = _proc.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                           env=env, start_new_session=True)
    except OSError as exc:
        writer.abort()
        raise DumpError(f"cannot start {argv[0]}: {exc}") from exc
    drain = threading.Thread(target=_stderr_drain, args=(proc.stderr, err_tail), daemon=True)
    drain.start()
    try:
        with contextlib.suppress(OSError):
            fcntl.fcntl(proc.stdout.fileno(), F_SETPIPE_SZ, PIPE_SIZE)
        out = proc.stdout
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled("database dump stopped: another part of the backup failed")
            chunk = out.read(READ_SIZE)
            if not chunk:
                break
            if len(head) < 5:
                head += chunk[:5]
            raw_size += len(chunk)
            data = cobj.compress(chunk) if cobj is not None else chunk
            if enc is not None and data:
                data = enc.update(data)
            if data:
                writer.write(data)
            if progress is not None:
                progress.advance(len(chunk), "db")
        rc = proc.wait()
        drain.join(timeout=10)
        stderr = b"".join(err_tail).decode("utf-8", "replace").strip()
        if rc != 0:
            raise DumpError(f"pg_dump failed (exit {rc}): {stderr[-2000:] or 'no message'}", exit_code=rc)
        if raw_size == 0 or not head.startswith(b"PGDMP"):
            raise DumpError(f"pg_dump produced no valid archive ({raw_size} bytes): {stderr[-2000:]}")
        tail = cobj.flush() if cobj is not None else b""
        if enc is not None:
            tail = enc.update(tail) + enc.finalize()
        if tail:
            writer.write(tail)
        info = writer.close()
    except BaseException:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        writer.abort()
        raise
    finally:
        for pipe in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                pipe.close()
    entry = {
        "key": rel,
        "role": fmt.ROLE_DUMP,
        "size": info["size"],
        "sha256": info["sha256"],
        "raw_size": raw_size,
    }
    if info.get("version_id"):
        entry["version_id"] = info["version_id"]  # the version this run wrote (versioned bucket)
    return entry
