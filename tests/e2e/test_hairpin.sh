#!/usr/bin/env bash
# Hairpin: an inside host reaches its own forward through the external
# address (203.0.113.1:8080), and so does the other tenant.
source "$(dirname "$0")/lib.sh"
"$LAB" up

mkdir -p "$TMP/www"
echo "hairpin ok" >"$TMP/www/index.txt"
http_server unat-lan "$TMP/www" 0.0.0.0 80
ctl forward add tcp 8080 lan 10.77.0.2 80 >/dev/null || fail "forward add"

got=$(lan curl -sS -m 5 http://203.0.113.1:8080/index.txt) || fail "hairpin curl failed"
[ "$got" = "hairpin ok" ] || fail "hairpin answered \"$got\""
ok "lan -> 203.0.113.1:8080 -> lan"

got=$(lan2 curl -sS -m 5 http://203.0.113.1:8080/index.txt) || fail "lan2 curl failed"
[ "$got" = "hairpin ok" ] || fail "lan2 got \"$got\""
ok "lan2 -> 203.0.113.1:8080 -> lan"

# The server saw the external address, not an inside one (the reply must
# come back through the NAT).
ctl --json flows --ns lan --proto tcp >"$TMP/flows.json"
json '[f for f in d["flows"] if f["inbound"] and f["inside"] == "10.77.0.2:80"][0]["remote"]' \
  <"$TMP/flows.json" | grep -q '^203\.0\.113\.1:' ||
  fail "hairpin flow remote is not the external address: $(cat "$TMP/flows.json")"
ok "hairpinned flows use the external address as the remote"
