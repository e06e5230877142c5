#!/usr/bin/env bash
# Debian packages the lab's real worker node needs (lab/node.py): container runtime, CNI plugins,
# a local OCI registry, image tooling, iptables. Idempotent: when every package is there it only
# checks, in well under a second. Images are built by `lab/images/build.py` on `lab up` (cached).
#
#   containerd                    the CRI runtime kubelet talks to (its own socket and root under .lab/node)
#   runc                          the OCI runtime (crun refuses this cgroup v1 hybrid host)
#   containernetworking-plugins   bridge, host-local, loopback (/usr/lib/cni)
#   docker-registry               the CNCF distribution registry 2.8, on loopback
#   mmdebstrap                    builds image root filesystems from Debian packages
#   skopeo                        pushes the built OCI archives into the local registry
#   buildah                       builds the backup runner image from its Containerfile (images/backup-runner)
#   iptables, iproute2, conntrack the pod network and kube-proxy
#   ipset                         kube-router's NetworkPolicy firewall (the sets its rules match)
set -euo pipefail

PKGS=(containerd runc containernetworking-plugins docker-registry mmdebstrap skopeo buildah iptables iproute2 conntrack ipset)

log() { printf '[node-setup] %s\n' "$*" >&2; }

if [[ "$(id -u)" != 0 ]]; then
  log "the real worker node needs root (containers, network namespaces, iptables); skipped"
  exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  # Debian starts the services of the packages it installs where it can (containerd, docker-registry);
  # the lab runs its own instances with their own state, so nothing may be started system-wide.
  # (When /usr/sbin/policy-rc.d already refuses, as in containers, it is left alone.)
  own_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
  fi
  trap 'if [[ $own_policy == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# A system-wide daemon a package may have started anyway must not hold the registry's or containerd's defaults.
for svc in docker-registry containerd; do
  if [[ -x /etc/init.d/$svc ]] && /etc/init.d/$svc status >/dev/null 2>&1; then
    log "stopping the system-wide $svc that the package started"; /etc/init.d/$svc stop >/dev/null 2>&1 || true
  fi
done
for b in containerd containerd-shim-runc-v2 ctr runc docker-registry mmdebstrap skopeo buildah iptables ip conntrack ipset; do
  command -v "$b" >/dev/null || { log "missing $b after install"; exit 1; }
done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] \
  || { log "CNI plugins missing under /usr/lib/cni"; exit 1; }
log "ready"
