#!/usr/bin/env bash
# Installs nisshi (formerly tansu), a Kafka-protocol broker written in
# Rust, for the Kafka tests: they start a broker per test on free loopback
# ports (kafka/tests/common). The binary goes to
# ~/.cache/spate-tools/bin/nisshi and is built once (about 20 minutes on
# two cores with other work beside it); later runs find it and return at once.
#
#   scripts/install-kafka-broker.sh   # installs if missing, prints the path
#
# Version 0.7.0 exactly: it is the one release that serves Kafka
# transactions end to end, which exactly-once output needs (tansu 0.6
# parses EndTxn and drops the connection; nisshi 0.8 refuses transactional
# producers). Its locked dependencies need rustc 1.96; where the default
# toolchain is older, a nightly one builds it.
set -euo pipefail
version="0.7.0"
# dynostore: the in-memory storage engine; libsql: SQLite files, which
# survive a broker restart.
features="dynostore,libsql"
root="${SPATE_TOOLS:-$HOME/.cache/spate-tools}"
bin="$root/bin/nisshi"
stamp="$root/nisshi.features"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version" &&
  [ "$(cat "$stamp" 2>/dev/null)" = "$features" ]; then
  echo "$bin"
  exit 0
fi
toolchain=()
minor="$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')"
if [ "$minor" -lt 96 ]; then
  if cargo +nightly --version >/dev/null 2>&1; then
    toolchain=(+nightly)
  else
    echo "install-kafka-broker: nisshi $version needs rustc 1.96 or a nightly toolchain; found $(rustc --version)" >&2
    exit 1
  fi
fi
echo "install-kafka-broker: building nisshi $version with cargo ${toolchain[*]:-} install (once; about 20 minutes)" >&2
# A target directory of its own, kept between runs, so a rebuild is quick.
CARGO_TARGET_DIR="${KAFKA_BROKER_TARGET_DIR:-$HOME/.cache/nisshi-target}" \
  cargo "${toolchain[@]}" install nisshi --version "$version" --locked --root "$root" \
  --quiet --force --features "$features" >&2
echo "$features" >"$stamp"
echo "$bin"
