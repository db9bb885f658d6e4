#!/usr/bin/env bash
# Event Notification acknowledgements per second and p99 latency with durable storage
# (fsync on) for the embedded and the Redis queue (a real redis-server, appendfsync always),
# next to test connection on the same server, then the embedded queue at a fixed 100
# notifications/s (p99 must stay under 20 ms). A benchmark: it prints figures. Builds the
# release binary first; needs redis-server on PATH.
# Usage: scripts/bench-notify.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin concur-connector --example notify
target/release/examples/notify
