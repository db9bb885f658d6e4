#!/usr/bin/env bash
# Installs what the test suite needs on a Debian/Ubuntu machine, then runs every test.
# Usage: scripts/test.sh [extra cargo-nextest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages the tests drive for real: openssl s_client probes the TLS floor;
# tests/api/browser.rs runs the user's flow in headless Chromium through chromedriver;
# the Redis store tests start their own redis-server on a free port.
packages=()
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
[ -x /usr/bin/chromium ] || packages+=(chromium)
[ -x /usr/bin/chromedriver ] || packages+=(chromium-driver)
if [ ${#packages[@]} -gt 0 ]; then
    echo "installing: ${packages[*]}"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

# nextest runs each test in its own process, which the log-capturing tests rely on.
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi

cargo nextest run --workspace --all-targets --no-fail-fast "$@"
