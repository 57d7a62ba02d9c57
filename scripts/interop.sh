#!/usr/bin/env bash
# Interop tests against peers nobody in this project wrote. Every suite is a
# script in scripts/interop/ that installs its own peer (apt-get, npm), starts
# it on a free loopback port, runs the checks and exits non-zero on failure.
# Usage: scripts/interop.sh [SUITE...]   (default: every suite)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x bin/femtoclaw ] || make build
suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
  for f in scripts/interop/*.sh; do [ -e "$f" ] && suites+=("$(basename "$f" .sh)"); done
fi
passed=0 failed=0
for s in "${suites[@]}"; do
  echo "=== interop: $s"
  start=$(date +%s)
  if bash "scripts/interop/$s.sh"; then
    passed=$((passed + 1)); echo "--- PASS: interop $s ($(( $(date +%s) - start ))s)"
  else
    failed=$((failed + 1)); echo "--- FAIL: interop $s ($(( $(date +%s) - start ))s)"
  fi
done
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
