"""The lab: real Kubernetes control plane, PostgreSQL, Redis, S3, Traefik and Prometheus on loopback.

    scripts/lab up       start everything (idempotent; a warm second run is quick)
    scripts/lab status   what runs where
    scripts/lab down     stop every lab process and free every port
    scripts/lab reset    stop and wipe all state under .lab/

Connection details are written to .lab/connection.json (read by inventories/lab,
tests and benchmarks), .lab/env.sh (shell exports) and .lab/kubeconfig.
If KUBECONFIG points at a reachable cluster, that cluster is used and no
control plane is started here.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))

from common import LAB_DIR, PORTS, Component, LabError, log, port_open, reserve_ports, write_json


def components() -> list[Component]:
    from controlplane import ControlPlane
    from node import Node
    from services import Postgres, Prometheus, Redis, SeaweedS3, Traefik

    # order matters: Traefik reads IngressRoutes from the API server, the real node joins it, Prometheus scrapes Traefik
    return [ControlPlane(), Node(), Postgres(), Redis(), SeaweedS3(), Traefik(), Prometheus()]


def _env_lines(conn: dict) -> list[str]:
    out = []
    for key, val in conn.get("env", {}).items():
        if key == "PATH":  # a directory to put in front of the caller's PATH
            out.append(f'export PATH={shlex.quote(str(val))}:"$PATH"')
            continue
        out.append(f"export {key}={shlex.quote(str(val))}")
    return out


def cmd_up(only: list[str] | None) -> int:
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    path = LAB_DIR / "connection.json"
    conn = json.loads(path.read_text()) if path.exists() else {}
    conn.setdefault("env", {})
    reserve_ports()
    t0 = time.monotonic()
    for comp in components():
        if only and comp.name not in only:
            continue
        t = time.monotonic()
        info = comp.up()
        env = info.pop("env", {})
        conn[comp.name] = info
        conn["env"].update(env)
        write_json(path, conn)
        log(f"{comp.name}: up ({time.monotonic() - t:.1f}s)")
    (LAB_DIR / "env.sh").write_text("\n".join(_env_lines(conn)) + "\n")
    log(f"lab up in {time.monotonic() - t0:.1f}s; source {LAB_DIR / 'env.sh'} for the connection variables")
    return 0


def cmd_down() -> int:
    for comp in reversed(components()):
        comp.down()
        log(f"{comp.name}: down")
    busy = [f"{name}={port}" for name, port in PORTS.items() if port_open(port)]
    if busy:
        log(f"ports still listening after down: {', '.join(busy)}")
        return 1
    return 0


def cmd_status() -> int:
    rc = 0
    for comp in components():
        st = comp.status()
        for proc, state in st.items():
            print(f"{comp.name:14} {proc:26} {state}")
            if not str(state).startswith(("running", "external", "ok")):
                rc = 3
    return rc


def cmd_reset() -> int:
    for comp in reversed(components()):
        comp.reset()
    import shutil

    shutil.rmtree(LAB_DIR, ignore_errors=True)
    log(f"wiped {LAB_DIR}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start the lab (idempotent)")
    up.add_argument("components", nargs="*", help="only these components (default: all)")
    sub.add_parser("down", help="stop every lab process")
    sub.add_parser("status", help="what runs where")
    sub.add_parser("reset", help="stop and wipe all lab state")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "up":
            return cmd_up(args.components)
        if args.cmd == "down":
            return cmd_down()
        if args.cmd == "status":
            return cmd_status()
        return cmd_reset()
    except LabError as exc:
        log(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
