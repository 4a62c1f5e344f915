#!/usr/bin/env bash
# Renders the capacity-failure report (the markdown the action posts as its PR comment) to HTML with GitHub-like
# styling and screenshots it with headless Chromium into docs/report-example.png.
#
# Needs: npm ci (for `marked`), chromium (Debian: apt-get install -y chromium). Everything stays on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-docs/report-example.png}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

REPORT_EXAMPLE_OUT="$work/report.md" cargo test -q --test github capacity_failure_comment >/dev/null

node - "$work/report.md" "$work/report.html" <<'JS'
const fs = require("fs");
const { marked } = require("./node_modules/marked");
const [md, html] = process.argv.slice(2);
const body = marked.parse(fs.readFileSync(md, "utf8"), { gfm: true });
const css = `
  body { margin: 0; padding: 24px; background: #fff; font: 14px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI",
         "Noto Sans", Helvetica, Arial, sans-serif; color: #1f2328; }
  .comment { max-width: 920px; border: 1px solid #d1d9e0; border-radius: 6px; }
  .comment-header { background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px; color: #59636e;
                    border-radius: 6px 6px 0 0; }
  .comment-header b { color: #1f2328; }
  .markdown-body { padding: 16px; }
  h2 { font-size: 1.5em; border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; margin: 0 0 16px; }
  h3 { font-size: 1.25em; margin: 24px 0 12px; }
  h4 { font-size: 1em; margin: 20px 0 12px; }
  p, ul, table, pre, details { margin: 0 0 12px; }
  code { font: 85% ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eff1f3;
         padding: .2em .4em; border-radius: 6px; }
  pre { background: #f6f8fa; padding: 12px 16px; border-radius: 6px; overflow: auto; white-space: pre-wrap; }
  pre code { background: none; padding: 0; font-size: 85%; }
  table { border-collapse: collapse; }
  th, td { border: 1px solid #d1d9e0; padding: 6px 13px; }
  th { font-weight: 600; }
  tr:nth-child(2n) { background: #f6f8fa; }
  a { color: #0969da; text-decoration: none; }
`;
fs.writeFileSync(html, `<!doctype html><html><head><meta charset="utf-8"><style>${css}</style></head><body>
<div class="comment"><div class="comment-header"><b>github-actions</b> <span>bot</span> commented</div>
<div class="markdown-body">${body}</div></div></body></html>`);
JS

chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --hide-scrollbars --screenshot="$out" --window-size="${WINDOW_SIZE:-1000,1400}" \
  "file://$work/report.html" 2>/dev/null
echo "wrote $out"
