#!/usr/bin/env bash
# A real uplink (docs/deployment.md): the example scripts
# docs/examples/routed-pool.sh and container-host.sh, run for real on a
# "host" namespace that routes, plain forwarding, to an upstream router,
# which routes to an "internet" namespace with a server. The tenants reach
# the server two router hops away (ping, TCP, UDP) and the server sees the
# external address; a static forward is reached from the internet; no NAT
# or firewall rule exists in any namespace; `down` removes everything.
#
#   upl-inet  192.0.2.80/24 (server: HTTP 80 /whoami, UDP 5000, ICMP log)
#      | inet0 -- isp1
#   upl-isp   192.0.2.1/24, 198.51.100.1/24; ip_forward; the "upstream"
#      | isp0 -- uplink0
#   upl-host  198.51.100.2/24, default via 198.51.100.1 (the host: the
#             example scripts run here, UNAT_HOST_NETNS=upl-host)
source "$(dirname "$0")/lib.sh"
need nft curl socat ping
EX="$E2E_DIR/../../docs/examples"
export UNAT_BIN_DIR="$BIN"
HOST=upl-host ISP=upl-isp INET=upl-inet
SERVER=192.0.2.80
RP_RUN="$TMP/rp"
CH_RUN="$TMP/ch"

host() { ip netns exec "$HOST" "$@"; }
isp() { ip netns exec "$ISP" "$@"; }
inet() { ip netns exec "$INET" "$@"; }
rp() { UNAT_HOST_NETNS="$HOST" UNAT_RUN_DIR="$RP_RUN" "$EX/routed-pool.sh" "$@"; }
ch() {
  UNAT_HOST_NETNS="$HOST" UNAT_UPLINK=uplink0 UNAT_RUN_DIR="$CH_RUN" \
    "$EX/container-host.sh" "$@"
}

# Every namespace the scripts or this test make. None may exist already:
# the test removes them all at the end.
ALL=("$HOST" "$ISP" "$INET" pool-t1 pool-t2 ctr-a ctr-b)
for ns in "${ALL[@]}"; do
  [ ! -e "/run/netns/$ns" ] || fail "namespace $ns exists already"
done

# Cleanup, also on failure: the scripts' own down first (by pid, by their
# undo lists), then lib.sh's (every namespace here, by pid and name).
EXTRA_NS+=("${ALL[@]}")
_uplink_cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    for d in "$RP_RUN" "$CH_RUN"; do
      [ -f "$d/unatd.log" ] || continue
      echo "--- $d/unatd.log:" >&2
      tail -n 20 "$d/unatd.log" >&2
    done
  fi
  set +e # (errexit would end the trap at the next failing command)
  rp down >/dev/null 2>&1
  ch down >/dev/null 2>&1
  (exit "$rc") # lib.sh's cleanup reads the test's status from $?
  _cleanup
}
trap _uplink_cleanup EXIT

mkns() {
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
    net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
}
mkns "$HOST"
mkns "$ISP"
mkns "$INET"
ip link add uplink0 netns "$HOST" type veth peer name isp0 netns "$ISP"
ip link add isp1 netns "$ISP" type veth peer name inet0 netns "$INET"
ip -n "$HOST" addr add 198.51.100.2/24 dev uplink0
ip -n "$ISP" addr add 198.51.100.1/24 dev isp0
ip -n "$ISP" addr add 192.0.2.1/24 dev isp1
ip -n "$INET" addr add "$SERVER/24" dev inet0
for l in "$HOST uplink0" "$ISP isp0" "$ISP isp1" "$INET inet0"; do
  read -r ns dev <<<"$l"
  ip -n "$ns" link set "$dev" up
done
ip -n "$HOST" route add default via 198.51.100.1
ip -n "$INET" route add default via 192.0.2.1
isp sysctl -qw net.ipv4.ip_forward=1
# The host checks source addresses strictly, as many hosts do: the scripts'
# routes and per-device settings must pass it.
host sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1 >/dev/null
# And does not forward yet (a new namespace may inherit the machine's value).
host sysctl -qw net.ipv4.ip_forward=0
bg "$INET" "$PY" "$E2E_DIR/uplink_server.py" --http 80 --udp 5000 --icmp-log "$TMP/icmp.log"
wait_tcp "$INET" "$SERVER" 80
wait_udp "$INET" 5000
host ping -c 1 -W 2 "$SERVER" >/dev/null || fail "the host cannot reach the server (the test's network)"
ok "network: tenant -> [unatd] -> host $HOST -> upstream $ISP -> $SERVER in $INET"

# no_rules NS...: no nftables ruleset and no iptables rule in each.
no_rules() {
  local ns out
  for ns in "$@"; do
    out="$(ip netns exec "$ns" nft list ruleset)" || fail "nft list ruleset in $ns failed"
    [ -z "$out" ] || fail "nft ruleset in $ns: $out"
    out="$(ip netns exec "$ns" cat /proc/net/ip_tables_names 2>/dev/null || true)"
    [ -z "$out" ] || fail "iptables tables in $ns: $out"
    if command -v iptables-save >/dev/null; then
      out="$(ip netns exec "$ns" iptables-save 2>/dev/null | grep -E '^-A' || true)"
      [ -z "$out" ] || fail "iptables rules in $ns: $out"
    fi
  done
}

# whoami NS: the server's view of a TCP connection from NS ("ADDR PORT").
whoami_tcp() { ip netns exec "$1" curl -sS -m 5 "http://$SERVER/whoami"; }
whoami_udp() { echo hi | ip netns exec "$1" socat -T 3 - "UDP4:$SERVER:5000"; }
# pinged_from NS: pings the server from NS; prints the source it saw.
pinged_from() {
  : >"$TMP/icmp.log"
  ip netns exec "$1" ping -c 1 -W 2 "$SERVER" >/dev/null || fail "ping from $1: no answer"
  sleep 0.2
  sort -u "$TMP/icmp.log"
}
# in_list ADDR LIST...: ADDR is one of LIST.
in_list() {
  local a=$1 x
  shift
  for x in "$@"; do [ "$x" = "$a" ] && return 0; done
  return 1
}

# check_tenant NS CTL EXPECT...: ping, TCP and UDP from tenant NS reach the
# server, which sees one of the addresses EXPECT (and never the inside
# one); unatd (its ctl function CTL) lists the TCP flow under the external
# address and port the server saw. Sets SEEN to the UDP peer the server saw
# ("ADDR PORT"). (Not run in $(...): errexit must hold.)
check_tenant() {
  local ns=$1 ctlf=$2 seen addr port
  shift 2
  seen="$(pinged_from "$ns")"
  in_list "$seen" "$@" || fail "ping from $ns: the server saw \"$seen\", not one of $*"
  seen="$(whoami_tcp "$ns")" || fail "curl from $ns failed"
  read -r addr port <<<"$seen"
  in_list "$addr" "$@" || fail "TCP from $ns: the server saw \"$seen\""
  $ctlf --json flows --proto tcp >"$TMP/flows.json"
  json "[f for f in d['flows'] if f['external'] == '$addr:$port' and f['remote'] == '$SERVER:80'][0]" \
    <"$TMP/flows.json" >/dev/null || fail "no TCP flow $addr:$port -> $SERVER:80: $(cat "$TMP/flows.json")"
  seen="$(whoami_udp "$ns")" || fail "UDP from $ns failed"
  read -r addr port <<<"$seen"
  in_list "$addr" "$@" || fail "UDP from $ns: the server saw \"$seen\""
  SEEN="$addr $port"
}

# unatd_alive PID: PID is a unatd that has not exited (a zombie has).
unatd_alive() {
  [ "$(cat "/proc/$1/comm" 2>/dev/null)" = unatd ] &&
    ! grep -qE '^State:[[:space:]]+[ZX]' "/proc/$1/status" 2>/dev/null
}

# --- 1. A routed pool (routed-pool.sh) ---
host_rules_before="$(host ip rule show)"
rp up >"$TMP/rp-up.log" 2>&1 || fail "routed-pool.sh up: $(cat "$TMP/rp-up.log")"
rpctl() { rp ctl "$@"; }
POOL=(203.0.113.9 203.0.113.10 203.0.113.11 203.0.113.12)
for a in "${POOL[@]}"; do
  grep -q "dev unatp0" <<<"$(host ip route show "$a/32")" || fail "no route $a/32 dev unatp0 on the host"
  grep -q "inet $a/" <<<"$(host ip -4 addr show)" && fail "$a is assigned to a device of the host"
done
[ "$(host sysctl -n net.ipv4.ip_forward)" = 1 ] || fail "routed-pool.sh up: ip_forward not 1"
ok "routed-pool.sh up: a /32 route per pool address into unatp0, ip_forward 1"

# As long as the upstream does not route the pool to the host, the replies
# have nowhere to go: what docs/unprivileged.md's literal setup gets.
t1() { ip netns exec pool-t1 "$@"; }
t1 ping -c 1 -W 1 "$SERVER" >/dev/null 2>&1 &&
  fail "a ping came back while the upstream did not route the pool"
ok "upstream without a route for the pool: the ping goes nowhere"
isp ip route add 203.0.113.8/29 via 198.51.100.2

check_tenant pool-t1 rpctl "${POOL[@]}"
out1="$SEEN"
ok "pool-t1 -> $SERVER: ping, TCP and UDP; the server sees the pool address ($out1)"
check_tenant pool-t2 rpctl "${POOL[@]}"
out2="$SEEN"
ok "pool-t2 (the same inside addresses) -> $SERVER: ping, TCP and UDP ($out2)"

mkdir -p "$TMP/www"
echo "served by pool-t1" >"$TMP/www/who.txt"
http_server pool-t1 "$TMP/www" 10.1.0.2 80
[ "$(inet curl -sS -m 5 http://203.0.113.9:8080/who.txt)" = "served by pool-t1" ] ||
  fail "the forward 203.0.113.9:8080 from the internet does not reach pool-t1"
ok "static forward: $INET -> 203.0.113.9:8080 -> pool-t1 10.1.0.2:80"
no_rules "$HOST" "$ISP" "$INET" pool-t1 pool-t2
ok "no nftables ruleset, no iptables rule in $HOST $ISP $INET pool-t1 pool-t2"

rp_pid="$(rp pid)"
rp down || fail "routed-pool.sh down"
unatd_alive "$rp_pid" &&
  fail "unatd (pid $rp_pid) still runs after down"
for ns in pool-t1 pool-t2; do [ ! -e "/run/netns/$ns" ] || fail "down left $ns"; done
host ip link show unatp0 >/dev/null 2>&1 && fail "down left unatp0"
[ -z "$(host ip route show 203.0.113.9/32)" ] || fail "down left the pool's routes"
[ "$(host sysctl -n net.ipv4.ip_forward)" = 0 ] || fail "down did not restore ip_forward"
[ ! -e "$RP_RUN" ] || fail "down left $RP_RUN: $(ls "$RP_RUN")"
rp down || fail "a second routed-pool.sh down failed"
ok "routed-pool.sh down: unatd, namespaces, device, routes, ip_forward, run dir gone; twice is fine"
isp ip route del 203.0.113.8/29 via 198.51.100.2

# --- 1b. The same pool on the uplink's own subnet: proxy ARP ---
sed 's/203\.0\.113\./198.51.100./g' "$EX/routed-pool.textproto" >"$TMP/onlink.textproto"
ONLINK=(198.51.100.9 198.51.100.10 198.51.100.11 198.51.100.12)
UNAT_CONFIG="$TMP/onlink.textproto" UNAT_PROXY_ARP=1 UNAT_UPLINK=uplink0 rp up \
  >"$TMP/rp-up2.log" 2>&1 || fail "routed-pool.sh up (proxy ARP): $(cat "$TMP/rp-up2.log")"
check_tenant pool-t1 rpctl "${ONLINK[@]}"
out1="$SEEN"
ok "on-link pool, proxy ARP: pool-t1 -> $SERVER: ping, TCP, UDP ($out1)"
mac="$(host cat /sys/class/net/uplink0/address)"
grep -qi "lladdr $mac" <<<"$(isp ip neigh show "${out1% *}" dev isp0)" ||
  fail "upstream's ARP entry for ${out1% *}: $(isp ip neigh show dev isp0) (want $mac)"
ok "the upstream resolved ${out1% *} to the host's uplink MAC $mac"
rp down || fail "routed-pool.sh down (proxy ARP)"
[ -z "$(host ip neigh show proxy)" ] || fail "down left proxy entries: $(host ip neigh show proxy)"
[ "$(host ip rule show)" = "$host_rules_before" ] || fail "the host's rules changed"
ok "routed-pool.sh down (proxy ARP): the proxy entries are gone"

# --- 2. A container host on its own uplink address (container-host.sh) ---
EXT=198.51.100.2
ch up >"$TMP/ch-up.log" 2>&1 || fail "container-host.sh up: $(cat "$TMP/ch-up.log")"
chctl() { ch ctl "$@"; }
rules="$(host ip rule show)"
grep -q "lookup local" <<<"$rules" || fail "no local rule: $rules"
grep -qE '^0:.*lookup local' <<<"$rules" && fail "the local rule still comes first: $rules"
ok "container-host.sh up: $(grep -c 'lookup 4301' <<<"$rules") rules into table 4301, local rule after them"
# The host checks unatd's packets strictly, and the rules are what passes
# them: a source port of unatd's share routes back into unatc0, one of the
# host's own range does not (a packet from unatc0 with it is dropped).
[ "$(host sysctl -n net.ipv4.conf.unatc0.rp_filter)" = 1 ] || fail "unatc0's rp_filter is not strict"
host ip route get "$SERVER" from "$EXT" iif unatc0 ipproto tcp sport 61001 dport 80 >/dev/null ||
  fail "a packet from unatc0 with port 61001 fails the host's source check"
host ip route get "$SERVER" from "$EXT" iif unatc0 ipproto tcp sport 40000 dport 80 >/dev/null 2>&1 &&
  fail "a packet from unatc0 with the host's port 40000 passes the host's source check"
ok "strict rp_filter on unatc0: port 61001 passes the source check, the host's port 40000 does not"

for ns in ctr-a ctr-b; do
  check_tenant "$ns" chctl "$EXT"
  out="$SEEN"
  port="${out#* }"
  [ "$port" -ge 61000 ] && [ "$port" -le 65534 ] ||
    fail "UDP from $ns: external port $port outside unatd's share 61000-65534"
  ok "$ns -> $SERVER: ping, TCP and UDP; the server sees the host's address ($out)"
done

# The host keeps its address: its own connections (ephemeral ports, below
# unatd's share) and its own services.
seen="$(host curl -sS -m 5 "http://$SERVER/whoami")" || fail "the host's own curl failed"
[ "${seen% *}" = "$EXT" ] && [ "${seen#* }" -lt 61000 ] || fail "the host's own curl: the server saw $seen"
bg "$HOST" socat TCP4-LISTEN:2222,bind="$EXT",reuseaddr,fork SYSTEM:'echo host-service'
wait_tcp "$HOST" "$EXT" 2222
[ "$(inet socat -T 3 - "TCP4:$EXT:2222" </dev/null)" = host-service ] ||
  fail "the host's own service on $EXT:2222 is not reachable from the internet"
inet ping -c 1 -W 2 "$EXT" >/dev/null || fail "ping from the internet to $EXT: no answer"
ok "the host still uses $EXT: its own curl (port ${seen#* }), its service on 2222; pings answered"

mkdir -p "$TMP/www2"
echo "served by ctr-a" >"$TMP/www2/who.txt"
http_server ctr-a "$TMP/www2" 10.88.1.2 80
[ "$(inet curl -sS -m 5 "http://$EXT:8080/who.txt")" = "served by ctr-a" ] ||
  fail "the forward $EXT:8080 from the internet does not reach ctr-a"
ok "static forward: $INET -> $EXT:8080 -> ctr-a 10.88.1.2:80"
no_rules "$HOST" "$ISP" "$INET" ctr-a ctr-b
ok "no nftables ruleset, no iptables rule in $HOST $ISP $INET ctr-a ctr-b"

ch_pid="$(ch pid)"
ch down || fail "container-host.sh down"
unatd_alive "$ch_pid" &&
  fail "unatd (pid $ch_pid) still runs after down"
for ns in ctr-a ctr-b; do [ ! -e "/run/netns/$ns" ] || fail "down left $ns"; done
host ip link show unatc0 >/dev/null 2>&1 && fail "down left unatc0"
[ "$(host ip rule show)" = "$host_rules_before" ] ||
  fail "the host's rules after down: $(host ip rule show) (before: $host_rules_before)"
[ -z "$(host ip route show table 4301)" ] || fail "down left table 4301"
[ "$(host sysctl -n net.ipv4.ip_forward)" = 0 ] || fail "down did not restore ip_forward"
[ ! -e "$CH_RUN" ] || fail "down left $CH_RUN: $(ls "$CH_RUN")"
ok "container-host.sh down: unatd, namespaces, device, rules, table, ip_forward, run dir gone"
