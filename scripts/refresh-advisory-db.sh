#!/usr/bin/env bash
# Refreshes deny/advisory-db.tar.xz, the RustSec database snapshot scripts/deny.sh checks Cargo.lock against, from a
# clone of https://github.com/rustsec/advisory-db (cloned here when no path is given; that needs GitHub).
# Why a snapshot in the repository: CI and this machine reach the package registries but not GitHub, and an
# advisories check that silently does nothing is worse than one against a dated database. deny.sh prints its age.
set -euo pipefail
cd "$(dirname "$0")/.."
clone="${1:-}"
if [ -z "$clone" ]; then
  clone="$(mktemp -d)/advisory-db"
  git clone --quiet --depth 1 https://github.com/rustsec/advisory-db "$clone"
fi
git -C "$clone" archive --format=tar HEAD crates LICENSE.txt | xz -9 > deny/advisory-db.tar.xz
{
  sed -n '/^#/p' deny/advisory-db.source
  echo "repository=https://github.com/rustsec/advisory-db"
  echo "commit=$(git -C "$clone" rev-parse HEAD)"
  echo "committed=$(git -C "$clone" log -1 --format=%cI)"
} > deny/advisory-db.source.new
mv deny/advisory-db.source.new deny/advisory-db.source
cat deny/advisory-db.source
