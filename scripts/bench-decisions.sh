#!/usr/bin/env bash
# Event Notification decisions: reports decided per second against the simulator with 50 ms
# of Concur latency per call, and the Concur calls per decision with their mix. A benchmark:
# it prints figures. Builds the release binary first.
# Usage: scripts/bench-decisions.sh   (DECISIONS=200 passing + as many failing reports,
#                                      WORKERS=8 notification.workers)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin concur-connector --example decisions
target/release/examples/decisions
