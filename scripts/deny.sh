#!/usr/bin/env bash
# Dependency audit: `cargo deny` (advisories, licences, bans, sources) against the offline
# RustSec snapshot, with no network besides the package registry.
# Usage: scripts/deny.sh [cargo-deny check arguments, e.g. `advisories`]
#
# The snapshot is read from $ADVISORY_DB_SNAPSHOT, by default ../shared/advisory-db next to
# the clone (read-only). cargo-deny wants a git repository at
# target/advisory-db/advisory-db-3157b0e258782691 (the folder name it derives from the
# default database URL; it reads the HEAD commit's time as the database's age), so the
# snapshot is copied there and committed once, dated as the snapshot.
set -euo pipefail
cd "$(dirname "$0")/.."

snapshot="${ADVISORY_DB_SNAPSHOT:-../shared/advisory-db}"
if [ ! -d "$snapshot/crates" ]; then
    echo "scripts/deny.sh: no advisory database snapshot at $snapshot" >&2
    echo "  (expected a copy of rustsec/advisory-db with crates/ inside; set ADVISORY_DB_SNAPSHOT)" >&2
    exit 1
fi

if ! cargo deny --version >/dev/null 2>&1; then
    cargo install cargo-deny --locked
fi

# Must match `[advisories] db-path` in deny.toml.
db="target/advisory-db/advisory-db-3157b0e258782691"
rm -rf "$db"
mkdir -p "$db"
cp -R "$snapshot"/. "$db"/
rm -rf "$db/.git"
# The snapshot's date (first YYYY-MM-DD in its SNAPSHOT.md), else the copy's own time.
date="$(grep -m 1 -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' "$snapshot/SNAPSHOT.md" 2>/dev/null || true)"
dated=()
if [ -n "$date" ]; then
    dated=(env GIT_AUTHOR_DATE="${date}T00:00:00Z" GIT_COMMITTER_DATE="${date}T00:00:00Z")
fi
(
    cd "$db"
    git init -q
    git add -A
    "${dated[@]}" git -c user.name=deny.sh -c user.email=deny.sh@localhost \
        -c commit.gpgsign=false commit -q -m "rustsec advisory-db snapshot${date:+ of $date}"
)
echo "advisory database: $snapshot (snapshot ${date:-of unknown date}), $(find "$db/crates" -name '*.md' | wc -l) advisories"

if [ -n "$date" ]; then
    age_days=$((($(date +%s) - $(date -d "$date" +%s)) / 86400))
    echo "the advisory snapshot is $age_days days old; refresh it from rustsec/advisory-db when you can"
fi

# cargo deny reads the metadata of every platform's crates offline: fetch them first (a
# build fetches only this platform's, so a fresh machine would lack, say, wasm-bindgen).
cargo fetch --locked --quiet
cargo fetch --locked --quiet --manifest-path fuzz/Cargo.toml

# The connector, then the fuzz harness (its own workspace; duplicates are the connector's
# business, so only advisories, licences and sources there).
cargo deny --offline --locked check "$@"
if [ $# -eq 0 ]; then
    cargo deny --offline --locked --manifest-path fuzz/Cargo.toml check advisories licenses sources
fi
