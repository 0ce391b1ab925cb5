#!/usr/bin/env bash
# Fuzzes the codec: fuzz/fuzz_targets/decode.rs decodes arbitrary bytes at MQTT 3.1, 3.1.1 and
# 5.0 and checks that every packet it decodes survives encode -> decode unchanged.
#
#   scripts/fuzz.sh [SECONDS]     run for SECONDS (default 60), then print the execution count
#
# Installs cargo-fuzz when it is missing. cargo-fuzz passes nightly-only rustc flags
# (-Zsanitizer=address, -Cpasses=sancov-module); RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them. The corpus grows in fuzz/corpus/decode, crashes land in fuzz/artifacts/decode
# (both git-ignored); the exit status is non-zero when a crash was found.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
mkdir -p fuzz/corpus/decode
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "==> building the fuzz target (ASan + coverage; the first build takes several minutes)"
cargo fuzz build decode

echo "==> fuzzing for ${seconds}s"
set +e
cargo fuzz run decode fuzz/corpus/decode -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1
status=$?
set -e

# Progress lines, and any crash report in full.
grep -E '^#[0-9]+[[:space:]]+(INITED|pulse|DONE)' "$log" | tail -n 5 || true
if [ "$status" -ne 0 ]; then
    sed -n '/panicked at\|ERROR: \|SUMMARY/,$p' "$log" | head -n 60
fi

execs="$(grep -Eo 'stat::number_of_executed_units:[[:space:]]*[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -n 1 || true)"
corpus="$(find fuzz/corpus/decode -type f | wc -l)"
crashes="$(find fuzz/artifacts/decode -type f 2>/dev/null | wc -l)"
echo "executions: ${execs:-unknown}"
echo "corpus: ${corpus} inputs"
echo "artifacts (crashes, leaks, timeouts): ${crashes}"
exit "$status"
