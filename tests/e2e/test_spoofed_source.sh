#!/usr/bin/env bash
# Issue 13 defect 5: only a tenant's own sources are translated. lan has a
# routed prefix, 10.99.0.0/24, behind a router of its own (a namespace the
# test makes, unat-lanr, reached over a veth from unat-lan): curl from there
# goes out and its replies come back in through lan's device. Packets from
# unat-lan with other sources (1.2.3.4, the WAN peer's own 203.0.113.2, a
# neighbouring 10.98.0.5, and 10.99.0.5 in lan2, which has no routed prefix)
# are dropped as spoofed_source and never reach the WAN. A reload that
# removes the routed prefix cuts the router's hosts off.
source "$(dirname "$0")/lib.sh"
need hping3


UNAT_LAB_LAN_INSIDE_EXTRA='routed_prefix: "10.99.0.0/24"' "$LAB" up
conf="$("$LAB" config-path)"

# The tenant's router: unat-lan forwards between its TUN and a veth to
# unat-lanr, where 10.99.0.5 lives (default route back through unat-lan).
tenant_router

mkdir -p "$TMP/www"
echo "from the wan" >"$TMP/www/who.txt"
http_server unat-wan "$TMP/www" 203.0.113.2 8000

got="$(vpn curl -sS -m 5 http://203.0.113.2:8000/who.txt)" ||
  fail "curl from the routed prefix failed"
[ "$got" = "from the wan" ] || fail "routed prefix got: $got"
ctl --json flows --ns lan --proto tcp >"$TMP/flows.json"
json '[f for f in d["flows"] if f["inside"].startswith("10.99.0.5:") and f["remote"] == "203.0.113.2:8000"][0]' \
  <"$TMP/flows.json" >/dev/null || fail "no flow from 10.99.0.5: $(cat "$TMP/flows.json")"
ctl namespaces | grep -E '^lan ' | grep -q '10.99.0.0/24' || fail "namespaces: $(ctl namespaces)"
ok "10.99.0.5 behind the tenant's router: curl through unatd, replies routed back in"

# The WAN counts every datagram that reaches UDP 9999.
bg unat-wan socat -u UDP-RECV:9999,reuseaddr OPEN:"$TMP/wan.got",creat,append
wait_udp unat-wan 9999
before=$(drop_count spoofed_source)
for spoof in 1.2.3.4 203.0.113.2 10.98.0.5; do
  lan hping3 --udp -a "$spoof" -s 4000 -p 9999 -c 5 -i u20000 -d 16 -q 203.0.113.2 >/dev/null 2>&1 || true
done
lan2 ip addr add 10.99.0.5/32 dev lo
lan2 hping3 --udp -a 10.99.0.5 -s 4000 -p 9999 -c 5 -i u20000 -d 16 -q 203.0.113.2 >/dev/null 2>&1 || true
# A real host of lan's prefix gets through the same way (the control).
lan hping3 --udp -s 4100 -k -p 9999 -c 5 -i u20000 -d 16 -q 203.0.113.2 >/dev/null 2>&1 || true
for ((i = 0; i < 30; i++)); do
  [ "$(stat_size "$TMP/wan.got")" -ge 80 ] && break
  sleep 0.1
done
after=$(drop_count spoofed_source)
[ $((after - before)) -eq 20 ] || fail "spoofed_source counted $((after - before)), want 20"
size=$(stat_size "$TMP/wan.got")
[ "$size" -eq 80 ] || fail "the WAN got $size bytes, want 80 (only the real host's 5 x 16)"
ctl --json flows --proto udp >"$TMP/udp.json"
n=$(json 'len([f for f in d["flows"] if f["remote"] == "203.0.113.2:9999"])' <"$TMP/udp.json")
[ "$n" -eq 1 ] || fail "$n UDP flows to the WAN, want 1: $(cat "$TMP/udp.json")"
ok "20 spoofed datagrams (4 sources, 2 tenants) dropped and counted; only the real host's 5 arrived"

# Reload without the routed prefix: the router's hosts are strangers now.
sed -i 's| routed_prefix: "10.99.0.0/24"||' "$conf"
"$LAB" hup
for ((i = 0; i < 50; i++)); do
  ctl namespaces | grep -E '^lan ' | grep -q '10.99.0.0/24' || break
  sleep 0.1
done
ctl namespaces | grep -E '^lan ' | grep -q '10.99.0.0/24' && fail "reload kept the prefix"
vpn curl -s -m 2 -o /dev/null http://203.0.113.2:8000/who.txt &&
  fail "10.99.0.5 still translated after the reload"
[ "$(drop_count spoofed_source)" -gt "$after" ] || fail "no spoofed_source drop after the reload"
[ "$(lan curl -sS -m 5 http://203.0.113.2:8000/who.txt)" = "from the wan" ] ||
  fail "lan's own host lost service"
ok "reload removed the routed prefix: 10.99.0.5 dropped, 10.77.0.2 still served"
