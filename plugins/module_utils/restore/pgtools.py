# -*- coding: utf-8 -*-
# Copyright: governed.odoo maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore: which binary, whether it can read the archive, and its command line.

Running it (so that it dies with us, and the table archives of a version 2 backup) is
backup/dbload.py's ``DatabaseLoad``, shared with the backup package's restore_core.
"""

from __future__ import annotations

import glob
import os
import re
import shutil

from ansible_collections.governed.odoo.plugins.module_utils import proc as _proc
from ansible_collections.governed.odoo.plugins.module_utils.restore.errors import DatabaseError, RefusedError

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def parse_version(text):
    """'pg_restore (PostgreSQL) 15.18 (Debian ...)' -> (15, 18); None if not found (pure)."""
    m = _VERSION.search(text or "")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def major_of(version_text):
    """'15.18', '15.18 (Debian...)', 150018, '9.6.24' -> 15 / 9 (pure)."""
    if version_text is None:
        return None
    if isinstance(version_text, str) and version_text.strip().isdigit() and len(version_text.strip()) >= 5:
        version_text = int(version_text)
    if isinstance(version_text, int):
        return version_text // 10000
    m = re.match(r"\s*(\d+)(?:\.(\d+))?", str(version_text))
    if not m:
        return None
    major = int(m.group(1))
    return major


def find_binary(name, bin_dir=None, server_major=None):
    """The client tool to use: ``bin_dir``, else the newest /usr/lib/postgresql/N/bin with N >= the
    server's major, else PATH."""
    if bin_dir:
        path = os.path.join(bin_dir, name)
        if not os.access(path, os.X_OK):
            raise DatabaseError(f"{path} is not an executable {name}")
        return path
    candidates = []
    for path in glob.glob(f"/usr/lib/postgresql/*/bin/{name}"):
        m = re.search(r"/postgresql/(\d+)/bin/", path)
        if m and os.access(path, os.X_OK):
            candidates.append((int(m.group(1)), path))
    candidates.sort()
    if server_major is not None:
        fitting = [p for v, p in candidates if v >= server_major]
        if fitting:
            return fitting[-1]
    if candidates:
        return candidates[-1][1]
    found = shutil.which(name)
    if not found:
        raise DatabaseError(f"{name} not found (install the PostgreSQL client tools or set pg_bin_dir)")
    return found


def tool_version(path):
    try:
        out = _proc.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        raise DatabaseError(f"cannot run {path}: {exc}") from exc
    version = parse_version(out.stdout)
    if version is None:
        raise DatabaseError(f"cannot tell the version of {path}: {out.stdout.strip() or out.stderr.strip()}")
    return version


def check_compatible(pg_restore_major, dump_major, source_server_major, target_server_major):
    """Refuse combinations that cannot restore faithfully (pure). Returns a list of notes."""
    if dump_major is not None and pg_restore_major < dump_major:
        raise RefusedError(f"pg_restore {pg_restore_major} cannot read an archive written by pg_dump {dump_major}; "
                           f"install the PostgreSQL {dump_major} client tools (or newer) or set pg_bin_dir")
    if source_server_major is not None and target_server_major is not None \
            and target_server_major < source_server_major:
        raise RefusedError(f"the backup comes from PostgreSQL {source_server_major}; the target server runs "
                           f"{target_server_major}: restoring into an older server is not supported")
    notes = []
    if source_server_major is not None and target_server_major is not None \
            and target_server_major > source_server_major:
        notes.append(f"restoring a PostgreSQL {source_server_major} backup into PostgreSQL {target_server_major}")
    return notes


def restore_command(binary, dbname, archive, jobs=2, role=None, single_job=False):
    """The pg_restore argv (pure): no owner, no privileges, stop at the first error."""
    cmd = [binary, "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={dbname}"]
    if not single_job and jobs and jobs > 1:
        cmd.append(f"--jobs={int(jobs)}")
    if role:
        cmd.append(f"--role={role}")
    cmd.append(archive)
    return cmd
