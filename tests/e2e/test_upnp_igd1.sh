#!/usr/bin/env bash
# helpers.upnp_igd_version 1: SSDP advertises the IGD:1 description, upnpc
# finds and uses it (SOAP through WANIPConnection:1), and lease 0 means
# IGD:1's "no expiry", which unat grants as the policy's maximum lifetime
# (portmap.max_lifetime_s, 86400 s by default).
source "$(dirname "$0")/lib.sh"
need upnpc
UNAT_LAB_CONFIG_EXTRA='helpers { upnp: true upnp_igd_version: 1 }' "$LAB" up
URL1=http://10.77.0.1:5000/rootDesc1.xml

out=$(lan upnpc -i -s 2>&1) || fail "upnpc -s: $out"
grep -q "desc: $URL1" <<<"$out" || fail "not the IGD:1 description: $out"
grep -q 'st: urn:schemas-upnp-org:device:InternetGatewayDevice:1' <<<"$out" || fail "st: $out"
grep -q 'ExternalIPAddress = 203.0.113.1' <<<"$out" || fail "external address: $out"
ok "upnpc -s finds $URL1 (IGD:1)"

mkdir -p "$TMP/www"
echo "igd1" >"$TMP/www/who.txt"
http_server unat-lan "$TMP/www" 10.77.0.2 8081
out=$(lan upnpc -i -u "$URL1" -a 10.77.0.2 8081 8081 TCP 0 2>&1) || fail "upnpc -a: $out"
grep -q 'external 203.0.113.1:8081 TCP is redirected to internal 10.77.0.2:8081 (duration=86400)' <<<"$out" ||
  fail "lease 0 under IGD:1: $out"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8081/who.txt)" = igd1 ] || fail "8081 does not reach lan"
ok "upnpc -a ... TCP 0 through WANIPConnection:1: lease 86400 s (policy maximum), WAN reaches lan"

# The IGD:2 description is still served to whoever asks for it.
code=$(lan curl -s -m 5 -o /dev/null -w '%{http_code}' http://10.77.0.1:5000/rootDesc.xml)
[ "$code" = 200 ] || fail "rootDesc.xml: $code"
out=$(lan upnpc -i -u "$URL1" -d 8081 TCP 2>&1) || fail "upnpc -d: $out"
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8081/who.txt && fail "8081 open after -d"
ok "upnpc -d closes it; rootDesc.xml (IGD:2) still served"
