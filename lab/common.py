"""Shared plumbing of the lab: paths, ports, detached processes, readiness waits.

Every lab process is started detached (own session), writes its pid to
``.lab/<component>/<proc>.pid`` and its output to ``.lab/<component>/<proc>.log``.
All listeners are on 127.0.0.0/8.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAB_DIR = Path(os.environ.get("GOVERNED_ODOO_LAB_DIR", REPO / ".lab")).resolve()
CACHE_DIR = Path(
    os.environ.get(
        "GOVERNED_ODOO_LAB_CACHE",
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "governed-odoo-lab",
    )
)
VENV_BIN = REPO / ".venv" / "bin"
HOST = "127.0.0.1"

# One table of every port the lab listens on, so that nothing collides and
# `lab down` can check that every one of them is free again. GOVERNED_ODOO_LAB_PORT_OFFSET (a multiple of
# 10000, at most 40000) moves every port, so that a second checkout (with its own GOVERNED_ODOO_LAB_DIR, the
# default being its own .lab/) can run a lab of its own beside the first.
PORT_OFFSET = int(os.environ.get("GOVERNED_ODOO_LAB_PORT_OFFSET", "0"))
if PORT_OFFSET % 10000 or not 0 <= PORT_OFFSET <= 40000:
    raise SystemExit(f"GOVERNED_ODOO_LAB_PORT_OFFSET={PORT_OFFSET} must be 0, 10000, 20000, 30000 or 40000")
_BASE_PORTS = {
    "etcd_client": 17379,
    "etcd_peer": 17380,
    "kube_apiserver": 17443,
    "kube_controller_manager": 17257,
    "kube_scheduler": 17259,
    "kwok_metrics": 17247,
    "postgres_primary": 17432,
    "postgres_replica": 17433,
    "redis": 17637,
    "s3_a_master": 19333,
    "s3_a_volume": 18080,
    "s3_a_filer": 18888,
    "s3_a": 18333,
    "s3_b_master": 19334,
    "s3_b_volume": 18081,
    "s3_b_filer": 18889,
    "s3_b": 18334,
    "traefik_web": 18000,
    "traefik_websecure": 18443,
    "traefik_api": 18090,
    "prometheus": 19090,
    "pushgateway": 19091,
    "postgres_exporter": 19187,
    # the real worker node (lab/node.py)
    "registry": 17500,
    "kubelet": 17250,
    "kubelet_healthz": 17248,
}
PORTS = {name: port + PORT_OFFSET for name, port in _BASE_PORTS.items()}

# The real worker node's pod network: one /24 per lab (the port offset picks it), inside
# 198.19.0.0/16 (RFC 2544, never routed). The host side of the node's bridge holds NODE_GATEWAY;
# pods reach the lab's servers there (lab/node.py forwards the allowed ports to 127.0.0.1).
LAB_INDEX = PORT_OFFSET // 10000
NODE_POD_CIDR = f"198.19.{LAB_INDEX}.0/24"
NODE_GATEWAY = f"198.19.{LAB_INDEX}.1"
NODE_BRIDGE = f"labnode{LAB_INDEX}"
# The /30 of the veth pair that joins the real node's network namespace to the host (lab/node.py): the host's end
# holds TRANSIT_HOST, the node's TRANSIT_NODE. The lab API server advertises TRANSIT_HOST (the `kubernetes`
# Service's endpoint): the node's pods reach it there, through the host's DNAT to 127.0.0.1.
TRANSIT_HOST = f"198.19.{200 + LAB_INDEX}.1"
TRANSIT_NODE = f"198.19.{200 + LAB_INDEX}.2"
TRANSIT_PREFIX = 30



class LabError(RuntimeError):
    """A lab step failed; the message says which and where its log is."""


def log(msg: str) -> None:
    print(f"[lab] {msg}", file=sys.stderr, flush=True)


def which(name: str) -> str | None:
    """Find a binary, preferring the project's virtualenv."""
    cand = VENV_BIN / name
    if cand.exists():
        return str(cand)
    return shutil.which(name)


def port_open(port: int, host: str = HOST, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(pred, what: str, timeout: float = 60.0, interval: float = 0.25, logfile: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except Exception:  # noqa: S110 - readiness probes fail until ready
            pass
        time.sleep(interval)
    hint = f"; see {logfile}" if logfile else ""
    raise LabError(f"timed out after {timeout:.0f}s waiting for {what}{hint}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@dataclass
class Proc:
    """A detached lab process with a pid file and a log file."""

    component: str
    name: str

    @property
    def dir(self) -> Path:
        return LAB_DIR / self.component

    @property
    def pidfile(self) -> Path:
        return self.dir / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.dir / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
        if (pid := self.pid()) is not None:
            return pid
        self.dir.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(self.logfile, "ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=str(cwd or self.dir),
                env=full_env,
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout: float = 15.0) -> bool:
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            except PermissionError:
                os.kill(pid, sig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and pid_alive(pid):
                time.sleep(0.1)
            if not pid_alive(pid):
                break
        self.pidfile.unlink(missing_ok=True)
        return True


@dataclass
class Component:
    """One part of the lab. Subclasses implement up/down/status.

    ``up`` must be idempotent: with everything running it only checks health and
    returns the same connection details, quickly. It returns a dict merged into
    ``.lab/connection.json`` under the component's name.
    """

    name: str = ""
    procs: list[Proc] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        return LAB_DIR / self.name

    def up(self) -> dict:
        raise NotImplementedError

    def down(self) -> None:
        for p in reversed(self.procs):
            p.stop()

    def status(self) -> dict:
        return {p.name: (f"running pid {p.pid()}" if p.running() else "stopped") for p in self.procs}

    def reset(self) -> None:
        self.down()
        shutil.rmtree(self.dir, ignore_errors=True)


def run(argv: list[str], check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(argv, capture_output=capture, text=True, check=False, **kw)
    if check and res.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr or res.stdout}")
    return res


RESERVED_PORTS_FILE = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")
# SeaweedFS' gRPC ports are their HTTP ports + 5000 (lab/services.py GRPC_OFFSET)
# (the S3 gateways' too: seen "s3 failed to listen on grpc port 43334" with another lab's API server holding it as
# the client port of its connection to etcd)
_GRPC_PORT_NAMES = (
    "s3_a_master", "s3_a_volume", "s3_a_filer", "s3_a", "s3_b_master", "s3_b_volume", "s3_b_filer", "s3_b"
)


def lab_listen_ports() -> set[int]:
    """Every port a lab process listens on: PORTS and SeaweedFS' gRPC ports."""
    return set(PORTS.values()) | {PORTS[name] + 5000 for name in _GRPC_PORT_NAMES}


def _port_ranges(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.update(range(int(lo), int(hi) + 1))
        elif part:
            out.add(int(part))
    return out


def reserve_ports() -> None:
    """Keep the kernel from handing the lab's ports to client sockets (net.ipv4.ip_local_reserved_ports).

    At offsets of 10000 and more the lab's ports lie in the ephemeral range (32768-60999): an API server's
    connection to etcd, or the scheduler's to the API server, could take a port that Traefik or SeaweedFS is about
    to listen on (seen: "bind: address already in use" on 38090 and 53080). Reserved ports are still free to
    listen on. Added to what is reserved already, never removed (another lab may share them); needs root, and
    without it the lab runs as before."""
    try:
        current = _port_ranges(RESERVED_PORTS_FILE.read_text())
        wanted = current | lab_listen_ports()
        if wanted != current:
            RESERVED_PORTS_FILE.write_text(",".join(str(p) for p in sorted(wanted)) + "\n")
    except (OSError, ValueError) as exc:
        log(f"could not reserve the lab's ports against ephemeral use ({exc}); a port clash stays possible")


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
