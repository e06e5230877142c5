#!/usr/bin/env bash
# Build the lab's control-plane binaries from Go modules, once, into a cache
# outside the repository keyed by version. A warm run finds them and exits at once.
#
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
#   kubelet, kube-proxy (the lab's real worker node)                  (k8s.io/kubernetes)
#   etcd                                                            (go.etcd.io/etcd/server/v3)
#   kwok, kwokctl                                                   (sigs.k8s.io/kwok)
#   kubeseal (the GitOps mode's compatibility tests)                (github.com/bitnami-labs/sealed-secrets)
#   cosign (the release gates verify image signatures with it)      (github.com/sigstore/cosign/v2)
#   coredns, the real node's cluster DNS, with only the plugins
#   the lab uses (kubernetes, cache, errors, health, ready, ...)    (github.com/coredns/coredns)
#   kube-router, the real node's NetworkPolicy firewall             (github.com/cloudnativelabs/kube-router/v2)
#
# k8s.io/kubernetes cannot be `go install`ed directly: its go.mod replaces the
# staging modules with ./staging paths. A wrapper module rewrites those replaces
# to the published k8s.io/* versions and requires the commands as tools.
set -euo pipefail

K8S_VERSION="${LAB_K8S_VERSION:-v1.36.3}"
ETCD_VERSION="${LAB_ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${LAB_KWOK_VERSION:-v0.8.0}"
KUBESEAL_VERSION="${LAB_KUBESEAL_VERSION:-v0.27.1}"
COSIGN_VERSION="${LAB_COSIGN_VERSION:-v2.6.5}"
COREDNS_VERSION="${LAB_COREDNS_VERSION:-v1.15.0}"
# the only version the Go module proxy serves here; the lab runs its firewall alone (no BGP, no service proxy),
# inside the real node's own network namespace
KUBE_ROUTER_VERSION="${LAB_KUBE_ROUTER_VERSION:-v2.1.0}"
CACHE="${GOVERNED_ODOO_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/governed-odoo-lab}"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
export CGO_ENABLED=0

log() { printf '[build] %s\n' "$*" >&2; }

# One build at a time: a second run (another checkout, setup.sh beside a manual build) waits for the first
# and then finds the binaries cached, instead of deleting the first one's work directory under it.
if [[ "${1:-all}" != path ]]; then
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.build.lock"
  flock 9
fi

build_k8s() {
  local dest="$CACHE/bin/kubernetes-$K8S_VERSION"
  if [[ -x "$dest/kube-apiserver" && -x "$dest/kube-controller-manager" && -x "$dest/kube-scheduler" && -x "$dest/kubectl" \
        && -x "$dest/kubelet" && -x "$dest/kube-proxy" ]]; then
    log "kubernetes $K8S_VERSION: cached in $dest"; return
  fi
  local staging="v0.${K8S_VERSION#v1.}"
  local work="$CACHE/src/kubernetes-$K8S_VERSION"
  rm -rf "$work"; mkdir -p "$work" "$dest"
  log "kubernetes $K8S_VERSION: preparing wrapper module (staging modules at $staging)"
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
  {
    echo "module lab.local/k8sbuild"
    echo
    grep -E '^go [0-9]' "$gomod"
    grep -E '^godebug' "$gomod" || true
    echo
    echo "replace ("
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/' "$gomod" \
      | sed -E "s#^\s*(k8s\.io/[a-z0-9-]+) => .*#\t\1 => \1 $staging#"
    echo ")"
  } > "$work/go.mod"
  (
    cd "$work"
    for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
      go get -tool "k8s.io/kubernetes/cmd/$cmd@$K8S_VERSION"
    done
    local major minor
    major="${K8S_VERSION#v}"; major="${major%%.*}"
    minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
    local pkg=k8s.io/component-base/version
    local ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=$major -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    log "kubernetes $K8S_VERSION: compiling (a cold build takes 15-30 minutes on two cores)"
    GOBIN="$dest" go install -trimpath -tags=selinux,notest -ldflags="$ldflags" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
      k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
  )
  log "kubernetes $K8S_VERSION: built into $dest"
}

build_etcd() {
  local dest="$CACHE/bin/etcd-$ETCD_VERSION"
  if [[ -x "$dest/etcd" ]]; then log "etcd $ETCD_VERSION: cached"; return; fi
  local work="$CACHE/src/etcd-$ETCD_VERSION"
  rm -rf "$work"; mkdir -p "$work" "$dest"
  cat > "$work/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$work"
    printf 'module lab.local/etcdbuild\n\ngo 1.24\n' > go.mod
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    go mod tidy
    go build -trimpath -ldflags="-s -w" -o "$dest/etcd" .
  )
  log "etcd $ETCD_VERSION: built"
}

build_kwok() {
  local dest="$CACHE/bin/kwok-$KWOK_VERSION"
  if [[ -x "$dest/kwok" && -x "$dest/kwokctl" ]]; then log "kwok $KWOK_VERSION: cached"; return; fi
  mkdir -p "$dest"
  GOBIN="$dest" go install -trimpath -ldflags="-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  log "kwok $KWOK_VERSION: built"
}

build_kubeseal() {
  local dest="$CACHE/bin/kubeseal-$KUBESEAL_VERSION"
  if [[ -x "$dest/kubeseal" ]]; then log "kubeseal $KUBESEAL_VERSION: cached"; return; fi
  mkdir -p "$dest"
  log "kubeseal $KUBESEAL_VERSION: compiling (a cold build takes a few minutes)"
  GOBIN="$dest" go install -trimpath -ldflags="-s -w -X main.VERSION=$KUBESEAL_VERSION" \
    "github.com/bitnami-labs/sealed-secrets/cmd/kubeseal@$KUBESEAL_VERSION"
  log "kubeseal $KUBESEAL_VERSION: built"
}

build_cosign() {
  local dest="$CACHE/bin/cosign-$COSIGN_VERSION"
  if [[ -x "$dest/cosign" ]]; then log "cosign $COSIGN_VERSION: cached"; return; fi
  mkdir -p "$dest"
  log "cosign $COSIGN_VERSION: compiling (a cold build takes about 10 minutes on two cores)"
  GOBIN="$dest" go install -trimpath -ldflags="-s -w" "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION"
  log "cosign $COSIGN_VERSION: built"
}

build_coredns() {
  local dest="$CACHE/bin/coredns-$COREDNS_VERSION"
  if [[ -x "$dest/coredns" ]]; then log "coredns $COREDNS_VERSION: cached"; return; fi
  local work="$CACHE/src/coredns-$COREDNS_VERSION"
  rm -rf "$work"; mkdir -p "$work" "$dest"
  # CoreDNS as a library (its documented way to choose plugins): the default plugin set would compile every
  # cloud provider's SDK in; the lab needs the kubernetes plugin and a few of the server's own
  cat > "$work/main.go" <<'GO'
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
GO
  (
    cd "$work"
    printf 'module lab.local/corednsbuild\n\ngo 1.26.0\n' > go.mod
    go get "github.com/coredns/coredns@$COREDNS_VERSION"
    go mod tidy
    log "coredns $COREDNS_VERSION: compiling"
    go build -trimpath -ldflags="-s -w" -o "$dest/coredns" .
  )
  log "coredns $COREDNS_VERSION: built"
}

build_kube_router() {
  local dest="$CACHE/bin/kube-router-$KUBE_ROUTER_VERSION"
  if [[ -x "$dest/kube-router" ]]; then log "kube-router $KUBE_ROUTER_VERSION: cached"; return; fi
  mkdir -p "$dest"
  log "kube-router $KUBE_ROUTER_VERSION: compiling (a cold build takes a few minutes)"
  GOBIN="$dest" go install -trimpath -ldflags="-s -w" \
    "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
  log "kube-router $KUBE_ROUTER_VERSION: built"
}

case "${1:-all}" in
  k8s) build_k8s ;;
  etcd) build_etcd ;;
  kwok) build_kwok ;;
  kubeseal) build_kubeseal ;;
  cosign) build_cosign ;;
  coredns) build_coredns ;;
  kube-router) build_kube_router ;;
  node) build_k8s; build_coredns; build_kube_router ;;
  all) build_etcd; build_kwok; build_kubeseal; build_k8s; build_cosign; build_coredns; build_kube_router ;;
  path) echo "$CACHE/bin/kubernetes-$K8S_VERSION:$CACHE/bin/etcd-$ETCD_VERSION:$CACHE/bin/kwok-$KWOK_VERSION:$CACHE/bin/kubeseal-$KUBESEAL_VERSION:$CACHE/bin/cosign-$COSIGN_VERSION" ;;
  *) echo "usage: $0 [all|k8s|etcd|kwok|kubeseal|cosign|coredns|kube-router|node|path]" >&2; exit 2 ;;
esac
