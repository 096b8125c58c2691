#!/usr/bin/env bash
# Issue 13, defect 3: one tenant cannot take the whole port-mapping lease
# pool. 80 clients of lan (addresses added to lan's device) ask for 64 NAT-PMP
# mappings each (5120 requests, more than portmap.max_total = 4096): lan
# stops at its share (max_total / 2 inside networks = 2048), its next
# NAT-PMP, PCP and UPnP requests are refused with each protocol's own code
# (4, USER_EX_QUOTA, 728), and lan2 still gets leases with natpmpc, upnpc
# and PCP. Before the cap, lan took all 4096 and lan2 got 4 and 728.
source "$(dirname "$0")/lib.sh"
need natpmpc upnpc
UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true pcp: true upnp: true }' "$LAB" up

CLIENTS=80
for ((i = 0; i < CLIENTS; i++)); do
  ip -n unat-lan addr add "10.77.0.$((100 + i))/24" dev unat0
done
ok "$CLIENTS extra addresses on lan's device (10.77.0.100..$((99 + CLIENTS)))"

out=$(lan "$PY" "$E2E_DIR/natpmp_flood.py" 10.77.0.1 10.77.0.100 "$CLIENTS" 64)
echo "  flood: $out"
field() { "$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$out" "$1"; }
[ "$(field 'unanswered')" = 0 ] || fail "requests left unanswered: $out"
[ "$(field 'results.get("0", 0)')" = 2048 ] || fail "lan got other than its share of 2048: $out"
[ "$(field 'results.get("4", 0)')" = 3072 ] || fail "refusals are not all result 4: $out"
ok "lan: $(field 'sent') requests from $CLIENTS clients in $(field 'seconds') s: 2048 granted, 3072 result 4 (out of resources)"

leases() { ctl --json stats | "$PY" -c 'import json,sys; print(next(int(c["value"]) for c in json.load(sys.stdin)["stats"]["portmap"] if c["name"] == "portmap/leases"))'; }
[ "$(leases)" = 2048 ] || fail "portmap/leases $(leases), want 2048"

# lan's own host (no lease yet) is refused by every protocol: the tenant's
# share is used up.
out=$(lan natpmpc -g 10.77.0.1 -a 9000 9000 tcp 3600 2>&1) && fail "lan natpmpc got a lease past its share: $out"
grep -qi 'resources' <<<"$out" || fail "lan natpmpc: not out of resources: $out"
ok "lan natpmpc -a past the share: refused (out of resources)"
out=$(lan "$PY" "$E2E_DIR/pcp_client.py" 10.77.0.1 map --proto tcp --internal 9001 --lifetime 3600)
grep -q '"result_name": "USER_EX_QUOTA"' <<<"$out" || fail "lan PCP MAP: $out"
grep -q '"lifetime": 30\b' <<<"$out" || fail "lan PCP MAP error lifetime: $out"
ok "lan PCP MAP past the share: USER_EX_QUOTA, lifetime 30"
URL=http://10.77.0.1:5000/rootDesc.xml
# UPnP asks for one external port exactly; lan's 2048 lease ports are
# random, so ask for one they left free (a taken one is a correct 718).
free_port() {
  ctl --json forwards | json "next(p for p in range($1, $1 + 1000) if p not in {f['external_port'] for f in d.get('forwards', [])})"
}
out=$(lan upnpc -i -u "$URL" -a 10.77.0.2 9002 "$(free_port 9002)" TCP 3600 2>&1) || true
grep -q '728' <<<"$out" || fail "lan upnpc -a past the share: not 728: $out"
ok "lan upnpc -a past the share: 728 (NoPortMapsAvailable)"

# The other tenant is served by all three protocols, and its mappings work.
mkdir -p "$TMP/lan2"
echo "served by lan2" >"$TMP/lan2/who.txt"
http_server unat-lan2 "$TMP/lan2" 10.77.0.2 80
http_server unat-lan2 "$TMP/lan2" 10.77.0.2 8088
out=$(lan2 natpmpc -g 10.77.0.1 -a 8080 80 tcp 3600 2>&1) || fail "lan2 natpmpc: $out"
p=$(sed -n 's/^Mapped public port \([0-9]*\) protocol TCP to local port 80 .*/\1/p' <<<"$out")
[ -n "$p" ] || fail "lan2 natpmpc mapping: $out"
[ "$(wan curl -sS -m 5 "http://203.0.113.1:$p/who.txt")" = "served by lan2" ] ||
  fail "lan2's NAT-PMP mapping $p does not reach lan2"
ok "lan2 natpmpc -a: public port $p, reached from the WAN"
ext=$(free_port 8088)
out=$(lan2 upnpc -i -u "$URL" -a 10.77.0.2 8088 "$ext" TCP 3600 2>&1) || fail "lan2 upnpc: $out"
grep -q "external 203.0.113.1:$ext TCP is redirected to internal 10.77.0.2:8088" <<<"$out" ||
  fail "lan2 upnpc -a: $out"
[ "$(wan curl -sS -m 5 "http://203.0.113.1:$ext/who.txt")" = "served by lan2" ] ||
  fail "lan2's UPnP mapping $ext does not reach lan2"
ok "lan2 upnpc -a $ext: granted, reached from the WAN"
out=$(lan2 "$PY" "$E2E_DIR/pcp_client.py" 10.77.0.1 map --proto udp --internal 5000 --lifetime 3600)
grep -q '"result_name": "SUCCESS"' <<<"$out" || fail "lan2 PCP MAP: $out"
ok "lan2 PCP MAP: SUCCESS"
[ "$(leases)" = 2051 ] || fail "portmap/leases $(leases), want 2051"
grep -c 'portmap: natpmp granted ns lan ' <("$LAB" log) | grep -qx 2048 ||
  fail "log does not have 2048 grant lines for lan"
ok "2048 + 3 leases; one log line per grant"
ok "unatctl stats: $(ctl stats | head -n 1)"
