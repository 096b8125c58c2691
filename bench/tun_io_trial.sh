#!/usr/bin/env bash
# io_uring against plain read/write on a TUN device (issue 18 item 3), one
# run, alternating the two so that both see the same machine:
#   bench/tun_io_trial.sh [SECONDS] [ROUNDS]     (default 3 s, 3 rounds)
# Root. Everything happens in a network namespace of its own (unshare), so
# nothing outside is touched and nothing is left behind. The binary comes
# from ${UNAT_BUILD_DIR:-build}/bench/. Prints each measurement, then the
# medians (rate and CPU per packet) and uring/plain ratios.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${UNAT_BUILD_DIR:-build}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin="$build/bench/unat_tun_io_trial"
secs="${1:-3}"
rounds="${2:-3}"
[ -x "$bin" ] || { echo "tun_io_trial: $bin not built (liburing-dev missing?)" >&2; exit 1; }
[[ "$secs" =~ ^[0-9]+$ ]] && [ "$secs" -gt 0 ] || { echo "tun_io_trial: SECONDS: want a positive integer, got \"$secs\"" >&2; exit 2; }
[[ "$rounds" =~ ^[0-9]+$ ]] && [ "$rounds" -gt 0 ] || { echo "tun_io_trial: ROUNDS: want a positive integer, got \"$rounds\"" >&2; exit 2; }
exec unshare --net bash -c '
  set -euo pipefail
  bin=$1 secs=$2 rounds=$3
  ip link set lo up
  ip tuntap add dev trial0 mode tun
  ip addr add 10.99.0.1/24 dev trial0
  ip link set trial0 up txqueuelen 1000
  out=$(mktemp)
  trap "rm -f $out" EXIT
  for ((r = 1; r <= rounds; r++)); do
    for op in read write; do
      for mode in plain uring; do
        "$bin" "$op" "$mode" "$secs" | tee -a "$out"
      done
    done
  done
  python3 - "$out" <<"PY"
import statistics, sys
rates = {}
cpu = {}
for line in open(sys.argv[1]):
    words = line.split()
    key = (words[0], words[1].rstrip(":"))
    rates.setdefault(key, []).append(float(words[2]))
    cpu.setdefault(key, []).append(float(words[-6]))
print()
for op in ("read", "write"):
    p = statistics.median(rates[(op, "plain")])
    u = statistics.median(rates[(op, "uring")])
    pc = statistics.median(cpu[(op, "plain")])
    uc = statistics.median(cpu[(op, "uring")])
    print(f"{op:5}  plain {p/1e6:.3f} Mpps {pc:.0f} ns/pkt  uring {u/1e6:.3f} Mpps {uc:.0f} ns/pkt"
          f"  uring/plain: rate {u/p:.2f}x, CPU per packet {uc/pc:.2f}x")
PY
' tun_io_trial "$bin" "$secs" "$rounds"
