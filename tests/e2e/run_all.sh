#!/usr/bin/env bash
# Runs every e2e test (tests/e2e/test_*.sh) one after another, each under a
# time limit, and ends with "N passed, N failed". Exit status: non-zero when
# any test failed. Needs root. Usage: run_all.sh [NAME_FILTER]
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
filter="${1:-}"
passed=0
failed=0
skipped=0
failures=()
for t in "$here"/test_*.sh; do
  name="$(basename "$t" .sh)"
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
  start=$(date +%s)
  timeout --kill-after=10 "${UNAT_E2E_TIMEOUT:-120}" bash "$t" >"/tmp/unat-e2e-$name.log" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  if [ "$rc" -eq 0 ]; then
    echo "PASS $name (${secs}s)"
    passed=$((passed + 1))
  elif [ "$rc" -eq 77 ]; then
    # A test that cannot run here is a failure, not a pass.
    echo "SKIP $name (counted as failed): $(tail -n 1 "/tmp/unat-e2e-$name.log")"
    skipped=$((skipped + 1))
    failed=$((failed + 1))
    failures+=("$name")
  else
    echo "FAIL $name (rc $rc, ${secs}s); output:"
    sed 's/^/    /' "/tmp/unat-e2e-$name.log" | tail -n 40
    failed=$((failed + 1))
    failures+=("$name")
    # A test killed by the timeout could not clean up: do it here.
    "$here/lab.sh" down >/dev/null 2>&1 || true
  fi
done
[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
[ "$failed" -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
