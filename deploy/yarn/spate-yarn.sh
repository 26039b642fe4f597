#!/usr/bin/env bash
# Spate as a YARN service (YARN Services, Hadoop 3.1+): submit, flex, status and
# stop the service of deploy/yarn/spate-service.json; `local` runs the same
# topology on this machine with real processes.
#
#   spate-yarn.sh submit            # upload the profile to HDFS, launch the service
#   spate-yarn.sh flex N            # N worker containers
#   spate-yarn.sh status
#   spate-yarn.sh stop [--destroy]  # --destroy also removes the service definition
#   spate-yarn.sh local             # no YARN: spate cluster start + a query
#
# Two ways to reach YARN: the `yarn` CLI (default), or the ResourceManager's REST
# API with curl when SPATE_YARN_RM is set (e.g. http://rm.example:8088; add
# SPATE_YARN_USER for simple auth, or SPATE_YARN_KERBEROS=1 for SPNEGO).
# Environment: SPATE_SERVICE (service name, spate), SPATE_IMAGE (spate:0.1.0),
# SPATE_PROFILE (throughput, low-latency, large-state, or a .toml path),
# SPATE_WORKERS (from the spec), SPATE_YARN_HDFS_DIR (/apps/spate: where the
# profile is uploaded; needs the `hdfs` CLI).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=deploy/lib/common.sh
source "$HERE/../lib/common.sh"

SPEC="$HERE/spate-service.json"
SERVICE="${SPATE_SERVICE:-spate}"
HDFS_DIR="${SPATE_YARN_HDFS_DIR:-/apps/spate}"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}

# The profile file: a name of deploy/profiles, or a path.
profile_file() {
  local p="${SPATE_PROFILE:-throughput}" dir="$HERE/../profiles" names=() f
  if [ -f "$p" ]; then echo "$p"; return; fi
  if [ ! -f "$dir/$p.toml" ]; then
    for f in "$dir"/*.toml; do names+=("$(basename "$f" .toml)"); done
    die "SPATE_PROFILE=$p is neither a file nor one of: ${names[*]}"
  fi
  echo "$dir/$p.toml"
}

# A value of the spec, by a Python expression over `s`.
spec_value() {
  python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$SPEC" "$1"
}

worker_count() { spec_value 'next(c for c in s["components"] if c["name"] == "worker")["number_of_containers"]'; }
worker_cores() {
  spec_value 'next(c for c in s["components"] if c["name"] == "worker")["launch_command"].split("--cores")[1].split()[0]'
}

# Writes the spec to submit: name, image, worker count and the profile's HDFS path.
render_spec() {
  local out="$1"
  python3 - "$SPEC" "$out" "$SERVICE" "${SPATE_IMAGE:-}" "${SPATE_WORKERS:-}" "$HDFS_DIR/profile.toml" <<'PY'
import json, sys
spec_path, out, name, image, workers, profile = sys.argv[1:]
s = json.load(open(spec_path))
s["name"] = name
if image:
    s["artifact"]["id"] = image
if workers:
    next(c for c in s["components"] if c["name"] == "worker")["number_of_containers"] = int(workers)
for f in s["configuration"]["files"]:
    if f["dest_file"] == s["configuration"]["env"]["SPATE_PROFILE_FILE"]:
        f["src_file"] = "hdfs://" + profile if profile.startswith("/") else profile
json.dump(s, open(out, "w"), indent=2)
PY
}

# Validates a spec with check-spec.py when jsonschema is importable.
check_spec() {
  local python="${SPATE_DEPLOY_VENV:-$HOME/.cache/spate-deploy-venv}/bin/python"
  [ -x "$python" ] || python=python3
  if "$python" -c 'import jsonschema' 2>/dev/null; then
    "$python" "$HERE/check-spec.py" "$1" >/dev/null || {
      "$python" "$HERE/check-spec.py" "$1" >&2
      die "the service spec is invalid (above); nothing was submitted"
    }
  else
    echo "note: python jsonschema is not installed, so the spec is checked only by YARN" >&2
  fi
}

rest() {
  local method="$1" path="$2" body="${3:-}" url auth=()
  url="${SPATE_YARN_RM%/}/app/v1/services$path"
  [ -z "${SPATE_YARN_USER:-}" ] || url="$url?user.name=$SPATE_YARN_USER"
  [ "${SPATE_YARN_KERBEROS:-0}" = 1 ] && auth=(--negotiate -u :)
  if [ -n "$body" ]; then
    curl -fsS "${auth[@]}" -X "$method" -H 'Content-Type: application/json' --data-binary "$body" "$url"
  else
    curl -fsS "${auth[@]}" -X "$method" "$url"
  fi
  echo
}

using_rest() { [ -n "${SPATE_YARN_RM:-}" ]; }

need_yarn() {
  if using_rest; then
    require_tools "spate-yarn.sh $1 (REST mode, SPATE_YARN_RM=$SPATE_YARN_RM)" curl python3
  else
    require_tools "spate-yarn.sh $1 (set SPATE_YARN_RM to use the REST API instead of the yarn CLI)" yarn python3
  fi
}

cmd_submit() {
  local profile rendered
  need_yarn submit
  require_tools "spate-yarn.sh submit (uploads the profile to HDFS)" hdfs
  profile="$(profile_file)"
  if (find_spate) >/dev/null 2>&1; then
    find_spate
    "$SPATE" config explain --profile "$profile" >/dev/null ||
      die "profile $profile is invalid (message above); nothing was submitted"
  fi
  rendered="$(mktemp "${TMPDIR:-/tmp}/spate-service.XXXXXX.json")"
  # shellcheck disable=SC2064 # expand now: remove this file.
  trap "rm -f '$rendered'" EXIT
  render_spec "$rendered"
  check_spec "$rendered"
  hdfs dfs -mkdir -p "$HDFS_DIR"
  hdfs dfs -put -f "$profile" "$HDFS_DIR/profile.toml"
  if using_rest; then
    rest POST "" "@$rendered"
  else
    yarn app -launch "$SERVICE" "$rendered"
  fi
  echo "submitted service $SERVICE ($(worker_count) workers unless SPATE_WORKERS set) with profile $profile"
}

cmd_flex() {
  local n="${1:-}"
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "flex needs a positive number of workers, got \`$n\`"
  need_yarn flex
  if using_rest; then
    rest PUT "/$SERVICE/components/worker" "{\"name\": \"worker\", \"number_of_containers\": $n}"
  else
    yarn app -flex "$SERVICE" -component worker "$n"
  fi
  echo "workers: $n; running jobs keep their parallelism until resubmitted"
}

cmd_status() {
  need_yarn status
  if using_rest; then rest GET "/$SERVICE"; else yarn app -status "$SERVICE"; fi
}

cmd_stop() {
  need_yarn stop
  if using_rest; then
    rest PUT "/$SERVICE" '{"state": "STOPPED"}'
    [ "${1:-}" != --destroy ] || rest DELETE "/$SERVICE"
  else
    yarn app -stop "$SERVICE"
    [ "${1:-}" != --destroy ] || yarn app -destroy "$SERVICE"
  fi
}

# The spec's worker count and --cores (capped by SPATE_LOCAL_CORES_PER_WORKER,
# default 1, to fit a small machine) and the profile, as real local processes.
cmd_local() {
  local workers cores cap profile
  require_tools "spate-yarn.sh local (reads the service spec)" python3
  profile="$(profile_file)"
  workers="${SPATE_WORKERS:-$(worker_count)}"
  cores="$(worker_cores)"
  cap="${SPATE_LOCAL_CORES_PER_WORKER:-1}"
  [ "$cores" -le "$cap" ] || cores="$cap"
  local_cluster_run "$workers" "$cores" "$profile"
}

main() {
  local cmd="${1:-}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
    submit) cmd_submit ;;
    flex) cmd_flex "$@" ;;
    status) cmd_status ;;
    stop) cmd_stop "$@" ;;
    local) cmd_local ;;
    -h | --help | help) usage 0 ;;
    "") usage 2 ;;
    *) die "unknown command \`$cmd\`; see $0 --help" ;;
  esac
}

main "$@"
