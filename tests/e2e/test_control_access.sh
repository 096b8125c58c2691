#!/usr/bin/env bash
# Only the socket's owner (mode 0600) may use the control socket; with a
# configured group (mode 0660) members may list and change.
source "$(dirname "$0")/lib.sh"
"$LAB" up
SOCK="$("$LAB" ctl-path)"

[ "$(stat -c %a "$SOCK")" = 600 ] || fail "socket mode $(stat -c %a "$SOCK")"
set +e
out=$(runuser -u nobody -- "$BIN/unatctl" --socket "$SOCK" namespaces 2>&1)
rc=$?
set -e
[ "$rc" -eq 3 ] || fail "nobody: rc $rc: $out"
echo "$out" | grep -q "Permission denied" || fail "nobody: $out"
ok "mode 0600: another user is refused ($out)"

# Same lab, a group-readable socket.
"$LAB" stop
sed -i 's/^control .*$/control { socket: "'"${SOCK//\//\\/}"'" mode: 0660 group: "nogroup" }/' "$("$LAB" config-path)"
"$LAB" start
[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK")"
[ "$(stat -c %G "$SOCK")" = nogroup ] || fail "socket group $(stat -c %G "$SOCK")"
runuser -u nobody -- "$BIN/unatctl" --socket "$SOCK" namespaces | grep -q "^lan " ||
  fail "group member cannot list"
runuser -u nobody -- "$BIN/unatctl" --socket "$SOCK" forward add tcp 8080 lan 10.77.0.2 80 >/dev/null ||
  fail "group member cannot add a forward"
ok "mode 0660 + group nogroup: a member lists and changes"

# unatctl usage errors.
set +e
"$BIN/unatctl" --socket "$SOCK" frobnicate >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown command: rc not 2"
"$BIN/unatctl" --socket /nonexistent.sock stats >/dev/null 2>&1
[ $? -eq 3 ] || fail "missing socket: rc not 3"
set -e
ok "unatctl usage errors"
