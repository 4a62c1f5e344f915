#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kube-scheduler 1.20.2 from Debian's `kubernetes`
# source package (Debian ships no apiserver binary) and caches them under ~/.cache, keyed by version.
# A second run finds the cache and returns at once. Also installs etcd-server and the build tools.
set -euo pipefail

K8S_VERSION=1.20.2
CACHE_ROOT="${ROLLING_UPDATE_CACHE:-$HOME/.cache/rolling-update}"
# The "-reflect2" suffix keys the cache to the vendored-reflect2 fix below: an older cache holds an apiserver that
# crashes on custom resources.
BIN_DIR="$CACHE_ROOT/kubernetes-$K8S_VERSION-reflect2/bin"
export DEBIAN_FRONTEND=noninteractive

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_pkgs=()
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)

built() { [ -x "$BIN_DIR/kube-apiserver" ] && [ -x "$BIN_DIR/kube-controller-manager" ] && [ -x "$BIN_DIR/kube-scheduler" ]; }

# `--cached`: only say whether the control plane is here (exit 0, its bin directory) or not (exit 1); install
# and build nothing. A plain `cargo test` asks this before it would start a cluster.
if [ "${1:-}" = "--cached" ]; then
  if built && [ ${#need_pkgs[@]} -eq 0 ]; then echo "$BIN_DIR"; exit 0; fi
  exit 1
fi

if built; then
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    as_root apt-get update -qq && as_root apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  fi
  echo "$BIN_DIR"
  exit 0
fi

echo "building the Kubernetes $K8S_VERSION control plane (once; cached in $BIN_DIR)" >&2
started=$(date +%s)
src_list=/etc/apt/sources.list.d/debian.sources
if [ -f "$src_list" ] && ! grep -q 'deb-src' "$src_list"; then
  as_root sed -i 's/^Types: deb$/Types: deb deb-src/' "$src_list"
fi
as_root apt-get update -qq
as_root apt-get install -y -qq golang-go etcd-server rsync openssl dpkg-dev golang-github-modern-go-reflect2-dev >/dev/null

work="$CACHE_ROOT/src"
rm -rf "$work" && mkdir -p "$work"
cd "$work"
apt-get source --download-only kubernetes >&2
dsc=$(ls kubernetes_*.dsc | head -1)
dpkg-source -x --no-check "$dsc" kubernetes-src >&2
cd kubernetes-src
# Kubernetes 1.20 vendors modern-go/reflect2 1.0.1, which reads Go's map internals with the layout of Go < 1.18; built
# with Debian's Go 1.19 the apiserver dies ("fatal error: fault", SIGSEGV in map iteration) as soon as it serves
# custom resources. reflect2 1.0.2 (Debian's golang-github-modern-go-reflect2-dev) uses the runtime's own map
# iterator instead; it is API-compatible, so it replaces the vendored copy.
reflect2_src=/usr/share/gocode/src/github.com/modern-go/reflect2
rsync -a --delete --exclude='.git*' --exclude='debian' "$reflect2_src/" vendor/github.com/modern-go/reflect2/
mkdir -p .go/src/k8s.io
ln -sfn ../../.. .go/src/k8s.io/kubernetes
gohome=$(mktemp -d)
cd .go/src/k8s.io/kubernetes
env GOPATH="$work/kubernetes-src/.go" GO111MODULE=off CGO_ENABLED=0 HOME="$gohome" GOFLAGS= \
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler" >&2
mkdir -p "$BIN_DIR"
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  cp "$(find _output -type f -name "$b" | head -1)" "$BIN_DIR/$b"
done
cd /
rm -rf "$work" "$gohome"
echo "built in $(( $(date +%s) - started ))s" >&2
echo "$BIN_DIR"
