#!/usr/bin/env bash
# The README's first command: the action's main job on a real local control plane.
#   1. starts the local Kubernetes 1.20 control plane (built once from Debian's source package, cached);
#   2. creates the seeds' `api-rc` (node-api + fluentd) and `api-srv` in namespace `demo`;
#   3. runs the action binary with the environment a runner gives it on a pull_request event (a real webhook
#      payload) and rolls node-api to a new image, the Service keeping 3 endpoints throughout;
#   4. replays the second seed's capacity failure (one node of 1 CPU, 970m requested) and prints the diagnosis
#      and the report that would go to the pull request.
# `scripts/demo.sh capacity` runs only steps 1 and 4's failing run (scripts/screenshot-report.sh uses it).
set -euo pipefail
only="${1:-all}"
case "$only" in all|capacity) ;; *) echo "usage: $0 [capacity]" >&2; exit 2;; esac
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Starting the local control plane (the first run builds Kubernetes 1.20.2 from source: ~8 min)"
KUBECONFIG=$(bash scripts/local-cluster.sh up)
export KUBECONFIG
k() { kubectl --request-timeout=10s "$@" 2>&1 | grep -v '^Warning: version difference' || true; }
cargo build --quiet --bin rolling-update
BIN=target/debug/rolling-update
runner_env() {
  # What the Actions runner gives a docker action: INPUT_* (all inputs) and the GITHUB_* context.
  echo "INPUT_KUBECONFIG=$(base64 -w0 "$KUBECONFIG")"  # the action takes raw YAML or base64
  echo "GITHUB_EVENT_NAME=pull_request"
  echo "GITHUB_EVENT_PATH=$PWD/tests/fixtures/events/pull_request.opened.json"
  echo "GITHUB_SHA=0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e"
  echo "GITHUB_REF=refs/pull/2/merge"
  echo "GITHUB_REPOSITORY=Codertocat/Hello-World"
  echo "GITHUB_RUN_ID=1"
  echo "ROLLING_UPDATE_PRINT_REPORT=1"
}
run_action() {
  local envs=()
  while IFS= read -r line; do envs+=("$line"); done < <(runner_env)
  env -i PATH="$PATH" HOME="$HOME" "${envs[@]}" "$@" "$BIN"
}

if [ "$only" = all ]; then
say "Creating the seeds' api-rc (node-api + fluentd, 3 replicas) and api-srv in namespace demo"
k delete namespace demo --wait=true >/dev/null
k create namespace demo >/dev/null
k -n demo apply -f examples/seeds/api.yaml
k -n demo wait --for=condition=Ready pod -l name=api-pods --timeout=60s
k -n demo get rc,pods,endpoints

say "Rolling node-api to registry.local/node-api:2.0 (pull_request event, version from the PR's head SHA)"
code=0
run_action INPUT_NAMESPACE=demo INPUT_RC=api-rc \
  INPUT_IMAGES="node-api-container=registry.local/node-api:2.0" || code=$?
echo "exit code: $code"
k -n demo get rc,pods,endpoints
fi

say "The second seed: one node of 1 CPU with 970m requested, a rollout with max_surge 1"
k delete namespace demo-capacity --wait=true >/dev/null
k delete node demo-small --wait=true >/dev/null
k create namespace demo-capacity >/dev/null
k apply -f - <<'YAML'
apiVersion: v1
kind: Node
metadata:
  name: demo-small
  labels: {rolling-update.test/fake: "true", pool: small}
spec:
  taints: [{key: pool, value: small, effect: NoSchedule}]
YAML
k patch node demo-small --subresource=status --type=merge -p \
  '{"status":{"capacity":{"cpu":"1","memory":"4Gi","pods":"110"},"allocatable":{"cpu":"1","memory":"4Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"ready"}]}}'
sleep 2
sed -e 's/name: api-rc$/name: small-rc/' -e 's/name: api-srv$/name: small-srv/' examples/seeds/api.yaml \
  | sed -e 's/^    spec:$/    spec:\n      nodeSelector: {pool: small}\n      tolerations: [{key: pool, value: small, effect: NoSchedule}]/' \
  | k -n demo-capacity apply -f -
k -n demo-capacity apply -f - <<'YAML'
apiVersion: v1
kind: Pod
metadata:
  name: other-team-batch-job
spec:
  nodeSelector: {pool: small}
  tolerations: [{key: pool, value: small, effect: NoSchedule}]
  containers:
  - name: batch
    image: registry.local/batch:1
    resources: {requests: {cpu: 670m}}
YAML
k -n demo-capacity wait --for=condition=Ready pod --all --timeout=60s
echo "node demo-small: 1000m CPU allocatable, 3 x 100m (small-rc) + 670m (batch) = 970m requested"

say "Rolling small-rc with max_surge 1: the run stops early and says why"
code=0
run_action INPUT_NAMESPACE=demo-capacity INPUT_RC=small-rc INPUT_PROGRESS_DEADLINE=5m \
  INPUT_IMAGES="node-api-container=registry.local/node-api:2.0" || code=$?
echo "exit code: $code (1 = the rollout failed, rolled back)"
[ "$only" = all ] || exit 0

say "The fix it suggested: max_surge 0, max_unavailable 1"
code=0
run_action INPUT_NAMESPACE=demo-capacity INPUT_RC=small-rc INPUT_MAX_SURGE=0 INPUT_MAX_UNAVAILABLE=1 \
  INPUT_IMAGES="node-api-container=registry.local/node-api:2.0" || code=$?
echo "exit code: $code"
k -n demo-capacity get rc,pods
say "Done. Stop the cluster with: bash scripts/local-cluster.sh down"
