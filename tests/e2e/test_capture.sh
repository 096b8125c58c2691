#!/usr/bin/env bash
# `unatctl capture` (issue 19 item 2): a pcap of what one device reads and
# writes, read by tshark. lan's device while ping and curl go through (the
# inside addresses), the outside device at the same time (the external
# address), a capture piped live into `tshark -r -`, one that ends at its
# --timeout, refusals (unknown or ambiguous device, a fifth capture), and a
# capture whose reader stalls: traffic goes on, the drops are counted and
# reported, and the capture ends cleanly once the reader is back.
source "$(dirname "$0")/lib.sh"
need tshark curl
"$LAB" up
SOCK="$("$LAB" ctl-path)"
UNATCTL=("$BIN/unatctl" --socket "$SOCK")

# Background unatctl processes, ended by pid whatever happens.
PIDS=()
trap 'rc=$?; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; (exit $rc); _cleanup' EXIT

# wait_exit PID SECONDS: until PID ends; its exit status.
wait_exit() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1"
      return $?
    fi
    sleep 0.1
  done
  fail "pid $1 still runs after $2 s"
}
# fields FILE FIELD...: tshark's one line per packet, fields tab-separated.
fields() {
  local f=$1
  shift
  local args=()
  for x in "$@"; do args+=(-e "$x"); done
  tshark -r "$f" -T fields "${args[@]}" 2>/dev/null
}
# capturing NAME: how many captures run on that device (unatctl stats).
capturing() {
  ctl --json stats | json "sum(int(x.get('captures', 0)) for x in d['stats']['devices'] if x['name'] == '$1')"
}
wait_capturing() { # NAME N
  local i
  for ((i = 0; i < 50; i++)); do
    [ "$(capturing "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  fail "$1: $(capturing "$1") captures run, not $2"
}

mkdir -p "$TMP/www"
head -c 20000 /dev/urandom >"$TMP/www/blob"
http_server unat-wan "$TMP/www" 203.0.113.2 8000

# --- lan's device and the outside device, to files ------------------------
"${UNATCTL[@]}" capture --device lan --count 20 --write "$TMP/lan.pcap" 2>"$TMP/lan.err" &
lan_pid=$!
PIDS+=("$lan_pid")
"${UNATCTL[@]}" capture --device unatw0 --count 6 --write "$TMP/wan.pcap" 2>"$TMP/wan.err" &
wan_pid=$!
PIDS+=("$wan_pid")
wait_capturing lan 1
wait_capturing outside 1
lan ping -c 3 -i 0.2 -W 2 203.0.113.2 >/dev/null || fail "lan cannot ping wan"
lan curl -sS -o "$TMP/got" --max-time 10 http://203.0.113.2:8000/blob || fail "curl through unatd failed"
cmp -s "$TMP/got" "$TMP/www/blob" || fail "curl got other bytes"
wait_exit "$lan_pid" 10 || fail "capture on lan: rc $?: $(cat "$TMP/lan.err")"
wait_exit "$wan_pid" 10 || fail "capture on unatw0: rc $?: $(cat "$TMP/wan.err")"
grep -q "capture on lan (unat-lan:unat0): 20 packet(s) written to $TMP/lan.pcap, 0 dropped.*count reached" "$TMP/lan.err" ||
  fail "lan's summary: $(cat "$TMP/lan.err")"

n=$(fields "$TMP/lan.pcap" frame.number | wc -l)
[ "$n" -eq 20 ] || fail "lan.pcap: $n packets, not 20 (--count 20)"
tshark -r "$TMP/lan.pcap" -T fields -e frame.encap_type 2>/dev/null | sort -u | grep -qx 7 ||
  fail "lan.pcap: not raw IP: $(tshark -r "$TMP/lan.pcap" -T fields -e frame.encap_type 2>/dev/null | sort -u)"
fields "$TMP/lan.pcap" ip.src ip.dst icmp.type tcp.dstport tcp.srcport >"$TMP/lan.txt"
req=$(awk -F'\t' '$1 == "10.77.0.2" && $2 == "203.0.113.2" && $3 == 8' "$TMP/lan.txt" | wc -l)
rep=$(awk -F'\t' '$1 == "203.0.113.2" && $2 == "10.77.0.2" && $3 == 0' "$TMP/lan.txt" | wc -l)
[ "$req" -eq 3 ] && [ "$rep" -eq 3 ] || fail "lan.pcap: $req echo requests, $rep replies (want 3 and 3): $(cat "$TMP/lan.txt")"
syn_out=$(awk -F'\t' '$1 == "10.77.0.2" && $4 == 8000' "$TMP/lan.txt" | wc -l)
tcp_in=$(awk -F'\t' '$1 == "203.0.113.2" && $5 == 8000' "$TMP/lan.txt" | wc -l)
[ "$syn_out" -ge 3 ] && [ "$tcp_in" -ge 3 ] || fail "lan.pcap: tcp out $syn_out, in $tcp_in: $(cat "$TMP/lan.txt")"
! grep -q 203.0.113.1 "$TMP/lan.txt" || fail "lan.pcap shows the external address: $(cat "$TMP/lan.txt")"
ok "capture --device lan --count 20: tshark reads 20 raw-IP packets, 3 echo requests 10.77.0.2 -> 203.0.113.2 and 3 replies, the curl's TCP both ways"

n=$(fields "$TMP/wan.pcap" frame.number | wc -l)
[ "$n" -eq 6 ] || fail "wan.pcap: $n packets, not 6"
fields "$TMP/wan.pcap" ip.src ip.dst icmp.type >"$TMP/wan.txt"
req=$(awk -F'\t' '$1 == "203.0.113.1" && $2 == "203.0.113.2" && $3 == 8' "$TMP/wan.txt" | wc -l)
rep=$(awk -F'\t' '$1 == "203.0.113.2" && $2 == "203.0.113.1" && $3 == 0' "$TMP/wan.txt" | wc -l)
[ "$req" -eq 3 ] && [ "$rep" -eq 3 ] || fail "wan.pcap: $req requests, $rep replies: $(cat "$TMP/wan.txt")"
! grep -q 10.77.0.2 "$TMP/wan.txt" || fail "wan.pcap shows an inside address"
# Times are real: within this test's minute, in order.
t=$(fields "$TMP/wan.pcap" frame.time_epoch | head -1)
now=$(date +%s)
awk -v t="$t" -v now="$now" 'BEGIN { exit !(t > now - 120 && t <= now + 1) }' || fail "wan.pcap: first time $t, now $now"
ok "capture --device unatw0 at the same time: 6 packets, echo requests from the external address 203.0.113.1 and replies to it, wall-clock times ($t)"

# --- --write - into tshark -r -, live ---------------------------------------
mkfifo "$TMP/live.fifo"
tshark -l -r - -T fields -e ip.src -e ip.dst -e icmp.type <"$TMP/live.fifo" >"$TMP/live.txt" 2>"$TMP/tshark.err" &
tshark_pid=$!
PIDS+=("$tshark_pid")
"${UNATCTL[@]}" capture --device unat-lan:unat0 --count 1000 --write - >"$TMP/live.fifo" 2>"$TMP/live.err" &
live_pid=$!
PIDS+=("$live_pid")
wait_capturing lan 1
lan ping -c 2 -i 0.2 -W 2 203.0.113.2 >/dev/null || fail "ping during the live capture"
for ((i = 0; i < 50; i++)); do
  [ "$(grep -c . "$TMP/live.txt")" -ge 4 ] && break
  sleep 0.1
done
[ "$(grep -c . "$TMP/live.txt")" -ge 4 ] || fail "tshark -r - saw $(grep -c . "$TMP/live.txt") packets while the capture runs: $(cat "$TMP/live.txt" "$TMP/tshark.err")"
kill -0 "$live_pid" || fail "the live capture ended early: $(cat "$TMP/live.err")"
ok "capture --write - | tshark -r -: tshark shows the pings while the capture still runs"
kill -INT "$live_pid"
wait_exit "$live_pid" 5 || fail "SIGINT: rc $?: $(cat "$TMP/live.err")"
wait_exit "$tshark_pid" 5 || fail "tshark -r -: rc $?: $(cat "$TMP/tshark.err")"
grep -q "4 packet(s) written to standard output, 0 dropped.*stopped by the client" "$TMP/live.err" ||
  fail "SIGINT summary: $(cat "$TMP/live.err")"
[ "$(awk -F'\t' '$3 == 8' "$TMP/live.txt" | wc -l)" -eq 2 ] || fail "live: $(cat "$TMP/live.txt")"
wait_capturing lan 0
ok "SIGINT ends it cleanly: rc 0, 4 packets, the slot freed"

# --- --timeout ---------------------------------------------------------------
start=$(date +%s%N)
"${UNATCTL[@]}" capture --device lan2 --count 100 --timeout 1.5 --write "$TMP/lan2.pcap" 2>"$TMP/lan2.err" &
t_pid=$!
PIDS+=("$t_pid")
wait_capturing lan2 1
lan2 ping -c 1 -W 2 203.0.113.2 >/dev/null || fail "lan2 ping"
wait_exit "$t_pid" 10 || fail "--timeout: rc $?: $(cat "$TMP/lan2.err")"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -ge 1400 ] && [ "$ms" -lt 5000 ] || fail "--timeout 1.5 took $ms ms"
[ "$(fields "$TMP/lan2.pcap" frame.number | wc -l)" -eq 2 ] || fail "lan2.pcap: $(fields "$TMP/lan2.pcap" ip.src ip.dst)"
ok "--timeout 1.5 ends the capture after ${ms} ms, with lan2's 2 packets"

# --- refusals ------------------------------------------------------------
set +e
out=$(ctl capture --device nosuch --count 5 --write "$TMP/no.pcap" 2>&1)
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "unknown device: rc $rc: $out"
echo "$out" | grep -q 'no device "nosuch"; devices: outside (unat-wan:unatw0), lan (unat-lan:unat0), lan2 (unat-lan2:unat0)' ||
  fail "unknown device: $out"
[ ! -e "$TMP/no.pcap" ] || fail "a refused capture made its file"
set +e
amb=$(ctl capture --device unat0 --count 5 --write "$TMP/no.pcap" 2>&1)
rc=$?
set -e
[ "$rc" -eq 1 ] && echo "$amb" | grep -q 'device "unat0" is ambiguous: lan (unat-lan:unat0), lan2 (unat-lan2:unat0)' ||
  fail "ambiguous device: rc $rc: $amb"
set +e
usage=$(ctl capture --device lan 2>&1)
rc=$?
set -e
[ "$rc" -eq 2 ] && echo "$usage" | grep -q "capture needs --write" || fail "no --write: rc $rc: $usage"
set +e
denied=$(runuser -u nobody -- "${UNATCTL[@]}" capture --device lan --count 5 --write /dev/null 2>&1)
rc=$?
set -e
[ "$rc" -eq 3 ] && echo "$denied" | grep -q "Permission denied" || fail "nobody may capture: rc $rc: $denied"
ok "refused: $out; $amb; no --write is a usage error; another user cannot reach the 0600 socket ($denied)"

four=()
for d in lan lan2 outside lan; do
  "${UNATCTL[@]}" capture --device "$d" --count 100000 --write /dev/null 2>>"$TMP/four.err" &
  four+=($!)
  PIDS+=($!)
done
for ((i = 0; i < 50; i++)); do
  [ "$(ctl --json stats | json "sum(int(x.get('captures', 0)) for x in d['stats']['devices'])")" = 4 ] && break
  sleep 0.1
done
set +e
out=$(ctl capture --device lan --count 5 --write "$TMP/fifth.pcap" 2>&1)
rc=$?
set -e
[ "$rc" -eq 1 ] && echo "$out" | grep -q "4 captures run already (at most 4 at once)" || fail "a fifth capture: rc $rc: $out"
for p in "${four[@]}"; do kill -INT "$p"; done
for p in "${four[@]}"; do wait_exit "$p" 5 || fail "one of four: rc $?: $(cat "$TMP/four.err")"; done
wait_capturing lan 0
ok "at most 4 captures at once: $out"

# --- a stalled reader ----------------------------------------------------
dev() { ctl --json stats | json "[int(x.get('$1', 0)) for x in d['stats']['devices'] if x['name'] == 'lan'][0]"; }
captured_before=$(dev captured)
[ "$(dev capture_dropped)" -eq 0 ] || fail "drops before the stall: $(dev capture_dropped)"
# The reader opens the fifo and reads nothing until $TMP/go exists.
mkfifo "$TMP/stall.fifo"
(
  exec <"$TMP/stall.fifo"
  while [ ! -e "$TMP/go" ]; do sleep 0.1; done
  exec cat >"$TMP/stall.pcap"
) &
reader_pid=$!
PIDS+=("$reader_pid")
"${UNATCTL[@]}" capture --device lan --count 1000000 --write - >"$TMP/stall.fifo" 2>"$TMP/stall.err" &
stall_pid=$!
PIDS+=("$stall_pid")
wait_capturing lan 1
# 2 x 3000 packets of 1428 bytes, over 6 s: far more than the pipe, the
# socket and the capture's 1 MiB queue hold.
ping_out=$(lan ping -q -c 3000 -i 0.002 -s 1400 -W 2 203.0.113.2) || fail "ping during the stall: $ping_out"
received=$(echo "$ping_out" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
[ "${received:-0}" -ge 2985 ] || fail "the stalled capture held traffic up: $ping_out"
dropped=$(dev capture_dropped)
captured=$(dev captured)
[ "$dropped" -gt 0 ] || fail "no drops counted for the stalled capture (captured $captured)"
[ "$(capturing lan)" = 1 ] || fail "the stalled capture is gone"
lan ping -c 2 -i 0.2 -W 2 203.0.113.2 >/dev/null || fail "ping after the stall"
ok "a reader that stalls: ping 3000 x 1400 bytes at 500/s, $received replies; unatd dropped $dropped packets for the capture (lan's captured counter: $captured, all captures so far)"
# The table and the metrics agree with the JSON counter (read again: the
# two pings after the stall may have been dropped too). Each output is read
# whole first (grep -q on a pipe would cut unatctl off under pipefail).
dropped_now=$(dev capture_dropped)
stats_out=$(ctl stats)
grep -A3 '^CAPTURE' <<<"$stats_out" | grep -Eq "^lan +1 +[0-9]+ +$dropped_now\b" ||
  fail "unatctl stats (dropped $dropped_now): $(grep -A3 '^CAPTURE' <<<"$stats_out")"
metrics_out=$(ctl metrics)
grep -qx "unat_device_capture_packets_total{namespace=\"lan\",device=\"unat0\",result=\"dropped\"} $dropped_now" <<<"$metrics_out" ||
  fail "metrics (dropped $dropped_now): $(grep capture <<<"$metrics_out")"
touch "$TMP/go"
sleep 0.5
kill -INT "$stall_pid"
wait_exit "$stall_pid" 20 || fail "the stalled capture: rc $?: $(cat "$TMP/stall.err")"
wait_exit "$reader_pid" 10 || true
grep -Eq "capture on lan \(unat-lan:unat0\): [0-9]+ packet\(s\) written to standard output, [1-9][0-9]* dropped by unatd \(queue full\); stopped by the client" "$TMP/stall.err" ||
  fail "stall summary: $(cat "$TMP/stall.err")"
written=$(sed -n 's/.*: \([0-9]*\) packet(s) written.*/\1/p' "$TMP/stall.err")
final_dropped=$(sed -n 's/.* \([0-9]*\) dropped by unatd.*/\1/p' "$TMP/stall.err")
[ "$final_dropped" -ge "$dropped" ] || fail "final drops $final_dropped < $dropped seen before"
[ "$final_dropped" -eq "$(dev capture_dropped)" ] || fail "final drops $final_dropped, unatctl stats $(dev capture_dropped)"
[ "$written" -eq $(($(dev captured) - captured_before)) ] ||
  fail "unatctl wrote $written packets, unatd queued $(($(dev captured) - captured_before))"
n=$(fields "$TMP/stall.pcap" frame.number | wc -l)
[ "$n" -eq "$written" ] || fail "stall.pcap: tshark reads $n packets, unatctl wrote $written"
wait_capturing lan 0
ok "once the reader is back: SIGINT, rc 0, '$(sed 's/^unatctl: //' "$TMP/stall.err")'; tshark reads all $n"

# --- unatd stops: the capture ends with its last message ------------------
"${UNATCTL[@]}" capture --device outside --count 1000 --write "$TMP/stop.pcap" 2>"$TMP/stop.err" &
stop_pid=$!
PIDS+=("$stop_pid")
wait_capturing outside 1
lan ping -c 1 -W 2 203.0.113.2 >/dev/null || fail "ping before the stop"
"$LAB" stop
wait_exit "$stop_pid" 10 || fail "capture when unatd stops: rc $?: $(cat "$TMP/stop.err")"
grep -q "capture on outside (unat-wan:unatw0): 2 packet(s) written to $TMP/stop.pcap, 0 dropped by unatd (queue full); unatd stopped" "$TMP/stop.err" ||
  fail "stop summary: $(cat "$TMP/stop.err")"
[ "$(fields "$TMP/stop.pcap" frame.number | wc -l)" -eq 2 ] || fail "stop.pcap: $(fields "$TMP/stop.pcap" ip.src ip.dst)"
ok "unatd stopping ends a capture cleanly: rc 0, '$(sed 's/^unatctl: //' "$TMP/stop.err")'"
