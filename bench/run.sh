#!/usr/bin/env bash
# The benchmark, in one command: bench/run.sh
#
# Builds the action's release binary, starts a private control plane (never the tests' shared one: other ports,
# another state directory) with the audit log on, runs bench/bench.py over the whole matrix and writes
# bench/results.md and bench/results.json. See docs/benchmark.md.
#
# Environment: BENCH_OUT (bench/), BENCH_FULL=1 (also 200 replicas at surge 1: +~25 min), BENCH_ONLY
# ("N:surge:delay,...", e.g. "10:25%:1"), BENCH_SKIP_CAPACITY=1, BENCH_KEEP_CLUSTER=1 (leave the cluster up
# for the next run), BENCH_ACTION_BIN (use this binary, skip the build), BENCH_POD_CPU (10m), BENCH_SKIP_COST=1,
# BENCH_BASELINE_BIN / BENCH_BASELINE_COMMIT (an older build beside this one in the cost case), BENCH_COST_PODS,
# BENCH_REPS (runs of each case, ours and the Deployment controller in turn; medians compared; 5) and
# BENCH_REPS_LONG (the same for cases whose lower bound is over a minute; 1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# A cluster of its own: the integration tests use /tmp/rolling-update-cluster on 16443/23790/23800/20250.
export CLUSTER_STATE_DIR="${CLUSTER_STATE_DIR:-/tmp/rolling-update-bench}"
export API_PORT="${API_PORT:-17443}" ETCD_PORT="${ETCD_PORT:-24790}" ETCD_PEER_PORT="${ETCD_PEER_PORT:-24800}"
export KUBELET_PORT="${KUBELET_PORT:-21250}"
# Room for two RCs of 200 pods side by side (and a Deployment's); pods request 10m CPU.
export NODES="${NODES:-4}" NODE_PODS="${NODE_PODS:-250}" NODE_CPU="${NODE_CPU:-64}" NODE_MEMORY="${NODE_MEMORY:-256Gi}"
export AUDIT_LOG=1

action_bin="${BENCH_ACTION_BIN:-}"
if [ -z "$action_bin" ]; then
  echo "bench: building the release binary (cargo build --release -p rolling-update-action --bin rolling-update)" >&2
  cargo build --release --quiet -p rolling-update-action --bin rolling-update >&2
  action_bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/rolling-update"
fi

# A fresh cluster per run: an empty audit log and no leftovers of an earlier run.
bash scripts/local-cluster.sh down >&2 || true
kubeconfig=$(bash scripts/local-cluster.sh up)
cleanup() {
  if [ "${BENCH_KEEP_CLUSTER:-}" != 1 ]; then bash scripts/local-cluster.sh down >&2 || true; fi
}
trap cleanup EXIT

python3 bench/bench.py "$kubeconfig" "$action_bin" "$CLUSTER_STATE_DIR" "${BENCH_OUT:-$ROOT/bench}"
