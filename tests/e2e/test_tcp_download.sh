#!/usr/bin/env bash
# curl downloads 20 MB from python3 -m http.server on the WAN through the
# NAT; the file arrives intact (sha256).
source "$(dirname "$0")/lib.sh"
"$LAB" up

# unatd raised the TUN transmit queues (tx_queue_len, default 1000).
for dev in "unat-lan unat0" "unat-wan unatw0"; do
  set -- $dev
  q=$(ip -n "$1" -o link show "$2" | sed -n 's/.* qlen \([0-9]*\).*/\1/p')
  [ "${q:-0}" -ge 1000 ] || fail "$2 in $1: txqueuelen ${q:-?}, want >= 1000"
done
ok "TUN transmit queues raised to 1000 packets"

mkdir -p "$TMP/www"
head -c 20000000 /dev/urandom >"$TMP/www/big.bin"
http_server unat-wan "$TMP/www" 203.0.113.2 8000

lan curl -sS --fail -m 60 -o "$TMP/got.bin" http://203.0.113.2:8000/big.bin ||
  fail "curl failed"
want=$(sha256sum <"$TMP/www/big.bin" | cut -d' ' -f1)
got=$(sha256sum <"$TMP/got.bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "sha256 differs: want $want got $got"
ok "20 MB, sha256 $got"

# Also from the second tenant, at the same time as the first.
lan curl -sS --fail -m 60 -o "$TMP/a.bin" http://203.0.113.2:8000/big.bin &
a=$!
lan2 curl -sS --fail -m 60 -o "$TMP/b.bin" http://203.0.113.2:8000/big.bin ||
  fail "curl from lan2 failed"
wait "$a" || fail "second curl from lan failed"
[ "$(sha256sum <"$TMP/a.bin" | cut -d' ' -f1)" = "$want" ] || fail "lan copy differs"
[ "$(sha256sum <"$TMP/b.bin" | cut -d' ' -f1)" = "$want" ] || fail "lan2 copy differs"
ok "parallel downloads from both tenants intact"

ctl --json flows --proto tcp --addr 203.0.113.2 >"$TMP/flows.json"
n=$(json 'sum(1 for f in d["flows"] if f["remote"] == "203.0.113.2:8000")' <"$TMP/flows.json")
[ "$n" -ge 3 ] || fail "expected >= 3 TCP flows to 203.0.113.2:8000: $(cat "$TMP/flows.json")"
ctl --json stats >"$TMP/stats.json"
bytes_in=$(json 'int(d["stats"]["bytes_in"])' <"$TMP/stats.json")
[ "$bytes_in" -ge 60000000 ] || fail "stats bytes_in $bytes_in < 60 MB"
full=$(json 'sum(int(x["tx_dropped_full"]) for x in d["stats"]["devices"])' <"$TMP/stats.json")
echo "  (device queue-full drops: $full)"
ok "flows and byte counters agree"
