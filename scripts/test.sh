#!/usr/bin/env bash
# The test command of the README: formatting, lints, then every test.
# Installs what it needs; safe to run on a fresh machine with Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/spate-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! command -v cc >/dev/null || ! command -v pkg-config >/dev/null; then
  apt-get update -qq && apt-get install -y -qq build-essential pkg-config >/dev/null
fi
# glommio registers io_uring buffers in locked memory.
if [ "$(ulimit -l)" != "unlimited" ] && [ "$(ulimit -l)" -lt 8192 ]; then
  ulimit -l 8192 2>/dev/null || echo "warning: ulimit -l is $(ulimit -l) KiB; glommio may fail to start" >&2
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  # One process per test: each test's executors get their own locked memory.
  cargo nextest run --workspace --no-fail-fast --status-level fail --final-status-level slow
  cargo test --workspace --doc --quiet
else
  cargo test --workspace --no-fail-fast
fi
