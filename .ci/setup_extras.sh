#!/usr/bin/env bash
# Extra system tools for CI, called by .ci/run before the tests (no stdin, CI=true, root on
# Debian). Installs what is missing of:
# - Chromium, for the real-browser test (test/browser_e2e_test.ts);
# - nginx, for the multi-process cluster test (test/cluster_nginx_test.ts).
# Never fails the build: without a tool, the test that needs it is reported as skipped.
# Bounded: apt gets SETUP_EXTRAS_SECONDS (default 300) in all, whatever the mirror's speed.
set -u
deadline=$((SECONDS + ${SETUP_EXTRAS_SECONDS:-300}))
# Seconds left before the deadline (at least 1, so `timeout` gets a valid duration).
left() { echo $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)); }

missing=()
if [ ! -x /usr/bin/chromium ]; then missing+=(chromium fonts-liberation); fi
if [ ! -x /usr/sbin/nginx ] && [ ! -x /usr/bin/nginx ]; then missing+=(nginx); fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_extras: no apt-get; the browser and nginx tests will be skipped if their tools are missing"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "setup_extras: not root and no sudo; tests needing ${missing[*]} will be skipped"
    exit 0
  fi
fi

echo "setup_extras: installing ${missing[*]}"
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
# The nginx package would start a system nginx on port 80; the test runs its own. Refuse
# service starts during the install (the policy-rc.d convention), unless a policy exists.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  if printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null 2>&1 &&
    $sudo chmod +x /usr/sbin/policy-rc.d 2>/dev/null; then
    policy=/usr/sbin/policy-rc.d
  fi
fi
if timeout "$(left)" $sudo apt-get update -qq >"$log" 2>&1; then
  # One package at a time: one that cannot be installed must not block the others.
  for package in "${missing[@]}"; do
    if ! timeout "$(left)" $sudo apt-get install -y -qq --no-install-recommends "$package" >>"$log" 2>&1; then
      echo "setup_extras: could not install $package; the test needing it will be skipped"
      tail -n 5 "$log"
    fi
  done
  if [ -x /usr/bin/chromium ]; then echo "setup_extras: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"; fi
  if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    echo "setup_extras: $( (/usr/sbin/nginx -v || nginx -v) 2>&1 | head -n 1)"
  fi
else
  echo "setup_extras: apt-get update failed; tests needing ${missing[*]} will be skipped"
  tail -n 5 "$log"
fi
if [ -n "$policy" ]; then $sudo rm -f "$policy"; fi
rm -f "$log"
exit 0
