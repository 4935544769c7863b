#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver (chromedriver) are on PATH,
# for the console's browser test (tests/it/console_browser.rs): installs
# Debian's chromium and chromium-driver when they are missing and we may
# (root with apt-get), otherwise says how to get them and fails.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
if have chromedriver && { have chromium || have chromium-browser || have google-chrome; }; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]] && have apt-get; then
  echo "chromium / chromedriver not found; installing them from Debian packages..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null
  exit 0
fi
cat >&2 <<'MSG'
The console's browser test needs headless Chromium and chromedriver, and this
script cannot install them (not root, or no apt-get). Install them yourself, e.g.:
  sudo apt-get install chromium chromium-driver      # Debian / Ubuntu
or name them with BOTQ_CHROMIUM=/path/to/chrome BOTQ_CHROMEDRIVER=/path/to/chromedriver.
MSG
exit 1
