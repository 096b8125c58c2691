# Shared by the e2e tests: sourced, never run. Each test is self-contained:
# it brings the lab up, asserts, and always takes the lab down (EXIT trap),
# also when it fails.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB="$E2E_DIR/lab.sh"
TEST_NAME="$(basename "$0" .sh)"
PY=/usr/bin/python3
TMP="$(mktemp -d "/tmp/unat-e2e-$TEST_NAME.XXXXXX")"
BIN="$("$LAB" bin)"

# One lab at a time on a machine (its namespace names are fixed): hold a
# lock for the whole test. Waits up to 10 minutes for another test to end.
exec 9>/run/unat-e2e.lock
flock -w 600 9 || {
  echo "$TEST_NAME: the lab stayed busy (lock /run/unat-e2e.lock)" >&2
  exit 1
}

EXTRA_NS=()
_cleanup() {
  local rc=$?
  trap - EXIT
  if [ "$rc" -ne 0 ]; then
    echo "--- $TEST_NAME failed (rc $rc); unatd log:" >&2
    "$LAB" log | tail -n 30 >&2 || true
  fi
  # Namespaces a test made beyond the lab (tenant_router): their processes
  # (by pid) and the namespaces themselves, with their devices.
  local ns pid
  for ns in "${EXTRA_NS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  "$LAB" down || true
  rm -rf "$TMP"
  exit "$rc"
}
trap _cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
  echo "$TEST_NAME: needs root (network namespaces)" >&2
  exit 77
fi
[ -x "$BIN/unatd" ] || {
  echo "$TEST_NAME: no $BIN/unatd; build first" >&2
  exit 1
}

fail() {
  echo "FAIL: $TEST_NAME: $*" >&2
  exit 1
}
ok() { echo "  ok: $*"; }

# need TOOL...: a test that cannot run without these programs is skipped
# (exit 77, which run_all.sh counts as a failure).
need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || {
      echo "$TEST_NAME: $tool not installed (scripts/install-deps.sh)" >&2
      exit 77
    }
  done
}

lan() { ip netns exec unat-lan "$@"; }
lan2() { ip netns exec unat-lan2 "$@"; }
wan() { ip netns exec unat-wan "$@"; }
# ctl ARGS...: unatctl against the lab's unatd. Its output is read whole
# before it is written on, with SIGPIPE ignored, so that `ctl ... | grep -q`
# under pipefail cannot fail when grep quits at its first match while
# unatctl still writes (a flake seen in CI). The exit code is unatctl's.
ctl() (
  trap '' PIPE
  out=$("$LAB" ctl "$@") && rc=0 || rc=$?
  [ -z "$out" ] || printf '%s\n' "$out" 2>/dev/null || true
  exit "$rc"
)

# bg NS CMD...: runs CMD in the background inside NS (lab.sh down kills
# whatever is left in the lab's namespaces).
bg() {
  local ns=$1
  shift
  ip netns exec "$ns" "$@" </dev/null >>"$TMP/bg.log" 2>&1 9>&- &
}

# wait_tcp NS ADDR PORT: until something listens there (5 s).
wait_tcp() {
  local i
  for ((i = 0; i < 50; i++)); do
    if ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  fail "nothing listens on $2:$3 in $1"
}

# wait_udp NS PORT: until a UDP socket is bound to PORT in NS (5 s).
wait_udp() {
  local i
  for ((i = 0; i < 50; i++)); do
    if ip netns exec "$1" ss -Hlun "sport = :$2" | grep -q .; then return 0; fi
    sleep 0.1
  done
  fail "no UDP socket on port $2 in $1"
}

# json EXPR: evaluates a Python expression over `d`, the JSON on stdin.
json() { "$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# http_server NS DIR ADDR PORT: serves DIR on 0.0.0.0:PORT in NS and waits
# until ADDR:PORT answers. (Binding 0.0.0.0: http.server looks the bind
# address up in DNS, which in the lab namespaces only times out.)
http_server() {
  bg "$1" "$PY" -m http.server "$4" --bind 0.0.0.0 --directory "$2"
  wait_tcp "$1" "$3" "$4"
}

# drop_count REASON: unatd's counter for that drop reason.
drop_count() {
  ctl --json stats | json "sum(int(c.get('value', 0)) for c in d['stats']['drops'] if c['name'] == '$1')"
}
# stat_field FIELD: one top-level number of `unatctl stats` (0 when absent).
stat_field() { ctl --json stats | json "int(d['stats'].get('$1', 0))"; }
# stat_size FILE: its size in bytes (0 when it does not exist).
stat_size() { if [ -e "$1" ]; then stat -c %s "$1"; else echo 0; fi; }

# tenant_router: a router of lan's own, as a WireGuard or OpenVPN server
# would be: netns unat-lanr holds 10.99.0.5/24 with its default route via
# 10.99.0.1, unat-lan's end of a veth between them, and unat-lan forwards.
# (lan needs routed_prefix "10.99.0.0/24" for unat to translate it.) Removed
# when the test ends. `vpn CMD...` runs in unat-lanr.
tenant_router() {
  local r=unat-lanr
  EXTRA_NS+=("$r")
  ip netns add "$r"
  ip -n "$r" link set lo up
  ip link add unat-lr0 netns unat-lan type veth peer name unat-lr1 netns "$r"
  ip -n unat-lan addr add 10.99.0.1/24 dev unat-lr0
  ip -n unat-lan link set unat-lr0 up
  ip -n "$r" addr add 10.99.0.5/24 dev unat-lr1
  ip -n "$r" link set unat-lr1 up
  ip -n "$r" route add default via 10.99.0.1
  lan sysctl -qw net.ipv4.ip_forward=1
}
vpn() { ip netns exec unat-lanr "$@"; }
