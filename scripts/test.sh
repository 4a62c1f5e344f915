#!/usr/bin/env bash
# The README's test command. On a fresh clone it installs what its tests need (Node.js/npm and the npm packages
# for the GitHub tests, etcd and the Kubernetes 1.20 control plane, built once and cached), starts the local
# control plane (or reuses a running one), runs every suite, and stops the cluster if it started it.
#
# Why it installs: a newcomer runs the README, not .ci/run; CI runs exactly this script after installing only
# the Rust toolchain, so every submission proves the README's promise on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
say() { echo "test.sh: $*" >&2; }

# 1. System packages: node/npm for Prism (the GitHub tests), curl for the cluster script.
need=()
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  as_root apt-get update -qq
  as_root apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. npm packages (Prism, GitHub's OpenAPI description), reinstalled when package-lock.json changed.
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  say "installing the npm packages of package-lock.json (Prism, GitHub's OpenAPI description)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# 3. The control plane: build-control-plane.sh installs etcd and builds (once) or finds the cached binaries.
bash scripts/build-control-plane.sh >/dev/null
started_here=0
if ! bash scripts/local-cluster.sh status >/dev/null 2>&1; then started_here=1; fi
ROLLING_UPDATE_KUBECONFIG=$(bash scripts/local-cluster.sh up)
# Every suite runs here: the integration suite must never skip itself for want of a cluster.
export ROLLING_UPDATE_KUBECONFIG ROLLING_UPDATE_REQUIRE_CLUSTER=1
cleanup() { if [ "$started_here" = 1 ] && [ -z "${KEEP_CLUSTER:-}" ]; then bash scripts/local-cluster.sh down >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT

# 4. Every suite of every crate (--workspace, as the default members already are: the fake kubelet's tests too; its
# integration test makes cargo build the fake-kubelet binary the action's integration tests start). The summary counts what ran, so a suite that
# silently ran nothing shows.
log=$(mktemp)
status=0
cargo test --locked --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
awk '/^     Running / { suite = $2 } /^test result:/ { print "test.sh: " suite ": " $0 }' "$log" >&2
read -r passed failed < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$log")
rm -f "$log"
echo "tests: $passed passed, $failed failed"
exit "$status"
