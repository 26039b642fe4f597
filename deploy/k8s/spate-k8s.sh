#!/usr/bin/env bash
# Spate on Kubernetes (static mode): apply, scale, submit, savepoint-and-upgrade,
# status and delete a deployment of deploy/k8s; `local` runs the same topology on
# this machine with real processes.
#
#   spate-k8s.sh apply                       # base (throughput profile, PVC checkpoints)
#   spate-k8s.sh scale N                     # N worker pods
#   spate-k8s.sh submit JOB [P] -- ARGS...   # run a job with the ConfigMap's profile
#   spate-k8s.sh savepoint-and-upgrade IMAGE [JOB_ID]
#   spate-k8s.sh status
#   spate-k8s.sh delete [--purge]            # --purge also deletes the PVC and namespace
#   spate-k8s.sh local                       # no Kubernetes: spate cluster start + a query
#
# Environment: SPATE_NAMESPACE (spate), SPATE_K8S_OVERLAY (base, or an overlay:
# s3, large-state, low-latency), SPATE_IMAGE (image to run, e.g.
# registry.example/spate:0.1.0; default spate:0.1.0), KUBECONFIG as for kubectl.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=deploy/lib/common.sh
source "$HERE/../lib/common.sh"

NS="${SPATE_NAMESPACE:-spate}"
OVERLAY="${SPATE_K8S_OVERLAY:-base}"
PROFILE_MOUNTED=/etc/spate/profile/profile.toml
CONTROL=127.0.0.1:6123

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}

kustomize_dir() {
  local dir
  if [ "$OVERLAY" = base ]; then dir="$HERE/base"; else dir="$HERE/overlays/$OVERLAY"; fi
  [ -f "$dir/kustomization.yaml" ] ||
    die "SPATE_K8S_OVERLAY=$OVERLAY: no $dir/kustomization.yaml (use base, s3, large-state or low-latency)"
  echo "$dir"
}

need_cluster() {
  require_tools "spate-k8s.sh $1" kubectl
  kubectl version --request-timeout=10s >/dev/null 2>&1 ||
    die "kubectl cannot reach a Kubernetes API server (context: $(kubectl config current-context 2>/dev/null || echo none)); set KUBECONFIG or the context"
}

k() { kubectl -n "$NS" "$@"; }

coordinator_exec() { k exec deploy/spate-coordinator -c coordinator -- "$@"; }

# The worker StatefulSet's --cores, from the live object.
worker_cores() {
  k get statefulset spate-worker -o jsonpath='{.spec.template.spec.containers[0].args}' |
    tr -d '[]"' | tr ',' '\n' | awk 'prev == "--cores" { print; exit } { prev = $0 }'
}

cmd_apply() {
  local dir rendered profile
  need_cluster apply
  dir="$(kustomize_dir)"
  rendered="$(mktemp)"
  profile="$(mktemp)"
  # shellcheck disable=SC2064 # expand now: remove these files.
  trap "rm -f '$rendered' '$profile'" EXIT
  kubectl kustomize "$dir" >"$rendered"
  if [ -n "${SPATE_IMAGE:-}" ]; then
    sed -i -E "s#^( +image: )spate(:[^ ]*)?\$#\1$SPATE_IMAGE#" "$rendered"
  fi
  # Reject a bad profile before anything is launched, when a spate binary is here.
  if (find_spate) >/dev/null 2>&1; then
    find_spate
    awk '/^kind: ConfigMap/ { cm = 1 } /^---/ { cm = 0 } cm' "$rendered" >"$profile.cm"
    configmap_profile "$profile.cm" "$profile"
    rm -f "$profile.cm"
    "$SPATE" config explain --profile "$profile" >/dev/null ||
      die "the profile in $dir is invalid (message above); nothing was applied"
  else
    echo "note: no local spate binary, so the profile is checked only by the pods" >&2
  fi
  kubectl apply -f "$rendered"
  k rollout status deployment/spate-coordinator --timeout=300s
  k rollout status statefulset/spate-worker --timeout=600s
  echo "applied $dir in namespace $NS"
}

cmd_scale() {
  local n="${1:-}"
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "scale needs a positive number of workers, got \`$n\`"
  need_cluster scale
  k scale statefulset/spate-worker --replicas="$n"
  k rollout status statefulset/spate-worker --timeout=600s
  echo "workers: $n x $(worker_cores) cores; running jobs keep their parallelism until resubmitted"
}

cmd_submit() {
  local job="${1:-}" parallelism="" dir replicas
  [ -n "$job" ] || die "submit needs a job name (nexmark, late-data, overload)"
  shift
  if [ $# -gt 0 ] && [ "$1" != -- ]; then
    parallelism="$1"
    shift
  fi
  if [ "${1:-}" = -- ]; then shift; fi
  need_cluster submit
  if [ -z "$parallelism" ]; then
    replicas="$(k get statefulset spate-worker -o jsonpath='{.spec.replicas}')"
    parallelism=$((replicas * $(worker_cores)))
  fi
  dir="$(k get deployment spate-coordinator \
    -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="SPATE_CHECKPOINT_DIR")].value}')"
  [ -n "$dir" ] || die "the coordinator Deployment has no SPATE_CHECKPOINT_DIR env"
  coordinator_exec spate submit "$job" --coordinator "$CONTROL" --parallelism "$parallelism" \
    --profile "$PROFILE_MOUNTED" --set "checkpoint.dir=$dir" -- "$@"
}

# The job running on the cluster, from `spate cluster status`.
running_job() {
  coordinator_exec spate cluster status --coordinator "$CONTROL" |
    sed -n -E 's/^running +job ([0-9]+).*/\1/p' | head -n 1
}

cmd_savepoint_and_upgrade() {
  local image="${1:-}" job="${2:-}" out
  [ -n "$image" ] || die "savepoint-and-upgrade needs the new image, e.g. registry.example/spate:0.2.0"
  need_cluster savepoint-and-upgrade
  # Savepoints come with issue 5 (`spate savepoint <job>`); say so rather than
  # upgrading without one.
  coordinator_exec spate savepoint --help >/dev/null 2>&1 ||
    die "the running image has no \`spate savepoint\` (savepoints come with issue 5); nothing was changed"
  [ -n "$job" ] || job="$(running_job)"
  [ -n "$job" ] || die "no running job to savepoint; pass its id: savepoint-and-upgrade IMAGE JOB_ID"
  echo "taking a savepoint of job $job"
  out="$(coordinator_exec spate savepoint "$job" --coordinator "$CONTROL")" ||
    die "the savepoint failed; the deployment was not changed"
  echo "$out"
  k set image deployment/spate-coordinator "coordinator=$image"
  k set image statefulset/spate-worker "worker=$image"
  k rollout status deployment/spate-coordinator --timeout=300s
  k rollout status statefulset/spate-worker --timeout=600s
  echo "upgraded to $image. Resubmit job $job from the savepoint above:"
  echo "  $0 submit JOB [PARALLELISM] -- ARGS...   (with --from-savepoint, issue 5)"
}

cmd_status() {
  need_cluster status
  k get deployment,statefulset,pods,pvc -l app.kubernetes.io/name=spate
  coordinator_exec spate cluster status --coordinator "$CONTROL"
}

cmd_delete() {
  local dir
  need_cluster delete
  if [ "${1:-}" = --purge ]; then
    dir="$(kustomize_dir)"
    kubectl delete -k "$dir" --ignore-not-found
    echo "deleted everything of $dir, checkpoints and namespace $NS included"
    return
  fi
  k delete deployment/spate-coordinator statefulset/spate-worker service/spate-coordinator \
    service/spate-worker poddisruptionbudget/spate-worker configmap/spate-profile --ignore-not-found
  echo "deleted the Spate workloads in $NS; kept the checkpoints PVC (delete --purge removes it)"
}

# The StatefulSet's replicas and --cores, and the ConfigMap's profile, from the
# manifests; cores are capped (SPATE_LOCAL_CORES_PER_WORKER, default 1) so that
# the workers fit on a small machine.
cmd_local() {
  local sts="$HERE/base/worker-statefulset.yaml" workers cores cap profile
  workers="$(awk '/^  replicas:/ { print $2; exit }' "$sts")"
  cores="$(awk 'prev ~ /- --cores$/ { gsub(/[^0-9]/, ""); print; exit } { prev = $0 }' "$sts")"
  [[ "$workers" =~ ^[0-9]+$ && "$cores" =~ ^[0-9]+$ ]] ||
    die "cannot read replicas and --cores from $sts"
  cap="${SPATE_LOCAL_CORES_PER_WORKER:-1}"
  [ "$cores" -le "$cap" ] || cores="$cap"
  profile="$(mktemp "${TMPDIR:-/tmp}/spate-profile.XXXXXX.toml")"
  configmap_profile "$HERE/base/profile-configmap.yaml" "$profile"
  local_cluster_run "$workers" "$cores" "$profile"
  rm -f "$profile"
}

main() {
  local cmd="${1:-}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
    apply) cmd_apply ;;
    scale) cmd_scale "$@" ;;
    submit) cmd_submit "$@" ;;
    savepoint-and-upgrade) cmd_savepoint_and_upgrade "$@" ;;
    status) cmd_status ;;
    delete) cmd_delete "$@" ;;
    local) cmd_local ;;
    -h | --help | help) usage 0 ;;
    "") usage 2 ;;
    *) die "unknown command \`$cmd\`; see $0 --help" ;;
  esac
}

main "$@"
