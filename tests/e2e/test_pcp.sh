#!/usr/bin/env bash
# PCP against unatd with the project's own client (tests/e2e/pcp_client.py):
# MAP create / refresh / delete reached from the WAN, nonce mismatch, PEER,
# ANNOUNCE, ADDRESS_MISMATCH, THIRD_PARTY refused, PREFER_FAILURE conflict,
# FILTER, every malformed-header case, lifetime limits and a flood; exact
# result codes and lifetimes.
source "$(dirname "$0")/lib.sh"
UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true pcp: true }' "$LAB" up

CLIENT="$E2E_DIR/pcp_client.py"
pcp() { ip netns exec unat-lan "$PY" "$CLIENT" 10.77.0.1 "$@"; }
pcp2() { ip netns exec unat-lan2 "$PY" "$CLIENT" 10.77.0.1 "$@"; }
# expect JSON FIELD VALUE...: each FIELD of the answer equals VALUE.
expect() {
  local answer=$1
  shift
  while [ $# -gt 0 ]; do
    local got
    got=$(json "d.get('$1')" <<<"$answer")
    [ "$got" = "$2" ] || fail "$1 = $got, want $2 in $answer"
    shift 2
  done
}

mkdir -p "$TMP/lan"
echo "served by lan" >"$TMP/lan/who.txt"
http_server unat-lan "$TMP/lan" 10.77.0.2 80

# ANNOUNCE.
a=$(pcp announce) || fail "announce: $a"
expect "$a" version 2 r 1 opcode 0 result_name SUCCESS lifetime 0 size 24
ok "ANNOUNCE: SUCCESS, lifetime 0, epoch $(json 'd["epoch"]' <<<"$a")"

# MAP create, reached from the WAN.
a=$(pcp map --proto tcp --internal 80 --external 8080 --lifetime 3600) || fail "$a"
expect "$a" result_name SUCCESS lifetime 3600 external_port 8080 \
  external_address 203.0.113.1 internal_port 80 nonce 0102030405060708090a0b0c size 60
[ "$(wan curl -sS -m 5 http://203.0.113.1:8080/who.txt)" = "served by lan" ] ||
  fail "8080 does not reach lan"
ctl forwards | grep -Eq "^tcp +203\.0\.113\.1:8080 +lan +10\.77\.0\.2:80 +pcp +lease " ||
  fail "forwards: $(ctl forwards)"
ok "MAP tcp 80 -> 8080: SUCCESS, WAN reaches lan, listed as pcp lease"

# Refresh with the same nonce keeps the port; another nonce is refused.
a=$(pcp map --proto tcp --internal 80 --lifetime 7200)
expect "$a" result_name SUCCESS lifetime 7200 external_port 8080
a=$(pcp map --proto tcp --internal 80 --lifetime 7200 --nonce ffffffffffffffffffffffff)
expect "$a" result_name NOT_AUTHORIZED lifetime 1800
a=$(pcp map --proto tcp --internal 80 --lifetime 0 --nonce ffffffffffffffffffffffff)
expect "$a" result_name NOT_AUTHORIZED lifetime 1800
[ "$(wan curl -sS -m 5 http://203.0.113.1:8080/who.txt)" = "served by lan" ] ||
  fail "mapping lost to a foreign nonce"
ok "refresh keeps 8080; another nonce: NOT_AUTHORIZED (1800 s) for refresh and delete"

# Lifetime limits.
expect "$(pcp map --proto udp --internal 5001 --lifetime 1)" result_name SUCCESS lifetime 120
expect "$(pcp map --proto udp --internal 5002 --lifetime 4294967295)" result_name SUCCESS lifetime 86400
ok "lifetimes clamped to 120..86400"

# PREFER_FAILURE: lan2 holds 8181; lan insisting on it fails, without the
# option it gets another port.
expect "$(pcp2 map --proto tcp --internal 80 --external 8181)" result_name SUCCESS external_port 8181
a=$(pcp map --proto tcp --internal 81 --external 8181 --prefer-failure)
expect "$a" result_name CANNOT_PROVIDE_EXTERNAL lifetime 30
a=$(pcp map --proto tcp --internal 81 --external 8181)
expect "$a" result_name SUCCESS
[ "$(json 'd["external_port"]' <<<"$a")" != 8181 ] || fail "8181 handed out twice"
ok "PREFER_FAILURE on a taken port: CANNOT_PROVIDE_EXTERNAL (30 s); without it another port"

# FILTER: only the named remote may come in.
a=$(pcp map --proto tcp --internal 80 --lifetime 3600 --filter 203.0.113.99/128:0)
expect "$a" result_name SUCCESS external_port 8080 options "[3]"
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8080/who.txt &&
  fail "filtered remote got through"
a=$(pcp map --proto tcp --internal 80 --lifetime 3600 --filter 203.0.113.2/128:0)
expect "$a" result_name SUCCESS
[ "$(wan curl -sS -m 5 http://203.0.113.1:8080/who.txt)" = "served by lan" ] ||
  fail "allowed remote blocked"
expect "$(pcp map --proto tcp --internal 80 --filter 203.0.113.2/64:0)" result_name MALFORMED_OPTION
ok "FILTER: other remotes dropped, the named one reaches lan; bad prefix MALFORMED_OPTION"

# MAP delete closes the path.
a=$(pcp map --proto tcp --internal 80 --lifetime 0)
expect "$a" result_name SUCCESS lifetime 0 external_port 8080
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8080/who.txt &&
  fail "8080 still reachable after delete"
ok "MAP delete: SUCCESS, lifetime 0, path closed"

# PEER: the flow to the WAN peer is created and pinned; the peer reaches the
# host through the external endpoint PCP returned.
bg unat-lan socat -T 20 UDP4-RECVFROM:5000,bind=10.77.0.2,fork EXEC:/bin/cat
wait_udp unat-lan 5000
a=$(pcp peer --proto udp --internal 5000 --remote 203.0.113.2:7000 --lifetime 600)
expect "$a" result_name SUCCESS lifetime 600 remote_port 7000 remote_address 203.0.113.2 \
  external_address 203.0.113.1 size 80
pp=$(json 'd["external_port"]' <<<"$a")
[ "$(echo ping-peer | wan socat -T 3 - "UDP4:203.0.113.1:$pp,sourceport=7000")" = "ping-peer" ] ||
  fail "peer cannot reach the host through $pp"
ctl --json flows --ns lan --proto udp | json '[f for f in d["flows"] if f["external"] == "203.0.113.1:'"$pp"'" and f["remote"] == "203.0.113.2:7000"][0]' >/dev/null ||
  fail "no flow for the PEER 5-tuple"
expect "$(pcp peer --proto udp --internal 5000 --remote 203.0.113.2:7000 --nonce ffffffffffffffffffffffff)" \
  result_name NOT_AUTHORIZED
ok "PEER udp 5000 <-> 203.0.113.2:7000: external port $pp, peer reaches the host; other nonce refused"

# Refusals.
expect "$(pcp map --proto tcp --internal 82 --client 10.77.0.99)" result_name ADDRESS_MISMATCH lifetime 1800
expect "$(pcp map --proto tcp --internal 82 --third-party 10.77.0.9)" result_name NOT_AUTHORIZED size 80
expect "$(pcp map --proto 0 --internal 0)" result_name UNSUPP_PROTOCOL
expect "$(pcp map --proto 132 --internal 82)" result_name UNSUPP_PROTOCOL
a=$(pcp map --proto tcp --internal 82 --option 99:deadbeef)
expect "$a" result_name UNSUPP_OPTION size 68
json 'd["hex"].endswith("63000004deadbeef")' <<<"$a" | grep -q True || fail "option not echoed: $a"
expect "$(pcp map --proto tcp --internal 82 --option 200:01)" result_name SUCCESS size 60
ok "ADDRESS_MISMATCH, THIRD_PARTY NOT_AUTHORIZED, UNSUPP_PROTOCOL, UNSUPP_OPTION echoed, optional option ignored"

# Malformed headers, byte for byte.
hdr="0201000000000e10""00000000000000000000ffff0a4d0002"
expect "$(pcp raw "${hdr:0:40}")" result_name MALFORMED_REQUEST size 24 lifetime 1800
expect "$(pcp raw "${hdr}0000")" result_name MALFORMED_REQUEST size 28
expect "$(pcp raw "$hdr$(printf '0%.0s' {1..2160})")" result_name MALFORMED_REQUEST size 1100
expect "$(pcp raw "$hdr")" result_name MALFORMED_REQUEST size 24
expect "$(pcp raw "01${hdr:2}")" result_name UNSUPP_VERSION version 2
expect "$(pcp raw "03${hdr:2}")" result_name UNSUPP_VERSION version 2
expect "$(pcp raw "0205${hdr:4}")" result_name UNSUPP_OPCODE opcode 5
set +e
pcp raw "0281${hdr:4}" >/dev/null
rc_r=$?
pcp raw "02" >/dev/null
rc_1=$?
set -e
[ "$rc_r" -eq 3 ] || fail "a response (R bit) was answered"
[ "$rc_1" -eq 3 ] || fail "a 1-byte request was answered"
ok "short, odd, oversized (1100), versions 1 and 3, unknown opcode answered; R bit and 1 byte dropped"

# A flood from one client is cut to its burst; the other tenant is served.
f=$(pcp flood 200)
n=$(json 'd["answered"]' <<<"$f")
[ "$n" -le 40 ] || fail "flood: $f"
expect "$(pcp2 announce)" result_name SUCCESS
ctl --json stats >"$TMP/stats.json"
limited=$(json '[c["value"] for c in d["stats"]["portmap"] if c["name"] == "portmap/drop/rate_limited"][0]' <"$TMP/stats.json")
[ "$limited" -ge $((200 - n)) ] || fail "rate-limited drops not counted: $limited"
st=$(ctl stats)
grep -Eq '^portmap/drop/rate_limited +[0-9]+' <<<"$st" || fail "stats table: $st"
ok "flood of 200: $n answered, $limited counted as rate_limited; lan2 still served"
