#!/usr/bin/env bash
# ping from both tenants at once, with the same ICMP identifier and the same
# inside address: both get their answers, and the NAT gives the two flows
# distinct external identifiers.
source "$(dirname "$0")/lib.sh"
"$LAB" up

lan ping -n -e 4242 -c 5 -i 0.2 -W 2 203.0.113.2 >"$TMP/lan.out" &
p1=$!
lan2 ping -n -e 4242 -c 5 -i 0.2 -W 2 203.0.113.2 >"$TMP/lan2.out" &
p2=$!
wait "$p1" || fail "ping from lan failed: $(cat "$TMP/lan.out")"
wait "$p2" || fail "ping from lan2 failed: $(cat "$TMP/lan2.out")"
grep -q "5 received" "$TMP/lan.out" || fail "lan: $(tail -2 "$TMP/lan.out")"
grep -q "5 received" "$TMP/lan2.out" || fail "lan2: $(tail -2 "$TMP/lan2.out")"
ok "both tenants got 5/5 replies"

ctl --json flows --proto icmp >"$TMP/flows.json"
n=$(json 'len(d["flows"])' <"$TMP/flows.json")
[ "$n" -eq 2 ] || fail "expected 2 ICMP flows, got $n: $(cat "$TMP/flows.json")"
namespaces=$(json '",".join(sorted(f["ns"] for f in d["flows"]))' <"$TMP/flows.json")
[ "$namespaces" = "lan,lan2" ] || fail "flows are in namespaces $namespaces"
inside=$(json '",".join(sorted(set(f["inside"] for f in d["flows"])))' <"$TMP/flows.json")
[ "$inside" = "10.77.0.2:4242" ] || fail "inside endpoints: $inside"
distinct=$(json 'len(set(f["external"] for f in d["flows"]))' <"$TMP/flows.json")
[ "$distinct" -eq 2 ] || fail "external ids are not distinct: $(cat "$TMP/flows.json")"
ext_addr=$(json '",".join(sorted(set(f["external"].split(":")[0] for f in d["flows"])))' <"$TMP/flows.json")
[ "$ext_addr" = "203.0.113.1" ] || fail "external address: $ext_addr"
ok "flows: one per tenant, same inside id 4242, distinct external ids"

# The human table names the namespaces too.
ctl flows --ns lan2 | grep -q "^lan2 .*icmp" || fail "flows --ns lan2 table"
[ "$(ctl flows --ns lan2 | grep -c '^lan ')" -eq 0 ] || fail "--ns filter leaks"
ok "flows --ns filter"
