#!/usr/bin/env bash
# UPnP IGD with the real client (upnpc, miniupnpc): SSDP discovery through
# unatd's own TCP/HTTP/SOAP endpoint on 10.77.0.1:5000; -s; -a with a TCP
# connection from the WAN reaching a server in unat-lan; -l and -L listing;
# -n (AddAnyPortMapping); -d; -r; the second tenant in parallel; a NAT-PMP
# mapping's port refused with 718; NewRemoteHost (upnpc's remote host
# argument), a second external port for one endpoint, NewEnabled 0, and all
# three across a restart; bad input (SOAP faults, HTTP errors, RST
# on the control port, 408); and unatd's own counters.
source "$(dirname "$0")/lib.sh"
need upnpc natpmpc
UNAT_LAB_CONFIG_EXTRA='helpers { upnp: true natpmp: true }' "$LAB" up

URL=http://10.77.0.1:5000/rootDesc.xml
# upnpc calls an IGD whose external address is reserved (203.0.113.1 is
# TEST-NET-3) "not connected?" and stops unless told to go on (-i).

# Discovery (SSDP multicast M-SEARCH, answered by unatd) and status.
out=$(lan upnpc -i -s 2>&1) || fail "upnpc -s: $out"
grep -q "desc: $URL" <<<"$out" || fail "upnpc -s found no IGD at $URL: $out"
grep -q 'ExternalIPAddress = 203.0.113.1' <<<"$out" || fail "external address: $out"
grep -q 'Connection Type : IP_Routed' <<<"$out" || fail "connection type: $out"
grep -q 'Status : Connected' <<<"$out" || fail "status: $out"
ok "upnpc -s: SSDP discovery -> $URL, external 203.0.113.1, IP_Routed, Connected"

mkdir -p "$TMP/lan" "$TMP/lan2"
echo "served by lan" >"$TMP/lan/who.txt"
echo "served by lan2" >"$TMP/lan2/who.txt"
http_server unat-lan "$TMP/lan" 10.77.0.2 8081
http_server unat-lan2 "$TMP/lan2" 10.77.0.2 8081

wan curl -s -m 2 -o /dev/null http://203.0.113.1:8081/who.txt &&
  fail "WAN reached 8081 before any mapping"

out=$(lan upnpc -i -u "$URL" -e "web lan" -a 10.77.0.2 8081 8081 TCP 3600 2>&1) ||
  fail "upnpc -a: $out"
grep -q 'external 203.0.113.1:8081 TCP is redirected to internal 10.77.0.2:8081 (duration=3600)' <<<"$out" ||
  fail "upnpc -a output: $out"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8081/who.txt)" = "served by lan" ] ||
  fail "8081 does not reach lan"
ok "upnpc -a 10.77.0.2 8081 8081 TCP 3600: WAN -> 203.0.113.1:8081 -> lan:8081"

ctl forwards | grep -Eq "^tcp +203\.0\.113\.1:8081 +lan +10\.77\.0\.2:8081 +upnp +lease " ||
  fail "forwards table: $(ctl forwards)"
ok "unatctl forwards: owner upnp, lease"

# The second tenant, in parallel with lan's requests: 8081 is lan's, so
# lan2's AddPortMapping of 8081 conflicts (718); AddAnyPortMapping gets
# another port, which reaches lan2.
lan2 upnpc -i -u "$URL" -a 10.77.0.2 8081 8081 TCP 3600 >"$TMP/lan2-a.out" 2>&1 &
p_a=$!
lan upnpc -i -u "$URL" -a 10.77.0.2 9001 9001 UDP 600 >"$TMP/lan-udp.out" 2>&1 &
p_b=$!
wait $p_a || true
wait $p_b || true
grep -q 'ConflictInMappingEntry\|718' "$TMP/lan2-a.out" ||
  fail "lan2 took lan's 8081: $(cat "$TMP/lan2-a.out")"
grep -q 'is redirected to internal 10.77.0.2:9001' "$TMP/lan-udp.out" ||
  fail "lan's UDP mapping in parallel: $(cat "$TMP/lan-udp.out")"
out=$(lan2 upnpc -i -u "$URL" -n 10.77.0.2 8081 8081 TCP 3600 2>&1) || fail "lan2 -n: $out"
p2=$(sed -n 's/.*external 203\.0\.113\.1:\([0-9]*\) TCP is redirected to internal 10\.77\.0\.2:8081.*/\1/p' <<<"$out" | head -n 1)
[ -n "$p2" ] && [ "$p2" != 8081 ] || fail "lan2 -n got '$p2': $out"
[ "$(wan curl -sS -m 5 "http://203.0.113.1:$p2/who.txt")" = "served by lan2" ] ||
  fail "$p2 does not reach lan2"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8081/who.txt)" = "served by lan" ] ||
  fail "8081 stopped reaching lan"
ok "lan2 in parallel: -a 8081 -> 718; -n 8081 -> $p2 reaching lan2; 8081 still lan"

# Listing: -l (GetGenericPortMappingEntry) and -L (GetListOfPortMappings);
# each tenant sees its own mappings only.
out=$(lan upnpc -i -u "$URL" -l 2>&1) || fail "upnpc -l: $out"
grep -Eq 'TCP +8081->10\.77\.0\.2:8081 +.web lan.' <<<"$out" || fail "-l lacks 8081: $out"
grep -Eq 'UDP +9001->10\.77\.0\.2:9001' <<<"$out" || fail "-l lacks 9001: $out"
grep -q ":$p2 " <<<"$(grep -E '^ *[0-9]+ (TCP|UDP)' <<<"$out")" && fail "-l shows lan2's $p2: $out"
out=$(lan upnpc -i -u "$URL" -L 2>&1) || fail "upnpc -L: $out"
grep -Eq '8081 *-> *10\.77\.0\.2:8081|8081->10\.77\.0\.2:8081' <<<"$out" || fail "-L lacks 8081: $out"
out2=$(lan2 upnpc -i -u "$URL" -l 2>&1) || fail "lan2 -l: $out2"
grep -Eq "TCP +$p2->10\.77\.0\.2:8081" <<<"$out2" || fail "lan2 -l lacks $p2: $out2"
grep -Eq 'TCP +8081->' <<<"$out2" && fail "lan2 -l shows lan's 8081: $out2"
ok "upnpc -l / -L list each tenant's own mappings"

# A NAT-PMP mapping's external port: UPnP gets 718 for it.
out=$(lan natpmpc -g 10.77.0.1 -a 8090 8090 tcp 3600 2>&1) || fail "natpmpc: $out"
grep -q 'Mapped public port 8090 protocol TCP' <<<"$out" || fail "natpmpc map: $out"
out=$(lan upnpc -i -u "$URL" -a 10.77.0.2 8091 8090 TCP 3600 2>&1) || true
grep -q '718' <<<"$out" || fail "UPnP took NAT-PMP's 8090: $out"
ok "NAT-PMP holds 8090: upnpc -a ... 8090 -> 718 ConflictInMappingEntry"

# Delete: not someone else's (lan2 cannot delete lan's 8081), then ours.
out=$(lan2 upnpc -i -u "$URL" -d 8081 TCP 2>&1) || true
[ "$(wan curl -sS -m 5 http://203.0.113.1:8081/who.txt)" = "served by lan" ] ||
  fail "lan2 deleted lan's 8081: $out"
out=$(lan upnpc -i -u "$URL" -d 8081 TCP 2>&1) || fail "upnpc -d: $out"
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8081/who.txt &&
  fail "8081 still reachable after -d"
ctl forwards | grep -q "203.0.113.1:8081 " && fail "8081 still listed: $(ctl forwards)"
ok "upnpc -d 8081 TCP: closed (lan2's attempt changed nothing)"

# -r: redirect for the current host (its own address, found by upnpc).
out=$(lan upnpc -i -u "$URL" -r 8081 18081 TCP 2>&1) || fail "upnpc -r: $out"
[ "$(wan curl -sS -m 5 http://203.0.113.1:18081/who.txt)" = "served by lan" ] ||
  fail "-r 8081 18081 does not reach lan: $out"
ok "upnpc -r 8081 18081 TCP: WAN -> 18081 -> lan:8081"

# -N (DeletePortMappingRange) removes our TCP mappings in the range.
out=$(lan upnpc -i -u "$URL" -N 18000 18100 TCP 2>&1) || fail "upnpc -N: $out"
ctl forwards | grep -q "203.0.113.1:18081 " && fail "-N left 18081: $(ctl forwards)"
ok "upnpc -N 18000 18100 TCP removes 18081"

# NewRemoteHost: only that remote gets in, and it names the mapping.
# 203.0.113.2 is the WAN host; 203.0.113.3 is a second address of it.
wan ip addr add 203.0.113.3/24 dev unatw0
out=$(lan upnpc -i -u "$URL" -e "only wan" -a 10.77.0.2 8081 8082 TCP 3600 203.0.113.2 2>&1) ||
  fail "upnpc -a with remote host: $out"
[ "$(wan curl -sS -m 5 --interface 203.0.113.2 http://203.0.113.1:8082/who.txt)" = "served by lan" ] ||
  fail "203.0.113.2 does not reach 8082"
wan curl -s -m 2 -o /dev/null --interface 203.0.113.3 http://203.0.113.1:8082/who.txt &&
  fail "203.0.113.3 reached a mapping for 203.0.113.2 only"
out=$(lan upnpc -i -u "$URL" -l 2>&1)
grep -Eq "TCP +8082->10\.77\.0\.2:8081 +'only wan' '203\.0\.113\.2'" <<<"$out" ||
  fail "-l does not show the remote host: $out"
ctl forwards | grep -Eq "^tcp +203\.0\.113\.1:8082 .* 203\.0\.113\.2/32 +only wan" ||
  fail "forwards: $(ctl forwards)"
ok "upnpc -a ... 8082 TCP 3600 203.0.113.2: 203.0.113.2 gets in, 203.0.113.3 does not; -l shows the remote host"

# The same inside endpoint on a second external port, wildcard remote.
out=$(lan upnpc -i -u "$URL" -e "second port" -a 10.77.0.2 8081 8083 TCP 3600 2>&1) ||
  fail "upnpc -a 8083: $out"
[ "$(wan curl -sS -m 5 --interface 203.0.113.3 http://203.0.113.1:8083/who.txt)" = "served by lan" ] ||
  fail "8083 does not reach lan:8081"
[ "$(wan curl -sS -m 5 --interface 203.0.113.2 http://203.0.113.1:8082/who.txt)" = "served by lan" ] ||
  fail "8082 lost when 8083 was added"
ok "a second external port (8083) for lan:8081 next to 8082"

# soap ACTION ARGS_XML [VERSION]: a WANIPConnection request; prints the HTTP
# status, the body goes to $TMP/soap.out.
soap() { # ACTION ARGS_XML [VERSION]
  local body="<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><u:$1 xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:${3:-2}\">$2</u:$1></s:Body></s:Envelope>"
  lan curl -s -m 5 -o "$TMP/soap.out" -w '%{http_code}' \
    -H 'Content-Type: text/xml; charset="utf-8"' \
    -H "SOAPAction: \"urn:schemas-upnp-org:service:WANIPConnection:${3:-2}#$1\"" \
    --data-binary "$body" http://10.77.0.1:5000/ctl/IPConn
}
add_one() { # EXT ENABLED
  soap AddPortMapping "<NewRemoteHost></NewRemoteHost><NewExternalPort>$1</NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>8081</NewInternalPort><NewInternalClient>10.77.0.2</NewInternalClient><NewEnabled>$2</NewEnabled><NewPortMappingDescription>switch</NewPortMappingDescription><NewLeaseDuration>3600</NewLeaseDuration>"
}
# NewEnabled 0: the port is held, nothing gets in; 1 again opens it.
[ "$(add_one 8084 0)" = 200 ] || fail "AddPortMapping NewEnabled 0 refused"
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8084/who.txt && fail "a disabled mapping let the WAN in"
ctl forwards | grep -Eq "^tcp +203\.0\.113\.1:8084 .* disabled +switch" || fail "forwards: $(ctl forwards)"
st=$(ctl stats)
grep -Eq "forward_disabled +[1-9]" <<<"$st" || fail "no forward_disabled drop: $(grep -i disabled <<<"$st")"
out=$(lan2 upnpc -i -u "$URL" -a 10.77.0.2 8081 8084 TCP 3600 2>&1) || true
grep -q 718 <<<"$out" || fail "lan2 took the disabled mapping's port: $out"
out=$(lan upnpc -i -u "$URL" -l 2>&1)
grep -Eq "TCP +8084->10\.77\.0\.2:8081 +'switch'" <<<"$out" || fail "-l lacks the disabled 8084: $out"
ok "NewEnabled 0 on 8084: held (lan2 gets 718), listed, nothing in (counted forward_disabled)"

# All of it survives a restart of unatd (state file).
"$LAB" restart
[ "$(wan curl -sS -m 5 --interface 203.0.113.2 http://203.0.113.1:8082/who.txt)" = "served by lan" ] ||
  fail "8082 lost across the restart"
wan curl -s -m 2 -o /dev/null --interface 203.0.113.3 http://203.0.113.1:8082/who.txt &&
  fail "the remote host filter was lost across the restart"
wan curl -s -m 2 -o /dev/null http://203.0.113.1:8084/who.txt && fail "8084 enabled by the restart"
[ "$(add_one 8084 1)" = 200 ] || fail "AddPortMapping NewEnabled 1 refused"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8084/who.txt)" = "served by lan" ] || fail "8084 not enabled again"
out=$(lan upnpc -i -s 2>&1) || fail "upnpc -s after the restart: $out"
grep -q "desc: $URL" <<<"$out" || fail "no IGD found after the restart: $out"
ok "after lab.sh restart: 8082 still for 203.0.113.2 only, 8084 still disabled; NewEnabled 1 opens it"

# Deleting a remote-host mapping names the host.
out=$(lan upnpc -i -u "$URL" -d 8082 TCP 2>&1) || true
[ "$(wan curl -sS -m 5 --interface 203.0.113.2 http://203.0.113.1:8082/who.txt)" = "served by lan" ] ||
  fail "-d without the remote host deleted the 203.0.113.2 mapping: $out"
out=$(lan upnpc -i -u "$URL" -d 8082 TCP 203.0.113.2 2>&1) || fail "upnpc -d with host: $out"
wan curl -s -m 2 -o /dev/null --interface 203.0.113.2 http://203.0.113.1:8082/who.txt &&
  fail "8082 still open after -d 8082 TCP 203.0.113.2"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8083/who.txt)" = "served by lan" ] || fail "8083 lost with 8082"
ok "upnpc -d 8082 TCP: 714 (the wildcard entry does not exist); -d 8082 TCP 203.0.113.2 removes it; 8083 stays"

# Bad input, straight at the control port (soap() above).
add_args() { # EXT IN CLIENT
  echo "<NewRemoteHost></NewRemoteHost><NewExternalPort>$1</NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>$2</NewInternalPort><NewInternalClient>$3</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>x</NewPortMappingDescription><NewLeaseDuration>60</NewLeaseDuration>"
}
code=$(soap AddPortMapping "$(add_args 0 80 10.77.0.2)")
[ "$code" = 500 ] && grep -q '<errorCode>716</errorCode>' "$TMP/soap.out" ||
  fail "external port 0: $code $(cat "$TMP/soap.out")"
code=$(soap AddPortMapping "$(add_args 8095 80 10.77.0.9)")
[ "$code" = 500 ] && grep -q '<errorCode>606</errorCode>' "$TMP/soap.out" ||
  fail "third party: $code $(cat "$TMP/soap.out")"
code=$(soap DeletePortMapping '<NewRemoteHost></NewRemoteHost><NewExternalPort>8099</NewExternalPort><NewProtocol>TCP</NewProtocol>')
[ "$code" = 500 ] && grep -q '<errorCode>714</errorCode>' "$TMP/soap.out" ||
  fail "no such entry: $code $(cat "$TMP/soap.out")"
code=$(soap NoSuchAction '')
[ "$code" = 500 ] && grep -q '<errorCode>401</errorCode>' "$TMP/soap.out" ||
  fail "invalid action: $code $(cat "$TMP/soap.out")"
ok "SOAP faults over HTTP 500: 716 (port 0), 606 (third party), 714, 401"

code=$(lan curl -s -m 5 -o /dev/null -w '%{http_code}' \
  -H 'SOAPAction: "urn:schemas-upnp-org:service:WANIPConnection:2#GetExternalIPAddress"' \
  --data-binary '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "a">]><x>&a;</x>' \
  http://10.77.0.1:5000/ctl/IPConn)
[ "$code" = 400 ] || fail "DOCTYPE accepted: $code"
head -c 70000 /dev/zero | tr '\0' 'a' >"$TMP/big"
code=$(lan curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'SOAPAction: "x#y"' \
  --data-binary @"$TMP/big" http://10.77.0.1:5000/ctl/IPConn)
[ "$code" = 413 ] || fail "70000-byte body: $code"
code=$(lan curl -s -m 5 -o /dev/null -w '%{http_code}' http://10.77.0.1:5000/nothing)
[ "$code" = 404 ] || fail "unknown path: $code"
for doc in rootDesc.xml rootDesc1.xml WANIPCn.xml WANIPCn1.xml WANCfg.xml L3F.xml; do
  code=$(lan curl -s -m 5 -o /dev/null -w '%{http_code}' "http://10.77.0.1:5000/$doc")
  [ "$code" = 200 ] || fail "$doc: $code"
done
ok "HTTP: DOCTYPE -> 400, 70000-byte body -> 413, unknown path -> 404, every document 200"

# A segment for no connection on the control port gets a RST (the TCP
# endpoint owns the port); a half-open request gets 408 after the request
# timeout.
out=$(lan "$PY" -c '
import socket
s = socket.socket(); s.settimeout(5)
s.connect(("10.77.0.1", 5000)); s.close()  # FIN then nothing: closed cleanly
s = socket.socket(); s.settimeout(5)
s.connect(("10.77.0.1", 5000))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
s.close()  # RST: the endpoint forgets the connection
print("ok")
' 2>&1) || fail "connect/close/abort on 5000: $out"
# Another gateway port: refused at once (the engine's RST), not a timeout.
out=$(lan "$PY" -c '
import socket
s = socket.socket(); s.settimeout(3)
try:
    s.connect(("10.77.0.1", 5001)); print("connected")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("other", e)
' 2>&1)
[ "$out" = refused ] || fail "10.77.0.1:5001: $out"
ok "control port: close and abort handled; 10.77.0.1:5001 refused (RST)"
start=$(date +%s)
out=$(lan bash -c 'exec 3<>/dev/tcp/10.77.0.1/5000; printf "GET / HTTP/1.1\r\n" >&3; cat <&3' 2>&1) || true
grep -q '^HTTP/1.1 408' <<<"$out" || fail "slow request: $out"
ok "an unfinished request gets 408 after $(($(date +%s) - start)) s"

# Counters.
st=$(ctl stats)
for c in upnp/soap_requests upnp/ssdp_searches upnp/tcp/accepted upnp/fault/714 upnp/fault/716; do
  grep -Eq "$c +[1-9]" <<<"$st" || fail "counter $c: $(grep upnp <<<"$st")"
done
ok "unatctl stats (since the restart): upnp counters (soap, ssdp, tcp, faults 714 and 716)"
