#!/usr/bin/env bash
# Side by side: the same client -> NAT -> server path through four NATs, the
# same measurements for each, one table.
#
#   bench/side_by_side.sh [--seconds N] [--quick] [--only LIST] [--udp-rate P]
#                         [--perf FILE]
#     --seconds N   length of each measurement (default 5)
#     --quick       1 s each (a smoke test; the figures are rough)
#     --only LIST   comma-separated subset of unat,kernel,slirp4netns,pasta
#                   (default: all four; ratios need kernel)
#     --udp-rate P  packets/s of the fixed-rate UDP test (default: what the
#                   kernel NAT received in its unlimited test, else 50000)
#     --perf FILE   after unat's measurements, one more single-flow run with
#                   `perf record -g` on unatd; its report goes to FILE
#   UNAT_SBS_KEEP=1 keeps the raw outputs (iperf3 JSON, logs) in /tmp.
#
# Root. Takes the lab lock (/run/unat-e2e.lock), as the e2e tests do. Makes
# only network namespaces of its own (usbs-*) and the lab's (tests/e2e/lab.sh;
# binaries from ${UNAT_BUILD_DIR:-build}/tun/); never touches the network
# configuration of the namespace it runs in. Cleans up everything it made,
# by pid and by name, on success and on failure.
#
# The NATs (client always 1 hop from the NAT, server 1 hop beyond it):
#   unat         netns unat-lan (10.77.0.2, TUN unat0) -> unatd (netns
#                unat-nat, the lab's default config) -> netns unat-wan
#                (203.0.113.2, TUN unatw0). MTU 1500; with or without
#                IFF_VNET_HDR (TSO/checksum offload) as unatd's build
#                negotiates it: the table's notes print the devices'
#                tun_flags.
#   kernel       netns usbs-kc (10.77.0.2) -veth- netns usbs-kr (forwarding,
#                nftables masquerade to 203.0.113.1; a baseline, never part of
#                unat) -veth- netns usbs-ks (203.0.113.2). MTU 1500, veth's
#                GSO (64 KB segments cross the router unsplit).
#   slirp4netns  netns usbs-sc (10.0.2.100, tap0, MTU 65520) -> slirp4netns
#                (runs in netns usbs-sh, libslirp's own TCP/IP stack, opens
#                a socket there per flow) -> usbs-sh's kernel stack (source
#                203.0.113.1) -veth- netns usbs-ss (203.0.113.2).
#   pasta        netns usbs-pc (10.0.2.100, tap0, MTU 65520) -> pasta (runs in
#                netns usbs-ph, translates the tap's frames to sockets there)
#                -> usbs-ph's kernel stack (203.0.113.1) -veth- netns usbs-ps
#                (203.0.113.2).
# slirp4netns and pasta terminate the client's TCP and open their own
# connection to the server (L4 proxies); unatd and the kernel rewrite
# packets (L3 NAT) and the client's TCP reaches the server.
#
# Measurements (the same programs for every NAT; client in the client
# namespace, server in the server namespace):
#   TCP 1 flow     iperf3 -c 203.0.113.2 -t N (Gbit/s received), with
#                  ping -i 0.01 from the client to the server at the same
#                  time (avg and max rtt under load), and the CPU time of
#                  the NAT's process (unatd, slirp4netns, pasta) over it from
#                  /proc/PID/stat (utime+stime; the kernel NAT has no process)
#   TCP 8 flows    iperf3 -P 8
#   UDP 64 B       iperf3 -u -l 64 -b 0 (64-byte payload, 92-byte IP packets,
#                  as fast as iperf3 sends): sent and received packets/s, loss;
#                  the loss split (from the server namespace's /proc/net/snmp)
#                  into drops at the server's socket and losses before it
#   UDP 64 B fixed iperf3 -u -l 64 at the rate the kernel NAT received in
#                  its unlimited test (or --udp-rate): loss at the same offered
#                  load for every NAT
#   TCP conn/s     bench/conn_rate.py: 32 connections in flight, each
#                  connect, the server's FIN, close (its header says why
#                  the client uses a fixed range of 3000 source ports)
# and the NAT process's cores (CPU seconds per second) in each test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lab="$root/tests/e2e/lab.sh"
connrate="$root/bench/conn_rate.py"
PY=/usr/bin/python3

secs=5
only="unat,kernel,slirp4netns,pasta"
perf_out=""
udp_rate=""
usage() { sed -n '2,16p' "$0" >&2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds)
      [ $# -ge 2 ] || { usage; exit 2; }
      secs="$2"
      shift 2
      ;;
    --quick)
      secs=1
      shift
      ;;
    --only)
      [ $# -ge 2 ] || { usage; exit 2; }
      only="$2"
      shift 2
      ;;
    --udp-rate)
      [ $# -ge 2 ] || { usage; exit 2; }
      udp_rate="$2"
      shift 2
      ;;
    --perf)
      [ $# -ge 2 ] || { usage; exit 2; }
      perf_out="$2"
      shift 2
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage
      exit 2
      ;;
  esac
done
if [ -n "$udp_rate" ] && ! [[ "$udp_rate" =~ ^[1-9][0-9]*$ ]]; then
  echo "--udp-rate: packets per second, a whole number" >&2
  exit 2
fi
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "--seconds: a whole number >= 1" >&2
  exit 2
fi
[ "$(id -u)" -eq 0 ] || { echo "side_by_side: needs root (network namespaces)" >&2; exit 1; }
NATS=()
IFS=, read -r -a want <<<"$only"
# The kernel first: its UDP rate is the fixed rate offered to the others.
for n in kernel unat slirp4netns pasta; do
  for w in "${want[@]}"; do [ "$w" = "$n" ] && NATS+=("$n"); done
done
for w in "${want[@]}"; do
  case "$w" in unat | kernel | slirp4netns | pasta) ;; *)
    echo "--only: unknown NAT '$w' (unat, kernel, slirp4netns, pasta)" >&2
    exit 2
    ;;
  esac
done
[ ${#NATS[@]} -gt 0 ] || { echo "--only: nothing to run" >&2; exit 2; }

tools=(iperf3 ping ip)
for n in "${NATS[@]}"; do
  case "$n" in
    kernel) tools+=(nft) ;;
    slirp4netns) tools+=(slirp4netns) ;;
    pasta) tools+=(pasta) ;;
  esac
done
[ -z "$perf_out" ] || tools+=(perf)
for t in "${tools[@]}"; do
  command -v "$t" >/dev/null || {
    echo "side_by_side: $t not installed (scripts/install-deps.sh)" >&2
    exit 1
  }
done

# One lab at a time on a machine (the e2e tests take the same lock).
exec 9>/run/unat-e2e.lock
flock -w 600 9 || { echo "the lab is busy (/run/unat-e2e.lock)" >&2; exit 1; }

TMP="$(mktemp -d /tmp/unat-side-by-side.XXXXXX)"
PIDS=()     # every process this script started, killed by pid at the end
MY_NS=()    # every namespace this script made
LAB_UP=0
# Whether PID is a live process (a zombie is not).
alive() {
  local st
  st="$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
cleanup() {
  local rc=$? p ns
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then kill -9 "$p" 2>/dev/null || true; fi
  done
  for ns in "${MY_NS[@]}"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  [ "$LAB_UP" = 0 ] || "$lab" down >/dev/null 2>&1 || true
  [ -n "${UNAT_SBS_KEEP:-}" ] && echo "side_by_side: kept $TMP" >&2 || rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "side_by_side: $*" >&2; }

# bg NAME CMD...: runs CMD in the background, output in $TMP/NAME.log, pid
# in PIDS and in $BG.
bg() {
  local name=$1
  shift
  "$@" </dev/null >"$TMP/$name.log" 2>&1 &
  BG=$!
  PIDS+=("$BG")
}
# stop PID: ends one process this script started.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

mkns() {
  ip netns add "$1"
  MY_NS+=("$1")
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
}
delns() {
  local ns=$1 p
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
}

# The client and server namespaces, the server address and the NAT's pid
# (empty for the kernel) of the NAT being measured.
CLIENT_NS="" SERVER_NS="" SERVER=203.0.113.2 NAT_PID="" UNAT_VNET="" UDP_RATE_USED=0

setup_kernel() {
  mkns usbs-kc
  mkns usbs-kr
  mkns usbs-ks
  ip link add kc0 netns usbs-kc type veth peer name kr0 netns usbs-kr
  ip link add kr1 netns usbs-kr type veth peer name ks0 netns usbs-ks
  ip -n usbs-kc addr add 10.77.0.2/24 dev kc0
  ip -n usbs-kr addr add 10.77.0.1/24 dev kr0
  ip -n usbs-kr addr add 203.0.113.1/24 dev kr1
  ip -n usbs-ks addr add 203.0.113.2/24 dev ks0
  for d in "usbs-kc kc0" "usbs-kr kr0" "usbs-kr kr1" "usbs-ks ks0"; do
    set -- $d
    ip -n "$1" link set "$2" up
  done
  ip -n usbs-kc route add default via 10.77.0.1
  ip netns exec usbs-kr sysctl -qw net.ipv4.ip_forward=1
  # The kernel's NAT, in this namespace only.
  ip netns exec usbs-kr nft -f - <<'EOF'
table ip usbs_nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "kr1" masquerade
  }
}
EOF
  CLIENT_NS=usbs-kc SERVER_NS=usbs-ks NAT_PID=""
}
teardown_kernel() { delns usbs-kc; delns usbs-kr; delns usbs-ks; }

setup_unat() {
  LAB_UP=1
  "$lab" up >/dev/null
  NAT_PID="$("$lab" pid)"
  CLIENT_NS=unat-lan SERVER_NS=unat-wan
  # IFF_VNET_HDR is 0x4000 in tun_flags.
  local fl
  fl="$(ip netns exec unat-lan cat /sys/class/net/unat0/tun_flags 2>/dev/null || true)"
  if [ -n "$fl" ]; then
    if (( fl & 0x4000 )); then UNAT_VNET="with IFF_VNET_HDR (offloads)"; else UNAT_VNET="without IFF_VNET_HDR (one packet per read/write)"; fi
    UNAT_VNET="unat0 tun_flags $fl: $UNAT_VNET"
  fi
}
teardown_unat() {
  "$lab" down >/dev/null 2>&1 || true
  LAB_UP=0
}

# host_side PREFIX: the namespace slirp4netns or pasta runs in (PREFIX-h,
# the "host" they translate to) and the server behind it (PREFIX-s), veth.
host_side() {
  local p=$1
  mkns "$p"h
  mkns "$p"s
  mkns "$p"c
  ip link add "${p#usbs-}h0" netns "$p"h type veth peer name "${p#usbs-}s0" netns "$p"s
  ip -n "$p"h addr add 203.0.113.1/24 dev "${p#usbs-}h0"
  ip -n "$p"s addr add 203.0.113.2/24 dev "${p#usbs-}s0"
  ip -n "$p"h link set "${p#usbs-}h0" up
  ip -n "$p"s link set "${p#usbs-}s0" up
  ip -n "$p"h route add default via 203.0.113.2
  # Both forward pings through ICMP datagram ("ping") sockets.
  ip netns exec "$p"h sysctl -qw net.ipv4.ping_group_range="0 2147483647"
  CLIENT_NS="$p"c SERVER_NS="$p"s
}

wait_addr() { # NS DEV: until DEV in NS has an IPv4 address (10 s)
  local i
  for ((i = 0; i < 100; i++)); do
    if ip -n "$1" -4 -o addr show dev "$2" 2>/dev/null | awk '{f=1} END {exit !f}'; then
      return 0
    fi
    sleep 0.1
  done
  log "$2 in $1 got no address"
  return 1
}

setup_slirp4netns() {
  host_side usbs-s
  bg slirp4netns ip netns exec usbs-sh slirp4netns --configure --mtu=65520 \
    --disable-host-loopback --netns-type=path /run/netns/usbs-sc tap0
  NAT_PID=$BG
  wait_addr usbs-sc tap0
}
teardown_slirp4netns() {
  stop "$NAT_PID"
  delns usbs-sc; delns usbs-sh; delns usbs-ss
}

setup_pasta() {
  host_side usbs-p
  # The same addressing as slirp4netns's defaults; no port forwarding.
  # --runas 0: Debian 12's pasta (2023-03-09), changing to nobody as it
  # does by default under root, can no longer join a namespace root made.
  bg pasta ip netns exec usbs-ph pasta -f -q -4 --config-net --runas 0 \
    -a 10.0.2.100 -n 24 -g 10.0.2.2 -i ph0 -I tap0 --mtu 65520 \
    -t none -u none -T none -U none --netns /run/netns/usbs-pc
  NAT_PID=$BG
  wait_addr usbs-pc tap0
  # pasta's --mtu is what its DHCP would offer; set the device's own too.
  ip -n usbs-pc link set tap0 mtu 65520
}
teardown_pasta() {
  stop "$NAT_PID"
  delns usbs-pc; delns usbs-ph; delns usbs-ps
}

declare -A R # R[nat.metric] = figure, or absent
v() { local x="${R[$1]:-}"; echo "${x:--}"; }

cpu_ticks() { # PID: utime+stime of the process, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo ""
}

# json_get FILE EXPR: EXPR over the JSON document d, or nothing on error.
json_get() {
  "$PY" -c 'import json,sys
try:
    d=json.load(open(sys.argv[1]))
    if "error" in d: raise SystemExit(1)
    v=eval(sys.argv[2])
    print(v)
except SystemExit: raise
except Exception: raise SystemExit(1)' "$1" "$2" 2>/dev/null || true
}

# cpu_begin; ...; cpu_end KEY: R[KEY] = the NAT process's cores (CPU
# seconds per second of wall time) over what ran between them.
CPU0="" WALL0=""
cpu_begin() {
  CPU0="" WALL0="$(date +%s.%N)"
  [ -z "$NAT_PID" ] || CPU0="$(cpu_ticks "$NAT_PID")"
}
cpu_end() {
  local c1 w1
  [ -n "$CPU0" ] || return 0
  c1="$(cpu_ticks "$NAT_PID")" w1="$(date +%s.%N)"
  [ -n "$c1" ] || return 0
  R[$1]="$("$PY" -c "print('%.2f' % (($c1 - $CPU0) / $(getconf CLK_TCK) / ($w1 - $WALL0)))")"
}

# udp_counters NS: "InDatagrams,RcvbufErrors" of NS's UDP (/proc/net/snmp).
udp_counters() {
  ip netns exec "$1" awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 }
    else print $c["InDatagrams"] "," $c["RcvbufErrors"] }' /proc/net/snmp 2>/dev/null || true
}

iperf() { # OUT ARGS...: iperf3 client in the client namespace, JSON in OUT
  local out=$1
  shift
  timeout $((secs + 30)) ip netns exec "$CLIENT_NS" iperf3 -c "$SERVER" \
    --connect-timeout 3000 -t "$secs" -J "$@" >"$out" 2>"$out.err" || true
}

# udp_test NAT KEY IPERF_ARGS...: iperf3 -u -l 64 (64-byte payload); sets
# R[NAT.KEY_sent|_recv|_loss] (kpps, kpps, %; the client's "sum" holds the
# packets sent and the server's count of the lost ones), R[NAT.KEY_sock] and
# R[NAT.KEY_path]: where the lost ones went, dropped at the receiving socket
# (the server namespace's Udp RcvbufErrors: iperf3 reads too slowly) or
# before the server's stack (in the NAT or on the way), and R[NAT.cores_KEY].
udp_test() {
  local nat=$1 key=$2 f u0 u1 sent
  shift 2
  f="$TMP/$nat-$key.json"
  u0="$(udp_counters "$SERVER_NS")"
  cpu_begin
  iperf "$f" -u -l 64 "$@"
  cpu_end "$nat.cores_$key"
  u1="$(udp_counters "$SERVER_NS")"
  R[$nat.${key}_sent]="$(json_get "$f" '"%.1f" % (d["end"]["sum"]["packets"]/d["end"]["sum"]["seconds"]/1e3)')"
  R[$nat.${key}_recv]="$(json_get "$f" '"%.1f" % ((d["end"]["sum"]["packets"]-d["end"]["sum"]["lost_packets"])/d["end"]["sum"]["seconds"]/1e3)')"
  R[$nat.${key}_loss]="$(json_get "$f" '"%.1f" % d["end"]["sum"]["lost_percent"]')"
  sent="$(json_get "$f" 'd["end"]["sum"]["packets"]')"
  if [ -n "$sent" ] && [ -n "$u0" ] && [ -n "$u1" ]; then
    read -r "R[$nat.${key}_sock]" "R[$nat.${key}_path]" < <("$PY" -c '
import sys
sent = int(sys.argv[1])
(i0, r0), (i1, r1) = [map(int, a.split(",")) for a in sys.argv[2:4]]
rb = r1 - r0
delivered = i1 - i0
print("%.1f %.1f" % (100.0 * rb / sent, max(0.0, 100.0 * (sent - delivered - rb) / sent)))' "$sent" "$u0" "$u1")
  fi
}

measure() {
  local nat=$1 f
  bg "$nat-iperf3-server" ip netns exec "$SERVER_NS" iperf3 -s -B "$SERVER"
  local srv=$BG
  bg "$nat-conn-server" ip netns exec "$SERVER_NS" "$PY" "$connrate" serve "$SERVER" 7000
  local csrv=$BG
  sleep 0.5
  # A first connection through the NAT before timing anything.
  ip netns exec "$CLIENT_NS" ping -c 1 -W 2 "$SERVER" >/dev/null 2>&1 || true

  # TCP, one flow, with ping and the NAT's CPU time.
  f="$TMP/$nat-tcp1.json"
  bg "$nat-ping" ip netns exec "$CLIENT_NS" ping -q -i 0.01 -w "$secs" "$SERVER"
  local ping=$BG c0="" c1=""
  [ -z "$NAT_PID" ] || c0="$(cpu_ticks "$NAT_PID")"
  cpu_begin
  iperf "$f"
  cpu_end "$nat.cores_tcp1"
  [ -z "$NAT_PID" ] || c1="$(cpu_ticks "$NAT_PID")"
  wait "$ping" 2>/dev/null || true
  R[$nat.tcp1]="$(json_get "$f" '"%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9)')"
  R[$nat.retr1]="$(json_get "$f" 'd["end"]["sum_sent"].get("retransmits", "")')"
  local rtt
  rtt="$(sed -n 's|.* = \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/.*|\2 \3|p' "$TMP/$nat-ping.log")"
  if [ -n "$rtt" ]; then
    R[$nat.ping_avg]="${rtt% *}"
    R[$nat.ping_max]="${rtt#* }"
  fi
  R[$nat.ping_loss]="$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$TMP/$nat-ping.log" |
    awk '{printf "%.1f", $1}')"
  if [ -n "$c0" ] && [ -n "$c1" ] && [ -n "${R[$nat.tcp1]}" ]; then
    local hz gbit
    hz="$(getconf CLK_TCK)"
    R[$nat.cpu]="$("$PY" -c "print('%.2f' % (($c1 - $c0) / $hz))")"
    # Cores per Gbit/s = CPU seconds per Gbit moved (over the whole test).
    gbit="$(json_get "$f" 'd["end"]["sum_received"]["bytes"]*8/1e9')"
    R[$nat.cores_per_gbit]="$("$PY" -c "
g = float('${gbit:-0}')
print('%.3f' % (($c1 - $c0) / $hz / g) if g > 0 else '')")"
  fi

  # TCP, 8 flows.
  f="$TMP/$nat-tcp8.json"
  cpu_begin
  iperf "$f" -P 8
  cpu_end "$nat.cores_tcp8"
  R[$nat.tcp8]="$(json_get "$f" '"%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9)')"

  # UDP, 64-byte payload, as fast as iperf3 sends.
  udp_test "$nat" udp -b 0

  # UDP, 64-byte payload, at a fixed rate: the kernel NAT's received rate
  # of the test above (or --udp-rate), so every NAT is offered the same load.
  local rate="${udp_rate:-}"
  if [ -z "$rate" ]; then
    rate="$("$PY" -c 'import sys
try: print(int(float(sys.argv[1]) * 1000))
except Exception: print(50000)' "$(v kernel.udp_recv)")"
  fi
  UDP_RATE_USED="$rate"
  udp_test "$nat" udpf -b $((rate * 64 * 8))

  # New TCP connections per second.
  f="$TMP/$nat-conn.json"
  cpu_begin
  timeout $((secs + 30)) ip netns exec "$CLIENT_NS" "$PY" "$connrate" run "$SERVER" 7000 \
    --seconds "$secs" --concurrency 32 --ports 20000-22999 >"$f" 2>"$f.err" || true
  cpu_end "$nat.cores_conn"
  R[$nat.conn]="$(json_get "$f" '"%.0f" % d["rate"]')"
  R[$nat.conn_failed]="$(json_get "$f" 'd["failed"]')"

  if [ "$nat" = unat ] && [ -n "$perf_out" ]; then
    log "perf: one more single-flow run, perf record -g on unatd (pid $NAT_PID)"
    f="$TMP/$nat-perf-tcp1.json"
    iperf "$f" -t $((secs + 2)) &
    local ip=$!
    sleep 1
    perf record -q -g -o "$TMP/perf.data" -p "$NAT_PID" -- sleep "$secs" >/dev/null 2>&1 || true
    wait "$ip" || true
    perf report -i "$TMP/perf.data" --stdio --no-children -g none --sort dso \
      >"$TMP/perf-dso.txt" 2>/dev/null || true
    perf report -i "$TMP/perf.data" --stdio --no-children --sort dso,symbol \
      >"$TMP/perf-sym.txt" 2>/dev/null || true
    {
      echo "# perf record -g -p \$(unatd) -- sleep $secs, during iperf3 -c $SERVER (one flow)"
      echo "# that run: $(json_get "$f" '"%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9)') Gbit/s"
      echo "# by shared object ([kernel.kallsyms] is the kernel's share):"
      grep -v '^#' "$TMP/perf-dso.txt" | grep -v '^$' || true
      echo "# perf report --stdio --no-children --sort dso,symbol:"
      cat "$TMP/perf-sym.txt"
    } >"$perf_out"
  fi
  stop "$srv"
  stop "$csrv"
}

# The run.
log "seconds per measurement: $secs; NATs: ${NATS[*]}"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
for nat in "${NATS[@]}"; do
  log "$nat: setting up"
  "setup_$nat"
  log "$nat: measuring (about $((5 * secs + 4)) s)"
  measure "$nat"
  "teardown_$nat"
done
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

# The table.
ratio() { # A B: A/B to 2 places, or -
  "$PY" -c 'import sys
try:
    a, b = float(sys.argv[1]), float(sys.argv[2])
    print("%.2f" % (a / b))
except Exception:
    print("-")' "$1" "$2"
}

echo
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "load average at start: $LOAD_START, at end: $LOAD_END"
echo "unatd: $("$lab" bin)/unatd, modified $(date -r "$("$lab" bin)/unatd" '+%F %T' 2>/dev/null || echo '?')"
echo "each measurement: $secs s"
echo
echo "UDP 64 B unlimited: iperf3 -b 0; at a fixed rate: $((UDP_RATE_USED / 1000)).$(( (UDP_RATE_USED % 1000) / 100 )) kpps offered to every NAT"
echo
echo "| NAT | TCP 1 flow Gbit/s | TCP 8 flows Gbit/s | UDP 64 B unlimited: sent kpps | received kpps | loss % | UDP 64 B fixed rate: loss % | TCP conn/s | ping avg ms | ping max ms | NAT CPU s (1 flow) | cores per Gbit/s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for nat in "${NATS[@]}"; do
  echo "| $nat | $(v "$nat.tcp1") | $(v "$nat.tcp8") | $(v "$nat.udp_sent") | $(v "$nat.udp_recv") | $(v "$nat.udp_loss") | $(v "$nat.udpf_loss") | $(v "$nat.conn") | $(v "$nat.ping_avg") | $(v "$nat.ping_max") | $(v "$nat.cpu") | $(v "$nat.cores_per_gbit") |"
done
echo
echo "Ratio to the kernel NAT (same run):"
echo
echo "| NAT | TCP 1 flow | TCP 8 flows | UDP received pps | TCP conn/s | ping avg |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for nat in "${NATS[@]}"; do
  echo "| $nat | $(ratio "$(v $nat.tcp1)" "$(v kernel.tcp1)") | $(ratio "$(v $nat.tcp8)" "$(v kernel.tcp8)") | $(ratio "$(v $nat.udp_recv)" "$(v kernel.udp_recv)") | $(ratio "$(v $nat.conn)" "$(v kernel.conn)") | $(ratio "$(v $nat.ping_avg)" "$(v kernel.ping_avg)") |"
done
echo
echo "Details: TCP retransmissions (1 flow); ping loss under load; UDP loss split"
echo "into drops at the server's socket (RcvbufErrors) and losses before the server's"
echo "stack; failed connections; the NAT process's cores (CPU s per s) in each test:"
echo
echo "| NAT | retransmits (1 flow) | ping loss % | UDP unlimited: socket drops % | lost before server % | UDP fixed: socket drops % | lost before server % | conn failed | cores: 1 flow | 8 flows | UDP unlimited | UDP fixed | conn/s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for nat in "${NATS[@]}"; do
  echo "| $nat | $(v "$nat.retr1") | $(v "$nat.ping_loss") | $(v "$nat.udp_sock") | $(v "$nat.udp_path") | $(v "$nat.udpf_sock") | $(v "$nat.udpf_path") | $(v "$nat.conn_failed") | $(v "$nat.cores_tcp1") | $(v "$nat.cores_tcp8") | $(v "$nat.cores_udp") | $(v "$nat.cores_udpf") | $(v "$nat.cores_conn") |"
done
if [[ " ${NATS[*]} " == *" unat "* ]]; then
  echo
  echo "Issue 18's targets for unatd (measured here, not asserted):"
  t() { # LABEL VALUE OP LIMIT
    local met
    met="$("$PY" -c 'import sys
try:
    a, op, b = float(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    print("met" if (a >= b if op == ">=" else a <= b) else "not met")
except Exception:
    print("not measured")' "$2" "$3" "$4")"
    echo "  $1: $2 (target $3 $4): $met"
  }
  t "TCP 1 flow / kernel NAT" "$(ratio "$(v unat.tcp1)" "$(v kernel.tcp1)")" ">=" 0.8
  t "TCP 1 flow / slirp4netns" "$(ratio "$(v unat.tcp1)" "$(v slirp4netns.tcp1)")" ">=" 8
  t "UDP 64 B received pps / kernel NAT" "$(ratio "$(v unat.udp_recv)" "$(v kernel.udp_recv)")" ">=" 1
  t "UDP 64 B loss % (unlimited)" "$(v unat.udp_loss)" "<=" 5
  t "UDP 64 B loss % at the kernel's received rate" "$(v unat.udpf_loss)" "<=" 5
  t "unatd cores per Gbit/s" "$(v unat.cores_per_gbit)" "<=" 0.1
fi
echo
echo "Topologies (see the header of bench/side_by_side.sh): unat and kernel are"
echo "L3 NATs on 1500-byte links (kernel: veth with GSO; unatd: TUN devices,"
echo "${UNAT_VNET:-tun_flags not read}); slirp4netns and pasta are L4 proxies on"
echo "a 65520-byte tap, their server-side connection a kernel socket over veth."
