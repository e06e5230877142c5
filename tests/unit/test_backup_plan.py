"""Filestore upload planning, lock policy and pg_dump version refusal (no servers needed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.governed.odoo.plugins.module_utils.backup import crypto
from ansible_collections.governed.odoo.plugins.module_utils.backup import manifest as fmt
from ansible_collections.governed.odoo.plugins.module_utils.backup.errors import PgDumpTooOld, ToolError
from ansible_collections.governed.odoo.plugins.module_utils.backup.filestore import LockPolicy, plan, scan_directory
from ansible_collections.governed.odoo.plugins.module_utils.backup.pgsource import (
    check_tool_for_server,
    client_env,
    server_major,
)


def put(root, data):
    sha1 = hashlib.sha1(data).hexdigest()
    path = Path(root) / sha1[:2] / sha1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"{sha1[:2]}/{sha1}", sha1


def test_plan_reuses_stored_objects_and_uploads_the_rest(tmp_path):
    a, sa = put(tmp_path, b"a" * 100)
    b, sb = put(tmp_path, b"b" * 50)
    c, _sc = put(tmp_path, b"c" * 70)
    existing = {sa: (100, None), sb: (49, None)}  # b exists with another size: upload again
    p = plan([a, b, c, "ff/" + "f" * 40, "../etc/passwd", a], tmp_path, existing, keyspace="filestore/sha1/")
    assert [r[0] for r in p.reuse] == [a]
    assert sorted(u[0] for u in p.upload) == sorted([b, c])
    assert sorted(p.missing) == sorted(["ff/" + "f" * 40, "../etc/passwd"])
    assert p.upload_bytes == 120 and p.reuse_bytes == 100
    assert sorted(scan_directory(tmp_path)) == sorted([a, b, c])


def test_plan_compares_encrypted_sizes(tmp_path):
    a, sa = put(tmp_path, b"x" * 5000)
    existing = {sa: (crypto.stored_size(5000), None)}
    p = plan([a], tmp_path, existing, encrypted_chunk=crypto.DEFAULT_CHUNK_SIZE)
    assert len(p.reuse) == 1
    p = plan([a], tmp_path, {sa: (5000, None)}, encrypted_chunk=crypto.DEFAULT_CHUNK_SIZE)
    assert len(p.upload) == 1


def test_lock_policy_spreads_and_extends():
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    lp = LockPolicy("COMPLIANCE", 30, 7, now=now)
    untils = {lp.until_for(f"{i:02x}" + "0" * 38) for i in range(0, 256, 16)}
    assert all(now + dt.timedelta(days=37) <= u <= now + dt.timedelta(days=44) for u in untils)
    assert len(untils) > 5  # jitter spreads the expiry dates
    assert lp.needed_until == now + dt.timedelta(days=30)


def stub_tool(tmp_path, version):
    """A stand-in *client tool* that only answers --version (the server stays the real one)."""
    path = tmp_path / "pg_dump"
    path.write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {version}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_older_pg_dump_is_refused_with_a_clear_message(tmp_path):
    tool = stub_tool(tmp_path, "14.11")
    with pytest.raises(PgDumpTooOld) as info:
        check_tool_for_server(tool, 150008, "15.8")
    assert "older than the PostgreSQL server" in info.value.msg and "Nothing was written" in info.value.msg
    assert check_tool_for_server(stub_tool(tmp_path, "16.2"), 150008) == "16.2"
    assert server_major(150008) == 15 and server_major(90624) == 9


def test_unparsable_tool_version(tmp_path):
    path = tmp_path / "pg_dump"
    path.write_text("#!/bin/sh\necho nonsense\n")
    path.chmod(0o755)
    with pytest.raises(ToolError):
        check_tool_for_server(str(path), 150008)


def test_password_goes_to_the_environment_not_the_command_line():
    env = client_env({"login_host": "h", "login_port": 5433, "login_user": "u", "login_password": "s3cret"}, "odoo",
                     base={})
    assert env["PGPASSWORD"] == "s3cret" and env["PGDATABASE"] == "odoo" and env["PGPORT"] == "5433"
    assert fmt.check_name("odoo", "db") == "odoo"
    assert os.environ.get("PGPASSWORD") != "s3cret"
