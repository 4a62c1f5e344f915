#!/usr/bin/env bash
# A real Kubernetes 1.20 control plane on loopback for the tests and the benchmark: etcd, kube-apiserver (TLS,
# token auth, RBAC, ResourceQuota admission), kube-controller-manager, kube-scheduler, and the fake kubelet that
# registers fake nodes, plays the node agent for pods bound to them and serves their logs (crates/fake-kubelet).
#
#   scripts/local-cluster.sh up      start (or reuse) the cluster; prints ONLY the kubeconfig path on stdout
#   scripts/local-cluster.sh status  what runs; exit 0 when everything is up and healthy
#   scripts/local-cluster.sh down    stop exactly the processes `up` started (pid files) and remove the state
#
# Environment: CLUSTER_STATE_DIR (/tmp/rolling-update-cluster), NODES (3), NODE_CPU (2), NODE_MEMORY (4Gi),
# NODE_PODS (110), AUDIT_LOG=1 (JSON audit log of every request in $CLUSTER_STATE_DIR/audit.log),
# FAKE_KUBELET_BIN (use this binary instead of `cargo build -p fake-kubelet`), FAKE_KUBELET_* (see the fake
# kubelet's docs). Ports: ETCD_PORT (23790), ETCD_PEER_PORT (23800), API_PORT (16443), KUBELET_PORT (20250: the
# fake kubelet's log endpoint, which the API server's pods/log requests reach), all on 127.0.0.1.
# Progress goes to stderr; component logs to $CLUSTER_STATE_DIR/<component>.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${CLUSTER_STATE_DIR:-/tmp/rolling-update-cluster}"
ETCD_PORT="${ETCD_PORT:-23790}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-23800}"
API_PORT="${API_PORT:-16443}"
KUBELET_PORT="${KUBELET_PORT:-20250}"
API="https://127.0.0.1:$API_PORT"
KUBECONFIG_PATH="$STATE/kubeconfig"
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler fake-kubelet)
NODES="${NODES:-3}"
NODE_CPU="${NODE_CPU:-2}"
NODE_MEMORY="${NODE_MEMORY:-4Gi}"
NODE_PODS="${NODE_PODS:-110}"

log() { echo "local-cluster: $*" >&2; }
die() { log "$*"; exit 1; }

# Is the process in pid file $1 alive and still the program we started (guards against pid reuse)?
alive() {
  local name=$1 pid
  [ -f "$STATE/$name.pid" ] || return 1
  pid=$(cat "$STATE/$name.pid")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"
}

# Starts a long-running component detached from our session (it must outlive the caller, e.g. a test process).
start() {
  local name=$1; shift
  setsid "$@" >"$STATE/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/$name.pid"
}

api_healthy() {
  [ -f "$STATE/token" ] || return 1
  curl -sf --max-time 2 --cacert "$STATE/certs/apiserver.crt" -H "Authorization: Bearer $(cat "$STATE/token")" \
    "$API/readyz" >/dev/null 2>&1
}

kctl() { kubectl --kubeconfig "$KUBECONFIG_PATH" --request-timeout=5s "$@"; }

# All fake nodes Ready and free of the not-ready/unreachable taints.
nodes_ready() {
  local want=$1 out ready tainted
  out=$(kctl get nodes -l rolling-update.test/fake=true \
    -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.spec.taints[*].key}{"\n"}{end}' 2>/dev/null) || return 1
  ready=$(grep -c ' True' <<<"$out" || true)
  tainted=$(grep -c -E 'node.kubernetes.io/(not-ready|unreachable)' <<<"$out" || true)
  [ "$ready" -ge "$want" ] && [ "$tainted" = 0 ]
}

all_alive() {
  local c
  for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done
}

wait_until() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${seconds}s waiting for $what (logs in $STATE)"
    sleep 0.2
  done
}

fake_kubelet_bin() {
  if [ -n "${FAKE_KUBELET_BIN:-}" ]; then echo "$FAKE_KUBELET_BIN"; return; fi
  echo "${CARGO_TARGET_DIR:-$ROOT/target}/debug/fake-kubelet"
}

build_fake_kubelet() {
  [ -n "${FAKE_KUBELET_BIN:-}" ] && return 0
  (cd "$ROOT" && cargo build --quiet -p fake-kubelet >&2)
}

# The fake kubelet's serving certificate, self-signed like a kubelet's without --tls-cert-file. The API server
# has no --kubelet-certificate-authority, so it does not verify it (nor send a client certificate). Made here, not
# with the other secrets, so that a cluster started by an older version of this script gets one too.
kubelet_cert() {
  [ -s "$STATE/certs/kubelet.crt" ] && [ -s "$STATE/certs/kubelet.key" ] && return 0
  mkdir -p "$STATE/certs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=fake-kubelet \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$STATE/certs/kubelet.key" -out "$STATE/certs/kubelet.crt" 2>/dev/null
}

start_fake_kubelet() {
  kubelet_cert
  local names=() i
  for ((i = 1; i <= NODES; i++)); do names+=("node-$i"); done
  local bin; bin=$(fake_kubelet_bin)
  [ -x "$bin" ] || die "fake kubelet binary not found at $bin"
  # Run a private copy: a rebuild of the original must not change the running program under us.
  cp "$bin" "$STATE/fake-kubelet"
  stat -c %Y "$bin" >"$STATE/fake-kubelet.mtime"
  start fake-kubelet env KUBECONFIG="$KUBECONFIG_PATH" FAKE_KUBELET_NODES="$(IFS=,; echo "${names[*]}")" \
    FAKE_KUBELET_NODE_CPU="$NODE_CPU" FAKE_KUBELET_NODE_MEMORY="$NODE_MEMORY" FAKE_KUBELET_NODE_PODS="$NODE_PODS" \
    FAKE_KUBELET_PORT="$KUBELET_PORT" FAKE_KUBELET_TLS_CERT="$STATE/certs/kubelet.crt" \
    FAKE_KUBELET_TLS_KEY="$STATE/certs/kubelet.key" "$STATE/fake-kubelet"
}

write_kubeconfig() {
  local ca; ca=$(base64 -w0 <"$STATE/certs/apiserver.crt")
  umask 077
  cat >"$KUBECONFIG_PATH.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $API
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $(cat "$STATE/token")
contexts:
- name: local
  context:
    cluster: local
    user: admin
    namespace: default
current-context: local
EOF
  mv "$KUBECONFIG_PATH.tmp" "$KUBECONFIG_PATH"
}

stop_pid() {
  local name=$1 pid i
  alive "$name" || { rm -f "$STATE/$name.pid"; return 0; }
  pid=$(cat "$STATE/$name.pid")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    alive "$name" || break
    sleep 0.1
  done
  if alive "$name"; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$STATE/$name.pid"
}

cmd_down() {
  local i
  [ -d "$STATE" ] || { log "not running"; return 0; }
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop_pid "${COMPONENTS[$i]}"; done
  if [ -f "$STATE/etcd-data-dir" ]; then rm -rf "$(cat "$STATE/etcd-data-dir")"; fi
  rm -rf "$STATE"
  log "stopped and removed $STATE"
}

cmd_status() {
  local c ok=0
  for c in "${COMPONENTS[@]}"; do
    if alive "$c"; then echo "$c: running (pid $(cat "$STATE/$c.pid"))"; else echo "$c: not running"; ok=1; fi
  done
  if api_healthy; then echo "kube-apiserver: ready at $API"; else echo "kube-apiserver: not ready"; ok=1; fi
  if [ $ok = 0 ]; then
    kctl get nodes -l rolling-update.test/fake=true 2>/dev/null || true
    echo "kubeconfig: $KUBECONFIG_PATH"
  fi
  return $ok
}

cmd_up() {
  local started=$SECONDS
  if all_alive && api_healthy && [ -f "$KUBECONFIG_PATH" ]; then
    restart_stale_fake_kubelet
    wait_until "the fake nodes to be Ready" 30 nodes_ready "$NODES"
    echo "$KUBECONFIG_PATH"
    return 0
  fi
  if [ -d "$STATE" ]; then
    log "found a partial cluster in $STATE; restarting it"
    cmd_down
  fi
  local bin_dir
  bin_dir=$(bash "$ROOT/scripts/build-control-plane.sh")
  mkdir -p "$STATE/certs"
  trap on_up_failure EXIT
  chmod 700 "$STATE"

  # The fake kubelet builds while the control plane starts (2 cores: cargo mostly waits for the lock or links).
  build_fake_kubelet &
  local build_pid=$!

  local etcd_data="$STATE/etcd"
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    # etcd fsyncs every write; on tmpfs that costs nothing, which matters when 200 pods change at once.
    etcd_data=$(mktemp -d /dev/shm/rolling-update-etcd.XXXXXX)
  fi
  echo "$etcd_data" >"$STATE/etcd-data-dir"
  start etcd etcd --name local --data-dir "$etcd_data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" --log-level warn

  openssl rand -hex 32 >"$STATE/token"
  echo "$(cat "$STATE/token"),admin,admin-uid,system:masters" >"$STATE/tokens.csv"
  openssl genrsa -out "$STATE/sa.key" 2048 2>/dev/null
  local audit=()
  if [ "${AUDIT_LOG:-}" = 1 ]; then
    cat >"$STATE/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
EOF
    audit=(--audit-policy-file="$STATE/audit-policy.yaml" --audit-log-path="$STATE/audit.log" --audit-log-format=json
      --audit-log-mode=batch --audit-log-maxsize=100000)  # MB: a long bench run must not rotate it (default 100)
    log "audit log: $STATE/audit.log"
  fi
  start kube-apiserver "$bin_dir/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
    --secure-port=$API_PORT --insecure-port=0 --cert-dir="$STATE/certs" \
    --token-auth-file="$STATE/tokens.csv" --authorization-mode=RBAC \
    --service-account-key-file="$STATE/sa.key" --service-account-signing-key-file="$STATE/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc \
    --enable-admission-plugins=NamespaceLifecycle,LimitRanger,ResourceQuota \
    --disable-admission-plugins=ServiceAccount --service-cluster-ip-range=10.96.0.0/16 \
    --kubelet-preferred-address-types=InternalIP --profiling=false "${audit[@]}"
  wait_until "the API server certificate" 30 test -s "$STATE/certs/apiserver.crt"
  wait_until "the API server to be ready" 60 api_healthy
  write_kubeconfig
  log "API server ready at $API after $((SECONDS - started))s"

  # API QPS above the defaults (20/50) so that rolling hundreds of replicas is bound by the product, not by
  # client-side throttling in the controllers.
  start kube-controller-manager "$bin_dir/kube-controller-manager" --kubeconfig="$KUBECONFIG_PATH" \
    --controllers=replicationcontroller,replicaset,deployment,endpoint,endpointslice,garbagecollector,resourcequota,namespace \
    --leader-elect=false --port=0 --secure-port=0 --kube-api-qps=100 --kube-api-burst=200 --profiling=false
  start kube-scheduler "$bin_dir/kube-scheduler" --kubeconfig="$KUBECONFIG_PATH" --leader-elect=false \
    --port=0 --secure-port=0 --kube-api-qps=100 --kube-api-burst=200 --profiling=false

  wait "$build_pid" || die "failed to build the fake kubelet"
  log "fake kubelet built after $((SECONDS - started))s"
  start_fake_kubelet
  wait_until "the fake nodes to be Ready" 30 nodes_ready "$NODES"
  sleep 0.5
  all_alive || die "a component exited during start-up (logs in $STATE): $(cmd_status 2>&1 | grep 'not running' | tr '\n' ' ')"
  trap - EXIT
  log "up in $((SECONDS - started))s: $NODES nodes of $NODE_CPU CPU / $NODE_MEMORY"
  echo "$KUBECONFIG_PATH"
}

# A failed start must not leave half a cluster running: show the end of each log, then stop what we started.
on_up_failure() {
  local rc=$? c
  [ $rc = 0 ] && return 0
  for c in "${COMPONENTS[@]}"; do
    [ -s "$STATE/$c.log" ] || continue
    log "--- last lines of $c.log"
    tail -n 5 "$STATE/$c.log" | cut -c1-300 >&2
  done
  cmd_down
  exit $rc
}

# A warm `up` after the fake kubelet was changed and rebuilt restarts it, so tests never run an old simulation.
restart_stale_fake_kubelet() {
  build_fake_kubelet || die "failed to build the fake kubelet"
  local bin; bin=$(fake_kubelet_bin)
  if [ -x "$bin" ] && [ "$(stat -c %Y "$bin")" != "$(cat "$STATE/fake-kubelet.mtime" 2>/dev/null)" ]; then
    log "fake kubelet binary changed; restarting it"
    stop_pid fake-kubelet
    start_fake_kubelet
  fi
}

main() {
  local cmd=${1:-}
  case "$cmd" in
    up | down | status) ;;
    *) die "usage: $0 up|down|status" ;;
  esac
  # One `up`/`down` at a time (parallel test processes may all call `up`); the lock lives beside the state dir.
  mkdir -p "$(dirname "$STATE")"
  exec 9>"$STATE.lock"
  flock 9
  "cmd_$cmd"
}

main "$@"
