#!/usr/bin/env bash
# Set up a fresh machine for governed.odoo: Debian packages, the Python virtualenv
# (.venv, via uv), and the lab's control-plane binaries (built from Go modules into
# ~/.cache/governed-odoo-lab, keyed by version). Idempotent: a warm run takes seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
say() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"

# --- Debian packages: PostgreSQL 15 (server and client tools), Redis 7, rsync for sanity copies
PKGS=(postgresql-15 postgresql-client-15 redis-server rsync git ca-certificates)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  # the lab runs its own server processes: keep the packages' init scripts from starting services
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

# --- Go toolchain (the lab builds kube-apiserver, etcd and kwok from Go modules)
command -v go >/dev/null || { say "Go is required (go 1.25 or later)"; exit 1; }

# --- Python: uv resolves this dependency set in about a minute (pip takes many)
PY="${PYTHON:-python3.11}"; command -v "$PY" >/dev/null || PY=python3
if ! command -v uv >/dev/null; then
  say "installing uv"
  "$PY" -m pip install --quiet --disable-pip-version-check 'uv>=0.4'
fi
UV="$(command -v uv || echo "$("$PY" -m site --user-base)/bin/uv")"
if [[ ! -x .venv/bin/python ]]; then
  "$UV" venv --quiet --python "$PY" .venv
fi
# Bytecode is compiled at install time: uv does not by default, and with PYTHONDONTWRITEBYTECODE=1 (set on
# these machines) Python never caches it either, so every ansible-playbook start and every module process
# compiled Jinja2, cryptography, PyYAML... from source again (about 0.3 s per process).
stamp=".venv/.deps-bc-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  say "installing Python dependencies into .venv"
  "$UV" pip install --quiet --compile-bytecode --python .venv/bin/python -r pyproject.toml --all-extras
  .venv/bin/python -m compileall -q -j 0 .venv/lib >/dev/null || true  # what was installed before, too
  rm -f .venv/.deps-*; touch "$stamp"
fi

# --- lab binaries (cached outside the repository; a warm run builds nothing)
bash lab/build-binaries.sh all
say "ready"
