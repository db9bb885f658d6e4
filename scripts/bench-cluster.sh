#!/usr/bin/env bash
# The cluster benchmark (examples/cluster.rs): three connector instances behind HAProxy on one
# Redis, the simulator as Concur with 50 ms per call; complete launch → picker → Done flows,
# a failover run with one instance killed, and test connection beside a bare hyper + rustls
# server. A benchmark: it prints figures. Installs haproxy and redis-server when missing and
# builds the release binary and the example first.
# Usage: scripts/bench-cluster.sh   (LAUNCHES, FAILOVER_LAUNCHES, CONCURRENCY, INSTANCES,
#                                    LATENCY_MS change the defaults 50000, 10000, 256, 3, 50;
#                                    ONLY=test-connection runs only the test-connection
#                                    comparison, ROUNDS times, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
packages=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || packages+=(haproxy)
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
if [ ${#packages[@]} -gt 0 ]; then
    echo "installing: ${packages[*]}"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
export PATH="$PATH:/usr/sbin"
# 256 concurrent flows hold about 3 × 256 sockets on each side.
ulimit -n 65536 2>/dev/null || true

cargo build --release --locked --bin concur-connector --example cluster
target/release/examples/cluster
