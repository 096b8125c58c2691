#!/usr/bin/env bash
# Live reconfiguration (issue 19 item 3): `unatctl reload` and SIGHUP apply
# tenants added and removed, NAT-PMP and a helper turned on and off, with
# the same unatd (pid unchanged) and the untouched tenant's flows kept. A
# removed tenant's flows, forwards and leases go with it. What cannot change
# live (the outside device) and a tenant whose device cannot be opened
# refuse the whole reload: the old config stays.
source "$(dirname "$0")/lib.sh"
need natpmpc upnpc socat
"$LAB" up
CONF="$("$LAB" config-path)"
PID=$("$LAB" pid)
NS3=unat-lan3

# A third tenant's namespace, made by this test (removed at its end).
EXTRA_NS+=("$NS3")
ip netns add "$NS3"
ip -n "$NS3" link set lo up
ip -n "$NS3" tuntap add dev unat0 mode tun
ip -n "$NS3" addr add 10.77.0.2/24 dev unat0
ip -n "$NS3" link set unat0 up
ip -n "$NS3" route add default via 10.77.0.1
lan3() { ip netns exec "$NS3" "$@"; }

reload() { ctl reload 2>&1; }
same_pid() { [ "$("$LAB" pid)" = "$PID" ] || fail "unatd restarted: pid $("$LAB" pid), was $PID"; }
have_ns() { ctl --json namespaces | json "sum(1 for n in d.get('namespaces', []) if n['name'] == '$1')"; }

mkdir -p "$TMP/wan"
head -c 8000000 /dev/urandom >"$TMP/wan/big.bin"
echo "from the wan" >"$TMP/wan/small.txt"
http_server unat-wan "$TMP/wan" 203.0.113.2 8000

# Flows of lan that must outlive every reload below: an ICMP flow and a
# slow download.
lan ping -n -c 1 -W 2 203.0.113.2 >/dev/null || fail "ping from lan"
icmp_before=$(ctl --json flows --proto icmp --ns lan | json 'd["flows"][0]["external"]')
lan curl -sS --fail -m 60 --limit-rate 1M -o "$TMP/got.bin" http://203.0.113.2:8000/big.bin &
dl=$!
sleep 0.5

# --- NAT-PMP off, then on by reload ----------------------------------------
out=$(lan upnpc -i -s 2>&1) && fail "an IGD answered while UPnP is off: $out"
out=$(timeout 20 ip netns exec unat-lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 60 2>&1) && fail "NAT-PMP answered while off: $out"
grep -q 'the gateway does not support nat-pmp' <<<"$out" || fail "natpmpc while off: $out"
cp "$CONF" "$TMP/base.conf"
nat() { ip netns exec unat-nat "$@"; }
nat curl -s -m 2 http://127.0.0.1:9469/metrics >/dev/null && fail "a metrics endpoint before it is configured"
echo 'helpers { natpmp: true ftp: true upnp: true }' >>"$CONF"
echo 'metrics_listen: "127.0.0.1:9469"' >>"$CONF"
out=$(reload) || fail "reload (natpmp on): $out"
echo "$out" | grep -q "natpmp on" || fail "reload summary: $out"
echo "$out" | grep -q "ftp on" || fail "reload summary: $out"
echo "$out" | grep -q "upnp on" || fail "reload summary: $out"
echo "$out" | grep -q "metrics on 127.0.0.1:9469" || fail "reload summary: $out"
m=$(nat curl -sS -m 5 http://127.0.0.1:9469/metrics) || fail "GET /metrics after the reload"
grep -q '^unat_reloads_total 1$' <<<"$m" || fail "metrics: $(grep reloads <<<"$m")"
same_pid
out=$(lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 60 2>&1) || fail "natpmpc after NAT-PMP on: $out"
echo "$out" | grep -q "Mapped public port 8080 protocol TCP to local port 80" || fail "natpmpc: $out"
out2=$(lan2 natpmpc -g 10.77.0.1 -a 8081 80 tcp 60 2>&1) || fail "natpmpc from lan2: $out2"
out=$(lan upnpc -i -s 2>&1) || fail "upnpc -s after UPnP on: $out"
grep -q 'ExternalIPAddress = 203.0.113.1' <<<"$out" || fail "upnpc -s: $out"
out=$(lan upnpc -i -a 10.77.0.2 81 8090 TCP 600 2>&1) || fail "upnpc -a: $out"
grep -q 'external 203.0.113.1:8090 TCP is redirected to internal 10.77.0.2:81' <<<"$out" || fail "upnpc -a: $out"
ok "UPnP and the metrics endpoint turned on by the same reload: upnpc -s finds the IGD, upnpc -a maps 8090, GET /metrics answers"
ok "NAT-PMP turned on by unatctl reload (pid $PID unchanged): natpmpc maps 8080 from lan and 8081 from lan2"

# --- a helper on, then off ------------------------------------------------------
helper_of_21() { # the HELPER column of lan's flow to 203.0.113.2:21
  ctl --json flows --ns lan --proto tcp | json "[f.get('helper', '') for f in d.get('flows', []) if f['remote'] == '203.0.113.2:21'][-1:]"
}
bg unat-wan socat TCP-LISTEN:21,bind=203.0.113.2,reuseaddr,fork EXEC:'echo 220 hello'
wait_tcp unat-wan 203.0.113.2 21
lan socat -u TCP:203.0.113.2:21,connect-timeout=3 - >/dev/null || fail "connect to 21"
[ "$(helper_of_21)" = "['ftp']" ] || fail "ftp helper not on the port-21 flow: $(helper_of_21); $(ctl flows --ns lan)"

# --- a tenant added --------------------------------------------------------------
lan3 ping -n -c 1 -W 1 203.0.113.2 >/dev/null 2>&1 && fail "lan3 reaches the WAN before it is configured"
echo "inside { name: \"lan3\" device: \"unat0\" netns: \"$NS3\" address: \"10.77.0.1/24\" }" >>"$CONF"
out=$(reload) || fail "reload (lan3): $out"
echo "$out" | grep -q "+lan3" || fail "reload summary: $out"
same_pid
[ "$(have_ns lan3)" = 1 ] || fail "lan3 not listed: $(ctl namespaces)"
lan3 ping -n -c 2 -i 0.2 -W 2 203.0.113.2 >/dev/null || fail "ping from lan3"
[ "$(lan3 curl -sS -m 5 http://203.0.113.2:8000/small.txt)" = "from the wan" ] || fail "curl from lan3"
ok "tenant lan3 added live: ping and curl through unatd from its namespace"

# --- a helper turned off: new connections do not get it ----------------------------
sed -i 's/ftp: true/ftp: false/' "$CONF"
out=$(reload) || fail "reload (ftp off): $out"
echo "$out" | grep -q "ftp off" || fail "reload summary: $out"
lan socat -u TCP:203.0.113.2:21,connect-timeout=3,sourceport=40021 - >/dev/null || fail "connect to 21 after ftp off"
[ "$(helper_of_21)" = "['']" ] || fail "a new port-21 flow still gets the ftp helper: $(helper_of_21)"
stats=$(ctl stats)
grep -q "ftp/" <<<"$stats" && fail "ftp counters still listed with ftp off"
ok "ftp helper turned off live: a new connection to port 21 has no helper"

# --- a tenant removed: its flows, forwards and leases go -------------------------
lan2 ping -n -c 1 -W 2 203.0.113.2 >/dev/null || fail "ping from lan2"
ctl forward add tcp 7070 lan2 10.77.0.2 80 >/dev/null || fail "forward add 7070 lan2"
fw=$(ctl forwards)
grep -Eq "^tcp +203\.0\.113\.1:8081 +lan2 .* natpmp " <<<"$fw" || fail "lan2 lease missing before: $fw"
grep -v "name: \"lan2\"" "$CONF" >"$TMP/no_lan2.conf" && cp "$TMP/no_lan2.conf" "$CONF"
"$LAB" hup
for ((i = 0; i < 50; i++)); do
  [ "$(have_ns lan2)" = 0 ] && break
  sleep 0.1
done
[ "$(have_ns lan2)" = 0 ] || fail "lan2 still there after SIGHUP: $(ctl namespaces)"
same_pid
fw=$(ctl forwards)
grep -q " lan2 " <<<"$fw" && fail "lan2's forwards or leases stayed: $fw"
grep -Eq "^tcp +203\.0\.113\.1:8080 +lan .* natpmp " <<<"$fw" || fail "lan's lease lost: $fw"
flows=$(ctl --json flows)
[ "$(json "sum(1 for f in d.get('flows', []) if f['ns'] == 'lan2')" <<<"$flows")" = 0 ] ||
  fail "flows of lan2 stayed"
log=$("$LAB" log)
grep -q "reload (SIGHUP): done: .*-lan2" <<<"$log" || fail "no reload line for lan2's removal: $(tail -3 <<<"$log")"
grep -Eq "inside lan2 removed \(device unat0\): [1-9][0-9]* flow\(s\) ended" <<<"$log" || fail "no removal line: $(grep 'lan2' <<<"$log" | tail -3)"
grep -q "portmap: natpmp deleted ns lan2 client 10.77.0.2 tcp 203.0.113.1:8081" <<<"$log" ||
  fail "the lan2 lease's deletion is not logged"
lan2 ping -n -c 1 -W 1 203.0.113.2 >/dev/null 2>&1 && fail "lan2 still reaches the WAN"
ok "tenant lan2 removed by SIGHUP: its forward, lease and flows are gone (logged); lan keeps its lease"

# --- refused: the outside device cannot change live --------------------------
cp "$CONF" "$TMP/good.conf"
sed -i 's/device: "unatw0"/device: "unatw9"/' "$CONF"
echo 'forward { proto: TCP external_port: 9191 namespace: "lan" inside_address: "10.77.0.2" inside_port: 80 }' >>"$CONF"
set +e
out=$(reload)
rc=$?
set -e
[ "$rc" = 1 ] || fail "reload with another outside device: rc $rc: $out"
grep -q 'outside.device ("unatw0" -> "unatw9") cannot change while unatd runs' <<<"$out" ||
  fail "refusal does not name the field: $out"
ctl forwards | grep -q ":9191 " && fail "the refused reload's forward was applied"
grep -q 'reload (unatctl): refused: outside.device' <<<"$("$LAB" log)" || fail "refusal not logged"
ok "outside device change refused whole, naming the field: $out"

# --- refused: a tenant whose device cannot be opened ----------------------------
cp "$TMP/good.conf" "$CONF"
echo 'inside { name: "lan4" device: "unat0" netns: "unat-nosuch" address: "10.77.0.1/24" }' >>"$CONF"
echo 'forward { proto: TCP external_port: 9191 namespace: "lan" inside_address: "10.77.0.2" inside_port: 80 }' >>"$CONF"
set +e
out=$(reload)
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "inside lan4: device unat0 in netns unat-nosuch" <<<"$out" ||
  fail "a tenant that cannot open: rc $rc: $out"
[ "$(have_ns lan4)" = 0 ] || fail "lan4 listed"
ctl forwards | grep -q ":9191 " && fail "the refused reload's forward was applied"
refused=$(ctl --json stats | json 'int(d["stats"].get("reloads_refused", 0))')
[ "$refused" -ge 2 ] || fail "refusals counted: $refused"
ok "a tenant whose device cannot be opened refuses the reload: $out"

# --- lan2 back, NAT-PMP off ------------------------------------------------
cp "$TMP/base.conf" "$CONF" # lan and lan2, no helpers, no lan3
out=$(reload) || fail "reload (back to base): $out"
for w in "+lan2" "-lan3" "natpmp off (1 lease(s) deleted)" "upnp off (1 lease(s) deleted)" "metrics endpoint off"; do
  grep -qF -- "$w" <<<"$out" || fail "reload summary lacks '$w': $out"
done
same_pid
lan2 ping -n -c 2 -i 0.2 -W 2 203.0.113.2 >/dev/null || fail "ping from lan2 after it came back"
out=$(timeout 20 ip netns exec unat-lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 60 2>&1) && fail "NAT-PMP answers after off: $out"
grep -q 'the gateway does not support nat-pmp' <<<"$out" || fail "natpmpc after off: $out"
fw=$(ctl forwards)
grep -q ":8080 " <<<"$fw" && fail "lan's NAT-PMP lease stayed with NAT-PMP off: $fw"
grep -q ":8090 " <<<"$fw" && fail "lan's UPnP lease stayed with UPnP off: $fw"
out=$(lan upnpc -i -s 2>&1) && fail "an IGD answers after UPnP off: $out"
nat curl -s -m 2 http://127.0.0.1:9469/metrics >/dev/null && fail "the metrics endpoint still answers"
[ "$(have_ns lan3)" = 0 ] || fail "lan3 still listed"
ok "back to the first config: lan2 added again and reachable, lan3 removed, NAT-PMP and UPnP off with their leases deleted, the metrics endpoint closed"

# --- lan's flows lived through all of it -------------------------------------------
wait "$dl" || fail "the download across the reloads failed"
cmp -s "$TMP/got.bin" "$TMP/wan/big.bin" || fail "the download across the reloads is corrupted"
icmp_after=$(ctl --json flows --proto icmp --ns lan | json 'd["flows"][0]["external"]' 2>/dev/null || echo none)
lan ping -n -c 1 -W 2 203.0.113.2 >/dev/null || fail "ping from lan at the end"
icmp_now=$(ctl --json flows --proto icmp --ns lan | json 'd["flows"][0]["external"]')
[ "$icmp_before" = "$icmp_now" ] || fail "lan's ICMP mapping changed: $icmp_before -> $icmp_now ($icmp_after)"
same_pid
reloads=$(ctl --json stats | json 'int(d["stats"]["reloads"])')
ok "lan's 8 MB download spanned $reloads reloads intact; its ICMP mapping $icmp_now stayed; one unatd (pid $PID)"
