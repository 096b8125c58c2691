#!/usr/bin/env bash
# Static port forwards added and removed at run time with unatctl: the WAN
# reaches the inside server through 203.0.113.1:8080 while the forward is
# there, and not before or after. Forwards to each tenant stay apart.
source "$(dirname "$0")/lib.sh"
"$LAB" up

mkdir -p "$TMP/lan" "$TMP/lan2"
echo "served by lan" >"$TMP/lan/who.txt"
echo "served by lan2" >"$TMP/lan2/who.txt"
http_server unat-lan "$TMP/lan" 10.77.0.2 80
http_server unat-lan2 "$TMP/lan2" 10.77.0.2 80

wan curl -s -m 2 -o /dev/null http://203.0.113.1:8080/who.txt &&
  fail "WAN reached 8080 before any forward"
ok "no forward: 203.0.113.1:8080 unreachable"

ctl forward add tcp 8080 lan 10.77.0.2 80 >/dev/null || fail "forward add"
ctl forward add tcp 8081 lan2 10.77.0.2 80 --description "lan2 web" >/dev/null ||
  fail "forward add lan2"
ctl forwards | grep -Eq "^tcp +\*:8080 +lan +10\.77\.0\.2:80 +static +runtime" ||
  fail "forwards table: $(ctl forwards)"
ctl --json forwards >"$TMP/fw.json"
[ "$(json 'len(d["forwards"])' <"$TMP/fw.json")" -eq 2 ] || fail "$(cat "$TMP/fw.json")"
[ "$(json '[f["description"] for f in d["forwards"] if f["external_port"] == 8081][0]' <"$TMP/fw.json")" = "lan2 web" ] ||
  fail "description lost: $(cat "$TMP/fw.json")"
ok "forwards listed (table and JSON)"

[ "$(wan curl -sS -m 5 http://203.0.113.1:8080/who.txt)" = "served by lan" ] ||
  fail "8080 does not reach lan"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8081/who.txt)" = "served by lan2" ] ||
  fail "8081 does not reach lan2"
ok "WAN -> 8080 -> lan, WAN -> 8081 -> lan2"

ctl --json flows --ns lan --proto tcp >"$TMP/flows.json"
json '[f for f in d["flows"] if f["inbound"] and f["inside"] == "10.77.0.2:80" and f["external"] == "203.0.113.1:8080" and f["remote"].startswith("203.0.113.2:")][0]["state"]' \
  <"$TMP/flows.json" >/dev/null || fail "no inbound flow listed: $(cat "$TMP/flows.json")"
ok "inbound flow listed with inside, external and remote endpoints"

# A clash is refused with a message, and the table is unchanged.
set +e
err=$(ctl forward add tcp 8080 lan2 10.77.0.2 80 2>&1)
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "duplicate forward add: rc $rc ($err)"
[ -n "$err" ] || fail "duplicate forward add: no message"
ok "duplicate refused: $err"
set +e
ctl forward add tcp 8082 nosuch 10.77.0.2 80 >/dev/null 2>&1
[ $? -eq 1 ] || fail "forward to an unknown namespace accepted"
ctl forward add tcp 70000 lan 10.77.0.2 80 >/dev/null 2>&1
[ $? -eq 2 ] || fail "port 70000 accepted by unatctl"
set -e
ok "bad forwards refused"

ctl forward del tcp 8080 >/dev/null || fail "forward del"
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8080/who.txt &&
  fail "8080 still forwarded after del"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8081/who.txt)" = "served by lan2" ] ||
  fail "8081 broke when 8080 was removed"
set +e
ctl forward del tcp 8080 >/dev/null 2>&1
[ $? -eq 1 ] || fail "deleting a missing forward succeeded"
set -e
ok "forward del: 8080 gone, 8081 still works"

# UDP forwards too.
bg unat-lan socat -T 10 UDP4-RECVFROM:6000,bind=10.77.0.2,fork EXEC:/bin/cat
wait_udp unat-lan 6000
ctl forward add udp 6000 lan 10.77.0.2 6000 >/dev/null || fail "udp forward add"
[ "$(echo ping-udp | wan socat -T 3 - UDP4:203.0.113.1:6000)" = "ping-udp" ] ||
  fail "UDP forward does not answer"
ok "UDP forward"
