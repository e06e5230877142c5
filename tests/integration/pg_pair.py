"""A throw-away PostgreSQL primary (and optionally a streaming replica) for tests that must not
touch the lab's own servers: the failover test promotes a replica, which cannot be undone.

Real servers, from the same Debian ``postgresql-15`` binaries the lab uses, started as the
``postgres`` system user (runuser) on ports 18500-18599, in a temporary directory, and removed
afterwards::

    with PgPair(replica=True) as pair:
        pair.primary.dsn     # "host=127.0.0.1 port=18517 user=postgres password=... dbname=postgres"
        pair.replica.params  # login_* options for the collection's modules

Ports are picked free in the range; several pairs may run at once.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

PORT_RANGE = range(18500, 18600)
HOST = "127.0.0.1"


def bin_dir() -> Path:
    for cand in (os.environ.get("PG_BIN_DIR"), "/usr/lib/postgresql/15/bin"):
        if cand and Path(cand, "initdb").exists():
            return Path(cand)
    raise RuntimeError("PostgreSQL 15 binaries not found (set PG_BIN_DIR)")


def available() -> str | None:
    """None when a pair can be started here, else the reason it cannot."""
    try:
        bin_dir()
    except RuntimeError as exc:
        return str(exc)
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no 'postgres' system user"
    if os.geteuid() != 0:
        return "needs root to run initdb as the postgres user"
    if not shutil.which("runuser"):
        return "runuser not found"
    return None


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _pick_ports(n: int, taken: set[int]) -> list[int]:
    out = []
    for port in PORT_RANGE:
        if port in taken or not _port_free(port):
            continue
        out.append(port)
        if len(out) == n:
            return out
    raise RuntimeError("no free port in 18500-18599")


@dataclass
class Server:
    name: str
    datadir: Path
    port: int
    password: str
    user: str = "postgres"

    def params(self, db: str = "postgres") -> dict:
        return {"login_host": HOST, "login_port": self.port, "login_user": self.user,
                "login_password": self.password, "db": db}

    def dsn(self, db: str = "postgres") -> str:
        return f"host={HOST} port={self.port} user={self.user} password={self.password} dbname={db}"

    @property
    def conninfo(self) -> dict:
        return {"host": HOST, "port": self.port, "user": self.user, "password": self.password}


class PgPair:
    """A primary and (``replica=True``) a streaming replica of it, torn down on exit."""

    _claimed: ClassVar[set[int]] = set()

    def __init__(self, replica: bool = True, prefix: str = "governed-odoo-pg-"):
        self.want_replica = replica
        self.prefix = prefix
        self.base: Path | None = None
        self.primary: Server | None = None
        self.replica: Server | None = None
        self.bin = bin_dir()

    # -- helpers ----------------------------------------------------------------------------
    def _run(self, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["runuser", "-u", "postgres", "--", *args]
        full_env = dict(os.environ, **(env or {}))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, check=False, timeout=180)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
        return proc

    def pg_ctl(self, server: Server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run(str(self.bin / "pg_ctl"), "-D", str(server.datadir), *args, check=check)

    def _start(self, server: Server) -> None:
        self.pg_ctl(server, "-w", "-t", "60", "-l", str(server.datadir.parent / f"{server.name}.log"), "start")

    def log(self, server: Server) -> str:
        path = server.datadir.parent / f"{server.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> PgPair:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        reason = available()
        if reason:
            raise RuntimeError(reason)
        self.base = Path(tempfile.mkdtemp(prefix=self.prefix))
        os.chmod(self.base, 0o755)
        shutil.chown(self.base, "postgres", "postgres")
        ports = _pick_ports(2 if self.want_replica else 1, PgPair._claimed)
        PgPair._claimed.update(ports)
        password = secrets.token_hex(12)
        self.primary = Server("primary", self.base / "primary", ports[0], password)
        pwfile = self.base / "pw"
        pwfile.write_text(password + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        os.chmod(pwfile, 0o600)
        self._run(str(self.bin / "initdb"), "-D", str(self.primary.datadir), "-U", "postgres",
                  f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        with open(self.primary.datadir / "postgresql.auto.conf", "a") as fh:
            fh.write(self._conf(self.primary.port))
        with open(self.primary.datadir / "pg_hba.conf", "a") as fh:
            fh.write(f"host replication postgres {HOST}/32 scram-sha-256\n")
        self._start(self.primary)
        if self.want_replica:
            self.add_replica(ports[1])

    def _conf(self, port: int) -> str:
        return (
            f"\nport = {port}\nlisten_addresses = '{HOST}'\nunix_socket_directories = '{self.base}'\n"
            "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\n"
            "synchronous_commit = off\nfull_page_writes = on\nwal_keep_size = '256MB'\n"
            "shared_buffers = '32MB'\nmax_connections = 40\n"
        )

    def add_replica(self, port: int) -> Server:
        assert self.primary and self.base
        self.replica = Server("replica", self.base / "replica", port, self.primary.password)
        self._run(str(self.bin / "pg_basebackup"), "-h", HOST, "-p", str(self.primary.port), "-U", "postgres",
                  "-D", str(self.replica.datadir), "-R", "-X", "stream", "--no-sync", "-c", "fast",
                  env={"PGPASSWORD": self.primary.password})
        with open(self.replica.datadir / "postgresql.auto.conf", "a") as fh:
            fh.write(f"\nport = {port}\n")
        self._start(self.replica)
        self.wait_streaming()
        return self.replica

    def wait_streaming(self, timeout: float = 60) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(psycopg.Error), psycopg.connect(self.primary.dsn(), autocommit=True) as c:
                row = c.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()
                if row[0] >= 1:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("replica did not start streaming:\n" + self.log(self.replica)[-2000:])
            time.sleep(0.3)

    def stop(self) -> None:
        for server in (self.replica, self.primary):
            if server is not None and server.datadir.exists():
                self.pg_ctl(server, "-m", "immediate", "-w", "stop", check=False)
            if server is not None:
                PgPair._claimed.discard(server.port)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
