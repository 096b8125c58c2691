#!/usr/bin/env bash
# SIP through unat with real phones (issue 16): a baresip in unat-lan
# calls a baresip in unat-wan (auto-answer, a sine tone as each side's
# audio), through unat's SIP helper. The call is established and RTP flows
# both ways: tshark counts the media packets at each side. Without the
# helper the answerer sends its media to the caller's inside address (the
# SDP says 10.77.0.2) and nothing comes back. Then the same from lan and
# lan2 at once: two tenants' phones at the same inside address and ports.
# Last, a call signalled over TCP.
source "$(dirname "$0")/lib.sh"
source "$E2E_DIR/sip_lib.sh"
need baresip tshark
UNAT_LAB_CONFIG_EXTRA='helpers { sip: true }' "$LAB" up

phone_config "$TMP/wan" "<sip:wan@203.0.113.2>;regint=0;answermode=auto;audio_codecs=opus"
phone_config "$TMP/lan" "<sip:lan@10.77.0.2>;regint=0;audio_codecs=opus"
phone_config "$TMP/lan2" "<sip:lan2@10.77.0.2>;regint=0;audio_codecs=opus"

wan baresip -f "$TMP/wan" -t 40 >"$TMP/wan.log" 2>&1 </dev/null &
wan_pid=$!
wait_udp unat-wan 5060
# call_wan CONF URI TAG: lan's phone (config CONF) calls URI for 6 s while
# both sides' media is captured; the counts land in lan_out, lan_in,
# wan_in and wan_out, its log in $TMP/lan.log.TAG.
call_wan() {
  capture unat-wan unatw0 "$TMP/wan.media.$3"
  capture unat-lan unat0 "$TMP/lan.media.$3"
  sleep 2
  lan baresip -f "$1" -e "/dial $2" -t 6 >"$TMP/lan.log.$3" 2>&1 </dev/null || true
  wait "${captures[@]}" || true
  captures=()
  lan_out=$(count "$TMP/lan.media.$3" 10.77.0.2 203.0.113.2)
  lan_in=$(count "$TMP/lan.media.$3" 203.0.113.2 10.77.0.2)
  wan_in=$(count "$TMP/wan.media.$3" 203.0.113.1 203.0.113.2)
  wan_out=$(count "$TMP/wan.media.$3" 203.0.113.2 203.0.113.1)
}
call_wan "$TMP/lan" "sip:wan@203.0.113.2" udp
echo "  media: lan sent $lan_out, got $lan_in; wan got $wan_in, sent $wan_out"
grep -q "Call established" "$TMP/lan.log.udp" ||
  fail "the call was not established: $(tail -5 "$TMP/lan.log.udp") / $(tail -5 "$TMP/wan.log")"
[ "$wan_in" -ge 50 ] || fail "RTP lan -> wan: only $wan_in packets reached wan"
[ "$lan_in" -ge 50 ] || fail "RTP wan -> lan: only $lan_in packets reached lan ($(ctl stats | grep -E 'sip/|filtered|no_flow'))"
ok "a call from lan's baresip to wan's: established, RTP both ways ($wan_in packets to wan, $lan_in to lan)"

# Both tenants call at once, from the same inside address and ports.
capture unat-lan unat0 "$TMP/lan.media2"
capture unat-lan2 unat0 "$TMP/lan2.media2"
capture unat-wan unatw0 "$TMP/wan.media2"
sleep 2
lan baresip -f "$TMP/lan" -e "/dial sip:wan@203.0.113.2" -t 6 >"$TMP/lan.log2" 2>&1 </dev/null &
c1=$!
lan2 baresip -f "$TMP/lan2" -e "/dial sip:wan@203.0.113.2" -t 6 >"$TMP/lan2.log2" 2>&1 </dev/null &
c2=$!
wait "$c1" "$c2" "${captures[@]}" || true
lan_in=$(count "$TMP/lan.media2" 203.0.113.2 10.77.0.2)
lan2_in=$(count "$TMP/lan2.media2" 203.0.113.2 10.77.0.2)
streams=$(awk -F'\t' '$1 == "203.0.113.1" {print $3}' "$TMP/wan.media2" | sort | uniq -c | awk '$1 >= 50' | wc -l)
echo "  media: lan got $lan_in, lan2 got $lan2_in; wan got $streams streams of 50+ packets from unat"
[ "$lan_in" -ge 50 ] || fail "two tenants: lan got $lan_in RTP packets"
[ "$lan2_in" -ge 50 ] || fail "two tenants: lan2 got $lan2_in RTP packets"
[ "$streams" -ge 2 ] || fail "two tenants: wan got $streams RTP streams from unat, want 2"
ok "two tenants' phones (10.77.0.2 each) call at once: RTP both ways for each ($lan_in and $lan2_in packets in, $streams streams out)"
# SIP over TCP (RFC 3261 18.3): the same call with the signalling on a TCP
# connection through unat, its messages rewritten in the stream.
phone_config "$TMP/lantcp" "<sip:lan@10.77.0.2;transport=tcp>;regint=0;audio_codecs=opus"
call_wan "$TMP/lantcp" "sip:wan@203.0.113.2;transport=tcp" tcp
messages=$(ctl stats | awk '$1 == "sip/messages" {print $2}')
echo "  media over a TCP-signalled call: lan got $lan_in, wan got $wan_in; sip/messages $messages"
grep -q "Call established" "$TMP/lan.log.tcp" ||
  fail "the TCP call was not established: $(tail -5 "$TMP/lan.log.tcp")"
[ "$lan_in" -ge 50 ] || fail "TCP call: lan got $lan_in RTP packets"
[ "$wan_in" -ge 50 ] || fail "TCP call: wan got $wan_in RTP packets"
ctl stats | grep -E "sip/tcp_(unsafe|gap)_drops" | awk '$2 != 0 {bad = 1} END {exit bad}' ||
  fail "the TCP stream had drops: $(ctl stats | grep sip/tcp)"
ok "a call signalled over TCP: established, RTP both ways ($wan_in packets to wan, $lan_in to lan)"
# The same over a path of 576 bytes (lan's route: MTU 576 locked, MSS 536
# advertised): every INVITE and answer with its SDP spans two or more
# segments each way, so each message is reassembled before it is
# rewritten. Passed unedited, the SDP would name 10.77.0.2 and no RTP
# would reach lan.
lan_route=$(ip -n unat-lan -4 route show default | head -1)
# shellcheck disable=SC2086
ip -n unat-lan route replace $lan_route mtu lock 576 advmss 536
held0=$(ctl stats | awk '$1 == "sip/tcp_reassembled" {print $2}')
call_wan "$TMP/lantcp" "sip:wan@203.0.113.2;transport=tcp" split
# shellcheck disable=SC2086
ip -n unat-lan route replace $lan_route
stats=$(ctl stats)
reassembled=$(awk '$1 == "sip/tcp_reassembled" {print $2}' <<<"$stats")
unedited=$(awk '$1 == "sip/tcp_split_unedited" {print $2}' <<<"$stats")
cut=$(awk '/^tcp segments cut/ {print $NF}' <<<"$stats")
echo "  576-byte path: lan got $lan_in, wan got $wan_in; sip/tcp_reassembled $held0 -> $reassembled, split_unedited $unedited, segments cut $cut"
grep -q "Call established" "$TMP/lan.log.split" ||
  fail "the call over 576-byte segments was not established: $(tail -5 "$TMP/lan.log.split")"
[ "$lan_in" -ge 50 ] || fail "576-byte path: lan got $lan_in RTP packets ($(grep sip/tcp <<<"$stats"))"
[ "$wan_in" -ge 50 ] || fail "576-byte path: wan got $wan_in RTP packets"
[ "$reassembled" -ge $((held0 + 2)) ] ||
  fail "576-byte path: messages reassembled $held0 -> $reassembled ($(grep sip/tcp <<<"$stats"))"
[ "$unedited" = 0 ] || fail "576-byte path: $unedited messages passed unedited"
grep -E "sip/tcp_(unsafe|gap)_drops|sip/tcp_hold_overflows" <<<"$stats" | awk '$2 != 0 {bad = 1} END {exit bad}' ||
  fail "the TCP stream had drops: $(grep sip/tcp <<<"$stats")"
ok "a TCP-signalled call over a 576-byte path: each split message reassembled and rewritten ($held0 -> $reassembled), RTP both ways ($wan_in to wan, $lan_in to lan)"
kill "$wan_pid" 2>/dev/null || true
