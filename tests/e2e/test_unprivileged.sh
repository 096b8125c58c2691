#!/usr/bin/env bash
# unatd as an ordinary user from the start (lab.sh up --user): a test user
# made for the run, devices made for it (ip tuntap add ... user), unatd
# attaching by name with no capabilities at all (empty bounding set too).
# Ping, a TCP download and a NAT-PMP mapping work; /proc shows its uid and
# empty capability sets; SIGHUP and the state file work; a device owned by
# another user and a missing device each stop it with one clear line.
source "$(dirname "$0")/lib.sh"
source "$E2E_DIR/priv_lib.sh"

UNAT_LAB_CONFIG_EXTRA='helpers { natpmp: true }' "$LAB" up --user "$PRIV_USER"
[ "$("$LAB" user)" = "$PRIV_USER" ] || fail "lab.sh user: $("$LAB" user)"
check_unprivileged
check_traffic
check_reload_and_state
check_unprivileged

# attach_error NAME CONFIG: unatd as the user, directly (no lab), must exit
# non-zero with exactly one line on stderr; prints that line.
attach_error() {
  local rc=0
  "$LAB" user-exec timeout 10 "$BIN/unatd" --config "$2" --foreground \
    >"$TMP/$1.out" 2>"$TMP/$1.err" || rc=$?
  [ "$rc" -ne 0 ] || fail "$1: unatd exited 0"
  [ "$rc" -ne 124 ] || fail "$1: unatd kept running"
  [ "$(wc -l <"$TMP/$1.err")" -eq 1 ] || fail "$1: not one line: $(cat "$TMP/$1.err")"
  cat "$TMP/$1.err"
}

tiny_config() { # OUTSIDE_DEVICE
  cat <<EOF
inside { name: "lan" device: "unatq0" address: "10.99.0.1/24" }
outside { device: "$1" external_address: "198.51.100.1" }
control { socket: "$TMP/tiny.sock" }
state_file: ""
EOF
}

# A device that belongs to someone else (nobody).
ip -n unat-nat tuntap add dev unatx0 mode tun user nobody
nobody_uid="$(id -u nobody)"
tiny_config unatx0 >"$TMP/foreign.conf"
line="$(attach_error foreign "$TMP/foreign.conf")"
for want in "device unatx0" "uid $nobody_uid" "uid $PRIV_UID" \
  "ip tuntap add dev unatx0 mode tun user $PRIV_USER"; do
  grep -qF "$want" <<<"$line" || fail "foreign device: no \"$want\" in: $line"
done
ok "a device owned by nobody: exit non-zero, one line: $line"
ip -n unat-nat link del unatx0

# A device that does not exist (an ordinary user may not create one).
tiny_config unatmiss0 >"$TMP/missing.conf"
line="$(attach_error missing "$TMP/missing.conf")"
for want in "device unatmiss0" "does not exist" \
  "ip tuntap add dev unatmiss0 mode tun user $PRIV_USER"; do
  grep -qF "$want" <<<"$line" || fail "missing device: no \"$want\" in: $line"
done
ip -n unat-nat link show unatmiss0 >/dev/null 2>&1 && fail "unatmiss0 was created"
ok "a missing device: exit non-zero, one line: $line"

# A device in another namespace: entering it needs CAP_SYS_ADMIN.
tiny_config unatw0 | sed 's/device: "unatw0"/device: "unatw0" netns: "unat-wan"/' \
  >"$TMP/netns.conf"
line="$(attach_error netns "$TMP/netns.conf")"
grep -qF "cannot enter network namespace unat-wan" <<<"$line" ||
  fail "netns: $line"
ok "a device in another namespace: exit non-zero, one line: $line"

# The running unatd was not disturbed.
lan ping -c 1 -W 2 203.0.113.2 >/dev/null || fail "ping after the error cases"
ok "the lab's unatd still forwards"
