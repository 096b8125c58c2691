#!/usr/bin/env bash
# unatd started as root with a user configured (lab.sh up --drop-user): it
# opens its devices inside their namespaces, its control socket and state
# file, then becomes that user with every capability set empty (the
# bounding set too) and no_new_privs. After start-up: /proc shows it; ping,
# a TCP download and a NAT-PMP mapping work; SIGHUP and the state file keep
# working. Bad user/group settings are one-line config errors (exit 2); a
# state directory the user cannot write stops start-up with one line.
source "$(dirname "$0")/lib.sh"
source "$E2E_DIR/priv_lib.sh"

UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true }
metrics_listen: "127.0.0.1:946"' "$LAB" up --drop-user "$PRIV_USER"
grep -q "^user: \"$PRIV_USER\"" "$("$LAB" config-path)" || fail "config has no user"
grep -q "privileges: dropped to user $PRIV_USER (uid $PRIV_UID)" <("$LAB" log) ||
  fail "no drop in the log: $("$LAB" log | tail -n 3)"
check_unprivileged
# The metrics endpoint on a port only root may bind: opened before the drop,
# it answers after it, with unatd's memory read as the user.
code=$(ip netns exec unat-nat curl -sS -m 5 -o "$TMP/metrics.txt" -w '%{http_code}' \
  http://127.0.0.1:946/metrics) || fail "GET :946/metrics: $code"
[ "$code" = 200 ] || fail "GET :946/metrics: $code"
rss=$(awk '$1 == "unat_process_resident_memory_bytes" {print $2}' "$TMP/metrics.txt")
[ "${rss:-0}" -gt 0 ] || fail "unat_process_resident_memory_bytes as $PRIV_USER: ${rss:-absent}"
ok "metrics_listen 127.0.0.1:946 (bound as root) answers GET /metrics as $PRIV_USER (RSS $((rss / 1024)) kB)"
check_traffic
check_reload_and_state
check_unprivileged

# The control socket belongs to the user now (mode as configured).
sock="$("$LAB" ctl-path)"
[ "$(stat -c '%U %a' "$sock")" = "$PRIV_USER 600" ] ||
  fail "socket: $(stat -c '%U %a' "$sock")"
ok "the control socket belongs to $PRIV_USER, mode 600"

# Config errors: one line naming the field and the value, exit 2.
conf="$("$LAB" config-path)"
expect_config_error() { # WANT FLAGS...
  local want=$1 rc=0
  shift
  "$BIN/unatd" --config "$conf" --check-config "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  [ "$rc" -eq 2 ] || fail "$*: exit $rc, want 2: $(cat "$TMP/err")"
  [ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$*: not one line: $(cat "$TMP/err")"
  grep -qF "$want" "$TMP/err" || fail "$*: no \"$want\" in: $(cat "$TMP/err")"
  ok "$*: $(cat "$TMP/err")"
}
expect_config_error 'user: "unat-no-such-user" is not a user' --user unat-no-such-user
expect_config_error 'user: "root" is uid 0' --user root
expect_config_error 'group: "unat-no-such-group" is not a group' --group unat-no-such-group
sed 's/^user: .*$/user: "unat-no-such-user"/' "$conf" >"$TMP/bad.conf"
rc=0
"$BIN/unatd" --config "$TMP/bad.conf" --check-config 2>"$TMP/err" || rc=$?
[ "$rc" -eq 2 ] && grep -qF 'config: user: "unat-no-such-user" is not a user' "$TMP/err" ||
  fail "config file user: rc $rc: $(cat "$TMP/err")"
ok "user in the config file: $(cat "$TMP/err")"

# A state directory the user cannot write: start-up stops with one line
# (it would otherwise lose its state silently later).
"$LAB" stop
chown root:root "$("$LAB" dir)"
rc=0
ip netns exec unat-nat "$BIN/unatd" --config "$conf" --foreground \
  >"$TMP/out" 2>"$TMP/err" || rc=$?
[ "$rc" -ne 0 ] || fail "unatd started with an unwritable state directory"
grep -v '^[0-9-]*T[0-9:.]* unatd: ' "$TMP/err" >"$TMP/errline" || true
[ "$(wc -l <"$TMP/errline")" -eq 1 ] &&
  grep -qF "as user $PRIV_USER the state file cannot be saved" "$TMP/errline" ||
  fail "unwritable state dir: $(cat "$TMP/err")"
ok "state directory not writable by $PRIV_USER: exit $rc, $(cat "$TMP/errline")"
