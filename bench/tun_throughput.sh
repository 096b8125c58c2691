#!/usr/bin/env bash
# TCP throughput through unatd on TUN devices (the lab), against a baseline
# measured in the same run: the same iperf3 over a plain veth pair between
# two namespaces made by this script (kernel forwarding, no NAT).
# Usage (root): bench/tun_throughput.sh [SECONDS]   (default 5)
# Prints both figures and their ratio. Cleans up everything it made.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-5}"
lab="$root/tests/e2e/lab.sh"
# One lab at a time on a machine (the e2e tests take the same lock).
exec 9>/run/unat-e2e.lock
flock -w 600 9 || { echo "the lab is busy (/run/unat-e2e.lock)" >&2; exit 1; }
command -v iperf3 >/dev/null || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null
}
cleanup() {
  "$lab" down >/dev/null 2>&1 || true
  for ns in unat-bench-a unat-bench-b; do
    if [ -e "/var/run/netns/$ns" ]; then
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT

gbps() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'; }

# Baseline: veth between two namespaces.
ip netns add unat-bench-a
ip netns add unat-bench-b
ip link add ubench-a netns unat-bench-a type veth peer name ubench-b netns unat-bench-b
ip -n unat-bench-a addr add 192.0.2.1/24 dev ubench-a
ip -n unat-bench-b addr add 192.0.2.2/24 dev ubench-b
ip -n unat-bench-a link set ubench-a up
ip -n unat-bench-b link set ubench-b up
ip netns exec unat-bench-b iperf3 -s -1 -B 192.0.2.2 >/dev/null 2>&1 &
sleep 0.5
base=$(ip netns exec unat-bench-a iperf3 -c 192.0.2.2 -t "$secs" -J | gbps)

# Through unatd.
"$lab" up
ip netns exec unat-wan iperf3 -s -1 -B 203.0.113.2 >/dev/null 2>&1 &
sleep 0.5
nat=$(ip netns exec unat-lan iperf3 -c 203.0.113.2 -t "$secs" -J | gbps)
ratio=$(/usr/bin/python3 -c "print('%.3f' % ($nat / $base))")
echo "veth baseline: ${base} Gbit/s"
echo "through unatd: ${nat} Gbit/s"
echo "ratio (unatd / veth): ${ratio}"
