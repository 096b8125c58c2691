#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (run as root):
#   1. installs the dependencies (scripts/install-deps.sh),
#   2. builds Release (build/: what the demo and benchmarks use) and an
#      ASan+UBSan build (build-asan/),
#   3. runs every unit test (engine, daemon, portmap) under ASan+UBSan,
#   4. runs the end-to-end tests (tests/e2e/run_all.sh) in network
#      namespaces against the ASan+UBSan unatd, so a memory error on the
#      real packet path fails the run.
# Ends with one line "all: N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="$(nproc)"

"$root/scripts/install-deps.sh"

echo "== build: Release"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DUNAT_BUILD_TESTS=ON -DUNAT_BUILD_BENCH=ON >/dev/null
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

echo "== fuzz smoke: libFuzzer over the whole packet path, 60 s (clang)"
fuzz_passed=0
fuzz_failed=0
if CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DUNAT_FUZZ=ON \
    -DUNAT_BUILD_BENCH=OFF -DUNAT_BUILD_TESTS=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
  cmake --build build-fuzz -j"$jobs" --target unat_packet_fuzz &&
  fuzz_dir="$(mktemp -d)" &&
  build-fuzz/tests/fuzz/unat_packet_fuzz -max_total_time=60 \
    -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ "$fuzz_dir" 2>&1 | tail -n 4; then
  fuzz_passed=1
else
  fuzz_failed=1
fi
rm -rf "${fuzz_dir:-/nonexistent}"

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
