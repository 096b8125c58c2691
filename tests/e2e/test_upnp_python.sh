#!/usr/bin/env bash
# UPnP IGD with python3-miniupnpc (upnp_roundtrip.py, run in unat-lan with
# /usr/bin/python3): SSDP discovery, selectigd, the status and traffic
# counter actions, AddPortMapping used by a real TCP download from unat-wan
# through the mapping to a server in unat-lan, the entry queries, a third
# party's address (606), a NAT-PMP mapping's port (718, AddAnyPortMapping
# another), the deletes; then unatd's own view (forwards, counters).
source "$(dirname "$0")/lib.sh"
"$PY" -c 'import miniupnpc' 2>/dev/null || {
  echo "$TEST_NAME: python3-miniupnpc not installed (scripts/install-deps.sh)" >&2
  exit 77
}
need natpmpc
UNAT_LAB_CONFIG_EXTRA='helpers { upnp: true natpmp: true }' "$LAB" up

mkdir -p "$TMP/www" "$TMP/sync"
size=300000
head -c "$size" /dev/urandom >"$TMP/www/blob"
echo "$size" >"$TMP/sync/size"
http_server unat-lan "$TMP/www" 10.77.0.2 8081
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8081/blob &&
  fail "WAN reached 8081 before any mapping"

# NAT-PMP holds external TCP 8090 (for 10.77.0.2:8090) before the script
# runs: its AddPortMapping of 8090 must be refused.
out=$(lan natpmpc -g 10.77.0.1 -a 8090 8090 tcp 3600 2>&1) || fail "natpmpc: $out"
grep -q 'Mapped public port 8090 protocol TCP' <<<"$out" || fail "natpmpc map: $out"

lan "$PY" "$E2E_DIR/upnp_roundtrip.py" "$TMP/sync" >"$TMP/py.out" 2>&1 9>&- &
py=$!
for ((i = 0; i < 250; i++)); do
  [ -e "$TMP/sync/mapped" ] && break
  kill -0 "$py" 2>/dev/null || break
  sleep 0.1
done
[ -e "$TMP/sync/mapped" ] || {
  wait "$py" || true
  fail "the script made no mapping: $(cat "$TMP/py.out")"
}

# The mapping is real: a download from the WAN through 203.0.113.1:8081
# reaches the server in unat-lan, intact.
ctl forwards | grep -Eq "^tcp +203\.0\.113\.1:8081 +lan +10\.77\.0\.2:8081 +upnp +lease " ||
  fail "forwards table: $(ctl forwards)"
wan curl -sS -m 10 -o "$TMP/got" http://203.0.113.1:8081/blob || fail "WAN download through 8081"
cmp -s "$TMP/got" "$TMP/www/blob" || fail "the download through 8081 differs"
echo go >"$TMP/sync/go"
rc=0
wait "$py" || rc=$?
sed 's/^/    /' "$TMP/py.out"
[ "$rc" -eq 0 ] || fail "upnp_roundtrip.py exited $rc"
ok "python3-miniupnpc round trip; WAN -> 203.0.113.1:8081 -> lan:8081, $size bytes intact"

# unatd's view afterwards: the UPnP mappings are gone, NAT-PMP's stays.
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8081/blob &&
  fail "8081 still reachable after deleteportmapping"
fw=$(ctl forwards)
grep -q 'upnp' <<<"$fw" && fail "UPnP leases left: $fw"
grep -Eq '^tcp +203\.0\.113\.1:8090 +lan +10\.77\.0\.2:8090 +natpmp ' <<<"$fw" ||
  fail "NAT-PMP's 8090 lost: $fw"
ok "afterwards: 8081 closed, no UPnP lease left, NAT-PMP's 8090 kept"

st=$(ctl stats)
for c in upnp/ssdp_searches upnp/soap_requests upnp/soap_faults upnp/fault/401 \
  upnp/fault/606 upnp/fault/714 upnp/fault/718 upnp/fault/730 upnp/tcp/accepted upnp/tcp/closed; do
  grep -Eq "^$c +[1-9]" <<<"$st" || fail "counter $c: $(grep upnp/ <<<"$st")"
done
for c in upnp/tcp/drop/evicted upnp/tcp/drop/limit_total upnp/tcp/drop/retries; do
  grep -Eq "^$c +0$" <<<"$st" || fail "counter $c not 0: $(grep upnp/ <<<"$st")"
done
ok "unatctl stats: ssdp, soap, faults 401/606/714/718/730, tcp; no evictions or refusals"
