#!/usr/bin/env bash
# Stops the standalone Spate cluster that start-cluster.sh started from the same
# hosts file: the workers first, then the coordinator, each by its pid file
# (SIGTERM, then SIGKILL after 10 s).
#
#   stop-cluster.sh [--hosts FILE] [--dir DIR]           # over ssh
#   stop-cluster.sh --local [--hosts FILE] [--dir DIR]   # on this machine
#
# Environment: SPATE_SSH_OPTS (extra ssh options).
set -euo pipefail
# shellcheck source=deploy/standalone/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  local i failed=0
  parse_options "$@"
  read_hosts "$HOSTS_FILE"
  for ((i = ${#HOSTS[@]} - 1; i >= 1; i--)); do
    run_on "${HOSTS[$i]}" "$STOP_STEP" "$DIR" "worker-$i" || failed=1
  done
  run_on "${HOSTS[0]}" "$STOP_STEP" "$DIR" coordinator || failed=1
  [ "$LOCAL" = 0 ] || rm -f "$DIR/coordinator.addr"
  [ "$failed" = 0 ] || die "some processes could not be stopped (above)"
  echo "cluster stopped"
}

main "$@"
