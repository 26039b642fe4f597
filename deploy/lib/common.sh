# shellcheck shell=bash
# Shared by the launch scripts in deploy/: tool checks, finding the spate binary,
# and the local mode (the deployment's topology as real processes on this machine).
# Source it; it defines functions only.

# Prints an error and exits.
die() {
  echo "error: $*" >&2
  exit 1
}

# Checks that every named tool is on PATH; lists all that are missing, with why.
# Usage: require_tools "purpose" tool...
require_tools() {
  local purpose="$1" missing=() tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    die "$purpose needs these tools on PATH, which are missing: ${missing[*]}"
  fi
}

# Checks that every named environment variable is set and not empty.
# Usage: require_env "purpose" VAR...
require_env() {
  local purpose="$1" missing=() var
  shift
  for var in "$@"; do
    [ -n "${!var:-}" ] || missing+=("$var")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    die "$purpose needs these environment variables, which are not set: ${missing[*]}"
  fi
}

# Sets SPATE to the spate binary: $SPATE_BIN, else `spate` on PATH, else the
# workspace's build output (release, then debug).
find_spate() {
  local root target candidate
  if [ -n "${SPATE_BIN:-}" ]; then
    [ -x "$SPATE_BIN" ] || die "SPATE_BIN=$SPATE_BIN is not an executable file"
    SPATE="$SPATE_BIN"
    return
  fi
  if command -v spate >/dev/null 2>&1; then
    SPATE="$(command -v spate)"
    return
  fi
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  target="${CARGO_TARGET_DIR:-$root/target}"
  for candidate in "$target/release/spate" "$target/debug/spate"; do
    if [ -x "$candidate" ]; then
      SPATE="$candidate"
      return
    fi
  done
  die "the spate binary was not found: set SPATE_BIN, put spate on PATH, or build it (cargo build -p spate-cli)"
}

# Fails unless $SPATE has the cluster commands (issue 4).
require_cluster_commands() {
  if ! "$SPATE" cluster --help >/dev/null 2>&1; then
    die "$SPATE has no \`spate cluster\` command (the cluster runtime of issue 4); the local mode needs it"
  fi
}

# Extracts the profile.toml of a ConfigMap manifest into a file.
# Usage: configmap_profile MANIFEST OUT
configmap_profile() {
  awk '
    /^  profile\.toml: \|/ { inside = 1; next }
    inside && /^[^ ]/ { inside = 0 }
    inside && /^    / { print substr($0, 5); next }
    inside && /^$/ { print ""; next }
  ' "$1" >"$2"
  [ -s "$2" ] || die "$1 has no data.profile.toml"
}

# Runs the deployment's topology on this machine and one Nexmark query through it:
# `spate cluster start`, `spate submit nexmark` with the deployment's profile, a
# check that the job printed its checksum, `spate cluster stop`.
# Usage: local_cluster_run WORKERS CORES_PER_WORKER PROFILE_FILE
# Env: SPATE_LOCAL_DIR (cluster dir; default: a new temporary one),
#      SPATE_LOCAL_QUERY (q1), SPATE_LOCAL_EVENTS (200000).
local_cluster_run() {
  local workers="$1" cores="$2" profile="$3" dir out parallelism
  local query="${SPATE_LOCAL_QUERY:-q1}" events="${SPATE_LOCAL_EVENTS:-200000}"
  find_spate
  require_cluster_commands
  [ -f "$profile" ] || die "profile file $profile does not exist"
  "$SPATE" config explain --profile "$profile" >/dev/null ||
    die "the deployment's profile ($profile) is invalid; see the message above"
  dir="${SPATE_LOCAL_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/spate-local.XXXXXX")}"
  parallelism=$((workers * cores))
  echo "local mode: $workers workers x $cores cores on this machine, files in $dir"
  "$SPATE" cluster start --workers "$workers" --cores-per-worker "$cores" --dir "$dir" ||
    die "the local cluster did not start; logs in $dir"
  # shellcheck disable=SC2064 # expand now: the trap must stop this cluster.
  trap "'$SPATE' cluster stop --dir '$dir' >/dev/null 2>&1 || true" EXIT
  echo "running nexmark $query over $events events at parallelism $parallelism"
  if ! out="$("$SPATE" submit nexmark --dir "$dir" --parallelism "$parallelism" \
    --profile "$profile" -- --query "$query" --events "$events" 2>&1)"; then
    echo "$out" >&2
    die "the job failed on the local cluster; logs in $dir"
  fi
  echo "$out"
  if ! grep -Eq '^checksum +[0-9a-f]{16}$' <<<"$out"; then
    die "the job printed no checksum line (\`checksum <16 hex digits>\`)"
  fi
  "$SPATE" cluster stop --dir "$dir" || die "spate cluster stop failed; processes may be left, see $dir"
  trap - EXIT
  echo "local mode: ok"
}
