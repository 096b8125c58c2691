#!/usr/bin/env bash
# Tenant isolation: both tenants use the same inside address and even the
# same source port; each gets only its own answers, and one tenant cannot
# reach the other's inside addresses.
source "$(dirname "$0")/lib.sh"
# The NAT-PMP/PCP start-up announcements (224.0.0.1, for ~2 minutes) would
# be counted as writes to lan's device below: this test runs without them.
UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: false pcp: false }' "$LAB" up

bg unat-wan socat -T 10 UDP4-RECVFROM:7000,bind=203.0.113.2,fork EXEC:/bin/cat
wait_udp unat-wan 7000

# Same 5-tuple on the inside of both tenants, at the same time.
for i in 1 2 3; do
  echo "lan-$i" | lan socat -T 2 - UDP4:203.0.113.2:7000,sourceport=40000 >"$TMP/a$i" &
  a=$!
  echo "lan2-$i" | lan2 socat -T 2 - UDP4:203.0.113.2:7000,sourceport=40000 >"$TMP/b$i" &
  b=$!
  wait "$a" "$b" || true
  [ "$(cat "$TMP/a$i")" = "lan-$i" ] || fail "lan got \"$(cat "$TMP/a$i")\""
  [ "$(cat "$TMP/b$i")" = "lan2-$i" ] || fail "lan2 got \"$(cat "$TMP/b$i")\""
done
ok "same inside endpoint in both tenants: each gets its own replies"

ctl --json flows --proto udp --addr 10.77.0.2 >"$TMP/flows.json"
json '"\n".join(f["ns"] + " " + f["inside"] + " " + f["external"] for f in d["flows"] if f["remote"] == "203.0.113.2:7000")' \
  <"$TMP/flows.json" >"$TMP/list"
[ "$(grep -c '10.77.0.2:40000' "$TMP/list")" -eq 2 ] || fail "flows: $(cat "$TMP/list")"
[ "$(cut -d' ' -f3 "$TMP/list" | sort -u | wc -l)" -eq 2 ] ||
  fail "the tenants share an external endpoint: $(cat "$TMP/list")"
ok "two flows, distinct external endpoints"

# lan has a second address with a listener; lan2 tries to reach it.
ip -n unat-lan addr add 10.77.0.3/32 dev lo
bg unat-lan socat -T 10 TCP4-LISTEN:81,bind=10.77.0.3,fork,reuseaddr SYSTEM:'echo secret'
wait_tcp unat-lan 10.77.0.3 81
tx_lan() {
  ctl --json stats | json '[int(x["tx_packets"]) for x in d["stats"]["devices"] if x["name"] == "lan"][0]'
}
before=$(tx_lan)
lan2 curl -s -m 2 telnet://10.77.0.3:81 </dev/null >"$TMP/leak" 2>&1 || true
grep -q secret "$TMP/leak" && fail "lan2 reached a lan-only address"
lan2 timeout 3 bash -c 'exec 3<>/dev/tcp/10.77.0.3/81' 2>/dev/null &&
  fail "lan2 connected to lan's 10.77.0.3:81"
ok "lan2 cannot reach lan's inside address 10.77.0.3"

# Nothing was written to lan's device meanwhile, and lan has no flow of it.
after=$(tx_lan)
[ "$before" = "$after" ] || fail "lan's device got $((after - before)) packet(s) from lan2's attempts"
ctl --json flows --ns lan >"$TMP/lan.json"
json 'sum(1 for f in d["flows"] if f["proto"] == "tcp")' <"$TMP/lan.json" | grep -qx 0 ||
  fail "lan has TCP flows: $(cat "$TMP/lan.json")"
ok "nothing of lan2's attempts reached lan's device"
