#!/usr/bin/env bash
# A local S3-compatible server (moto) for the S3 checkpoint-storage tests.
#
#   source scripts/s3-test-server.sh   # starts it, exports SPATE_TEST_S3_ENDPOINT
#   s3_test_server_stop                # stops it
#
#   scripts/s3-test-server.sh          # starts it in the background and prints
#                                      # the export line and the stop command
#
# Installs `moto[server]` with pip if it is missing. Listens on a free
# loopback port only.

s3_test_server_start() {
  local python port log i
  python="$(command -v python3 || command -v python)" || {
    echo "s3-test-server: python3 is needed to run moto" >&2
    return 1
  }
  if ! "$python" -c 'import moto.server, flask' 2>/dev/null; then
    echo "s3-test-server: installing moto[server] with pip" >&2
    "$python" -m pip install --quiet 'moto[server]' >&2 || return 1
  fi
  port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  log="${TMPDIR:-/tmp}/spate-s3-test-server-$port.log"
  "$python" -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  SPATE_TEST_S3_PID=$!
  for i in $(seq 1 100); do
    if "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      export SPATE_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
      export SPATE_TEST_S3_PID
      echo "s3-test-server: moto listening on $SPATE_TEST_S3_ENDPOINT (pid $SPATE_TEST_S3_PID, log $log)" >&2
      return 0
    fi
    if ! kill -0 "$SPATE_TEST_S3_PID" 2>/dev/null; then
      break
    fi
    sleep 0.1
  done
  echo "s3-test-server: moto did not answer on port $port; its log:" >&2
  cat "$log" >&2
  s3_test_server_stop
  return 1
}

s3_test_server_stop() {
  if [ -n "${SPATE_TEST_S3_PID:-}" ]; then
    kill "$SPATE_TEST_S3_PID" 2>/dev/null || true
    wait "$SPATE_TEST_S3_PID" 2>/dev/null || true
    unset SPATE_TEST_S3_PID SPATE_TEST_S3_ENDPOINT
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  s3_test_server_start
  disown "$SPATE_TEST_S3_PID"
  echo "export SPATE_TEST_S3_ENDPOINT=$SPATE_TEST_S3_ENDPOINT"
  echo "# stop it with: kill $SPATE_TEST_S3_PID"
else
  s3_test_server_start
fi
