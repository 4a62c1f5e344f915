#!/usr/bin/env bash
# Makes docs/report-example.png, the README's picture of a failure report, from an actual run:
#   1. runs the demo's second seed (`scripts/demo.sh capacity`: the local control plane, one node of 1 CPU with
#      970m requested, a rollout with max_surge 1) and captures the report the action binary printed
#      (ROLLING_UPDATE_PRINT_REPORT=1: the body it would post as the pull request comment), byte for byte, into
#      docs/report-example.md;
#   2. renders that markdown to HTML as GitHub renders a comment (GFM via `marked`, GitHub's own markdown CSS from
#      `github-markdown-css`, inside a comment frame);
#   3. screenshots the HTML with headless Chromium, sized to the comment, into docs/report-example.png.
# tests/report_example.rs checks docs/report-example.md against what the markdown renderer emits today, so a
# change of the report's format fails the tests until this script is run again.
#
# Installs what it needs: Debian's chromium and fonts-noto-color-emoji (apt-get) when missing, the npm packages with `npm ci`.
# Takes about a minute with the cluster up (the demo's first run builds Kubernetes: ~8 min).
# Usage: scripts/screenshot-report.sh [OUT_DIR]   (default docs; writes report-example.md and .png there)
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir="${1:-docs}"
md="$out_dir/report-example.md"
png="$out_dir/report-example.png"
width=900
marker='----- report (as posted to the pull request) -----'
log() { echo "screenshot-report: $*" >&2; }

# Chromium, and a colour emoji font for the headline's ❌ (GitHub's CSS names the platforms' emoji fonts).
need=()
command -v chromium >/dev/null || need+=(chromium)
fc-list 2>/dev/null | grep -qi 'Noto Color Emoji' || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian's ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -f node_modules/marked/package.json ] || [ ! -f node_modules/github-markdown-css/package.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

log "running the demo's capacity failure (scripts/demo.sh capacity)"
bash scripts/demo.sh capacity >"$work/demo.out"

# The report is what follows the marker line up to the demo's "exit code:" line; the binary prints it in one
# write, wrapped in ::stop-commands:: only when it holds "::" (then the wrap is taken off again).
python3 - "$work/demo.out" "$md" "$marker" <<'PY'
import re, sys
src, dst, marker = sys.argv[1:]
text = open(src, encoding="utf-8").read()
if text.count("\n" + marker + "\n") != 1:
    sys.exit(f"expected exactly one report in the demo's output ({src})")
report = text.split("\n" + marker + "\n", 1)[1]
report = report[: report.index("\nexit code: ") + 1]
wrap = re.fullmatch(r"::stop-commands::([0-9a-f]+)\n(.*)::\1::\n", report, re.S)
if wrap:
    report = wrap.group(2)
for needle in ("<!-- rolling-update: demo-capacity/small-rc -->\n", "## ❌ Failed:", "970m of 1000m requested"):
    if needle not in report:
        sys.exit(f"the captured report lacks {needle!r}")
open(dst, "w", encoding="utf-8").write(report)
PY
log "captured the report ($(wc -c <"$md") bytes) into $md"

node - "$md" "$work/report.html" "$width" <<'JS'
const fs = require("fs");
const path = require("path");
const { marked } = require(path.resolve("node_modules/marked"));
const [md, html, width] = process.argv.slice(2);
const css = fs.readFileSync(path.resolve("node_modules/github-markdown-css/github-markdown-light.css"), "utf8");
const body = marked.parse(fs.readFileSync(md, "utf8"), { gfm: true });
// The frame of a comment on a pull request; the body gets GitHub's markdown CSS as it is.
const frame = `
  html, body { margin: 0; background: #fff; }
  body { padding: 16px; width: ${width - 32}px; box-sizing: content-box; }
  .comment { border: 1px solid #d1d9e0; border-radius: 6px; font: 14px/1.5 -apple-system, BlinkMacSystemFont,
             "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
  .comment-header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px; color: #59636e;
                    border-radius: 6px 6px 0 0; }
  .comment-header b { color: #1f2328; }
  .comment-header .label { border: 1px solid #d1d9e0; border-radius: 2em; padding: 0 7px; font-size: 12px; }
  .markdown-body { padding: 16px; font-size: 14px; border-radius: 0 0 6px 6px; }
`;
// The page's height, for the second Chromium run (--dump-dom prints the DOM after this script ran).
const measure = `<script>window.addEventListener("load", () => {
  document.body.setAttribute("data-height", Math.ceil(document.documentElement.getBoundingClientRect().height));
});</script>`;
fs.writeFileSync(html, `<!doctype html><html><head><meta charset="utf-8"><style>${css}</style>
<style>${frame}</style></head><body><div class="comment"><div class="comment-header"><b>github-actions</b>
<span class="label">bot</span> commented</div><article class="markdown-body">${body}</article></div>${measure}
</body></html>`);
JS

chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --hide-scrollbars --force-device-scale-factor=1 "$@" 2>/dev/null
}
height=$(chrome --window-size="$width,2000" --dump-dom "file://$work/report.html" \
  | sed -n 's/.*data-height="\([0-9]*\)".*/\1/p' | head -1)
[ -n "$height" ] || { log "could not measure the page"; exit 1; }
chrome --window-size="$width,$height" --screenshot="$png" "file://$work/report.html" >/dev/null
log "wrote $png (${width}x$height) from $md"
