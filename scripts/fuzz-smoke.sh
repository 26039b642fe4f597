#!/usr/bin/env bash
# A short libFuzzer run of every decoder fuzz target in net/fuzz (issue 4:
# "a short fuzz run in CI"). Needs a nightly toolchain (sanitizer flags).
# Each target runs FUZZ_SECONDS (default 20) from an empty corpus; a crash
# fails the run and leaves its input under $FUZZ_WORK_DIR/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../net/fuzz"

seconds="${FUZZ_SECONDS:-20}"
work="${FUZZ_WORK_DIR:-$(mktemp -d -t spate-fuzz-XXXXXX)}"
# Its own target dir: sanitizer flags would otherwise rebuild the main cache.
export CARGO_TARGET_DIR="${SPATE_FUZZ_TARGET_DIR:-$HOME/.cache/spate-fuzz-target}"
triple="$(rustc -vV | sed -n 's/^host: //p')"

if ! cargo +nightly --version >/dev/null 2>&1; then
  if [ "${CI:-}" = "true" ]; then
    echo "fuzz: no nightly toolchain; CI needs one for the fuzz run" >&2
    exit 1
  fi
  echo "fuzz: skipped (no nightly toolchain; \`rustup toolchain install nightly\` enables it)" >&2
  exit 0
fi

RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address" \
  cargo +nightly build --release --quiet --target "$triple"

for target in frame_decoder batch_access; do
  mkdir -p "$work/$target/corpus"
  echo "fuzz: $target for ${seconds} s"
  (cd "$work/$target" &&
    "$CARGO_TARGET_DIR/$triple/release/$target" -max_total_time="$seconds" \
      -print_final_stats=1 corpus 2>"$target.log") || {
    echo "fuzz: $target failed; input and log under $work/$target:" >&2
    tail -30 "$work/$target/$target.log" >&2
    exit 1
  }
  grep -E "stat::number_of_executed_units" "$work/$target/$target.log" | sed "s/^/fuzz: $target /"
done
[ -n "${FUZZ_WORK_DIR:-}" ] || rm -rf "$work"
