#!/usr/bin/env bash
# The demo, from a fresh Debian 12 machine (run as root): installs the
# dependencies, builds, brings the lab up (tests/e2e/lab.sh), and shows a
# real client in netns unat-lan fetching a page from a server in unat-wan
# through unatd, a ping through it, and unatd's flow table. The lab comes
# down at the end, also on failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
"$root/scripts/install-deps.sh"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

lab="$root/tests/e2e/lab.sh"
# One lab at a time on a machine (the e2e tests take the same lock).
exec 9>/run/unat-e2e.lock
flock -w 600 9 || { echo "the lab is busy (/run/unat-e2e.lock)" >&2; exit 1; }
www="$(mktemp -d /tmp/unat-demo.XXXXXX)"
cleanup() {
  "$lab" down >/dev/null 2>&1 || true
  rm -rf "$www"
}
trap cleanup EXIT

echo "== lab up: unat-lan 10.77.0.2 -> unatd (203.0.113.1) -> unat-wan 203.0.113.2"
"$lab" up
echo "hello from unat-wan, $(date -u)" >"$www/index.html"
ip netns exec unat-wan /usr/bin/python3 -m http.server 80 --bind 203.0.113.2 \
  --directory "$www" </dev/null >/dev/null 2>&1 &
for _ in $(seq 50); do
  ip netns exec unat-wan bash -c 'exec 3<>/dev/tcp/203.0.113.2/80' 2>/dev/null && break
  sleep 0.1
done

echo
echo "== curl from unat-lan to http://203.0.113.2/"
ip netns exec unat-lan curl -sS --max-time 10 http://203.0.113.2/
echo
echo "== ping from unat-lan to 203.0.113.2"
ip netns exec unat-lan ping -c 3 -i 0.2 -W 2 203.0.113.2
echo
echo "== unatctl flows"
"$lab" ctl flows
echo
echo "== unatctl stats"
"$lab" ctl stats
echo
echo "== lab down"
