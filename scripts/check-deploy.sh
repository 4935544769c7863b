#!/usr/bin/env bash
# Checks the deploy files with the real tools: promtool validates the
# Prometheus config and rules and runs the alert unit tests. Installs
# promtool from Debian's prometheus package when missing and permitted.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "promtool not found; installing Debian's prometheus package..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "promtool is missing: install Debian's prometheus package (apt-get install prometheus)" >&2
    exit 1
  fi
fi

cd deploy/prometheus
promtool check config prometheus.yml
promtool check rules rules.yml
promtool test rules rules.test.yml
