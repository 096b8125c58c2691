#!/usr/bin/env bash
# UDP request/response through the NAT with socat; a closed port on the WAN
# answers ICMP port unreachable, which reaches the inside client as
# "Connection refused".
source "$(dirname "$0")/lib.sh"
"$LAB" up

bg unat-wan socat -T 10 UDP4-RECVFROM:5353,bind=203.0.113.2,fork EXEC:/bin/cat
wait_udp unat-wan 5353

reply=$(echo "hello from lan" | lan socat -T 3 - UDP4:203.0.113.2:5353) ||
  fail "socat to the UDP echo failed"
[ "$reply" = "hello from lan" ] || fail "echo answered \"$reply\""
ok "UDP echo through the NAT"

ctl --json flows --proto udp >"$TMP/flows.json"
json '[f for f in d["flows"] if f["remote"] == "203.0.113.2:5353" and f["ns"] == "lan"][0]["external"]' \
  <"$TMP/flows.json" | grep -q '^203.0.113.1:' || fail "no UDP flow: $(cat "$TMP/flows.json")"
ok "UDP flow listed with its external endpoint"

set +e
out=$(echo "anyone?" | lan socat -T 3 - UDP4:203.0.113.2:5999 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "socat to a closed port succeeded: $out"
echo "$out" | grep -q "Connection refused" || fail "no 'Connection refused': $out"
ok "closed port -> ICMP port unreachable -> Connection refused"

ctl --json stats | json 'int(d["stats"]["packets_in"])' >"$TMP/in"
[ "$(cat "$TMP/in")" -ge 2 ] || fail "packets_in counter did not move"
