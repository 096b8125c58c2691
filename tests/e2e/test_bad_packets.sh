#!/usr/bin/env bash
# Issue 13 defects 8 and 9, with scapy: IP options of length 0 or 1 or
# running past the header are dropped (bad_ip_options), loose and strict
# source routes are dropped (source_route, as Linux's accept_source_route=0),
# and a packet with a wrong TCP or UDP checksum creates no flow
# (bad_l4_checksum), from either side. Sound options (record route) pass.
source "$(dirname "$0")/lib.sh"
UNAT_LAB_CONFIG_EXTRA='forward { proto: TCP external_port: 8080 namespace: "lan" inside_address: "10.77.0.2" inside_port: 8000 }' \
  "$LAB" up
"$PY" -c 'import scapy' 2>/dev/null || { echo "$TEST_NAME: python3-scapy not installed" >&2; exit 77; }

bg unat-wan socat -u UDP-RECV:9999,reuseaddr OPEN:"$TMP/wan.got",creat,append
wait_udp unat-wan 9999
lan "$PY" "$E2E_DIR/bad_packets.py" inside
for ((i = 0; i < 30; i++)); do
  grep -q rr-ok "$TMP/wan.got" 2>/dev/null && break
  sleep 0.1
done
grep -q rr-ok "$TMP/wan.got" || fail "the record-route datagram did not arrive"
for c in optlen0 optlen1 optlong lsrr ssrr badudp; do
  grep -q "$c" "$TMP/wan.got" && fail "$c reached the WAN"
done
[ "$(drop_count bad_ip_options)" -eq 3 ] || fail "bad_ip_options $(drop_count bad_ip_options), want 3"
[ "$(drop_count source_route)" -eq 2 ] || fail "source_route $(drop_count source_route), want 2"
[ "$(drop_count bad_l4_checksum)" -eq 2 ] || fail "bad_l4_checksum $(drop_count bad_l4_checksum), want 2"
ctl --json flows >"$TMP/flows.json"
n=$(json 'len([f for f in d.get("flows", []) if f["inside"].split(":")[1] in ("4007", "4008")])' <"$TMP/flows.json")
[ "$n" -eq 0 ] || fail "a corrupt packet made a flow: $(cat "$TMP/flows.json")"
ok "inside: 3 bad option lengths, 2 source routes, 2 bad checksums dropped and counted; record route passed"

wan "$PY" "$E2E_DIR/bad_packets.py" outside
sleep 0.3
[ "$(drop_count bad_l4_checksum)" -eq 3 ] || fail "outside bad checksum not counted"
[ "$(drop_count source_route)" -eq 3 ] || fail "outside source route not counted"
[ "$(drop_count bad_ip_options)" -eq 4 ] || fail "outside bad option not counted"
ctl --json flows --ns lan --proto tcp >"$TMP/flows.json"
n=$(json 'len(d.get("flows", []))' <"$TMP/flows.json")
[ "$n" -eq 0 ] || fail "a bad SYN through the forward made a flow: $(cat "$TMP/flows.json")"
ok "outside: bad-checksum, source-routed and bad-option SYNs at the forward dropped, no flow"
