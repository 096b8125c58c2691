#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, build-fuzz/) and runs each from its
# seed corpus (tests/fuzz/corpus/<name>/) for a bounded time: the whole
# packet path 40 s, every parser on its own 13 s (about 2.5 minutes in
# all; UNAT_FUZZ_SECONDS=N runs each parser target N s instead). New inputs
# go to a temporary directory; the checked-in seeds are only read. A crash
# leaves its input in build-fuzz/<name>-crash-* (make it a unit test, then
# fix it). Prints one line per target and ends with
# "fuzz: N passed, N failed"; exits non-zero on any failure.
# Usage: scripts/fuzz.sh [TARGET...]   (default: all)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="${UNAT_JOBS:-$(nproc)}"
targets=("$@")
[ "${#targets[@]}" -eq 0 ] && targets=(packet fragment natpmp pcp ssdp http gena ftp irc tftp pptp sip sip_alg sip_tcp per h323 h323_alg coalesce)
passed=0
failed=0
built=0
if CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DUNAT_FUZZ=ON \
  -DUNAT_BUILD_BENCH=OFF -DUNAT_BUILD_TESTS=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
  cmake --build build-fuzz -j"$jobs" --target unat_fuzz_all; then
  built=1
fi
for t in "${targets[@]}"; do
  secs="${UNAT_FUZZ_SECONDS:-13}"
  [ "$t" = packet ] && secs=40
  extra=()
  # The ALG targets add a flow to a long-lived engine with every input,
  # which libFuzzer's per-input leak check takes for a possible leak and
  # answers with a scan of the whole heap (30 times slower). The engine is
  # freed every 2000 inputs; leaks are the ASan unit tests' job.
  case "$t" in ftp | irc | tftp | pptp | sip_alg | sip_tcp) extra=(-detect_leaks=0) ;; esac
  bin="build-fuzz/tests/fuzz/unat_${t}_fuzz"
  work="$(mktemp -d)"
  if [ "$built" -eq 1 ] && [ -x "$bin" ] &&
    "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
      "${extra[@]}" -artifact_prefix="build-fuzz/$t-" "$work" \
      "tests/fuzz/corpus/$t" >"$work.log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log")
    cov=$(grep -o 'cov: [0-9]*' "$work.log" | tail -n 1)
    echo "fuzz $t: pass (${secs} s, $execs execs, $cov, $(find "$work" -type f | wc -l) new inputs)"
    passed=$((passed + 1))
  else
    echo "fuzz $t: FAIL"
    tail -n 40 "$work.log" 2>/dev/null || true
    failed=$((failed + 1))
  fi
  rm -rf "$work" "$work.log"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
