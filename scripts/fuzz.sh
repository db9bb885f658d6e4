#!/usr/bin/env bash
# Builds the cargo-fuzz (libFuzzer) targets in fuzz/ and runs each for a bounded time,
# then prints the executions per target and the total.
# Usage: scripts/fuzz.sh [seconds-per-target] [target...]   (default: 30 s, every target)
#
# Each target starts from its committed seeds (fuzz/seeds/<target>/, never written) plus
# the inputs earlier runs kept in fuzz/corpus/<target>/ (git-ignored, grows). A crash,
# timeout or out-of-memory stops that target, leaves the input in fuzz/artifacts/<target>/
# and makes the script exit non-zero once every target has run.
#
# FUZZ_RUNS (optional) also bounds each target by a number of executions, and FUZZ_SEED
# fixes libFuzzer's random seed. CI sets both: from an empty corpus the run is then the same
# sequence of inputs on every machine (a slower machine runs a prefix of it), so a clean
# run here predicts CI's and a crash CI finds is found again by the same command.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
case "$seconds" in
    '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds-per-target] [target...]" >&2; exit 2 ;;
esac

# cargo-fuzz passes nightly-only flags to rustc; the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# No sanitizer: the code is safe Rust (`unsafe` is forbidden), so what we look for are
# panics, hangs and runaway memory; coverage instrumentation stays on.
cargo fuzz build --fuzz-dir fuzz -s none

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

mkdir -p target/fuzz-logs
total=0
failed=()
report=()
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    log="target/fuzz-logs/$target.log"
    echo "fuzzing $target for ${seconds}s (log: $log)"
    status=0
    bounds=(-max_total_time="$seconds")
    [ -n "${FUZZ_RUNS:-}" ] && bounds+=(-runs="$FUZZ_RUNS")
    [ -n "${FUZZ_SEED:-}" ] && bounds+=(-seed="$FUZZ_SEED")
    cargo fuzz run --fuzz-dir fuzz -s none "$target" "$corpus" "fuzz/seeds/$target" -- \
        "${bounds[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    execs="${execs:-0}"
    total=$((total + execs))
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        report+=("$(printf '%-16s %12s executions  FAILED (exit %s), see %s' "$target" "$execs" "$status" "$log")")
        grep -E '^(==[0-9]+== ERROR|thread .* panicked|SUMMARY|artifact_prefix|Test unit written)' "$log" | head -n 20 >&2 || true
    else
        report+=("$(printf '%-16s %12s executions' "$target" "$execs")")
    fi
done

echo
printf '%s\n' "${report[@]}"
printf '%-16s %12s executions in %s targets, %s failed\n' total "$total" "${#targets[@]}" "${#failed[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found a problem in: ${failed[*]}" >&2
    exit 1
fi
