#!/usr/bin/env bash
# Coalescing on write (issue 18 item 2): TCP segments and UDP datagrams of
# one flow that unatd reads as plain packets leave as super-packets (TSO4 /
# USO4) for the kernel to cut back into exactly those packets. The TCP
# senders here are made to send plain segments (gso_max_segs 1 on their
# device); every byte and every datagram must arrive intact, and the
# devices count what was merged. `coalesce: false` by reload stops it live.
# Read batches are counted per size.
source "$(dirname "$0")/lib.sh"
need socat curl sha256sum

dev_field() { # dev_field NAME FIELD: one device's counter from stats
  ctl --json stats | json "[int(x.get('$2', 0)) for x in d['stats']['devices'] if x['name'] == '$1'][0]"
}

"$LAB" up
CONF="$("$LAB" config-path)"
[ $(($(dev_field outside offloads) & 3)) = 3 ] || fail "outside did not take TSO4"

# --- TCP both ways, the senders' stacks cutting plain segments ------------------
lan ip link set unat0 gso_max_segs 1
wan ip link set unatw0 gso_max_segs 1
mkdir -p "$TMP/wan"
head -c 16000000 /dev/urandom >"$TMP/wan/down.bin"
head -c 16000000 /dev/urandom >"$TMP/up.bin"
http_server unat-wan "$TMP/wan" 203.0.113.2 8000
bg unat-wan socat -u TCP-LISTEN:9000,bind=203.0.113.2,reuseaddr "CREATE:$TMP/up.got"
for ((i = 0; i < 50; i++)); do
  [ -n "$(wan ss -Hltn "sport = :9000")" ] && break
  sleep 0.1
done
lan socat -u "FILE:$TMP/up.bin" TCP:203.0.113.2:9000,connect-timeout=5 || fail "upload"
for ((i = 0; i < 50; i++)); do
  [ "$(stat_size "$TMP/up.got")" -ge 16000000 ] && break
  sleep 0.1
done
[ "$(sha256sum <"$TMP/up.got")" = "$(sha256sum <"$TMP/up.bin")" ] ||
  fail "the upload arrived changed ($(stat_size "$TMP/up.got") bytes)"
lan_rx_super=$(dev_field lan rx_super_packets)
out_merged=$(dev_field outside tx_coalesced)
[ "$out_merged" -gt 0 ] || fail "upload: nothing coalesced toward the outside (lan read $lan_rx_super super-packets)"
lan curl -sS --fail -m 60 -o "$TMP/got.bin" http://203.0.113.2:8000/down.bin || fail "download"
cmp -s "$TMP/got.bin" "$TMP/wan/down.bin" || fail "the download arrived changed"
lan_merged=$(dev_field lan tx_coalesced)
[ "$lan_merged" -gt 0 ] || fail "download: nothing coalesced toward lan"
[ "$(dev_field outside tx_super_refused)" = 0 ] && [ "$(dev_field lan tx_super_refused)" = 0 ] ||
  fail "a device refused a coalesced super-packet"
ok "TCP from plain segments: 16 MB up and 16 MB down intact; $out_merged segments left merged toward the outside, $lan_merged toward lan"

# --- UDP: 64-byte datagrams of one flow become USO super-packets ---------------
cat >"$TMP/udp_rx.py" <<'PY'
import socket, struct, sys
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("203.0.113.2", 7000))
s.settimeout(2)
seen = set()
try:
    while len(seen) < n:
        d, _ = s.recvfrom(2000)
        seq = struct.unpack("!I", d[:4])[0]
        if len(d) != 64 or d[4:] != bytes([seq & 0xff]) * 60:
            print("bad datagram", seq, len(d)); sys.exit(1)
        if seq in seen:
            print("duplicate", seq); sys.exit(1)
        seen.add(seq)
except socket.timeout:
    pass
print(len(seen))
PY
cat >"$TMP/udp_tx.py" <<'PY'
import socket, struct, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.2", 7001))
s.connect(("203.0.113.2", 7000))
for i in range(n):
    s.send(struct.pack("!I", i) + bytes([i & 0xff]) * 60)
    if i % 64 == 63:
        time.sleep(0.002)
PY
udp_run() { # udp_run N: N datagrams lan -> wan, all must arrive whole
  wan "$PY" "$TMP/udp_rx.py" "$1" >"$TMP/udp.out" 2>&1 &
  local rx=$!
  wait_udp unat-wan 7000
  lan "$PY" "$TMP/udp_tx.py" "$1" || fail "UDP sender"
  wait "$rx" || fail "UDP receiver: $(cat "$TMP/udp.out")"
  [ "$(cat "$TMP/udp.out")" = "$1" ] || fail "UDP: the receiver got $(cat "$TMP/udp.out") of $1 datagrams"
}
before=$(dev_field outside tx_coalesced)
supers_before=$(dev_field outside tx_super_packets)
udp_run 6400
udp_merged=$(($(dev_field outside tx_coalesced) - before))
udp_supers=$(($(dev_field outside tx_super_packets) - supers_before))
[ "$udp_merged" -gt 0 ] || fail "UDP: nothing coalesced"
ok "UDP: 6400 64-byte datagrams arrived whole, once each; $udp_merged of them left in $udp_supers USO super-packets"

# --- read batches counted, in stats and metrics --------------------------------
batches=$(dev_field lan read_batches)
packets=$(dev_field lan read_batch_packets)
[ "$batches" -gt 0 ] && [ "$packets" -ge "$batches" ] || fail "read batches: $batches batches, $packets packets"
metrics=$(ctl metrics)
grep -q "^unat_device_read_batch_packets_count{namespace=\"lan\",device=\"unat0\"} " <<<"$metrics" ||
  fail "metrics: no read batch histogram for lan"
grep -q '^unat_device_read_batch_packets_bucket{namespace="lan",device="unat0",le="+Inf"} ' <<<"$metrics" ||
  fail "metrics: no +Inf bucket"
grep -q '^unat_device_coalesce_total{namespace="outside",device="unatw0",result="merged"} [1-9]' <<<"$metrics" ||
  fail "metrics: $(grep coalesce <<<"$metrics")"
ok "read batches from lan: $batches, $packets packets (avg $((packets / batches)))"

# --- coalesce: false by reload: plain packets from then on ---------------------
echo 'coalesce: false' >>"$CONF"
out=$(ctl reload 2>&1) || fail "reload: $out"
grep -q 'coalescing off' <<<"$out" || fail "reload summary: $out"
before=$(dev_field outside tx_coalesced)
udp_run 3200
[ "$(dev_field outside tx_coalesced)" = "$before" ] || fail "coalesce: false still coalesced"
ok "coalesce: false by reload: 3200 datagrams arrived whole, none merged"
