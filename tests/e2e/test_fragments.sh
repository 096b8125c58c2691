#!/usr/bin/env bash
# IPv4 fragments through unatd, with a smaller MTU on the wan side (1280)
# than on the lan side (1500), so unatd must also fragment at egress:
#  - ping -s 4000 and an 8000-byte UDP datagram, lan -> wan and back, with
#    virtual reassembly (default) and with full reassembly;
#  - PMTUD: the wan host advertises MSS 1460 (advmss) although its link is
#    1280, so the lan host's 1500-byte DF segments hit unatd's egress MTU;
#    unatd answers ICMP fragmentation needed, the lan host lowers its path
#    MTU, and a 2 MB upload arrives intact.
source "$(dirname "$0")/lib.sh"
export UNAT_LAB_WAN_MTU=1280
UDP="$E2E_DIR/udp_echo.py"

stats_json() { ctl --json stats | json "$1"; }
drop() { ctl --json stats | json "[int(c.get('value', 0)) for c in d['stats']['drops'] if c['name'] == '$1'][0]"; }

exercise() {
  local mode=$1
  lan ping -n -c 3 -i 0.2 -W 3 -s 4000 203.0.113.2 >"$TMP/ping.txt" ||
    fail "$mode: ping -s 4000 failed: $(tail -3 "$TMP/ping.txt")"
  grep -q "3 received" "$TMP/ping.txt" || fail "$mode: $(tail -2 "$TMP/ping.txt")"
  ok "$mode: ping -s 4000 through a 1280 MTU"
  local got
  got=$(lan "$PY" "$UDP" ask 203.0.113.2 7007 8000) || true
  [ "$got" = ok ] || fail "$mode: 8000-byte UDP round trip: $got"
  ok "$mode: 8000-byte UDP datagram there and back, identical"
}

"$LAB" up
bg unat-wan "$PY" "$UDP" serve 0.0.0.0 7007
wait_udp unat-wan 7007
exercise virtual
[ "$(stats_json 'int(d["stats"].get("fragments_forwarded", 0))')" -gt 0 ] ||
  fail "virtual: no fragment counted as forwarded"
[ "$(stats_json 'int(d["stats"].get("fragments_created", 0))')" -gt 0 ] ||
  fail "virtual: unatd did not fragment for the 1280 MTU"
ok "virtual: fragments forwarded and re-fragmented for the smaller MTU"

# PMTUD: 2 MB upload with DF from lan, wan advertising a larger MSS.
wan ip route change 203.0.113.0/24 dev unatw0 advmss 1460
head -c 2000000 /dev/urandom >"$TMP/up.bin"
bg unat-wan socat -u TCP4-LISTEN:9000,bind=0.0.0.0,reuseaddr,fork "OPEN:$TMP/got.bin,creat,trunc"
wait_tcp unat-wan 203.0.113.2 9000
before=$(drop needs_fragmentation_df_set)
lan timeout 30 socat -u "OPEN:$TMP/up.bin" TCP4:203.0.113.2:9000 ||
  fail "upload across the smaller MTU failed"
for i in $(seq 50); do
  [ "$(stat -c %s "$TMP/got.bin" 2>/dev/null || echo 0)" -ge 2000000 ] && break
  sleep 0.1
done
cmp -s "$TMP/up.bin" "$TMP/got.bin" || fail "upload differs ($(stat -c %s "$TMP/got.bin") bytes)"
after=$(drop needs_fragmentation_df_set)
[ "$after" -gt "$before" ] || fail "no DF packet was answered with fragmentation needed"
ok "PMTUD through unatd: 2 MB upload intact after $((after - before)) ICMP fragmentation-needed"

# Full reassembly.
"$LAB" down
UNAT_LAB_CONFIG_EXTRA='fragments { mode: FULL }' "$LAB" up
bg unat-wan "$PY" "$UDP" serve 0.0.0.0 7007
wait_udp unat-wan 7007
exercise full
[ "$(stats_json 'int(d["stats"].get("datagrams_reassembled", 0))')" -gt 0 ] ||
  fail "full: no datagram reassembled"
[ "$(stats_json 'int(d["stats"].get("fragment_bytes_held", 0))')" -eq 0 ] ||
  fail "full: fragments still held after complete datagrams"
ok "full: datagrams reassembled, nothing left held"
