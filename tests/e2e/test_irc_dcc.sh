#!/usr/bin/env bash
# IRC DCC through unat: ngircd in the WAN, two ii clients: alice in the LAN
# and bob in the WAN. alice offers a file with DCC SEND naming her inside
# address and the port socat listens on; the IRC helper rewrites the offer
# to unat's external address (decimal) and a port it maps, with a short,
# one-shot expectation for any peer; bob connects to what he was told and
# receives the file, identical.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/ftp_lib.sh"  # sha, counter
UNAT_LAB_CONFIG_EXTRA='helpers { irc: true }' "$LAB" up

mkdir -p "$TMP/ngircd" "$TMP/ii-alice" "$TMP/ii-bob"
chmod 777 "$TMP/ngircd"
cat >"$TMP/ngircd.conf" <<CONF
[Global]
Name = irc.unat.test
Info = unat lab
Listen = 203.0.113.2
Ports = 6667
PidFile = $TMP/ngircd/ngircd.pid
MotdPhrase = unat lab
[Limits]
MaxConnectionsIP = 10
[Options]
DNS = no
Ident = no
PAM = no
CONF
wan ngircd -n -f "$TMP/ngircd.conf" </dev/null >>"$TMP/ngircd.log" 2>&1 &
ngircd=$!
wait_tcp unat-wan 203.0.113.2 6667

wan ii -s 203.0.113.2 -p 6667 -n bob -i "$TMP/ii-bob" </dev/null >>"$TMP/ii-bob.log" 2>&1 &
bob=$!
lan ii -s 203.0.113.2 -p 6667 -n alice -i "$TMP/ii-alice" </dev/null >>"$TMP/ii-alice.log" 2>&1 &
alice=$!
for i in $(seq 50); do
  [ -p "$TMP/ii-alice/203.0.113.2/in" ] && [ -p "$TMP/ii-bob/203.0.113.2/in" ] && break
  sleep 0.1
done
[ -p "$TMP/ii-alice/203.0.113.2/in" ] || fail "alice (ii) did not connect: $(cat "$TMP/ii-alice.log")"
[ -p "$TMP/ii-bob/203.0.113.2/in" ] || fail "bob (ii) did not connect"
# Both registered (welcome seen).
for i in $(seq 50); do
  grep -q "001\|Welcome\|welcome" "$TMP/ii-alice/203.0.113.2/out" 2>/dev/null && break
  sleep 0.1
done
ok "ngircd in the WAN, ii as alice (LAN) and bob (WAN)"

# alice serves 1 MB on 10.77.0.2:5000 and offers it to bob.
head -c $((1024 * 1024)) /dev/urandom >"$TMP/offer.bin"
size=$(stat -c %s "$TMP/offer.bin")
lan socat -u "FILE:$TMP/offer.bin" TCP-LISTEN:5000,bind=10.77.0.2,reuseaddr </dev/null \
  >>"$TMP/socat-alice.log" 2>&1 &
sender=$!
wait_tcp unat-lan 10.77.0.2 5000 2>/dev/null || true
# wait_tcp connected once: socat served that (empty) connection and exited;
# start it again for bob.
wait "$sender" 2>/dev/null || true
lan socat -u "FILE:$TMP/offer.bin" TCP-LISTEN:5000,bind=10.77.0.2,reuseaddr </dev/null \
  >>"$TMP/socat-alice.log" 2>&1 &
sender=$!
for i in $(seq 50); do
  lan ss -Hltn "sport = :5000" | grep -q . && break
  sleep 0.1
done
inside_dec=$(( (10 << 24) | (77 << 16) | (0 << 8) | 2 ))
printf '/PRIVMSG bob :\001DCC SEND offer.bin %s 5000 %s\001\n' "$inside_dec" "$size" \
  >"$TMP/ii-alice/203.0.113.2/in"

# bob reads the offer as it arrived.
offer=""
for i in $(seq 50); do
  offer=$(grep -a "DCC SEND offer.bin" "$TMP/ii-bob/203.0.113.2/alice/out" 2>/dev/null || true)
  [ -n "$offer" ] && break
  sleep 0.1
done
[ -n "$offer" ] || fail "bob got no offer: $(ls -R "$TMP/ii-bob")"
read -r addr port <<<"$(echo "$offer" | sed -E 's/.*DCC SEND offer\.bin ([0-9]+) ([0-9]+) .*/\1 \2/')"
[ "$addr" = "$(( (203 << 24) | (0 << 16) | (113 << 8) | 1 ))" ] ||
  fail "offer not rewritten to 203.0.113.1: $offer"
dotted="$((addr >> 24 & 255)).$((addr >> 16 & 255)).$((addr >> 8 & 255)).$((addr & 255))"
ok "bob was offered $dotted:$port (alice said 10.77.0.2:5000)"
[ "$(counter irc/send_rewrites)" -eq 1 ] || fail "irc/send_rewrites $(counter irc/send_rewrites)"
ctl flows --proto tcp | grep -E "10\.77\.0\.2:[0-9]+ .*203\.0\.113\.2:6667 .* irc \(1 exp\)" >/dev/null ||
  fail "flows: $(ctl flows --proto tcp)"
ok "unatctl flows: alice's IRC connection has helper irc and 1 expectation"

wan timeout 20 socat -u "TCP:$dotted:$port" "CREATE:$TMP/received.bin" ||
  fail "bob could not fetch from $dotted:$port"
[ "$(sha "$TMP/received.bin")" = "$(sha "$TMP/offer.bin")" ] ||
  fail "received file differs ($(stat -c %s "$TMP/received.bin") bytes)"
ok "bob received 1 MB through the DCC connection, identical"

# The expectation was used once: with alice listening again, a second
# connection from the WAN still does not get through.
lan socat -u "FILE:$TMP/offer.bin" TCP-LISTEN:5000,bind=10.77.0.2,reuseaddr </dev/null \
  >>"$TMP/socat-alice.log" 2>&1 &
for i in $(seq 50); do
  lan ss -Hltn "sport = :5000" | grep -q . && break
  sleep 0.1
done
if wan timeout 3 socat -u "TCP:$dotted:$port" - </dev/null >/dev/null 2>&1; then
  fail "the DCC port admitted a second connection"
fi
ok "the DCC expectation admitted one connection only"
kill "$alice" "$bob" "$ngircd" 2>/dev/null || true
