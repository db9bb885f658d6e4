#!/usr/bin/env bash
# Fetch List and Fetch Attendee answers per second and p99 latency against 50,000-row CSV
# sources over TLS keep-alive, next to test connection on the same server, and the memory
# the sources take (a benchmark: it prints figures). Builds the release binary first.
# Usage: scripts/bench-callouts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin concur-connector --example callouts
target/release/examples/callouts
