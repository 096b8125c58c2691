#!/usr/bin/env bash
# Fragment accounting (issue 13, defect 10): crafted fragment sequences
# (tests/e2e/frag_seq.py, scapy) from unat-lan and unat-wan through unatd,
# in virtual and in full reassembly. Every fragment that reaches reassembly
# must be accounted for in `unatctl stats`:
#   fragments_in = forwarded + reassembled + dropped + held
# with each drop under its reason, and:
#  - a datagram of which only the first fragment came is counted when it
#    times out;
#  - a tiny first fragment or a malformed fragment drops what its datagram
#    holds at once (nothing left held until the timeout) and what follows;
#  - an exact copy of the first fragment is a counted drop, not sent on.
source "$(dirname "$0")/lib.sh"
SEQ="$E2E_DIR/frag_seq.py"
LAN_SCENARIOS="complete reverse first_only dup_first tiny_first malformed"
LAN_FRAGS=17 # 3 + 3 + 1 + 4 + 3 + 3
WAN_FRAGS=3  # no_flow

# stat NAME: a top-level counter of `ctl --json stats` (0 when absent).
stat() { ctl --json stats | json "int(d['stats'].get('$1', 0))"; }
drop() { ctl --json stats | json "[int(c.get('value', 0)) for c in d['stats']['drops'] if c['name'] == '$1'][0]"; }
snapshot() {
  ctl --json stats | json "' '.join(['%s=%s' % (k, d['stats'].get(k, 0)) for k in ('fragments_in', 'fragments_forwarded', 'fragments_reassembled', 'fragments_dropped', 'fragments_held', 'fragment_datagrams', 'fragment_datagrams_timed_out')] + ['%s=%s' % (c['name'], c.get('value', 0)) for c in d['stats']['drops'] if int(c.get('value', 0))])"
}
# wait_stat EXPR: until the Python expression over the stats `s` holds (10 s).
wait_stat() {
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(ctl --json stats | json "(lambda s: bool($1))(d['stats'])")" = True ] && return 0
    sleep 0.1
  done
  fail "never true: $1; stats: $(snapshot)"
}
# expect NAME NOW BASE WANT: counter NAME went from BASE to NOW, up by WANT.
expect() {
  local got=$(($2 - $3))
  [ "$got" -eq "$4" ] || fail "$MODE: $1 went up by $got, want $4; stats: $(snapshot)"
}

run_mode() {
  MODE=$1
  local held_before_timeout=$2
  local -A want=()
  shift 2
  local kv
  for kv in "$@"; do want[${kv%%=*}]=${kv#*=}; done
  local counters=(fragments_in fragments_forwarded fragments_reassembled
    fragments_dropped fragment_datagrams_timed_out)
  local reasons=(fragment_duplicate fragment_tiny_first fragment_malformed
    fragment_of_dropped_datagram fragment_timeout no_flow)
  local -A base=()
  local c
  for c in "${counters[@]}"; do base[$c]=$(stat "$c"); done
  for c in "${reasons[@]}"; do base[$c]=$(drop "$c"); done

  local sent
  sent=$(lan "$PY" "$SEQ" 10.77.0.2 203.0.113.2 $LAN_SCENARIOS)
  [ "$sent" -eq "$LAN_FRAGS" ] || fail "$MODE: lan sent $sent fragments"
  # unatd reads its lan device in order: once this ping is answered, every
  # fragment before it has been handled.
  lan ping -n -c 1 -W 3 203.0.113.2 >/dev/null || fail "$MODE: ping after the fragments"
  # Before any timeout: the dropped datagrams hold nothing any more (only
  # full mode's first_only fragment, 1020 bytes, waits for the rest).
  local bytes held
  bytes=$(stat fragment_bytes_held)
  [ "$bytes" -eq $((held_before_timeout * 1020)) ] ||
    fail "$MODE: $bytes bytes held before the timeout, want $((held_before_timeout * 1020)); stats: $(snapshot)"
  held=$(stat fragments_held)
  [ "$held" -eq "$held_before_timeout" ] ||
    fail "$MODE: $held fragments held before the timeout, want $held_before_timeout; stats: $(snapshot)"
  ok "$MODE: $sent fragments from lan; $held held before the timeout (dropped datagrams hold nothing)"

  sent=$(wan "$PY" "$SEQ" 203.0.113.2 203.0.113.1 no_flow)
  [ "$sent" -eq "$WAN_FRAGS" ] || fail "$MODE: wan sent $sent fragments"
  wan ping -n -c 1 -W 3 203.0.113.1 >/dev/null || fail "$MODE: ping after the fragments"
  # The incomplete datagram times out (timeout_ms 2000): nothing left.
  wait_stat "int(s.get('fragment_datagrams', 0)) == 0"

  local -A now=()
  for c in "${counters[@]}"; do now[$c]=$(stat "$c"); done
  for c in "${reasons[@]}"; do now[$c]=$(drop "$c"); done
  expect fragments_in "${now[fragments_in]}" "${base[fragments_in]}" $((LAN_FRAGS + WAN_FRAGS))
  for c in "${!want[@]}"; do expect "$c" "${now[$c]}" "${base[$c]}" "${want[$c]}"; done
  # The invariant, on the absolute counters.
  local in fwd re dr hd
  in=$(stat fragments_in)
  fwd=$(stat fragments_forwarded)
  re=$(stat fragments_reassembled)
  dr=$(stat fragments_dropped)
  hd=$(stat fragments_held)
  [ "$in" -eq $((fwd + re + dr + hd)) ] ||
    fail "$MODE: in $in != forwarded $fwd + reassembled $re + dropped $dr + held $hd"
  # Every fragment drop is under one of the reasons these sequences cause.
  local by_reason=0
  for c in "${reasons[@]}"; do by_reason=$((by_reason + now[$c] - base[$c])); done
  [ "$MODE" = full ] && by_reason=$((by_reason - (now[no_flow] - base[no_flow]))) # a datagram's
  expect "fragments_dropped (by reason: $by_reason)" "${now[fragments_dropped]}" "${base[fragments_dropped]}" "$by_reason"
  ok "$MODE: in $in = forwarded $fwd + reassembled $re + dropped $dr + held $hd; $(snapshot)"
}

UNAT_LAB_CONFIG_EXTRA='fragments { timeout_ms: 2000 }' "$LAB" up
# Virtual: complete 3 + reverse 3 + first_only 1 + dup_first 3 forwarded;
# dup 1 + tiny 3 + malformed 3 + no_flow 3 dropped.
run_mode virtual 0 fragments_forwarded=10 fragments_reassembled=0 \
  fragments_dropped=10 fragment_datagrams_timed_out=1 fragment_duplicate=1 \
  fragment_tiny_first=2 fragment_malformed=2 fragment_of_dropped_datagram=4 \
  fragment_timeout=0 no_flow=1
"$LAB" down

UNAT_LAB_CONFIG_EXTRA='fragments { mode: FULL timeout_ms: 2000 }' "$LAB" up
# Full: complete, reverse, dup_first (less the copy) and no_flow rebuilt
# (4 x 3; the no_flow datagram is then one no_flow drop); first_only held
# until its timeout; dup 1 + tiny 3 + malformed 3 + timeout 1 dropped.
run_mode full 1 fragments_forwarded=0 fragments_reassembled=12 \
  fragments_dropped=8 fragment_datagrams_timed_out=1 fragment_duplicate=1 \
  fragment_tiny_first=2 fragment_malformed=2 fragment_of_dropped_datagram=2 \
  fragment_timeout=1 no_flow=1
