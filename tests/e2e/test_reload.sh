#!/usr/bin/env bash
# SIGHUP reloads the config's forwards without dropping live flows; a bad
# config on reload is refused and the running config stays.
source "$(dirname "$0")/lib.sh"
export UNAT_LAB_CONFIG_EXTRA='forward { proto: TCP external_port: 8080 namespace: "lan" inside_address: "10.77.0.2" inside_port: 80 description: "from config" }'
"$LAB" up
CONF="$("$LAB" config-path)"

mkdir -p "$TMP/lan" "$TMP/lan2" "$TMP/wan"
echo lan >"$TMP/lan/who.txt"
echo lan2 >"$TMP/lan2/who.txt"
head -c 6000000 /dev/urandom >"$TMP/wan/big.bin"
http_server unat-lan "$TMP/lan" 10.77.0.2 80
http_server unat-lan2 "$TMP/lan2" 10.77.0.2 80
http_server unat-wan "$TMP/wan" 203.0.113.2 8000

ctl forwards | grep -Eq "^tcp +\*:8080 +lan .* config " || fail "config forward: $(ctl forwards)"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8080/who.txt)" = lan ] || fail "8080"
ctl forward add tcp 7070 lan2 10.77.0.2 80 >/dev/null  # runtime: must survive reloads
ok "config forward active"

# A live flow: a slow download that spans the reload; and a ping flow.
lan ping -n -c 1 203.0.113.2 >/dev/null
ext_before=$(ctl --json flows --proto icmp --ns lan | json 'd["flows"][0]["external"]')
lan curl -sS --fail -m 30 --limit-rate 3M -o "$TMP/got.bin" http://203.0.113.2:8000/big.bin &
dl=$!
sleep 0.7

# New config: 8080 goes away, 9090 -> lan2 arrives.
sed -i 's/^forward.*$//' "$CONF"
echo 'forward { proto: TCP external_port: 9090 namespace: "lan2" inside_address: "10.77.0.2" inside_port: 80 }' >>"$CONF"
"$LAB" hup
for i in $(seq 50); do
  "$LAB" log | grep -q "reload (SIGHUP): done" && break
  sleep 0.1
done
"$LAB" log | grep -q "reload (SIGHUP): done" || fail "no 'reload: done' in the log"

wait "$dl" || fail "the download across the reload failed"
cmp -s "$TMP/got.bin" "$TMP/wan/big.bin" || fail "download across the reload corrupted"
ok "download spanning the reload is intact"
ext_after=$(ctl --json flows --proto icmp --ns lan | json 'd["flows"][0]["external"]')
[ "$ext_before" = "$ext_after" ] || fail "ICMP flow changed: $ext_before -> $ext_after"
ok "existing flows kept"

ctl forwards >"$TMP/fw"
grep -q ":8080 " "$TMP/fw" && fail "8080 still there: $(cat "$TMP/fw")"
grep -Eq "^tcp +\*:9090 +lan2 .* config " "$TMP/fw" || fail "9090 missing: $(cat "$TMP/fw")"
grep -Eq "^tcp +\*:7070 +lan2 .* runtime " "$TMP/fw" || fail "runtime forward lost: $(cat "$TMP/fw")"
[ "$(wan curl -sS -m 5 http://203.0.113.1:9090/who.txt)" = lan2 ] || fail "9090"
wan curl -s -m 2 http://203.0.113.1:8080/who.txt >/dev/null && fail "8080 still forwarded"
ok "forwards follow the new config; the runtime forward stays"

# A broken config on reload: refused, everything stays.
cp "$CONF" "$TMP/good.conf"
echo 'forward { proto: TCP external_port: 99999 namespace: "lan" inside_address: "10.77.0.2" inside_port: 80 }' >>"$CONF"
"$LAB" hup
for i in $(seq 50); do
  "$LAB" log | grep -q "refused: config:" && break
  sleep 0.1
done
"$LAB" log | grep -q "reload (SIGHUP): refused: config: forward\[1\]\.external_port: 99999 is out of range" ||
  fail "bad reload not logged: $("$LAB" log | tail -3)"
[ "$(wan curl -sS -m 5 http://203.0.113.1:9090/who.txt)" = lan2 ] || fail "9090 lost"
ok "bad config on reload refused, running config kept"

# A policy change applies live: endpoint-independent filtering lets a
# second WAN port reach a mapping that was opened towards another port.
cp "$TMP/good.conf" "$CONF"
echo 'filtering: ENDPOINT_INDEPENDENT' >>"$CONF"
"$LAB" hup
for i in $(seq 50); do
  "$LAB" log | grep -q "reload (SIGHUP): done" && [ "$("$LAB" log | grep -c "reload (SIGHUP): done")" -ge 2 ] && break
  sleep 0.1
done
cat >"$TMP/eif_wan.py" <<'PY'
import socket
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind(("203.0.113.2", 7001))
a.settimeout(5)
data, (host, port) = a.recvfrom(100)
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.bind(("203.0.113.2", 7002))
b.sendto(b"from-another-port", (host, port))
PY
cat >"$TMP/eif_lan.py" <<'PY'
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.2", 7000))
s.settimeout(5)
time.sleep(0.3)
s.sendto(b"hi", ("203.0.113.2", 7001))
print(s.recvfrom(100)[0].decode())
PY
wan "$PY" "$TMP/eif_wan.py" &
wpid=$!
got=$(lan "$PY" "$TMP/eif_lan.py" 2>&1) || true
wait "$wpid" || true
[ "$got" = from-another-port ] || fail "filtering change not live: got '$got'"
ok "filtering changed to endpoint-independent by SIGHUP, live"

# What cannot change live is refused whole, naming the field; the running
# config stays.
cp "$TMP/good.conf" "$CONF"
sed -i 's/external_address: "203.0.113.1"/external_address: "203.0.113.9"/' "$CONF"
grep -q 203.0.113.9 "$CONF" || fail "test setup: no external_address line to change"
"$LAB" hup
for i in $(seq 50); do
  "$LAB" log | grep -q "cannot change while unatd runs" && break
  sleep 0.1
done
"$LAB" log | grep -q 'refused: outside.external_address (\[203.0.113.1\] -> \[203.0.113.9\]) cannot change while unatd runs (restart it to apply); keeping the running config' ||
  fail "address change not refused: $("$LAB" log | tail -3)"
[ "$(stat_field reloads)" -eq 2 ] || fail "reloads counted: $(stat_field reloads), want 2"
[ "$(stat_field reloads_refused)" -eq 2 ] || fail "refusals counted: $(stat_field reloads_refused), want 2"
[ "$(wan curl -sS -m 5 http://203.0.113.1:9090/who.txt)" = lan2 ] || fail "9090 lost after the refusal"
ok "external address change refused, naming the field; 2 reloads applied, 2 refused"
cp "$TMP/good.conf" "$CONF"

# The config forward is not written twice after a restart.
"$LAB" restart
[ "$(ctl --json forwards | json 'len(d["forwards"])')" -eq 2 ] || fail "forwards after restart: $(ctl forwards)"
ok "restart after reloads: 2 forwards (config 9090, runtime 7070)"
