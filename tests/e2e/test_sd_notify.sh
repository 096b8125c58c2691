#!/usr/bin/env bash
# unatd speaks systemd's notify protocol (Type=notify, packaging/
# unatd.service): READY=1 once its devices are open and it serves, from its
# own pid; RELOADING=1 then READY=1 around a SIGHUP reload; STOPPING=1 at
# SIGTERM. A unatd that fails start-up says nothing. The notify socket is a
# unix datagram socket of notify_listen.py, named by $NOTIFY_SOCKET.
source "$(dirname "$0")/lib.sh"

listener=""
_notify_cleanup() {
  local rc=$?
  if [ -n "$listener" ]; then kill "$listener" 2>/dev/null || true; fi
  (exit "$rc")
  _cleanup
}
trap _notify_cleanup EXIT

# listen NAME: a fresh notify socket $TMP/NAME.sock logging to $TMP/NAME.log.
listen() {
  if [ -n "$listener" ]; then kill "$listener" 2>/dev/null || true; fi
  : >"$TMP/$1.log"
  "$PY" "$E2E_DIR/notify_listen.py" "$TMP/$1.sock" "$TMP/$1.log" 100 9>&- &
  listener=$!
  local i
  for ((i = 0; i < 50; i++)); do
    [ -S "$TMP/$1.sock" ] && return 0
    sleep 0.1
  done
  fail "notify_listen.py did not bind $TMP/$1.sock"
}

# wait_count LOG LINE N: until LOG has N lines equal to LINE (5 s).
wait_count() {
  local i
  for ((i = 0; i < 50; i++)); do
    [ "$(grep -cxF -- "$2" "$1" || true)" -ge "$3" ] && return 0
    sleep 0.1
  done
  fail "$(basename "$1"): want $3 x \"$2\", have: $(tr '\n' ';' <"$1")"
}

# 1. A start that fails (no such network namespace): no READY=1.
listen bad
cat >"$TMP/bad.conf" <<CONF
inside { name: "lan" device: "unat0" netns: "unat-nosuch" address: "10.77.0.1/24" }
outside { device: "unatw0" netns: "unat-nosuch" external_address: "203.0.113.1" }
control { socket: "$TMP/bad-ctl.sock" }
state_file: ""
CONF
set +e
NOTIFY_SOCKET="$TMP/bad.sock" timeout 10 "$BIN/unatd" --config "$TMP/bad.conf" --foreground \
  >"$TMP/bad.out" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "unatd with a missing netns: rc $rc, want 1: $(cat "$TMP/bad.out")"
sleep 0.3
[ ! -s "$TMP/bad.log" ] || fail "a failed start notified: $(cat "$TMP/bad.log")"
ok "failed start-up (rc 1): nothing sent to NOTIFY_SOCKET"

# 2. The lab's unatd: READY=1 from unatd's pid once it answers.
listen lab
NOTIFY_SOCKET="$TMP/lab.sock" "$LAB" up
pid="$("$LAB" pid)"
wait_count "$TMP/lab.log" "pid=$pid READY=1" 1
[ "$(wc -l <"$TMP/lab.log")" -eq 1 ] || fail "start-up sent more than READY=1: $(cat "$TMP/lab.log")"
lan ping -c 1 -W 2 203.0.113.2 >/dev/null || fail "no ping through the notified unatd"
ok "READY=1 from pid $pid, and it forwards"

# 3. SIGHUP: RELOADING=1, then READY=1 again, after the reload was done.
"$LAB" hup
wait_count "$TMP/lab.log" "pid=$pid READY=1" 2
want="pid=$pid READY=1
pid=$pid RELOADING=1
pid=$pid READY=1"
[ "$(cat "$TMP/lab.log")" = "$want" ] || fail "reload: $(tr '\n' ';' <"$TMP/lab.log")"
[ "$(stat_field reloads)" -eq 1 ] || fail "unatd counted $(stat_field reloads) reloads, want 1"
ok "SIGHUP: RELOADING=1, READY=1 (1 reload counted)"

# 4. SIGTERM: STOPPING=1, the last message.
"$LAB" stop
wait_count "$TMP/lab.log" "pid=$pid STOPPING=1" 1
[ "$(tail -n 1 "$TMP/lab.log")" = "pid=$pid STOPPING=1" ] || fail "stop: $(tr '\n' ';' <"$TMP/lab.log")"
ok "SIGTERM: STOPPING=1"
