#!/usr/bin/env bash
# Issue 19 item 4: one log line for every lease granted or deleted and every
# static forward added, removed or restored (protocol, namespace, client,
# external and inside endpoint, lifetime or origin); --log-level drops the
# less severe lines and keeps errors; --log-format syslog writes the <N>
# priority prefix journald reads, no time, never an ESC byte.
source "$(dirname "$0")/lib.sh"
need natpmpc

UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true }
portmap { min_lifetime_s: 30 }
forward { proto: TCP external_port: 2222 namespace: "lan" inside_address: "10.77.0.2" inside_port: 22 description: "ssh" }' \
  "$LAB" up
STATE=$("$LAB" state-path)
CONF=$("$LAB" config-path)

# since N: unatd's log lines after the first N lines of the log (the lab's
# own "--- ... start" lines left out).
since() {
  local all
  all=$("$LAB" log)
  tail -n "+$(($1 + 1))" <<<"$all" | grep -v '^--- ' || true
}
lines() {
  local all
  all=$("$LAB" log)
  wc -l <<<"$all"
}
# log_has N REGEX: a line after the first N matches (waits up to 10 s).
log_has() {
  local i got
  for ((i = 0; i < 100; i++)); do
    got=$(since "$1")
    grep -Eq -- "$2" <<<"$got" && return 0
    sleep 0.1
  done
  fail "log has no line matching /$2/: $(since "$1" | tail -n 8)"
}
# log_lacks N REGEX: no line after the first N matches.
log_lacks() {
  local got
  got=$(since "$1")
  if grep -Eq -- "$2" <<<"$got"; then
    fail "log has a line matching /$2/: $(grep -E -- "$2" <<<"$got" | head -n 3)"
  fi
}
# line N REGEX: the first such line, without the plain format's head.
line() {
  local got
  got=$(since "$1")
  grep -E -m1 -- "$2" <<<"$got" | sed 's/^[0-9T:.-]* unatd: //'
}
mapped_port() { sed -n 's/^Mapped public port \([0-9]*\) protocol .*/\1/p' <<<"$1"; }

T='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} unatd: '

# --- plain, info (the defaults) -------------------------------------------
log_has 0 "${T}forward: static added ns lan tcp \*:2222 -> 10\.77\.0\.2:22 origin config description \"ssh\"$"
ok "config forward at start: $(line 0 'forward: static added')"

out=$(lan natpmpc -g 10.77.0.1 -a 80 8080 tcp 60 2>&1) || fail "natpmpc -a 80 8080 tcp 60: $out"
p=$(mapped_port "$out")
[ -n "$p" ] || fail "no mapped port: $out"
L="ns lan client 10\.77\.0\.2 tcp 203\.0\.113\.1:$p -> 10\.77\.0\.2:8080"
log_has 0 "${T}portmap: natpmp granted $L lifetime 60s$"
ok "granted: $(line 0 'portmap: natpmp granted')"
out=$(lan natpmpc -g 10.77.0.1 -a 80 8080 tcp 0 2>&1) || fail "natpmpc -a 80 8080 tcp 0: $out"
log_has 0 "${T}portmap: natpmp deleted $L lifetime [0-9]+s$"
ok "deleted: $(line 0 'portmap: natpmp deleted')"

ctl forward add tcp 9000 lan 10.77.0.2 90 --description web >/dev/null
log_has 0 "${T}forward: static added ns lan tcp \*:9000 -> 10\.77\.0\.2:90 origin runtime description \"web\"$"
ok "unatctl forward add: $(line 0 'forward: static added.*:9000')"
ctl forward del tcp 9000 >/dev/null
log_has 0 "${T}forward: static removed ns lan tcp \*:9000 -> 10\.77\.0\.2:90 origin runtime description \"web\"$"
ok "unatctl forward del: $(line 0 'forward: static removed.*:9000')"

# A runtime forward comes back from the state file after a restart.
ctl forward add udp 5353 lan 10.77.0.2 53 --external-address 203.0.113.1 >/dev/null
n=$(lines)
"$LAB" restart
log_has "$n" "${T}forward: static restored ns lan udp 203\.0\.113\.1:5353 -> 10\.77\.0\.2:53 origin runtime$"
ok "state file: $(line "$n" 'forward: static restored')"

# A reload that drops the config forward.
n=$(lines)
sed -i '/external_port: 2222/d' "$CONF"
"$LAB" hup
log_has "$n" "${T}forward: static removed ns lan tcp \*:2222 -> 10\.77\.0\.2:22 origin config description \"ssh\"$"
ok "reload: $(line "$n" 'forward: static removed')"

all=$(since 0)
bad=$(grep -Ev -- "$T" <<<"$all" || true)
[ -z "$bad" ] || fail "plain lines without time and name: $bad"
log_lacks 0 'debug: '
ok "plain: every line is TIME unatd: ...; no debug line at info"

# --- --log-level warn: no info line, errors still there ---------------------
"$LAB" stop
n=$(lines)
"$LAB" start -- --log-level warn
out=$(lan natpmpc -g 10.77.0.1 -a 80 8080 tcp 60 2>&1) || fail "natpmpc at warn: $out"
ctl forward add tcp 9001 lan 10.77.0.2 91 >/dev/null
# The state file cannot be replaced now: saving fails, an error.
rm -f "$STATE"
mkdir "$STATE"
ctl forward add tcp 9002 lan 10.77.0.2 92 >/dev/null
log_has "$n" "${T}error: state: saving \([a-z ]+\) failed: "
ok "--log-level warn: $(line "$n" 'error: state: saving')"
log_lacks "$n" 'granted|forward: static (added|restored)|running:'
ok "--log-level warn: no granted, added, restored or running line"
rmdir "$STATE"

# --- --log-format syslog (and debug) -------------------------------------
"$LAB" stop
n=$(lines)
printf 'not a state file' >"$STATE"
"$LAB" start -- --log-format syslog --log-level debug --ignore-bad-state
log_has "$n" '^<4>state: .*ignored \(--ignore-bad-state\)'
log_has "$n" '^<6>running: '
log_has "$n" '^<7>state: saved \(start\) to '
# A description with an escape sequence and a line break of its own.
ctl forward add tcp 9003 lan 10.77.0.2 93 --description $'red\e[31m\nforged' >/dev/null
log_has "$n" '^<6>forward: static added ns lan tcp \*:9003 -> 10\.77\.0\.2:93 origin runtime description "red\\x1b\[31m\\x0aforged"$'
out=$(lan natpmpc -g 10.77.0.1 -a 80 8080 tcp 60 2>&1) || fail "natpmpc in syslog format: $out"
log_has "$n" "^<6>portmap: natpmp (granted|renewed) ns lan client 10\.77\.0\.2 tcp "
rm -f "$STATE" "$STATE.bad"
mkdir "$STATE"
ctl forward add tcp 9004 lan 10.77.0.2 94 >/dev/null
log_has "$n" '^<3>state: saving \([a-z ]+\) failed: '
rmdir "$STATE"
got=$(since "$n")
bad=$(grep -Ev '^<[3467]>' <<<"$got" || true)
[ -z "$bad" ] || fail "syslog lines without a priority prefix: $bad"
grep -Eq '^<[0-9]>[0-9]{4}-' <<<"$got" && fail "syslog lines carry a time: $got"
esc=$(since 0 | tr -cd '\033' | wc -c)
[ "$esc" -eq 0 ] || fail "$esc ESC byte(s) in the log"
ok "syslog: <3> error, <4> warning, <6> info, <7> debug; no time; no ESC byte anywhere"
