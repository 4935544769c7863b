#!/usr/bin/env bash
# Makes sure redis-server (Redis ≥ 7) is on PATH: installs it from Debian
# packages when it is missing and we may (root with apt-get), otherwise says
# how to get it and fails.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found; installing it from Debian packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq redis-server redis-tools >/dev/null
  # The package may start a system Redis on 6379; botq starts its own where it needs one.
  exit 0
fi
cat >&2 <<'MSG'
redis-server is not installed, and this script cannot install it (not root, or no apt-get).
Install Redis 7 yourself, e.g.:
  sudo apt-get install redis-server        # Debian / Ubuntu
  brew install redis                       # macOS
or point botq at an existing Redis with BOTQ_REDIS_URL=redis://host:6379.
MSG
exit 1
