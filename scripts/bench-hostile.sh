#!/usr/bin/env bash
# Reproduces the hostile-traffic findings against the release binary, on loopback only,
# bounded in count and time, and prints the figures (a benchmark, not a test):
#   idle TLS connections and slowloris held after the header timeout, log bytes per 10,000
#   failed authentications, the HTTP value source's RSS under a search flood, and the rate a
#   legitimate client is served during each attack.
# Usage: scripts/bench-hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin concur-connector --example hostile --example search_flood
echo "== connections and failed authentications"
target/release/examples/hostile target/release/concur-connector
echo "== search flood against the HTTP value source"
target/release/examples/search_flood
