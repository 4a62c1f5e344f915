#!/usr/bin/env bash
# Start or stop Prism, mocking GitHub's REST API from its official OpenAPI description, on loopback.
#
#   scripts/prism.sh start [port]   # prints the URL; then: PRISM_URL=<url> cargo test --test github
#   scripts/prism.sh stop
#
# The integration tests start their own Prism when PRISM_URL is unset; this script is for keeping one warm
# across test runs (Prism takes 10-30 s to load the 13 MB description). Needs `npm ci` first.
set -euo pipefail
cd "$(dirname "$0")/.."

state="${TMPDIR:-/tmp}/rolling-update-prism"
spec="node_modules/@octokit/openapi/generated/api.github.com.json"

case "${1:-}" in
start)
  port="${2:-4010}"
  [[ -f "$spec" ]] || { echo "missing $spec: run npm ci" >&2; exit 1; }
  if [[ -f "$state.pid" ]] && kill -0 "$(cat "$state.pid")" 2>/dev/null; then
    echo "already running (pid $(cat "$state.pid")): $(cat "$state.url")"
    exit 0
  fi
  node_modules/.bin/prism mock -h 127.0.0.1 -p "$port" "$spec" >"$state.log" 2>&1 &
  echo $! >"$state.pid"
  echo "http://127.0.0.1:$port" >"$state.url"
  for _ in $(seq 1 120); do
    if grep -q "Prism is listening" "$state.log"; then
      cat "$state.url"
      exit 0
    fi
    kill -0 "$(cat "$state.pid")" 2>/dev/null || { cat "$state.log" >&2; exit 1; }
    sleep 1
  done
  echo "Prism did not start within 120 s; see $state.log" >&2
  exit 1
  ;;
stop)
  if [[ -f "$state.pid" ]]; then
    kill "$(cat "$state.pid")" 2>/dev/null || true
    rm -f "$state.pid" "$state.url"
  fi
  ;;
*)
  echo "usage: $0 start [port] | stop" >&2
  exit 2
  ;;
esac
