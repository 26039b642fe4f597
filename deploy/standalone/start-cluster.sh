#!/usr/bin/env bash
# Starts a standalone Spate cluster from a hosts file (format: deploy/standalone/hosts):
# the coordinator on the first host and one worker per further line, each over ssh,
# with a pid file and a log in DIR on its host.
#
#   start-cluster.sh [--hosts FILE] [--dir DIR]          # DIR on each host, relative to
#                                                        # the ssh user's home (spate-cluster)
#   start-cluster.sh --local [--hosts FILE] [--dir DIR]  # the same processes on this
#                                                        # machine (DIR: $TMPDIR/spate-standalone)
#
# Then run jobs with `spate submit JOB --coordinator HOST:6123` (with --local:
# `spate submit JOB --dir DIR`), and stop with stop-cluster.sh and the same options.
# Environment: SPATE_PORT (6123), SPATE_HTTP_PORT (8081), SPATE_REMOTE_BIN (the
# spate binary on the hosts; spate), SPATE_SSH_OPTS (extra ssh options), SPATE_BIN
# (the local binary for --local), SPATE_LOCAL_CORES_PER_WORKER (--local caps each
# worker's cores to this, default 1, so that the topology fits a small machine).
set -euo pipefail
# shellcheck source=deploy/standalone/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="${SPATE_PORT:-6123}"
HTTP_PORT="${SPATE_HTTP_PORT:-8081}"

# Prints the coordinator's status (run where the coordinator runs).
coordinator_status() {
  if [ "$LOCAL" = 1 ]; then
    "$BIN" cluster status --coordinator "$ADDR" 2>&1
  else
    # shellcheck disable=SC2086 # SPATE_SSH_OPTS is a list of options.
    ssh ${SPATE_SSH_OPTS:-} "${HOSTS[0]}" "$BIN" cluster status --coordinator "127.0.0.1:$PORT" 2>&1
  fi
}

wait_for_workers() {
  local want="$1" status="" i
  for i in $(seq 1 120); do
    status="$(coordinator_status || true)"
    if grep -Eq '^workers +[0-9]+' <<<"$status" &&
      [ "$(sed -n -E 's/^workers +([0-9]+).*/\1/p' <<<"$status" | head -n 1)" -ge "$want" ]; then
      return 0
    fi
    [ "$i" -lt 120 ] && sleep 0.5
  done
  echo "$status" >&2
  die "after 60 s fewer than $want workers have registered; see the logs in $DIR on each host"
}

main() {
  local i cores cap ip workers coordinator_args
  parse_options "$@"
  read_hosts "$HOSTS_FILE"
  workers=$((${#HOSTS[@]} - 1))
  if [ "$LOCAL" = 1 ]; then
    find_spate
    require_cluster_commands
    BIN="$SPATE"
    if [ -f "$DIR/coordinator.pid" ] && kill -0 "$(cat "$DIR/coordinator.pid")" 2>/dev/null; then
      die "a cluster already runs in $DIR; stop it first: stop-cluster.sh --local --dir $DIR"
    fi
    rm -f "$DIR/coordinator.addr"
    coordinator_args=(coordinator --listen 127.0.0.1:0 --addr-file "$DIR/coordinator.addr")
  else
    BIN="${SPATE_REMOTE_BIN:-spate}"
    coordinator_args=(coordinator --listen "0.0.0.0:$PORT" --http "0.0.0.0:$HTTP_PORT")
  fi
  run_on "${HOSTS[0]}" "$START_STEP" "$DIR" coordinator "$BIN" "${coordinator_args[@]}"
  if [ "$LOCAL" = 1 ]; then
    for _ in $(seq 1 100); do
      [ -s "$DIR/coordinator.addr" ] && break
      sleep 0.1
    done
    [ -s "$DIR/coordinator.addr" ] || die "the coordinator wrote no $DIR/coordinator.addr; see $DIR/coordinator.log"
    ADDR="$(cat "$DIR/coordinator.addr")"
  else
    ADDR="${HOSTS[0]}:$PORT"
  fi
  cap="${SPATE_LOCAL_CORES_PER_WORKER:-1}"
  for ((i = 1; i <= workers; i++)); do
    cores="${CORES[$i]}"
    if [ "$LOCAL" = 1 ]; then
      [ "$cores" -le "$cap" ] || cores="$cap"
      ip=127.0.0.1
    else
      ip="${DATA_IPS[$i]:-@host-ip}"
    fi
    run_on "${HOSTS[$i]}" "$START_STEP" "$DIR" "worker-$i" "$BIN" worker \
      --coordinator "$ADDR" --cores "$cores" --data-host "$ip"
  done
  wait_for_workers "$workers"
  echo "cluster started: coordinator $ADDR, $workers workers; pid files and logs in $DIR"
}

main "$@"
