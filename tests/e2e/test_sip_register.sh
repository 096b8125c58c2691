#!/usr/bin/env bash
# Inbound SIP calls to registered phones through unat (issue 16): Debian's
# kamailio is the registrar and proxy in unat-wan (203.0.113.2:5060); a
# baresip in unat-lan and one in unat-lan2 (both 10.77.0.2:5060) register
# through unat's SIP helper, which holds each phone's signalling flow open
# for the granted expiry (`unatctl flows` shows it held). A baresip at
# another address of unat-wan (203.0.113.3) then calls each registered
# user through kamailio: the INVITE reaches the right phone, which answers,
# and RTP flows both ways between the phone and the caller's own address,
# which the helper admits from the caller's SDP. A third phone in unat-lan
# does the same over TCP (its own listening port, 5070). When the phones
# quit they de-REGISTER and the holds go.
source "$(dirname "$0")/lib.sh"
source "$E2E_DIR/sip_lib.sh"
need baresip tshark kamailio
UNAT_LAB_CONFIG_EXTRA='helpers { sip: true }' "$LAB" up

# A registrar and stateful proxy, locations in memory only.
cat >"$TMP/kamailio.cfg" <<'CFG'
#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:203.0.113.2:5060
listen=tcp:203.0.113.2:5060
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "xlog.so"
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 600)
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("REGISTER")) {
    xlog("L_INFO", "REGISTER $tU from $si:$sp contact $ct\n");
    if (!save("location")) sl_reply_error();
    exit;
  }
  if (has_totag()) {
    if (loose_route() || is_method("ACK|BYE")) { t_relay(); }
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
  record_route();
  if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
  xlog("L_INFO", "INVITE for $rU to $ru\n");
  t_relay();
}
CFG
mkdir -p "$TMP/kamailio-run"
wan kamailio -f "$TMP/kamailio.cfg" -DD -E -Y "$TMP/kamailio-run" -m 32 -M 8 \
  >"$TMP/kamailio.log" 2>&1 </dev/null &
wait_udp unat-wan 5060

# The caller in unat-wan is another host than kamailio: 203.0.113.3 (on a
# veth of its own, and the source of unat-wan's unbound sockets), so its
# media comes from an address that is not the phones' signalling peer; it
# does not register.
wan ip link add wan3 type veth peer name wan3p
wan ip addr add 203.0.113.3/32 dev wan3
wan ip link set wan3 up
wan ip link set wan3p up
wan ip route replace 203.0.113.0/24 dev unatw0 src 203.0.113.3

# The phones: register (asking for 600 s, re-registering well before it),
# answer calls by themselves.
phone_config "$TMP/lan" "<sip:lan@203.0.113.2>;regint=600;answermode=auto;audio_codecs=opus"
phone_config "$TMP/lan2" "<sip:lan2@203.0.113.2>;regint=600;answermode=auto;audio_codecs=opus"
phone_config "$TMP/wan" "<sip:caller@203.0.113.2>;regint=0;audio_codecs=opus" 203.0.113.3:5060
echo "net_interface wan3" >>"$TMP/wan/config"
lan baresip -f "$TMP/lan" -t 30 >"$TMP/lan.log" 2>&1 </dev/null &
lan_pid=$!
lan2 baresip -f "$TMP/lan2" -t 30 >"$TMP/lan2.log" 2>&1 </dev/null &
lan2_pid=$!

# held_flows: the lab's UDP flows to kamailio that are held open.
held_flows() { ctl flows --proto udp | awk '$5 == "203.0.113.2:5060" && $7 ~ /\(held\)$/' ; }
for _ in $(seq 50); do
  [ "$(held_flows | wc -l)" -ge 2 ] && break
  sleep 0.2
done
held=$(held_flows)
echo "$held" | sed 's/^/  /'
[ "$(echo "$held" | grep -c .)" -ge 2 ] ||
  fail "two registrations should hold two flows: $(ctl flows --proto udp) / $(grep REGISTER "$TMP/kamailio.log" | tail -4)"
# Held for about the granted 600 s (+32 s grace), well past UDP's 300 s.
echo "$held" | awk '{sub(/s\(held\)$/, "", $7); if ($7 < 500 || $7 > 640) exit 1}' ||
  fail "the holds should last the registration (600 s + 32): $held"
stats=$(ctl stats)
grep -q "sip/registrations *[2-9]" <<<"$stats" ||
  fail "sip/registrations should count two: $(grep sip/ <<<"$stats")"
ok "two phones at 10.77.0.2 registered through unat; their paths are held for the registration"

# A third phone in lan registers over TCP, listening on 5070: its REGISTER
# names that port, which gets an external port of its own (an expectation
# on the connection, for kamailio's connections to the phone), apart from
# the connection's. (An established TCP flow outlives the registration's
# hold anyway: `unatctl flows` shows its idle expiry.)
phone_config "$TMP/lantcp" "<sip:lantcp@203.0.113.2;transport=tcp>;regint=600;answermode=auto;audio_codecs=opus" 10.77.0.2:5070
lan baresip -f "$TMP/lantcp" -t 30 >"$TMP/lantcp.log" 2>&1 </dev/null &
lantcp_pid=$!
# (The stats are read into a variable first: `grep -q` on a pipe may end
# the writer with SIGPIPE, failing the pipeline under pipefail.)
for _ in $(seq 50); do
  stats=$(ctl stats)
  grep -q "sip/registrations *[3-9]" <<<"$stats" && break
  sleep 0.2
done
grep -q "sip/registrations *[3-9]" <<<"$stats" ||
  fail "the registration over TCP should count: $(grep sip/reg <<<"$stats") / $(grep -E 'REGISTER|ERROR' "$TMP/kamailio.log" | tail -3) / $(tail -3 "$TMP/lantcp.log")"
tcp_flow=$(ctl flows --proto tcp | awk '$5 == "203.0.113.2:5060"')
echo "  $tcp_flow"
conn_port=$(awk '{sub(/.*:/, "", $4); print $4}' <<<"$tcp_flow")
contact=$(grep "REGISTER lantcp" "$TMP/kamailio.log" | tail -1)
listen_port=$(sed -n 's/.*contact <sip:lantcp[^@]*@203\.0\.113\.1:\([0-9]*\);transport=tcp>.*/\1/p' <<<"$contact")
[ -n "$listen_port" ] && [ "$listen_port" != "$conn_port" ] ||
  fail "kamailio should have lantcp's external listening port (not the connection's $conn_port): $contact"
grep -q "sip (1 exp)" <<<"$tcp_flow" || fail "the listening port should be expected: $tcp_flow"
ok "a phone registered over TCP: kamailio has its external listening port $listen_port (the connection is $conn_port), expected on the connection"

# Calls from the outside to each registered user, one after the other.
call_registered() { # USER NS TAG
  capture "$2" unat0 "$TMP/$3.media" 8
  capture unat-wan unatw0 "$TMP/wan.$3.media" 8
  sleep 1.5
  wan baresip -f "$TMP/wan" -e "/dial sip:$1@203.0.113.2" -t 6 >"$TMP/wan.$3.log" 2>&1 </dev/null || true
  wait "${captures[@]}" || true
  captures=()
  local got sent
  got=$(count "$TMP/$3.media" 203.0.113.3 10.77.0.2)
  sent=$(count "$TMP/$3.media" 10.77.0.2 203.0.113.3)
  local wan_in
  wan_in=$(count "$TMP/wan.$3.media" 203.0.113.1 203.0.113.3)
  echo "  $1: phone got $got RTP packets, sent $sent; the caller got $wan_in"
  grep -q "Call established" "$TMP/wan.$3.log" ||
    fail "the call to $1 was not established: $(tail -5 "$TMP/wan.$3.log") / $(grep -E 'INVITE|ERROR' "$TMP/kamailio.log" | tail -3)"
  [ "$got" -ge 50 ] || fail "RTP caller -> $1: only $got packets reached the phone"
  [ "$wan_in" -ge 50 ] || fail "RTP $1 -> caller: only $wan_in packets reached the caller"
}
call_registered lan unat-lan lan
grep -q "Call established\|incoming call" "$TMP/lan.log" || fail "lan's phone did not see the call: $(tail -5 "$TMP/lan.log")"
call_registered lan2 unat-lan2 lan2
grep -q "Call established\|incoming call" "$TMP/lan2.log" || fail "lan2's phone did not see the call"
call_registered lantcp unat-lan lantcp
# (kamailio's INVITE came on the phone's connection or on one of its own to
# the listening port: both are the phone's.)
echo "  tcp flows: $(ctl flows --proto tcp | awk 'NR > 1 {printf "%s %s<-%s; ", $3, $4, $5}')"
grep -q "Call established\|incoming call" "$TMP/lantcp.log" || fail "lantcp's phone did not see the call: $(tail -5 "$TMP/lantcp.log")"
stats=$(ctl stats)
grep -q "sip/media_remote *[3-9]" <<<"$stats" ||
  fail "each call should admit the caller's media address: $(grep sip/media <<<"$stats")"
ok "calls from the outside reached each registered phone (two over UDP, one over TCP) through kamailio, RTP both ways with the caller's own address (not kamailio's)"

# Quitting, each phone de-REGISTERs: the holds go.
wait "$lan_pid" "$lan2_pid" "$lantcp_pid" || true
for _ in $(seq 25); do
  [ -z "$(held_flows)" ] && break
  sleep 0.2
done
[ -z "$(held_flows)" ] || fail "holds left after the phones unregistered: $(held_flows)"
stats=$(ctl stats)
grep -q "sip/unregistrations *[2-9]" <<<"$stats" ||
  fail "sip/unregistrations should count two: $(grep sip/ <<<"$stats")"
ok "the phones' de-REGISTERs released the holds"
