#!/usr/bin/env bash
# H.323 through unat (issue 17). No H.323 endpoint is packaged for Debian,
# so the endpoints are the project's own (tests/h323/h323_endpoint.py,
# speaking H.225.0 and H.245 in aligned PER built by tests/h323/h323enc.py,
# whose every message tshark's dissectors decode cleanly).
#
# A caller in unat-lan calls a callee in unat-wan on TCP 1720: its Setup
# names its own H.245 address and fastStart media (10.77.0.2). The callee
# must see unat's external address there and nothing else changed, connect
# back to the rewritten H.245 address (an expectation that gets the H.245
# helper), exchange OpenLogicalChannel/Ack on it (the caller's Ack
# rewritten) and send RTP and RTCP to the rewritten fastStart and OLCAck
# addresses; the caller must receive them. tshark on the outside decodes
# every H.225.0 and H.245 message as sent: no malformed packet, no inside
# address anywhere in them. Then lan and lan2 (the same inside address and
# ports) call at once, each its own callee. Then calls whose every message
# is cut in two segments (reassembled before it is rewritten). Then the
# H.245 connection the other way: to the callee's address. Then RAS: an endpoint in lan
# registers with a gatekeeper in unat-wan (RRQ on UDP 1719, addresses
# rewritten) and the gatekeeper calls it on the registered call signalling
# address. Last, without the helper, the same call fails: the proof that
# the test can.
source "$(dirname "$0")/lib.sh"
need tshark
EP="$E2E_DIR/../h323/h323_endpoint.py"
UNAT_LAB_CONFIG_EXTRA='helpers { h323: true }' "$LAB" up
# A second callee's address in unat-wan (the lab's outside is one L3 link).
ip -n unat-wan addr add 203.0.113.3/24 dev unatw0

# call NS TAG CALLEE_ADDR: a call from NS's caller to the callee at
# CALLEE_ADDR (both in the background); their output in $TMP/TAG.callee
# and $TMP/TAG.caller, their exit codes in $TMP/TAG.*.rc (set -e would end
# the subshell before it wrote a failure's).
call() {
  local ns=$1 tag=$2 to=$3
  (set +e
  ip netns exec unat-wan "$PY" "$EP" callee --listen "$to" --rtp-port 30000 \
    --timeout "${CALL_TIMEOUT:-20}" ${SPLIT:+--split "$SPLIT"} ${BY_CALLEE:+--h245-by-callee} \
    >"$TMP/$tag.callee" 2>&1 </dev/null 9>&-
  echo $? >"$TMP/$tag.callee.rc") &
  pids+=($!)
  sleep 0.5
  (set +e
  ip netns exec "$ns" "$PY" "$EP" caller --connect "$to" --local 10.77.0.2 \
    --h245-port 11001 --rtp-port 16000 --timeout "${CALL_TIMEOUT:-20}" \
    ${SPLIT:+--split "$SPLIT"} ${BY_CALLEE:+--h245-by-callee} \
    >"$TMP/$tag.caller" 2>&1 </dev/null 9>&-
  echo $? >"$TMP/$tag.caller.rc") &
  pids+=($!)
}
# event FILE NAME EXPR: EXPR over the JSON line of event NAME in FILE.
event() {
  local line
  line=$(grep "\"event\": \"$2\"" "$1" | head -1 || true)
  [ -n "$line" ] || {
    echo "none"
    return 0
  }
  printf '%s\n' "$line" | json "$3"
}

# The first call, captured on the outside.
ip netns exec unat-wan timeout 40 tshark -n -i unatw0 -w "$TMP/wan.pcap" \
  -f "tcp or udp" >/dev/null 2>"$TMP/cap.err" &
cap=$!
# Until it captures (its first start may take seconds: its caches).
for ((i = 0; i < 150; i++)); do
  grep -q "Capturing on" "$TMP/cap.err" 2>/dev/null && break
  sleep 0.1
done
grep -q "Capturing on" "$TMP/cap.err" || fail "tshark did not start: $(cat "$TMP/cap.err")"
pids=()
call unat-lan one 203.0.113.2
wait "${pids[@]}" || true
sleep 1
kill "$cap" 2>/dev/null || true
wait "$cap" 2>/dev/null || true
echo "  callee: $(tail -1 "$TMP/one.callee")"
echo "  caller: $(tail -1 "$TMP/one.caller")"
[ "$(cat "$TMP/one.callee.rc")" = 0 ] ||
  fail "the callee failed: $(cat "$TMP/one.callee") ($(ctl stats | grep h323/))"
[ "$(cat "$TMP/one.caller.rc")" = 0 ] ||
  fail "the caller failed: $(cat "$TMP/one.caller") ($(ctl stats | grep h323/))"
h245=$(event "$TMP/one.callee" setup "d['h245Address'][0]")
media=$(event "$TMP/one.callee" setup "' '.join(sorted({c[k][0] for c in d['fastStart'] for k in c if c[k]}))")
src=$(event "$TMP/one.callee" setup "d['sourceCallSignalAddress'][0]")
same=$(event "$TMP/one.callee" setup "d['same_otherwise']")
[ "$h245" = 203.0.113.1 ] || fail "the Setup's h245Address reached the callee as $h245"
[ "$media" = 203.0.113.1 ] || fail "the Setup's fastStart addresses reached the callee as $media"
[ "$src" = 203.0.113.1 ] || fail "the Setup's sourceCallSignalAddress reached the callee as $src"
[ "$same" = True ] || fail "other octets of the Setup changed on the way"
ack=$(event "$TMP/one.callee" h245_olcack "d['mediaChannel'][0]")
[ "$ack" = 203.0.113.1 ] || fail "the caller's OpenLogicalChannelAck reached the callee naming $ack"
rtp=$(event "$TMP/one.caller" summary "d")
ok "a call lan -> wan: Setup rewritten (h245Address, sourceCallSignalAddress, fastStart at 203.0.113.1), H.245 connected back, OLCAck rewritten, media in ($rtp)"

# What went out, as tshark's H.225.0 and H.245 dissectors read it (the
# H.245 connection is found from the h245Address, as a real analyser
# would).
tree=$(tshark -n -r "$TMP/wan.pcap" -V -Y "h225 or h245" 2>&1 || true)
msgs=$(printf '%s\n' "$tree" | grep -c '^Frame ' || true)
h245_frames=$(tshark -n -r "$TMP/wan.pcap" -Y h245 2>/dev/null | wc -l)
[ "$msgs" -ge 6 ] || fail "tshark found $msgs H.225.0/H.245 frames on the outside ($(printf '%s\n' "$tree" | head -3); capture: $(cat "$TMP/cap.err"))"
[ "$h245_frames" -ge 2 ] || fail "tshark decoded $h245_frames H.245 frames (the connection to the rewritten h245Address)"
if printf '%s\n' "$tree" | grep -E 'Malformed|Expert Info \(Error'; then
  fail "tshark finds malformed H.323 on the outside"
fi
if printf '%s\n' "$tree" | grep -E '(ip|network|IP): 10\.77\.'; then
  fail "an inside address left in an H.323 message on the outside"
fi
ok "tshark decodes all $msgs H.225.0/H.245 frames on the outside ($h245_frames H.245) without error, none naming 10.77.x"

# Two tenants at once, the same inside address and ports.
pids=()
call unat-lan a 203.0.113.2
call unat-lan2 b 203.0.113.3
wait "${pids[@]}" || true
for t in a b; do
  for side in callee caller; do
    [ "$(cat "$TMP/$t.$side.rc")" = 0 ] ||
      fail "two tenants: call $t's $side failed: $(tail -3 "$TMP/$t.$side")"
  done
done
pa=$(event "$TMP/a.callee" setup "d['h245Address'][1]")
pb=$(event "$TMP/b.callee" setup "d['h245Address'][1]")
[ "$pa" != "$pb" ] || fail "two tenants got the same external H.245 port $pa"
ok "lan and lan2 (10.77.0.2 each, the same ports) call at once: both calls complete with media (H.245 at external ports $pa and $pb)"

# Every message sent as two segments, both ways: the TPKT header apart
# (as some stacks send it), then cut at octet 30 (inside the Setup's
# h245Address). Each is held until whole, then rewritten; passed
# unedited, the Setup would name 10.77.0.2.
for n in 4 30; do
  held0=$(ctl stats | awk '$1 == "h323/reassembled" {print $2}')
  pids=()
  SPLIT=$n call unat-lan "split$n" 203.0.113.2
  wait "${pids[@]}" || true
  for side in callee caller; do
    [ "$(cat "$TMP/split$n.$side.rc")" = 0 ] ||
      fail "messages cut at $n: the $side failed: $(tail -3 "$TMP/split$n.$side") ($(ctl stats | grep h323/))"
  done
  h245=$(event "$TMP/split$n.callee" setup "d['h245Address'][0]")
  [ "$h245" = 203.0.113.1 ] || fail "messages cut at $n: the Setup's h245Address reached the callee as $h245"
  held1=$(ctl stats | awk '$1 == "h323/reassembled" {print $2}')
  # (Cut at 30, the short H.245 messages go whole: the Q.931 ones count.)
  want=8
  [ "$n" = 4 ] || want=4
  [ $((held1 - held0)) -ge "$want" ] || fail "messages cut at $n: h323/reassembled went $held0 -> $held1"
  ok "every message cut after octet $n: each reassembled and rewritten (h323/reassembled $held0 -> $held1), the call completes with media"
done

# The callee names its H.245 address (in Connect) and the caller connects
# out to it: that connection gets the H.245 helper too, so the caller's
# OpenLogicalChannelAck is rewritten and the callee's RTP for it arrives.
out0=$(ctl stats | awk '$1 == "h323/h245_outbound" {print $2}')
pids=()
BY_CALLEE=1 call unat-lan out 203.0.113.2
wait "${pids[@]}" || true
for side in callee caller; do
  [ "$(cat "$TMP/out.$side.rc")" = 0 ] ||
    fail "H.245 to the callee: the $side failed: $(tail -3 "$TMP/out.$side") ($(ctl stats | grep h323/))"
done
ack=$(event "$TMP/out.callee" h245_olcack "d['mediaChannel'][0]")
[ "$ack" = 203.0.113.1 ] || fail "H.245 to the callee: the caller's OLCAck reached it naming $ack"
out1=$(ctl stats | awk '$1 == "h323/h245_outbound" {print $2}')
[ $((out1 - out0)) -ge 1 ] || fail "h323/h245_outbound went $out0 -> $out1"
ok "H.245 on the caller's connection to the callee's h245Address: OLCAck rewritten, media both ways"

# RAS: registration, then the gatekeeper's call to the registered address.
(set +e
ip netns exec unat-wan "$PY" "$EP" gk --listen 203.0.113.2 --timeout 15 \
  >"$TMP/gk.out" 2>&1 </dev/null 9>&-
echo $? >"$TMP/gk.rc") &
g=$!
sleep 0.5
lan "$PY" "$EP" register --gk 203.0.113.2 --local 10.77.0.2 --signal-port 11721 \
  --timeout 15 >"$TMP/reg.out" 2>&1 </dev/null || fail "the registered endpoint got no call: $(cat "$TMP/reg.out") / $(cat "$TMP/gk.out")"
wait "$g" || true
[ "$(cat "$TMP/gk.rc")" = 0 ] || fail "the gatekeeper failed: $(cat "$TMP/gk.out")"
cs=$(event "$TMP/gk.out" rrq "'%s:%d' % tuple(d['callSignalAddress'])")
ras=$(event "$TMP/gk.out" rrq "d['rasAddress'][0]")
[ "${cs%%:*}" = 203.0.113.1 ] || fail "the RRQ's callSignalAddress reached the gatekeeper as $cs"
[ "$ras" = 203.0.113.1 ] || fail "the RRQ's rasAddress reached the gatekeeper as $ras"
calls=$(ctl stats | awk '$1 == "h323/call_signal" {print $2}')
[ "${calls:-0}" -ge 1 ] || fail "no call signalling expectation counted"
ok "RRQ rewritten (callSignalAddress $cs), and the gatekeeper's call to it reached the endpoint"
for c in malformed unsupported edit_errors gap_drops unsafe_drops; do
  v=$(ctl stats | awk -v k="h323/$c" '$1 == k {print $2}')
  [ "${v:-0}" = 0 ] || fail "h323/$c is $v"
done
ok "h323 counters: $(ctl stats | grep -E 'h323/(messages|h245_messages|ras_messages|rewritten|addresses|media|h245_channels) ' | awk '{printf "%s=%s ", $1, $2}')"

# Without the helper the callee sees the inside address and the call fails.
"$LAB" down
"$LAB" up
pids=()
CALL_TIMEOUT=6 call unat-lan off 203.0.113.2
wait "${pids[@]}" || true
h245=$(event "$TMP/off.callee" setup "d['h245Address'][0]")
[ "$h245" = 10.77.0.2 ] || fail "without the helper the callee saw h245Address $h245"
[ "$(cat "$TMP/off.callee.rc")" = 1 ] || fail "without the helper the call still worked"
ok "without the helper: the callee sees 10.77.0.2 and the call fails"
