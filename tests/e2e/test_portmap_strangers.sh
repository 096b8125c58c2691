#!/usr/bin/env bash
# Issue 13 defect 6: port mapping serves only the tenant's own hosts. A host
# on lan's device with an address outside lan's prefix (10.98.0.5) gets
# natpmpc's "not authorized" (result 2), PCP NOT_AUTHORIZED and UPnP 606,
# and no forward is made; its ping to the gateway is not answered. A VPN
# client behind the tenant's own router (10.99.0.5 in lan's routed_prefix,
# in a namespace the test makes, as a WireGuard server's client asking its
# concentrator) gets a NAT-PMP lease with natpmpc and a UPnP one with upnpc,
# and the WAN reaches it through them.
source "$(dirname "$0")/lib.sh"
need natpmpc upnpc
URL=http://10.77.0.1:5000/rootDesc.xml


UNAT_LAB_LAN_INSIDE_EXTRA='routed_prefix: "10.99.0.0/24"' \
  UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true pcp: true upnp: true }' "$LAB" up

# The stranger: an address outside every prefix of lan's, on lan's device.
lan ip addr add 10.98.0.5/32 dev unat0
lan ip route replace 10.77.0.1 dev unat0 src 10.98.0.5
set +e
out=$(lan natpmpc -g 10.77.0.1 -a 8080 80 tcp 3600 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "not authorized" <<<"$out" || fail "natpmpc from 10.98.0.5: rc $rc: $out"
a=$(lan "$PY" "$E2E_DIR/pcp_client.py" 10.77.0.1 map --proto tcp --internal 80) || fail "PCP: no answer"
[ "$(json 'd["result_name"]' <<<"$a")" = NOT_AUTHORIZED ] || fail "PCP from 10.98.0.5: $a"
out=$(lan upnpc -i -u "$URL" -a 10.98.0.5 8081 8081 TCP 3600 2>&1) || true
grep -q "failed with code 606" <<<"$out" || fail "upnpc from 10.98.0.5: $out"
lan ping -c 1 -W 1 10.77.0.1 >/dev/null 2>&1 && fail "the gateway answered the stranger's ping"
[ "$(ctl --json forwards | json 'len(d.get("forwards", []))')" -eq 0 ] || fail "a forward was made: $(ctl forwards)"
[ "$(drop_count spoofed_source)" -ge 1 ] || fail "the stranger's ping was not counted"
ok "10.98.0.5 on lan's device: natpmpc 'not authorized', PCP NOT_AUTHORIZED, upnpc 606, no ping, no forward"
lan ip route replace 10.77.0.1 dev unat0 src 10.77.0.2
out=$(lan natpmpc -g 10.77.0.1 -a 8082 80 tcp 3600 2>&1) || fail "lan's own host refused: $out"
ok "lan's own host still gets a lease"

# The VPN client behind the tenant's router.
tenant_router
mkdir -p "$TMP/www"
echo "vpn client" >"$TMP/www/who.txt"
bg unat-lanr "$PY" -m http.server 8000 --bind 0.0.0.0 --directory "$TMP/www"
wait_tcp unat-lanr 10.99.0.5 8000

out=$(vpn natpmpc -g 10.77.0.1 -a 9080 8000 tcp 3600 2>&1) || fail "natpmpc from 10.99.0.5: $out"
grep -q "Mapped public port 9080 protocol TCP to local port 8000" <<<"$out" || fail "natpmpc: $out"
[ "$(wan curl -sS -m 5 http://203.0.113.1:9080/who.txt)" = "vpn client" ] ||
  fail "WAN -> 9080 does not reach the VPN client"
# One protocol's lease per inside endpoint: hand it from NAT-PMP to UPnP.
vpn natpmpc -g 10.77.0.1 -a 9080 8000 tcp 0 >/dev/null 2>&1 || fail "natpmpc delete from 10.99.0.5"
out=$(vpn upnpc -i -u "$URL" -a 10.99.0.5 8000 9081 TCP 3600 2>&1) || true
grep -q "is redirected to internal 10.99.0.5:8000" <<<"$out" || fail "upnpc from 10.99.0.5: $out"
[ "$(wan curl -sS -m 5 http://203.0.113.1:9081/who.txt)" = "vpn client" ] ||
  fail "WAN -> 9081 does not reach the VPN client"
ok "10.99.0.5 behind the tenant's router: natpmpc and upnpc leases, curl from the WAN through both"
