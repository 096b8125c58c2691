#!/usr/bin/env bash
# TUN offloads (issue 18 item 1): with `offload: true` (the default) the
# devices run with IFF_VNET_HDR, checksum offload and TSO4, so the tenants'
# and the WAN's TCP stacks hand unatd super-packets of up to 64 KB, which it
# translates once and writes as super-packets for the kernel to segment.
# Bulk TCP both ways arrives intact, with super-packets counted on both
# devices both ways; the same with `offload: false` uses none.
source "$(dirname "$0")/lib.sh"
need socat curl sha256sum

dev_field() { # dev_field NAME FIELD: one device's counter from stats
  ctl --json stats | json "[int(x.get('$2', 0)) for x in d['stats']['devices'] if x['name'] == '$1'][0]"
}

transfers() { # bulk TCP wan->lan (curl) and lan->wan (socat), checked
  mkdir -p "$TMP/wan"
  head -c 24000000 /dev/urandom >"$TMP/wan/down.bin"
  head -c 24000000 /dev/urandom >"$TMP/up.bin"
  http_server unat-wan "$TMP/wan" 203.0.113.2 8000
  lan curl -sS --fail -m 60 -o "$TMP/got.bin" http://203.0.113.2:8000/down.bin || fail "download"
  cmp -s "$TMP/got.bin" "$TMP/wan/down.bin" || fail "the download arrived changed"
  rm -f "$TMP/up.got"
  bg unat-wan socat -u TCP-LISTEN:9000,bind=203.0.113.2,reuseaddr "CREATE:$TMP/up.got"
  local i listening=""
  for ((i = 0; i < 50; i++)); do
    [ -z "$listening" ] || break
    listening=$(wan ss -Hltn "sport = :9000")
    [ -n "$listening" ] || sleep 0.1
  done
  [ -n "$listening" ] || fail "socat does not listen on 9000"
  lan socat -u "FILE:$TMP/up.bin" TCP:203.0.113.2:9000,connect-timeout=5 || fail "upload"
  for ((i = 0; i < 50; i++)); do
    [ "$(stat_size "$TMP/up.got")" -ge 24000000 ] && break
    sleep 0.1
  done
  [ "$(sha256sum <"$TMP/up.got")" = "$(sha256sum <"$TMP/up.bin")" ] || fail "the upload arrived changed ($(stat_size "$TMP/up.got") bytes)"
  lan ping -n -c 2 -i 0.2 -W 2 203.0.113.2 >/dev/null || fail "ping"
  # UDP with segmentation offload (UDP_SEGMENT, as QUIC stacks send): 20
  # sends of 14000 bytes in 1400-byte datagrams; the receiver must get all
  # 200 datagrams, each whole and in its place.
  cat >"$TMP/uso_rx.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("203.0.113.2", 7000))
s.settimeout(3)
got = {}
try:
    while len(got) < 200:
        d, _ = s.recvfrom(2000)
        if len(d) != 1400 or d != bytes([d[0]]) * 1400:
            print("bad datagram", len(d)); sys.exit(1)
        got[d[0]] = got.get(d[0], 0) + 1
except socket.timeout:
    pass
print(sum(got.values()))
PY
  cat >"$TMP/uso_tx.py" <<'PY'
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_UDP, 103, 1400)  # UDP_SEGMENT
s.bind(("10.77.0.2", 7001))
for i in range(20):
    s.sendto(b"".join(bytes([i * 10 + k]) * 1400 for k in range(10)), ("203.0.113.2", 7000))
    time.sleep(0.01)
PY
  wan "$PY" "$TMP/uso_rx.py" >"$TMP/uso.out" 2>&1 &
  local rx=$!
  sleep 0.3
  lan "$PY" "$TMP/uso_tx.py" || fail "UDP_SEGMENT sender"
  wait "$rx" || fail "USO receiver: $(cat "$TMP/uso.out")"
  [ "$(cat "$TMP/uso.out")" = 200 ] || fail "UDP_SEGMENT: the receiver got $(cat "$TMP/uso.out") of 200 datagrams"
}

# --- offloads on (the default) ------------------------------------------------
"$LAB" up
lan_off=$(dev_field lan offloads)
out_off=$(dev_field outside offloads)
# TUN_F_CSUM (1) and TUN_F_TSO4 (2) at least, on both.
[ $((lan_off & 3)) = 3 ] && [ $((out_off & 3)) = 3 ] ||
  fail "offloads taken: lan $lan_off, outside $out_off"
transfers
lan_rx=$(dev_field lan rx_super_packets)
lan_tx=$(dev_field lan tx_super_packets)
out_rx=$(dev_field outside rx_super_packets)
out_tx=$(dev_field outside tx_super_packets)
csum=$(dev_field lan rx_csum_completed)
for v in "$lan_rx" "$lan_tx" "$out_rx" "$out_tx" "$csum"; do
  [ "$v" -gt 0 ] || fail "super-packets: lan rx $lan_rx tx $lan_tx, outside rx $out_rx tx $out_tx, checksums completed $csum"
done
segmented=$(stat_field super_packets_segmented)
rx=$(dev_field lan rx_packets)
uso_note="UDP_SEGMENT sends arrive as 200 whole datagrams"
ok "offloads on (lan 0x$(printf %x "$lan_off"), outside 0x$(printf %x "$out_off")): 24 MB down and 24 MB up intact; super-packets lan rx $lan_rx / tx $lan_tx, outside rx $out_rx / tx $out_tx ($rx packets read from lan in all), $segmented cut in software, $csum partial checksums completed; $uso_note"
metrics=$(ctl metrics)
grep -q "^unat_device_super_packets_total{namespace=\"lan\",device=\"unat0\",direction=\"rx\"} $lan_rx\$" <<<"$metrics" ||
  fail "metrics: $(grep super <<<"$metrics")"
"$LAB" down

# --- offloads off ---------------------------------------------------------------------
UNAT_LAB_CONFIG_EXTRA='offload: false' "$LAB" up
[ "$(dev_field lan offloads)" = 0 ] && [ "$(dev_field outside offloads)" = 0 ] ||
  fail "offload: false still took offloads"
transfers
for f in rx_super_packets tx_super_packets rx_csum_completed; do
  [ "$(dev_field lan "$f")" = 0 ] || fail "offload: false: lan $f $(dev_field lan "$f")"
done
rx_plain=$(dev_field lan rx_packets)
ok "offloads off: the same transfers intact, no super-packets ($rx_plain packets read from lan, against $rx with offloads)"
