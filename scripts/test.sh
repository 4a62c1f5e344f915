#!/usr/bin/env bash
# The test command (README): unit tests, the GitHub tests against Prism, and the integration tests against
# the real local control plane (started, or reused, by the test support; stopped at the end if we started it).
set -euo pipefail
cd "$(dirname "$0")/.."
started_here=0
if ! bash scripts/local-cluster.sh status >/dev/null 2>&1; then started_here=1; fi
ROLLING_UPDATE_KUBECONFIG=$(bash scripts/local-cluster.sh up)
export ROLLING_UPDATE_KUBECONFIG
cleanup() { if [ "$started_here" = 1 ] && [ -z "${KEEP_CLUSTER:-}" ]; then bash scripts/local-cluster.sh down >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT
cargo test --locked --all-targets "$@"
