#!/usr/bin/env bash
# Without --foreground unatd detaches once it is fully set up: the command
# returns 0 only when the daemon runs, or the start-up error and its code.
# SIGTERM stops the detached daemon cleanly (pid file and socket removed).
source "$(dirname "$0")/lib.sh"
"$LAB" up
"$LAB" stop
CONF="$("$LAB" config-path)"
PIDF="$("$LAB" dir)/unatd.pid"
SOCK="$("$LAB" ctl-path)"
LOG="$TMP/daemon.log"

timeout 10 ip netns exec unat-nat "$BIN/unatd" --config "$CONF" \
  --pid-file "$PIDF" --log-file "$LOG" || fail "detached start failed"
pid=$(cat "$PIDF")
[ "$(cat "/proc/$pid/comm")" = unatd ] || fail "pid file does not name unatd"
ctl namespaces | grep -q "^lan2 " || fail "detached daemon does not answer"
lan ping -n -c 1 -W 2 203.0.113.2 >/dev/null || fail "no NAT through the detached daemon"
ok "detached daemon (pid $pid) runs and translates"

kill -TERM "$pid"
# Wait for the process itself to be gone (it removes the socket, then the
# pid file, on its way out).
for i in $(seq 100); do
  [ -d "/proc/$pid" ] || break
  sleep 0.1
done
[ ! -d "/proc/$pid" ] || fail "unatd still running 10 s after SIGTERM"
[ ! -e "$SOCK" ] || fail "control socket still there after SIGTERM"
[ ! -e "$PIDF" ] || fail "pid file still there after SIGTERM"
grep -q "signal 15: shutting down" "$LOG" || fail "no shutdown in the log: $(cat "$LOG")"
ok "SIGTERM: clean stop, socket and pid file removed"

# A start-up failure comes back through the detaching parent.
printf 'garbage' >"$("$LAB" state-path)"
set +e
err=$(timeout 10 ip netns exec unat-nat "$BIN/unatd" --config "$CONF" 2>&1)
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "rc $rc with a bad state file: $err"
echo "$err" | grep -q "^unatd: .*state.pb: not a unat state file" || fail "message: $err"
[ ! -e "$SOCK" ] || fail "socket left behind after a failed start"
ok "failed detached start: rc 1: $err"
