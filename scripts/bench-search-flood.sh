#!/usr/bin/env bash
# Replays the search flood (2,000 distinct searches against a backend answering 287 KB each)
# against the release connector on loopback, and prints its memory before and after and the
# rate it still serves to legitimate sessions. See examples/search_flood.rs.
# Usage: scripts/bench-search-flood.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin concur-connector --example search_flood
exec target/release/examples/search_flood
