# shellcheck shell=bash disable=SC2034
# (SC2034: the variables set here are used by the scripts that source this file.)
# Shared by start-cluster.sh and stop-cluster.sh: the hosts file, and running one
# step on a host, over ssh or (in --local mode) on this machine. The steps are the
# same scripts either way, so --local runs the same topology with the same code.

# shellcheck source=deploy/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

# Parses the hosts file into HOSTS, CORES and DATA_IPS (index 0: coordinator).
read_hosts() {
  local file="$1" line host cores ip extra n=0
  [ -f "$file" ] || die "hosts file $file does not exist (format: deploy/standalone/hosts)"
  HOSTS=() CORES=() DATA_IPS=()
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line="${line%%#*}"
    read -r host cores ip extra <<<"$line" || true
    [ -n "${host:-}" ] || continue
    [ -z "${extra:-}" ] || die "$file:$n: too many fields (expected HOST [CORES [DATA_IP]]): $line"
    cores="${cores:-1}"
    [[ "$cores" =~ ^[1-9][0-9]*$ ]] || die "$file:$n: CORES must be a positive integer, got \`$cores\`"
    if [ -n "${ip:-}" ] && ! [[ "$ip" =~ ^[0-9a-fA-F.:]+$ ]]; then
      die "$file:$n: DATA_IP must be an IP address, got \`$ip\`"
    fi
    HOSTS+=("$host") CORES+=("$cores") DATA_IPS+=("${ip:-}")
  done <"$file"
  [ "${#HOSTS[@]}" -ge 2 ] || die "$file: needs a coordinator line and at least one worker line"
}

# Starts "$@" in the background in DIR as NAME, with NAME.pid and NAME.log.
# An argument `@host-ip` becomes the host's first address.
# shellcheck disable=SC2016 # this script runs on the host, with its own $1...
START_STEP='set -eu
dir=$1 name=$2
shift 2
mkdir -p "$dir"
cd "$dir"
if [ -f "$name.pid" ] && kill -0 "$(cat "$name.pid")" 2>/dev/null; then
  echo "$name already runs (pid $(cat "$name.pid")) in $dir; stop it first" >&2
  exit 3
fi
argv=()
for a in "$@"; do
  if [ "$a" = @host-ip ]; then a=$(hostname -I | cut -d" " -f1); fi
  argv+=("$a")
done
nohup "${argv[@]}" >"$name.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$name.pid"
sleep 0.5
if ! kill -0 "$pid" 2>/dev/null; then
  echo "$name exited at once; the end of $dir/$name.log:" >&2
  tail -n 20 "$name.log" >&2
  exit 1
fi
echo "$name started on $(hostname) (pid $pid, log $dir/$name.log)"'

# Stops the process of DIR/NAME.pid: SIGTERM, up to 10 s, then SIGKILL. Only a
# process whose command line mentions spate is signalled (pids get reused).
# shellcheck disable=SC2016 # this script runs on the host, with its own $1...
STOP_STEP='set -u
dir=$1 name=$2
f="$dir/$name.pid"
if [ ! -f "$f" ]; then
  echo "$name: no pid file $f"
  exit 0
fi
pid=$(cat "$f")
if kill -0 "$pid" 2>/dev/null && tr "\0" " " <"/proc/$pid/cmdline" | grep -q spate; then
  kill -TERM "$pid"
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name (pid $pid) did not stop on SIGTERM; killing it" >&2
    kill -KILL "$pid"
  fi
  echo "$name stopped (pid $pid)"
else
  echo "$name was not running"
fi
rm -f "$f"'

# Runs a step script on HOST with arguments; locally when LOCAL=1.
run_on() {
  local host="$1" step="$2"
  shift 2
  if [ "${LOCAL:-0}" = 1 ]; then
    bash -c "$step" step "$@"
  else
    # shellcheck disable=SC2086 # SPATE_SSH_OPTS is a list of options.
    ssh ${SPATE_SSH_OPTS:-} "$host" bash -s -- "$@" <<<"$step"
  fi
}

# Parses the options shared by both scripts into LOCAL, HOSTS_FILE and DIR.
parse_options() {
  LOCAL=0
  HOSTS_FILE="$(dirname "${BASH_SOURCE[0]}")/hosts"
  DIR=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --local) LOCAL=1 ;;
      --hosts) HOSTS_FILE="${2:?--hosts needs a file}"; shift ;;
      --dir) DIR="${2:?--dir needs a directory}"; shift ;;
      -h | --help) usage 0 ;;
      *) die "unknown option \`$1\`; see $0 --help" ;;
    esac
    shift
  done
  if [ -z "$DIR" ]; then
    if [ "$LOCAL" = 1 ]; then DIR="${TMPDIR:-/tmp}/spate-standalone"; else DIR=spate-cluster; fi
  fi
  if [ "$LOCAL" = 1 ]; then
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd)"
  else
    require_tools "$(basename "$0") (use --local to run on this machine)" ssh
  fi
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}
