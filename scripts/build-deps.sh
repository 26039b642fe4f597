#!/usr/bin/env bash
# Sourced by test.sh and bench.sh: installs what the build needs on a fresh
# Debian/Ubuntu machine (as root). RocksDB's bindings need libclang; its C++
# needs a compiler.
have_libclang() {
  ldconfig -p 2>/dev/null | grep -qE 'libclang(-[0-9.]+)?\.so' ||
    compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null
}
if ! command -v cc >/dev/null || ! command -v c++ >/dev/null ||
  ! command -v pkg-config >/dev/null || ! have_libclang; then
  echo "installing build dependencies (build-essential, pkg-config, libclang-dev) with apt-get"
  { apt-get update -qq && apt-get install -y -qq build-essential pkg-config libclang-dev >/dev/null; } || {
    echo "error: could not install build-essential, pkg-config and libclang-dev; install them (as root) and rerun" >&2
    exit 1
  }
fi
