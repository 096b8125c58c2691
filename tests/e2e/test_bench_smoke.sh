#!/usr/bin/env bash
# bench/side_by_side.sh --quick --only unat,kernel runs to the end and prints
# a figure in every measured column of both rows (unat's CPU columns too).
# No speed is asserted: only that each measurement produced a number.
# Standalone (no lib.sh): the bench script takes the lab lock itself and
# cleans up after itself, also when it fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
name="$(basename "$0" .sh)"
if [ "$(id -u)" -ne 0 ]; then
  echo "$name: needs root (network namespaces)" >&2
  exit 77
fi
for tool in iperf3 nft ping; do
  command -v "$tool" >/dev/null || {
    echo "$name: $tool not installed (scripts/install-deps.sh)" >&2
    exit 77
  }
done
out="$(mktemp "/tmp/unat-e2e-$name.XXXXXX")"
trap 'rm -f "$out"' EXIT
fail() {
  echo "FAIL: $name: $*" >&2
  echo "--- output:" >&2
  cat "$out" >&2
  exit 1
}
start=$(date +%s)
timeout --kill-after=5 55 "$root/bench/side_by_side.sh" --quick --only unat,kernel >"$out" 2>&1 ||
  fail "side_by_side.sh exited $?"
echo "  ok: side_by_side.sh --quick --only unat,kernel ran in $(($(date +%s) - start)) s"

# The main table's rows: | NAT | 11 figures |. Columns 2-10 are measured
# for every NAT; 11-12 (the NAT process's CPU) only where there is one.
row() { grep -E "^\| $1( \| [^|]+){11} \|$" "$out" | head -n 1 || true; }
check_row() { # NAT LAST_COLUMN
  local r cols i c
  r="$(row "$1")"
  [ -n "$r" ] || fail "no table row for $1"
  IFS='|' read -r -a cols <<<"$r"
  for ((i = 2; i <= $2; i++)); do
    c="$(echo "${cols[$i]}" | tr -d ' ')"
    [[ "$c" =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "$1: column $i is '$c', not a figure"
  done
  echo "  ok: $1:$r"
}
check_row unat 12
check_row kernel 10
grep -q '^| kernel | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 |$' "$out" || fail "no ratio row for kernel"
echo "  ok: ratio table"

# bench/tun_io_trial.sh (io_uring against read/write on a TUN device): one
# round of 1 s; every measurement and both summary lines print figures. The
# benchmarks are built in the Release tree (build/; the sanitizer tree the
# e2e tests use has none): UNAT_BENCH_BUILD_DIR overrides it.
trial="$(mktemp "/tmp/unat-e2e-$name-trial.XXXXXX")"
trap 'rm -f "$out" "$trial"' EXIT
UNAT_BUILD_DIR="${UNAT_BENCH_BUILD_DIR:-$root/build}" timeout --kill-after=5 30 "$root/bench/tun_io_trial.sh" 1 1 >"$trial" 2>&1 ||
  { cat "$trial" >"$out"; fail "tun_io_trial.sh exited $?"; }
for op in read write; do
  for mode in plain uring; do
    grep -Eq "^$op $mode: [0-9]+ packets/s .* [0-9]+ ns CPU per packet" "$trial" ||
      { cat "$trial" >"$out"; fail "tun_io_trial: no $op $mode figure"; }
  done
  grep -Eq "^$op +plain [0-9.]+ Mpps [0-9]+ ns/pkt +uring [0-9.]+ Mpps [0-9]+ ns/pkt +uring/plain: rate [0-9.]+x, CPU per packet [0-9.]+x$" "$trial" ||
    { cat "$trial" >"$out"; fail "tun_io_trial: no $op summary"; }
done
echo "  ok: tun_io_trial.sh 1 1: $(grep -E '^(read|write) +plain [0-9.]+ Mpps' "$trial" | tr -s ' ' | paste -sd ';')"
