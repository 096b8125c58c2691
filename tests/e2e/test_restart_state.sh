#!/usr/bin/env bash
# Forwards survive a restart (state file), also a crash (SIGKILL) right
# after a change; a corrupt state file stops start-up with a clear error
# unless --ignore-bad-state.
source "$(dirname "$0")/lib.sh"
"$LAB" up
STATE="$("$LAB" state-path)"
CONF="$("$LAB" config-path)"

mkdir -p "$TMP/www"
echo "still here" >"$TMP/www/x.txt"
http_server unat-lan "$TMP/www" 10.77.0.2 80
ctl forward add tcp 8080 lan 10.77.0.2 80 --description web >/dev/null
ctl forward add udp 6000 lan2 10.77.0.2 6000 >/dev/null
[ -s "$STATE" ] || fail "no state file after forward add"
ctl --json forwards | json 'sorted((f["proto"], f["external_port"], f["ns"], f["inside_address"], f["inside_port"], f["description"]) for f in d["forwards"])' >"$TMP/before"

"$LAB" restart
ctl --json forwards | json 'sorted((f["proto"], f["external_port"], f["ns"], f["inside_address"], f["inside_port"], f["description"]) for f in d["forwards"])' >"$TMP/after"
diff "$TMP/before" "$TMP/after" >/dev/null ||
  fail "forwards changed over a restart: $(cat "$TMP/before") vs $(cat "$TMP/after")"
[ "$(wan curl -sS -m 5 http://203.0.113.1:8080/x.txt)" = "still here" ] ||
  fail "restored forward does not work"
ok "clean restart keeps forwards (and they work)"

# Crash right after a change: the change was saved before unatctl returned.
ctl forward add tcp 8443 lan 10.77.0.2 443 >/dev/null
kill -KILL "$("$LAB" pid)"
sleep 0.3
"$LAB" start
ctl forwards | grep -q ":8443 " || fail "forward added before SIGKILL is lost"
ls "$(dirname "$STATE")" | grep -q 'state.pb.tmp' && fail "temp file left behind"
ok "SIGKILL after forward add: forward restored"

# A corrupt state file.
"$LAB" stop
cp "$STATE" "$TMP/good.pb"
printf 'this is not a state file' >"$STATE"
set +e
err=$(timeout 10 ip netns exec unat-nat "$BIN/unatd" --config "$CONF" --foreground 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "unatd started with a corrupt state file (rc $rc)"
[ "$(echo "$err" | wc -l)" -eq 1 ] || fail "more than one line: $err"
echo "$err" | grep -q "^unatd: $STATE: .*--ignore-bad-state" || fail "message: $err"
ok "garbage state file: rc $rc: $err"

# Truncated (torn) copy of a good file.
head -c $(($(stat -c %s "$TMP/good.pb") - 5)) "$TMP/good.pb" >"$STATE"
set +e
err=$(timeout 10 ip netns exec unat-nat "$BIN/unatd" --config "$CONF" --foreground 2>&1)
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "unatd started with a truncated state file"
echo "$err" | grep -q "^unatd: $STATE: " || fail "message: $err"
ok "truncated state file: $err"
"$LAB" start 2>/dev/null && fail "lab.sh start succeeded with a bad state file"

"$LAB" start -- --ignore-bad-state
[ -f "$STATE.bad" ] || fail "bad state file not kept as $STATE.bad"
n=$(ctl --json forwards | json 'len(d["forwards"])')
[ "$n" -eq 0 ] || fail "$n forwards after ignoring the state"
"$LAB" log | grep -q "ignored (--ignore-bad-state)" || fail "no log line"
ok "--ignore-bad-state starts empty and keeps the bad file aside"

# And the new file is good again.
ctl forward add tcp 8080 lan 10.77.0.2 80 >/dev/null
"$LAB" restart
ctl forwards | grep -q ":8080 " || fail "forward lost after recovery"
ok "state file good again after recovery"
