#!/usr/bin/env bash
# Set up a fresh machine for governed.odoo: Debian packages, the Python virtualenvs
# (.venv with ansible-core 2.21 and .venv-2.20, via uv), collections the ansible package does not
# bundle (awx.awx), and the lab's control-plane binaries (built from Go modules into
# ~/.cache/governed-odoo-lab, keyed by version). Idempotent: a warm run takes seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
say() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"

# --- Debian packages: PostgreSQL 15 (server and client tools), Redis 7, rsync for sanity copies, Chromium (the
# governance report is checked in headless Chromium), Prometheus (the lab's, scraping its Traefik; promtool tests
# the alert rules) and its Pushgateway (DR drills push their results), skopeo (the release gate tests push images
# to the lab registry), prometheus-postgres-exporter (the lab PostgreSQL's connections and Odoo's cron backlog)
PKGS=(postgresql-15 postgresql-client-15 redis-server rsync git ca-certificates chromium prometheus prometheus-pushgateway
      skopeo prometheus-postgres-exporter)
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

# --- Python: the controller runs on Python 3.12 or newer (ansible-core 2.20 and 2.21 need it).
# find_python prints the first interpreter of that version found on PATH or under pyenv.
find_python() {
  local want=$1 cand
  for cand in "$(command -v "python$want" || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want"*/bin/python"$want"; do
    # a pyenv shim is on PATH even when that version is not selected: it must actually run
    if [[ -x "$cand" ]] && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$cand"; return 0
    fi
  done
  return 1
}
PY="${PYTHON:-$(find_python 3.12 || find_python 3.13 || true)}"
[[ -n "$PY" ]] || { say "Python 3.12 or 3.13 is required (ansible-core 2.20+ runs on nothing older)"; exit 1; }
if ! command -v uv >/dev/null; then
  say "installing uv"
  "$PY" -m pip install --quiet --disable-pip-version-check 'uv>=0.4'
fi
UV="$(command -v uv || echo "$("$PY" -m site --user-base)/bin/uv")"
[[ -x "$UV" ]] || UV="$(dirname "$PY")/uv"

# make_venv DIR PYTHON [CONSTRAINT...]: a virtualenv with the project's dependencies, the CONSTRAINTs
# (for example an older ansible-core) applied on top. uv resolves this dependency set in about a minute.
# Bytecode is compiled at install time: uv does not by default, and with PYTHONDONTWRITEBYTECODE=1 (set on
# these machines) Python never caches it either, so every ansible-playbook start and every module process
# compiled Jinja2, cryptography, PyYAML... from source again (about 0.3 s per process).
make_venv() {
  local dir=$1 py=$2; shift 2
  local want; want="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [[ -x "$dir/bin/python" ]] && [[ "$("$dir/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$want" ]]; then
    say "$dir runs another Python than $want: recreating it"; rm -rf "$dir"
  fi
  [[ -x "$dir/bin/python" ]] || "$UV" venv --quiet --python "$py" "$dir"
  local stamp; stamp="$dir/.deps-bc-$( { sha256sum pyproject.toml; printf '%s\n' "$@"; } | sha256sum | cut -c1-16)"
  if [[ ! -f "$stamp" ]]; then
    say "installing Python dependencies into $dir"
    local cons; cons="$(mktemp)"; printf '%s\n' "$@" > "$cons"
    "$UV" pip install --quiet --compile-bytecode --python "$dir/bin/python" -r pyproject.toml --all-extras --override "$cons"
    rm -f "$cons"
    "$dir/bin/python" -m compileall -q -j 0 "$dir/lib" >/dev/null || true  # what was installed before, too
    rm -f "$dir"/.deps-*; touch "$stamp"
  fi
}
# .venv: the newest supported release (ansible 14, ansible-core 2.21), for everything.
make_venv .venv "$PY"
# .venv-2.20: the older supported release (ansible 13, ansible-core 2.20), on Python 3.13 where there is one,
# for the unit tests and sanity (scripts/test.sh). GOVERNED_ODOO_SKIP_OLDER_CORE=1 skips it.
if [[ "${GOVERNED_ODOO_SKIP_OLDER_CORE:-0}" != 1 ]]; then
  PY_OLD="$(find_python 3.13 || echo "$PY")"
  make_venv .venv-2.20 "$PY_OLD" 'ansible-core>=2.20,<2.21' 'ansible>=13,<14'
fi

# .venv-checkov: checkov, the outside judge of the rendered objects (scripts/checkov.sh), in a venv of its own
# because it pins boto3, botocore and packaging below what .venv runs; the version is in pyproject.toml.
UV="$UV" bash scripts/checkov.sh --setup

# --- collections the ansible package no longer bundles (awx.awx since ansible 13), installed as
# `ansible-galaxy collection install -r requirements.yml -p collections` would, from the copy in the newest
# ansible package on PyPI that still carries it (Galaxy is unreachable here); the version is checked
# against requirements.yml.
GOVERNED_ODOO_BOOTSTRAP_PYTHON="$PY" .venv/bin/python scripts/install_collections.py

# --- lab binaries (cached outside the repository; a warm run builds nothing)
bash lab/build-binaries.sh all
# --- the lab's real worker node (containerd, runc, CNI, registry, images), where its setup exists
if [[ -f lab/node-setup.sh ]]; then bash lab/node-setup.sh; fi
say "ready"
