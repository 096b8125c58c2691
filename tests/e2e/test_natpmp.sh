#!/usr/bin/env bash
# NAT-PMP with the real client (natpmpc, miniupnpc's libnatpmp): the external
# address; TCP and UDP mappings that the WAN really reaches; lifetime 0 closes
# the path; both tenants map the same inside port and get different external
# ports, each reaching its own tenant; a restart keeps the leases.
source "$(dirname "$0")/lib.sh"
need natpmpc
UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true pcp: true }' "$LAB" up

# mapped_port OUTPUT: the public port natpmpc reports.
mapped_port() { sed -n 's/^Mapped public port \([0-9]*\) protocol .*/\1/p' <<<"$1"; }
epoch_of() { sed -n 's/^epoch = \([0-9]*\)$/\1/p' <<<"$1" | tail -n 1; }

out=$(lan natpmpc -g 10.77.0.1 2>&1) || fail "natpmpc -g: $out"
grep -q '^Public IP address : 203\.0\.113\.1$' <<<"$out" || fail "external address: $out"
ok "natpmpc -g 10.77.0.1 prints 203.0.113.1"

mkdir -p "$TMP/lan" "$TMP/lan2"
echo "served by lan" >"$TMP/lan/who.txt"
echo "served by lan2" >"$TMP/lan2/who.txt"
http_server unat-lan "$TMP/lan" 10.77.0.2 80
http_server unat-lan2 "$TMP/lan2" 10.77.0.2 80

wan curl -s -m 2 -o /dev/null http://203.0.113.1:8080/who.txt &&
  fail "WAN reached 8080 before any mapping"

out=$(lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 3600 2>&1) || fail "map tcp: $out"
grep -q '^Mapped public port 8080 protocol TCP to local port 80 liftime 3600$' <<<"$out" ||
  fail "tcp mapping: $out"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8080/who.txt)" = "served by lan" ] ||
  fail "8080 does not reach lan"
ok "natpmpc -a 8080 80 tcp 3600: WAN -> 203.0.113.1:8080 -> lan:80"

# The other tenant maps the same inside port: a different external port.
out=$(lan2 natpmpc -g 10.77.0.1 -a 8080 80 tcp 3600 2>&1) || fail "lan2 map: $out"
p2=$(mapped_port "$out")
[ -n "$p2" ] && [ "$p2" != 8080 ] || fail "lan2 got port '$p2': $out"
[ "$(wan curl -sS -m 5 "http://203.0.113.1:$p2/who.txt")" = "served by lan2" ] ||
  fail "$p2 does not reach lan2"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8080/who.txt)" = "served by lan" ] ||
  fail "8080 stopped reaching lan"
ok "lan2 maps the same inside port: 203.0.113.1:$p2 -> lan2:80, 8080 still -> lan"

ctl forwards | grep -Eq "^tcp +203\.0\.113\.1:8080 +lan +10\.77\.0\.2:80 +natpmp +lease +[0-9.]+s +10\.77\.0\.2 " ||
  fail "forwards table: $(ctl forwards)"
ctl --json forwards >"$TMP/fw.json"
[ "$(json '[f["owner_client"] for f in d["forwards"] if f["external_port"] == '"$p2"'][0]' <"$TMP/fw.json")" = 10.77.0.2 ] ||
  fail "JSON: $(cat "$TMP/fw.json")"
ok "unatctl forwards: owner natpmp, origin lease, client, remaining lifetime"

# UDP.
bg unat-lan socat -T 10 UDP4-RECVFROM:6000,bind=10.77.0.2,fork EXEC:/bin/cat
wait_udp unat-lan 6000
out=$(lan natpmpc -g 10.77.0.1 -a 16000 6000 udp 600 2>&1) || fail "map udp: $out"
grep -q '^Mapped public port 16000 protocol UDP to local port 6000 liftime 600$' <<<"$out" ||
  fail "udp mapping: $out"
[ "$(echo ping-udp | wan socat -T 3 - UDP4:203.0.113.1:16000)" = "ping-udp" ] ||
  fail "UDP mapping does not answer"
ok "natpmpc -a 16000 6000 udp 600: UDP echo through the mapping"

# A renewal keeps the port.
out=$(lan natpmpc -g 10.77.0.1 -a 0 80 tcp 7200 2>&1) || fail "renew: $out"
[ "$(mapped_port "$out")" = 8080 ] || fail "renewal moved the port: $out"
ok "renewal keeps 8080"

# Lifetime 0 deletes; the path closes, the other tenant's stays.
out=$(lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 0 2>&1) || fail "delete: $out"
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8080/who.txt &&
  fail "8080 still reachable after delete"
[ "$(wan curl -sS -m 5 "http://203.0.113.1:$p2/who.txt")" = "served by lan2" ] ||
  fail "lan2's mapping broke"
ctl forwards | grep -q ":8080 " && fail "8080 still listed: $(ctl forwards)"
ok "lifetime 0: 8080 closed, lan2's $p2 still works"

# Restart: leases survive with their port; the epoch goes on counting.
e1=$(epoch_of "$(lan2 natpmpc -g 10.77.0.1 2>&1)")
sleep 1
"$LAB" restart
ctl forwards | grep -Eq "^tcp +203\.0\.113\.1:$p2 +lan2 +10\.77\.0\.2:80 +natpmp +lease " ||
  fail "lease lost in restart: $(ctl forwards)"
[ "$(wan curl -sS -m 5 "http://203.0.113.1:$p2/who.txt")" = "served by lan2" ] ||
  fail "$p2 does not reach lan2 after restart"
out=$(lan2 natpmpc -g 10.77.0.1 -a 0 80 tcp 3600 2>&1) || fail "renew after restart: $out"
[ "$(mapped_port "$out")" = "$p2" ] || fail "renewal after restart moved the port: $out"
e2=$(epoch_of "$out")
[ -n "$e1" ] && [ -n "$e2" ] && [ "$e2" -ge "$e1" ] || fail "epoch went back: $e1 -> $e2"
ok "restart keeps lan2's lease on $p2 (epoch $e1 -> $e2)"

# Delete all (internal port 0) removes this client's TCP mappings only.
out=$(lan natpmpc -g 10.77.0.1 -a 0 0 tcp 0 2>&1) || fail "delete all: $out"
ctl forwards | grep -Eq "^udp +203\.0\.113\.1:16000 " || fail "UDP mapping lost: $(ctl forwards)"
ok "delete-all of TCP leaves the UDP mapping"
