#!/usr/bin/env bash
# UPnP IGD control port under bad input (upnp_abuse.py, /usr/bin/python3 in
# the lan namespaces): requests that never finish (408 after the request
# timeout while others are answered at once), a 1 MB body (413 at once,
# then a clean close; a client sending on after it is cut off after the
# linger time), malformed SOAP XML (400), DTD and entity tricks (400), a
# mapping for another host (606), a NAT-PMP request for UPnP's external
# port (another port), more connections than one client may hold (RST), and
# a flood of 500 half-finished requests from 100 addresses while clients
# in lan and lan2 still get their answers within 5 s. Afterwards unatd runs
# and its counters show each event.
source "$(dirname "$0")/lib.sh"
need upnpc natpmpc curl
UNAT_LAB_CONFIG_EXTRA='helpers { upnp: true natpmp: true }' "$LAB" up
pid=$("$LAB" pid)
AB="$E2E_DIR/upnp_abuse.py"
URL=http://10.77.0.1:5000/rootDesc.xml
GW=10.77.0.1
# field NAME JSON: one field of a JSON object.
field() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[2])[sys.argv[1]])' "$1" "$2"; }
# under LIMIT VALUE: VALUE (seconds) < LIMIT.
under() { "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[2]) < float(sys.argv[1]) else 1)' "$1" "$2"; }
counter() { ctl stats | awk -v n="$1" '$1 == n {print $2}'; }

# Hosts 10.77.0.100-202 in unat-lan besides 10.77.0.2 (gone with the
# lab): 100-199 flood, 200-202 hold requests that never finish. 10.77.0.2
# stays the well-behaved client (a client whose request timed out, or was
# displaced, takes no one's place for 10 s while the table is full).
for i in $(seq 100 202); do echo "addr add 10.77.0.$i/24 dev unat0"; done |
  ip -n unat-lan -batch - || fail "secondary addresses"

# Requests that never finish: one sends its request line and a header and
# then nothing, one trickles a header byte every 0.5 s. Both must get 408
# after the request timeout (10 s), whatever else happens meanwhile.
lan "$PY" "$AB" slow $GW 5000 --src 10.77.0.200 >"$TMP/slow.json" 2>&1 9>&- &
slow_pid=$!
lan "$PY" "$AB" slow $GW 5000 --trickle 0.5 --src 10.77.0.201 >"$TMP/trickle.json" 2>&1 9>&- &
trickle_pid=$!
# A client that sends a body far past its Content-Length and never stops:
# 413 at once; the rest is acknowledged and discarded until the linger time
# (5 s after the answer and unatd's FIN were acknowledged), then RST.
lan "$PY" "$AB" big $GW 5000 1048576 --endless --src 10.77.0.202 >"$TMP/endless.json" 2>&1 9>&- &
endless_pid=$!
sleep 0.5

# Meanwhile other clients are answered at once, from both tenants.
for ns in unat-lan unat-lan2; do
  r=$(ip netns exec $ns "$PY" "$AB" get $GW 5000 /rootDesc.xml)
  [ "$(field status "$r")" = 200 ] && under 1 "$(field elapsed "$r")" ||
    fail "$ns GET while two requests hang: $r"
done
ok "two unfinished requests hang: GET /rootDesc.xml from lan and lan2 still answered at once"

# 1 MB body: 413 as soon as the headers are in, then FIN; the client sees
# the answer and a clean close, in well under a second.
r=$(lan "$PY" "$AB" big $GW 5000 1048576)
[ "$(field status "$r")" = 413 ] && [ "$(field end "$r")" = eof ] &&
  under 2 "$(field elapsed "$r")" || fail "1 MB body: $r"
ok "1 MB body: 413 after $(field answer_at "$r") s, clean close (FIN); $(field sent "$r") body bytes sent by then"

# Malformed SOAP bodies, each in a POST that is otherwise right.
ENV=http://schemas.xmlsoap.org/soap/envelope/
SVC=urn:schemas-upnp-org:service:WANIPConnection:2
soap() { # NAME BODY [SRC]: prints the JSON answer
  printf '%s' "$2" >"$TMP/body.$1"
  lan "$PY" "$AB" soap $GW 5000 "${SOAP_ACTION:-GetExternalIPAddress}" "$TMP/body.$1" ${3:+--src "$3"}
}
expect_code() { # NAME CODE BODY
  local r
  r=$(soap "$1" "$3")
  [ "$(field status "$r")" = "$2" ] && [ "$(field end "$r")" = eof ] ||
    fail "$1: want HTTP $2: $r"
}
GOOD="<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"$ENV\"><s:Body><u:GetExternalIPAddress xmlns:u=\"$SVC\"/></s:Body></s:Envelope>"
r=$(soap good "$GOOD")
[ "$(field status "$r")" = 200 ] && grep -q '<NewExternalIPAddress>203.0.113.1</NewExternalIPAddress>' <<<"$(field body "$r")" ||
  fail "well-formed request: $r"
expect_code truncated 400 "${GOOD:0:150}"
expect_code no-body 400 "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"$ENV\"><s:Header/></s:Envelope>"
expect_code empty-body 400 "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"$ENV\"><s:Body></s:Body></s:Envelope>"
expect_code not-an-envelope 400 '<?xml version="1.0"?><html><body><u:GetExternalIPAddress/></body></html>'
expect_code other-action 400 "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"$ENV\"><s:Body><u:GetStatusInfo xmlns:u=\"$SVC\"/></s:Body></s:Envelope>"
expect_code garbage 400 "$(head -c 3000 /dev/urandom | base64 -w0)"
expect_code binary 400 "$(head -c 2000 /dev/urandom | tr -d '\0')"
expect_code empty 400 ""
expect_code nested-2000 400 "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"$ENV\"><s:Body>$(printf '<a>%.0s' $(seq 2000))"
ok "malformed SOAP -> 400: truncated, no Body, empty Body, no Envelope, other action than SOAPAction, garbage, binary, empty, 2000 nested elements"
# Element names are matched by their local part (namespace URIs are not
# checked, as miniupnpd does): a wrong or missing namespace still works.
r=$(soap wrong-ns '<?xml version="1.0"?><s:Envelope xmlns:s="urn:not-soap"><s:Body><u:GetExternalIPAddress xmlns:u="urn:not-igd:1"/></s:Body></s:Envelope>')
[ "$(field status "$r")" = 200 ] && grep -q '203.0.113.1' <<<"$(field body "$r")" || fail "wrong namespaces: $r"
r=$(soap no-ns '<Envelope><Body><GetExternalIPAddress/></Body></Envelope>')
[ "$(field status "$r")" = 200 ] && grep -q '203.0.113.1' <<<"$(field body "$r")" || fail "no namespaces: $r"
ok "wrong or missing XML namespaces: answered 200 (local names matched)"

# DTDs of any kind are refused before parsing: billion laughs, external
# entities (file and URL), parameter entities, a DOCTYPE in other case.
LOL='<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
for i in 2 3 4 5 6 7 8 9; do LOL+="<!ENTITY lol$i \"$(printf "&lol$((i - 1));%.0s" $(seq 10))\">"; done
BODY_AT="<s:Envelope xmlns:s=\"$ENV\"><s:Body><u:GetExternalIPAddress xmlns:u=\"$SVC\">X</u:GetExternalIPAddress></s:Body></s:Envelope>"
expect_code billion-laughs 400 "<?xml version=\"1.0\"?><!DOCTYPE lolz [$LOL]>${BODY_AT/X/&lol9;}"
expect_code xxe-file 400 "<?xml version=\"1.0\"?><!DOCTYPE s [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>${BODY_AT/X/&x;}"
expect_code xxe-url 400 "<?xml version=\"1.0\"?><!DOCTYPE s [<!ENTITY x SYSTEM \"http://203.0.113.2/x\">]>${BODY_AT/X/&x;}"
expect_code parameter-entity 400 "<?xml version=\"1.0\"?><!DOCTYPE s [<!ENTITY % p SYSTEM \"http://203.0.113.2/p.dtd\"> %p;]>${BODY_AT/X/}"
expect_code doctype-case 400 "<?xml version=\"1.0\"?><!dOcTyPe s SYSTEM \"http://203.0.113.2/s.dtd\">${BODY_AT/X/}"
ok "DTD tricks -> 400: billion laughs (10^9), external entity (file, URL), parameter entity, mixed-case DOCTYPE"

# A mapping for another host's address: 606, from an address that is not
# the one named (10.77.0.100 asks for 10.77.0.2, 10.77.0.2 for 10.77.0.9).
ADD='<NewRemoteHost></NewRemoteHost><NewExternalPort>8095</NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>80</NewInternalPort><NewInternalClient>CLIENT</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>x</NewPortMappingDescription><NewLeaseDuration>60</NewLeaseDuration>'
ADD_BODY="<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"$ENV\"><s:Body><u:AddPortMapping xmlns:u=\"$SVC\">$ADD</u:AddPortMapping></s:Body></s:Envelope>"
for pair in 10.77.0.100:10.77.0.2 10.77.0.2:10.77.0.9; do
  r=$(SOAP_ACTION=AddPortMapping soap third "${ADD_BODY/CLIENT/${pair#*:}}" "${pair%%:*}")
  [ "$(field status "$r")" = 500 ] && grep -q '<errorCode>606</errorCode>' <<<"$(field body "$r")" ||
    fail "AddPortMapping from ${pair%%:*} for ${pair#*:}: $r"
done
ctl forwards | grep -q ':8095 ' && fail "a third-party mapping was made: $(ctl forwards)"
ok "AddPortMapping for another host's address -> 606 (from 10.77.0.100 for 10.77.0.2, from 10.77.0.2 for 10.77.0.9), nothing made"

# The conflict the other way round: UPnP maps external 8081 (to lan's
# 8082); NAT-PMP asking for public 8081 (for lan's 8081) gets another port,
# and each external port reaches its own server. NAT-PMP for UPnP's own
# inside endpoint (8082) is refused.
mkdir -p "$TMP/upnp" "$TMP/natpmp"
echo "served for upnp" >"$TMP/upnp/who.txt"
echo "served for natpmp" >"$TMP/natpmp/who.txt"
http_server unat-lan "$TMP/upnp" 10.77.0.2 8082
http_server unat-lan "$TMP/natpmp" 10.77.0.2 8081
out=$(lan upnpc -i -u "$URL" -e "abuse test" -a 10.77.0.2 8082 8081 TCP 3600 2>&1) || fail "upnpc -a: $out"
grep -q 'external 203.0.113.1:8081 TCP is redirected to internal 10.77.0.2:8082' <<<"$out" ||
  fail "upnpc -a 8081: $out"
out=$(lan natpmpc -g $GW -a 8081 8081 tcp 3600 2>&1) || fail "natpmpc -a 8081 8081: $out"
pport=$(sed -n 's/^Mapped public port \([0-9]*\) protocol TCP to local port 8081 .*/\1/p' <<<"$out")
[ -n "$pport" ] && [ "$pport" != 8081 ] || fail "NAT-PMP got '$pport' for 8081: $out"
[ "$(wan curl -sS -m 5 "http://203.0.113.1:$pport/who.txt")" = "served for natpmp" ] ||
  fail "NAT-PMP's $pport does not reach lan:8081"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8081/who.txt)" = "served for upnp" ] ||
  fail "8081 stopped reaching UPnP's lan:8082"
out=$(lan natpmpc -g $GW -a 8081 8082 tcp 3600 2>&1) && fail "NAT-PMP took UPnP's inside endpoint: $out"
grep -qi 'not authorized' <<<"$out" || fail "NAT-PMP for lan:8082: $out"
ok "UPnP holds 8081: natpmpc -a 8081 8081 -> public $pport (reaches lan:8081), 8081 still reaches lan:8082; NAT-PMP for UPnP's lan:8082 -> not authorized"

# More connections than one client may hold (8): the rest get a RST.
r=$(lan "$PY" "$AB" flood $GW 5000 --src 10.77.0.150-10.77.0.150 --per-src 12 --duration 1 --no-reconnect)
[ "$(field connected "$r")" = 8 ] && [ "$(field refused "$r")" = 4 ] ||
  fail "12 connections from one client: $r"
ok "12 connections from one address: 8 accepted, 4 refused (RST)"

# The unfinished requests: 408 after the request timeout (10 s; the tick
# is 100 ms), the trickling one too.
wait "$slow_pid" "$trickle_pid" || true
for f in slow trickle; do
  r=$(cat "$TMP/$f.json")
  [ "$(field status "$r")" = 408 ] && [ "$(field end "$r")" = eof ] ||
    fail "$f request: $r"
  e=$(field elapsed "$r")
  under 11.5 "$e" && ! under 9.5 "$e" || fail "$f request answered after $e s: $r"
done
ok "unfinished requests: 408 after $(field elapsed "$(cat "$TMP/slow.json")") s (silent) and $(field elapsed "$r") s (trickling $(field trickled "$r") bytes)"
wait "$endless_pid" || true
r=$(cat "$TMP/endless.json")
[ "$(field status "$r")" = 413 ] && [ "$(field end "$r")" = rst ] || fail "endless body: $r"
cut=$("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(d["elapsed"]-d["answer_at"],1))' "$r")
under 7 "$cut" && ! under 4.5 "$cut" || fail "endless body cut $cut s after its 413: $r"
ok "a body sent on and on: 413 at once, $(field sent "$r") bytes discarded, RST $cut s later (linger 5 s)"

# The flood: 100 addresses keep 5 connections each open to the control
# port (500), most holding half a request, reconnecting 0.2 s after every
# refusal or reset, for 10 s. Meanwhile clients in lan (10.77.0.2) and lan2
# must get their answers within 5 s: python GETs and SOAP calls, and upnpc.
lan "$PY" "$AB" flood $GW 5000 --src 10.77.0.100-10.77.0.199 --per-src 5 --duration 10 \
  --silent-every 10 --ready "$TMP/ready" >"$TMP/flood.json" 2>&1 9>&- &
flood_pid=$!
for ((i = 0; i < 50; i++)); do [ -e "$TMP/ready" ] && break; sleep 0.1; done
[ -e "$TMP/ready" ] || fail "the flood never started: $(cat "$TMP/flood.json")"
sleep 1
worst=0
note() { "$PY" -c 'import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))' "$worst" "$1"; }
t0=$(date +%s.%N)
st=$(ctl stats) || fail "unatctl stats during the flood"
t_ctl=$("$PY" -c "import time; print(round(time.time() - $t0, 3))")
under 2 "$t_ctl" || fail "unatctl stats took $t_ctl s during the flood"
conns=$(awk '$1 == "upnp/tcp/connections" {print $2}' <<<"$st")
[ "$conns" -le 64 ] && [ "$conns" -ge 50 ] || fail "connections during the flood: $conns"
for round in 1 2 3; do
  for ns in unat-lan unat-lan2; do
    r=$(ip netns exec $ns "$PY" "$AB" get $GW 5000 /rootDesc.xml)
    [ "$(field status "$r")" = 200 ] && under 5 "$(field elapsed "$r")" ||
      fail "$ns GET during the flood (round $round): $r"
    worst=$(note "$(field elapsed "$r")")
    printf '%s' "$GOOD" >"$TMP/good.xml"
    r=$(ip netns exec $ns "$PY" "$AB" soap $GW 5000 GetExternalIPAddress "$TMP/good.xml")
    [ "$(field status "$r")" = 200 ] && under 5 "$(field elapsed "$r")" ||
      fail "$ns SOAP during the flood (round $round): $r"
    worst=$(note "$(field elapsed "$r")")
  done
done
for ns in unat-lan unat-lan2; do
  t0=$(date +%s.%N)
  out=$(timeout 5 ip netns exec $ns upnpc -i -u "$URL" -s 2>&1) || fail "$ns upnpc -s during the flood: $out"
  e=$("$PY" -c "import time; print(round(time.time() - $t0, 3))")
  grep -q 'ExternalIPAddress = 203.0.113.1' <<<"$out" && grep -q 'Status : Connected' <<<"$out" ||
    fail "$ns upnpc -s during the flood: $out"
  worst=$(note "$e")
done
kill -0 "$flood_pid" 2>/dev/null || fail "the flood ended before the clients: $(cat "$TMP/flood.json")"
ev_mid=$(counter upnp/tcp/drop/evicted)
wait "$flood_pid" || fail "flood client: $(cat "$TMP/flood.json")"
r=$(cat "$TMP/flood.json")
ok "flood of 500 from 100 addresses ($(field attempts "$r") attempts, $(field connected "$r") connected, $(field refused "$r") refused, $(field reset "$r") reset): lan and lan2 clients answered within ${worst} s (6 GET, 6 SOAP, 2 upnpc -s); unatctl in $t_ctl s; unatd held $conns connections"
[ "$ev_mid" -gt 0 ] || fail "no evictions during the flood: $(ctl stats | grep upnp/tcp)"

# Afterwards: the flood's connections are gone (its FINs closed them), unatd
# is the same process and still serves, and its counters show it all.
for ((i = 0; i < 30; i++)); do
  [ "$(counter upnp/tcp/connections)" = 0 ] && break
  sleep 0.1
done
[ "$(counter upnp/tcp/connections)" = 0 ] || fail "connections left: $(ctl stats | grep upnp/tcp)"
[ "$("$LAB" pid)" = "$pid" ] && kill -0 "$pid" || fail "unatd is not the same process"
r=$(lan "$PY" "$AB" get $GW 5000 /rootDesc.xml)
[ "$(field status "$r")" = 200 ] || fail "GET after the flood: $r"
st=$(ctl stats)
check() { # NAME MIN
  local v
  v=$(awk -v n="$1" '$1 == n {print $2}' <<<"$st")
  [ -n "$v" ] && [ "$v" -ge "$2" ] || fail "counter $1 = '$v', want >= $2: $(grep upnp/ <<<"$st")"
}
check upnp/timeouts 2
check upnp/http_errors 18
check upnp/fault/606 2
check upnp/tcp/drop/evicted 30
check upnp/tcp/drop/probation 100
check upnp/tcp/drop/limit_client 4
check upnp/tcp/drop/linger 1
check upnp/tcp/resets_sent 100
ok "afterwards: no connection left, unatd (pid $pid) serves; counters timeouts $(awk '$1=="upnp/timeouts"{print $2}' <<<"$st"), http_errors $(awk '$1=="upnp/http_errors"{print $2}' <<<"$st"), evicted $(awk '$1=="upnp/tcp/drop/evicted"{print $2}' <<<"$st"), probation $(awk '$1=="upnp/tcp/drop/probation"{print $2}' <<<"$st"), limit_total $(awk '$1=="upnp/tcp/drop/limit_total"{print $2}' <<<"$st"), limit_client $(awk '$1=="upnp/tcp/drop/limit_client"{print $2}' <<<"$st"), linger $(awk '$1=="upnp/tcp/drop/linger"{print $2}' <<<"$st"), resets_sent $(awk '$1=="upnp/tcp/resets_sent"{print $2}' <<<"$st")"
