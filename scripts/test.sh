#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (run as root):
#   1. installs the dependencies (scripts/install-deps.sh),
#   2. builds Release (build/: what the demo and benchmarks use; no unit
#      tests) and an ASan+UBSan build (build-asan/),
#   3. runs every unit test (engine, daemon, portmap) under ASan+UBSan,
#   4. builds the libFuzzer targets (clang, build-fuzz/) and runs each for a
#      bounded time from its seed corpus (about 2.5 minutes in all),
#   5. runs the end-to-end tests (tests/e2e/run_all.sh) in network
#      namespaces against the ASan+UBSan unatd, so a memory error on the
#      real packet path fails the run.
# Ends with one line "all: N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="$(nproc)"

"$root/scripts/install-deps.sh"

echo "== build: Release"
# The unit tests run in the ASan build only: not compiled twice.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DUNAT_BUILD_TESTS=OFF -DUNAT_BUILD_BENCH=ON >/dev/null
cmake --build build -j"$jobs"

echo "== build: Debug with ASan+UBSan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DUNAT_SANITIZE=ON -DUNAT_BUILD_TESTS=ON \
  -DUNAT_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"

unit_log="$(mktemp)"
e2e_log="$(mktemp)"
trap 'rm -f "$unit_log" "$e2e_log"' EXIT

echo "== unit tests (ASan+UBSan)"
set +e
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -R '^unit\.' --output-on-failure -j"$jobs" \
  --timeout 300 2>&1 | tee "$unit_log"
unit_rc=${PIPESTATUS[0]}
set -e
unit_total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$unit_log" | tail -n 1)
unit_failed=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' "$unit_log" | tail -n 1)
unit_total=${unit_total:-0}
unit_failed=${unit_failed:-0}
if [ "$unit_total" -eq 0 ]; then
  echo "unit tests: none ran" >&2
  unit_failed=1
fi
unit_passed=$((unit_total - unit_failed))

echo "== fuzz: libFuzzer, every byte parser on its own and the whole packet path (clang)"
# scripts/fuzz.sh: one pass or fail per target, about 2.5 minutes in all.
fuzz_log="$(mktemp)"
set +e
UNAT_JOBS="$jobs" "$root/scripts/fuzz.sh" 2>&1 | tee "$fuzz_log"
set -e
fuzz_passed=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$fuzz_log" | tail -n 1)
fuzz_failed=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$fuzz_log" | tail -n 1)
fuzz_passed=${fuzz_passed:-0}
fuzz_failed=${fuzz_failed:-1}
rm -f "$fuzz_log"

echo "== end-to-end tests (network namespaces, real programs)"
set +e
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  UNAT_BUILD_DIR="$root/build-asan" "$root/tests/e2e/run_all.sh" 2>&1 | tee "$e2e_log"
e2e_rc=${PIPESTATUS[0]}
set -e
e2e_passed=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$e2e_log" | tail -n 1)
e2e_failed=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$e2e_log" | tail -n 1)
e2e_passed=${e2e_passed:-0}
e2e_failed=${e2e_failed:-1}

passed=$((unit_passed + e2e_passed + fuzz_passed))
failed=$((unit_failed + e2e_failed + fuzz_failed))
echo "unit: $unit_passed passed, $unit_failed failed (ctest rc $unit_rc)"
echo "fuzz: $fuzz_passed passed, $fuzz_failed failed"
echo "e2e: $e2e_passed passed, $e2e_failed failed (rc $e2e_rc)"
echo "all: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$unit_rc" -eq 0 ] && [ "$e2e_rc" -eq 0 ]
