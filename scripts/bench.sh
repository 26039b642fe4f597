#!/usr/bin/env bash
# The main command of the README: the Nexmark benchmark on the embedded
# engine (one process, every core). Extra arguments go to `spate bench nexmark`,
# e.g. `./scripts/bench.sh --query q5 --events 100000000 --profile throughput`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spate-target}"
source scripts/target-space.sh
source scripts/build-deps.sh
cargo build --release --quiet -p spate-cli
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--query all --events 20000000)
exec "$CARGO_TARGET_DIR/release/spate" bench nexmark "${args[@]}"
