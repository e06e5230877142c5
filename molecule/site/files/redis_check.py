#!/usr/bin/env python3
"""Run a real redis-server with an instance's rendered configuration and check that it refuses clients without
the password. The lab's pods run nothing, so the check starts Redis itself (Debian's redis-server), with the
redis.conf of the instance's ConfigMap, which includes the auth.conf of its Secret as the StatefulSet mounts it
(only the include's directory differs), on a free loopback port, and stops it afterwards. The password a client
sends is the Secret's REDIS_PASSWORD, the file the probes read. Prints one JSON document.

    redis_check.py REDIS_CONF_FILE AUTH_CONF_FILE PASSWORD_FILE
"""

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port, *args, auth=None):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        out = b""
        parts = ([["AUTH", auth]] if auth else []) + [list(args)]
        for part in parts:
            s.sendall(b"*%d\r\n" % len(part) + b"".join(b"$%d\r\n%s\r\n" % (len(p.encode()), p.encode()) for p in part))
            time.sleep(0.1)
            out = s.recv(4096).decode(errors="replace").strip()
        return out


def main():
    conf, auth_conf = Path(sys.argv[1]).read_text(), Path(sys.argv[2])
    password = Path(sys.argv[3]).read_text().strip()
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        # the rendered file, with only the address, port, data directory and the included auth.conf's directory
        # changed for a local process
        lines = [ln for ln in conf.splitlines() if not ln.startswith(("bind ", "port ", "dir "))]
        lines = [f"include {auth_conf}" if ln == "include /etc/redis-auth/auth.conf" else ln for ln in lines]
        cfg = Path(data) / "redis.conf"
        cfg.write_text("\n".join([*lines, "bind 127.0.0.1", f"port {port}", f"dir {data}", ""]))
        proc = subprocess.Popen(  # noqa: S603 - Debian's redis-server with a file this script wrote
            [exe, str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            result = {
                "server": exe,
                "unauthenticated_ping": command(port, "PING"),
                "authenticated_ping": command(port, "PING", auth=password),
                "wrong_password": command(port, "PING", auth=password + "x"),
                "config_command": command(port, "CONFIG", "GET", "maxmemory-policy", auth=password),
                "maxmemory_policy": next(
                    (
                        line.split(":", 1)[1]
                        for line in command(port, "INFO", "memory", auth=password).split()
                        if line.startswith("maxmemory_policy:")
                    ),
                    None,
                ),
                "flushall": command(port, "FLUSHALL", auth=password),
            }
        finally:
            proc.terminate()
            proc.wait(10)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
