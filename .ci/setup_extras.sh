#!/usr/bin/env bash
# Extra system tools for CI, called by .ci/run before the tests (no stdin, CI=true, root on
# Debian). Installs Chromium for the real-browser test (test/browser_e2e_test.ts) when it is
# missing. Never fails the build: without Chromium that test is reported as skipped.
set -u

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_extras: no apt-get; the browser test will be skipped"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "setup_extras: not root and no sudo; the browser test will be skipped"
    exit 0
  fi
fi

echo "setup_extras: installing chromium for the browser test"
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
if timeout 600 $sudo apt-get update -qq >"$log" 2>&1 &&
  timeout 600 $sudo apt-get install -y -qq --no-install-recommends chromium fonts-liberation >>"$log" 2>&1; then
  echo "setup_extras: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
else
  echo "setup_extras: could not install chromium; the browser test will be skipped"
  tail -n 5 "$log"
fi
rm -f "$log"
exit 0
